package pcsc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard"
)

// One pcscd with 16 vpcd readers for the package's tests; each test takes
// readers from the pool so that parallel tests never share one.
func TestMain(m *testing.M) { pcscdtest.Main(m, pcscdtest.MaxReaders) }

var pool = func() chan int {
	c := make(chan int, pcscdtest.MaxReaders)
	for i := 0; i < pcscdtest.MaxReaders; i++ {
		c <- i
	}
	return c
}()

// takeReaders reserves n readers of the shared stack for the test.
func takeReaders(t testing.TB, n int) []int {
	t.Helper()
	idx := make([]int, 0, n)
	for len(idx) < n {
		select {
		case i := <-pool:
			idx = append(idx, i)
		case <-time.After(20 * time.Second):
			t.Fatal("no free reader in 20 s")
		}
	}
	t.Cleanup(func() {
		if st := pcscdtest.Require(t); st != nil {
			names := make([]string, len(idx))
			for k, i := range idx {
				names[k] = st.ReaderName(i)
			}
			waitGone(t, names...)
		}
		for _, i := range idx {
			pool <- i
		}
	})
	return idx
}

// system opens pcscd for the test (skipping or failing as pcscdtest says).
func system(t testing.TB) (*pcscdtest.Stack, *pcsc.System) {
	t.Helper()
	st := pcscdtest.Require(t)
	sys, err := pcsc.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })
	return st, sys
}

// plug puts card into reader i of the stack, removed at the end of the test.
func plug(t testing.TB, st *pcscdtest.Stack, i int, card vcard.Card) *vcard.Slot {
	t.Helper()
	s, err := vcard.Plug(context.Background(), st.Addr(i), card)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Remove) // takeReaders waits until pcscd has seen it gone
	return s
}

// waitGone waits until pcscd has seen the readers empty: a card plugged into
// a vpcd port within one presence poll (0.4 s) of the previous card's
// removal can go unnoticed, the reader then seeming never to have changed.
func waitGone(t testing.TB, readers ...string) {
	sys, err := pcsc.Open()
	if err != nil {
		return // pcscd stopped: nothing to wait for
	}
	defer sys.Close()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		states, err := sys.List()
		if err != nil {
			return
		}
		busy := 0
		for _, s := range states {
			for _, r := range readers {
				if s.Name == r && s.Present {
					busy++
				}
			}
		}
		if busy == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("readers %q still show a card 3 s after removal", readers)
}

// connect connects to the reader once pcscd has noticed the card (its
// presence poll runs every ~0.4 s).
func connect(t testing.TB, r pcsc.Readers, reader string) pcsc.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := r.Connect(reader)
		if err == nil {
			t.Cleanup(func() { c.Close(pcsc.LeaveCard) })
			return c
		}
		if !errors.Is(err, pcsc.ErrNoCard) || time.Now().After(deadline) {
			t.Fatalf("connect %q: %v", reader, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitPresent waits until List shows the reader with (or without) a card.
func waitPresent(t testing.TB, r pcsc.Readers, reader string, present bool) pcsc.ReaderState {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		states, err := r.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if s.Name == reader && s.Present == present {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("reader %q: card present = %v not seen in 5 s (%+v)", reader, present, states)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
