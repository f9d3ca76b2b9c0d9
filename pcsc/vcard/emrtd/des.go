package emrtd

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/sha1"
	"crypto/subtle"
)

// The chip's own 3DES secure-messaging primitives for BAC (ICAO 9303-11 §9.7,
// §9.8; ISO/IEC 9797-1). Only crypto/des and crypto/sha1 come from the
// standard library.

// Counters of the key derivation function (ICAO 9303-11 §9.7.1).
const (
	kdfEnc = 1
	kdfMac = 2
)

// deriveKey is the ICAO 9303-11 §9.7.1 key derivation for 3DES: D = K_seed ‖
// c (32-bit big-endian counter), H = SHA-1(D), K_a ‖ K_b = H[0:16], each byte
// adjusted to odd parity (DES key parity, FIPS 46-3).
func deriveKey(seed []byte, c uint32) []byte {
	d := make([]byte, 0, len(seed)+4)
	d = append(d, seed...)
	d = append(d, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
	h := sha1.Sum(d)
	k := make([]byte, 16)
	copy(k, h[:16])
	adjustParity(k)
	return k
}

// adjustParity sets the least significant bit of each byte so that the byte
// has an odd number of ones.
func adjustParity(k []byte) {
	for i, b := range k {
		b &^= 1
		ones := 0
		for v := b; v != 0; v >>= 1 {
			ones += int(v & 1)
		}
		if ones%2 == 0 {
			b |= 1
		}
		k[i] = b
	}
}

// newTDES returns two-key 3DES (K_a K_b K_a) for a 16-byte key.
func newTDES(key []byte) cipher.Block {
	k := make([]byte, 24)
	copy(k, key[:16])
	copy(k[16:], key[:8])
	b, err := des.NewTripleDESCipher(k)
	if err != nil {
		panic("emrtd: 3DES key: " + err.Error()) // cannot happen: the length is fixed
	}
	return b
}

// cbcEncrypt encrypts data (a multiple of 8 bytes) in CBC mode with a zero IV
// (ICAO 9303-11 §9.8: IV = 0 for 3DES secure messaging and BAC).
func cbcEncrypt(b cipher.Block, data []byte) []byte {
	out := make([]byte, len(data))
	cipher.NewCBCEncrypter(b, make([]byte, b.BlockSize())).CryptBlocks(out, data)
	return out
}

// cbcDecrypt is the inverse of cbcEncrypt.
func cbcDecrypt(b cipher.Block, data []byte) []byte {
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(b, make([]byte, b.BlockSize())).CryptBlocks(out, data)
	return out
}

// pad and unpad are ISO/IEC 9797-1 padding method 2 for DES's 8-byte block.
func pad(b []byte) []byte { return padBlock(b, 8) }

func unpad(b []byte) ([]byte, bool) { return unpadBlock(b, 8) }

// retailMAC is ISO/IEC 9797-1 MAC algorithm 3 with DES (the "retail MAC"):
// DES-CBC with K_a over every block, then the last block decrypted with K_b
// and encrypted with K_a again. ICAO 9303-11 §9.8 uses it with padding
// method 2 and an 8-byte MAC.
type retailMAC struct {
	ka, kb cipher.Block
}

func newRetailMAC(key []byte) retailMAC {
	ka, err := des.NewCipher(key[:8])
	if err != nil {
		panic("emrtd: DES key: " + err.Error())
	}
	kb, err := des.NewCipher(key[8:16])
	if err != nil {
		panic("emrtd: DES key: " + err.Error())
	}
	return retailMAC{ka: ka, kb: kb}
}

// sum pads msg (method 2) and returns its MAC.
func (m retailMAC) sum(msg []byte) []byte {
	p := pad(msg)
	h := make([]byte, 8)
	for i := 0; i < len(p); i += 8 {
		subtle.XORBytes(h, h, p[i:i+8])
		m.ka.Encrypt(h, h)
	}
	m.kb.Decrypt(h, h)
	m.ka.Encrypt(h, h)
	return h
}

// verify compares in constant time.
func (m retailMAC) verify(msg, mac []byte) bool {
	return len(mac) == 8 && subtle.ConstantTimeCompare(m.sum(msg), mac) == 1
}
