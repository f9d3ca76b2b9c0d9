package emrtd

import "bytes"

// The cccd model's file system (cccd.md §2): the MF holds EF.CardAccess
// (011C) only; the eMRTD application DF holds EF.COM, EF.SOD and DG1-DG16.
// One map holds both: 011C is the MF's file, every other FID the
// application's.

const fidCardAccess = 0x011C

// cccdFID says whether a FID names a file of the cccd file system: DG1-DG16
// (0101-0110), EF.SOD (011D) and EF.COM (011E) in the application,
// EF.CardAccess (011C) in the MF.
func cccdFID(fid uint16) bool {
	return (fid >= 0x0101 && fid <= 0x0110) || fid == fidCardAccess || fid == 0x011D || fid == 0x011E
}

// creatableFIDFor is the model's set of file identifiers.
func (c *Chip) creatableFIDFor(fid uint16) bool {
	if c.cccdModel() {
		return cccdFID(fid)
	}
	return creatableFID(fid)
}

// cccdSelect is SELECT (ISO/IEC 7816-4 §11.2.2):
//
//   - P1 04, by AID: the eMRTD application or the card manager. In plain it
//     ends every session; under secure messaging only the eMRTD
//     application, keeping the session (after PACE at the MF the reader
//     selects it protected); inside SCP03 it ends the session.
//   - P1 02 (and P1 00 with a FID before activation), an EF by FID, P2 0C
//     or 00 (answered without FCI): EF.CardAccess from anywhere; the
//     application's EFs while it is selected — after activation only under
//     secure messaging (6982 otherwise) and never DG3/DG4 (6982: Terminal
//     Authentication). A missing file answers 6A82 and clears the EF
//     selection.
//   - P1 00 (the MF, or an EF by FID): 6A82 for 3F00 (or no data) before
//     activation; 6D00 once operational, as real CCCD chips answer
//     (chip-data.md §1).
//   - other P1 (DF, parent, path) or P2: 6A86.
func (c *Chip) cccdSelect(cmd command, p protection) ([]byte, uint16) {
	if cmd.p1 == 0x04 {
		return c.cccdSelectAID(cmd, p)
	}
	if cmd.p1 == 0x00 && c.locked {
		return nil, swINSNotSupported
	}
	if (cmd.p1 != 0x00 && cmd.p1 != 0x02) || (cmd.p2 != 0x00 && cmd.p2 != 0x0C) {
		return nil, swIncorrectP1P2
	}
	if cmd.p1 == 0x00 && len(cmd.data) == 0 {
		return nil, swFileNotFound // the MF is not selectable (cccd.md §2)
	}
	if len(cmd.data) != 2 {
		return nil, swWrongLength
	}
	fid := uint16(cmd.data[0])<<8 | uint16(cmd.data[1])
	if fid != fidCardAccess {
		if !c.inApplication() {
			c.hasSelected = false
			return nil, swFileNotFound // not in the MF
		}
		if c.locked && (p != underSM || eacProtected(fid)) {
			return nil, swSecurityStatus
		}
	}
	if _, ok := c.files[fid]; !ok || !cccdFID(fid) {
		c.hasSelected = false
		return nil, swFileNotFound
	}
	c.selected, c.hasSelected = fid, true
	return nil, swOK
}

// cccdSelectAID selects an application by AID (P1 04).
func (c *Chip) cccdSelectAID(cmd command, p protection) ([]byte, uint16) {
	switch p {
	case underSM:
		if cmd.p2 != 0x00 && cmd.p2 != 0x0C {
			return nil, swIncorrectP1P2
		}
		if !bytes.Equal(cmd.data, AIDPassport) {
			return nil, swFileNotFound
		}
		c.app, c.hasSelected = appPassport, false
		return nil, swOK
	case underSCP03:
		c.endSCP("application selected")
	}
	resp := c.selectApplication(cmd)
	sw := statusWordOf(resp)
	if sw == swOK && c.app == appCardManager {
		// The card manager has no files: EF.CardAccess is the MF's.
		c.hasSelected = false
	}
	return resp[:len(resp)-2], sw
}

// cccdReadBinary is READ BINARY (ISO/IEC 7816-4 §11.3.3) with the access
// rules of cccd.md §2: EF.CardAccess in plain in every state; the
// application's EFs inside SCP03 before activation and under secure
// messaging after (6982 otherwise).
func (c *Chip) cccdReadBinary(cmd command, p protection, room int) ([]byte, uint16) {
	if cmd.p1&0x80 != 0 {
		return nil, swIncorrectP1P2
	}
	if len(cmd.data) != 0 {
		return nil, swWrongLength
	}
	if !c.hasSelected {
		return nil, swNoCurrentEF
	}
	if c.selected != fidCardAccess {
		want := underSCP03
		if c.locked {
			want = underSM
		}
		if p != want {
			return nil, swSecurityStatus
		}
	}
	return c.readBinary(cmd, true, room)
}

// createFileFCP is CREATE FILE (ISO/IEC 7816-9) with an FCP template
// (ISO/IEC 7816-4 §7.4), parsed strictly:
//
//	62 L { 80 01|02 <size>, 82 01 01, 83 02 <FID> [, 8C <compact security attributes>] }
//
// in any order, each once, nothing else. 80: the number of data bytes
// (1-32767: offsets are 15 bits); 82: a working transparent EF (01, no data
// coding byte); 83: a FID of the cccd file system; 8C: compact format
// (§7.4.3: an access mode byte with b8 = 0, then one security condition
// byte per bit set in b7-b1) — checked, then ignored: the chip applies the
// eMRTD access rules whatever it says (cccd.md §4). EF.CardAccess is created
// in the MF whatever DF is current (ICAO 9303-10 §3.11.2).
//
// The new EF is zero-filled and becomes the current EF (ISO/IEC 7816-9:
// the created file is the current file). Answers: P1-P2 other than 00 00 6A86; a data field that is not
// one 62 object with its length matching Nc 6A85; anything wrong inside
// 6A80; FID exists 6A89; no room 6A84.
func (c *Chip) createFileFCP(cmd command, p protection, u *Usage) ([]byte, uint16) {
	if sw := c.persoGate(p); sw != swOK {
		return nil, sw
	}
	if cmd.p1p2() != 0 {
		return nil, swIncorrectP1P2
	}
	if len(cmd.data) == 0 {
		return nil, swWrongLength
	}
	t, fcp, rest, ok := readTLV(cmd.data)
	switch {
	case cmd.data[0] != 0x62:
		return nil, swWrongData
	case !ok || len(rest) != 0 || t != 0x62:
		return nil, swNcInconsistentTLV
	}
	dos, ok := dataObjects(fcp, 0x80, 0x82, 0x83, 0x8C)
	if !ok {
		return nil, swWrongData
	}
	sizeField, hasSize := dos[0x80]
	desc, hasDesc := dos[0x82]
	fidField, hasFID := dos[0x83]
	if !hasSize || !hasDesc || !hasFID || len(sizeField) < 1 || len(sizeField) > 2 ||
		len(desc) != 1 || desc[0] != 0x01 || len(fidField) != 2 {
		return nil, swWrongData
	}
	if sa, has := dos[0x8C]; has && !compactSecurityAttributeOK(sa) {
		return nil, swWrongData
	}
	size := 0
	for _, b := range sizeField {
		size = size<<8 | int(b)
	}
	fid := uint16(fidField[0])<<8 | uint16(fidField[1])
	if !cccdFID(fid) {
		return nil, swWrongData
	}
	if sw := c.allocateFile(fid, size, u); sw != swOK {
		return nil, sw
	}
	c.selected, c.hasSelected = fid, true
	return nil, swOK
}

// compactSecurityAttributeOK checks the structure of a compact security
// attribute (ISO/IEC 7816-4 §7.4.3): an access mode byte with b8 = 0,
// followed by exactly one security condition byte for each of b7-b1 set.
func compactSecurityAttributeOK(sa []byte) bool {
	if len(sa) < 1 || sa[0]&0x80 != 0 {
		return false
	}
	n := 0
	for am := sa[0] & 0x7F; am != 0; am >>= 1 {
		n += int(am & 1)
	}
	return len(sa) == 1+n
}

func statusWordOf(resp []byte) uint16 {
	return uint16(resp[len(resp)-2])<<8 | uint16(resp[len(resp)-1])
}
