package emrtd

import (
	"bytes"
	"fmt"
)

// The cccd model's command routing and access rules (personalization/cccd.md
// §1-2, §5): which command may run in which life cycle state and under which
// protection. The commands themselves are in cccd_fs.go (files),
// cccd_perso.go (SCP03, PUT DATA, ACTIVATE FILE), keys.go (GENERATE
// ASYMMETRIC KEY PAIR, Active Authentication), pace.go and ca.go.

// Instructions the cccd model adds to the JMRTD applet's.
const (
	insActivateFile        = 0x44 // ISO/IEC 7816-9 §8
	insGenerateKeyPair     = 0x47 // ISO/IEC 7816-8 §5.1
	insInitializeUpdate    = 0x50 // GP Amd D §7.1.1
	insManageSecurityEnv   = 0x22 // ISO/IEC 7816-4 MANAGE SECURITY ENVIRONMENT
	insGeneralAuthenticate = 0x86 // ISO/IEC 7816-4 GENERAL AUTHENTICATE
	insGetData             = 0xCA
)

// protection says how a command reached the application.
type protection int

const (
	// plain: CLA 00 (10 chained) or 80.
	plain protection = iota
	// underSCP03: CLA 04 or 84, unwrapped by the SCP03 session
	// (personalization).
	underSCP03
	// underSM: CLA 0C (1C chained), unwrapped by a reader's secure
	// messaging (BAC, PACE, Chip Authentication).
	underSM
)

func (p protection) String() string {
	return [...]string{"plain", "SCP03", "SM"}[p]
}

// cccd handles one command APDU of the cccd model: it unwraps SCP03 or
// secure messaging, runs the command under the access rules, and protects
// the answer the way the command came.
func (c *Chip) cccd(cmd command, u *Usage) ([]byte, error) {
	switch cmd.cla {
	case 0x00, 0x10, 0x80:
		return c.cccdPlain(cmd, u)
	case 0x04, 0x84:
		return c.cccdSCP03(cmd, u)
	case 0x0C, 0x1C:
		return c.cccdSM(cmd, u)
	}
	return status(unsupportedCLA(cmd.cla)), nil
}

func isSelectAID(cmd command) bool { return cmd.ins == insSelectFile && cmd.p1 == 0x04 }

// cccdPlain runs a command in plain. A plain SELECT by AID or INITIALIZE
// UPDATE ends any session and runs; any other plain command during a
// session ends it: during secure messaging with 6987 (ICAO 9303-11 §9.8:
// expected SM data objects missing), during SCP03 with 6982 (GP secure
// channel rules: a command without the session's protection is refused and
// closes it).
func (c *Chip) cccdPlain(cmd command, u *Usage) ([]byte, error) {
	switch {
	case isSelectAID(cmd) || (cmd.cla == 0x80 && cmd.ins == insInitializeUpdate):
		c.endSession("application selected")
		c.endSCP("new session or application selected")
	case c.sm != nil:
		c.endSession("plain command during secure messaging")
		return status(swSMObjectsMissing), nil
	case c.scp != nil || c.scpInit != nil:
		wasOpen := c.scp != nil
		c.endSCP("plain command during SCP03")
		if wasOpen {
			return status(swSecurityStatus), nil
		}
	}
	data, sw, err := c.cccdCommand(cmd, plain, c.model.MaxResponseData, u)
	if err != nil {
		return nil, err
	}
	return respond(data, sw), nil
}

// cccdSCP03 runs a command wrapped by SCP03 (GP Amd D §6.2). EXTERNAL
// AUTHENTICATE opens the session; without one a wrapped command answers
// 6882 (a personalization command on an operational chip 6985; during a
// reader's secure messaging, which it ends, likewise); a command that fails
// the C-MAC or decryption answers 6982 and closes the session.
//
// Le applies to the plain response, as GP cards size their answers: the
// R-MAC and the R-ENC padding come on top. The plain response is bounded so
// that the wrapped one fits MaxResponseData (256 bytes for a short APDU).
func (c *Chip) cccdSCP03(cmd command, u *Usage) ([]byte, error) {
	if cmd.cla == 0x84 && cmd.ins == insExternalAuthenticate && c.scpInit != nil {
		return respond(c.scpExternalAuthenticate(cmd)), nil
	}
	if c.sm != nil { // SCP03 and reader sessions never coexist: c.scp is nil
		c.endSession("SCP03-wrapped command during secure messaging")
	}
	if c.scp == nil {
		if c.locked && isPersoCommand(cmd.cla&^0x04, cmd.ins) {
			return status(swConditionsOfUse), nil
		}
		return status(swSMNotSupported), nil
	}
	inner, ok := c.scp.unwrap(cmd)
	if !ok {
		c.endSCP("C-MAC or C-DECRYPTION failed")
		return status(swSecurityStatus), nil
	}
	c.traceInner = fmt.Sprintf("SCP03 %s Lc=%d", inner.header(), len(inner.data))
	limit := c.model.MaxResponseData
	if !cmd.extended {
		limit = min(limit, 256)
	}
	room := c.scp.maxPlain(limit)
	data, sw, err := c.cccdCommand(inner, underSCP03, room, u)
	if err != nil {
		return nil, err
	}
	if c.scp == nil { // the command ended the session (SELECT by AID)
		return respond(data, sw), nil
	}
	return c.scp.wrap(data, sw), nil
}

// cccdSM runs a command under a reader's secure messaging (ICAO 9303-11
// §9.8). Errors of the command come back protected; secure messaging errors
// end the session and come back in plain. After Chip Authentication's
// GENERAL AUTHENTICATE the answer is protected with the old keys, then the
// new session starts (§6.2).
func (c *Chip) cccdSM(cmd command, u *Usage) ([]byte, error) {
	if c.scp != nil || c.scpInit != nil {
		c.endSCP("secure messaging command during SCP03")
		return status(swSMNotSupported), nil
	}
	inner, refused := c.unwrapSM(cmd)
	if refused != nil {
		return refused, nil
	}
	room := c.sm.maxPlain(min(cmd.neOrDefault(), c.model.MaxResponseData))
	data, sw, err := c.cccdCommand(inner, underSM, room, u)
	if err != nil {
		return nil, err
	}
	if c.sm == nil { // never answer in plain by accident
		return status(swSMObjectsIncorrect), nil
	}
	resp := c.sm.wrap(data, sw)
	if c.smNext != nil {
		c.sm, c.smNext = c.smNext, nil
		c.tracef("Chip Authentication done, secure messaging restarted with its keys")
	}
	return resp, nil
}

// endSCP closes the SCP03 session (or the half-open one after INITIALIZE
// UPDATE).
func (c *Chip) endSCP(why string) {
	if c.scp != nil {
		c.tracef("SCP03 session ended: %s", why)
	}
	c.scp = nil
	c.scpInit = nil
}

// isPersoCommand says whether an (unwrapped) command is one of the
// personalization commands cccd.md §1 closes once the chip is operational.
func isPersoCommand(cla, ins byte) bool {
	switch ins {
	case insCreateFile, insUpdateBinary, insPutData, insGenerateKeyPair, insActivateFile:
		return cla&0x80 == 0
	case insInitializeUpdate:
		return cla&0x80 != 0
	case insExternalAuthenticate:
		return cla&0x80 != 0 // GP EXTERNAL AUTHENTICATE, not BAC's
	}
	return false
}

// inApplication says whether the eMRTD application is selected (rather than
// the MF or the card manager).
func (c *Chip) inApplication() bool { return c.app == appPassport }

// cccdCommand runs one unwrapped command under the cccd access rules. room
// is the largest plain response the way back can carry. It returns the
// response data and status word, or vcard.ErrRemoved on a tear.
func (c *Chip) cccdCommand(cmd command, p protection, room int, u *Usage) ([]byte, uint16, error) {
	if cmd.ins != insManageSecurityEnv && cmd.ins != insGeneralAuthenticate {
		c.pace = nil // any other command aborts a PACE or Chip Authentication in progress
		c.caReady = false
	}
	gp := cmd.cla&0x80 != 0
	if cmd.cla&0x10 != 0 && cmd.ins != insGeneralAuthenticate {
		return nil, swChainingUnsupported, nil // ISO/IEC 7816-4 §5.4.1: chaining for GENERAL AUTHENTICATE only
	}
	if c.locked && isPersoCommand(cmd.cla, cmd.ins) {
		return nil, swConditionsOfUse, nil // cccd.md §1: personalization is over
	}
	switch cmd.ins {
	case insGetData:
		return c.getDataCCCD(cmd, room)
	case insInitializeUpdate:
		if !gp {
			return nil, swINSNotSupported, nil
		}
		return c.scpInitializeUpdate(cmd, p, u)
	}
	if gp {
		switch cmd.ins {
		case insSelectFile, insReadBinary, insUpdateBinary, insCreateFile, insPutData, insGenerateKeyPair,
			insActivateFile, insManageSecurityEnv, insGeneralAuthenticate, insGetChallenge,
			insExternalAuthenticate, insInternalAuthenticate:
			return nil, swCLANotSupported, nil // an ISO instruction in the GP class
		}
		return nil, swINSNotSupported, nil
	}
	switch cmd.ins {
	case insSelectFile:
		d, sw := c.cccdSelect(cmd, p)
		return d, sw, nil
	case insReadBinary:
		d, sw := c.cccdReadBinary(cmd, p, room)
		return d, sw, nil
	case insUpdateBinary:
		if sw := c.persoGate(p); sw != swOK {
			return nil, sw, nil
		}
		return c.updateBinary(cmd, u)
	case insCreateFile:
		d, sw := c.createFileFCP(cmd, p, u)
		return d, sw, nil
	case insPutData:
		d, sw := c.putDataCCCD(cmd, p, u)
		return d, sw, nil
	case insGenerateKeyPair:
		d, sw := c.generateKeyPair(cmd, p, u)
		return d, sw, nil
	case insActivateFile:
		d, sw := c.activateFile(cmd, p)
		return d, sw, nil
	case insManageSecurityEnv:
		d, sw := c.manageSecurityEnvironment(cmd, p)
		return d, sw, nil
	case insGeneralAuthenticate:
		d, sw := c.generalAuthenticate(cmd, p, u)
		return d, sw, nil
	case insGetChallenge, insExternalAuthenticate: // BAC (ICAO 9303-11 §4.3)
		if p == underSM && c.locked {
			return nil, swSecurityStatus, nil // under SM they are Terminal Authentication's: not offered
		}
		if sw := c.readerGate(p, plain); sw != swOK {
			return nil, sw, nil
		}
		if !c.inApplication() {
			return nil, swConditionsOfUse, nil
		}
		if cmd.ins == insGetChallenge {
			return c.getChallenge(cmd, false)
		}
		return c.externalAuthenticate(cmd, false, u)
	case insInternalAuthenticate:
		d, sw := c.internalAuthenticateEC(cmd, p, room, u)
		return d, sw, nil
	}
	return nil, swINSNotSupported, nil
}

// persoGate is the rule for a personalization command (cccd.md §1): only
// before activation (6985 after) and only inside an SCP03 session (6982
// otherwise).
func (c *Chip) persoGate(p protection) uint16 {
	switch {
	case c.locked:
		return swConditionsOfUse
	case p != underSCP03:
		return swSecurityStatus
	}
	return swOK
}

// readerGate is the rule for a reader's protocol command (cccd.md §5): only
// once the chip is operational — before, 6982 in plain (cccd.md §1) and 6985
// inside an SCP03 session — and only with the protection the protocol runs
// under (want): PACE and BAC in plain, Chip Authentication under secure
// messaging. Otherwise 6982, or 6985 for PACE and BAC under secure
// messaging.
func (c *Chip) readerGate(p, want protection) uint16 {
	switch {
	case !c.locked && p == underSCP03:
		return swConditionsOfUse
	case !c.locked:
		return swSecurityStatus
	case p == want:
		return swOK
	case p == underSM:
		return swConditionsOfUse
	}
	return swSecurityStatus
}

// getDataCCCD is GET DATA of the CPLC: the card manager answers it in every
// state and wherever the selection is (cccd.md §1), in plain or under a
// session (6700 when the protected answer would not fit the outer Le).
func (c *Chip) getDataCCCD(cmd command, room int) ([]byte, uint16, error) {
	d, sw := c.getData(cmd)
	if len(d) > room {
		return nil, swWrongLength, nil
	}
	return d, sw, nil
}

// oidPACE and oidCA are the protocols of the cccd chip (ICAO 9303-11 §9.2): id-PACE-ECDH-GM-AES-CBC-CMAC-128
// 0.4.0.127.0.7.2.2.4.2.2 and id-CA-ECDH-AES-CBC-CMAC-128
// 0.4.0.127.0.7.2.2.3.2.2.
var (
	oidPACE = []byte{0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x04, 0x02, 0x02}
	oidCA   = []byte{0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x03, 0x02, 0x02}
)

// manageSecurityEnvironment is MSE:Set AT (ISO/IEC 7816-4 MANAGE SECURITY ENVIRONMENT, P1 C1
// or 41, P2 A4): C1 A4 sets up PACE (in plain, with the MF or the eMRTD
// application current), 41 A4 Chip Authentication (under secure
// messaging). Other P1-P2 (Set KAT 41 A6 included: CA with 3DES only) 6A86.
func (c *Chip) manageSecurityEnvironment(cmd command, p protection) ([]byte, uint16) {
	c.pace, c.caReady = nil, false
	switch cmd.p1p2() {
	case 0xC1A4:
		if sw := c.readerGate(p, plain); sw != swOK {
			return nil, sw
		}
		return c.msePACE(cmd)
	case 0x41A4:
		if sw := c.readerGate(p, underSM); sw != swOK {
			return nil, sw
		}
		return c.mseCA(cmd)
	}
	return nil, swIncorrectP1P2
}

// generalAuthenticate is GENERAL AUTHENTICATE (ISO/IEC 7816-4, P1
// P2 00 00): a PACE step in plain after MSE C1 A4, Chip Authentication
// under secure messaging after MSE 41 A4. Without the MSE: 6985.
func (c *Chip) generalAuthenticate(cmd command, p protection, u *Usage) ([]byte, uint16) {
	if cmd.p1p2() != 0 {
		c.pace, c.caReady = nil, false
		return nil, swIncorrectP1P2
	}
	switch {
	case p == plain && c.pace != nil:
		return c.paceStep(cmd, u)
	case p == underSM && c.caReady:
		return c.caAuthenticate(cmd, u)
	}
	if sw := c.readerGate(p, p); sw != swOK {
		return nil, sw
	}
	return nil, swConditionsOfUse
}

// dataObjects splits a data field into its BER-TLV data objects, refusing
// a malformed field, a tag not in allowed and a tag twice.
func dataObjects(b []byte, allowed ...uint32) (map[uint32][]byte, bool) {
	dos := make(map[uint32][]byte)
	for len(b) > 0 {
		tag, v, rest, ok := readTLV(b)
		if !ok {
			return nil, false
		}
		if _, dup := dos[tag]; dup {
			return nil, false
		}
		found := false
		for _, a := range allowed {
			found = found || a == tag
		}
		if !found {
			return nil, false
		}
		dos[tag] = v
		b = rest
	}
	return dos, true
}

// singleTemplate parses tag L { … } with nothing after it.
func singleTemplate(b []byte, tag uint32) ([]byte, bool) {
	t, v, rest, ok := readTLV(b)
	if !ok || t != tag || len(rest) != 0 {
		return nil, false
	}
	return v, true
}

func oidIs(v, oid []byte) bool { return bytes.Equal(v, oid) }
