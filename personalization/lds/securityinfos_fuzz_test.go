package lds

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/cccd-station/station/internal/brainpool"
)

func fuzzKey(f *testing.F, c elliptic.Curve) *ecdsa.PublicKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	return &k.PublicKey
}

// FuzzDecodeSecurityInfos: EF.CardAccess and DG14 as a chip returns them.
// Decoding never panics, and what decodes encodes again to infos that
// decode the same count.
func FuzzDecodeSecurityInfos(f *testing.F) {
	f.Add(mustHex(f, realCardAccess))
	f.Add(mustHex(f, "31143012060A04007F0007020204020202010202010D"))
	dg14, _ := EncodeDG14(append(cccdCardAccessInfos(),
		ChipAuthenticationPublicKeyInfo{Protocol: OIDPKECDH, PublicKey: fuzzKey(f, brainpool.P256r1()), KeyID: Int(1)},
		ActiveAuthenticationInfo{Version: 1, SignatureAlgorithm: OIDECDSAPlainSHA256},
		TerminalAuthenticationInfo{Version: 2, EFCVCA: []byte{0x30, 0x04, 0x04, 0x02, 0x01, 0x1C}},
	))
	f.Add(dg14)
	f.Add(dg14[2:])
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, decode := range []func([]byte) (SecurityInfos, error){DecodeCardAccess, DecodeDG14} {
			infos, err := decode(b)
			if err != nil {
				continue
			}
			again, err := EncodeCardAccess(infos)
			if err != nil {
				t.Fatalf("decoded infos do not encode: %v", err)
			}
			back, err := DecodeCardAccess(again)
			if err != nil || len(back) != len(infos) {
				t.Fatalf("re-encoded infos: %d of %d, %v", len(back), len(infos), err)
			}
			for _, k := range infos.ChipAuthenticationPublicKeys() {
				if err := ValidatePoint(k.PublicKey.Curve, k.PublicKey.X, k.PublicKey.Y); err != nil {
					t.Fatalf("an invalid key decoded: %v", err)
				}
			}
		}
		CardAccessInDG14(b, b)
	})
}

// FuzzParseECPublicKeyTemplate: the 7F49 template of GENERATE ASYMMETRIC
// KEY PAIR. Never panics; what decodes is a valid point.
func FuzzParseECPublicKeyTemplate(f *testing.F) {
	for _, c := range []elliptic.Curve{brainpool.P256r1(), elliptic.P256()} {
		t, _ := EncodeECPublicKeyTemplate(fuzzKey(f, c))
		f.Add(t)
	}
	f.Add([]byte{0x7F, 0x49, 0x03, 0x86, 0x01, 0x04})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseECPublicKeyTemplate(b)
		if err != nil {
			return
		}
		if err := ValidatePoint(k.Curve, k.X, k.Y); err != nil {
			t.Fatalf("an invalid key decoded: %v", err)
		}
	})
}

// FuzzParseSubjectPublicKeyInfo: EC keys of DG14 and DG15, named or with
// explicit parameters. Never panics; what decodes is a valid point that
// encodes and decodes again to itself.
func FuzzParseSubjectPublicKeyInfo(f *testing.F) {
	for _, c := range []elliptic.Curve{brainpool.P256r1(), elliptic.P256()} {
		k := fuzzKey(f, c)
		spki, _ := MarshalECPublicKeyInfo(k)
		f.Add(spki)
		dg15, _ := EncodeDG15EC(k)
		f.Add(dg15)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		DecodeDG15Key(b)
		ParseSubjectPublicKeyInfo(b)
		k, err := ParseECPublicKeyInfo(b)
		if err != nil {
			return
		}
		if err := ValidatePoint(k.Curve, k.X, k.Y); err != nil {
			t.Fatalf("an invalid key decoded: %v", err)
		}
		der, err := MarshalECPublicKeyInfo(k)
		if err != nil {
			t.Fatalf("a decoded key does not encode: %v", err)
		}
		back, err := ParseECPublicKeyInfo(der)
		if err != nil || !back.Equal(k) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
