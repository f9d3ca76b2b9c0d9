package personalization

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
)

func failure(t *testing.T, err error) *Failure {
	t.Helper()
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("want a *Failure, got %v", err)
	}
	return f
}

func TestCardPulledMidWriteIsSpoiledAndTheReaderWorksOn(t *testing.T) {
	im, eng := prepared(t, "nguyen-van-an.json", 1024)
	rack := vcard.NewRack("R")
	chip := emrtd.New(emrtd.ModelShort80, emrtd.WithFaults(emrtd.Faults{RemoveAfter: 30}))
	rack.Insert("R", chip)
	conn, err := rack.Connect("R")
	if err != nil {
		t.Fatal(err)
	}
	_, err = eng.Personalize(context.Background(), pcsc.NewCard(conn), im)
	f := failure(t, err)
	if f.Step != StepWrite || f.Card != CardUnknown || !f.Spoiled() || !errors.Is(err, pcsc.ErrCardRemoved) || f.Serial != chip.Serial() {
		t.Fatalf("failure %+v", f)
	}
	conn.Close(pcsc.LeaveCard)

	// The same reader takes the next card and the job again.
	im2, eng2 := prepared(t, "nguyen-van-an.json", 1024)
	next := emrtd.New(emrtd.ModelShort80)
	if err := rack.Insert("R", next); err != nil {
		t.Fatal(err)
	}
	conn, err = rack.Connect("R")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(pcsc.LeaveCard)
	if _, err := eng2.Personalize(context.Background(), pcsc.NewCard(conn), im2); err != nil {
		t.Fatalf("next card: %v", err)
	}
}

func TestMemoryFailureIsATypedWriteFailure(t *testing.T) {
	im, eng := prepared(t, "hoang-thi-my.json", 1024)
	chip := emrtd.New(emrtd.ModelExt144, emrtd.WithFaults(emrtd.Faults{MemoryFailure: emrtd.InFile(0x0102, 5000)}))
	_, err := eng.Personalize(context.Background(), rackCard(t, chip), im)
	f := failure(t, err)
	if f.Step != StepWrite || f.Card != CardWritten || !errors.Is(err, pcsc.ErrMemoryFailure) || chip.Locked() {
		t.Fatalf("failure %+v (locked %v)", f, chip.Locked())
	}
}

func TestPowerTearLeavesAnUnverifiedSpoiledCard(t *testing.T) {
	im, eng := prepared(t, "tran-thi-ngoc-anh.json", 1024)
	chip := emrtd.New(emrtd.ModelExt144, emrtd.WithFaults(emrtd.Faults{Tear: emrtd.InFile(0x0102, 3000)}))
	_, err := eng.Personalize(context.Background(), rackCard(t, chip), im)
	f := failure(t, err)
	if f.Step != StepWrite || !f.Spoiled() || !errors.Is(err, pcsc.ErrCardRemoved) {
		t.Fatalf("failure %+v", f)
	}
	// The torn card, inserted again, is written (not blank) and is refused.
	im2, _ := prepared(t, "tran-thi-ngoc-anh.json", 1024)
	_, err = eng.Personalize(context.Background(), rackCard(t, chip), im2)
	f = failure(t, err)
	if !f.Refused() || f.Card != CardWritten || !errors.Is(err, ErrNotBlank) {
		t.Fatalf("torn card re-inserted: %+v", f)
	}
}

func TestWrongATRIsRefusedBeforeAnyWrite(t *testing.T) {
	im, eng := prepared(t, "le-dinh-duc.json", 1024)
	model := emrtd.ModelExt144
	model.ATR = bytes.Clone(model.ATR)
	model.ATR[len(model.ATR)-3] ^= 0x01 // another product
	model.ATR[len(model.ATR)-1] ^= 0x01 // keep TCK right
	chip := emrtd.New(model)
	_, err := eng.Personalize(context.Background(), rackCard(t, chip), im)
	f := failure(t, err)
	if !f.Refused() || !errors.Is(err, ErrUnknownChip) || chip.Written() {
		t.Fatalf("failure %+v, written %v", f, chip.Written())
	}
}

func TestLockedAndNonBlankCardsAreNeverWritten(t *testing.T) {
	im, eng := prepared(t, "le-dinh-duc.json", 1024)
	chip := emrtd.New(emrtd.ModelShort80)
	if _, err := eng.Personalize(context.Background(), rackCard(t, chip), im); err != nil {
		t.Fatal(err)
	}
	before, _ := chip.MarshalJSON()
	im2, _ := prepared(t, "le-dinh-duc.json", 1024)
	_, err := eng.Personalize(context.Background(), rackCard(t, chip), im2)
	f := failure(t, err)
	if !f.Refused() || f.Card != CardLocked || !errors.Is(err, ErrLocked) {
		t.Fatalf("locked card: %+v", f)
	}
	after, _ := chip.MarshalJSON()
	if !bytes.Equal(before, after) {
		t.Error("the locked card changed")
	}

	// A written, unlocked card (memory failure halfway).
	half := emrtd.New(emrtd.ModelExt144, emrtd.WithFaults(emrtd.Faults{MemoryFailure: emrtd.InFile(0x010D, 10)}))
	im3, _ := prepared(t, "le-dinh-duc.json", 1024)
	eng.Personalize(context.Background(), rackCard(t, half), im3)
	im4, _ := prepared(t, "le-dinh-duc.json", 1024)
	_, err = eng.Personalize(context.Background(), rackCard(t, half), im4)
	if f := failure(t, err); !f.Refused() || !errors.Is(err, ErrNotBlank) {
		t.Fatalf("non-blank card: %+v", f)
	}
}

// lyingChip corrupts what is written at one offset of DG2 and, before the
// lock, answers plain reads with the bytes that were sent, hiding the
// corruption from the read-back: only the verification after locking can
// see that the chip holds different bytes.
type lyingChip struct {
	*emrtd.Chip
	selected  uint16
	written   map[int]byte
	corrupted bool
}

func (l *lyingChip) Process(cmd []byte) ([]byte, error) {
	if len(cmd) >= 7 && cmd[0] == 0x00 && cmd[1] == 0xA4 && cmd[2] == 0x02 {
		l.selected = uint16(cmd[5])<<8 | uint16(cmd[6])
	}
	if len(cmd) > 5 && cmd[0] == 0x00 && cmd[1] == 0xD6 && l.selected == 0x0102 && !l.corrupted {
		off := int(cmd[2])<<8 | int(cmd[3])
		data := cmd[5:]
		if cmd[4] == 0 && len(cmd) > 7 { // extended Lc
			data = cmd[7:]
		}
		if off <= 100 && off+len(data) > 100 {
			cmd = bytes.Clone(cmd)
			i := len(cmd) - len(data) + (100 - off)
			l.written = map[int]byte{100: cmd[i]}
			cmd[i] ^= 0xFF
			l.corrupted = true
		}
	}
	resp, err := l.Chip.Process(cmd)
	if err == nil && len(cmd) >= 4 && cmd[0] == 0x00 && cmd[1] == 0xB0 && l.selected == 0x0102 && !l.Chip.Locked() {
		off := int(cmd[2])<<8 | int(cmd[3])
		if off <= 100 && off+len(resp)-2 > 100 {
			resp = bytes.Clone(resp)
			resp[100-off] = l.written[100]
		}
	}
	return resp, err
}

func TestAChipHoldingOtherBytesIsNeverVerified(t *testing.T) {
	im, eng := prepared(t, "hoang-thi-my.json", 1024)
	chip := &lyingChip{Chip: emrtd.New(emrtd.ModelShort80)}
	_, err := eng.Personalize(context.Background(), rackCard(t, chip), im)
	f := failure(t, err)
	if f.Step != StepVerify || f.Card != CardLocked || f.Report == nil || f.Report.Verified {
		t.Fatalf("failure %+v", f)
	}
	failed := map[string]bool{}
	for _, c := range f.Report.FailedChecks() {
		failed[c.Name] = true
	}
	if !failed["data group hashes"] || !failed["DG2 equals the image"] {
		t.Errorf("failed checks %v", f.Report.FailedChecks())
	}
	if !chip.corrupted {
		t.Fatal("the test chip did not corrupt anything")
	}
}

// openChip accepts plain SELECT after the lock: a chip that would let anyone
// read the citizen's data without the MRZ.
type openChip struct{ *emrtd.Chip }

func (o *openChip) Process(cmd []byte) ([]byte, error) {
	if o.Chip.Locked() && len(cmd) >= 7 && cmd[0] == 0x00 && cmd[1] == 0xA4 && cmd[2] == 0x02 && cmd[5] == 0x01 && cmd[6] != 0x1C {
		return []byte{0x90, 0x00}, nil
	}
	return o.Chip.Process(cmd)
}

func TestAChipThatAllowsPlainReadsAfterLockIsNotVerified(t *testing.T) {
	im, eng := prepared(t, "le-dinh-duc.json", 1024)
	_, err := eng.Personalize(context.Background(), rackCard(t, &openChip{emrtd.New(emrtd.ModelShort80)}), im)
	f := failure(t, err)
	if f.Step != StepVerify || f.Report == nil || f.Report.FailedChecks()[0].Name != "plain access refused" {
		t.Fatalf("failure %+v", f)
	}
}

func TestVerifyRefusesAWrongMRZAndAnUntrustedSigner(t *testing.T) {
	im, eng := prepared(t, "tran-thi-ngoc-anh.json", 1024)
	chip := emrtd.New(emrtd.ModelExt144)
	if _, err := eng.Personalize(context.Background(), rackCard(t, chip), im); err != nil {
		t.Fatal(err)
	}
	card := rackCard(t, chip)
	bac := im.BAC()
	bac.DateOfBirth = "900301"
	rep, err := Verify(card, bac, VerifyOptions{CSCAs: eng.CSCAs, ExpectLocked: true})
	if !errors.Is(err, ErrVerification) || rep.Verified {
		t.Fatalf("wrong MRZ verified: %v", err)
	}
	card.Reset()
	other, _ := newTestPKI(t)
	rep, err = Verify(card, im.BAC(), VerifyOptions{CSCAs: other.CSCAs, ExpectLocked: true, MaxResponseData: 2048, ExtendedLength: true})
	if err == nil || rep.Verified || rep.FailedChecks()[0].Name != "Document Signer trusted" {
		t.Fatalf("other CSCA: %v %v", err, rep.FailedChecks())
	}
	card.Reset()
	rep, err = Verify(card, im.BAC(), VerifyOptions{CSCAs: eng.CSCAs, ExpectLocked: true, MaxResponseData: 2048, ExtendedLength: true})
	if err != nil || !rep.Verified {
		t.Fatalf("right MRZ and CSCA, read without the image: %v", err)
	}
}

func TestCancelledBeforeWritingLeavesTheCardBlank(t *testing.T) {
	im, eng := prepared(t, "le-dinh-duc.json", 1024)
	chip := emrtd.New(emrtd.ModelShort80)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := eng.Personalize(ctx, rackCard(t, chip), im)
	f := failure(t, err)
	if !f.Refused() || f.Card != CardBlank || chip.Written() {
		t.Fatalf("failure %+v, written %v", f, chip.Written())
	}
}
