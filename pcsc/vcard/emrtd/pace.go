package emrtd

import (
	"crypto/subtle"
	"io"
	"math/big"
)

// PACE from the chip's side (ICAO 9303-11 §4.4): Generic Mapping, ECDH on
// brainpoolP256r1, AES-128 (id-PACE-ECDH-GM-AES-CBC-CMAC-128, parameterId
// 13), with the MRZ (password reference 01) or the CAN (02). Then AES
// secure messaging with SSC 0 (§9.8). Known-answer test: ICAO 9303-11
// Appendix G.1 (pace_kat_test.go).

// Password references (ICAO 9303-11 §4.4).
const (
	pacePasswordMRZ = 0x01
	pacePasswordCAN = 0x02
)

// paceNonceLen is the length of the nonce s: the block size of AES (ICAO
// 9303-11 §4.4).
const paceNonceLen = 16

// paceResponseLen is the length of the chip's answer to each GENERAL
// AUTHENTICATE step on a 256-bit curve: 7C 12 80 10 z; 7C 43 82 41 point;
// 7C 43 84 41 point; 7C 0A 86 08 token.
var paceResponseLen = [4]int{20, 69, 69, 12}

// paceState is a PACE run between MSE:Set AT and the last GENERAL
// AUTHENTICATE. Secret: never printed.
type paceState struct {
	step     int // GENERAL AUTHENTICATE steps done: 0-3
	password byte
	kPi      []byte
	curve    *ecCurve
	s        []byte   // the nonce
	gx, gy   *big.Int // the mapped generator Ĝ
	eph      *ecKey   // the chip's ephemeral key pair on Ĝ (x, y = SK·Ĝ)
	pcdX     *big.Int // the terminal's ephemeral public key
	pcdY     *big.Int
	ksEnc    []byte
	ksMac    []byte
}

func (p *paceState) String() string { return "paceState{" + redacted + "}" }

// msePACE is MSE:Set AT for PACE (00 22 C1 A4; ICAO 9303-11 §4.4): 80 the
// protocol OID (id-PACE-ECDH-GM-AES-CBC-CMAC-128), 83 the password
// reference (01 MRZ, 02 CAN), 84 the standardized domain parameters (13,
// optional: the chip has one PACEInfo); a CHAT (7F4C) is ignored (no
// Terminal Authentication). Another protocol or domain parameter, or
// anything else, 6A80; a password the chip does not hold 6A88. Accepted
// with the MF, the card manager or the eMRTD application current.
func (c *Chip) msePACE(cmd command) ([]byte, uint16) {
	dos, ok := dataObjects(cmd.data, 0x80, 0x83, 0x84, 0x7F4C)
	oid, hasOID := dos[0x80]
	ref, hasRef := dos[0x83]
	if !ok || !hasOID || !hasRef || !oidIs(oid, oidPACE) || len(ref) != 1 {
		return nil, swWrongData
	}
	if param, has := dos[0x84]; has && (len(param) != 1 || param[0] != paceParamBrainpoolP256r1) {
		return nil, swWrongData
	}
	var kPi []byte
	switch ref[0] {
	case pacePasswordMRZ:
		kPi = c.kPiMRZ
	case pacePasswordCAN:
		kPi = c.kPiCAN
	}
	if kPi == nil {
		return nil, swRefDataNotFound
	}
	c.pace = &paceState{password: ref[0], kPi: kPi, curve: curveBrainpoolP256r1}
	return nil, swOK
}

// paceStep is one GENERAL AUTHENTICATE of PACE (ICAO 9303-11 §4.4, data in a
// 7C dynamic authentication data object):
//
//	1  7C 00                → 7C { 80 E(K_π, s) }      encrypted nonce
//	2  7C { 81 PK_map,PCD } → 7C { 82 PK_map,PICC }    mapping (Generic Mapping)
//	3  7C { 83 PK_PCD }     → 7C { 84 PK_PICC }        key agreement on Ĝ
//	4  7C { 85 T_PCD }      → 7C { 86 T_PICC }         mutual authentication
//
// Steps 1-3 come chained (CLA 10), step 4 not (CLA 00). Any error ends the
// PACE run: a chained step 4 6883, an unchained step 1-3 6985, malformed
// data or an invalid point 6A80, a wrong token T_PCD 6300. An Le short of
// the answer 6CXX, the run kept.
func (c *Chip) paceStep(cmd command, u *Usage) ([]byte, uint16) {
	p := c.pace
	c.pace = nil // put back only when the step succeeds
	chained := cmd.cla&0x10 != 0
	switch {
	case p.step == 3 && chained:
		return nil, swLastCommandExpected
	case p.step < 3 && !chained:
		return nil, swConditionsOfUse
	}
	if n := paceResponseLen[p.step]; cmd.neOrDefault() < n {
		c.pace = p // nothing consumed: the terminal may send it again
		return nil, swWrongLe(n)
	}
	in, ok := singleTemplate(cmd.data, 0x7C)
	if !ok {
		return nil, swWrongData
	}
	var resp []byte
	var sw uint16
	switch p.step {
	case 0:
		resp, sw = c.paceNonce(p, in)
	case 1:
		resp, sw = c.paceMap(p, in, u)
	case 2:
		resp, sw = c.paceAgree(p, in, u)
	case 3:
		return c.paceMutualAuthenticate(p, in, u)
	}
	if sw == swOK {
		p.step++
		c.pace = p
	}
	return resp, sw
}

// paceNonce draws s and sends z = E(K_π, s): AES-CBC with IV 0 over the one
// block (ICAO 9303-11 §4.4).
func (c *Chip) paceNonce(p *paceState, in []byte) ([]byte, uint16) {
	if len(in) != 0 {
		return nil, swWrongData
	}
	p.s = make([]byte, paceNonceLen)
	if _, err := io.ReadFull(c.rand, p.s); err != nil {
		return nil, swNoPreciseDiagnosis
	}
	z := aesCBCEncrypt(newAES(p.kPi), make([]byte, aesBlock), p.s)
	return appendTLV(nil, 0x7C, appendTLV(nil, 0x80, z)), swOK
}

// paceMap is the Generic Mapping (ICAO 9303-11 §4.4): the chip's
// mapping key pair (SK, PK = SK·G), H = SK·PK_map,PCD, and the mapped
// generator Ĝ = s·G + H.
func (c *Chip) paceMap(p *paceState, in []byte, u *Usage) ([]byte, uint16) {
	v, ok := singleTemplate(in, 0x81)
	if !ok {
		return nil, swWrongData
	}
	tx, ty, ok := p.curve.decodePoint(v)
	if !ok {
		return nil, swWrongData
	}
	mapKey, err := generateECKey(p.curve, c.rand)
	if err != nil {
		return nil, swNoPreciseDiagnosis
	}
	cv := p.curve.curve
	hx, hy := cv.ScalarMult(tx, ty, p.curve.fe2os(mapKey.d))
	if isInfinity(hx, hy) {
		return nil, swWrongData
	}
	sx, sy := cv.ScalarBaseMult(p.s)
	p.gx, p.gy = cv.Add(sx, sy, hx, hy)
	if isInfinity(p.gx, p.gy) {
		return nil, swWrongData
	}
	u.ECOps += 3
	return appendTLV(nil, 0x7C, appendTLV(nil, 0x82, mapKey.public())), swOK
}

// paceAgree is the key agreement on the mapped generator (ICAO 9303-11
// §4.4, §9.6): the chip's ephemeral key pair (SK, PK = SK·Ĝ); the
// terminal's PK_PCD must be a valid point and differ from PK_PICC; K = the
// x-coordinate of SK·PK_PCD, FE2OS with its leading zeros; KS_enc = KDF(K,
// 1), KS_mac = KDF(K, 2) (§9.7.1, AES-128).
func (c *Chip) paceAgree(p *paceState, in []byte, u *Usage) ([]byte, uint16) {
	v, ok := singleTemplate(in, 0x83)
	if !ok {
		return nil, swWrongData
	}
	px, py, ok := p.curve.decodePoint(v)
	if !ok {
		return nil, swWrongData
	}
	sk, err := p.curve.randomScalar(c.rand)
	if err != nil {
		return nil, swNoPreciseDiagnosis
	}
	cv := p.curve.curve
	ex, ey := cv.ScalarMult(p.gx, p.gy, p.curve.fe2os(sk))
	p.eph = &ecKey{curve: p.curve, d: sk, x: ex, y: ey}
	if px.Cmp(ex) == 0 && py.Cmp(ey) == 0 {
		return nil, swWrongData // §4.4: the chip checks PK_PCD ≠ PK_PICC
	}
	k, ok := p.eph.sharedX(px, py)
	if !ok {
		return nil, swWrongData
	}
	p.pcdX, p.pcdY = px, py
	p.ksEnc, p.ksMac = icaoKDFAES128(k, kdfEnc), icaoKDFAES128(k, kdfMac)
	u.ECOps += 2
	return appendTLV(nil, 0x7C, appendTLV(nil, 0x84, p.eph.public())), swOK
}

// paceToken is the authentication token (ICAO 9303-11 §4.4): the 8-byte
// AES-CMAC, under KS_mac, of the public key data object (§9.4) of the
// other side's ephemeral key, 7F49 { 06 the PACE OID, 86 the point }.
func paceToken(ksMac []byte, curve *ecCurve, x, y *big.Int) []byte {
	var in []byte
	in = appendTLV(in, 0x06, oidPACE)
	in = appendTLV(in, 0x86, curve.encodePoint(x, y))
	return aesCMAC(ksMac, appendTLV(nil, 0x7F49, in))[:8]
}

// paceMutualAuthenticate checks T_PCD = MAC(KS_mac, PK_PICC), answers T_PICC
// = MAC(KS_mac, PK_PCD) and starts AES secure messaging with SSC 0.
func (c *Chip) paceMutualAuthenticate(p *paceState, in []byte, u *Usage) ([]byte, uint16) {
	v, ok := singleTemplate(in, 0x85)
	if !ok || len(v) != 8 {
		return nil, swWrongData
	}
	want := paceToken(p.ksMac, p.curve, p.eph.x, p.eph.y)
	if subtle.ConstantTimeCompare(v, want) != 1 {
		return nil, swVerificationFailed
	}
	tIC := paceToken(p.ksMac, p.curve, p.pcdX, p.pcdY)
	c.sm = newAESSMSession(p.ksEnc, p.ksMac)
	u.Keys++
	who := "MRZ"
	if p.password == pacePasswordCAN {
		who = "CAN"
	}
	c.tracef("PACE established (%s), secure messaging on", who)
	return appendTLV(nil, 0x7C, appendTLV(nil, 0x86, tIC)), swOK
}
