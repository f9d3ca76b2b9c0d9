package pace

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/cmac"
	"github.com/cccd-station/station/personalization/ecka"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/sm"
)

// terminal is one PACE run, step by step; its fields are the intermediate
// values of ICAO 9303-11 Appendix G, which the known-answer test reads.
type terminal struct {
	t     pcsc.Transport
	pw    Password
	p     Params
	suite suite

	kpi       []byte   // K_π
	nonce     []byte   // s
	hx, hy    *big.Int // H, the mapping's shared point
	gx, gy    *big.Int // G', the mapped generator
	pkPCD     []byte   // the terminal's ephemeral public key, 04‖X‖Y
	pkIC      []byte   // the chip's ephemeral public key, 04‖X‖Y
	k         []byte   // the shared secret K
	ksEnc     []byte
	ksMac     []byte
	tPCD, tIC []byte // the tokens
}

func establish(t pcsc.Transport, pw Password, p Params, rnd io.Reader) (*terminal, error) {
	st, err := p.suite()
	if err != nil {
		return nil, err
	}
	if pw.ref == 0 || len(pw.k) == 0 {
		return nil, fmt.Errorf("pace: no password (use MRZ or CAN)")
	}
	tm := &terminal{t: t, pw: pw, p: p, suite: st}
	for _, step := range []func(io.Reader) error{tm.setAT, tm.decryptNonce, tm.mapNonce, tm.agreeKeys, tm.authenticate} {
		if err := step(rnd); err != nil {
			return nil, err
		}
	}
	return tm, nil
}

// setAT selects the protocol, password and domain parameters (ICAO 9303-11
// §4.4.4): MSE:Set AT 00 22 C1 A4 { 80 OID, 83 password reference, 84
// parameterId }. The parameterId is always sent: readers need it even for
// standardized parameters (chip-data.md §1).
func (tm *terminal) setAT(io.Reader) error {
	oid, err := asn1.Marshal(tm.p.Protocol)
	if err != nil {
		return fmt.Errorf("pace: protocol OID: %w", err)
	}
	data := lds.TLV(0x80, oid[2:]) // the OID's content octets
	data = append(data, lds.TLV(0x83, []byte{tm.pw.ref})...)
	data = append(data, lds.TLV(0x84, []byte{byte(tm.p.ParameterID)})...)
	if _, err := pcsc.Exec(tm.t, pcsc.Command{CLA: 0x00, INS: 0x22, P1: 0xC1, P2: 0xA4, Data: data}); err != nil {
		return refused("MSE:Set AT", err)
	}
	return nil
}

// decryptNonce asks for the encrypted nonce z (7C { 80 z }) and decrypts it
// (ICAO 9303-11 §4.4.3.1): s = D(K_π, z), AES-CBC with a zero IV,
// K_π = KDF_π(K) with counter 3 (§9.7.3).
func (tm *terminal) decryptNonce(io.Reader) error {
	kpi, err := sm.KDFAES(tm.pw.k, sm.CounterPassword, tm.suite.keyLen)
	if err != nil {
		return err
	}
	tm.kpi = kpi
	z, err := tm.generalAuthenticate("GENERAL AUTHENTICATE (encrypted nonce)", true, nil, 0x80)
	if err != nil {
		return err
	}
	if len(z) == 0 || len(z)%aes.BlockSize != 0 {
		return fmt.Errorf("%w: encrypted nonce of %d bytes", ErrChipData, len(z))
	}
	b, err := aes.NewCipher(kpi)
	if err != nil {
		return err
	}
	tm.nonce = make([]byte, len(z))
	cipher.NewCBCDecrypter(b, make([]byte, aes.BlockSize)).CryptBlocks(tm.nonce, z)
	return nil
}

// mapNonce runs the Generic Mapping (ICAO 9303-11 §4.4.3.3.1):
// the terminal's mapping key in 81, the chip's in 82, G' = s·G + H.
func (tm *terminal) mapNonce(rnd io.Reader) error {
	c := tm.suite.curve
	sk, pub, err := ecka.GenerateKey(c, rnd)
	if err != nil {
		return err
	}
	pk := lds.MarshalECPoint(pub)
	resp, err := tm.generalAuthenticate("GENERAL AUTHENTICATE (mapping)", true, lds.TLV(0x81, pk), 0x82)
	if err != nil {
		return err
	}
	ic, err := lds.ParseECPoint(c, resp)
	if err != nil {
		return fmt.Errorf("%w: the chip's mapping key: %w", ErrChipData, err)
	}
	tm.hx, tm.hy, tm.gx, tm.gy, err = mapGeneric(c, tm.nonce, sk, ic)
	return err
}

// agreeKeys runs the anonymous ECDH on the mapped generator (ICAO 9303-11
// §4.4.3): the terminal's ephemeral key in 83, the chip's in 84, which
// must differ from the terminal's (§4.4.3); K = x(SK_PCD · PK_IC),
// KS_enc = KDF(K, 1), KS_mac = KDF(K, 2) (§9.7.1).
func (tm *terminal) agreeKeys(rnd io.Reader) error {
	c := tm.suite.curve
	sk, pub, err := ecka.GenerateKeyOn(c, tm.gx, tm.gy, rnd)
	if err != nil {
		return err
	}
	tm.pkPCD = lds.MarshalECPoint(pub)
	resp, err := tm.generalAuthenticate("GENERAL AUTHENTICATE (key agreement)", true, lds.TLV(0x83, tm.pkPCD), 0x84)
	if err != nil {
		return err
	}
	ic, err := lds.ParseECPoint(c, resp)
	if err != nil {
		return fmt.Errorf("%w: the chip's ephemeral key: %w", ErrChipData, err)
	}
	if subtle.ConstantTimeCompare(resp, tm.pkPCD) == 1 {
		return fmt.Errorf("%w: the chip's ephemeral key is the terminal's", ErrChipData)
	}
	tm.pkIC = resp
	if tm.k, err = ecka.SharedSecret(c, sk, ic); err != nil {
		return fmt.Errorf("%w: key agreement: %w", ErrChipData, err)
	}
	if tm.ksEnc, err = sm.KDFAES(tm.k, sm.CounterEnc, tm.suite.keyLen); err != nil {
		return err
	}
	tm.ksMac, err = sm.KDFAES(tm.k, sm.CounterMAC, tm.suite.keyLen)
	return err
}

// authenticate exchanges the tokens (ICAO 9303-11 §4.4.3.4): the
// terminal sends T_PCD = MAC(KS_mac, the chip's key) in 85 and checks the
// chip's T_IC = MAC(KS_mac, the terminal's key) in 86.
func (tm *terminal) authenticate(io.Reader) error {
	var err error
	if tm.tPCD, err = token(tm.ksMac, tm.p.Protocol, tm.pkIC); err != nil {
		return err
	}
	want, err := token(tm.ksMac, tm.p.Protocol, tm.pkPCD)
	if err != nil {
		return err
	}
	got, err := tm.generalAuthenticate("GENERAL AUTHENTICATE (mutual authentication)", false, lds.TLV(0x85, tm.tPCD), 0x86, 0x87, 0x88)
	if err != nil {
		return err
	}
	tm.tIC = got
	if !cmac.Equal(got, want) {
		return ErrToken
	}
	return nil
}

// token is the authentication token of ICAO 9303-11 §4.4.3.4: the first 8
// bytes of AES-CMAC under KS_mac over the public key data object 7F49 {
// 06 protocol OID, 86 the uncompressed point } (§9.4, for ECDH).
func token(ksMac []byte, protocol asn1.ObjectIdentifier, point []byte) ([]byte, error) {
	oid, err := asn1.Marshal(protocol)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(ksMac)
	if err != nil {
		return nil, err
	}
	return cmac.Sum(b, lds.TLV(lds.TagPublicKeyTemplate, oid, lds.TLV(0x86, point)))[:8], nil
}

// generalAuthenticate sends GENERAL AUTHENTICATE 86 00 00 with the dynamic
// authentication data 7C { data } (ICAO 9303-11 §4.4.4), chained (CLA 10:
// ISO/IEC 7816-4 command chaining) for every step but the last, and returns
// the value of the response's data object want.
func (tm *terminal) generalAuthenticate(step string, chained bool, data []byte, want byte, optional ...byte) ([]byte, error) {
	cla := byte(0x00)
	if chained {
		cla = 0x10
	}
	resp, err := pcsc.Exec(tm.t, pcsc.Command{CLA: cla, INS: 0x86, Data: lds.TLV(0x7C, data), Ne: 256})
	if err != nil {
		return nil, refused(step, err)
	}
	v, err := ParseDynamicAuthData(resp, want, optional...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", step, err)
	}
	return v, nil
}

// ParseDynamicAuthData reads a chip's answer to GENERAL AUTHENTICATE:
// exactly one 7C { … } holding the data object want, once, and nothing but
// the tags listed in optional besides (ICAO 9303-11 §4.4.4). It
// returns want's value.
func ParseDynamicAuthData(resp []byte, want byte, optional ...byte) ([]byte, error) {
	o, err := lds.ParseOne(resp, 0x7C)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrChipData, err)
	}
	children, err := o.Children()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrChipData, err)
	}
	var v []byte
	found := false
	seen := map[lds.Tag]bool{}
	for _, ch := range children {
		if seen[ch.Tag] {
			return nil, fmt.Errorf("%w: data object %X twice", ErrChipData, uint32(ch.Tag))
		}
		seen[ch.Tag] = true
		switch {
		case ch.Tag == lds.Tag(want):
			v, found = ch.Value, true
		case !isOptional(ch.Tag, optional):
			return nil, fmt.Errorf("%w: unexpected data object %X", ErrChipData, uint32(ch.Tag))
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: no data object %02X", ErrChipData, want)
	}
	return v, nil
}

func isOptional(t lds.Tag, optional []byte) bool {
	for _, o := range optional {
		if t == lds.Tag(o) {
			return true
		}
	}
	return false
}
