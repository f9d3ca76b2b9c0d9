package emrtd

import (
	"fmt"
	"testing"
)

// chipState is where a command of TestStatusWordsBeforeAuthentication is sent.
type chipState int

const (
	// stCardManager: a blank chip just powered on (the card manager is
	// selected, no application with files) — where a reader's first
	// commands land.
	stCardManager chipState = iota
	// stBlank: the passport applet selected on a blank chip.
	stBlank
	// stWritten: the applet selected, EF 0101 (100 bytes) created, written
	// and selected, the MRZ key seed stored; not locked.
	stWritten
	// stLocked: a personalized, locked chip after a reset, the applet
	// selected, no BAC yet.
	stLocked
	// stLockedPowerOn: the same chip just after the reset, the card
	// manager selected — what a border reader meets.
	stLockedPowerOn
)

func (s chipState) String() string {
	return [...]string{"card manager", "blank applet", "written applet", "locked applet", "locked chip at power-on"}[s]
}

// inState returns a reader on a fresh ext144 chip in state s.
func inState(t *testing.T, s chipState) *testReader {
	t.Helper()
	c := New(ModelExt144)
	r := newReader(t, c)
	if s == stCardManager {
		return r
	}
	r.selectApplet()
	if s == stBlank {
		return r
	}
	r.writeFile(0x0101, pattern(0x0101, 100), 255)
	r.expect("PUT DATA MRZ", putMRZAPDU(cccdMRZ), swOK)
	if s == stWritten {
		r.expect("SELECT 0101", selectFileAPDU(0x0101), swOK)
		return r
	}
	r.expect("LOCK", lockAPDU(), swOK)
	c.Reset()
	if s == stLocked {
		r.selectApplet()
	}
	return r
}

// Every command the chip takes before BAC answers the status word ISO/IEC
// 7816-4:2020 gives its situation (§5.6, Table 5: the structure of SW1-SW2;
// Table 6: the interindustry values). In short:
//
//	6A82 file or application not found       6A86 incorrect parameters P1-P2
//	6700 wrong length (Lc, no valid case)     6CXX wrong Le field; SW2 = exact length
//	6982 security status not satisfied        6985 conditions of use not satisfied
//	6986 command not allowed (no current EF)  6B00 wrong parameters P1-P2 (offset)
//	6282 end of file before Ne bytes           6A80 incorrect data field
//	6A85 Nc inconsistent with TLV structure    6A88 referenced data not found
//	6881 logical channel not supported         6882 secure messaging not supported
//	6884 command chaining not supported        6D00 INS not supported; 6E00 CLA not supported
//
// 6A86 is the answer only for a P1-P2 the chip does not support; a file
// that does not exist, selected by a supported method, is 6A82.
func TestStatusWordsBeforeAuthentication(t *testing.T) {
	challenge := "0084000008"
	for _, tc := range []struct {
		state chipState
		name  string
		pre   []string // each must answer 9000
		apdu  string
		sw    uint16
		data  int // response data bytes
	}{
		// SELECT FILE by identifier before any application is selected:
		// the card (a Java Card) has no MF and no EF outside the applet.
		// Readers try EF.CardAccess (PACE) first, before selecting the
		// eMRTD application, and go on to BAC on 6A82.
		{stCardManager, "SELECT EF.CardAccess by FID (P1 02)", nil, "00A4020C02011C", swFileNotFound, 0},       // Table 6: 6A82 file not found
		{stCardManager, "SELECT EF.CardAccess by FID (P1 00)", nil, "00A4000C02011C", swFileNotFound, 0},       // Table 6: 6A82
		{stCardManager, "SELECT EF.CardAccess, FCI asked (P2 00)", nil, "00A4020002011C00", swFileNotFound, 0}, // Table 6: 6A82
		{stCardManager, "SELECT MF by its FID 3F00", nil, "00A4000C023F00", swFileNotFound, 0},                 // Table 6: 6A82 (no MF)
		{stCardManager, "SELECT MF (P1 00, no data)", nil, "00A4000C", swFileNotFound, 0},                      // Table 6: 6A82 (no MF)
		{stCardManager, "SELECT EF.COM before the applet", nil, "00A4020C02011E", swFileNotFound, 0},           // Table 6: 6A82
		{stCardManager, "SELECT by path (P1 08, not supported)", nil, "00A4080C02011C", swIncorrectP1P2, 0},    // Table 6: 6A86
		{stCardManager, "SELECT DF by FID (P1 01, not supported)", nil, "00A4010C02011C", swIncorrectP1P2, 0},  // Table 6: 6A86
		{stCardManager, "SELECT FID, FCP asked (P2 04, not supported)", nil, "00A4020402011C", swIncorrectP1P2, 0},
		{stCardManager, "SELECT FID with 3 bytes", nil, "00A4020C03011C00", swWrongLength, 0}, // Table 6: 6700
		{stCardManager, "SELECT EF with no FID (P1 02)", nil, "00A4020C", swWrongLength, 0},   // Table 6: 6700
		// SELECT by DF name (P1 04): the Java Card runtime's selection.
		{stCardManager, "SELECT unknown AID", nil, "00A4040C07A0000002471002", swFileNotFound, 0}, // Table 6: 6A82 application not found
		{stCardManager, "SELECT AID of 4 bytes", nil, "00A4040C04A0000002", swWrongLength, 0},     // ISO/IEC 7816-5: an AID has 5-16 bytes
		{stCardManager, "SELECT next occurrence (P2 02)", nil, "00A4040207A0000002471001", swIncorrectP1P2, 0},
		{stCardManager, "SELECT ISD, FCI in 5 bytes", nil, "00A4040008A00000015100000005", swWrongLe(19), 0}, // Table 6: 6CXX, the FCI is 19 bytes
		{stCardManager, "SELECT ISD, FCI", nil, "00A4040008A00000015100000000", swOK, 19},
		{stCardManager, "SELECT passport applet", nil, "00A4040C07A0000002471001", swOK, 0},
		{stCardManager, "SELECT with Lc 5 and 4 bytes", nil, "00A4040C05A0000002", swWrongLength, 0}, // §5.1: no valid case → 6700
		// GET DATA CPLC (GlobalPlatform) in the card manager.
		{stCardManager, "GET DATA CPLC", nil, "80CA9F7F00", swOK, 45},
		{stCardManager, "GET DATA CPLC, Le 10", nil, "80CA9F7F10", swWrongLe(45), 0},     // Table 6: 6C2D
		{stCardManager, "GET DATA unknown tag", nil, "80CA006600", swRefDataNotFound, 0}, // Table 6: 6A88
		{stCardManager, "GET DATA with a data field", nil, "80CA9F7F0100", swWrongLength, 0},
		// Class and instruction (§5.4.1 codes CLA).
		{stCardManager, "CLA 84 (proprietary, SCP)", nil, "84CA9F7F00", swCLANotSupported, 0},     // Table 6: 6E00
		{stCardManager, "CLA FF (invalid)", nil, "FFCA9F7F00", swCLANotSupported, 0},              // Table 6: 6E00
		{stCardManager, "CLA 01 (logical channel 1)", nil, "01CA9F7F00", swChannelUnsupported, 0}, // Table 6: 6881
		{stCardManager, "CLA 41 (logical channel 5)", nil, "41CA9F7F00", swChannelUnsupported, 0}, // Table 6: 6881
		{stCardManager, "CLA 0C (secure messaging)", nil, "0CCA9F7F00", swSMNotSupported, 0},      // Table 6: 6882
		{stCardManager, "CLA 10 (command chaining)", nil, "10CA9F7F00", swChainingUnsupported, 0}, // Table 6: 6884
		{stCardManager, "unknown INS", nil, "80500000080102030405060708", swINSNotSupported, 0},   // Table 6: 6D00
		{stCardManager, "READ BINARY (no application)", nil, "00B0000000", swINSNotSupported, 0},  // Table 6: 6D00
		{stCardManager, "GET CHALLENGE (no application)", nil, challenge, swINSNotSupported, 0},   // Table 6: 6D00
		{stCardManager, "APDU of 3 bytes", nil, "00A404", swWrongLength, 0},                       // §5.1: no valid case

		// The applet on a blank chip.
		{stBlank, "SELECT EF.CardAccess (not created)", nil, "00A4020C02011C", swFileNotFound, 0}, // Table 6: 6A82
		{stBlank, "SELECT MF", nil, "00A4000C023F00", swFileNotFound, 0},                          // Table 6: 6A82 (as the JMRTD applet)
		{stBlank, "SELECT EF.COM (not created)", nil, "00A4020C02011E", swFileNotFound, 0},        // blank-chip detection
		{stBlank, "SELECT by path (P1 08)", nil, "00A4080C02011E", swIncorrectP1P2, 0},
		{stBlank, "SELECT FID, FCP asked (P2 04)", nil, "00A40204020101", swIncorrectP1P2, 0},
		{stBlank, "SELECT MF without data", nil, "00A4000C", swWrongLength, 0},            // Lc must be 2 (the JMRTD applet)
		{stBlank, "READ BINARY, no EF selected", nil, "00B0000000", swNoCurrentEF, 0},     // Table 6: 6986 no current EF
		{stBlank, "UPDATE BINARY, no EF selected", nil, "00D6000001AA", swNoCurrentEF, 0}, // Table 6: 6986
		{stBlank, "READ BINARY with an SFI (not supported)", nil, "00B09E0000", swIncorrectP1P2, 0},
		{stBlank, "GET CHALLENGE without the MRZ key seed", nil, challenge, swSecurityStatus, 0}, // as the JMRTD applet
		{stBlank, "EXTERNAL AUTHENTICATE without a challenge", nil, "0082000028" + zeros(40) + "28", swSecurityStatus, 0},
		{stBlank, "INTERNAL AUTHENTICATE without a key", nil, "0088000008" + zeros(8) + "00", swSecurityStatus, 0},
		{stBlank, "CREATE FILE, template 62 (not 63)", nil, "00E000000662040010010F", swWrongData, 0},                               // Table 6: 6A80
		{stBlank, "CREATE FILE, template length 5", nil, "00E000000663050010010F", swNcInconsistentTLV, 0},                          // Table 6: 6A85
		{stBlank, "CREATE FILE with Lc 5", nil, "00E000000563040010010F", swWrongLength, 0},                                         // Table 6: 6700
		{stBlank, "CREATE FILE with P1 01", nil, "00E001000663040010010F", swIncorrectP1P2, 0},                                      // Table 6: 6A86
		{stBlank, "CREATE FILE of a FID outside the applet", nil, "00E0000006630400100110", swWrongData, 0},                         // Table 6: 6A80
		{stBlank, "PUT DATA of an unknown tag", nil, "00DA0063026300", swIncorrectP1P2, 0},                                          // Table 6: 6A86
		{stBlank, "LOCK without the MRZ key seed", nil, "00DADEAD", swConditionsOfUse, 0},                                           // Table 6: 6985
		{stBlank, "unknown INS", nil, "0012000000", swINSNotSupported, 0},                                                           // Table 6: 6D00
		{stBlank, "CLA 80 (proprietary)", nil, "80B0000000", swCLANotSupported, 0},                                                  // Table 6: 6E00
		{stBlank, "CLA 01 (logical channel 1)", nil, "01B0000000", swChannelUnsupported, 0},                                         // Table 6: 6881
		{stBlank, "CLA 04 (proprietary SM)", nil, "04B0000000", swSMNotSupported, 0},                                                // Table 6: 6882
		{stBlank, "CLA 08 (SM, header not processed)", nil, "08B0000000", swSMNotSupported, 0},                                      // Table 6: 6882
		{stBlank, "protected APDU without a session", nil, "0CB000000D970100" + "8E080102030405060708" + "00", swSMNotSupported, 0}, // 6882 (JMRTD)
		{stBlank, "command chaining on READ BINARY", nil, "10B0000000", swChainingUnsupported, 0},                                   // Table 6: 6884

		// Before lock, a file written and selected, the MRZ key seed stored.
		{stWritten, "READ BINARY at the end of the EF", nil, "00B0006401", swWrongP1P2, 0}, // Table 6: 6B00
		{stWritten, "READ BINARY past the end", nil, "00B0005A14", swEndOfFile, 10},        // Table 6: 6282, the 10 bytes left
		{stWritten, "READ BINARY to the end", nil, "00B0005A0A", swOK, 10},
		{stWritten, "READ BINARY with a data field", nil, "00B000000100", swWrongLength, 0},
		{stWritten, "UPDATE BINARY past the end", nil, "00D6005A14" + zeros(20), swWrongP1P2, 0}, // Table 6: 6B00
		{stWritten, "GET CHALLENGE", nil, challenge, swOK, 8},
		{stWritten, "GET CHALLENGE, Le 10", nil, "0084000010", swWrongLe(8), 0},    // Table 6: 6C08
		{stWritten, "GET CHALLENGE, Le 00", nil, "0084000000", swWrongLe(8), 0},    // Table 6: 6C08
		{stWritten, "GET CHALLENGE without Le", nil, "00840000", swWrongLength, 0}, // Table 6: 6700
		{stWritten, "GET CHALLENGE with a data field", nil, "008400000100", swWrongLength, 0},
		{stWritten, "GET CHALLENGE with P1 01", nil, "0084010008", swIncorrectP1P2, 0},
		{stWritten, "EXTERNAL AUTHENTICATE with 39 bytes", []string{challenge}, "0082000027" + zeros(39) + "28", swWrongLength, 0},
		{stWritten, "EXTERNAL AUTHENTICATE, Le 10", []string{challenge}, "0082000028" + zeros(40) + "10", swWrongLe(40), 0}, // Table 6: 6C28
		{stWritten, "EXTERNAL AUTHENTICATE, wrong cryptogram", []string{challenge}, "0082000028" + zeros(40) + "28", swVerificationFailed, 0},
		{stWritten, "EXTERNAL AUTHENTICATE with P1 01", []string{challenge}, "0082010028" + zeros(40) + "28", swIncorrectP1P2, 0},

		// Locked, before BAC: reads need secure messaging, writes are over.
		{stLocked, "SELECT EF.COM in plain", nil, "00A4020C02011E", swSecurityStatus, 0},        // Table 6: 6982
		{stLocked, "SELECT EF.CardAccess in plain", nil, "00A4020C02011C", swSecurityStatus, 0}, // 6982 first, as JMRTD
		{stLocked, "READ BINARY in plain", nil, "00B0000000", swSecurityStatus, 0},              // Table 6: 6982
		{stLocked, "INTERNAL AUTHENTICATE in plain", nil, "0088000008" + zeros(8) + "00", swSecurityStatus, 0},
		{stLocked, "UPDATE BINARY", nil, "00D6000001AA", swConditionsOfUse, 0},         // Table 6: 6985
		{stLocked, "CREATE FILE", nil, "00E000000663040010010E", swConditionsOfUse, 0}, // Table 6: 6985
		{stLocked, "PUT DATA MRZ", nil, hx(putMRZAPDU(cccdMRZ)), swConditionsOfUse, 0}, // Table 6: 6985
		{stLocked, "GET CHALLENGE", nil, challenge, swOK, 8},                           // BAC starts here
		{stLocked, "protected READ BINARY without BAC", nil, "0CB000000D970100" + "8E080102030405060708" + "00", swSMNotSupported, 0},
		{stLockedPowerOn, "SELECT EF.CardAccess by FID", nil, "00A4020C02011C", swFileNotFound, 0}, // the reader goes on to BAC
		{stLockedPowerOn, "SELECT MF", nil, "00A4000C023F00", swFileNotFound, 0},
		{stLockedPowerOn, "SELECT passport applet", nil, "00A4040C07A0000002471001", swOK, 0},
	} {
		t.Run(fmt.Sprintf("%v/%s", tc.state, tc.name), func(t *testing.T) {
			r := inState(t, tc.state)
			for i, p := range tc.pre {
				r.expect(fmt.Sprintf("preparation %d", i), unhex(t, p), swOK)
			}
			d := r.expect(tc.name, unhex(t, tc.apdu), tc.sw)
			if len(d) != tc.data {
				t.Errorf("%s: %d data bytes (%s), want %d", tc.name, len(d), hx(d), tc.data)
			}
		})
	}
}

func zeros(n int) string { return hx(make([]byte, n)) }
