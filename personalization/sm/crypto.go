// Package sm is the station's side of Basic Access Control and secure
// messaging (ICAO Doc 9303 Part 11 §4.3, §9.7, §9.8): BAC key derivation
// from the MRZ, mutual authentication, the key derivation function for 3DES
// and AES, and the wrapping and unwrapping of APDUs with either cipher suite
// — 3DES with the ISO/IEC 9797-1 retail MAC and an 8-byte send sequence
// counter (BAC), AES-CBC with AES-CMAC and a 16-byte counter (PACE, Chip
// Authentication). A Channel is a secure messaging session as a
// pcsc.Transport: plain APDUs in, plain responses out.
//
// It is written independently of the virtual chip's implementation (package
// pcsc/vcard/emrtd); both are pinned by ICAO's worked example.
package sm

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
)

// KDF derives a 16-byte two-key 3DES key from a key seed (ICAO 9303-11
// §9.7.1): the first 16 bytes of SHA-1(seed ‖ counter), DES parity adjusted.
// counter 1 gives the encryption key, 2 the MAC key.
func KDF(seed []byte, counter uint32) []byte {
	h := sha1.New()
	h.Write(seed)
	var c [4]byte
	binary.BigEndian.PutUint32(c[:], counter)
	h.Write(c[:])
	k := h.Sum(nil)[:16]
	adjustParity(k)
	return k
}

// adjustParity sets each byte's least significant bit so that the byte has
// odd parity (FIPS 46-3 §3: DES key bytes carry odd parity).
func adjustParity(k []byte) {
	for i, b := range k {
		ones := 0
		for j := 1; j < 8; j++ {
			if b&(1<<j) != 0 {
				ones++
			}
		}
		if ones%2 == 0 {
			k[i] = b | 1
		} else {
			k[i] = b &^ 1
		}
	}
}

// KeySeed is the BAC key seed: the first 16 bytes of SHA-1 of the
// MRZ_information (ICAO 9303-11 §9.7.1.1, Appendix D.2).
func KeySeed(mrzInformation string) []byte {
	h := sha1.Sum([]byte(mrzInformation))
	return h[:16]
}

// Pad applies ISO/IEC 9797-1 padding method 2: 0x80 then zeros up to a
// multiple of 8 bytes.
func Pad(b []byte) []byte { return PadBlock(b, 8) }

// PadBlock applies ISO/IEC 9797-1 padding method 2 up to a multiple of n
// bytes: the cipher's block, 8 for 3DES, 16 for AES (SCP03 uses it too).
func PadBlock(b []byte, n int) []byte {
	l := len(b) + 1
	l += (n - l%n) % n
	out := make([]byte, l)
	copy(out, b)
	out[len(b)] = 0x80
	return out
}

// ErrPadding is returned when ISO/IEC 9797-1 method 2 padding is malformed.
var ErrPadding = errors.New("sm: malformed padding")

// Unpad removes ISO/IEC 9797-1 padding method 2 of an 8-byte block.
func Unpad(b []byte) ([]byte, error) { return UnpadBlock(b, 8) }

// UnpadBlock removes ISO/IEC 9797-1 padding method 2 of an n-byte block:
// the padding is 80 then at most n-1 zeros.
func UnpadBlock(b []byte, n int) ([]byte, error) {
	for i := len(b) - 1; i >= 0 && i >= len(b)-n; i-- {
		switch b[i] {
		case 0x00:
			continue
		case 0x80:
			return b[:i], nil
		}
		break
	}
	return nil, ErrPadding
}

// tdes returns the two-key 3DES cipher K1 K2 K1.
func tdes(k []byte) (cipher.Block, error) {
	if len(k) != 16 {
		return nil, fmt.Errorf("sm: 3DES key of %d bytes, 16 expected", len(k))
	}
	key := make([]byte, 24)
	copy(key, k)
	copy(key[16:], k[:8])
	return des.NewTripleDESCipher(key)
}

var zeroIV = make([]byte, 8)

// Encrypt3DES encrypts whole blocks with 3DES-CBC and a zero IV (ICAO
// 9303-11 §9.8.6.1).
func Encrypt3DES(k, data []byte) ([]byte, error) {
	if len(data)%8 != 0 {
		return nil, fmt.Errorf("sm: %d bytes are not whole blocks", len(data))
	}
	c, err := tdes(k)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(data))
	cipher.NewCBCEncrypter(c, zeroIV).CryptBlocks(out, data)
	return out, nil
}

// Decrypt3DES decrypts whole blocks with 3DES-CBC and a zero IV.
func Decrypt3DES(k, data []byte) ([]byte, error) {
	if len(data)%8 != 0 || len(data) == 0 {
		return nil, fmt.Errorf("sm: %d bytes are not whole blocks", len(data))
	}
	c, err := tdes(k)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(c, zeroIV).CryptBlocks(out, data)
	return out, nil
}

// RetailMAC computes the ISO/IEC 9797-1 MAC algorithm 3 with DES and
// padding method 2 (ICAO 9303-11 §9.8.6.2): DES-CBC with K1 over the
// padded message, then the last block decrypted with K2 and encrypted with K1.
// The message must not be padded by the caller.
func RetailMAC(k, msg []byte) ([]byte, error) {
	if len(k) != 16 {
		return nil, fmt.Errorf("sm: MAC key of %d bytes, 16 expected", len(k))
	}
	k1, err := des.NewCipher(k[:8])
	if err != nil {
		return nil, err
	}
	k2, err := des.NewCipher(k[8:16])
	if err != nil {
		return nil, err
	}
	padded := Pad(msg)
	h := make([]byte, 8)
	for i := 0; i < len(padded); i += 8 {
		for j := 0; j < 8; j++ {
			h[j] ^= padded[i+j]
		}
		k1.Encrypt(h, h)
	}
	k2.Decrypt(h, h)
	k1.Encrypt(h, h)
	return h, nil
}
