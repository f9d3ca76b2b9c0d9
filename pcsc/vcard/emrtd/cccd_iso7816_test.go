package emrtd

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// cccdState is where a command of TestCCCDStatusWords is sent.
type cccdState int

const (
	// ccPowerOn: a blank cccd chip just powered on: the MF is current.
	ccPowerOn cccdState = iota
	// ccBlankApp: blank, the eMRTD application selected, no session.
	ccBlankApp
	// ccBlankSCP: blank, the application selected, an SCP03 session at
	// level 33; every command of the row is wrapped by the test station.
	ccBlankSCP
	// ccWrittenSCP: as ccBlankSCP with EF.COM (100 bytes) created, written
	// and selected and the MRZ stored.
	ccWrittenSCP
	// ccOpPowerOn: an operational chip after a reset: the MF current —
	// what a border reader meets.
	ccOpPowerOn
	// ccOpApp: operational, the application selected, in plain.
	ccOpApp
	// ccOpPACE: operational, PACE with the CAN done at the MF, the
	// application selected under secure messaging; every command is wrapped
	// by the test reader.
	ccOpPACE
)

func (s cccdState) String() string {
	return [...]string{"power-on", "blank application", "blank in SCP03", "written in SCP03",
		"operational power-on", "operational application", "operational PACE"}[s]
}

var cccdFixture struct {
	once sync.Once
	json []byte
	img  cccdImage
}

// operationalCCCD returns a fresh copy of one personalized, operational chip
// (personalized once per test binary, then loaded).
func operationalCCCD(t *testing.T) (*Chip, cccdImage) {
	t.Helper()
	cccdFixture.once.Do(func() {
		c, img, _ := personalizedCCCD(t)
		b, err := c.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		cccdFixture.json, cccdFixture.img = b, img
	})
	c, err := Load(cccdFixture.json)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c, cccdFixture.img
}

// cccdSender sends one row's APDU in a state: raw, or wrapped by the
// state's session (the answer unwrapped).
type cccdSender func(t *testing.T, apdu []byte) ([]byte, uint16)

func inCCCDState(t *testing.T, s cccdState) (*cccdHost, cccdSender) {
	t.Helper()
	var h *cccdHost
	switch s {
	case ccPowerOn, ccBlankApp, ccBlankSCP, ccWrittenSCP:
		c := New(ModelCCCD)
		h = newCCCDHost(t, c)
		if s != ccPowerOn {
			h.selectApplication()
		}
		if s == ccBlankSCP || s == ccWrittenSCP {
			h.mustOpenSCP03(c.scpKeys)
		}
		if s == ccWrittenSCP {
			h.scpWriteFile(0x011E, pattern(0x011E, 100))
			h.scpExpect("PUT DATA MRZ", 0xDA, 0x00, 0x62, mrzData(cccdMRZ), 0, swOK)
		}
	default:
		c, img := operationalCCCD(t)
		h = newCCCDHost(t, c)
		if s == ccOpApp {
			h.selectApplication()
		}
		if s == ccOpPACE {
			h.mustPACE(pacePasswordCAN, paceKeyOf(pacePasswordCAN, img.mrz, img.can))
			h.smExpect("SELECT eMRTD application", 0xA4, 0x04, 0x0C, AIDPassport, 0, swOK)
		}
	}
	raw := func(t *testing.T, apdu []byte) ([]byte, uint16) {
		resp := h.send(apdu)
		return resp[:len(resp)-2], swOf(resp)
	}
	wrapped := func(t *testing.T, apdu []byte) ([]byte, uint16) {
		t.Helper()
		if h.sm != nil && h.noWrap {
			return raw(t, apdu)
		}
		cmd, ok := parseCommand(apdu)
		if !ok {
			t.Fatalf("row APDU %s does not parse", hx(apdu))
		}
		ne := 0
		if cmd.hasLe {
			ne = cmd.ne
		}
		var d []byte
		var sw uint16
		var err error
		if h.scp != nil {
			resp := h.send(h.scp.wrap(cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data, ne, true))
			d, sw, err = h.scp.unwrap(resp)
		} else {
			resp := h.send(h.sm.wrap(cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data, ne, true))
			d, sw, err = h.sm.unwrap(resp)
		}
		if err != nil {
			t.Fatalf("%s: the answer (SW %04X) does not unwrap: %v", hx(apdu), sw, err)
		}
		return d, sw
	}
	if s == ccBlankSCP || s == ccWrittenSCP || s == ccOpPACE {
		return h, wrapped
	}
	return h, raw
}

// TestCCCDStatusWords lists the cccd model's answers before and after
// activation, each the value ISO/IEC 7816-4:2020 §5.6 (Table 6) gives the
// situation or cccd.md prescribes (TestStatusWordsBeforeAuthentication has
// the legend). In the SCP03 and PACE states the rows are wrapped and the
// unwrapped status word is checked: command errors under secure messaging
// come back protected; under SCP03 an error status word comes back alone
// (GP Amd D §6.2.5).
func TestCCCDStatusWords(t *testing.T) {
	const (
		iu       = "8050300008" + "0102030405060708" + "00"
		mse      = "0022C1A412800A04007F00070202040202830102" + "84010D" // PACE with the CAN
		fcpCOM   = "00E0000012" + "6210" + "80020064" + "820101" + "8302011E" + "8C030300FF"
		fcpDG14  = "00E0000012" + "6210" + "80020064" + "820101" + "8302010E" + "8C030300FF"
		genCA    = "004780000E" + "840101" + "06092B2403030208010107" + "00"
		putMRZ   = "00DA00621D" + "621B" + "0409323033303031323334" + "0406303330353134" + "0406343330353134"
		putCAN   = "00DA00630A" + "6308" + "0406313233343536"
		activate = "00440000"
		aa       = "0088000008" + "0102030405060708" + "00"
		ea       = "8482330010" + "00000000000000000000000000000000"
	)
	for _, tc := range []struct {
		state cccdState
		name  string
		pre   []string // each must answer 9000 (sent as the state sends)
		apdu  string
		sw    uint16
		data  int
	}{
		// A blank chip at power-on: the MF is current, EF.CardAccess does
		// not exist yet; personalization needs SCP03.
		{ccPowerOn, "SELECT EF.CardAccess (not created)", nil, "00A4020C02011C", swFileNotFound, 0},
		{ccPowerOn, "SELECT MF 3F00", nil, "00A4000C023F00", swFileNotFound, 0},          // cccd.md §2: 6A82 before activation
		{ccPowerOn, "SELECT MF without data", nil, "00A4000C", swFileNotFound, 0},        // ibid.
		{ccPowerOn, "SELECT EF.COM at the MF", nil, "00A4020C02011E", swFileNotFound, 0}, // not in the MF
		{ccPowerOn, "SELECT by path (P1 08)", nil, "00A4080C02011C", swIncorrectP1P2, 0},
		{ccPowerOn, "SELECT FID, FCP asked (P2 04)", nil, "00A4020402011C", swIncorrectP1P2, 0},
		{ccPowerOn, "SELECT FID with 3 bytes", nil, "00A4020C03011C00", swWrongLength, 0},
		{ccPowerOn, "SELECT unknown AID", nil, "00A4040C07A0000002471002", swFileNotFound, 0},
		{ccPowerOn, "SELECT ISD, FCI", nil, "00A4040008A00000015100000000", swOK, 19},
		{ccPowerOn, "SELECT eMRTD application", nil, "00A4040C07A0000002471001", swOK, 0},
		{ccPowerOn, "GET DATA CPLC", nil, "80CA9F7F00", swOK, 45},
		{ccPowerOn, "GET DATA CPLC, Le 10", nil, "80CA9F7F10", swWrongLe(45), 0},
		{ccPowerOn, "GET DATA other tag", nil, "80CA006600", swRefDataNotFound, 0},
		{ccPowerOn, "INITIALIZE UPDATE at the MF", nil, iu, swINSNotSupported, 0}, // the eMRTD application is the security domain
		{ccPowerOn, "READ BINARY, no EF", nil, "00B0000000", swNoCurrentEF, 0},
		{ccPowerOn, "CREATE FILE in plain", nil, fcpCOM, swSecurityStatus, 0}, // cccd.md §1: only in SCP03
		{ccPowerOn, "PUT DATA CAN in plain", nil, putCAN, swSecurityStatus, 0},
		{ccPowerOn, "MSE:Set AT PACE before activation", nil, mse, swSecurityStatus, 0},
		{ccPowerOn, "GET CHALLENGE before activation", nil, "0084000008", swSecurityStatus, 0},
		{ccPowerOn, "wrapped (CLA 84) without a session", nil, "84CA9F7F00", swSMNotSupported, 0},
		{ccPowerOn, "CLA 0C without a session", nil, "0CB0000000", swSMNotSupported, 0},
		{ccPowerOn, "CLA 01 (logical channel 1)", nil, "01B0000000", swChannelUnsupported, 0},
		{ccPowerOn, "CLA 08", nil, "08B0000000", swSMNotSupported, 0},
		{ccPowerOn, "CLA FF", nil, "FFB0000000", swCLANotSupported, 0},
		{ccPowerOn, "chaining on READ BINARY", nil, "10B0000000", swChainingUnsupported, 0},
		{ccPowerOn, "unknown INS", nil, "0012000000", swINSNotSupported, 0},
		{ccPowerOn, "APDU of 3 bytes", nil, "00A404", swWrongLength, 0},

		// The application of a blank chip, no session.
		{ccBlankApp, "SELECT EF.COM (not created)", nil, "00A4020C02011E", swFileNotFound, 0}, // blank-chip detection
		{ccBlankApp, "SELECT EF.CardAccess (not created)", nil, "00A4020C02011C", swFileNotFound, 0},
		{ccBlankApp, "SELECT MF", nil, "00A4000C023F00", swFileNotFound, 0},
		{ccBlankApp, "READ BINARY, no EF", nil, "00B0000000", swNoCurrentEF, 0},
		{ccBlankApp, "UPDATE BINARY in plain", nil, "00D6000001AA", swSecurityStatus, 0},
		{ccBlankApp, "CREATE FILE in plain", nil, fcpCOM, swSecurityStatus, 0},
		{ccBlankApp, "GENERATE in plain", nil, genCA, swSecurityStatus, 0},
		{ccBlankApp, "PUT DATA MRZ in plain", nil, putMRZ, swSecurityStatus, 0},
		{ccBlankApp, "ACTIVATE FILE in plain", nil, activate, swSecurityStatus, 0},
		{ccBlankApp, "INTERNAL AUTHENTICATE in plain", nil, aa, swSecurityStatus, 0},
		{ccBlankApp, "GET CHALLENGE", nil, "0084000008", swSecurityStatus, 0},
		{ccBlankApp, "BAC EXTERNAL AUTHENTICATE", nil, "0082000028" + zeros(40) + "28", swSecurityStatus, 0},
		{ccBlankApp, "GENERAL AUTHENTICATE", nil, "10860000027C0000", swSecurityStatus, 0},
		{ccBlankApp, "INITIALIZE UPDATE", nil, iu, swOK, 32},
		{ccBlankApp, "INITIALIZE UPDATE, Lc 7", nil, "80503000070102030405060700", swWrongLength, 0},
		{ccBlankApp, "INITIALIZE UPDATE, P2 01", nil, "8050300108010203040506070800", swIncorrectP1P2, 0},
		{ccBlankApp, "INITIALIZE UPDATE, unknown KVN", nil, "8050310008010203040506070800", swRefDataNotFound, 0}, // cccd.md §4 step 2
		{ccBlankApp, "INITIALIZE UPDATE, any KVN (00)", nil, "8050000008010203040506070800", swOK, 32},
		{ccBlankApp, "INITIALIZE UPDATE, Le 10", nil, "8050300008010203040506070810", swWrongLe(32), 0},
		{ccBlankApp, "INITIALIZE UPDATE with CLA 00", nil, "0050300008010203040506070800", swINSNotSupported, 0},
		{ccBlankApp, "EXTERNAL AUTHENTICATE without INITIALIZE UPDATE", nil, ea, swSMNotSupported, 0},
		{ccBlankApp, "EXTERNAL AUTHENTICATE, wrong cryptogram", []string{iu}, ea, swVerificationFailed, 0}, // cccd.md §4 step 3
		{ccBlankApp, "EXTERNAL AUTHENTICATE, level 01", []string{iu}, "8482010010" + zeros(16), swSecurityStatus, 0},
		{ccBlankApp, "EXTERNAL AUTHENTICATE, level 03", []string{iu}, "8482030010" + zeros(16), swSecurityStatus, 0},
		{ccBlankApp, "EXTERNAL AUTHENTICATE, level 11", []string{iu}, "8482110010" + zeros(16), swSecurityStatus, 0},
		{ccBlankApp, "EXTERNAL AUTHENTICATE, P2 01", []string{iu}, "8482330110" + zeros(16), swIncorrectP1P2, 0},
		{ccBlankApp, "EXTERNAL AUTHENTICATE, Lc 15", []string{iu}, "848233000F" + zeros(15), swWrongLength, 0},
		{ccBlankApp, "GET DATA CPLC", nil, "80CA9F7F00", swOK, 45},
		{ccBlankApp, "CLA 80 on an ISO instruction", nil, "80B0000000", swCLANotSupported, 0},
		{ccBlankApp, "CLA 80, unknown instruction (STORE DATA)", nil, "80E2900000", swINSNotSupported, 0},
		{ccBlankApp, "CLA 04 without a session", nil, "04B0000000", swSMNotSupported, 0},

		// Inside SCP03 at level 33, blank.
		{ccBlankSCP, "SELECT EF.COM (not created)", nil, "00A4020C02011E", swFileNotFound, 0},
		{ccBlankSCP, "SELECT MF", nil, "00A4000C023F00", swFileNotFound, 0},
		{ccBlankSCP, "CREATE FILE EF.COM", nil, fcpCOM, swOK, 0},
		{ccBlankSCP, "CREATE FILE, JMRTD template", nil, "00E000000663040010011E", swWrongData, 0},
		{ccBlankSCP, "CREATE FILE EF.CardAccess, then SELECT it from the application", []string{"00E00000126210800200408201018302011C8C030300FF"}, "00A4020C02011C", swOK, 0},
		{ccBlankSCP, "READ BINARY, no EF", nil, "00B0000000", swNoCurrentEF, 0},
		{ccBlankSCP, "UPDATE BINARY, no EF", nil, "00D6000001AA", swNoCurrentEF, 0},
		{ccBlankSCP, "PUT DATA DE AD (JMRTD lock)", nil, "00DADEAD", swIncorrectP1P2, 0},
		{ccBlankSCP, "GENERATE, P1 00", nil, "004700000E" + "840101" + "06092B2403030208010107" + "00", swIncorrectP1P2, 0},
		{ccBlankSCP, "GENERATE", nil, genCA, swOK, 81},
		{ccBlankSCP, "ACTIVATE FILE on a blank chip", nil, activate, swConditionsOfUse, 0}, // cccd.md §4 step 12
		{ccBlankSCP, "INTERNAL AUTHENTICATE without a key", nil, aa, swSecurityStatus, 0},
		{ccBlankSCP, "MSE:Set AT PACE in SCP03", nil, mse, swConditionsOfUse, 0},
		{ccBlankSCP, "GET CHALLENGE in SCP03", nil, "0084000008", swConditionsOfUse, 0},
		{ccBlankSCP, "GENERAL AUTHENTICATE in SCP03", nil, "00860000027C0000", swConditionsOfUse, 0},
		{ccBlankSCP, "BAC EXTERNAL AUTHENTICATE in SCP03", nil, "0082000028" + zeros(40) + "28", swConditionsOfUse, 0},
		{ccBlankSCP, "INITIALIZE UPDATE wrapped", nil, iu, swConditionsOfUse, 0},
		{ccBlankSCP, "GET DATA CPLC", nil, "80CA9F7F00", swOK, 45},
		{ccBlankSCP, "unknown INS", nil, "0012000000", swINSNotSupported, 0},

		// Inside SCP03, EF.COM (100 bytes) selected.
		{ccWrittenSCP, "READ BINARY at the end", nil, "00B0006401", swWrongP1P2, 0},
		{ccWrittenSCP, "READ BINARY past the end", nil, "00B0005A14", swEndOfFile, 10},
		{ccWrittenSCP, "READ BINARY to the end", nil, "00B0005A0A", swOK, 10},
		{ccWrittenSCP, "READ BINARY with an SFI", nil, "00B09E0000", swIncorrectP1P2, 0},
		{ccWrittenSCP, "UPDATE BINARY past the end", nil, "00D6005A14" + zeros(20), swWrongP1P2, 0},
		{ccWrittenSCP, "CREATE FILE EF.COM again", nil, fcpCOM, swFileExists, 0}, // cccd.md §4 step 4
		{ccWrittenSCP, "CREATE FILE DG14", nil, fcpDG14, swOK, 0},
		{ccWrittenSCP, "GENERATE twice", []string{genCA}, genCA, swFileExists, 0}, // cccd.md §4 step 7
		{ccWrittenSCP, "PUT DATA CAN", nil, putCAN, swOK, 0},
		{ccWrittenSCP, "ACTIVATE FILE without EF.CardAccess, EF.SOD, keys, CAN", nil, activate, swConditionsOfUse, 0},

		// Operational, at power-on: what a border reader meets first.
		{ccOpPowerOn, "SELECT EF.CardAccess", nil, "00A4020C02011C", swOK, 0},
		{ccOpPowerOn, "READ EF.CardAccess in plain", []string{"00A4020C02011C"}, "00B0000000", swEndOfFile, 54},
		{ccOpPowerOn, "SELECT MF 3F00", nil, "00A4000C023F00", swINSNotSupported, 0}, // cccd.md §2, as real CCCD chips
		{ccOpPowerOn, "SELECT MF without data", nil, "00A4000C", swINSNotSupported, 0},
		{ccOpPowerOn, "SELECT with P1 00 of EF.CardAccess", nil, "00A4000C02011C", swINSNotSupported, 0},
		{ccOpPowerOn, "SELECT EF.COM at the MF", nil, "00A4020C02011E", swFileNotFound, 0},
		{ccOpPowerOn, "GET DATA CPLC", nil, "80CA9F7F00", swOK, 45},
		{ccOpPowerOn, "CREATE FILE", nil, fcpDG14, swConditionsOfUse, 0}, // cccd.md §1: 6985, plain or protected
		{ccOpPowerOn, "UPDATE BINARY", nil, "00D6000001AA", swConditionsOfUse, 0},
		{ccOpPowerOn, "PUT DATA CAN", nil, putCAN, swConditionsOfUse, 0},
		{ccOpPowerOn, "GENERATE", nil, genCA, swConditionsOfUse, 0},
		{ccOpPowerOn, "ACTIVATE FILE", nil, activate, swConditionsOfUse, 0},
		{ccOpPowerOn, "INITIALIZE UPDATE", nil, iu, swConditionsOfUse, 0},
		{ccOpPowerOn, "EXTERNAL AUTHENTICATE (SCP03)", nil, ea, swConditionsOfUse, 0},
		{ccOpPowerOn, "CREATE FILE wrapped (CLA 04)", nil, "04E00000126210800200648201018302010E8C030300FF", swConditionsOfUse, 0},
		{ccOpPowerOn, "MSE:Set AT PACE with the CAN", nil, mse, swOK, 0},
		{ccOpPowerOn, "MSE:Set AT PACE with the MRZ", nil, "0022C1A412800A04007F00070202040202830101" + "84010D", swOK, 0},
		{ccOpPowerOn, "MSE:Set AT PACE without parameterId", nil, "0022C1A40F800A04007F00070202040202830102", swOK, 0},
		{ccOpPowerOn, "MSE:Set AT PACE, parameterId 12", nil, "0022C1A412800A04007F00070202040202830102" + "84010C", swWrongData, 0},
		{ccOpPowerOn, "MSE:Set AT PACE, DH-GM OID", nil, "0022C1A412800A04007F00070202040102830102" + "84010D", swWrongData, 0},
		{ccOpPowerOn, "MSE:Set AT PACE, password 03 (PIN)", nil, "0022C1A412800A04007F00070202040202830103" + "84010D", swRefDataNotFound, 0},
		{ccOpPowerOn, "MSE:Set KAT", nil, "002241A6029100", swIncorrectP1P2, 0},
		{ccOpPowerOn, "GENERAL AUTHENTICATE without MSE", nil, "10860000027C0000", swConditionsOfUse, 0},
		{ccOpPowerOn, "GENERAL AUTHENTICATE, P1 01", []string{mse}, "10860100027C0000", swIncorrectP1P2, 0},
		{ccOpPowerOn, "GENERAL AUTHENTICATE step 1 unchained", []string{mse}, "00860000027C0000", swConditionsOfUse, 0},
		{ccOpPowerOn, "GENERAL AUTHENTICATE step 1 with data", []string{mse}, "10860000037C010000", swWrongData, 0},
		{ccOpPowerOn, "GENERAL AUTHENTICATE step 1, Le 10", []string{mse}, "10860000027C0010", swWrongLe(20), 0},
		{ccOpPowerOn, "GENERAL AUTHENTICATE step 1", []string{mse}, "10860000027C0000", swOK, 20},
		{ccOpPowerOn, "GENERAL AUTHENTICATE step 2 off the curve", []string{mse, "10860000027C0000"}, "1086000045" + "7C43" + "8141" + "04" + zeros(64) + "00", swWrongData, 0},
		{ccOpPowerOn, "GET CHALLENGE at the MF", nil, "0084000008", swConditionsOfUse, 0},
		{ccOpPowerOn, "INTERNAL AUTHENTICATE in plain", nil, aa, swSecurityStatus, 0},
		{ccOpPowerOn, "MSE:Set AT CA in plain", nil, "002241A40C800A04007F00070202030202", swSecurityStatus, 0},
		{ccOpPowerOn, "READ BINARY, no EF", nil, "00B0000000", swNoCurrentEF, 0},
		{ccOpPowerOn, "CLA 0C without a session", nil, "0CB0000000", swSMNotSupported, 0},

		// Operational, the application selected, in plain.
		{ccOpApp, "SELECT EF.COM in plain", nil, "00A4020C02011E", swSecurityStatus, 0}, // cccd.md §2: SM only
		{ccOpApp, "SELECT DG3 in plain", nil, "00A4020C020103", swSecurityStatus, 0},
		{ccOpApp, "SELECT EF.CardAccess", nil, "00A4020C02011C", swOK, 0},
		{ccOpApp, "SELECT MF", nil, "00A4000C023F00", swINSNotSupported, 0},
		{ccOpApp, "GET CHALLENGE", nil, "0084000008", swOK, 8}, // BAC
		{ccOpApp, "GET CHALLENGE, Le 10", nil, "0084000010", swWrongLe(8), 0},
		{ccOpApp, "EXTERNAL AUTHENTICATE, wrong cryptogram", []string{"0084000008"}, "0082000028" + zeros(40) + "28", swVerificationFailed, 0},
		{ccOpApp, "INTERNAL AUTHENTICATE in plain", nil, aa, swSecurityStatus, 0},
		{ccOpApp, "MSE:Set AT PACE in the application", nil, mse, swOK, 0},
		{ccOpApp, "INITIALIZE UPDATE", nil, iu, swConditionsOfUse, 0},
		{ccOpApp, "UPDATE BINARY", nil, "00D6000001AA", swConditionsOfUse, 0},

		// Operational, under PACE secure messaging.
		{ccOpPACE, "SELECT EF.COM", nil, "00A4020C02011E", swOK, 0},
		{ccOpPACE, "SELECT DG3", nil, "00A4020C020103", swSecurityStatus, 0}, // no Terminal Authentication
		{ccOpPACE, "SELECT DG4", nil, "00A4020C020104", swSecurityStatus, 0},
		{ccOpPACE, "SELECT DG5 (absent)", nil, "00A4020C020105", swFileNotFound, 0},
		{ccOpPACE, "SELECT MF", nil, "00A4000C023F00", swINSNotSupported, 0},
		{ccOpPACE, "SELECT ISD under SM", nil, "00A4040C08A000000151000000", swFileNotFound, 0},
		{ccOpPACE, "READ BINARY, no EF", nil, "00B0000000", swNoCurrentEF, 0},
		{ccOpPACE, "READ EF.COM", []string{"00A4020C02011E"}, "00B0000004", swOK, 4},
		{ccOpPACE, "CREATE FILE", nil, fcpDG14, swConditionsOfUse, 0},
		{ccOpPACE, "UPDATE BINARY", []string{"00A4020C02011E"}, "00D6000001AA", swConditionsOfUse, 0},
		{ccOpPACE, "PUT DATA MRZ", nil, putMRZ, swConditionsOfUse, 0},
		{ccOpPACE, "GENERATE", nil, genCA, swConditionsOfUse, 0},
		{ccOpPACE, "ACTIVATE FILE", nil, activate, swConditionsOfUse, 0},
		{ccOpPACE, "GET CHALLENGE (Terminal Authentication)", nil, "0084000008", swSecurityStatus, 0},
		{ccOpPACE, "MSE:Set AT PACE under SM", nil, mse, swConditionsOfUse, 0},
		{ccOpPACE, "MSE:Set AT CA, another OID", nil, "002241A40C800A04007F00070202030201", swWrongData, 0},
		{ccOpPACE, "MSE:Set AT CA, key reference 02", nil, "002241A40F800A04007F00070202030202840102", swRefDataNotFound, 0},
		{ccOpPACE, "MSE:Set AT CA", nil, "002241A40C800A04007F00070202030202", swOK, 0},
		{ccOpPACE, "GENERAL AUTHENTICATE CA without MSE", nil, "00860000447C428040" + zeros(64) + "00", swConditionsOfUse, 0},
		{ccOpPACE, "INTERNAL AUTHENTICATE, Lc 7", nil, "008800000701020304050607" + "00", swWrongLength, 0},
		{ccOpPACE, "INTERNAL AUTHENTICATE, P1 01", nil, "0088010008010203040506070800", swIncorrectP1P2, 0},
		{ccOpPACE, "INTERNAL AUTHENTICATE", nil, aa, swOK, 64},
		{ccOpPACE, "GET DATA CPLC", nil, "00CA9F7F00", swOK, 45},
		{ccOpPACE, "unknown INS", nil, "0012000000", swINSNotSupported, 0},
		// Raw (not wrapped by the reader) in the PACE state: they end the session.
		{ccOpPACE, "raw: SCP03-wrapped CREATE FILE", nil, "!04E00000126210800200648201018302010E8C030300FF", swConditionsOfUse, 0},
		{ccOpPACE, "raw: SCP03-wrapped READ BINARY", nil, "!04B0000000", swSMNotSupported, 0},
		{ccOpPACE, "raw: a plain READ BINARY", nil, "!00B0000000", swSMObjectsMissing, 0},
	} {
		t.Run(fmt.Sprintf("%v/%s", tc.state, tc.name), func(t *testing.T) {
			h, send := inCCCDState(t, tc.state)
			for i, p := range tc.pre {
				if _, sw := send(t, unhex(t, p)); sw != swOK {
					t.Fatalf("preparation %d (%s): SW %04X", i, p, sw)
				}
			}
			apdu := tc.apdu
			if strings.HasPrefix(apdu, "!") { // sent as is, not wrapped
				apdu, h.noWrap = apdu[1:], true
			}
			d, sw := send(t, unhex(t, apdu))
			if sw != tc.sw {
				t.Fatalf("%s: SW %04X, want %04X", tc.apdu, sw, tc.sw)
			}
			if len(d) != tc.data {
				t.Errorf("%s: %d data bytes (%s), want %d", tc.name, len(d), hx(d), tc.data)
			}
		})
	}
}
