package vcardtest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/pcsc/vcard/vcardtest"
)

func TestMain(m *testing.M) { pcscdtest.Main(m, 2) }

// serialOver connects to the reader and returns the chip serial the card
// answers (GET DATA CPLC through the card manager), closing with UNPOWER as
// the station does.
func serialOver(t *testing.T, reader string) string {
	t.Helper()
	sys, err := pcsc.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	conn, err := sys.Connect(reader)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(pcsc.UnpowerCard)
	card := pcsc.NewCard(conn)
	serial, err := pcsc.ReadSerial(card)
	if err != nil {
		t.Fatalf("read serial: %v", err)
	}
	return serial
}

// Cards plugged one after another into the same reader, each removed and
// the next plugged at once — what a benchmark loop does: every card must
// be seen and answer. Plugging without waiting for pcscd to see the reader
// empty fails here (SCARD_W_UNPOWERED_CARD at connect, or the old card's
// state seen for the new one).
func TestPlugRightAfterRemoveGetsTheNewCard(t *testing.T) {
	st := pcscdtest.Require(t)
	for k := 0; k < 3; k++ {
		chip := emrtd.New(emrtd.ModelExt144)
		name, slot := vcardtest.Plug(t, 0, chip)
		if name != st.ReaderName(0) {
			t.Fatalf("reader %q, want %q", name, st.ReaderName(0))
		}
		if got := serialOver(t, name); !strings.EqualFold(got, chip.Serial()) {
			t.Fatalf("card %d answers serial %s, want %s", k, got, chip.Serial())
		}
		slot.Remove()
	}
}

// A feeder bay of the test stack puts a card in only once pcscd shows the
// reader empty, also when the previous card was plugged by someone else a
// moment ago (a fresh bay has no swap gap of its own to wait).
func TestBayWaitsUntilTheReaderIsEmpty(t *testing.T) {
	st := pcscdtest.Require(t)
	name := st.ReaderName(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	first := emrtd.New(emrtd.ModelShort80)
	_, slot := vcardtest.Plug(t, 1, first)
	if got := serialOver(t, name); !strings.EqualFold(got, first.Serial()) {
		t.Fatalf("first card answers %s, want %s", got, first.Serial())
	}
	slot.Remove()

	bay := vcardtest.Bay(ctx, t, 1)
	second := emrtd.New(emrtd.ModelShort80)
	if _, err := bay.Insert(second); err != nil {
		t.Fatal(err)
	}
	defer bay.Remove()
	vcardtest.WaitPresent(t, name, true)
	if got := serialOver(t, name); !strings.EqualFold(got, second.Serial()) {
		t.Fatalf("card put in by the bay answers %s, want %s", got, second.Serial())
	}
}
