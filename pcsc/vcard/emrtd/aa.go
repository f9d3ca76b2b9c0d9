package emrtd

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// aaKey is the Active Authentication private key as the JMRTD applet holds
// it: modulus and private exponent only (no CRT parameters, no public
// exponent). Secret: never logged.
type aaKey struct {
	modulus  []byte // big-endian, no leading zero
	exponent []byte // big-endian, no leading zero
}

func (k aaKey) complete() bool { return len(k.modulus) > 0 && len(k.exponent) > 0 }

// bits is the modulus length in bits.
func (k aaKey) bits() int { return new(big.Int).SetBytes(k.modulus).BitLen() }

// Sizes of ISO/IEC 9796-2 digital signature scheme 1 with SHA-1.
const (
	aaHeaderLen  = 1  // 6A: '01' start, '1' partial recovery, '0', then padding nibble A
	aaHashLen    = 20 // SHA-1
	aaTrailerLen = 1  // BC: one-byte trailer, hash function implied (SHA-1)
	aaChallenge  = 8  // M2: the inspection system's challenge (ICAO 9303-11 §6.1)
)

// sign answers an Active Authentication challenge (ICAO 9303-11 §6.1) with an
// ISO/IEC 9796-2 digital signature scheme 1 signature with partial message
// recovery:
//
//	F = 6A ‖ M1 ‖ SHA-1(M1 ‖ M2) ‖ BC,  signature = F^d mod n
//
// M1 is k − 22 bytes (k = the modulus length in bytes: 106 at 1024 bits, 234
// at 2048) of the chip's own randomness read from rnd, M2 the challenge. A
// verifier recovers F with the public key, takes M1 from it, and checks the
// hash of M1 ‖ challenge. (The JMRTD applet fills M1 with zeros — its random
// generation is commented out; this chip draws it at random, so a verifier
// that assumes zeros fails here.)
func (k aaKey) sign(challenge []byte, rnd io.Reader) ([]byte, error) {
	if len(challenge) != aaChallenge {
		return nil, errors.New("challenge must be 8 bytes")
	}
	n := new(big.Int).SetBytes(k.modulus)
	size := len(k.modulus)
	m1Len := size - aaHeaderLen - aaHashLen - aaTrailerLen
	if m1Len < 1 || n.BitLen() != 8*size {
		return nil, errors.New("unsupported AA modulus size")
	}
	f := make([]byte, size)
	f[0] = 0x6A
	m1 := f[aaHeaderLen : aaHeaderLen+m1Len]
	if _, err := io.ReadFull(rnd, m1); err != nil {
		return nil, fmt.Errorf("drawing M1: %w", err)
	}
	h := sha1.New()
	h.Write(m1)
	h.Write(challenge)
	copy(f[aaHeaderLen+m1Len:], h.Sum(nil))
	f[size-1] = 0xBC
	s := new(big.Int).Exp(new(big.Int).SetBytes(f), new(big.Int).SetBytes(k.exponent), n)
	return s.FillBytes(make([]byte, size)), nil
}
