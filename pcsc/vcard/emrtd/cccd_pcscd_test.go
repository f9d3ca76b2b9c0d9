package emrtd

import (
	"bytes"
	"context"
	"testing"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/vcardtest"
)

// TestCCCDThroughPCSCD presents a blank cccd chip to a real pcscd through
// vpcd (an isolated stack of its own: this package has no TestMain) and
// drives it with pcsc.Card, extended APDUs as the ATR declares: what a
// station sees of a blank chip (SELECT, GET DATA CPLC, EF.CardAccess 6A82),
// the whole personalization under SCP03, then, after a reset, PACE with the
// CAN at the MF, reads, Chip Authentication and Active Authentication.
func TestCCCDThroughPCSCD(t *testing.T) {
	st := pcscdtest.StartT(t, 1)
	chip := New(ModelCCCD)
	slot, err := vcard.Plug(context.Background(), st.Addr(0), chip)
	if err != nil {
		t.Fatal(err)
	}
	defer slot.Remove()
	reader := st.ReaderName(0)
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
	card := pcsc.NewCard(conn)
	defer card.Close(pcsc.LeaveCard)
	if !bytes.Equal(card.ATR(), ModelCCCD.ATR) || !card.ExtendedLength() {
		t.Fatalf("ATR %s (extended %t), want %s", hx(card.ATR()), card.ExtendedLength(), hx(ModelCCCD.ATR))
	}
	serial, err := pcsc.ReadSerial(card)
	if err != nil || serial != chip.Serial() {
		t.Fatalf("ReadSerial = %q, %v; want %s", serial, err, chip.Serial())
	}

	h := &cccdHost{tb: t, tx: card.Transmit}
	h.expect("SELECT EF.CardAccess on a blank chip", selectFileAPDU(fidCardAccess), swFileNotFound)
	h.expect("SELECT MF on a blank chip", unhex(t, "00A4000C023F00"), swFileNotFound)
	h.selectApplication()
	h.expect("SELECT EF.COM on a blank chip", selectFileAPDU(0x011E), swFileNotFound)
	if d := h.expect("GET DATA CPLC", unhex(t, "80CA9F7F00"), swOK); len(d) != 45 {
		t.Fatalf("CPLC of %d bytes", len(d))
	}

	img := testCCCDImage(t)
	res := h.personalize(img, chip.scpKeys)
	if err := card.Reset(); err != nil {
		t.Fatal(err)
	}
	h.expect("SELECT EF.CardAccess", selectFileAPDU(fidCardAccess), swOK)
	if got := h.expect("READ EF.CardAccess", readBinaryAPDU(0, 256), swEndOfFile); !bytes.Equal(got, img.files[fidCardAccess]) {
		t.Fatalf("EF.CardAccess %s", hx(got))
	}
	h.expect("SELECT MF once operational", unhex(t, "00A4000C023F00"), swINSNotSupported)
	h.mustPACE(pacePasswordCAN, paceKeyOf(pacePasswordCAN, img.mrz, img.can))
	h.smExpect("SELECT eMRTD application", 0xA4, 0x04, 0x0C, AIDPassport, 0, swOK)
	for _, fid := range []uint16{0x011E, 0x0101, 0x0102, 0x010D, 0x010E, 0x010F, 0x011D} {
		if got := h.smReadFile(fid); !bytes.Equal(got, img.files[fid]) {
			t.Fatalf("file %04X read through pcscd differs", fid)
		}
	}
	h.smExpect("SELECT DG3", 0xA4, 0x02, 0x0C, []byte{0x01, 0x03}, 0, swSecurityStatus)
	h.activeAuthentication(res.aaPub, img.aaCurve)
	h.chipAuthentication(res.caPub, img.caCurve, false)
	h.smReadFile(0x0101)
}
