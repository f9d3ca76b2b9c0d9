package personalization

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
)

// ErrActiveAuthentication: the chip's signature of our challenge does not
// verify with DG15's key — a clone, or a chip that does not hold the key it
// was given.
var ErrActiveAuthentication = errors.New("active authentication failed")

// VerifyAA checks an RSA Active Authentication signature (ICAO 9303-11
// §6.1) with ISO/IEC 9796-2 digital signature scheme 1 (partial message
// recovery): the representative F = s^e mod n must be 6A ‖ M1 ‖ H ‖ trailer,
// with trailer BC (SHA-1) or an ISO/IEC 10118 hash identifier followed by CC,
// and H the hash of M1 ‖ challenge.
func VerifyAA(pub *rsa.PublicKey, challenge, sig []byte) error {
	k := (pub.N.BitLen() + 7) / 8
	if len(sig) != k {
		return fmt.Errorf("%w: signature of %d bytes for a %d-bit key", ErrActiveAuthentication, len(sig), pub.N.BitLen())
	}
	s := new(big.Int).SetBytes(sig)
	if s.Cmp(pub.N) >= 0 {
		return fmt.Errorf("%w: signature not below the modulus", ErrActiveAuthentication)
	}
	f := new(big.Int).Exp(s, big.NewInt(int64(pub.E)), pub.N).FillBytes(make([]byte, k))
	// ISO/IEC 9796-2 §B.5: when the representative does not end in the
	// trailer, n − F may (for even e; not the case here, but cheap to try).
	if f[len(f)-1] != 0xBC && f[len(f)-1] != 0xCC {
		alt := new(big.Int).Sub(pub.N, new(big.Int).SetBytes(f))
		f = alt.FillBytes(make([]byte, k))
	}
	var h crypto.Hash
	var trailer int
	switch {
	case f[len(f)-1] == 0xBC:
		h, trailer = crypto.SHA1, 1
	case f[len(f)-1] == 0xCC:
		switch f[len(f)-2] {
		case 0x33:
			h = crypto.SHA1
		case 0x34:
			h = crypto.SHA256
		case 0x35:
			h = crypto.SHA512
		case 0x36:
			h = crypto.SHA384
		case 0x38:
			h = crypto.SHA224
		default:
			return fmt.Errorf("%w: unknown hash identifier %02X in the trailer", ErrActiveAuthentication, f[len(f)-2])
		}
		trailer = 2
	default:
		return fmt.Errorf("%w: no ISO/IEC 9796-2 trailer", ErrActiveAuthentication)
	}
	// Header: the first two bits 01, the "more data" bit 1 (partial
	// recovery), padding bits 1010 → 6A.
	if f[0] != 0x6A {
		return fmt.Errorf("%w: header %02X, 6A expected (partial recovery)", ErrActiveAuthentication, f[0])
	}
	hl := h.Size()
	if len(f) < 1+hl+trailer {
		return fmt.Errorf("%w: representative too short", ErrActiveAuthentication)
	}
	m1 := f[1 : len(f)-hl-trailer]
	digest := f[len(f)-hl-trailer : len(f)-trailer]
	var sum []byte
	switch h {
	case crypto.SHA1:
		x := sha1.Sum(append(bytes.Clone(m1), challenge...))
		sum = x[:]
	case crypto.SHA224:
		x := sha256.Sum224(append(bytes.Clone(m1), challenge...))
		sum = x[:]
	case crypto.SHA256:
		x := sha256.Sum256(append(bytes.Clone(m1), challenge...))
		sum = x[:]
	case crypto.SHA384:
		x := sha512.Sum384(append(bytes.Clone(m1), challenge...))
		sum = x[:]
	case crypto.SHA512:
		x := sha512.Sum512(append(bytes.Clone(m1), challenge...))
		sum = x[:]
	}
	if subtle.ConstantTimeCompare(sum, digest) != 1 {
		return fmt.Errorf("%w: the recovered hash does not match the challenge", ErrActiveAuthentication)
	}
	return nil
}
