package emrtd

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestCardManagerAnswersCPLCWithTheSerialConvention(t *testing.T) {
	c := New(ModelExt144, WithSerial(0x01020304, 0xA1B2))
	r := newReader(t, c)
	// The card manager is selected after power-on.
	d := r.expect("GET DATA CPLC", unhex(t, "80CA9F7F00"), swOK)
	if len(d) != 45 || !bytes.Equal(d[:3], []byte{0x9F, 0x7F, 0x2A}) {
		t.Fatalf("GET DATA CPLC = %s, want 9F7F2A + 42 bytes", hx(d))
	}
	cplc := d[3:]
	want := "5643" + "0144" + "01020304" + "A1B2"
	if got := hx(append(append([]byte(nil), cplc[0:4]...), cplc[12:18]...)); got != want {
		t.Errorf("CPLC bytes 0-3 ‖ 12-17 = %s, want %s", got, want)
	}
	if got := c.Serial(); got != want {
		t.Errorf("Serial() = %s, want %s", got, want)
	}

	for _, tc := range []struct {
		name string
		apdu string
		sw   uint16
	}{
		{"GET DATA CPLC with CLA 00", "00CA9F7F00", swOK},
		{"GET DATA CPLC with Le=2D", "80CA9F7F2D", swOK},
		{"GET DATA CPLC with a short Le", "80CA9F7F10", swWrongLe(45)},
		{"GET DATA other tag", "80CA006600", swRefDataNotFound},
		{"CLA 84", "84CA9F7F00", swCLANotSupported},
		{"unknown INS", "80500000080102030405060708", swINSNotSupported},
		{"SELECT ISD, P2=0C", "00A4040C08A000000151000000", swOK},
		{"SELECT OP card manager", "00A4040C08A000000003000000", swOK},
		{"SELECT unknown AID", "00A4040C07A0000002471002", swFileNotFound},
		{"SELECT AID of 4 bytes", "00A4040C04A0000002", swWrongLength},
		{"SELECT AID, P2=02 (next occurrence)", "00A4040207A0000002471001", swIncorrectP1P2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.selectCardManager()
			r.expect(tc.name, unhex(t, tc.apdu), tc.sw)
		})
	}

	t.Run("SELECT ISD with P2=00 returns an FCI naming the AID", func(t *testing.T) {
		d := r.expect("SELECT ISD", buildAPDU(0x00, 0xA4, 0x04, 0x00, AIDCardManager, 256, false), swOK)
		tag, fci, _, ok := readTLV(d)
		if !ok || tag != 0x6F {
			t.Fatalf("FCI %s: want a 6F template", hx(d))
		}
		tag, aid, _, ok := readTLV(fci)
		if !ok || tag != 0x84 || !bytes.Equal(aid, AIDCardManager) {
			t.Errorf("FCI %s: want 84 %s first", hx(d), hx(AIDCardManager))
		}
	})
	t.Run("the applet does not answer GET DATA CPLC", func(t *testing.T) {
		r.selectApplet()
		r.expect("GET DATA, CLA 80", unhex(t, "80CA9F7F00"), swCLANotSupported)
		r.expect("GET DATA, CLA 00", unhex(t, "00CA9F7F00"), swINSNotSupported)
	})
}

func TestNewChipsGetUniqueSerials(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		s := New(ModelShort80).Serial()
		if len(s) != 20 || strings.ToUpper(s) != s {
			t.Fatalf("serial %q: want 20 upper-case hex characters", s)
		}
		if seen[s] {
			t.Fatalf("serial %s given twice", s)
		}
		seen[s] = true
	}
}

// TestPersonalizationPhaseStatusWords runs each command on a fresh, unlocked
// chip with the applet selected and EF 0101 (100 bytes) created.
func TestPersonalizationPhaseStatusWords(t *testing.T) {
	sel := selectFileAPDU(0x0101)
	for _, tc := range []struct {
		name    string
		pre     [][]byte // each must answer 9000
		apdu    []byte
		sw      uint16
		dataLen int
	}{
		{"CREATE FILE of an existing FID", nil, createFileAPDU(0x0101, 10), swFileExists, 0},
		{"CREATE FILE of size 0", nil, createFileAPDU(0x0102, 0), swWrongData, 0},
		{"CREATE FILE of size 32768", nil, createFileAPDU(0x0102, 32768), swWrongData, 0},
		{"CREATE FILE of size 32767", nil, createFileAPDU(0x0102, 32767), swOK, 0},
		{"CREATE FILE of the MF", nil, createFileAPDU(0x3F00, 10), swWrongData, 0},
		{"CREATE FILE of DG16 (not in the applet's file system)", nil, createFileAPDU(0x0110, 10), swWrongData, 0},
		{"CREATE FILE of EF.CVCA", nil, createFileAPDU(0x011C, 10), swOK, 0},
		{"CREATE FILE with tag 62", nil, unhex(t, "00E000000662040010010F"), swWrongData, 0},
		{"CREATE FILE with Lc 5", nil, unhex(t, "00E000000563040010010F"), swWrongLength, 0},
		{"CREATE FILE with Lc 7", nil, unhex(t, "00E00000076304001001020F"), swWrongLength, 0},
		{"CREATE FILE with inner length 5", nil, unhex(t, "00E000000663050010010F"), swNcInconsistentTLV, 0},
		{"CREATE FILE with P1 01", nil, unhex(t, "00E001000663040010010F"), swIncorrectP1P2, 0},
		{"SELECT FILE absent", nil, selectFileAPDU(0x0102), swFileNotFound, 0},
		{"SELECT FILE P2=00 answers without FCI", nil, unhex(t, "00A4020002010100"), swOK, 0},
		{"SELECT FILE P1=00", nil, unhex(t, "00A4000C020101"), swOK, 0},
		{"SELECT FILE P1=01", nil, unhex(t, "00A4010C020101"), swIncorrectP1P2, 0},
		{"SELECT FILE P2=04", nil, unhex(t, "00A40204020101"), swIncorrectP1P2, 0},
		{"SELECT FILE Lc 3", nil, unhex(t, "00A4020C03010100"), swWrongLength, 0},
		{"UPDATE BINARY with no file selected", nil, updateBinaryAPDU(0, []byte{1}), swNoCurrentEF, 0},
		{"READ BINARY with no file selected", nil, readBinaryAPDU(0, 10), swNoCurrentEF, 0},
		{"UPDATE BINARY past the end", [][]byte{sel}, updateBinaryAPDU(90, make([]byte, 20)), swWrongP1P2, 0},
		{"UPDATE BINARY at the size", [][]byte{sel}, updateBinaryAPDU(100, []byte{1}), swWrongP1P2, 0},
		{"UPDATE BINARY up to the last byte", [][]byte{sel}, updateBinaryAPDU(90, make([]byte, 10)), swOK, 0},
		{"UPDATE BINARY without data", [][]byte{sel}, unhex(t, "00D60000"), swWrongLength, 0},
		{"UPDATE BINARY with an SFI", [][]byte{sel}, unhex(t, "00D6810001AA"), swIncorrectP1P2, 0},
		{"READ BINARY at the size", [][]byte{sel}, readBinaryAPDU(100, 1), swWrongP1P2, 0},
		{"READ BINARY past the end returns the rest with 6282", [][]byte{sel}, readBinaryAPDU(90, 20), swEndOfFile, 10},
		{"READ BINARY to the exact end", [][]byte{sel}, readBinaryAPDU(90, 10), swOK, 10},
		{"READ BINARY Le=00 reads 256 or to the end", [][]byte{sel}, readBinaryAPDU(0, 256), swEndOfFile, 100},
		{"READ BINARY without Le reads like Le=00", [][]byte{sel}, unhex(t, "00B00000"), swEndOfFile, 100},
		{"READ BINARY with an SFI", [][]byte{sel}, unhex(t, "00B0810000"), swIncorrectP1P2, 0},
		{"READ BINARY with data", [][]byte{sel}, unhex(t, "00B000000100"), swWrongLength, 0},
		{"unknown INS", nil, unhex(t, "0012000000"), swINSNotSupported, 0},
		{"CLA 80", nil, unhex(t, "80B0000000"), swCLANotSupported, 0},
		{"CLA 04 (proprietary SM)", nil, unhex(t, "04B0000000"), swSMNotSupported, 0},
		{"CLA 01 (logical channel)", nil, unhex(t, "01B0000000"), swChannelUnsupported, 0},
		{"GET CHALLENGE without the MRZ key seed", nil, unhex(t, "0084000008"), swSecurityStatus, 0},
		{"GET CHALLENGE with Le 10", [][]byte{putMRZAPDU(cccdMRZ)}, unhex(t, "0084000010"), swWrongLe(8), 0},
		{"GET CHALLENGE with P1 01", [][]byte{putMRZAPDU(cccdMRZ)}, unhex(t, "0084010008"), swIncorrectP1P2, 0},
		{"GET CHALLENGE", [][]byte{putMRZAPDU(cccdMRZ)}, unhex(t, "0084000008"), swOK, 8},
		{"EXTERNAL AUTHENTICATE without a challenge", [][]byte{putMRZAPDU(cccdMRZ)}, buildAPDU(0, 0x82, 0, 0, make([]byte, 40), 40, false), swSecurityStatus, 0},
		{"EXTERNAL AUTHENTICATE with 39 bytes", [][]byte{putMRZAPDU(cccdMRZ), unhex(t, "0084000008")}, buildAPDU(0, 0x82, 0, 0, make([]byte, 39), 40, false), swWrongLength, 0},
		{"EXTERNAL AUTHENTICATE with garbage", [][]byte{putMRZAPDU(cccdMRZ), unhex(t, "0084000008")}, buildAPDU(0, 0x82, 0, 0, make([]byte, 40), 40, false), swVerificationFailed, 0},
		{"INTERNAL AUTHENTICATE without a key", nil, buildAPDU(0, 0x88, 0, 0, make([]byte, 8), 256, false), swSecurityStatus, 0},
		{"PUT DATA unknown tag", nil, buildAPDU(0, 0xDA, 0x00, 0x63, []byte{0x63, 0x00}, 0, false), swIncorrectP1P2, 0},
		{"PUT DATA MRZ without the 62 template", nil, buildAPDU(0, 0xDA, 0x00, 0x62, mrzData(cccdMRZ)[2:], 0, false), swWrongData, 0},
		{"PUT DATA MRZ with two fields", nil, buildAPDU(0, 0xDA, 0x00, 0x62, unhex(t, "620A0402414204043030303030"), 0, false), swWrongData, 0},
		{"PUT DATA MRZ in lower case", nil, putMRZAPDU(mrzTriple{"ab1234567", "030514", "430514"}), swWrongData, 0},
		{"PUT DATA MRZ with a 5-digit date", nil, putMRZAPDU(mrzTriple{"203001234", "03051", "430514"}), swWrongData, 0},
		{"PUT DATA MRZ with unknown day and month", nil, putMRZAPDU(mrzTriple{"203001234", "50<<<<", "<<<<<<"}), swOK, 0},
		{"PUT DATA MRZ with trailing bytes", nil, buildAPDU(0, 0xDA, 0x00, 0x62, append(mrzData(cccdMRZ), 0x00), 0, false), swWrongData, 0},
		{"PUT DATA modulus with the wrong tag", nil, buildAPDU(0, 0xDA, 0x00, 0x60, aaKeyData(0x61, testKey(t, 1024).N.Bytes()), 0, false), swWrongData, 0},
		{"PUT DATA modulus of 1023 bits", nil, buildAPDU(0, 0xDA, 0x00, 0x60, aaKeyData(0x60, append([]byte{0x7F}, make([]byte, 127)...)), 0, false), swWrongData, 0},
		{"PUT DATA modulus of 768 bits", nil, buildAPDU(0, 0xDA, 0x00, 0x60, aaKeyData(0x60, append([]byte{0xC0}, make([]byte, 95)...)), 0, false), swWrongData, 0},
		{"PUT DATA empty exponent", nil, buildAPDU(0, 0xDA, 0x00, 0x61, aaKeyData(0x61, []byte{0}), 0, false), swWrongData, 0},
		{"LOCK without the MRZ key seed", nil, lockAPDU(), swConditionsOfUse, 0},
		{"LOCK with half an AA key", [][]byte{putMRZAPDU(cccdMRZ), buildAPDU(0, 0xDA, 0x00, 0x60, aaKeyData(0x60, testKey(t, 1024).N.Bytes()), 0, false)}, lockAPDU(), swConditionsOfUse, 0},
		{"LOCK with the MRZ key seed and no AA key", [][]byte{putMRZAPDU(cccdMRZ)}, lockAPDU(), swOK, 0},
		{"LOCK with Le", [][]byte{putMRZAPDU(cccdMRZ)}, unhex(t, "00DADEAD00"), swOK, 0},
		{"protected APDU without a session", nil, unhex(t, "0CB000000D970100"+"8E080102030405060708"+"00"), swSMNotSupported, 0},
		{"chaining for UPDATE BINARY", [][]byte{sel}, unhex(t, "10D6000001AA"), swChainingUnsupported, 0},
		{"SELECT applet again", nil, buildAPDU(0x00, 0xA4, 0x04, 0x00, AIDPassport, 256, false), swOK, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(ModelExt144)
			r := newReader(t, c)
			r.selectApplet()
			r.expect("CREATE 0101", createFileAPDU(0x0101, 100), swOK)
			for i, p := range tc.pre {
				r.expect(fmt.Sprintf("preparation %d", i), p, swOK)
			}
			d := r.expect(tc.name, tc.apdu, tc.sw)
			if len(d) != tc.dataLen {
				t.Errorf("%s: %d data bytes (%s), want %d", tc.name, len(d), hx(d), tc.dataLen)
			}
		})
	}
}

func TestCreateFileDoesNotSelectTheFile(t *testing.T) {
	r := newReader(t, New(ModelShort80))
	r.selectApplet()
	r.expect("CREATE", createFileAPDU(0x0101, 10), swOK)
	r.expect("UPDATE right after CREATE", updateBinaryAPDU(0, []byte{1}), swNoCurrentEF)
}

func TestSelectingAMissingFileClearsTheSelection(t *testing.T) {
	r := newReader(t, New(ModelShort80))
	r.selectApplet()
	r.expect("CREATE", createFileAPDU(0x0101, 10), swOK)
	r.expect("SELECT 0101", selectFileAPDU(0x0101), swOK)
	r.expect("SELECT 0102", selectFileAPDU(0x0102), swFileNotFound)
	r.expect("READ", readBinaryAPDU(0, 1), swNoCurrentEF)
}

func TestSelectingTheAppletClearsTheFileSelection(t *testing.T) {
	r := newReader(t, New(ModelShort80))
	r.selectApplet()
	r.expect("CREATE", createFileAPDU(0x0101, 10), swOK)
	r.expect("SELECT 0101", selectFileAPDU(0x0101), swOK)
	r.selectApplet()
	r.expect("READ", readBinaryAPDU(0, 1), swNoCurrentEF)
}

// TestFilesReadBackBeforeLockInPlain writes an image and reads every file
// back in plain, with short and (on ext144) extended chunks.
func TestFilesReadBackBeforeLockInPlain(t *testing.T) {
	for _, tc := range []struct {
		model             Model
		writeChunk, chunk int
	}{
		{ModelShort80, 255, 256},
		{ModelShort80, 100, 37},
		{ModelExt144, 255, 256},
		{ModelExt144, 2048, 2048},
	} {
		t.Run(fmt.Sprintf("%s write %d read %d", tc.model.Name, tc.writeChunk, tc.chunk), func(t *testing.T) {
			img := testImage(nil)
			r := personalize(t, New(tc.model), img, tc.writeChunk, false)
			for _, fid := range img.order {
				got := r.plainReadFile(fid, tc.chunk)
				if !bytes.Equal(got, img.files[fid]) {
					t.Errorf("file %04X read back differs:\n got %s\nwant %s", fid, hx(got), hx(img.files[fid]))
				}
			}
		})
	}
}

// TestAfterLockWritesAnswer6985PlainAndUnderSM checks every writing command
// once locked, in plain and protected.
func TestAfterLockWritesAnswer6985PlainAndUnderSM(t *testing.T) {
	key := testKey(t, 1024)
	writes := []struct {
		name           string
		ins, p1, p2    byte
		data           []byte
		chained        bool
		needsSelection bool
	}{
		{"CREATE FILE", 0xE0, 0x00, 0x00, []byte{0x63, 0x04, 0x00, 0x10, 0x01, 0x0E}, false, false},
		{"UPDATE BINARY", 0xD6, 0x00, 0x00, []byte{1, 2, 3}, false, true},
		{"PUT DATA MRZ", 0xDA, 0x00, 0x62, mrzData(icaoMRZ), false, false},
		{"PUT DATA modulus", 0xDA, 0x00, 0x60, aaKeyData(0x60, key.N.Bytes()), false, false},
		{"PUT DATA exponent", 0xDA, 0x00, 0x61, aaKeyData(0x61, key.D.Bytes()), false, false},
		{"PUT DATA lock again", 0xDA, 0xDE, 0xAD, nil, false, false},
		{"chained PUT DATA", 0xDA, 0x00, 0x62, mrzData(icaoMRZ)[:5], true, false},
	}
	c := New(ModelShort80)
	r := personalize(t, c, testImage(key), 255, true)
	for _, w := range writes {
		t.Run("plain "+w.name, func(t *testing.T) {
			cla := byte(0x00)
			if w.chained {
				cla = 0x10
			}
			r.expect(w.name, buildAPDU(cla, w.ins, w.p1, w.p2, w.data, 0, false), swConditionsOfUse)
		})
	}
	r.selectApplet()
	r.mustBAC(cccdMRZ)
	for _, w := range writes {
		t.Run("protected "+w.name, func(t *testing.T) {
			if w.needsSelection {
				r.smExpect("SM SELECT", 0xA4, 0x02, 0x0C, []byte{0x01, 0x01}, 0, swOK)
			}
			cla := byte(0x00)
			if w.chained {
				cla = 0x10
			}
			resp := r.send(r.sm.wrap(cla, w.ins, w.p1, w.p2, w.data, 0, false))
			_, sw, err := r.sm.unwrap(resp)
			if err != nil || sw != swConditionsOfUse {
				t.Errorf("%s under SM: SW %04X (%v), want protected 6985", w.name, sw, err)
			}
		})
	}
	if !c.Locked() {
		t.Error("Locked() = false after LOCK")
	}
}

func TestAfterLockPlainSelectReadAndAAAnswer6982(t *testing.T) {
	c := New(ModelExt144)
	r := personalize(t, c, testImage(testKey(t, 1024)), 255, true)
	c.Reset()
	r.selectApplet()
	r.expect("plain SELECT FILE", selectFileAPDU(0x011E), swSecurityStatus)
	r.expect("plain READ BINARY", readBinaryAPDU(0, 16), swSecurityStatus)
	r.expect("plain INTERNAL AUTHENTICATE", buildAPDU(0, 0x88, 0, 0, make([]byte, 8), 256, false), swSecurityStatus)
	r.expect("protected READ BINARY without BAC", unhex(t, "0CB000000D970110"+"8E080102030405060708"+"00"), swSMNotSupported)
	r.selectApplet() // still selectable in plain
	r.selectCardManager()
	r.expect("GET DATA CPLC after lock", unhex(t, "80CA9F7F00"), swOK)
}

func TestBACWithAWrongMRZAnswers6300AndLeavesTheChipUnauthenticated(t *testing.T) {
	c := New(ModelShort80)
	r := personalize(t, c, testImage(nil), 255, true)
	c.Reset()
	r.selectApplet()
	wrong := cccdMRZ
	wrong.dob = "030515"
	if sw := r.bac(wrong); sw != swVerificationFailed {
		t.Fatalf("BAC with a wrong date of birth: SW %04X, want 6300", sw)
	}
	if c.sm != nil {
		t.Fatal("secure messaging established after a failed BAC")
	}
	// The challenge was used up by the failed attempt.
	r.expect("EXTERNAL AUTHENTICATE again", buildAPDU(0, 0x82, 0, 0, make([]byte, 40), 40, false), swSecurityStatus)
	r.expect("plain SELECT still refused", selectFileAPDU(0x011E), swSecurityStatus)
	r.mustBAC(cccdMRZ) // the right MRZ still works
}

// TestBACUsesTheDocumentNumberExactlyAsWritten: like the JMRTD applet, the
// chip does not pad the document number; "L898902C" (no filler) and
// "L898902C<" give different keys.
func TestBACUsesTheDocumentNumberExactlyAsWritten(t *testing.T) {
	short := mrzTriple{"L898902C", icaoMRZ.dob, icaoMRZ.exp}
	for _, tc := range []struct {
		name            string
		written, reader mrzTriple
		sw              uint16
	}{
		{"with filler both sides", icaoMRZ, icaoMRZ, swOK},
		{"written without filler, read with", short, icaoMRZ, swVerificationFailed},
		{"written with filler, read without", icaoMRZ, short, swVerificationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(ModelShort80)
			r := newReader(t, c)
			r.selectApplet()
			r.expect("PUT DATA MRZ", putMRZAPDU(tc.written), swOK)
			r.expect("LOCK", lockAPDU(), swOK)
			if sw := r.bac(tc.reader); sw != tc.sw {
				t.Errorf("BAC: SW %04X, want %04X", sw, tc.sw)
			}
		})
	}
}

// TestBACBeforeLockGivesSecureMessagingToo: BAC works as soon as the MRZ key
// seed is there, as on the JMRTD applet.
func TestBACBeforeLockGivesSecureMessagingToo(t *testing.T) {
	img := testImage(nil)
	r := personalize(t, New(ModelShort80), img, 255, false)
	r.mustBAC(img.mrz)
	if got := r.smReadFile(0x0101, 231); !bytes.Equal(got, img.files[0x0101]) {
		t.Errorf("DG1 under SM before lock:\n got %s\nwant %s", hx(got), hx(img.files[0x0101]))
	}
}

// TestVerificationReadsEveryFileUnderSMButDG3 is the station's verification
// after lock: reset, select, BAC, read each file under secure messaging.
func TestVerificationReadsEveryFileUnderSMButDG3(t *testing.T) {
	for _, tc := range []struct {
		model    Model
		extended bool
		chunk    int
	}{
		{ModelShort80, false, 231},
		{ModelShort80, false, 223},
		{ModelExt144, false, 231},
		{ModelExt144, true, 2023},
		{ModelExt144, true, 1000},
	} {
		t.Run(fmt.Sprintf("%s extended=%t chunk=%d", tc.model.Name, tc.extended, tc.chunk), func(t *testing.T) {
			img := testImage(nil)
			c := New(tc.model)
			r := personalize(t, c, img, 255, true)
			c.Reset()
			r.selectApplet()
			r.mustBAC(img.mrz)
			r.extended = tc.extended
			for _, fid := range img.order {
				if fid == 0x0103 {
					r.smExpect("SM SELECT DG3", 0xA4, 0x02, 0x0C, []byte{0x01, 0x03}, 0, swSecurityStatus)
					continue
				}
				got := r.smReadFile(fid, tc.chunk)
				if !bytes.Equal(got, img.files[fid]) {
					t.Errorf("file %04X under SM:\n got %s\nwant %s", fid, hx(got), hx(img.files[fid]))
				}
			}
		})
	}
}

// TestSMReadAskingForMoreThanFitsIsCutShort: with a short outer Le, a
// protected READ BINARY asking for 256 bytes gets 231 and 9000.
func TestSMReadAskingForMoreThanFitsIsCutShort(t *testing.T) {
	img := testImage(nil)
	c := New(ModelExt144)
	r := personalize(t, c, img, 255, true)
	r.selectApplet()
	r.mustBAC(img.mrz)
	r.smExpect("SELECT DG2", 0xA4, 0x02, 0x0C, []byte{0x01, 0x02}, 0, swOK)
	d := r.smExpect("READ 256", 0xB0, 0x00, 0x00, nil, 256, swOK)
	if len(d) != 231 || !bytes.Equal(d, img.files[0x0102][:231]) {
		t.Errorf("protected READ BINARY Le=256 with a short APDU: %d bytes, want the first 231", len(d))
	}
	d = r.smExpect("READ past the end", 0xB0, byte(3990>>8), byte(3990&0xFF), nil, 100, swEndOfFile)
	if !bytes.Equal(d, img.files[0x0102][3990:]) {
		t.Errorf("protected READ BINARY past the end: %s", hx(d))
	}
	r.smExpect("READ at the size", 0xB0, byte(4000>>8), byte(4000&0xFF), nil, 1, swWrongP1P2)
	r.smExpect("READ without selection after a failed SELECT", 0xA4, 0x02, 0x0C, []byte{0x01, 0x06}, 0, swFileNotFound)
	r.smExpect("READ with no file", 0xB0, 0, 0, nil, 1, swNoCurrentEF)
}

// TestSMErrorsEndTheSession: a wrong MAC, a broken cryptogram, a missing MAC
// or a plain command ends secure messaging; the chip needs BAC again.
func TestSMErrorsEndTheSession(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(r *testReader) []byte
		sw     uint16
	}{
		{"MAC flipped", func(r *testReader) []byte {
			a := r.sm.wrap(0x00, 0xA4, 0x02, 0x0C, []byte{0x01, 0x1E}, 0, false)
			a[len(a)-2] ^= 0x01 // last MAC byte (before Le)
			return a
		}, swSMObjectsIncorrect},
		{"cryptogram flipped", func(r *testReader) []byte {
			a := r.sm.wrap(0x00, 0xA4, 0x02, 0x0C, []byte{0x01, 0x1E}, 0, false)
			a[8] ^= 0x80 // inside DO'87'
			return a
		}, swSMObjectsIncorrect},
		{"header changed", func(r *testReader) []byte {
			a := r.sm.wrap(0x00, 0xA4, 0x02, 0x0C, []byte{0x01, 0x1E}, 0, false)
			a[3] = 0x00 // P2 is covered by the MAC
			return a
		}, swSMObjectsIncorrect},
		{"replayed (old SSC)", func(r *testReader) []byte {
			a := r.sm.wrap(0x00, 0xA4, 0x02, 0x0C, []byte{0x01, 0x1E}, 0, false)
			r.send(a) // accepted once
			return a
		}, swSMObjectsIncorrect},
		{"MAC missing", func(r *testReader) []byte {
			r.sm.inc()
			return unhex(t, "0CB00000039701"+"1000")
		}, swSMObjectsMissing},
		{"unknown data object", func(r *testReader) []byte {
			r.sm.inc()
			return unhex(t, "0CB0000010"+"850101"+"970110"+"8E080102030405060708"+"00")
		}, swSMObjectsIncorrect},
		{"plain command", func(r *testReader) []byte {
			return selectFileAPDU(0x011E)
		}, swSMObjectsMissing},
		{"plain GET CHALLENGE", func(r *testReader) []byte {
			return unhex(t, "0084000008")
		}, swSMObjectsMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := testImage(nil)
			c := New(ModelShort80)
			r := personalize(t, c, img, 255, true)
			r.selectApplet()
			r.mustBAC(img.mrz)
			resp := r.send(tc.tamper(r))
			if !bytes.Equal(resp, status(tc.sw)) {
				t.Fatalf("answer %s, want plain %04X", hx(resp), tc.sw)
			}
			if c.sm != nil {
				t.Fatal("secure messaging still established")
			}
			// The next protected command finds no session.
			resp = r.send(r.sm.wrap(0x00, 0xB0, 0, 0, nil, 16, false))
			if !bytes.Equal(resp, status(swSMNotSupported)) {
				t.Fatalf("protected command after the error: %s, want 6882", hx(resp))
			}
			r.expect("plain READ", readBinaryAPDU(0, 1), swSecurityStatus)
			r.mustBAC(img.mrz)
			if got := r.smReadFile(0x011E, 231); !bytes.Equal(got, img.files[0x011E]) {
				t.Errorf("EF.COM after BAC again: %s", hx(got))
			}
		})
	}
}

func TestSelectingAnApplicationEndsSecureMessaging(t *testing.T) {
	img := testImage(nil)
	c := New(ModelShort80)
	r := personalize(t, c, img, 255, true)
	r.selectApplet()
	r.mustBAC(img.mrz)
	r.smExpect("SELECT EF.COM", 0xA4, 0x02, 0x0C, []byte{0x01, 0x1E}, 0, swOK)
	r.expect("SELECT applet", buildAPDU(0x00, 0xA4, 0x04, 0x0C, AIDPassport, 0, false), swOK)
	if c.sm != nil || c.hasSelected {
		t.Fatal("SELECT of the applet kept the session or the file selection")
	}
}

// TestResetAndPowerOffClearVolatileStateButKeepFiles: selection, challenge
// and secure messaging go; files, keys and the lock stay.
func TestResetAndPowerOffClearVolatileStateButKeepFiles(t *testing.T) {
	for _, event := range []string{"Reset", "PowerOff+PowerOn"} {
		t.Run(event, func(t *testing.T) {
			img := testImage(nil)
			c := New(ModelShort80)
			r := personalize(t, c, img, 255, false)
			power := func() {
				if event == "Reset" {
					c.Reset()
				} else {
					c.PowerOff()
					c.PowerOn()
				}
			}
			r.expect("SELECT DG1", selectFileAPDU(0x0101), swOK)
			power()
			// The card manager is selected again: the applet's READ BINARY
			// is not understood there.
			r.expect("READ BINARY to the card manager", readBinaryAPDU(0, 1), swINSNotSupported)
			r.selectApplet()
			r.expect("READ BINARY after power event", readBinaryAPDU(0, 1), swNoCurrentEF)
			if got := r.plainReadFile(0x0101, 256); !bytes.Equal(got, img.files[0x0101]) {
				t.Errorf("DG1 after %s: %s", event, hx(got))
			}
			r.expect("GET CHALLENGE", unhex(t, "0084000008"), swOK)
			power()
			r.selectApplet()
			r.expect("EXTERNAL AUTHENTICATE with a challenge from before", buildAPDU(0, 0x82, 0, 0, make([]byte, 40), 40, false), swSecurityStatus)

			r.expect("LOCK", lockAPDU(), swOK)
			r.mustBAC(img.mrz)
			stale := r.sm
			power()
			r.selectApplet()
			resp := r.send(stale.wrap(0x00, 0xB0, 0, 0, nil, 16, false))
			if !bytes.Equal(resp, status(swSMNotSupported)) {
				t.Fatalf("protected command after %s: %s, want 6882", event, hx(resp))
			}
			if !c.Locked() || !c.Written() {
				t.Fatalf("%s lost the lock or the written state", event)
			}
			r.mustBAC(img.mrz)
			if got := r.smReadFile(0x0101, 231); !bytes.Equal(got, img.files[0x0101]) {
				t.Errorf("DG1 under SM after %s: %s", event, hx(got))
			}
		})
	}
}

// TestPutDataAcceptsCommandChaining: the MRZ key seed sent in three chained
// pieces works; a chain broken by another command is dropped.
func TestPutDataAcceptsCommandChaining(t *testing.T) {
	data := mrzData(cccdMRZ)
	c := New(ModelShort80)
	r := newReader(t, c)
	r.selectApplet()
	r.expect("chain 1", buildAPDU(0x10, 0xDA, 0x00, 0x62, data[:5], 0, false), swOK)
	r.expect("chain 2", buildAPDU(0x10, 0xDA, 0x00, 0x62, data[5:12], 0, false), swOK)
	r.expect("chain end", buildAPDU(0x00, 0xDA, 0x00, 0x62, data[12:], 0, false), swOK)
	r.expect("LOCK", lockAPDU(), swOK)
	r.mustBAC(cccdMRZ)

	c = New(ModelShort80)
	r = newReader(t, c)
	r.selectApplet()
	r.expect("chain 1", buildAPDU(0x10, 0xDA, 0x00, 0x62, data[:5], 0, false), swOK)
	r.expect("interruption", unhex(t, "0084000008"), swSecurityStatus)
	r.expect("chain end alone", buildAPDU(0x00, 0xDA, 0x00, 0x62, data[5:], 0, false), swWrongData)
	r.expect("chain over 4096 bytes", buildAPDU(0x10, 0xDA, 0x00, 0x62, make([]byte, 255), 0, false), swOK)
	for i := 0; i < 15; i++ {
		r.send(buildAPDU(0x10, 0xDA, 0x00, 0x62, make([]byte, 255), 0, false))
	}
	r.expect("chain over 4096 bytes", buildAPDU(0x10, 0xDA, 0x00, 0x62, make([]byte, 255), 0, false), swWrongLength)
}

// TestExtendedLengthOnlyWhereTheModelDeclaresIt.
func TestExtendedLengthOnlyWhereTheModelDeclaresIt(t *testing.T) {
	for _, tc := range []struct {
		model Model
		name  string
		apdu  []byte
		sw    uint16
	}{
		{ModelShort80, "extended READ BINARY", buildAPDU(0, 0xB0, 0, 0, nil, 100, true), swWrongLength},
		{ModelShort80, "extended UPDATE BINARY", buildAPDU(0, 0xD6, 0, 0, []byte{1}, 0, true), swWrongLength},
		{ModelShort80, "short UPDATE BINARY of 255 bytes", buildAPDU(0, 0xD6, 0, 0, make([]byte, 255), 0, false), swOK},
		{ModelExt144, "extended READ BINARY", buildAPDU(0, 0xB0, 0, 0, nil, 100, true), swOK},
		{ModelExt144, "extended UPDATE BINARY of 2048 bytes", buildAPDU(0, 0xD6, 0, 0, make([]byte, 2048), 0, true), swOK},
		{ModelExt144, "extended UPDATE BINARY of 2049 bytes", buildAPDU(0, 0xD6, 0, 0, make([]byte, 2049), 0, true), swWrongLength},
		{ModelExt144, "extended READ BINARY Le=0000 is cut at 2048 bytes", buildAPDU(0, 0xB0, 0, 0, nil, 65536, true), swOK},
		{ModelExt144, "extended READ BINARY Le=0000 near the end reads to the end", buildAPDU(0, 0xB0, 0x08, 0x00, nil, 65536, true), swEndOfFile},
	} {
		t.Run(tc.model.Name+" "+tc.name, func(t *testing.T) {
			r := newReader(t, New(tc.model))
			r.selectApplet()
			r.expect("CREATE", createFileAPDU(0x0102, 3000), swOK)
			r.expect("SELECT", selectFileAPDU(0x0102), swOK)
			r.expect(tc.name, tc.apdu, tc.sw)
		})
	}
	t.Run("ext144 plain READ BINARY is capped at 2048 bytes", func(t *testing.T) {
		r := newReader(t, New(ModelExt144))
		r.selectApplet()
		r.expect("CREATE", createFileAPDU(0x0102, 5000), swOK)
		r.expect("SELECT", selectFileAPDU(0x0102), swOK)
		d := r.expect("READ 4000", buildAPDU(0, 0xB0, 0, 0, nil, 4000, true), swOK)
		if len(d) != 2048 {
			t.Errorf("READ BINARY Le=4000: %d bytes, want 2048", len(d))
		}
	})
}

// TestEEPROMCapacityIsEnforced fills each model's file capacity exactly and
// checks that one more byte is refused with 6A84.
func TestEEPROMCapacityIsEnforced(t *testing.T) {
	for _, m := range modelsWith(CommandSetJMRTD) { // cccd: TestCCCDEEPROMCapacityIsEnforced
		t.Run(m.Name, func(t *testing.T) {
			r := newReader(t, New(m))
			r.selectApplet()
			left := m.FileCapacity()
			fid := uint16(0x0101)
			for left > maxFileSize {
				r.expect(fmt.Sprintf("CREATE %04X", fid), createFileAPDU(fid, maxFileSize), swOK)
				left -= maxFileSize
				fid++
			}
			r.expect("CREATE one byte too big", createFileAPDU(fid, left+1), swNotEnoughMemory)
			r.expect("CREATE the exact rest", createFileAPDU(fid, left), swOK)
			r.expect("CREATE one more byte", createFileAPDU(fid+1, 1), swNotEnoughMemory)
		})
	}
}

// TestTraceShowsHeadersButNeverSecrets runs a whole personalization and
// verification with a trace and looks for MRZ and key material in it.
func TestTraceShowsHeadersButNeverSecrets(t *testing.T) {
	var buf bytes.Buffer
	key := testKey(t, 1024)
	img := testImage(key)
	c := New(ModelShort80, WithTrace(&buf))
	r := personalize(t, c, img, 255, true)
	c.Reset()
	r.selectApplet()
	r.mustBAC(img.mrz)
	r.smReadFile(0x0101, 231)
	trace := buf.String()
	for _, want := range []string{"00DA0062", "00DADEAD", "0CB00000", "locked", "BAC established"} {
		if !strings.Contains(trace, want) {
			t.Errorf("trace lacks %q:\n%s", want, trace)
		}
	}
	secrets := []string{img.mrz.doc, img.mrz.dob, img.mrz.exp, hx([]byte(img.mrz.doc)),
		hx(key.N.Bytes()[:8]), hx(key.D.Bytes()[:8]), hx(c.kEnc[:8]), hx(c.kMac[:8])}
	for _, s := range secrets {
		if strings.Contains(strings.ToUpper(trace), strings.ToUpper(s)) {
			t.Errorf("trace contains secret material %q", s)
		}
	}
	for _, s := range []string{c.String(), fmt.Sprint(c.mrz), fmt.Sprintf("%v", *c.mrz)} {
		if strings.Contains(s, img.mrz.doc) || strings.Contains(s, img.mrz.dob) {
			t.Errorf("%q reveals the MRZ", s)
		}
	}
}
