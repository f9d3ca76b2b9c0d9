package emrtd

import (
	"bytes"
	"crypto/rand"
	"testing"
)

// TestActiveAuthenticationSignatureVerifies checks AA on each model and key
// size, in plain before lock and under secure messaging after lock: the
// signature recovers to 6A ‖ M1 ‖ SHA-1(M1 ‖ challenge) ‖ BC under the
// public key.
func TestActiveAuthenticationSignatureVerifies(t *testing.T) {
	for _, tc := range []struct {
		name     string
		model    Model
		bits     int
		extended bool // protected APDUs in extended form
	}{
		{"ext144 1024-bit, short SM", ModelExt144, 1024, false},
		{"ext144 2048-bit, extended SM", ModelExt144, 2048, true},
		{"short80 1024-bit, short SM", ModelShort80, 1024, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := testKey(t, tc.bits)
			img := testImage(key)
			c := New(tc.model)
			r := personalize(t, c, img, 255, false)

			challenge := []byte{1, 2, 3, 4, 5, 6, 7, 8}
			sig := r.expect("plain INTERNAL AUTHENTICATE before lock", buildAPDU(0, 0x88, 0, 0, challenge, 256, false), swOK)
			if err := verifyAA(&key.PublicKey, challenge, sig); err != nil {
				t.Fatalf("plain AA before lock: %v", err)
			}

			r.expect("LOCK", lockAPDU(), swOK)
			c.Reset()
			r.selectApplet()
			r.mustBAC(img.mrz)
			r.extended = tc.extended
			rand.Read(challenge)
			sig = r.smExpect("protected INTERNAL AUTHENTICATE", 0x88, 0, 0, challenge, 256, swOK)
			if err := verifyAA(&key.PublicKey, challenge, sig); err != nil {
				t.Fatalf("AA under SM: %v", err)
			}
			sig2 := r.smExpect("protected INTERNAL AUTHENTICATE again", 0x88, 0, 0, challenge, 256, swOK)
			if bytes.Equal(sig, sig2) {
				t.Error("two signatures of the same challenge are equal: M1 is not random")
			}
			if err := verifyAA(&key.PublicKey, challenge, sig2); err != nil {
				t.Fatalf("second AA under SM: %v", err)
			}
			other := append([]byte(nil), challenge...)
			other[0] ^= 1
			if verifyAA(&key.PublicKey, other, sig) == nil {
				t.Error("the signature verifies for another challenge")
			}
		})
	}
}

// TestAA2048NeedsExtendedLengthUnderSM: a 2048-bit signature (256 bytes)
// protected does not fit a short response.
func TestAA2048NeedsExtendedLengthUnderSM(t *testing.T) {
	key := testKey(t, 2048)
	img := testImage(key)
	c := New(ModelExt144)
	r := personalize(t, c, img, 255, true)
	r.selectApplet()
	r.mustBAC(img.mrz)
	r.smExpect("short protected INTERNAL AUTHENTICATE", 0x88, 0, 0, make([]byte, 8), 256, swWrongLength)
	r.extended = true
	r.smExpect("extended protected INTERNAL AUTHENTICATE", 0x88, 0, 0, make([]byte, 8), 256, swOK)
	r.smExpect("INTERNAL AUTHENTICATE with Le 128", 0x88, 0, 0, make([]byte, 8), 128, swWrongLength)
}

// TestAAKeySizesFollowTheModel: ext144 takes a 2048-bit key by extended PUT
// DATA; short80 refuses the extended APDU (6700) and a chained 2048-bit
// modulus (6A80).
func TestAAKeySizesFollowTheModel(t *testing.T) {
	key := testKey(t, 2048)
	mod := aaKeyData(0x60, key.N.Bytes())
	t.Run("ext144 takes 2048 bits by extended APDU", func(t *testing.T) {
		r := newReader(t, New(ModelExt144))
		r.selectApplet()
		r.expect("PUT DATA modulus", buildAPDU(0, 0xDA, 0x00, 0x60, mod, 0, true), swOK)
	})
	t.Run("short80 refuses the extended APDU", func(t *testing.T) {
		r := newReader(t, New(ModelShort80))
		r.selectApplet()
		r.expect("PUT DATA modulus", buildAPDU(0, 0xDA, 0x00, 0x60, mod, 0, true), swWrongLength)
	})
	t.Run("short80 refuses a chained 2048-bit modulus", func(t *testing.T) {
		r := newReader(t, New(ModelShort80))
		r.selectApplet()
		r.expect("chain 1", buildAPDU(0x10, 0xDA, 0x00, 0x60, mod[:200], 0, false), swOK)
		r.expect("chain end", buildAPDU(0x00, 0xDA, 0x00, 0x60, mod[200:], 0, false), swWrongData)
	})
	t.Run("ext144 takes a chained 2048-bit key", func(t *testing.T) {
		c := New(ModelExt144)
		r := newReader(t, c)
		r.selectApplet()
		r.expect("chain 1", buildAPDU(0x10, 0xDA, 0x00, 0x60, mod[:200], 0, false), swOK)
		r.expect("chain end", buildAPDU(0x00, 0xDA, 0x00, 0x60, mod[200:], 0, false), swOK)
		exp := aaKeyData(0x61, key.D.Bytes())
		r.expect("chain 1", buildAPDU(0x10, 0xDA, 0x00, 0x61, exp[:255], 0, false), swOK)
		r.expect("chain end", buildAPDU(0x00, 0xDA, 0x00, 0x61, exp[255:], 0, false), swOK)
		challenge := []byte("12345678")
		sig := r.expect("AA", buildAPDU(0, 0x88, 0, 0, challenge, 256, false), swOK)
		if err := verifyAA(&key.PublicKey, challenge, sig); err != nil {
			t.Fatal(err)
		}
	})
}

func TestInternalAuthenticateChecksItsParameters(t *testing.T) {
	key := testKey(t, 1024)
	r := personalize(t, New(ModelShort80), testImage(key), 255, false)
	for _, tc := range []struct {
		name string
		apdu []byte
		sw   uint16
	}{
		{"challenge of 7 bytes", buildAPDU(0, 0x88, 0, 0, make([]byte, 7), 256, false), swWrongLength},
		{"challenge of 9 bytes", buildAPDU(0, 0x88, 0, 0, make([]byte, 9), 256, false), swWrongLength},
		{"P1 01", buildAPDU(0, 0x88, 1, 0, make([]byte, 8), 256, false), swIncorrectP1P2},
		{"Le 10", buildAPDU(0, 0x88, 0, 0, make([]byte, 8), 0x10, false), swWrongLe(128)},
		{"Le 80 (exactly the signature)", buildAPDU(0, 0x88, 0, 0, make([]byte, 8), 0x80, false), swOK},
		{"no Le", buildAPDU(0, 0x88, 0, 0, make([]byte, 8), 0, false), swOK},
	} {
		t.Run(tc.name, func(t *testing.T) { r.expect(tc.name, tc.apdu, tc.sw) })
	}
}
