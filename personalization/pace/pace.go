// Package pace is the terminal's side of PACE, Password Authenticated
// Connection Establishment (ICAO Doc 9303 Part 11 §4.4), as the station's
// verifier runs it against a CCCD chip: Generic Mapping over ECDH on
// brainpoolP256r1 (standardized domain parameters 13) or NIST P-256 (12),
// AES secure messaging (id-PACE-ECDH-GM-AES-CBC-CMAC-128, and -192/-256),
// with the MRZ or the CAN as the password. Establish returns the AES secure
// messaging channel PACE sets up.
//
// It is written independently of the virtual chip's implementation (package
// pcsc/vcard/emrtd); both are pinned by ICAO 9303-11 Appendix G.1.
package pace

import (
	"crypto/elliptic"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"

	"github.com/cccd-station/station/internal/brainpool"
	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/sm"
)

// Errors the verifier names a failed PACE by (errors.Is).
var (
	// ErrRefused: the chip answered a PACE command with a status word
	// other than 9000 (the *pcsc.StatusError is wrapped too). A wrong
	// password shows here: the chip refuses the terminal's token (6300).
	ErrRefused = errors.New("pace: PACE refused by the chip")
	// ErrToken: the chip's authentication token T_IC does not verify
	// (§4.4.3.4): the chip does not hold the password, or is not the chip
	// the terminal agreed keys with.
	ErrToken = errors.New("pace: PACE refused: the chip's authentication token does not verify")
	// ErrChipData: a chip response is malformed (not the 7C dynamic
	// authentication data expected), or a public key or nonce it carries
	// is invalid (not a point of the curve, the terminal's own key, the
	// point at infinity after mapping).
	ErrChipData = errors.New("pace: invalid chip response")
	// ErrUnsupported: the protocol or domain parameters are not ones this
	// terminal implements.
	ErrUnsupported = errors.New("pace: protocol or domain parameters not supported")
)

// Params select the PACE protocol and its standardized domain parameters
// (ICAO 9303-11 §9.2.1 PACEInfo, §9.5.1 Table 6).
type Params struct {
	Protocol    asn1.ObjectIdentifier // id-PACE-ECDH-GM-AES-CBC-CMAC-128/-192/-256
	ParameterID int                   // 13 brainpoolP256r1, 12 NIST P-256
}

// CCCD are the parameters of CCCD chips (chip-data.md §1): ECDH generic
// mapping, AES-128, brainpoolP256r1.
var CCCD = Params{Protocol: lds.OIDPACEECDHGMAES128, ParameterID: 13}

// ParamsFromInfo takes the parameters from EF.CardAccess's PACEInfo, which
// must be version 2 with a parameterId.
func ParamsFromInfo(i lds.PACEInfo) (Params, error) {
	if i.Version != 2 {
		return Params{}, fmt.Errorf("%w: PACEInfo version %d", ErrUnsupported, i.Version)
	}
	if i.ParameterID == nil {
		return Params{}, fmt.Errorf("%w: PACEInfo without parameterId (proprietary domain parameters)", ErrUnsupported)
	}
	p := Params{Protocol: i.Protocol, ParameterID: *i.ParameterID}
	if _, err := p.suite(); err != nil {
		return Params{}, err
	}
	return p, nil
}

// suite is what the parameters mean for the computation.
type suite struct {
	curve  elliptic.Curve
	keyLen int // AES key length in bytes
}

func (p Params) suite() (suite, error) {
	var s suite
	switch {
	case p.Protocol.Equal(lds.OIDPACEECDHGMAES128):
		s.keyLen = 16
	case p.Protocol.Equal(lds.OIDPACEECDHGMAES192):
		s.keyLen = 24
	case p.Protocol.Equal(lds.OIDPACEECDHGMAES256):
		s.keyLen = 32
	default:
		return s, fmt.Errorf("%w: protocol %v (ECDH generic mapping with AES only)", ErrUnsupported, p.Protocol)
	}
	// ICAO 9303-11 §9.5.1, Table 6.
	switch p.ParameterID {
	case 12:
		s.curve = elliptic.P256()
	case 13:
		s.curve = brainpool.P256r1()
	default:
		return s, fmt.Errorf("%w: parameterId %d (12 NIST P-256 and 13 brainpoolP256r1 only)", ErrUnsupported, p.ParameterID)
	}
	return s, nil
}

// Establish runs PACE over t (ICAO 9303-11 §4.4.4): MSE:Set AT, then four
// GENERAL AUTHENTICATE — the encrypted nonce, the mapping, the key
// agreement on the mapped generator, the exchange of tokens — and returns
// the AES secure messaging channel over t with the session keys and SSC 0
// (§9.8.7). rnd supplies the terminal's two private keys (mapping, then
// ephemeral): each a draw of the order's byte length, drawn again when not
// in [1, n-1].
func Establish(t pcsc.Transport, pw Password, p Params, rnd io.Reader) (*sm.Channel, error) {
	tm, err := establish(t, pw, p, rnd)
	if err != nil {
		return nil, err
	}
	return sm.NewAESChannel(t, tm.ksEnc, tm.ksMac)
}

// refused wraps a chip's refusal of one step.
func refused(step string, err error) error {
	var se *pcsc.StatusError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %s: %w", ErrRefused, step, err)
	}
	return fmt.Errorf("pace: %s: %w", step, err)
}
