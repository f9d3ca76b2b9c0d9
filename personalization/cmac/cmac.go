// Package cmac is the station's CMAC (NIST SP 800-38B; RFC 4493 for AES-128),
// the MAC of ICAO 9303-11 AES secure messaging and PACE tokens (§9.8.6.2,
// §4.4.3.4) and the PRF of GlobalPlatform SCP03 (GP Card Specification 2.3
// Amendment D §4.1.5, §6.2).
//
// It takes the block cipher as a cipher.Block, so that a key held in an HSM
// (crypto11's secret keys are cipher.Blocks) can MAC without leaving it.
// It is written independently of the virtual chips' code (pcsc/vcard).
package cmac

import (
	"crypto/cipher"
	"crypto/subtle"
	"fmt"
)

// rb is the constant R_128 of NIST SP 800-38B §5.3: the low byte of the
// polynomial x^128 + x^7 + x^2 + x + 1. Only 128-bit block ciphers (AES) are
// used by the protocols here.
const rb = 0x87

// double is the doubling in GF(2^b) of NIST SP 800-38B §6.1 steps 2–3: a
// left shift by one bit, and R_b added when the bit shifted out was set.
func double(dst, src []byte) {
	carry := src[0] >> 7
	for i := 0; i < len(src)-1; i++ {
		dst[i] = src[i]<<1 | src[i+1]>>7
	}
	dst[len(src)-1] = src[len(src)-1] << 1
	// constant time: mask is 0xFF when carry is 1.
	dst[len(src)-1] ^= rb & -carry
}

// Sum returns the full CMAC of msg under b (NIST SP 800-38B §6.2): 16 bytes.
// b must be a 128-bit block cipher (AES). Callers truncate it where their protocol says so.
func Sum(b cipher.Block, msg []byte) []byte {
	n := b.BlockSize()
	if n != 16 {
		panic(fmt.Sprintf("cmac: block size %d, 16 expected", n)) // a programming error
	}
	// Subkeys K1, K2 (§6.1).
	l := make([]byte, n)
	b.Encrypt(l, l)
	k1 := make([]byte, n)
	double(k1, l)
	k2 := make([]byte, n)
	double(k2, k1)

	// §6.2 steps 2–4: the last block is XORed with K1 when complete,
	// otherwise padded (10*) and XORed with K2.
	blocks := (len(msg) + n - 1) / n
	if blocks == 0 {
		blocks = 1
	}
	last := make([]byte, n)
	tail := msg[(blocks-1)*n:]
	if len(tail) == n {
		subtle.XORBytes(last, tail, k1)
	} else {
		copy(last, tail)
		last[len(tail)] = 0x80
		subtle.XORBytes(last, last, k2)
	}
	// §6.2 steps 5–6: CBC-MAC with a zero IV.
	c := make([]byte, n)
	for i := 0; i < blocks-1; i++ {
		subtle.XORBytes(c, c, msg[i*n:(i+1)*n])
		b.Encrypt(c, c)
	}
	subtle.XORBytes(c, c, last)
	b.Encrypt(c, c)
	return c
}

// Equal compares two MACs in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
