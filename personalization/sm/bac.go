package sm

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// BACKeys are the document basic access keys derived from the MRZ.
type BACKeys struct {
	Enc, Mac []byte
}

// NewBACKeys derives K_enc and K_mac from the MRZ_information (document
// number, check digit, date of birth, check digit, date of expiry, check
// digit; ICAO 9303-11 §9.7.1).
func NewBACKeys(mrzInformation string) BACKeys {
	seed := KeySeed(mrzInformation)
	return BACKeys{Enc: KDF(seed, 1), Mac: KDF(seed, 2)}
}

// ErrBAC: the chip's answer to mutual authentication is wrong (wrong MRZ, or
// not the chip we think).
var ErrBAC = errors.New("sm: BAC mutual authentication failed")

// BACChallenge is the terminal's half of BAC in progress.
type BACChallenge struct {
	keys   BACKeys
	rndIC  []byte
	rndIFD []byte
	kIFD   []byte
}

// NewBACChallenge prepares the EXTERNAL AUTHENTICATE of BAC (ICAO 9303-11
// §4.3.3.1): RND.IFD and K.IFD from rnd, and the chip's RND.IC from GET
// CHALLENGE. It returns the command data E.IFD ‖ M.IFD.
func NewBACChallenge(keys BACKeys, rndIC []byte, rnd io.Reader) (*BACChallenge, []byte, error) {
	if len(rndIC) != 8 {
		return nil, nil, fmt.Errorf("%w: RND.IC of %d bytes", ErrBAC, len(rndIC))
	}
	c := &BACChallenge{keys: keys, rndIC: append([]byte(nil), rndIC...), rndIFD: make([]byte, 8), kIFD: make([]byte, 16)}
	if _, err := io.ReadFull(rnd, c.rndIFD); err != nil {
		return nil, nil, err
	}
	if _, err := io.ReadFull(rnd, c.kIFD); err != nil {
		return nil, nil, err
	}
	s := make([]byte, 0, 32)
	s = append(append(append(s, c.rndIFD...), c.rndIC...), c.kIFD...)
	eIFD, err := Encrypt3DES(keys.Enc, s)
	if err != nil {
		return nil, nil, err
	}
	mIFD, err := RetailMAC(keys.Mac, eIFD)
	if err != nil {
		return nil, nil, err
	}
	return c, append(eIFD, mIFD...), nil
}

// Finish checks the chip's E.IC ‖ M.IC and derives the session (ICAO
// 9303-11 §4.3.3.2, §9.7.4): KS_seed = K.IFD ⊕ K.IC, SSC = the last four
// bytes of RND.IC ‖ the last four bytes of RND.IFD.
func (c *BACChallenge) Finish(resp []byte) (*Session, error) {
	if len(resp) != 40 {
		return nil, fmt.Errorf("%w: response of %d bytes, 40 expected", ErrBAC, len(resp))
	}
	eIC, mIC := resp[:32], resp[32:]
	want, err := RetailMAC(c.keys.Mac, eIC)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(want, mIC) != 1 {
		return nil, fmt.Errorf("%w: M.IC does not verify", ErrBAC)
	}
	r, err := Decrypt3DES(c.keys.Enc, eIC)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(r[:8], c.rndIC) || !bytes.Equal(r[8:16], c.rndIFD) {
		return nil, fmt.Errorf("%w: the chip's nonces do not match", ErrBAC)
	}
	seed := make([]byte, 16)
	for i := range seed {
		seed[i] = c.kIFD[i] ^ r[16+i]
	}
	ssc := append(append([]byte{}, c.rndIC[4:]...), c.rndIFD[4:]...)
	return NewSession(KDF(seed, 1), KDF(seed, 2), ssc), nil
}
