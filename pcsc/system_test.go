package pcsc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/pcscdtest"
)

// nextEvent waits for the next event about reader (or any reader when
// reader is "") whose kind is one of kinds, skipping the others.
func nextEvent(t *testing.T, ch <-chan pcsc.Event, reader string, timeout time.Duration, kinds ...pcsc.EventKind) pcsc.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("watch channel closed while waiting for %v on %q", kinds, reader)
			}
			if reader != "" && e.Reader != reader {
				continue
			}
			for _, k := range kinds {
				if e.Kind == k {
					return e
				}
			}
		case <-deadline:
			t.Fatalf("no %v event for %q within %s", kinds, reader, timeout)
		}
	}
}

func TestWatchSeesCardInsertionAndRemoval(t *testing.T) {
	t.Parallel()
	st, sys := system(t)
	i := takeReaders(t, 1)[0]
	name := st.ReaderName(i)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := sys.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ch, name, 5*time.Second, pcsc.ReaderAdded)

	card := newTestCard(false)
	slot := plug(t, st, i, card)
	e := nextEvent(t, ch, name, 5*time.Second, pcsc.CardInserted, pcsc.CardRemoved)
	if e.Kind != pcsc.CardInserted || !bytes.Equal(e.ATR, card.ATR()) {
		t.Fatalf("after plugging: %+v, want CardInserted with ATR %X", e, card.ATR())
	}
	slot.Remove()
	if e := nextEvent(t, ch, name, 5*time.Second, pcsc.CardInserted, pcsc.CardRemoved); e.Kind != pcsc.CardRemoved {
		t.Fatalf("after removing: %+v, want CardRemoved", e)
	}
	cancel()
	for range ch { // the channel closes once ctx is done
	}
}

func TestWatchStartsWithTheCurrentState(t *testing.T) {
	t.Parallel()
	st, sys := system(t)
	i := takeReaders(t, 1)[0]
	name := st.ReaderName(i)
	card := newTestCard(false)
	plug(t, st, i, card)
	waitPresent(t, sys, name, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, _ := sys.Watch(ctx)
	added := map[string]bool{}
	inserted := false
	for len(added) < st.N() || !inserted {
		e := nextEvent(t, ch, "", 5*time.Second, pcsc.ReaderAdded, pcsc.CardInserted)
		switch {
		case e.Kind == pcsc.ReaderAdded:
			added[e.Reader] = true
		case e.Reader == name:
			if !added[name] {
				t.Fatalf("CardInserted before ReaderAdded for %q", name)
			}
			if !bytes.Equal(e.ATR, card.ATR()) {
				t.Fatalf("initial CardInserted ATR %X, want %X", e.ATR, card.ATR())
			}
			inserted = true
		}
	}
}

func TestListShowsPresenceATRAndUse(t *testing.T) {
	t.Parallel()
	st, sys := system(t)
	i := takeReaders(t, 1)[0]
	name := st.ReaderName(i)
	if s := waitPresent(t, sys, name, false); s.ATR != nil {
		t.Fatalf("empty reader with an ATR: %+v", s)
	}
	card := newTestCard(false)
	plug(t, st, i, card)
	s := waitPresent(t, sys, name, true)
	if !bytes.Equal(s.ATR, card.ATR()) || s.InUse {
		t.Fatalf("state %+v, want ATR %X and not in use", s, card.ATR())
	}
	connect(t, sys, name)
	states, _ := sys.List()
	for _, s := range states {
		if s.Name == name && !s.InUse {
			t.Fatalf("connected reader not in use: %+v", s)
		}
	}
}

func TestConnectIsExclusive(t *testing.T) {
	t.Parallel()
	st, sys := system(t)
	i := takeReaders(t, 1)[0]
	name := st.ReaderName(i)
	plug(t, st, i, newTestCard(false))
	first := connect(t, sys, name)
	if _, err := sys.Connect(name); !errors.Is(err, pcsc.ErrSharingViolation) {
		t.Fatalf("second exclusive connect: err = %v, want ErrSharingViolation", err)
	}
	if err := first.Close(pcsc.LeaveCard); err != nil {
		t.Fatal(err)
	}
	second := connect(t, sys, name)
	if _, err := second.Exchange([]byte{0x00, 0x18, 0x00, 0x00, 0x02}); err != nil {
		t.Fatalf("exchange after the first connection closed: %v", err)
	}
}

func TestConnectToEmptyOrUnknownReader(t *testing.T) {
	t.Parallel()
	st, sys := system(t)
	i := takeReaders(t, 1)[0]
	name := st.ReaderName(i)
	waitPresent(t, sys, name, false)
	if _, err := sys.Connect(name); !errors.Is(err, pcsc.ErrNoCard) {
		t.Errorf("connect to an empty reader: err = %v, want ErrNoCard", err)
	}
	if _, err := sys.Connect("No Such Reader 00 00"); !errors.Is(err, pcsc.ErrReaderGone) {
		t.Errorf("connect to an unknown reader: err = %v, want ErrReaderGone", err)
	}
}

func TestCardRemovedMidSessionIsErrCardRemoved(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		card := newTestCard(false)
		card.removeAfter = 3
		c := pcsc.NewCard(b.connect(t, card))
		for k := 0; k < 3; k++ {
			if _, err := c.Transmit([]byte{0x00, 0x18, 0x00, 0x00, 0x02}); err != nil {
				t.Fatalf("APDU %d before the removal: %v", k, err)
			}
		}
		_, err := c.Transmit([]byte{0x00, 0x18, 0x00, 0x00, 0x02})
		if !errors.Is(err, pcsc.ErrCardRemoved) {
			t.Fatalf("APDU after the card left: err = %v, want ErrCardRemoved", err)
		}
		if _, err := c.Transmit([]byte{0x00, 0x18, 0x00, 0x00, 0x02}); !errors.Is(err, pcsc.ErrCardRemoved) {
			t.Fatalf("the next APDU: err = %v, want ErrCardRemoved", err)
		}
	})
}

// Sixteen readers, each with its own card and goroutine: no cross-talk, no
// lost APDU. Not parallel with other tests: it takes every reader.
func TestSixteenReadersInParallel(t *testing.T) {
	st, sys := system(t)
	idx := takeReaders(t, pcscdtest.MaxReaders)
	cards := make([]*testCard, len(idx))
	for k, i := range idx {
		cards[k] = newTestCard(false)
		plug(t, st, i, cards[k])
	}
	const apdus = 300
	var wg sync.WaitGroup
	errs := make(chan error, len(idx))
	for k, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := st.ReaderName(i)
			conn := connect(t, sys, name)
			c := pcsc.NewCard(conn)
			for n := 0; n < apdus; n++ {
				msg := []byte(fmt.Sprintf("reader %02d apdu %04d", i, n))
				cmd := append([]byte{0x00, 0x14, 0x00, 0x00, byte(len(msg))}, msg...)
				rsp, err := c.Transmit(cmd)
				if err != nil {
					errs <- fmt.Errorf("%s APDU %d: %w", name, n, err)
					return
				}
				if want := append(msg, 0x90, 0x00); !bytes.Equal(rsp, want) {
					errs <- fmt.Errorf("%s APDU %d: got %X, want %X", name, n, rsp, want)
					return
				}
			}
			if err := conn.Close(pcsc.LeaveCard); err != nil {
				errs <- err
			}
			if seen, _, _ := cards[k].counts(); seen != apdus {
				errs <- fmt.Errorf("%s: card processed %d APDUs, want %d", name, seen, apdus)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A pcscd restart: Watch reports ServiceLost and ServiceRestored and
// announces the readers again; while pcscd is away every call fails with
// ErrNoService and says so; cards plugged through the bridge come back.
// Not parallel: it stops the stack every test shares.
func TestPcscdRestartIsSurvived(t *testing.T) {
	st, sys := system(t)
	i := takeReaders(t, 1)[0]
	name := st.ReaderName(i)
	card := newTestCard(false)
	plug(t, st, i, card)
	conn := connect(t, sys, name)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := sys.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ch, name, 5*time.Second, pcsc.CardInserted)

	if err := st.Stop(); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ch, "", 5*time.Second, pcsc.ServiceLost)
	if e := nextEvent(t, ch, name, 5*time.Second, pcsc.CardRemoved, pcsc.ReaderRemoved); e.Kind != pcsc.CardRemoved {
		t.Fatalf("after ServiceLost: %+v, want CardRemoved then ReaderRemoved", e)
	}
	nextEvent(t, ch, name, 5*time.Second, pcsc.ReaderRemoved)

	// Without pcscd.
	if _, err := pcsc.Open(); !errors.Is(err, pcsc.ErrNoService) || !strings.Contains(err.Error(), "pcscd is not running (no PC/SC service)") {
		t.Errorf("Open without pcscd: err = %v, want ErrNoService saying pcscd is not running", err)
	}
	if _, err := sys.List(); !errors.Is(err, pcsc.ErrNoService) {
		t.Errorf("List without pcscd: err = %v, want ErrNoService", err)
	}
	if _, err := sys.Connect(name); !errors.Is(err, pcsc.ErrNoService) {
		t.Errorf("Connect without pcscd: err = %v, want ErrNoService", err)
	}
	if _, err := conn.Exchange([]byte{0x00, 0x18, 0x00, 0x00, 0x02}); !errors.Is(err, pcsc.ErrNoService) {
		t.Errorf("Exchange on a connection made before pcscd stopped: err = %v, want ErrNoService", err)
	}

	if err := st.Restart(); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ch, "", 10*time.Second, pcsc.ServiceRestored)
	added := map[string]bool{}
	for len(added) < st.N() {
		e := nextEvent(t, ch, "", 5*time.Second, pcsc.ReaderAdded)
		added[e.Reader] = true
	}
	// The bridge dials again; vpcd finds the card at its next poll.
	nextEvent(t, ch, name, 5*time.Second, pcsc.CardInserted)
	if _, _, resets := card.counts(); resets == 0 {
		t.Errorf("the card kept its volatile state across the link loss (no reset)")
	}
	if _, err := conn.Exchange([]byte{0x00, 0x18, 0x00, 0x00, 0x02}); err == nil {
		t.Errorf("a connection from before the restart still works")
	}
	conn.Close(pcsc.LeaveCard)
	again := connect(t, sys, name)
	if _, err := pcsc.Do(pcsc.NewCard(again), []byte{0x00, 0x18, 0x00, 0x00, 0x02}); err != nil {
		t.Fatalf("exchange after the restart: %v", err)
	}
	if _, err := sys.List(); err != nil {
		t.Fatalf("List after the restart: %v", err)
	}
}
