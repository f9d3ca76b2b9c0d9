// Package vcardtest plugs virtual cards into the readers of a test pcscd
// (pcsc/pcscdtest) and waits until pcscd sees them: the step every test
// through the real PC/SC stack begins with.
package vcardtest

import (
	"context"
	"testing"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard"
)

// Plug puts card into vpcd reader i of the package's test pcscd (started by
// pcscdtest.Main), waits until pcscd lists it present (vpcd polls every
// 0.4 s), and removes it at the end of the test. It returns the reader's
// name and the slot.
func Plug(tb testing.TB, i int, card vcard.Card) (string, *vcard.Slot) {
	tb.Helper()
	st := pcscdtest.Require(tb)
	slot, err := vcard.Plug(context.Background(), st.Addr(i), card)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(slot.Remove)
	name := st.ReaderName(i)
	WaitPresent(tb, name, true)
	return name, slot
}

// WaitPresent waits (up to 5 s) until pcscd lists the reader with or
// without a card.
func WaitPresent(tb testing.TB, reader string, present bool) {
	tb.Helper()
	sys, err := pcsc.Open()
	if err != nil {
		tb.Fatal(err)
	}
	defer sys.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		states, err := sys.List()
		if err != nil {
			tb.Fatal(err)
		}
		for _, s := range states {
			if s.Name == reader && s.Present == present {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("reader %q: card present = %v not seen in 5 s", reader, present)
		}
	}
}
