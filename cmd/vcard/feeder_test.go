package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard/vcardtest"
)

// syncBuffer is a bytes.Buffer the command writes to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var blankLine = regexp.MustCompile(`blank chip ([0-9A-F]{20}) `)

// blanks lists the serials of the blank chips the feeder made, in order.
func blanks(out string) []string {
	var s []string
	for _, m := range blankLine.FindAllStringSubmatch(out, -1) {
		s = append(s, m[1])
	}
	return s
}

// cardSerial waits for a card in the reader and reads its serial as the
// station does (GET DATA CPLC).
func cardSerial(t *testing.T, reader string) string {
	t.Helper()
	vcardtest.WaitPresent(t, reader, true)
	sys, err := pcsc.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	conn, err := sys.Connect(reader)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(pcsc.LeaveCard)
	serial, err := pcsc.ReadSerial(pcsc.NewCard(conn))
	if err != nil {
		t.Fatalf("the card does not answer: %v", err)
	}
	return serial
}

// stillRunning fails the test if the command ended within d.
func stillRunning(t *testing.T, done <-chan int, d time.Duration, stderr *syncBuffer) {
	t.Helper()
	select {
	case code := <-done:
		t.Fatalf("vcard --feeder exited (status %d) while pcscd was down:\n%s", code, stderr)
	case <-time.After(d):
	}
}

// vcard --feeder against a pcscd that is down when a card goes in: the
// feeder waits (warning once), feeds when pcscd is back, survives a second
// outage between two cards, and still stops at once on Ctrl-C.
func TestFeederWaitsForPcscdAndFeedsWhenItIsBack(t *testing.T) {
	st := pcscdtest.StartT(t, 1)
	reader := st.ReaderName(0)
	dir := t.TempDir()

	// Outage 1: pcscd is down when the first card goes in.
	if err := st.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--vpcd", st.Addr(0), "--feeder", "--save-dir", dir}, &stdout, &stderr)
	}()
	stillRunning(t, done, 1500*time.Millisecond, &stderr)
	if n := strings.Count(stderr.String(), "retrying until it does"); n != 1 {
		t.Fatalf("warned %d times during one outage, want once:\n%s", n, stderr.String())
	}
	if err := st.Restart(); err != nil {
		t.Fatal(err)
	}
	first := cardSerial(t, reader)
	if b := blanks(stdout.String()); len(b) != 1 || b[0] != first {
		t.Fatalf("the card in the reader is %s; the feeder made %v", first, b)
	}

	// The station writes the card and powers it off: the feeder ejects it;
	// pcscd goes down before the next card goes in.
	sys, err := pcsc.Open()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sys.Connect(reader)
	if err != nil {
		t.Fatal(err)
	}
	card := pcsc.NewCard(conn)
	for _, apdu := range [][]byte{
		{0x00, 0xA4, 0x04, 0x0C, 0x07, 0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01}, // SELECT the applet
		{0x00, 0xE0, 0x00, 0x00, 0x06, 0x63, 0x04, 0x00, 0x10, 0x01, 0x1E},       // CREATE FILE EF.COM
	} {
		if _, err := pcsc.Do(card, apdu); err != nil {
			t.Fatalf("%X: %v", apdu, err)
		}
	}
	if err := card.Close(pcsc.UnpowerCard); err != nil {
		t.Fatal(err)
	}
	sys.Close()
	saved := filepath.Join(dir, first+".json")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stdout.String(), "saved "+saved); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the written card was not ejected:\n%s", stdout.String())
		}
	}
	if err := st.Stop(); err != nil { // within the feeder's swap gap (0.5 s)
		t.Fatal(err)
	}
	stillRunning(t, done, 1500*time.Millisecond, &stderr)
	if err := st.Restart(); err != nil {
		t.Fatal(err)
	}
	second := cardSerial(t, reader)
	if b := blanks(stdout.String()); len(b) != 2 || b[1] != second || second == first {
		t.Fatalf("the card in the reader is %s; the feeder made %v", second, b)
	}
	if _, err := os.Stat(saved); err != nil {
		t.Fatalf("the ejected card was not saved: %v", err)
	}

	// Ctrl-C while pcscd is down again stops the feeder at once.
	if err := st.Stop(); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit status %d after Ctrl-C:\n%s", code, stderr.String())
		}
	case <-time.After(time.Second):
		t.Fatal("vcard --feeder did not stop within 1 s of Ctrl-C")
	}
}
