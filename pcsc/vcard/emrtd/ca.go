package emrtd

// Chip Authentication version 1 with AES from the chip's side (ICAO 9303-11
// §6.2; cccd.md §5): ECDH between the static key of reference 01 (DG14's
// ChipAuthenticationPublicKeyInfo) and the terminal's ephemeral key, then
// secure messaging restarts with AES keys from the shared secret and SSC 0.
// Accepted at any point of a PACE or BAC session (after the data groups
// were read, after Active Authentication, and again).

// mseCA is MSE:Set AT for Chip Authentication (00 22 41 A4, under secure
// messaging): 80 id-CA-ECDH-AES-CBC-CMAC-128, 84 the key reference
// (optional; the chip has one CA key, reference 01). Another protocol or
// anything else 6A80; another key reference 6A88.
func (c *Chip) mseCA(cmd command) ([]byte, uint16) {
	dos, ok := dataObjects(cmd.data, 0x80, 0x84)
	oid, hasOID := dos[0x80]
	if !ok || !hasOID || !oidIs(oid, oidCA) {
		return nil, swWrongData
	}
	if ref, has := dos[0x84]; has && (len(ref) != 1 || ref[0] != keyRefCA) {
		return nil, swRefDataNotFound
	}
	if c.caKey == nil {
		return nil, swRefDataNotFound
	}
	c.caReady = true
	return nil, swOK
}

// caAuthenticate is GENERAL AUTHENTICATE of Chip Authentication (00 86 00 00
// { 7C { 80 <ephemeral public key 04‖X‖Y> } }, not chained): K = the
// x-coordinate of SK_CA·PK_PCD (FE2OS), KS_enc = KDF(K, 1), KS_mac = KDF(K,
// 2) (§9.7.1, AES-128). The answer 7C 00 goes back under the current
// session; the next command is under the new keys, SSC 0. A point not on
// the key's curve or malformed data 6A80 (the session stays); a chained
// command 6985; an Le of 1 6700.
func (c *Chip) caAuthenticate(cmd command, u *Usage) ([]byte, uint16) {
	c.caReady = false
	if cmd.cla&0x10 != 0 {
		return nil, swConditionsOfUse
	}
	if cmd.neOrDefault() < 2 {
		return nil, swWrongLength
	}
	in, ok := singleTemplate(cmd.data, 0x7C)
	if !ok {
		return nil, swWrongData
	}
	v, ok := singleTemplate(in, 0x80)
	if !ok {
		return nil, swWrongData
	}
	px, py, ok := c.caKey.curve.decodePoint(v)
	if !ok {
		return nil, swWrongData
	}
	k, ok := c.caKey.sharedX(px, py)
	if !ok {
		return nil, swWrongData
	}
	c.smNext = newAESSMSession(icaoKDFAES128(k, kdfEnc), icaoKDFAES128(k, kdfMac))
	u.ECOps++
	u.Keys++
	return appendTLV(nil, 0x7C, nil), swOK
}
