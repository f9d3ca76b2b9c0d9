package vcard_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard"
)

// readerEnv is one reader of some kind of Readers, with a way to put a card
// in and take it out. The conformance suite runs over the in-process Rack and
// over pcscd with the vpcd bridge: the station sees the same behaviour.
type readerEnv struct {
	readers pcsc.Readers
	name    string
	// insert puts the card in and returns once List shows it.
	insert func(t *testing.T, c vcard.Card)
	// remove takes it out and returns once List shows the reader empty.
	remove func(t *testing.T)
}

func rackEnv(t *testing.T) readerEnv {
	r := vcard.NewRack("Rack 00")
	return readerEnv{
		readers: r,
		name:    "Rack 00",
		insert: func(t *testing.T, c vcard.Card) {
			if err := r.Insert("Rack 00", c); err != nil {
				t.Fatal(err)
			}
		},
		remove: func(t *testing.T) {
			if _, err := r.Remove("Rack 00"); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func bridgeEnv(t *testing.T) readerEnv {
	st := pcscdtest.Require(t)
	i := takeReader(t)
	sys, err := pcsc.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })
	name := st.ReaderName(i)
	var slot *vcard.Slot
	t.Cleanup(func() {
		if slot != nil {
			slot.Remove()
			waitPresent(t, sys, name, false)
		}
	})
	return readerEnv{
		readers: sys,
		name:    name,
		insert: func(t *testing.T, c vcard.Card) {
			s, err := vcard.Plug(context.Background(), st.Addr(i), c)
			if err != nil {
				t.Fatal(err)
			}
			slot = s
			waitPresent(t, sys, name, true)
		},
		remove: func(t *testing.T) {
			slot.Remove()
			slot = nil
			waitPresent(t, sys, name, false)
		},
	}
}

func TestConformanceRack(t *testing.T) {
	t.Parallel()
	runConformance(t, rackEnv)
}

func TestConformanceVPCDBridge(t *testing.T) {
	t.Parallel()
	pcscdtest.Require(t)
	runConformance(t, bridgeEnv)
}

// eventually retries cond for up to a second (control messages to a vpcd
// card are not acknowledged: the card sees them just after the call).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 1 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustConnect(t *testing.T, e readerEnv) pcsc.Conn {
	t.Helper()
	c, err := e.readers.Connect(e.name)
	if err != nil {
		t.Fatalf("connect %q: %v", e.name, err)
	}
	t.Cleanup(func() { c.Close(pcsc.LeaveCard) })
	return c
}

func echo(t *testing.T, c pcsc.Conn, msg string) error {
	t.Helper()
	cmd := append([]byte{0x00, 0x14, 0x00, 0x00, byte(len(msg))}, msg...)
	rsp, err := c.Exchange(cmd)
	if err != nil {
		return err
	}
	if want := append([]byte(msg), 0x90, 0x00); !bytes.Equal(rsp, want) {
		t.Fatalf("echo: got %X, want %X", rsp, want)
	}
	return nil
}

func flag(t *testing.T, c pcsc.Conn) byte {
	t.Helper()
	rsp, err := c.Exchange([]byte{0x00, 0x24, 0x00, 0x00, 0x01})
	if err != nil {
		t.Fatal(err)
	}
	return rsp[0]
}

func runConformance(t *testing.T, newEnv func(t *testing.T) readerEnv) {
	cases := []struct {
		name string
		run  func(t *testing.T, e readerEnv)
	}{
		{"empty reader: ErrNoCard", func(t *testing.T, e readerEnv) {
			if _, err := e.readers.Connect(e.name); !errors.Is(err, pcsc.ErrNoCard) {
				t.Fatalf("err = %v, want ErrNoCard", err)
			}
		}},
		{"unknown reader: ErrReaderGone", func(t *testing.T, e readerEnv) {
			if _, err := e.readers.Connect("No Such Reader 00 00"); !errors.Is(err, pcsc.ErrReaderGone) {
				t.Fatalf("err = %v, want ErrReaderGone", err)
			}
		}},
		{"insertion and removal seen by Watch and List", func(t *testing.T, e readerEnv) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, err := e.readers.Watch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c := newRecCard()
			e.insert(t, c)
			if ev := next(t, ch, e.name, pcsc.CardInserted); !bytes.Equal(ev.ATR, c.ATR()) {
				t.Fatalf("CardInserted ATR %X, want %X", ev.ATR, c.ATR())
			}
			st := state(t, e)
			if !st.Present || !bytes.Equal(st.ATR, c.ATR()) || st.InUse {
				t.Fatalf("List: %+v", st)
			}
			e.remove(t)
			next(t, ch, e.name, pcsc.CardRemoved)
			if st := state(t, e); st.Present {
				t.Fatalf("List after removal: %+v", st)
			}
		}},
		{"connect powers the card on and exchanges reach it", func(t *testing.T, e readerEnv) {
			c := newRecCard()
			e.insert(t, c)
			conn := mustConnect(t, e)
			if !bytes.Equal(conn.ATR(), c.ATR()) {
				t.Errorf("Conn.ATR %X, want %X", conn.ATR(), c.ATR())
			}
			if err := echo(t, conn, "hello"); err != nil {
				t.Fatal(err)
			}
			if n := c.counts(); n.ons == 0 || n.apdus != 1 {
				t.Fatalf("card saw %+v, want a power-on and one APDU", n)
			}
			if st := state(t, e); !st.InUse {
				t.Errorf("List while connected: %+v, want InUse", st)
			}
		}},
		{"connect is exclusive", func(t *testing.T, e readerEnv) {
			e.insert(t, newRecCard())
			first := mustConnect(t, e)
			if _, err := e.readers.Connect(e.name); !errors.Is(err, pcsc.ErrSharingViolation) {
				t.Fatalf("second connect: err = %v, want ErrSharingViolation", err)
			}
			first.Close(pcsc.LeaveCard)
			second := mustConnect(t, e)
			if err := echo(t, second, "x"); err != nil {
				t.Fatal(err)
			}
		}},
		{"card pulled while connected: ErrCardRemoved, also after a new card", func(t *testing.T, e readerEnv) {
			e.insert(t, newRecCard())
			conn := mustConnect(t, e)
			e.remove(t)
			if err := echo(t, conn, "x"); !errors.Is(err, pcsc.ErrCardRemoved) {
				t.Fatalf("exchange after removal: err = %v, want ErrCardRemoved", err)
			}
			e.insert(t, newRecCard())
			if err := echo(t, conn, "x"); !errors.Is(err, pcsc.ErrCardRemoved) {
				t.Fatalf("old connection after a new card: err = %v, want ErrCardRemoved", err)
			}
			// pcscd keeps the reader held until the old handle is closed.
			if _, err := e.readers.Connect(e.name); !errors.Is(err, pcsc.ErrSharingViolation) {
				t.Fatalf("connect with the old connection still open: err = %v, want ErrSharingViolation", err)
			}
			conn.Close(pcsc.LeaveCard)
			if err := echo(t, mustConnect(t, e), "y"); err != nil {
				t.Fatal(err)
			}
		}},
		{"card leaving mid-command: ErrCardRemoved and CardRemoved", func(t *testing.T, e readerEnv) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, _ := e.readers.Watch(ctx)
			c := newRecCard()
			c.removeAfter = 2
			e.insert(t, c)
			next(t, ch, e.name, pcsc.CardInserted)
			conn := mustConnect(t, e)
			for k := 0; k < 2; k++ {
				if err := echo(t, conn, "x"); err != nil {
					t.Fatal(err)
				}
			}
			if err := echo(t, conn, "x"); !errors.Is(err, pcsc.ErrCardRemoved) {
				t.Fatalf("err = %v, want ErrCardRemoved", err)
			}
			next(t, ch, e.name, pcsc.CardRemoved)
		}},
		{"Reset clears volatile state", func(t *testing.T, e readerEnv) {
			c := newRecCard()
			e.insert(t, c)
			conn := mustConnect(t, e)
			conn.Exchange([]byte{0x00, 0x22, 0x00, 0x00})
			if flag(t, conn) != 1 {
				t.Fatal("flag not set")
			}
			before := c.counts().resets
			if err := conn.Reset(); err != nil {
				t.Fatal(err)
			}
			if flag(t, conn) != 0 || c.counts().resets == before {
				t.Fatalf("after Reset: flag %d, resets %d → %d", flag(t, conn), before, c.counts().resets)
			}
		}},
		{"Close(UnpowerCard) powers off, Close(ResetCard) resets, Close(LeaveCard) leaves", func(t *testing.T, e readerEnv) {
			c := newRecCard()
			e.insert(t, c)
			conn := mustConnect(t, e)
			conn.Exchange([]byte{0x00, 0x22, 0x00, 0x00})
			conn.Close(pcsc.LeaveCard)
			conn = mustConnect(t, e)
			if flag(t, conn) != 1 {
				t.Fatal("Close(LeaveCard) then connect again: volatile state lost")
			}
			r := c.counts().resets
			conn.Close(pcsc.ResetCard)
			eventually(t, "Close(ResetCard) resets", func() bool { return c.counts().resets > r })
			conn = mustConnect(t, e)
			off := c.counts().offs
			conn.Close(pcsc.UnpowerCard)
			eventually(t, "Close(UnpowerCard) powers off", func() bool { return c.counts().offs > off })
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newEnv(t))
		})
	}
}

func state(t *testing.T, e readerEnv) pcsc.ReaderState {
	t.Helper()
	states, err := e.readers.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s.Name == e.name {
			return s
		}
	}
	t.Fatalf("reader %q not listed", e.name)
	return pcsc.ReaderState{}
}

// next waits for an event of kind about reader, skipping others.
func next(t *testing.T, ch <-chan pcsc.Event, reader string, kind pcsc.EventKind) pcsc.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("watch ended while waiting for %v on %q", kind, reader)
			}
			if e.Reader == reader && e.Kind == kind {
				return e
			}
		case <-deadline:
			t.Fatalf("no %v on %q within 5 s", kind, reader)
		}
	}
}
