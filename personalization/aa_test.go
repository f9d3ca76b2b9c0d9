package personalization

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/sm"
)

// aaSignature personalizes a virtual chip and has it sign challenge under
// secure messaging, returning DG15's key and the signature.
func aaSignature(t *testing.T, challenge []byte) (*rsa.PublicKey, []byte) {
	t.Helper()
	im, eng := prepared(t, "le-dinh-duc.json", 1024)
	chip := emrtd.New(emrtd.ModelShort80)
	card := rackCard(t, chip)
	res, err := eng.Personalize(context.Background(), card, im)
	if err != nil {
		t.Fatal(err)
	}
	card.Reset()
	if _, err := pcsc.Exec(card, pcsc.Command{INS: 0xA4, P1: 4, P2: 0x0C, Data: AIDeMRTD}); err != nil {
		t.Fatal(err)
	}
	s, err := doBAC(card, im.BAC(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := pcsc.Exec(sm.NewBACChannel(card, s), pcsc.Command{INS: 0x88, Data: challenge, Ne: 128})
	if err != nil {
		t.Fatal(err)
	}
	dg15, _ := res.Image.File(lds.FIDDG15)
	pub, _ := lds.DecodeDG15(dg15)
	return pub.(*rsa.PublicKey), sig
}

func TestActiveAuthenticationRefusesWhatIsNotTheChipsAnswer(t *testing.T) {
	challenge := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	pub, sig := aaSignature(t, challenge)
	if err := VerifyAA(pub, challenge, sig); err != nil {
		t.Fatalf("the chip's own signature: %v", err)
	}
	other := bytes.Clone(challenge)
	other[7] ^= 1
	if err := VerifyAA(pub, other, sig); !errors.Is(err, ErrActiveAuthentication) {
		t.Errorf("signature of another challenge accepted: %v", err)
	}
	bad := bytes.Clone(sig)
	bad[10] ^= 1
	if err := VerifyAA(pub, challenge, bad); !errors.Is(err, ErrActiveAuthentication) {
		t.Errorf("altered signature accepted: %v", err)
	}
	k, _ := rsa.GenerateKey(rand.Reader, 1024)
	if err := VerifyAA(&k.PublicKey, challenge, sig); !errors.Is(err, ErrActiveAuthentication) {
		t.Errorf("another key accepted: %v", err)
	}
	if err := VerifyAA(pub, challenge, sig[1:]); !errors.Is(err, ErrActiveAuthentication) {
		t.Errorf("short signature accepted: %v", err)
	}
}
