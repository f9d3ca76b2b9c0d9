package vcard_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard"
)

// feederRig is a feeder on one bay, its cards, and the station's view.
type feederRig struct {
	readers pcsc.Readers
	name    string
	dir     string
	feeder  *vcard.Feeder
	ejected chan vcard.Ejection
	events  <-chan pcsc.Event

	mu    sync.Mutex
	cards []*recCard
}

func (r *feederRig) card(i int) *recCard {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cards[i]
}

// startFeeder runs a feeder over the rack or over a vpcd reader of the
// shared stack; first, when set, adjusts the first blank card.
func startFeeder(t *testing.T, kind string, first func(*recCard)) *feederRig {
	rig := &feederRig{dir: t.TempDir(), ejected: make(chan vcard.Ejection, 8)}
	var bay vcard.Bay
	ctx, cancel := context.WithCancel(context.Background())
	switch kind {
	case "rack":
		rack := vcard.NewRack("Rack 00")
		rig.readers, rig.name, bay = rack, "Rack 00", rack.Bay("Rack 00")
	case "vpcd":
		st := pcscdtest.Require(t)
		i := takeReader(t)
		sys, err := pcsc.Open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sys.Close() })
		rig.readers, rig.name, bay = sys, st.ReaderName(i), vcard.VPCDBay(ctx, st.Addr(i))
		t.Cleanup(func() { waitPresent(t, sys, rig.name, false) }) // runs after the feeder stopped
	}
	events, err := rig.readers.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rig.events = events
	blank := func() (vcard.Persistent, error) {
		c := newRecCard()
		rig.mu.Lock()
		if len(rig.cards) == 0 && first != nil {
			first(c)
		}
		rig.cards = append(rig.cards, c)
		rig.mu.Unlock()
		return c, nil
	}
	rig.feeder = vcard.NewFeeder(bay, blank, vcard.SaveDir(rig.dir), vcard.OnEject(func(e vcard.Ejection) { rig.ejected <- e }))
	done := make(chan error, 1)
	go func() { done <- rig.feeder.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("feeder: %v", err)
		}
	})
	next(t, rig.events, rig.name, pcsc.CardInserted)
	return rig
}

// write connects as the station does and writes to the card.
func (r *feederRig) write(t *testing.T) pcsc.Conn {
	t.Helper()
	conn, err := r.readers.Connect(r.name)
	if err != nil {
		t.Fatal(err)
	}
	if rsp, err := conn.Exchange([]byte{0x00, 0xD6, 0x00, 0x00, 0x03, 'D', 'G', '1'}); err != nil || rsp[0] != 0x90 {
		t.Fatalf("write: %X, %v", rsp, err)
	}
	return conn
}

func (r *feederRig) expectNoEjection(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case e := <-r.ejected:
		t.Fatalf("card %s ejected (%s); it must stay in the reader", e.Serial, e.Reason)
	case <-time.After(within):
	}
	if n := r.feeder.Inserted(); n != 1 {
		t.Fatalf("%d cards inserted, want 1", n)
	}
}

func TestFeederEjectsAWrittenCardWhenTheStationPowersItOff(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"rack", "vpcd"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			rig := startFeeder(t, kind, nil)
			conn := rig.write(t)
			if err := conn.Close(pcsc.UnpowerCard); err != nil {
				t.Fatal(err)
			}
			var e vcard.Ejection
			select {
			case e = <-rig.ejected:
			case <-time.After(5 * time.Second):
				t.Fatal("written card not ejected after Close(UnpowerCard)")
			}
			first := rig.card(0)
			if e.Serial != first.Serial() || e.Reason != "powered off" || e.Err != nil {
				t.Fatalf("ejection %+v, want card %s powered off", e, first.Serial())
			}
			want := filepath.Join(rig.dir, first.Serial()+".json")
			if e.Path != want {
				t.Fatalf("saved as %q, want %q", e.Path, want)
			}
			b, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			var saved struct{ Data []byte }
			if err := json.Unmarshal(b, &saved); err != nil || string(saved.Data) != "DG1" {
				t.Fatalf("saved card %s: %v", b, err)
			}
			if fi, _ := os.Stat(want); fi.Mode().Perm() != 0o600 {
				t.Errorf("saved card mode %o, want 600", fi.Mode().Perm())
			}
			// The station sees the card go and a new blank one come.
			next(t, rig.events, rig.name, pcsc.CardRemoved)
			next(t, rig.events, rig.name, pcsc.CardInserted)
			conn, err = rig.readers.Connect(rig.name)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(pcsc.LeaveCard)
			if err := echo(t, conn, "blank?"); err != nil {
				t.Fatal(err)
			}
			if c := rig.card(1); c.counts().apdus != 1 || c.Written() {
				t.Fatalf("the new card saw %+v", c.counts())
			}
		})
	}
}

func TestFeederKeepsABlankCardPoweredOff(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"rack", "vpcd"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			rig := startFeeder(t, kind, nil)
			conn, err := rig.readers.Connect(rig.name)
			if err != nil {
				t.Fatal(err)
			}
			echo(t, conn, "serial?")
			conn.Close(pcsc.UnpowerCard)
			eventually(t, "power-off reaches the card", func() bool { return rig.card(0).counts().offs > 0 })
			rig.expectNoEjection(t, 300*time.Millisecond)
		})
	}
}

// pcscd powers an idle card off ≈0.4 s after the last connection ends with
// LEAVE_CARD: that power-off is not the station's, the card stays.
func TestFeederKeepsAWrittenCardPcscdPowersOffByItself(t *testing.T) {
	t.Parallel()
	rig := startFeeder(t, "vpcd", nil)
	conn := rig.write(t)
	c := rig.card(0)
	offs := c.counts().offs
	conn.Close(pcsc.LeaveCard)
	deadline := time.Now().Add(3 * time.Second)
	for c.counts().offs == offs {
		if time.Now().After(deadline) {
			t.Fatal("pcscd did not power the idle card off within 3 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rig.expectNoEjection(t, 300*time.Millisecond)
}

const (
	helperEnv       = "VCARD_TEST_HELPER"
	helperReaderEnv = "VCARD_TEST_READER"
)

// helperMain is a station that writes to the card and dies without
// disconnecting.
func helperMain() int {
	sys, err := pcsc.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	conn, err := sys.Connect(os.Getenv(helperReaderEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := conn.Exchange([]byte{0x00, 0xD6, 0x00, 0x00, 0x03, 'D', 'G', '1'}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0 // exits holding the connection
}

// A station that dies mid-personalization leaves a half-written card: pcscd
// resets it, then powers it off when idle. The feeder keeps it.
func TestFeederKeepsTheCardOfACrashedStation(t *testing.T) {
	t.Parallel()
	rig := startFeeder(t, "vpcd", nil)
	waitPresent(t, rig.readers, rig.name, true)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperReaderEnv+"="+rig.name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crashing station: %v\n%s", err, out)
	}
	c := rig.card(0)
	if !c.Written() {
		t.Fatal("the crashing station did not write")
	}
	deadline := time.Now().Add(3 * time.Second)
	for n := c.counts(); n.resets == 0 || n.offs == 0; n = c.counts() {
		if time.Now().After(deadline) {
			t.Fatalf("after the crash the card saw %+v; want pcscd's reset and idle power-off", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rig.expectNoEjection(t, 300*time.Millisecond)
}

func TestFeederReplacesACardThatLeftByItself(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"rack", "vpcd"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			rig := startFeeder(t, kind, func(c *recCard) { c.removeAfter = 1 })
			conn := rig.write(t)
			defer conn.Close(pcsc.LeaveCard)
			if _, err := conn.Exchange([]byte{0x00, 0xD6, 0x00, 0x03, 0x01, 'x'}); !errors.Is(err, pcsc.ErrCardRemoved) {
				t.Fatalf("torn write: err = %v, want ErrCardRemoved", err)
			}
			select {
			case e := <-rig.ejected:
				if e.Reason != "left the reader" || e.Path == "" {
					t.Fatalf("ejection %+v, want a saved card that left the reader", e)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no ejection")
			}
			next(t, rig.events, rig.name, pcsc.CardInserted)
		})
	}
}

func TestFeederSavesTheWrittenCardWhenStopped(t *testing.T) {
	t.Parallel()
	rig := vcard.NewRack("R")
	dir := t.TempDir()
	var card *recCard
	ejected := make(chan vcard.Ejection, 1)
	f := vcard.NewFeeder(rig.Bay("R"), func() (vcard.Persistent, error) { card = newRecCard(); return card, nil },
		vcard.SaveDir(dir), vcard.OnEject(func(e vcard.Ejection) { ejected <- e }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	eventually(t, "first card", func() bool { return f.Current() != nil })
	conn, _ := rig.Connect("R")
	conn.Exchange([]byte{0x00, 0xD6, 0x00, 0x00, 0x01, 'x'})
	conn.Close(pcsc.LeaveCard)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e := <-ejected
	if e.Reason != "feeder stopped" || e.Path != filepath.Join(dir, card.Serial()+".json") {
		t.Fatalf("ejection %+v", e)
	}
	if _, err := os.Stat(e.Path); err != nil {
		t.Fatal(err)
	}
}

// outageBay refuses cards with ErrBayUnavailable while down, as a vpcd
// reader does while its pcscd is not running.
type outageBay struct {
	vcard.Bay
	mu    sync.Mutex
	down  bool
	tries int
}

func (b *outageBay) Insert(c vcard.Card) (<-chan struct{}, error) {
	b.mu.Lock()
	b.tries++
	down := b.down
	b.mu.Unlock()
	if down {
		return nil, fmt.Errorf("%w: connection refused", vcard.ErrBayUnavailable)
	}
	return b.Bay.Insert(c)
}

func (b *outageBay) String() string { return "outage bay" }

func (b *outageBay) set(down bool) {
	b.mu.Lock()
	b.down = down
	b.mu.Unlock()
}

func (b *outageBay) attempts() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tries
}

// lockedLog is a log sink the feeder's goroutine writes while the test reads.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// A bay that does not take cards (pcscd down) does not end the feeder: it
// tries again with a growing pause, warns once per outage, inserts the card
// when the bay is back, and stops at once when its context ends.
func TestFeederRetriesWhileTheBayIsUnavailable(t *testing.T) {
	t.Parallel()
	rack := vcard.NewRack("R")
	bay := &outageBay{Bay: rack.Bay("R"), down: true}
	var logs lockedLog
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	blank := func() (vcard.Persistent, error) { c := newRecCard(); c.removeAfter = 1; return c, nil }
	f := vcard.NewFeeder(bay, blank, vcard.FeederLog(log))
	// pull makes the card in the rack leave by itself (its second APDU).
	pull := func() {
		t.Helper()
		conn, err := rack.Connect("R")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(pcsc.LeaveCard)
		conn.Exchange([]byte{0x00, 0x14, 0x00, 0x00})
		if _, err := conn.Exchange([]byte{0x00, 0x14, 0x00, 0x00}); !errors.Is(err, pcsc.ErrCardRemoved) {
			t.Fatalf("the card did not leave: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// Outage 1, at the first card: 100 + 200 + 400 ms of pauses → 4 tries in ~0.8 s.
	time.Sleep(800 * time.Millisecond)
	if n := bay.attempts(); n < 2 || n > 5 {
		t.Errorf("%d tries in 0.8 s, want about 4 (backoff from %v)", n, vcard.InsertBackoffMin)
	}
	if n := logs.count("retrying until it does"); n != 1 {
		t.Errorf("%d warnings during one outage, want 1", n)
	}
	if f.Inserted() != 0 {
		t.Fatal("a card counted as inserted while the bay was down")
	}
	bay.set(false)
	eventually(t, "the card goes in once the bay is back", func() bool { return f.Inserted() == 1 })

	// Outage 2, between cards: the card leaves, the next waits, one more warning.
	bay.set(true)
	pull()
	eventually(t, "the next card is tried", func() bool { return logs.count("retrying until it does") == 2 })
	bay.set(false)
	eventually(t, "the next card goes in", func() bool { return f.Inserted() == 2 })

	// Ctrl-C during an outage ends Run at once, without an error.
	bay.set(true)
	pull()
	eventually(t, "outage 3", func() bool { return logs.count("retrying until it does") == 3 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel during an outage: %v", err)
		}
	case <-time.After(200 * time.Millisecond):
		t.Fatal("Run did not end within 200 ms of its context")
	}
}

// Any other insertion failure still ends the feeder with the error.
func TestFeederStopsOnAnotherInsertError(t *testing.T) {
	t.Parallel()
	boom := errors.New("jammed")
	f := vcard.NewFeeder(failingBay{boom}, func() (vcard.Persistent, error) { return newRecCard(), nil })
	if err := f.Run(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the bay's error", err)
	}
}

type failingBay struct{ err error }

func (b failingBay) Insert(vcard.Card) (<-chan struct{}, error) { return nil, b.err }
func (b failingBay) Remove() error                              { return nil }
