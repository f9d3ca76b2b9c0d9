package emrtd

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"io"

	"github.com/cccd-station/station/pcsc/vcard"
)

// Instructions of the JMRTD passport applet.
const (
	insExternalAuthenticate = 0x82
	insGetChallenge         = 0x84
	insInternalAuthenticate = 0x88
	insSelectFile           = 0xA4
	insReadBinary           = 0xB0
	insUpdateBinary         = 0xD6
	insCreateFile           = 0xE0
	insPutData              = 0xDA
)

// PUT DATA tags (P1 P2) of the JMRTD applet.
const (
	putAAModulus  = 0x0060
	putAAExponent = 0x0061
	putMRZ        = 0x0062
	putLock       = 0xDEAD
)

// maxFileSize is the largest EF the applet can create: its sizes are Java
// shorts.
const maxFileSize = 32767

// creatableFIDs are the EFs of the JMRTD applet's file system (its
// FileSystem class maps exactly these): DG1-DG15, EF.CVCA, EF.SOD, EF.COM.
func creatableFID(fid uint16) bool {
	return (fid >= 0x0101 && fid <= 0x010F) || fid == 0x011C || fid == 0x011D || fid == 0x011E
}

// eacProtected are the data groups that need Terminal Authentication (EAC)
// once the chip is locked: DG3 (fingerprints) and DG4 (iris). This chip has no
// Terminal Authentication, so after lock they cannot be selected (6982), as
// on the JMRTD applet without a terminal certificate chain.
func eacProtected(fid uint16) bool { return fid == 0x0103 || fid == 0x0104 }

// passport routes a command to the JMRTD applet: CLA 00/10 in plain, 0C/1C
// under secure messaging.
func (c *Chip) passport(cmd command, u *Usage) ([]byte, error) {
	var protected bool
	switch cmd.cla {
	case 0x00, 0x10:
	case 0x0C, 0x1C:
		protected = true
	default:
		return status(unsupportedCLA(cmd.cla)), nil
	}
	if !protected {
		if c.sm != nil {
			// A plain command while secure messaging is established aborts
			// the session (ICAO 9303-11 §9.8; ISO/IEC 7816-4 §10: expected SM
			// data objects missing).
			c.endSession("plain command during secure messaging")
			return status(swSMObjectsMissing), nil
		}
		data, sw, err := c.applet(cmd, false, c.model.MaxResponseData, u)
		if err != nil {
			return nil, err
		}
		return respond(data, sw), nil
	}
	inner, refused := c.unwrapSM(cmd)
	if refused != nil {
		return refused, nil
	}
	room := maxPlainFor(min(cmd.neOrDefault(), c.model.MaxResponseData))
	data, sw, err := c.applet(inner, true, room, u)
	if err != nil {
		return nil, err
	}
	if c.sm == nil { // cannot happen today; never answer in plain by accident
		return status(swSMObjectsIncorrect), nil
	}
	return c.sm.wrap(data, sw), nil
}

// unwrapSM unwraps a command protected by the reader's secure messaging
// (ICAO 9303-11 §9.8) and traces it; when it cannot (no session, or a
// protection error, which ends the session) the response to send instead
// is returned.
func (c *Chip) unwrapSM(cmd command) (command, []byte) {
	if c.sm == nil {
		return command{}, status(swSMNotSupported)
	}
	inner, sw := c.sm.unwrap(cmd)
	if sw != swOK {
		c.endSession("secure messaging error")
		return command{}, status(sw)
	}
	le := "-"
	if inner.hasLe {
		le = fmt.Sprint(inner.ne)
	}
	c.traceInner = fmt.Sprintf("SM %s Lc=%d Le=%s", inner.header(), len(inner.data), le)
	return inner, nil
}

// endSession drops the secure messaging session: the chip needs BAC (or
// PACE) again.
func (c *Chip) endSession(why string) {
	if c.sm != nil {
		c.tracef("secure messaging ended: %s", why)
	}
	c.sm = nil
	c.smNext = nil
	c.challenge = nil
	c.caReady = false
	c.pace = nil
}

// applet runs one (unwrapped) command in the applet. room is the largest
// plain response the transport can carry back. It returns the response data
// and status word, or vcard.ErrRemoved when a tear fault cut the power.
func (c *Chip) applet(cmd command, sm bool, room int, u *Usage) ([]byte, uint16, error) {
	// Command chaining (ISO/IEC 7816-4, CLA b5), for PUT DATA only. A
	// command that does not continue the chain aborts it.
	chained := cmd.cla&0x10 != 0
	if c.chain.active && (cmd.ins != c.chain.ins || cmd.p1 != c.chain.p1 || cmd.p2 != c.chain.p2 || sm != c.chain.protected) {
		c.chain = chainState{}
	}
	if chained {
		if cmd.ins != insPutData {
			c.chain = chainState{}
			return nil, swChainingUnsupported, nil
		}
		if c.locked {
			c.chain = chainState{}
			return nil, swConditionsOfUse, nil
		}
		if !c.chain.active {
			c.chain = chainState{active: true, ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, protected: sm}
		}
		if len(c.chain.buf)+len(cmd.data) > maxChainData {
			c.chain = chainState{}
			return nil, swWrongLength, nil
		}
		c.chain.buf = append(c.chain.buf, cmd.data...)
		return nil, swOK, nil
	}
	if c.chain.active { // the last command of the chain
		if len(c.chain.buf)+len(cmd.data) > maxChainData {
			c.chain = chainState{}
			return nil, swWrongLength, nil
		}
		cmd.data = append(c.chain.buf, cmd.data...)
		c.chain = chainState{}
	}

	switch cmd.ins {
	case insGetChallenge:
		return c.getChallenge(cmd, sm)
	case insExternalAuthenticate:
		return c.externalAuthenticate(cmd, sm, u)
	case insInternalAuthenticate:
		return c.internalAuthenticate(cmd, sm, room, u)
	case insSelectFile:
		d, sw := c.selectFile(cmd, sm)
		return d, sw, nil
	case insReadBinary:
		d, sw := c.readBinary(cmd, sm, room)
		return d, sw, nil
	case insUpdateBinary:
		return c.updateBinary(cmd, u)
	case insCreateFile:
		d, sw := c.createFile(cmd, u)
		return d, sw, nil
	case insPutData:
		d, sw := c.putData(cmd, u)
		return d, sw, nil
	}
	return nil, swINSNotSupported, nil
}

// getChallenge is GET CHALLENGE for BAC (ICAO 9303-11 §4.3): 8 random
// bytes, RND.IC, kept for the EXTERNAL AUTHENTICATE that follows. It needs
// the MRZ key seed (6982 without); it works before and after lock. A data
// field or no Le answers 6700; an Le other than 08 answers 6C08 (the exact
// length, ISO/IEC 7816-4 §5.6).
func (c *Chip) getChallenge(cmd command, sm bool) ([]byte, uint16, error) {
	if sm { // GET CHALLENGE under SM is Terminal Authentication (EAC): not supported
		return nil, swSecurityStatus, nil
	}
	if cmd.p1p2() != 0 {
		return nil, swIncorrectP1P2, nil
	}
	if len(cmd.data) != 0 || !cmd.hasLe {
		return nil, swWrongLength, nil
	}
	if cmd.ne != 8 {
		return nil, swWrongLe(8), nil
	}
	if c.mrz == nil {
		return nil, swSecurityStatus, nil
	}
	rnd := make([]byte, 8)
	if _, err := io.ReadFull(c.rand, rnd); err != nil {
		return nil, swNoPreciseDiagnosis, nil
	}
	c.challenge = rnd
	return append([]byte(nil), rnd...), swOK, nil
}

// externalAuthenticate completes BAC (ICAO 9303-11 §4.3, §9.7, §9.8;
// worked example in Appendix D): it checks M.IFD over E.IFD with K_mac,
// decrypts E.IFD with K_enc into RND.IFD ‖ RND.IC ‖ K.IFD, checks RND.IC, draws K.IC, answers
// E.IC ‖ M.IC with E.IC = 3DES(K_enc, RND.IC ‖ RND.IFD ‖ K.IC), and
// establishes secure messaging with keys from K.IFD ⊕ K.IC and SSC = the
// last 4 bytes of RND.IC ‖ the last 4 bytes of RND.IFD. A wrong MAC or
// cryptogram answers 6300 and leaves the chip unauthenticated. The challenge
// is consumed either way.
func (c *Chip) externalAuthenticate(cmd command, sm bool, u *Usage) ([]byte, uint16, error) {
	if sm { // EXTERNAL AUTHENTICATE under SM is Terminal Authentication (EAC)
		return nil, swSecurityStatus, nil
	}
	if cmd.p1p2() != 0 {
		return nil, swIncorrectP1P2, nil
	}
	if len(cmd.data) != 40 {
		return nil, swWrongLength, nil
	}
	if cmd.hasLe && cmd.ne < 40 { // nothing consumed: the host may send it again with Le 28
		return nil, swWrongLe(40), nil
	}
	if c.challenge == nil || c.mrz == nil {
		return nil, swSecurityStatus, nil
	}
	rndIC := c.challenge
	c.challenge = nil
	eIFD, mIFD := cmd.data[:32], cmd.data[32:]
	if !newRetailMAC(c.kMac).verify(eIFD, mIFD) {
		return nil, swVerificationFailed, nil
	}
	s := cbcDecrypt(newTDES(c.kEnc), eIFD)
	rndIFD, gotIC, kIFD := s[0:8], s[8:16], s[16:32]
	if subtle.ConstantTimeCompare(gotIC, rndIC) != 1 {
		return nil, swVerificationFailed, nil
	}
	kIC := make([]byte, 16)
	if _, err := io.ReadFull(c.rand, kIC); err != nil {
		return nil, swNoPreciseDiagnosis, nil
	}
	r := make([]byte, 0, 32)
	r = append(r, rndIC...)
	r = append(r, rndIFD...)
	r = append(r, kIC...)
	eIC := cbcEncrypt(newTDES(c.kEnc), r)
	mIC := newRetailMAC(c.kMac).sum(eIC)

	seed := make([]byte, 16)
	subtle.XORBytes(seed, kIFD, kIC)
	ssc := append(append([]byte(nil), rndIC[4:]...), rndIFD[4:]...)
	c.sm = newSMSession(deriveKey(seed, kdfEnc), deriveKey(seed, kdfMac), ssc)
	u.Keys++
	c.tracef("BAC established, secure messaging on")
	return append(eIC, mIC...), swOK, nil
}

// internalAuthenticate is Active Authentication (ICAO 9303-11 §6.1): the
// chip signs the 8-byte challenge with its AA key (ISO/IEC 9796-2 scheme 1,
// see aaKey.sign). After lock it is only answered under secure messaging
// (plain: 6982); before lock it also works in plain,
// so that the station can check the key it loaded against DG15 before it
// locks. Without a complete key: 6982. A signature that does not fit the
// response (a 2048-bit key under SM with a short Le) answers 6700.
func (c *Chip) internalAuthenticate(cmd command, sm bool, room int, u *Usage) ([]byte, uint16, error) {
	if c.locked && !sm {
		return nil, swSecurityStatus, nil
	}
	if cmd.p1p2() != 0 {
		return nil, swIncorrectP1P2, nil
	}
	if len(cmd.data) != aaChallenge {
		return nil, swWrongLength, nil
	}
	if !c.aa.complete() {
		return nil, swSecurityStatus, nil
	}
	size := len(c.aa.modulus)
	if size > room {
		return nil, swWrongLength, nil
	}
	if size > cmd.neOrDefault() {
		if sm {
			return nil, swWrongLength, nil
		}
		return nil, swWrongLe(size), nil
	}
	sig, err := c.aa.sign(cmd.data, c.rand)
	if err != nil {
		return nil, swNoPreciseDiagnosis, nil
	}
	u.rsa(c.aa.bits())
	return sig, swOK, nil
}

// selectFile is SELECT FILE by file identifier (ISO/IEC 7816-4 §11.2.2),
// P1 00 or 02, P2 0C (no response data) or 00 (answered without FCI, like the
// JMRTD applet). After lock it needs secure messaging. A missing file answers
// 6A82 and clears the selection.
func (c *Chip) selectFile(cmd command, sm bool) ([]byte, uint16) {
	if c.locked && !sm {
		return nil, swSecurityStatus
	}
	if (cmd.p1 != 0x00 && cmd.p1 != 0x02) || (cmd.p2 != 0x00 && cmd.p2 != 0x0C) {
		return nil, swIncorrectP1P2
	}
	if len(cmd.data) != 2 {
		return nil, swWrongLength
	}
	fid := uint16(cmd.data[0])<<8 | uint16(cmd.data[1])
	if c.locked && eacProtected(fid) {
		return nil, swSecurityStatus
	}
	if _, ok := c.files[fid]; !ok {
		c.hasSelected = false
		return nil, swFileNotFound
	}
	c.selected, c.hasSelected = fid, true
	return nil, swOK
}

// readBinary is READ BINARY with a 15-bit offset in P1 P2 (ISO/IEC 7816-4
// §11.3.3; short EF identifiers, P1 b8 = 1, are not supported: 6A86). Reading
// past the end returns the remaining bytes with 6282; an offset at or past
// the end answers 6B00. A response is capped at what the transport can carry
// (room: MaxResponseData, or 231 plain bytes under SM with a short Le), in
// which case fewer than Ne bytes come back with 9000. After lock it needs
// secure messaging.
func (c *Chip) readBinary(cmd command, sm bool, room int) ([]byte, uint16) {
	if c.locked && !sm {
		return nil, swSecurityStatus
	}
	if cmd.p1&0x80 != 0 {
		return nil, swIncorrectP1P2
	}
	if len(cmd.data) != 0 {
		return nil, swWrongLength
	}
	if !c.hasSelected {
		return nil, swNoCurrentEF
	}
	f := c.files[c.selected]
	off := int(cmd.p1p2())
	if off >= len(f) {
		return nil, swWrongP1P2
	}
	ne := cmd.neOrDefault()
	left := len(f) - off
	n := min(ne, left, room)
	if n == left && ne > left {
		return append([]byte(nil), f[off:off+n]...), swEndOfFile
	}
	return append([]byte(nil), f[off:off+n]...), swOK
}

// updateBinary is UPDATE BINARY (ISO/IEC 7816-4 §11.3.5) into the selected
// EF: refused after lock (6985), without a selected EF (6986), or beyond the
// file (6B00, nothing written). Faults: a memory failure answers 6581 and
// writes nothing; a tear writes the bytes before the tear offset and returns
// vcard.ErrRemoved.
func (c *Chip) updateBinary(cmd command, u *Usage) ([]byte, uint16, error) {
	if c.locked {
		return nil, swConditionsOfUse, nil
	}
	if cmd.p1&0x80 != 0 {
		return nil, swIncorrectP1P2, nil
	}
	if len(cmd.data) == 0 {
		return nil, swWrongLength, nil
	}
	if !c.hasSelected {
		return nil, swNoCurrentEF, nil
	}
	fid := c.selected
	f := c.files[fid]
	off := int(cmd.p1p2())
	if off >= len(f) || len(cmd.data) > len(f)-off {
		return nil, swWrongP1P2, nil
	}
	if c.faults.MemoryFailure.covers(fid, off, len(cmd.data)) {
		c.tracef("memory failure (fault: %s)", c.faults.MemoryFailure)
		return nil, swMemoryFailure, nil
	}
	if !c.tearFired && c.faults.Tear.covers(fid, off, len(cmd.data)) {
		c.tearFired = true
		n := c.faults.Tear.Offset - off
		copy(f[off:], cmd.data[:n])
		u.EEPROMBytes += n
		c.pullOut()
		c.tracef("power torn after writing %d of %d bytes (fault: %s)", n, len(cmd.data), c.faults.Tear)
		return nil, 0, vcard.ErrRemoved
	}
	copy(f[off:], cmd.data)
	u.EEPROMBytes += len(cmd.data)
	return nil, swOK, nil
}

// createFile is the JMRTD applet's CREATE FILE: data 63 04 <size:2> <FID:2>
// (ISO/IEC 7816-9 CREATE FILE with a reduced FCP template). The new EF is zero-filled
// and not selected. Refused after lock (6985). Wrong data length 6700, not an
// '63' template 6A80 (JMRTD: 6984, which ISO/IEC 7816-4:2020 Table 6 gives
// to "reference data not usable"), a template length other than 04 6A85 (Nc
// inconsistent with the TLV structure), size 0 or over 32767 6A80, a FID
// outside the applet's file system 6A80, an existing FID 6A89, no room 6A84.
func (c *Chip) createFile(cmd command, u *Usage) ([]byte, uint16) {
	if c.locked {
		return nil, swConditionsOfUse
	}
	if cmd.p1p2() != 0 {
		return nil, swIncorrectP1P2
	}
	d := cmd.data
	if len(d) != 6 {
		return nil, swWrongLength
	}
	if d[0] != 0x63 {
		return nil, swWrongData
	}
	if d[1] != 4 {
		return nil, swNcInconsistentTLV
	}
	size := int(d[2])<<8 | int(d[3])
	fid := uint16(d[4])<<8 | uint16(d[5])
	if !creatableFID(fid) {
		return nil, swWrongData
	}
	return nil, c.allocateFile(fid, size, u)
}

// allocateFile creates an EF of size bytes, zero-filled in EEPROM (both
// models' CREATE FILE): 6A80 for a size of 0 or above the largest file,
// 6A89 for a FID that exists, 6A84 when the memory is full.
func (c *Chip) allocateFile(fid uint16, size int, u *Usage) uint16 {
	if size == 0 || size > maxFileSize {
		return swWrongData
	}
	if _, ok := c.files[fid]; ok {
		return swFileExists
	}
	if c.filesSize()+size > c.model.FileCapacity() {
		return swNotEnoughMemory
	}
	c.files[fid] = make([]byte, size)
	u.EEPROMBytes += size
	return swOK
}

func (c *Chip) filesSize() int {
	n := 0
	for _, f := range c.files {
		n += len(f)
	}
	return n
}

// putData is the JMRTD applet's PUT DATA: P1 P2 = 00 60 AA modulus, 00 61 AA
// private exponent, 00 62 MRZ key seed, DE AD lock. Everything answers 6985
// once locked.
func (c *Chip) putData(cmd command, u *Usage) ([]byte, uint16) {
	if c.locked {
		return nil, swConditionsOfUse
	}
	switch cmd.p1p2() {
	case putLock:
		return c.lock()
	case putAAModulus, putAAExponent:
		return c.putAAKey(cmd, u)
	case putMRZ:
		return c.putMRZ(cmd, u)
	}
	return nil, swIncorrectP1P2
}

// lock sets the LOCKED state bit for good. Unlike JMRTD, which locks
// unconditionally, this chip refuses (6985) to lock without the MRZ key seed
// (a locked chip without BAC keys can never be read) or with half an AA key
// (modulus without exponent or the reverse). Data in the command is ignored.
func (c *Chip) lock() ([]byte, uint16) {
	if c.mrz == nil || len(c.aa.modulus) > 0 != (len(c.aa.exponent) > 0) {
		return nil, swConditionsOfUse
	}
	c.locked = true
	c.tracef("locked")
	return nil, swOK
}

// putAAKey stores the AA modulus (60 L {04 L n}) or private exponent
// (61 L {04 L d}); a leading 00 (a signed integer) is dropped. The modulus
// must be a whole number of bytes from MinAAKeyBits to the model's
// MaxAAKeyBits, the exponent no longer than MaxAAKeyBits: otherwise 6A80.
func (c *Chip) putAAKey(cmd command, u *Usage) ([]byte, uint16) {
	tag := uint32(cmd.p2)
	value, ok := singleOctetString(cmd.data, tag)
	if !ok {
		return nil, swWrongData
	}
	value = bytes.TrimLeft(value, "\x00")
	if tag == 0x60 {
		bits := aaKey{modulus: value}.bits()
		if bits%8 != 0 || bits < MinAAKeyBits || bits > c.model.MaxAAKeyBits {
			return nil, swWrongData
		}
		c.aa.modulus = append([]byte(nil), value...)
	} else {
		if len(value) == 0 || 8*len(value) > c.model.MaxAAKeyBits {
			return nil, swWrongData
		}
		c.aa.exponent = append([]byte(nil), value...)
	}
	u.Keys++
	u.EEPROMBytes += len(value)
	return nil, swOK
}

// singleOctetString parses tag L { 04 L value } with nothing before or after.
func singleOctetString(data []byte, tag uint32) ([]byte, bool) {
	t, outer, rest, ok := readTLV(data)
	if !ok || t != tag || len(rest) != 0 {
		return nil, false
	}
	t, value, rest, ok := readTLV(outer)
	if !ok || t != 0x04 || len(rest) != 0 {
		return nil, false
	}
	return value, true
}

// putMRZ stores the MRZ key seed input 62 L { 04 docNr, 04 dob, 04 expiry }
// and derives K_enc and K_mac from it (ICAO 9303-11 §9.7.1, §9.7.2): the chip
// computes the check digits itself. Fields outside the MRZ alphabet answer
// 6A80.
func (c *Chip) putMRZ(cmd command, u *Usage) ([]byte, uint16) {
	t, outer, rest, ok := readTLV(cmd.data)
	if !ok || t != 0x62 || len(rest) != 0 {
		return nil, swWrongData
	}
	var fields [3]string
	for i := range fields {
		var v []byte
		t, v, outer, ok = readTLV(outer)
		if !ok || t != 0x04 {
			return nil, swWrongData
		}
		fields[i] = string(v)
	}
	if len(outer) != 0 {
		return nil, swWrongData
	}
	m := keySeedInput{DocumentNumber: fields[0], DateOfBirth: fields[1], DateOfExpiry: fields[2]}
	if m.validate() != nil {
		return nil, swWrongData
	}
	c.setMRZ(m)
	u.Keys++
	u.EEPROMBytes += 32
	return nil, swOK
}

func (c *Chip) setMRZ(m keySeedInput) {
	c.mrz = &m
	c.kEnc, c.kMac = m.bacKeys()
	c.kPiMRZ = m.paceKey()
}
