package personalization

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/cccd-station/station/internal/brainpool"
	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/gp"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/signer"
)

// CCCD is the profile of the chip real citizens carry (personalization/
// cccd.md): personalized over a GlobalPlatform SCP03 secure channel, files
// created with ISO/IEC 7816-4 FCP templates, the Chip Authentication and
// Active Authentication keys made on the chip, PACE with the CAN and the
// MRZ, BAC kept, the life cycle made operational by ACTIVATE FILE.
type CCCD struct {
	// Masters are the SCP03 master keys the chips' keys are diversified
	// from (signer.OpenSCP03: a file, or an HSM).
	Masters *signer.SCP03Masters
	// Level is the SCP03 security level (default 33: C-MAC, C-DECRYPTION,
	// R-MAC, R-ENCRYPTION; the chip takes no less than 13).
	Level byte
}

// ErrSCP03Keys: the station's SCP03 master keys cannot open this product's
// chips (another key version), or the HSM holding them did not answer.
var ErrSCP03Keys = errors.New("the station's SCP03 master keys cannot open this card")

func (CCCD) Name() string { return "cccd" }

// ChipMakesKeys: the chip makes both key pairs; private keys never leave it.
func (CCCD) ChipMakesKeys() bool { return true }

// Inspect tells blank, written and locked apart without a secure channel
// (cccd.md §2): EF.CardAccess, the first file written, selected by FID in
// plain (6A82: none yet); then DG1 of the eMRTD application in plain: 6982
// once the chip is operational.
func (CCCD) Inspect(t pcsc.Transport) (CardState, error) {
	_, caErr := pcsc.Exec(t, selectEF(lds.FIDCardAccess))
	if caErr != nil && !errors.Is(caErr, pcsc.ErrFileNotFound) {
		return CardUnknown, caErr
	}
	if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: AIDeMRTD}); err != nil {
		var se *pcsc.StatusError
		if errors.As(err, &se) {
			return CardUnknown, fmt.Errorf("%w: SELECT answered %04X", ErrNoApplet, se.SW)
		}
		return CardUnknown, err
	}
	st, err := stateBySelect(t, lds.FIDDG1)
	if st == CardBlank && caErr == nil {
		st = CardWritten // EF.CardAccess written, DG1 not yet
	}
	return st, err
}

// Open selects the eMRTD application and opens the SCP03 session with the
// card's keys, diversified from the master keys by its serial (cccd.md
// §3-4: steps 1-3). The returned transport is the secure channel.
func (c CCCD) Open(t pcsc.Transport, p Product, serial string, rnd io.Reader) (pcsc.Transport, error) {
	if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: AIDeMRTD}); err != nil {
		return nil, fmt.Errorf("SELECT eMRTD application: %w", err)
	}
	keys, err := c.cardKeys(p, serial)
	if err != nil {
		return nil, err
	}
	level := c.Level
	if level == 0 {
		level = gp.LevelCMAC | gp.LevelCDEC | gp.LevelRMAC | gp.LevelRENC
	}
	ch, err := gp.Open(t, keys, level, rnd)
	clear(keys.ENC)
	clear(keys.MAC)
	clear(keys.DEK)
	if err != nil {
		return nil, fmt.Errorf("SCP03: %w", err)
	}
	return ch, nil
}

// cardKeys diversifies the master keys by the chip serial: the 10 bytes of
// CPLC the serial is made of are the key diversification data.
func (c CCCD) cardKeys(p Product, serial string) (keys gp.Keys, err error) {
	if c.Masters == nil {
		return keys, fmt.Errorf("%w: no SCP03 master keys configured", ErrSCP03Keys)
	}
	if c.Masters.KVN != byte(p.SCP03KVN) {
		return keys, fmt.Errorf("%w: the master keys are version %02X, product %s takes %02X", ErrSCP03Keys, c.Masters.KVN, p.Name, p.SCP03KVN)
	}
	raw, err := hex.DecodeString(serial)
	if err != nil || len(raw) != 10 {
		return keys, fmt.Errorf("%w: serial %q is not the 10 bytes of CPLC", ErrSCP03Keys, serial)
	}
	var div [10]byte
	copy(div[:], raw)
	defer func() {
		// A master key in a token panics when the token does not answer
		// (cipher.Block has no error return).
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrSCP03Keys, r)
		}
	}()
	return gp.DiversifyKeys(c.Masters.ENC, c.Masters.MAC, c.Masters.DEK, c.Masters.KVN, div, c.Masters.KeyLen)
}

// fcp is the FCP template of a transparent EF of exactly size bytes
// (ISO/IEC 7816-4 §7.4; cccd.md §4 step 4).
func fcp(f lds.File) []byte {
	size := len(f.Data)
	return lds.TLV(0x62,
		lds.TLV(0x80, []byte{byte(size >> 8), byte(size)}),
		lds.TLV(0x82, []byte{0x01}),
		lds.TLV(0x83, []byte{byte(f.FID >> 8), byte(f.FID)}),
		lds.TLV(0x8C, []byte{0x03, 0xFF, 0x00})) // update never, read always (ISO/IEC 7816-4 §7.4.3)
}

// WriteFile creates the file with its FCP template at its exact size,
// writes it in the largest chunks a protected command carries and reads it
// back in the largest a protected response carries, comparing byte for byte.
func (CCCD) WriteFile(t pcsc.Transport, p Product, f lds.File) error {
	if len(f.Data) > 0x7FFF {
		return fmt.Errorf("%s: %d bytes: an EF holds at most 32767 here", f.Name, len(f.Data))
	}
	if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xE0, Data: fcp(f)}); err != nil {
		return fmt.Errorf("CREATE FILE %s: %w", f.Name, err)
	}
	maxWrite, maxRead := p.MaxCommandData, p.MaxResponseData
	if ch, ok := t.(*gp.Channel); ok {
		maxWrite, maxRead = ch.MaxPlainCommand(p.MaxCommandData), ch.MaxPlainResponse(p.MaxResponseData)
	}
	return writeSelected(t, f, maxWrite, maxRead)
}

// Key references of the cccd chip (cccd.md §4 steps 7-8).
const (
	keyRefCA byte = 0x01
	keyRefAA byte = 0x02
)

// specCurve is the curve of an EC key spec.
func specCurve(k KeySpec) (elliptic.Curve, error) {
	switch k {
	case KeyECDSAP256:
		return elliptic.P256(), nil
	case KeyECDSABrainpoolP256r1, KeyECDHBrainpoolP256r1:
		return brainpool.P256r1(), nil
	}
	return nil, fmt.Errorf("key spec %q is not an EC key", k)
}

// GenerateKeys has the chip make the Chip Authentication key (reference 01)
// and the Active Authentication key (02) with GENERATE ASYMMETRIC KEY PAIR
// (ISO/IEC 7816-8 §5.1; cccd.md §4 steps 7-8), and returns their public
// halves, checked on the curve asked for.
func (CCCD) GenerateKeys(t pcsc.Transport, p Product) (ChipKeys, error) {
	gen := func(ref byte, spec KeySpec) (*ecdsa.PublicKey, error) {
		c, err := specCurve(spec)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyGeneration, err)
		}
		oid, err := lds.CurveOID(c)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyGeneration, err)
		}
		der, err := asn1.Marshal(oid)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyGeneration, err)
		}
		data := append(lds.TLV(0x84, []byte{ref}), der...)
		resp, err := pcsc.Exec(t, pcsc.Command{INS: 0x47, P1: 0x80, P2: 0x00, Data: data, Ne: 256})
		if err != nil {
			if pcsc.Gone(err) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: key %02X (%s): %w", ErrKeyGeneration, ref, spec, err)
		}
		pub, err := lds.ParseECPublicKeyTemplate(resp)
		if err != nil {
			return nil, fmt.Errorf("%w: key %02X: %w", ErrMalformedKey, ref, err)
		}
		if got, _ := lds.CurveOID(pub.Curve); !got.Equal(oid) {
			return nil, fmt.Errorf("%w: key %02X is on %v, %v was asked for", ErrMalformedKey, ref, got, oid)
		}
		return pub, nil
	}
	var keys ChipKeys
	var err error
	if p.CAKey != "" {
		if keys.CA, err = gen(keyRefCA, p.CAKey); err != nil {
			return ChipKeys{}, err
		}
	}
	aa, err := gen(keyRefAA, p.AAKey)
	if err != nil {
		return ChipKeys{}, err
	}
	keys.AA = aa
	return keys, nil
}

// Seal stores the MRZ secrets (PUT DATA 62: the chip derives the BAC key
// seed and the PACE key of the MRZ) and the CAN (PUT DATA 63), then makes
// the application operational (ACTIVATE FILE 00 44): cccd.md §4 steps
// 10-12.
func (CCCD) Seal(t pcsc.Transport, p Product, im *lds.Image) error {
	mrz := lds.TLV(0x62,
		lds.TLV(0x04, []byte(im.MRZ.DocumentNumber)),
		lds.TLV(0x04, []byte(im.MRZ.DateOfBirth)),
		lds.TLV(0x04, []byte(im.MRZ.DateOfExpiry)))
	if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xDA, P1: 0x00, P2: 0x62, Data: mrz}); err != nil {
		return fmt.Errorf("PUT DATA MRZ: %w", err)
	}
	if len(im.CAN) != 6 {
		return errors.New("the image has no 6-digit CAN")
	}
	can := lds.TLV(0x63, lds.TLV(0x04, []byte(im.CAN)))
	if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xDA, P1: 0x00, P2: 0x63, Data: can}); err != nil {
		return fmt.Errorf("PUT DATA CAN: %w", err)
	}
	if _, err := pcsc.Exec(t, pcsc.Command{INS: 0x44, P1: 0x00, P2: 0x00}); err != nil {
		return fmt.Errorf("ACTIVATE FILE: %w", err)
	}
	return nil
}

// accessInfos are the SecurityInfos a product's chip shows readers in
// EF.CardAccess (cccd.md §5; chip-data.md §1): Terminal Authentication with
// EAC, Chip Authentication by ECDH with AES-128, PACE generic mapping ECDH
// brainpoolP256r1 AES-128. None for a BAC-only chip.
func accessInfos(p Product) lds.SecurityInfos {
	var infos lds.SecurityInfos
	if p.EAC {
		infos = append(infos, lds.TerminalAuthenticationInfo{Version: 1})
	}
	if p.CAKey != "" {
		infos = append(infos, lds.ChipAuthenticationInfo{Protocol: lds.OIDCAECDHAES128, Version: 1})
	}
	if p.PACE {
		infos = append(infos, lds.PACEInfo{Protocol: lds.OIDPACEECDHGMAES128, Version: 2, ParameterID: lds.Int(13)})
	}
	return infos
}

// CardAccess is EF.CardAccess of a product's chips, nil for a chip without
// PACE (it has none: readers get 6A82 and go on to BAC).
func CardAccess(p Product) ([]byte, error) {
	if !p.PACE {
		return nil, nil
	}
	return lds.EncodeCardAccess(accessInfos(p))
}

// SecurityObjects are EF.CardAccess and DG14 of a chip with its keys:
// DG14 repeats EF.CardAccess's infos and adds the Chip Authentication public
// key and, for an ECDSA Active Authentication key, the signature algorithm
// (ICAO 9303-11 §9.2). Both nil for a BAC-only chip with an RSA key.
func SecurityObjects(p Product, keys ChipKeys) (cardAccess, dg14 []byte, err error) {
	infos := accessInfos(p)
	if keys.CA != nil {
		infos = append(infos, lds.ChipAuthenticationPublicKeyInfo{Protocol: lds.OIDPKECDH, PublicKey: keys.CA})
	}
	if _, ok := keys.AA.(*ecdsa.PublicKey); ok {
		infos = append(infos, lds.ActiveAuthenticationInfo{Version: 1, SignatureAlgorithm: lds.OIDECDSAPlainSHA256})
	}
	if len(infos) == 0 {
		return nil, nil, nil
	}
	if cardAccess, err = CardAccess(p); err != nil {
		return nil, nil, err
	}
	if dg14, err = lds.EncodeDG14(infos); err != nil {
		return nil, nil, err
	}
	return cardAccess, dg14, nil
}
