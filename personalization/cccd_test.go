package personalization

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/cccd-station/station/internal/brainpool"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/personalization/ecka"
	"github.com/cccd-station/station/personalization/gp"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/pace"
	"github.com/cccd-station/station/personalization/signer"
)

// scp03Pair is a set of TEST SCP03 master keys: the station's (as the
// signer package opens them) and the same keys given to virtual chips, which
// diversify their own keys with their own code.
func scp03Pair(t testing.TB) (*signer.SCP03Masters, emrtd.SCP03Master) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scp03-master.json")
	if err := signer.WriteSCP03File(path, 0x30, 16); err != nil {
		t.Fatal(err)
	}
	m, err := signer.OpenSCP03(signer.SCP03Config{Backend: "file", File: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	kvn, enc, mac, dek, err := signer.SCP03FileKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := emrtd.NewSCP03Master(kvn, enc, mac, dek)
	if err != nil {
		t.Fatal(err)
	}
	return m, cm
}

// preparedCCCD is a sample's content and an engine for every virtual
// product, both profiles, with TEST SCP03 keys the returned chip master
// matches.
func preparedCCCD(t testing.TB, sample string) (*lds.Content, *Engine, emrtd.SCP03Master) {
	t.Helper()
	c, eng := prepared(t, sample, 1024)
	m, cm := scp03Pair(t)
	eng.Stock = testStock(t, 1024, JMRTD{}, CCCD{Masters: m})
	return c, eng, cm
}

func TestPersonalizeACCCDChipAndReadItAsAReader(t *testing.T) {
	c, eng, cm := preparedCCCD(t, "nguyen-van-an.json")
	chip := emrtd.New(emrtd.ModelCCCD, emrtd.WithSCP03Master(cm))
	card := rackCard(t, chip)
	res, err := eng.Personalize(context.Background(), card, c)
	if err != nil {
		var f *Failure
		if errors.As(err, &f) && f.Report != nil {
			for _, ch := range f.Report.Checks {
				t.Logf("%v %s: %s", ch.OK, ch.Name, ch.Detail)
			}
		}
		t.Fatal(err)
	}
	if res.Report.Access != "PACE-CAN" || !res.Report.ChipAuthenticated || !res.Report.Verified {
		t.Errorf("access %s, chip authenticated %v, verified %v", res.Report.Access, res.Report.ChipAuthenticated, res.Report.Verified)
	}
	t.Logf("%d APDUs %v", res.APDUs, res.Steps)
}

// cccdProfile is the engine's cccd profile (its SCP03 master keys).
func (e *Engine) cccdProfile(t testing.TB) Profile {
	p, ok := e.Stock.Profile("cccd")
	if !ok {
		t.Fatal("no cccd profile in the stock")
	}
	return p
}

// Every failure of the cccd profile's new steps is a typed *Failure naming
// the step, and says whether the card was spoiled.
func TestCCCDFailuresNameTheirStep(t *testing.T) {
	t.Run("SCP03 authentication refused", func(t *testing.T) {
		c, eng, _ := preparedCCCD(t, "nguyen-van-an.json")
		_, other := scp03Pair(t) // the chip holds keys of other masters
		chip := emrtd.New(emrtd.ModelCCCD, emrtd.WithSCP03Master(other))
		_, err := eng.Personalize(context.Background(), rackCard(t, chip), c)
		f := failure(t, err)
		if f.Step != StepOpen || !f.Refused() || f.Card != CardBlank || !errors.Is(err, gp.ErrAuth) || chip.Written() {
			t.Fatalf("failure %+v (written %v)", f, chip.Written())
		}
	})
	t.Run("key generation failed", func(t *testing.T) {
		c, eng, cm := preparedCCCD(t, "nguyen-van-an.json")
		chip := &refusingINS{Chip: emrtd.New(emrtd.ModelCCCD, emrtd.WithSCP03Master(cm)), ins: 0x47, sw: 0x6F00}
		_, err := eng.Personalize(context.Background(), rackCard(t, chip), c)
		f := failure(t, err)
		if f.Step != StepKeys || !f.Spoiled() || !errors.Is(err, ErrKeyGeneration) {
			t.Fatalf("failure %+v", f)
		}
	})
	for _, profile := range []string{"cccd", "jmrtd"} {
		t.Run("signer absent mid-card, "+profile, func(t *testing.T) {
			c, eng, cm := preparedCCCD(t, "nguyen-van-an.json")
			eng.Signer = pulledSigner{eng.Signer}
			chip := emrtd.New(emrtd.ModelCCCD, emrtd.WithSCP03Master(cm))
			if profile == "jmrtd" {
				chip = emrtd.New(emrtd.ModelShort80)
			}
			_, err := eng.Personalize(context.Background(), rackCard(t, chip), c)
			f := failure(t, err)
			// The JMRTD key is the station's: everything is signed before
			// the card is touched, and the card stays blank. The cccd chip
			// makes its keys first: the card is spoiled.
			if f.Step != StepSign || !errors.Is(err, ErrSign) || !errors.Is(err, signer.ErrTokenAbsent) || f.Spoiled() != (profile == "cccd") {
				t.Fatalf("failure %+v", f)
			}
			if profile == "jmrtd" && chip.Written() {
				t.Error("a JMRTD card was written although the signer was out")
			}
		})
	}
}

// The chip returned a key that is not on the curve asked for, or not a key.
func TestGenerateKeysRefusesAMalformedKey(t *testing.T) {
	product := VirtualProductsOf("cccd")[0]
	for name, resp := range map[string][]byte{
		"off the curve": append(lds.TLV(0x7F49, lds.TLV(0x06, []byte{0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07}),
			lds.TLV(0x86, append([]byte{0x04}, make([]byte, 64)...))), 0x90, 0x00),
		"not a template": {0x01, 0x02, 0x90, 0x00},
	} {
		_, err := CCCD{}.GenerateKeys(scripted{resp}, product)
		if !errors.Is(err, ErrMalformedKey) {
			t.Errorf("%s: %v, want ErrMalformedKey", name, err)
		}
	}
}

// A wrong CAN is a PACE refusal the report names; a DG14 naming another
// key than the chip holds fails Chip Authentication.
func TestVerifierNamesPACERefusedAndCAMismatch(t *testing.T) {
	c, eng, cm := preparedCCCD(t, "tran-thi-ngoc-anh.json")
	chip := emrtd.New(emrtd.ModelCCCD, emrtd.WithSCP03Master(cm))
	card := rackCard(t, chip)
	if _, err := eng.Personalize(context.Background(), card, c); err != nil {
		t.Fatal(err)
	}
	v := VerifierFor(VirtualProductsOf("cccd")[0])
	v.CSCAs, v.ExpectLocked = eng.CSCAs, true

	card.Reset()
	rep, err := v.Verify(card, AccessKeys{CAN: "000000"})
	if !errors.Is(err, pace.ErrRefused) || rep.FailedChecks()[0].Name != "PACE-CAN" {
		t.Errorf("wrong CAN: %v, failed %v", err, rep.FailedChecks())
	}

	// PACE with the MRZ, then Chip Authentication against another key.
	card.Reset()
	s, err := v.Open(card, AccessKeys{BAC: c.BAC()})
	if err != nil || s.Report().Access != "PACE-MRZ" {
		t.Fatalf("PACE with the MRZ: %v (%s)", err, s.Report().Access)
	}
	if err := s.ReadLDS(); err != nil {
		t.Fatal(err)
	}
	_, other, _ := ecka.GenerateKey(brainpool.P256r1(), rand.Reader)
	dg14, err := lds.EncodeDG14(lds.SecurityInfos{
		lds.ChipAuthenticationInfo{Protocol: lds.OIDCAECDHAES128, Version: 1},
		lds.ChipAuthenticationPublicKeyInfo{Protocol: lds.OIDPKECDH, PublicKey: other},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.dgs[14] = dg14
	if err := s.ChipAuth(); err == nil || s.Report().ChipAuthenticated {
		t.Fatalf("Chip Authentication with another key passed")
	}
	if fc := s.Report().FailedChecks(); fc[len(fc)-1].Name != "Chip Authentication" {
		t.Errorf("failed checks %v", fc)
	}
}

// refusingINS answers one instruction with a status word, whatever it was
// wrapped in (an error status word carries no R-MAC in SCP03).
type refusingINS struct {
	*emrtd.Chip
	ins byte
	sw  uint16
}

func (r *refusingINS) Process(cmd []byte) ([]byte, error) {
	if len(cmd) >= 4 && cmd[1] == r.ins {
		return []byte{byte(r.sw >> 8), byte(r.sw)}, nil
	}
	return r.Chip.Process(cmd)
}

// pulledSigner is a Document Signer whose token was pulled out.
type pulledSigner struct{ crypto.Signer }

func (pulledSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, fmt.Errorf("signer: pkcs11 sign: %w", signer.ErrTokenAbsent)
}

// scripted answers every command with one response.
type scripted struct{ resp []byte }

func (s scripted) Transmit([]byte) ([]byte, error) { return append([]byte(nil), s.resp...), nil }
