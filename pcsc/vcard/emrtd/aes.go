package emrtd

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/subtle"
)

// The chip's own AES primitives for the cccd model: AES-CBC with an explicit
// IV, AES-CMAC (NIST SP 800-38B), ISO/IEC 9797-1 padding method 2 on 16-byte
// blocks and the ICAO key derivation for AES-128. Only crypto/aes,
// crypto/cipher and crypto/sha1 come from the standard library; nothing here
// is shared with package personalization.

const aesBlock = 16

func newAES(key []byte) cipher.Block {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic("emrtd: AES key: " + err.Error()) // callers pass 16, 24 or 32 bytes
	}
	return b
}

// aesCBCEncrypt encrypts data (a multiple of 16 bytes) in CBC mode with iv.
func aesCBCEncrypt(b cipher.Block, iv, data []byte) []byte {
	out := make([]byte, len(data))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, data)
	return out
}

// aesCBCDecrypt is the inverse of aesCBCEncrypt.
func aesCBCDecrypt(b cipher.Block, iv, data []byte) []byte {
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(out, data)
	return out
}

// padBlock appends ISO/IEC 9797-1 padding method 2 for a block of n bytes:
// 80 then 00 up to a multiple of n (always at least one byte).
func padBlock(b []byte, n int) []byte {
	out := make([]byte, len(b), len(b)+n)
	copy(out, b)
	out = append(out, 0x80)
	for len(out)%n != 0 {
		out = append(out, 0x00)
	}
	return out
}

// unpadBlock removes ISO/IEC 9797-1 padding method 2 for a block of n bytes:
// the 80 must lie within the last block.
func unpadBlock(b []byte, n int) ([]byte, bool) {
	if len(b) == 0 || len(b)%n != 0 {
		return nil, false
	}
	for i := len(b) - 1; i >= 0 && i >= len(b)-n; i-- {
		switch b[i] {
		case 0x00:
			continue
		case 0x80:
			return b[:i], true
		default:
			return nil, false
		}
	}
	return nil, false
}

// cmac is AES-CMAC (NIST SP 800-38B; RFC 4493 for AES-128): CBC-MAC with the
// last block XORed with subkey K1 (complete block) or, after padding 80 00…,
// K2.
type cmac struct {
	b      cipher.Block
	k1, k2 [aesBlock]byte
}

func newCMAC(key []byte) *cmac {
	m := &cmac{b: newAES(key)}
	var l [aesBlock]byte
	m.b.Encrypt(l[:], l[:])
	m.k1 = cmacDouble(l)
	m.k2 = cmacDouble(m.k1)
	return m
}

// cmacDouble multiplies by x in GF(2^128) (SP 800-38B §6.1: shift left, XOR
// R_128 = 0x87 when the top bit falls out).
func cmacDouble(in [aesBlock]byte) [aesBlock]byte {
	var out [aesBlock]byte
	carry := in[0] >> 7
	for i := 0; i < aesBlock-1; i++ {
		out[i] = in[i]<<1 | in[i+1]>>7
	}
	out[aesBlock-1] = in[aesBlock-1] << 1
	out[aesBlock-1] ^= 0x87 * carry
	return out
}

// sum returns the full 16-byte CMAC of msg.
func (m *cmac) sum(msg []byte) []byte {
	n := (len(msg) + aesBlock - 1) / aesBlock
	complete := n > 0 && len(msg)%aesBlock == 0
	if n == 0 {
		n = 1
	}
	var x [aesBlock]byte
	for i := 0; i < n-1; i++ {
		subtle.XORBytes(x[:], x[:], msg[i*aesBlock:(i+1)*aesBlock])
		m.b.Encrypt(x[:], x[:])
	}
	var last [aesBlock]byte
	rest := msg[(n-1)*aesBlock:]
	if complete {
		subtle.XORBytes(last[:], rest, m.k1[:])
	} else {
		copy(last[:], rest)
		last[len(rest)] = 0x80
		subtle.XORBytes(last[:], last[:], m.k2[:])
	}
	subtle.XORBytes(x[:], x[:], last[:])
	m.b.Encrypt(x[:], x[:])
	return x[:]
}

// aesCMAC is the CMAC of msg under key.
func aesCMAC(key, msg []byte) []byte { return newCMAC(key).sum(msg) }

// icaoKDFAES128 is the key derivation function of ICAO 9303-11 §9.7.1 for
// AES-128: the 16 most significant bytes of SHA-1(K ‖ c), c a 32-bit
// big-endian counter (1: KS_enc, 2: KS_mac, 3: K_π).
func icaoKDFAES128(k []byte, c uint32) []byte {
	d := make([]byte, 0, len(k)+4)
	d = append(d, k...)
	d = append(d, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
	h := sha1.Sum(d)
	return append([]byte(nil), h[:16]...)
}

// kdfPACE is the counter for K_π (ICAO 9303-11 §9.7.1).
const kdfPACE = 3
