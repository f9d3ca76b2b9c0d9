package emrtd

import (
	"bytes"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// paceVector is testdata/icao9303-pace-gm-ecdh.json: ICAO 9303-11 Appendix
// G.1 (PACE, ECDH Generic Mapping, brainpoolP256r1, AES-128).
type paceVector struct {
	MRZInformation  string `json:"mrz_information"`
	SHA1OfMRZ       string `json:"sha1_of_mrz_information"`
	KPi             string `json:"k_pi"`
	MSESetAT        string `json:"mse_set_at"`
	EncryptedNonce  string `json:"encrypted_nonce"`
	NonceS          string `json:"nonce_s"`
	TerminalMapPub  paceXY `json:"terminal_mapping_public_key"`
	ChipMapPub      paceXY `json:"chip_mapping_public_key"`
	MappingSharedH  paceXY `json:"mapping_shared_secret_h"`
	MappedGenerator paceXY `json:"mapped_generator"`
	TerminalEphPub  paceXY `json:"terminal_ephemeral_public_key"`
	ChipEphPub      paceXY `json:"chip_ephemeral_public_key"`
	SharedSecretK   string `json:"shared_secret_k"`
	KSEnc           string `json:"ks_enc"`
	KSMac           string `json:"ks_mac"`
	TIFD            string `json:"terminal_token_t_ifd"`
	TIC             string `json:"chip_token_t_ic"`
}

type paceXY struct {
	X string `json:"x"`
	Y string `json:"y"`
}

func (p paceXY) point(t *testing.T) []byte {
	return append(append([]byte{0x04}, unhex(t, p.X)...), unhex(t, p.Y)...)
}

// The chip's private keys of ICAO 9303-11 Appendix G.1 (the vector file
// gives the chip's public keys; the appendix also prints the private
// ones). The test checks them against the public keys before using them.
const (
	g1ChipMappingPrivate   = "498FF49756F2DC1587840041839A85982BE7761D14715FB091EFA7BCE9058560"
	g1ChipEphemeralPrivate = "107CF58696EF6155053340FD633392BA81909DF7B9706F226F32086C7AFF974A"
)

func loadPACEVector(t *testing.T) paceVector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "icao9303-pace-gm-ecdh.json"))
	if err != nil {
		t.Fatalf("reading the PACE vector: %v", err)
	}
	var v paceVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding the PACE vector: %v", err)
	}
	return v
}

// TestPACEKnownAnswersFromTheChipSide runs ICAO 9303-11 Appendix G.1 against
// the chip through Process: the chip holds the vector's MRZ (through PUT
// DATA) and draws the vector's nonce s and its mapping and ephemeral private
// keys (injected with WithRand, in the order the chip reads them). Every
// value it sends — the encrypted nonce, its mapping key, its ephemeral key,
// the token T_IC — must be the vector's; it accepts the terminal's messages
// and token T_IFD; its K_π, H, mapped generator, shared secret and session
// keys equal the vector's; and secure messaging starts with SSC 0.
func TestPACEKnownAnswersFromTheChipSide(t *testing.T) {
	v := loadPACEVector(t)
	cv := curveBrainpoolP256r1

	// The appendix's chip private keys give the vector's public keys.
	for _, k := range []struct {
		name, d string
		gx, gy  *big.Int
		want    []byte
	}{
		{"mapping", g1ChipMappingPrivate, cv.curve.Params().Gx, cv.curve.Params().Gy, v.ChipMapPub.point(t)},
		{"ephemeral", g1ChipEphemeralPrivate, new(big.Int).SetBytes(unhex(t, v.MappedGenerator.X)),
			new(big.Int).SetBytes(unhex(t, v.MappedGenerator.Y)), v.ChipEphPub.point(t)},
	} {
		x, y := cv.curve.ScalarMult(k.gx, k.gy, unhex(t, k.d))
		if !bytes.Equal(cv.encodePoint(x, y), k.want) {
			t.Fatalf("the G.1 chip %s private key does not give the vector's public key", k.name)
		}
	}

	draws := bytes.Join([][]byte{unhex(t, v.NonceS), unhex(t, g1ChipMappingPrivate), unhex(t, g1ChipEphemeralPrivate)}, nil)
	c := New(ModelCCCD, WithRand(bytes.NewReader(draws)))
	info := v.MRZInformation // document number (9) + check, DOB + check, expiry + check
	doc, dob, exp := info[0:9], info[10:16], info[17:23]
	h := newCCCDHost(t, c)
	h.selectApplication()
	h.mustOpenSCP03(c.scpKeys)
	h.scpExpect("PUT DATA MRZ", 0xDA, 0x00, 0x62, mrzData(mrzTriple{doc, dob, exp}), 0, swOK)
	if got := string(c.mrz.information()); got != info {
		t.Fatalf("MRZ_information %q, want %q", got, info)
	}
	eqHex(t, "K_π", c.kPiMRZ, v.KPi)
	c.locked = true // the rest of the personalization does not matter here
	c.Reset()

	r := newReader(t, c)
	r.expect("MSE:Set AT", unhex(t, v.MSESetAT), swOK)
	ga := func(what string, chained bool, inner []byte) []byte {
		t.Helper()
		cla := byte(0x00)
		if chained {
			cla = 0x10
		}
		d := r.expect(what, buildAPDU(cla, 0x86, 0x00, 0x00, appendTLV(nil, 0x7C, inner), 256, false), swOK)
		v, ok := singleTemplate(d, 0x7C)
		if !ok {
			t.Fatalf("%s answered %s", what, hx(d))
		}
		return v
	}
	d := ga("GA encrypted nonce", true, nil)
	eqHex(t, "encrypted nonce", d, "8010"+v.EncryptedNonce)

	d = ga("GA mapping", true, appendTLV(nil, 0x81, v.TerminalMapPub.point(t)))
	eqHex(t, "chip mapping public key", d, "8241"+hx(v.ChipMapPub.point(t)))
	eqHex(t, "mapped generator", cv.encodePoint(c.pace.gx, c.pace.gy), hx(v.MappedGenerator.point(t)))
	hx1, hy1 := cv.curve.ScalarMult(new(big.Int).SetBytes(unhex(t, v.TerminalMapPub.X)), new(big.Int).SetBytes(unhex(t, v.TerminalMapPub.Y)), unhex(t, g1ChipMappingPrivate))
	eqHex(t, "H", cv.encodePoint(hx1, hy1), hx(v.MappingSharedH.point(t)))

	d = ga("GA key agreement", true, appendTLV(nil, 0x83, v.TerminalEphPub.point(t)))
	eqHex(t, "chip ephemeral public key", d, "8441"+hx(v.ChipEphPub.point(t)))
	tx, ty, _ := cv.decodePoint(v.TerminalEphPub.point(t))
	k, _ := c.pace.eph.sharedX(tx, ty)
	eqHex(t, "shared secret K", k, v.SharedSecretK)
	eqHex(t, "KS_enc", c.pace.ksEnc, v.KSEnc)
	eqHex(t, "KS_mac", c.pace.ksMac, v.KSMac)

	d = ga("GA mutual authentication", false, appendTLV(nil, 0x85, unhex(t, v.TIFD)))
	eqHex(t, "T_IC", d, "8608"+v.TIC)
	if c.sm == nil {
		t.Fatal("no secure messaging after PACE")
	}
	eqHex(t, "session KS_enc", c.sm.ksEnc, v.KSEnc)
	eqHex(t, "session KS_mac", c.sm.ksMac, v.KSMac)
	eqHex(t, "SSC", c.sm.ssc, strings.Repeat("00", 16))

	// A reader with the vector's session keys talks to the chip.
	hr := newCCCDHost(t, c)
	hr.sm = newHostSMAES(unhex(t, v.KSEnc), unhex(t, v.KSMac))
	hr.smExpect("protected SELECT of the eMRTD application", 0xA4, 0x04, 0x0C, AIDPassport, 0, swOK)
}

// TestPACERefusesAWrongTerminalToken: the chip answers 6300 to a wrong
// T_IFD, starts no session, and PACE must begin again.
func TestPACERefusesAWrongTerminalToken(t *testing.T) {
	v := loadPACEVector(t)
	draws := bytes.Join([][]byte{unhex(t, v.NonceS), unhex(t, g1ChipMappingPrivate), unhex(t, g1ChipEphemeralPrivate)}, nil)
	c := New(ModelCCCD, WithRand(bytes.NewReader(draws)))
	info := v.MRZInformation
	c.setMRZ(keySeedInput{info[0:9], info[10:16], info[17:23]})
	c.locked = true
	r := newReader(t, c)
	r.expect("MSE:Set AT", unhex(t, v.MSESetAT), swOK)
	r.expect("GA 1", buildAPDU(0x10, 0x86, 0, 0, []byte{0x7C, 0x00}, 256, false), swOK)
	r.expect("GA 2", buildAPDU(0x10, 0x86, 0, 0, appendTLV(nil, 0x7C, appendTLV(nil, 0x81, v.TerminalMapPub.point(t))), 256, false), swOK)
	r.expect("GA 3", buildAPDU(0x10, 0x86, 0, 0, appendTLV(nil, 0x7C, appendTLV(nil, 0x83, v.TerminalEphPub.point(t))), 256, false), swOK)
	bad := unhex(t, v.TIFD)
	bad[0] ^= 1
	r.expect("GA 4 with a wrong token", buildAPDU(0x00, 0x86, 0, 0, appendTLV(nil, 0x7C, appendTLV(nil, 0x85, bad)), 256, false), swVerificationFailed)
	if c.sm != nil || c.pace != nil {
		t.Fatal("a session or PACE state after a wrong token")
	}
	r.expect("GA after the failure", buildAPDU(0x00, 0x86, 0, 0, appendTLV(nil, 0x7C, appendTLV(nil, 0x85, unhex(t, v.TIFD))), 256, false), swConditionsOfUse)
}
