// Package chipauth is the terminal's side of Chip Authentication version 1
// with ECDH and AES (ICAO Doc 9303 Part 11 §6.2; id-CA-ECDH-AES-CBC-CMAC-128,
// and -192/-256): an ephemeral key pair on the domain of the chip's static
// key from DG14, MSE:Set AT and GENERAL AUTHENTICATE through the current
// secure messaging (after PACE or BAC), new AES session keys from the ECDH
// secret, and secure messaging restarted with them (SSC 0). The chip proves
// it holds the private key of DG14's ChipAuthenticationPublicKeyInfo by
// answering under the new keys; DG14 itself is covered by passive
// authentication.
//
// It is written independently of the virtual chip's implementation (package
// pcsc/vcard/emrtd).
package chipauth

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/ecka"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/sm"
)

// Errors the verifier names a failed Chip Authentication by (errors.Is).
var (
	// ErrRefused: the chip answered MSE:Set AT or GENERAL AUTHENTICATE with
	// a status word other than 9000 (the *pcsc.StatusError is wrapped too).
	ErrRefused = errors.New("chipauth: Chip Authentication refused by the chip")
	// ErrChipData: the chip's answer to GENERAL AUTHENTICATE is not 7C 00.
	ErrChipData = errors.New("chipauth: invalid chip response")
	// ErrKey: the chip's static public key is not usable (not a point of a
	// supported curve).
	ErrKey = errors.New("chipauth: invalid Chip Authentication public key")
	// ErrUnsupported: a protocol other than ECDH with AES.
	ErrUnsupported = errors.New("chipauth: protocol not supported")
)

// Params select the protocol and, when the chip has several keys, the key.
type Params struct {
	Protocol asn1.ObjectIdentifier // id-CA-ECDH-AES-CBC-CMAC-128/-192/-256
	KeyID    *int                  // sent in MSE:Set AT (tag 84) when not nil
}

// CCCD are the parameters of CCCD chips (chip-data.md §1, cccd.md §5):
// ECDH with AES-128, one key, no keyId.
var CCCD = Params{Protocol: lds.OIDCAECDHAES128}

// Protocol OIDs of id-CA-ECDH-AES-CBC-CMAC-192 and -256 (BSI TR-03110-3
// A.1.1.2).
var (
	oidCAECDHAES192 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2, 3}
	oidCAECDHAES256 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2, 4}
)

// ParamsFromInfo takes the parameters from a ChipAuthenticationInfo of
// EF.CardAccess or DG14 (version 1).
func ParamsFromInfo(i lds.ChipAuthenticationInfo) (Params, error) {
	if i.Version != 1 {
		return Params{}, fmt.Errorf("%w: ChipAuthenticationInfo version %d", ErrUnsupported, i.Version)
	}
	p := Params{Protocol: i.Protocol, KeyID: i.KeyID}
	if _, err := p.keyLen(); err != nil {
		return Params{}, err
	}
	return p, nil
}

// keyLen is the AES key length the protocol names.
func (p Params) keyLen() (int, error) {
	switch {
	case p.Protocol.Equal(lds.OIDCAECDHAES128):
		return 16, nil
	case p.Protocol.Equal(oidCAECDHAES192):
		return 24, nil
	case p.Protocol.Equal(oidCAECDHAES256):
		return 32, nil
	}
	return 0, fmt.Errorf("%w: %v (ECDH with AES only)", ErrUnsupported, p.Protocol)
}

// Channel is the secure messaging channel Chip Authentication runs in and
// restarts: *sm.Channel.
type Channel interface {
	pcsc.Transport
	// Rekey restarts secure messaging with AES session keys and SSC 0.
	Rekey(ksEnc, ksMac []byte) error
}

var _ Channel = (*sm.Channel)(nil)

// Authenticate runs Chip Authentication over the secure messaging channel
// ch (ICAO 9303-11 §6.2): an ephemeral key pair on the curve of chipKey
// from rnd, MSE:Set AT 00 22 41 A4 { 80 protocol OID [, 84 keyId] },
// GENERAL AUTHENTICATE 00 86 00 00 { 7C { 80 04‖X‖Y } } answered 7C 00, and
// ch restarted with KS_enc = KDF(K, 1), KS_mac = KDF(K, 2) of the shared
// secret K and SSC 0 (§9.7.1, §9.8.7) — a 3DES (BAC) channel becomes an
// AES one. After an error ch must not be trusted: the chip may or may not
// have switched keys.
func Authenticate(ch Channel, p Params, chipKey *ecdsa.PublicKey, rnd io.Reader) error {
	keyLen, err := p.keyLen()
	if err != nil {
		return err
	}
	if chipKey == nil || chipKey.Curve == nil {
		return fmt.Errorf("%w: no key", ErrKey)
	}
	if _, err := lds.CurveOID(chipKey.Curve); err != nil {
		return fmt.Errorf("%w: %w", ErrKey, err)
	}
	if err := lds.ValidatePoint(chipKey.Curve, chipKey.X, chipKey.Y); err != nil {
		return fmt.Errorf("%w: %w", ErrKey, err)
	}
	c := chipKey.Curve
	sk, pub, err := ecka.GenerateKey(c, rnd)
	if err != nil {
		return err
	}
	k, err := ecka.SharedSecret(c, sk, chipKey)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKey, err)
	}
	if err := setAT(ch, p); err != nil {
		return err
	}
	resp, err := pcsc.Exec(ch, pcsc.Command{INS: 0x86, Data: lds.TLV(0x7C, lds.TLV(0x80, lds.MarshalECPoint(pub))), Ne: 256})
	if err != nil {
		return refused("GENERAL AUTHENTICATE", err)
	}
	if err := ParseResponse(resp); err != nil {
		return err
	}
	ksEnc, err := sm.KDFAES(k, sm.CounterEnc, keyLen)
	if err != nil {
		return err
	}
	ksMac, err := sm.KDFAES(k, sm.CounterMAC, keyLen)
	if err != nil {
		return err
	}
	return ch.Rekey(ksEnc, ksMac)
}

// setAT sends MSE:Set AT for Chip Authentication (ICAO 9303-11 §6.2;
// BSI TR-03110-3 B.14.1): 80 the protocol OID's content, 84 the keyId
// only when the chip has several keys.
func setAT(ch pcsc.Transport, p Params) error {
	oid, err := asn1.Marshal(p.Protocol)
	if err != nil {
		return fmt.Errorf("chipauth: protocol OID: %w", err)
	}
	data := lds.TLV(0x80, oid[2:])
	if p.KeyID != nil {
		id, err := asn1.Marshal(*p.KeyID)
		if err != nil {
			return fmt.Errorf("chipauth: keyId: %w", err)
		}
		data = append(data, lds.TLV(0x84, id[2:])...)
	}
	if _, err := pcsc.Exec(ch, pcsc.Command{INS: 0x22, P1: 0x41, P2: 0xA4, Data: data}); err != nil {
		return refused("MSE:Set AT", err)
	}
	return nil
}

// ParseResponse checks the chip's answer to GENERAL AUTHENTICATE of Chip
// Authentication version 1: the empty dynamic authentication data 7C 00
// (ICAO 9303-11 §6.2), exactly.
func ParseResponse(resp []byte) error {
	if !bytes.Equal(resp, []byte{0x7C, 0x00}) {
		return fmt.Errorf("%w: %X where 7C 00 is expected", ErrChipData, resp)
	}
	return nil
}

func refused(step string, err error) error {
	var se *pcsc.StatusError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %s: %w", ErrRefused, step, err)
	}
	return fmt.Errorf("chipauth: %s: %w", step, err)
}
