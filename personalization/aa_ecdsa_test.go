package personalization

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"github.com/cccd-station/station/internal/brainpool"
)

func plainSignature(t *testing.T, k *ecdsa.PrivateKey, msg []byte) []byte {
	t.Helper()
	h := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	n := (k.Curve.Params().N.BitLen() + 7) / 8
	return append(r.FillBytes(make([]byte, n)), s.FillBytes(make([]byte, n))...)
}

// crypto/ecdsa of this Go version signs and verifies on brainpoolP256r1 (an
// elliptic.Curve that is not one of NIST's) through its generic path, and
// VerifyECDSAPlain takes its plain signatures.
func TestVerifyECDSAPlainOnBrainpoolAndP256(t *testing.T) {
	for _, c := range []elliptic.Curve{brainpool.P256r1(), elliptic.P256()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatalf("%s: %v", c.Params().Name, err)
		}
		challenge := []byte{1, 2, 3, 4, 5, 6, 7, 8}
		sig := plainSignature(t, k, challenge)
		if len(sig) != 64 {
			t.Fatalf("%s: signature of %d bytes", c.Params().Name, len(sig))
		}
		if err := VerifyECDSAPlain(&k.PublicKey, challenge, sig); err != nil {
			t.Errorf("%s: %v", c.Params().Name, err)
		}
		for i := range []int{0, 1} {
			bad := append([]byte{}, sig...)
			bad[i*32+5] ^= 1
			if err := VerifyECDSAPlain(&k.PublicKey, challenge, bad); !errors.Is(err, ErrActiveAuthentication) {
				t.Errorf("%s: a changed %c verified: %v", c.Params().Name, "rs"[i], err)
			}
		}
		if err := VerifyECDSAPlain(&k.PublicKey, []byte{1, 2, 3, 4, 5, 6, 7, 9}, sig); !errors.Is(err, ErrActiveAuthentication) {
			t.Errorf("%s: another challenge verified: %v", c.Params().Name, err)
		}
		if err := VerifyECDSAPlain(&k.PublicKey, challenge, sig[:63]); !errors.Is(err, ErrActiveAuthentication) {
			t.Errorf("%s: a 63-byte signature: %v", c.Params().Name, err)
		}
		zero := make([]byte, 64)
		if err := VerifyECDSAPlain(&k.PublicKey, challenge, zero); !errors.Is(err, ErrActiveAuthentication) {
			t.Errorf("%s: r = s = 0 verified: %v", c.Params().Name, err)
		}
	}
}

// RFC 6979 §A.2.5: ECDSA P-256 with SHA-256 over "sample", the
// deterministic signature r ‖ s.
func TestVerifyECDSAPlainRFC6979P256(t *testing.T) {
	x, _ := hex.DecodeString("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6")
	y, _ := hex.DecodeString("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299")
	sig, _ := hex.DecodeString("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716" +
		"F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8")
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	if err := VerifyECDSAPlain(pub, []byte("sample"), sig); err != nil {
		t.Error(err)
	}
}

func TestECDSAPlainHashNamesTheDigest(t *testing.T) {
	h, err := ECDSAPlainHash(asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 3})
	if err != nil || h != crypto.SHA256 {
		t.Errorf("ecdsa-plain-SHA256: %v %v", h, err)
	}
	if _, err := ECDSAPlainHash(asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}); !errors.Is(err, ErrActiveAuthentication) {
		t.Errorf("ecdsa-with-SHA256 (X9.62, not plain): %v", err)
	}
}
