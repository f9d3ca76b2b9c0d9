package sm

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"github.com/cccd-station/station/personalization/cmac"
)

// Key derivation counters of ICAO 9303-11 §9.7.1.
const (
	CounterEnc      uint32 = 1 // KS_enc, K_enc
	CounterMAC      uint32 = 2 // KS_mac, K_mac
	CounterPassword uint32 = 3 // K_π (PACE)
)

// KDFAES derives an AES key of keyLen bytes (16, 24 or 32) from a shared
// secret (ICAO 9303-11 §9.7.1): SHA-1(K ‖ c) truncated to 16 bytes for
// AES-128, SHA-256(K ‖ c) truncated to 24 or 32 bytes for AES-192/256, with c
// the 32-bit big-endian counter. The secret is used as given: for ECDH it is
// the x-coordinate with its leading zeros (§9.6, FE2OS).
func KDFAES(secret []byte, counter uint32, keyLen int) ([]byte, error) {
	var c [4]byte
	binary.BigEndian.PutUint32(c[:], counter)
	switch keyLen {
	case 16:
		h := sha1.New()
		h.Write(secret)
		h.Write(c[:])
		return h.Sum(nil)[:16], nil
	case 24, 32:
		h := sha256.New()
		h.Write(secret)
		h.Write(c[:])
		return h.Sum(nil)[:keyLen], nil
	}
	return nil, fmt.Errorf("sm: AES key of %d bytes, 16, 24 or 32 expected", keyLen)
}

// suite is the cryptography of one secure messaging cipher suite (ICAO
// 9303-11 §9.8.6 3DES, §9.8.7 AES): how data objects are encrypted and
// MACed under a send sequence counter.
type suite interface {
	// name is "3DES" or "AES", for messages.
	name() string
	// blockSize is the padding block: 8 for 3DES, 16 for AES.
	blockSize() int
	// sscLen is the length of the send sequence counter.
	sscLen() int
	// encrypt encrypts padded data (whole blocks) at counter ssc.
	encrypt(ssc, padded []byte) ([]byte, error)
	// decrypt decrypts whole blocks at counter ssc.
	decrypt(ssc, ct []byte) ([]byte, error)
	// mac is the 8-byte MAC over SSC ‖ msg, msg not yet padded.
	mac(ssc, msg []byte) ([]byte, error)
}

// tdesSuite: 3DES-CBC with a zero IV and the ISO/IEC 9797-1 retail MAC, an
// 8-byte SSC (ICAO 9303-11 §9.8.6.1, §9.8.6.2; BAC).
type tdesSuite struct{ encKey, macKey []byte }

func (tdesSuite) name() string   { return "3DES" }
func (tdesSuite) blockSize() int { return 8 }
func (tdesSuite) sscLen() int    { return 8 }

func (s tdesSuite) encrypt(_, padded []byte) ([]byte, error) { return Encrypt3DES(s.encKey, padded) }
func (s tdesSuite) decrypt(_, ct []byte) ([]byte, error)     { return Decrypt3DES(s.encKey, ct) }
func (s tdesSuite) mac(ssc, msg []byte) ([]byte, error) {
	return RetailMAC(s.macKey, append(append(make([]byte, 0, len(ssc)+len(msg)), ssc...), msg...))
}

// aesSuite: AES-CBC with IV = E(KS_enc, SSC) and AES-CMAC truncated to 8
// bytes over the padded input, a 16-byte SSC (ICAO 9303-11 §9.8.7; PACE and
// Chip Authentication with AES).
type aesSuite struct{ encBlock, macBlock cipher.Block }

func newAESSuite(ksEnc, ksMac []byte) (aesSuite, error) {
	e, err := aes.NewCipher(ksEnc)
	if err != nil {
		return aesSuite{}, fmt.Errorf("sm: KS_enc: %w", err)
	}
	m, err := aes.NewCipher(ksMac)
	if err != nil {
		return aesSuite{}, fmt.Errorf("sm: KS_mac: %w", err)
	}
	return aesSuite{encBlock: e, macBlock: m}, nil
}

func (aesSuite) name() string   { return "AES" }
func (aesSuite) blockSize() int { return aes.BlockSize }
func (aesSuite) sscLen() int    { return aes.BlockSize }

// iv is E(KS_enc, SSC) (ICAO 9303-11 §9.8.7.1).
func (s aesSuite) iv(ssc []byte) []byte {
	iv := make([]byte, aes.BlockSize)
	s.encBlock.Encrypt(iv, ssc)
	return iv
}

func (s aesSuite) encrypt(ssc, padded []byte) ([]byte, error) {
	if len(padded)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("sm: %d bytes are not whole AES blocks", len(padded))
	}
	out := make([]byte, len(padded))
	cipher.NewCBCEncrypter(s.encBlock, s.iv(ssc)).CryptBlocks(out, padded)
	return out, nil
}

func (s aesSuite) decrypt(ssc, ct []byte) ([]byte, error) {
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("sm: %d bytes are not whole AES blocks", len(ct))
	}
	out := make([]byte, len(ct))
	cipher.NewCBCDecrypter(s.encBlock, s.iv(ssc)).CryptBlocks(out, ct)
	return out, nil
}

// mac: the input SSC ‖ msg padded to the AES block (ISO/IEC 9797-1 method
// 2), then AES-CMAC, of which the first 8 bytes are the MAC (ICAO 9303-11
// §9.8.7.2; NIST SP 800-38B).
func (s aesSuite) mac(ssc, msg []byte) ([]byte, error) {
	in := append(append(make([]byte, 0, len(ssc)+len(msg)+aes.BlockSize), ssc...), msg...)
	return cmac.Sum(s.macBlock, PadBlock(in, aes.BlockSize))[:8], nil
}

// macEqual compares MACs in constant time.
func macEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
