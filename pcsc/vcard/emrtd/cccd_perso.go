package emrtd

// The cccd model's personalization commands (cccd.md §4) other than the
// file system's: the SCP03 handshake, PUT DATA of the MRZ and the CAN, and
// ACTIVATE FILE.

// PUT DATA tags of the cccd model (cccd.md §4 steps 10-11).
const putCAN = 0x0063

// scpIUResponseLen is the length of the INITIALIZE UPDATE answer with a
// pseudo-random challenge.
const scpIUResponseLen = 32

// scpInitializeUpdate is INITIALIZE UPDATE (GP Amd D §7.1.1):
// 80 50 KVN 00 08 <host challenge> [00], plain, with the eMRTD application
// selected (it is its own security domain). P1 is the key version (00: the
// one the chip has), other versions 6A88; P2 other than 00 6A86; Lc other
// than 8 6700; an Le short of 32 6C20. The sequence counter goes up by one (persistently) and
// derives the card challenge; the answer is
//
//	diversification data (10) ‖ KVN ‖ 03 ‖ 70 ‖ card challenge (8) ‖
//	card cryptogram (8) ‖ sequence counter (3)
//
// Once the chip is operational: 6985 (before this function is reached).
// Elsewhere than in the eMRTD application (MF, card manager): 6D00.
func (c *Chip) scpInitializeUpdate(cmd command, p protection, u *Usage) ([]byte, uint16, error) {
	if !c.inApplication() {
		return nil, swINSNotSupported, nil
	}
	if p != plain {
		return nil, swConditionsOfUse, nil // never wrapped: it opens the session
	}
	if cmd.p2 != 0x00 {
		return nil, swIncorrectP1P2, nil
	}
	if cmd.p1 != 0x00 && cmd.p1 != c.scpKeys.kvn {
		return nil, swRefDataNotFound, nil
	}
	if len(cmd.data) != 8 {
		return nil, swWrongLength, nil
	}
	if cmd.hasLe && cmd.ne < scpIUResponseLen {
		return nil, swWrongLe(scpIUResponseLen), nil // nothing consumed
	}
	if c.scpSeq >= scpSeqMax {
		return nil, swConditionsOfUse, nil // the counter is exhausted: the keys must be replaced
	}
	c.scpSeq++
	u.EEPROMBytes += 3
	cardChallenge := c.scpKeys.cardChallenge(c.scpSeq, c.scpAID)
	s := c.scpKeys.open(cmd.data, cardChallenge)
	u.Keys++ // three session keys and two cryptograms

	resp := make([]byte, 0, scpIUResponseLen)
	resp = append(resp, c.diversificationData()...)
	resp = append(resp, c.scpKeys.kvn, 0x03, scpIParam)
	resp = append(resp, cardChallenge...)
	resp = append(resp, s.cardCryptogram()...)
	resp = append(resp, byte(c.scpSeq>>16), byte(c.scpSeq>>8), byte(c.scpSeq))
	c.scpInit = s
	return resp, swOK, nil
}

// scpExternalAuthenticate is EXTERNAL AUTHENTICATE of SCP03 (GP Amd D
// §7.1.2): 84 82 <security level> 00 10 <host cryptogram> <C-MAC>,
// right after INITIALIZE UPDATE (which it consumes, whatever the outcome).
// The chip accepts security levels 13 (C-MAC, C-DECRYPTION, R-MAC) and 33
// (and R-ENCRYPTION) only: any other 6982 (cccd.md §4 step 3). P2 other than
// 00 6A86; Lc other than 16 6700; a wrong C-MAC or host cryptogram 6300. The
// answer is not protected.
func (c *Chip) scpExternalAuthenticate(cmd command) ([]byte, uint16) {
	s := c.scpInit
	c.scpInit = nil
	switch {
	case c.locked:
		return nil, swConditionsOfUse
	case cmd.p2 != 0x00:
		return nil, swIncorrectP1P2
	case len(cmd.data) != 16:
		return nil, swWrongLength
	case cmd.p1 != 0x13 && cmd.p1 != 0x33:
		return nil, swSecurityStatus
	}
	if !s.externalAuthenticate(cmd) {
		return nil, swVerificationFailed
	}
	c.scp = s
	c.tracef("SCP03 session open, security level %02X", s.level)
	return nil, swOK
}

// putDataCCCD is PUT DATA (ISO/IEC 7816-4) of the secrets, inside
// SCP03 before activation (cccd.md §4 steps 10-11):
//
//	00 DA 00 62  62 L { 04 09 <document number>, 04 06 <date of birth>, 04 06 <date of expiry> }
//	00 DA 00 63  63 L { 04 06 <CAN> }
//
// The chip computes the check digits, MRZ_information, the BAC keys and
// K_π of the MRZ; K_π of the CAN. A field outside the MRZ alphabet, a CAN
// that is not 6 digits, or a malformed template 6A80; other P1-P2 6A86. A
// second PUT DATA replaces the first.
func (c *Chip) putDataCCCD(cmd command, p protection, u *Usage) ([]byte, uint16) {
	if sw := c.persoGate(p); sw != swOK {
		return nil, sw
	}
	switch cmd.p1p2() {
	case putMRZ:
		return c.putMRZ(cmd, u)
	case putCAN:
		v, ok := singleOctetString(cmd.data, 0x63)
		if !ok || len(v) != 6 {
			return nil, swWrongData
		}
		for _, d := range v {
			if d < '0' || d > '9' {
				return nil, swWrongData
			}
		}
		c.setCAN(string(v))
		u.Keys++
		u.EEPROMBytes += 6 + 16
		return nil, swOK
	}
	return nil, swIncorrectP1P2
}

// setCAN stores the CAN and K_π of the CAN password (ICAO 9303-11 §9.7.3:
// f(π) = the CAN as characters, KDF_π counter 3).
func (c *Chip) setCAN(can string) {
	c.can = can
	c.kPiCAN = icaoKDFAES128([]byte(can), kdfPACE)
}

// activateFile is ACTIVATE FILE (ISO/IEC 7816-9 §8: P1 00, no data, the
// current application): the chip becomes operational (cccd.md §4 step 12),
// for good. Inside SCP03 only; it refuses (6985) unless EF.CardAccess,
// EF.COM, EF.SOD, both keys, the MRZ secrets and the CAN exist. P1-P2 other
// than 00 00 6A86; a data field 6700.
func (c *Chip) activateFile(cmd command, p protection) ([]byte, uint16) {
	if sw := c.persoGate(p); sw != swOK {
		return nil, sw
	}
	if cmd.p1p2() != 0 {
		return nil, swIncorrectP1P2
	}
	if len(cmd.data) != 0 {
		return nil, swWrongLength
	}
	for _, fid := range []uint16{fidCardAccess, 0x011E, 0x011D} {
		if _, ok := c.files[fid]; !ok {
			return nil, swConditionsOfUse
		}
	}
	if c.caKey == nil || c.aaEC == nil || c.mrz == nil || c.can == "" {
		return nil, swConditionsOfUse
	}
	c.locked = true
	c.tracef("operational (ACTIVATE FILE)")
	return nil, swOK
}
