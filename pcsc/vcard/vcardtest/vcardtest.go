// Package vcardtest plugs virtual cards into the readers of a test pcscd
// (pcsc/pcscdtest) and waits until pcscd sees them: the step every test
// and benchmark through the real PC/SC stack begins with.
//
// A vpcd reader takes a new card safely only once pcscd has seen the
// previous one leave: a card that connects within one presence poll
// (0.4 s) of the previous card's removal is accepted by vpcd in the same
// poll that drops the old connection, pcscd sees no removal, and the first
// SCardConnect fails (SCARD_W_UNPOWERED_CARD) or a later exchange does
// (docs/pcsc.md, "card swaps"). Plug and Bay therefore wait until pcscd
// lists the reader empty before a card goes in — never a fixed sleep.
package vcardtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard"
)

// Timing of the waits: how long pcscd may take to show a change (vpcd polls
// every 0.4 s; a loaded machine is slower), and how often to look.
const (
	PresenceTimeout = 10 * time.Second
	pollEvery       = 10 * time.Millisecond
)

// Plug puts card into vpcd reader i of the package's test pcscd (started by
// pcscdtest.Main) once pcscd lists the reader empty, waits until pcscd lists
// the card present, and removes it at the end of the test. It returns the
// reader's name and the slot.
//
// A test or benchmark may Remove the slot and Plug again into the same
// reader at once: Plug waits for the reader to be free.
func Plug(tb testing.TB, i int, card vcard.Card) (string, *vcard.Slot) {
	tb.Helper()
	st := pcscdtest.Require(tb)
	name := st.ReaderName(i)
	WaitPresent(tb, name, false)
	slot, err := vcard.Plug(context.Background(), st.Addr(i), card)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(slot.Remove)
	WaitPresent(tb, name, true)
	return name, slot
}

// Bay is a feeder bay on vpcd reader i of the test pcscd: vcard.VPCDBay,
// which also waits, before each card goes in, until pcscd lists the reader
// empty (vcard.WhenFree with WaitFree). Feeders of tests and benchmarks use
// it, so that a card never goes into a reader pcscd still shows occupied —
// by the previous card of the same feeder or by a card of an earlier test.
func Bay(ctx context.Context, tb testing.TB, i int) vcard.Bay {
	tb.Helper()
	st := pcscdtest.Require(tb)
	name := st.ReaderName(i)
	return vcard.VPCDBay(ctx, st.Addr(i), vcard.WhenFree(func(ctx context.Context) error {
		return WaitFree(ctx, name)
	}))
}

// WaitPresent waits (up to PresenceTimeout) until pcscd lists the reader
// with or without a card, and fails the test otherwise.
func WaitPresent(tb testing.TB, reader string, present bool) {
	tb.Helper()
	if err := waitState(context.Background(), reader, present); err != nil {
		tb.Fatal(err)
	}
}

// WaitFree waits (up to PresenceTimeout) until pcscd lists the reader
// without a card. While pcscd is not running it fails at once with an error
// wrapping vcard.ErrBayUnavailable, so that a Feeder tries again later.
func WaitFree(ctx context.Context, reader string) error {
	err := waitState(ctx, reader, false)
	if errors.Is(err, pcsc.ErrNoService) {
		return fmt.Errorf("%w: %w", vcard.ErrBayUnavailable, err)
	}
	return err
}

// waitState polls pcscd's reader list until reader shows present.
func waitState(ctx context.Context, reader string, present bool) error {
	sys, err := pcsc.Open()
	if err != nil {
		return fmt.Errorf("vcardtest: reader %q: %w", reader, err)
	}
	defer sys.Close()
	deadline := time.Now().Add(PresenceTimeout)
	var last []pcsc.ReaderState
	for {
		states, err := sys.List()
		if err != nil {
			return fmt.Errorf("vcardtest: reader %q: %w", reader, err)
		}
		for _, s := range states {
			if s.Name == reader && s.Present == present {
				return nil
			}
		}
		last = states
		if time.Now().After(deadline) {
			return fmt.Errorf("vcardtest: reader %q: card present = %v not seen within %s (readers: %+v)", reader, present, PresenceTimeout, last)
		}
		t := time.NewTimer(pollEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
