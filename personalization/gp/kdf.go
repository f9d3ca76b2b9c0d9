package gp

import (
	"crypto/cipher"
	"fmt"

	"github.com/cccd-station/station/personalization/cmac"
)

// Derivation constants (GP Card Specification 2.3 Amendment D §4.1.5, Table
// 4-1), and the key diversification constant of the cccd profile
// (personalization/cccd.md §3).
const (
	constCardCryptogram byte = 0x00
	constHostCryptogram byte = 0x01
	constSENC           byte = 0x04
	constSMAC           byte = 0x06
	constSRMAC          byte = 0x07
	constDiversify      byte = 0x10
)

// kdf is the SCP03 data derivation (Amendment D §4.1.5): NIST SP 800-108 in
// counter mode with AES-CMAC as the PRF, the input data being a label of 11
// zero bytes and the derivation constant, a separation byte 00, L (the
// output length in bits, 2 bytes), the counter i (1 byte, from 01) and the
// context. The output is the first L bits of PRF(i=1) ‖ PRF(i=2) ‖ ….
func kdf(key cipher.Block, constant byte, lBits int, context []byte) ([]byte, error) {
	if lBits <= 0 || lBits%8 != 0 || lBits > 0xFFFF {
		return nil, fmt.Errorf("gp: derivation of %d bits", lBits)
	}
	n := lBits / 8
	out := make([]byte, 0, n+16)
	data := make([]byte, 16, 16+len(context))
	data[11] = constant
	// data[12] = 0x00: the separation indicator.
	data[13], data[14] = byte(lBits>>8), byte(lBits)
	data = append(data, context...)
	for i := 1; len(out) < n; i++ {
		if i > 0xFF {
			return nil, fmt.Errorf("gp: derivation of %d bits", lBits)
		}
		data[15] = byte(i)
		out = append(out, cmac.Sum(key, data)...)
	}
	return out[:n], nil
}

// Diversify derives a card's static key from a master key (cccd.md §3):
// K_card = KDF(K_master, constant 0x10, L = keyLen×8 bits, context = the
// card's 10 bytes of key diversification data), the SCP03 data derivation
// of Amendment D §4.1.5. keyLen is in bytes: 16, 24 or 32. The master key is
// a cipher.Block, so that it can stay in an HSM (crypto11's secret keys are
// cipher.Blocks).
func Diversify(master cipher.Block, divData [10]byte, keyLen int) ([]byte, error) {
	switch keyLen {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("gp: AES key of %d bytes, 16, 24 or 32 expected", keyLen)
	}
	if master.BlockSize() != 16 {
		return nil, fmt.Errorf("gp: master key with a %d-byte block, AES expected", master.BlockSize())
	}
	return kdf(master, constDiversify, keyLen*8, divData[:])
}

// DiversifyKeys derives a card's three static keys (ENC, MAC, DEK) of one
// key version from the master keys of that version (cccd.md §3).
func DiversifyKeys(enc, mac, dek cipher.Block, kvn byte, divData [10]byte, keyLen int) (Keys, error) {
	k := Keys{KVN: kvn}
	var err error
	if k.ENC, err = Diversify(enc, divData, keyLen); err != nil {
		return Keys{}, fmt.Errorf("gp: diversifying ENC: %w", err)
	}
	if k.MAC, err = Diversify(mac, divData, keyLen); err != nil {
		return Keys{}, fmt.Errorf("gp: diversifying MAC: %w", err)
	}
	if k.DEK, err = Diversify(dek, divData, keyLen); err != nil {
		return Keys{}, fmt.Errorf("gp: diversifying DEK: %w", err)
	}
	return k, nil
}
