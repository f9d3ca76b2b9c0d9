package emrtd

import "crypto/sha256"

// Keys made on the cccd chip (cccd.md §4 steps 7-8) and ECDSA Active
// Authentication (§5).

// Key references of the cccd chip.
const (
	keyRefCA = 0x01 // Chip Authentication, ECDH (DG14)
	keyRefAA = 0x02 // Active Authentication, ECDSA (DG15)
)

// generateKeyPair is GENERATE ASYMMETRIC KEY PAIR (ISO/IEC 7816-8 §5.1,
// P1 80: generate and return the public key), inside SCP03 before
// activation:
//
//	00 47 80 00 Lc { 84 01 <key reference>, 06 L <curve OID> } 00
//	→ 7F49 L { 06 L <curve OID>, 86 41 04‖X‖Y }
//
// Key reference 01 is the Chip Authentication key, 02 the Active
// Authentication key; curves brainpoolP256r1 and P-256. The private key
// never leaves the chip. P1-P2 other than 80 00 6A86; a data field other
// than the two objects (either order, each once) 6A80; another key
// reference 6A88; another curve 6A80; a key already there 6A89; an Le
// shorter than the answer 6CXX (nothing generated).
func (c *Chip) generateKeyPair(cmd command, p protection, u *Usage) ([]byte, uint16) {
	if sw := c.persoGate(p); sw != swOK {
		return nil, sw
	}
	if cmd.p1 != 0x80 || cmd.p2 != 0x00 {
		return nil, swIncorrectP1P2
	}
	dos, ok := dataObjects(cmd.data, 0x84, 0x06)
	ref, hasRef := dos[0x84]
	oid, hasOID := dos[0x06]
	if !ok || !hasRef || !hasOID || len(ref) != 1 {
		return nil, swWrongData
	}
	var slot **ecKey
	switch ref[0] {
	case keyRefCA:
		slot = &c.caKey
	case keyRefAA:
		slot = &c.aaEC
	default:
		return nil, swRefDataNotFound
	}
	curve, ok := curveByOID(oid)
	if !ok {
		return nil, swWrongData
	}
	if *slot != nil {
		return nil, swFileExists
	}
	if n := publicKeyDOLen(curve); cmd.hasLe && cmd.ne < n {
		return nil, swWrongLe(n)
	}
	k, err := generateECKey(curve, c.rand)
	if err != nil {
		return nil, swNoPreciseDiagnosis
	}
	*slot = k
	u.ECKeyGens++
	u.EEPROMBytes += curve.size() + 1 + 2*curve.size()
	c.tracef("key %02X generated (%s)", ref[0], curve.name)
	return k.publicKeyDO(), swOK
}

// publicKeyDOLen is the length of the GENERATE answer for a curve.
func publicKeyDOLen(curve *ecCurve) int {
	in := tlvLen(len(curve.oid)) + tlvLen(1+2*curve.size())
	return 2 + len(appendLength(nil, in)) + in
}

// internalAuthenticateEC is ECDSA Active Authentication (ICAO 9303-11
// §6.1; cccd.md §5): INTERNAL AUTHENTICATE 00 88 00 00 08 <challenge> 00 →
// the plain signature r ‖ s (64 bytes on a 256-bit curve, BSI TR-03111
// plain format) over SHA-256 of the challenge with the key of reference 02.
// Once operational only under secure messaging (plain 6982); before,
// inside SCP03 (so that the station may try the key). No key 6982; P1-P2
// other than 00 00 6A86; Lc other than 8 6700; outside the eMRTD
// application 6985; a signature larger than the response room 6700, than
// Ne 6CXX inside SCP03 and 6700 under secure messaging.
func (c *Chip) internalAuthenticateEC(cmd command, p protection, room int, u *Usage) ([]byte, uint16) {
	want := underSM
	if !c.locked {
		want = underSCP03
	}
	if p != want {
		return nil, swSecurityStatus
	}
	if !c.inApplication() {
		return nil, swConditionsOfUse
	}
	if cmd.p1p2() != 0 {
		return nil, swIncorrectP1P2
	}
	if len(cmd.data) != aaChallenge {
		return nil, swWrongLength
	}
	if c.aaEC == nil {
		return nil, swSecurityStatus
	}
	size := 2 * c.aaEC.curve.size()
	if size > room {
		return nil, swWrongLength
	}
	if size > cmd.neOrDefault() {
		if p == underSM {
			return nil, swWrongLength
		}
		return nil, swWrongLe(size)
	}
	digest := sha256.Sum256(cmd.data)
	sig, err := c.aaEC.signPlain(digest[:], c.rand)
	if err != nil {
		return nil, swNoPreciseDiagnosis
	}
	u.ECOps++
	return sig, swOK
}
