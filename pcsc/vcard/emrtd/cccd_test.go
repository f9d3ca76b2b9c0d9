package emrtd

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
)

func bigOne() *big.Int { return big.NewInt(1) }

// TestCCCDPersonalizationThenReaders personalizes a blank cccd chip with the
// station's script (cccd.md §4) and reads it back as readers do (§5): PACE
// with the CAN at the MF and with the MRZ in the application, BAC, every data
// group, DG3 refused, Active Authentication, Chip Authentication after the
// reads and after AA (and reads again under its keys), AA again.
func TestCCCDPersonalizationThenReaders(t *testing.T) {
	c, img, res := personalizedCCCD(t)
	if !c.Locked() || !c.Written() {
		t.Fatalf("after ACTIVATE FILE: Locked %t Written %t", c.Locked(), c.Written())
	}
	readable := []uint16{0x011E, 0x0101, 0x0102, 0x010D, 0x010E, 0x010F, 0x011D}
	readAll := func(h *cccdHost) {
		t.Helper()
		for _, fid := range readable {
			if got := h.smReadFile(fid); !bytes.Equal(got, img.files[fid]) {
				t.Fatalf("file %04X:\n got %s\nwant %s", fid, hx(got), hx(img.files[fid]))
			}
		}
		h.smExpect("SELECT DG3", 0xA4, 0x02, 0x0C, []byte{0x01, 0x03}, 0, swSecurityStatus)
		h.smExpect("SELECT DG4", 0xA4, 0x02, 0x0C, []byte{0x01, 0x04}, 0, swSecurityStatus)
	}

	t.Run("PACE with the CAN at the MF", func(t *testing.T) {
		c.Reset()
		h := newCCCDHost(t, c)
		h.expect("SELECT EF.CardAccess", selectFileAPDU(fidCardAccess), swOK)
		if got := h.expect("READ EF.CardAccess", readBinaryAPDU(0, 256), swEndOfFile); !bytes.Equal(got, img.files[fidCardAccess]) {
			t.Fatalf("EF.CardAccess in plain: %s", hx(got))
		}
		h.mustPACE(pacePasswordCAN, paceKeyOf(pacePasswordCAN, img.mrz, img.can))
		h.smExpect("SELECT eMRTD application", 0xA4, 0x04, 0x0C, AIDPassport, 0, swOK)
		readAll(h)
		h.activeAuthentication(res.aaPub, img.aaCurve)
		h.chipAuthentication(res.caPub, img.caCurve, false)
		readAll(h)
		h.activeAuthentication(res.aaPub, img.aaCurve)
		h.chipAuthentication(res.caPub, img.caCurve, true) // again, with the key reference
		h.smReadFile(0x0101)
	})
	t.Run("PACE with the MRZ in the application", func(t *testing.T) {
		c.Reset()
		h := newCCCDHost(t, c)
		h.selectApplication()
		h.mustPACE(pacePasswordMRZ, paceKeyOf(pacePasswordMRZ, img.mrz, img.can))
		h.chipAuthentication(res.caPub, img.caCurve, false) // CA first thing
		readAll(h)
	})
	t.Run("BAC, then CA after the reads and after AA", func(t *testing.T) {
		c.Reset()
		h := newCCCDHost(t, c)
		h.selectApplication()
		if sw := h.bac(img.mrz); sw != swOK {
			t.Fatalf("BAC: SW %04X", sw)
		}
		readAll(h)
		h.activeAuthentication(res.aaPub, img.aaCurve)
		h.chipAuthentication(res.caPub, img.caCurve, false)
		readAll(h)
	})
	t.Run("wrong passwords", func(t *testing.T) {
		c.Reset()
		h := newCCCDHost(t, c)
		if sw := h.pace(pacePasswordCAN, paceKeyOf(pacePasswordCAN, img.mrz, "999999")); sw != swVerificationFailed {
			t.Fatalf("PACE with a wrong CAN: SW %04X, want 6300", sw)
		}
		wrong := img.mrz
		wrong.dob = "010101"
		if sw := h.pace(pacePasswordMRZ, paceKeyOf(pacePasswordMRZ, wrong, img.can)); sw != swVerificationFailed {
			t.Fatalf("PACE with a wrong MRZ: SW %04X, want 6300", sw)
		}
		h.selectApplication()
		if sw := h.bac(wrong); sw != swVerificationFailed {
			t.Fatalf("BAC with a wrong MRZ: SW %04X, want 6300", sw)
		}
		h.expect("plain READ after failures", readBinaryAPDU(0, 10), swNoCurrentEF)
	})
	t.Run("errors under secure messaging come back protected", func(t *testing.T) {
		c.Reset()
		h := newCCCDHost(t, c)
		h.mustPACE(pacePasswordCAN, paceKeyOf(pacePasswordCAN, img.mrz, img.can))
		h.smExpect("SELECT EF.COM at the MF", 0xA4, 0x02, 0x0C, []byte{0x01, 0x1E}, 0, swFileNotFound)
		h.smExpect("SELECT MF", 0xA4, 0x00, 0x0C, []byte{0x3F, 0x00}, 0, swINSNotSupported)
		h.smExpect("UPDATE BINARY", 0xD6, 0x00, 0x00, []byte{1}, 0, swConditionsOfUse)
		h.smExpect("CREATE FILE", 0xE0, 0x00, 0x00, fcp(0x0104, 10), 0, swConditionsOfUse)
		h.smExpect("GENERATE", 0x47, 0x80, 0x00, generateAPDUData(1, curveP256), 256, swConditionsOfUse)
		h.smExpect("PUT DATA CAN", 0xDA, 0x00, 0x63, canData("123456"), 0, swConditionsOfUse)
		h.smExpect("ACTIVATE FILE", 0x44, 0x00, 0x00, nil, 0, swConditionsOfUse)
		h.smExpect("GET CHALLENGE", 0x84, 0x00, 0x00, nil, 8, swSecurityStatus)
		h.smExpect("PACE again", 0x22, 0xC1, 0xA4, appendTLV(nil, 0x80, oidPACE), 0, swConditionsOfUse)
		h.smExpect("unknown INS", 0x12, 0x00, 0x00, nil, 0, swINSNotSupported)
		h.smExpect("SELECT eMRTD application", 0xA4, 0x04, 0x0C, AIDPassport, 0, swOK)
		h.smExpect("CA with a point off the curve", 0x22, 0x41, 0xA4, appendTLV(nil, 0x80, oidCA), 0, swOK)
		bad := curveBrainpoolP256r1.encodePoint(bigOne(), bigOne())
		h.smExpect("GA CA off the curve", 0x86, 0x00, 0x00, appendTLV(nil, 0x7C, appendTLV(nil, 0x80, bad)), 256, swWrongData)
		h.smExpect("MSE CA with key reference 02", 0x22, 0x41, 0xA4,
			append(appendTLV(nil, 0x80, oidCA), appendTLV(nil, 0x84, []byte{2})...), 0, swRefDataNotFound)
		h.smExpect("GA CA without MSE", 0x86, 0x00, 0x00, appendTLV(nil, 0x7C, nil), 256, swConditionsOfUse)
		h.smReadFile(0x0101) // the session survived every error
	})
}

// TestCCCDPersonalizationRules checks the personalization commands' answers
// (cccd.md §4) on a blank chip inside SCP03, and that activation needs
// everything.
func TestCCCDPersonalizationRules(t *testing.T) {
	c := New(ModelCCCD)
	h := newCCCDHost(t, c)
	h.selectApplication()
	if sw := h.openSCP03(c.scpKeys, 0x11); sw != swSecurityStatus {
		t.Fatalf("security level 11: SW %04X, want 6982", sw)
	}
	if sw := h.openSCP03(c.scpKeys, 0x03); sw != swSecurityStatus {
		t.Fatalf("security level 03: SW %04X, want 6982", sw)
	}
	h.expect("IU with an unknown KVN", buildAPDU(0x80, 0x50, 0x31, 0x00, make([]byte, 8), 256, false), swRefDataNotFound)
	if sw := h.openSCP03(c.scpKeys, 0x13); sw != swOK {
		t.Fatalf("security level 13: SW %04X", sw)
	}
	h.scpExpect("CREATE at level 13", 0xE0, 0, 0, fcp(0x0101, 10), 0, swOK)
	h.mustOpenSCP03(c.scpKeys)

	act := func(want uint16) { t.Helper(); h.scpExpect("ACTIVATE FILE", 0x44, 0, 0, nil, 0, want) }
	act(swConditionsOfUse)
	for _, tc := range []struct {
		name string
		data []byte
		sw   uint16
	}{
		{"no template", []byte{0x80, 0x02, 0x00, 0x10}, swWrongData},
		{"JMRTD template 63", []byte{0x63, 0x04, 0x00, 0x10, 0x01, 0x02}, swWrongData},
		{"length beyond Nc", []byte{0x62, 0x20, 0x80, 0x02, 0x00, 0x10}, swNcInconsistentTLV},
		{"trailing byte", append(fcp(0x0102, 10), 0x00), swNcInconsistentTLV},
		{"no size", appendTLV(nil, 0x62, []byte{0x82, 0x01, 0x01, 0x83, 0x02, 0x01, 0x02}), swWrongData},
		{"no FID", appendTLV(nil, 0x62, []byte{0x80, 0x02, 0x00, 0x10, 0x82, 0x01, 0x01}), swWrongData},
		{"no descriptor", appendTLV(nil, 0x62, []byte{0x80, 0x02, 0x00, 0x10, 0x83, 0x02, 0x01, 0x02}), swWrongData},
		{"a DF descriptor", appendTLV(nil, 0x62, []byte{0x80, 0x02, 0x00, 0x10, 0x82, 0x01, 0x38, 0x83, 0x02, 0x01, 0x02}), swWrongData},
		{"size twice", appendTLV(nil, 0x62, []byte{0x80, 0x02, 0x00, 0x10, 0x80, 0x02, 0x00, 0x10, 0x82, 0x01, 0x01, 0x83, 0x02, 0x01, 0x02}), swWrongData},
		{"unknown tag 88", appendTLV(nil, 0x62, []byte{0x80, 0x02, 0x00, 0x10, 0x82, 0x01, 0x01, 0x83, 0x02, 0x01, 0x02, 0x88, 0x01, 0x02}), swWrongData},
		{"bad compact SA", appendTLV(nil, 0x62, []byte{0x80, 0x02, 0x00, 0x10, 0x82, 0x01, 0x01, 0x83, 0x02, 0x01, 0x02, 0x8C, 0x02, 0x03, 0x00}), swWrongData},
		{"size 0", fcp(0x0102, 0), swWrongData},
		{"size 32768", fcp(0x0102, 32768), swWrongData},
		{"FID outside the file system", fcp(0x0111, 10), swWrongData},
		{"FID 3F00", fcp(0x3F00, 10), swWrongData},
		{"FID exists", fcp(0x0101, 10), swFileExists},
		{"the largest file", fcp(0x0102, 32767), swOK},
	} {
		h.scpExpect("CREATE FILE "+tc.name, 0xE0, 0, 0, tc.data, 0, tc.sw)
	}
	for fid := uint16(0x0103); c.filesSize()+32767 <= c.model.FileCapacity(); fid++ {
		h.scpExpect("CREATE filler", 0xE0, 0, 0, fcp(fid, 32767), 0, swOK)
	}
	h.scpExpect("CREATE beyond the EEPROM", 0xE0, 0, 0, fcp(0x010E, 32767), 0, swNotEnoughMemory)
	h.scpExpect("CREATE FILE with P1 01", 0xE0, 0x01, 0, fcp(0x010E, 1), 0, swIncorrectP1P2)

	for _, tc := range []struct {
		name string
		data []byte
		sw   uint16
	}{
		{"unknown curve (P-384)", appendTLV(appendTLV(nil, 0x84, []byte{1}), 0x06, []byte{0x2B, 0x81, 0x04, 0x00, 0x22}), swWrongData},
		{"key reference 03", generateAPDUData(3, curveP256), swRefDataNotFound},
		{"no curve", appendTLV(nil, 0x84, []byte{1}), swWrongData},
		{"curve first (either order)", appendTLV(appendTLV(nil, 0x06, curveP256.oid), 0x84, []byte{1}), swOK},
		{"key exists", generateAPDUData(1, curveBrainpoolP256r1), swFileExists},
	} {
		h.scpExpect("GENERATE "+tc.name, 0x47, 0x80, 0x00, tc.data, 256, tc.sw)
	}
	h.scpExpect("GENERATE with P1 00", 0x47, 0x00, 0x00, generateAPDUData(2, curveP256), 256, swIncorrectP1P2)
	h.scpExpect("GENERATE with Le 10", 0x47, 0x80, 0x00, generateAPDUData(2, curveP256), 10, swWrongLe(80))
	h.scpExpect("GENERATE key 02", 0x47, 0x80, 0x00, generateAPDUData(2, curveP256), 256, swOK)
	if c.caKey.curve != curveP256 || c.aaEC.curve != curveP256 {
		t.Fatalf("keys on %s and %s, want P-256", c.caKey.curve.name, c.aaEC.curve.name)
	}
	sig := h.scpExpect("INTERNAL AUTHENTICATE inside SCP03", 0x88, 0, 0, []byte("CHALLNGE"), 256, swOK)
	if err := verifyECDSAPlain(c.aaEC.public(), curveP256, []byte("CHALLNGE"), sig); err != nil {
		t.Fatalf("AA before activation: %v", err)
	}

	for _, tc := range []struct {
		name string
		p2   byte
		data []byte
		sw   uint16
	}{
		{"MRZ with a lower-case letter", 0x62, mrzData(mrzTriple{"20300123a", "030514", "430514"}), swWrongData},
		{"MRZ with a bad date", 0x62, mrzData(mrzTriple{"203001234", "0305X4", "430514"}), swWrongData},
		{"CAN of 5 digits", 0x63, canData("12345"), swWrongData},
		{"CAN with a letter", 0x63, canData("12345A"), swWrongData},
		{"CAN in template 62", 0x63, appendTLV(nil, 0x62, appendTLV(nil, 0x04, []byte("123456"))), swWrongData},
		{"tag 64", 0x64, canData("123456"), swIncorrectP1P2},
	} {
		h.scpExpect("PUT DATA "+tc.name, 0xDA, 0x00, tc.p2, tc.data, 0, tc.sw)
	}
	h.scpExpect("PUT DATA MRZ", 0xDA, 0x00, 0x62, mrzData(cccdMRZ), 0, swOK)
	act(swConditionsOfUse) // no CAN, no EF.CardAccess, EF.COM, EF.SOD
	h.scpExpect("PUT DATA CAN", 0xDA, 0x00, 0x63, canData("123456"), 0, swOK)
	act(swConditionsOfUse)
	c.files = map[uint16][]byte{} // make room
	for _, fid := range []uint16{fidCardAccess, 0x011E} {
		h.scpExpect("CREATE", 0xE0, 0, 0, fcp(fid, 10), 0, swOK)
	}
	act(swConditionsOfUse) // no EF.SOD
	h.scpExpect("CREATE EF.SOD", 0xE0, 0, 0, fcp(0x011D, 10), 0, swOK)
	h.scpExpect("ACTIVATE FILE with data", 0x44, 0, 0, []byte{1}, 0, swWrongLength)
	h.scpExpect("ACTIVATE FILE with P1 01", 0x44, 0x01, 0, nil, 0, swIncorrectP1P2)
	act(swOK)
	if !c.Locked() {
		t.Fatal("not operational after ACTIVATE FILE")
	}
	// The session stays; everything personal is over.
	h.scpExpect("UPDATE after activation", 0xD6, 0, 0, []byte{1}, 0, swConditionsOfUse)
	h.scpExpect("ACTIVATE again", 0x44, 0, 0, nil, 0, swConditionsOfUse)
	h.scpExpect("READ inside SCP03 after activation", 0xB0, 0, 0, nil, 4, swSecurityStatus)
	h.expect("IU after activation", buildAPDU(0x80, 0x50, 0x00, 0x00, make([]byte, 8), 256, false), swConditionsOfUse)
}

// TestSCP03SessionErrorsCloseIt: a wrong C-MAC, a plain command during the
// session, a wrong host cryptogram; a reset ends the session; the sequence
// counter goes up per INITIALIZE UPDATE and persists over a reset.
func TestSCP03SessionErrorsCloseIt(t *testing.T) {
	c := New(ModelCCCD)
	h := newCCCDHost(t, c)
	h.selectApplication()
	h.mustOpenSCP03(c.scpKeys)
	apdu := h.scp.wrap(0x00, 0xE0, 0, 0, fcp(0x0101, 10), 0, true)
	apdu[len(apdu)-1] ^= 1
	h.expect("a wrong C-MAC", apdu, swSecurityStatus)
	h.expect("the session is closed", h.scp.wrap(0x00, 0xE0, 0, 0, fcp(0x0101, 10), 0, true), swSMNotSupported)

	h.mustOpenSCP03(c.scpKeys)
	h.expect("a plain command during SCP03", createFileAPDU(0x0101, 10), swSecurityStatus)
	h.expect("the session is closed", h.scp.wrap(0x00, 0xE0, 0, 0, fcp(0x0101, 10), 0, true), swSMNotSupported)

	h.expect("IU", buildAPDU(0x80, 0x50, 0x00, 0x00, make([]byte, 8), 256, false), swOK)
	h.expect("EA without a good cryptogram", unhex(t, "8482330010"+zeros(16)), swVerificationFailed)
	h.expect("EA again (IU consumed)", unhex(t, "8482330010"+zeros(16)), swSMNotSupported)

	seq := c.scpSeq
	h.mustOpenSCP03(c.scpKeys)
	if c.scpSeq != seq+1 {
		t.Fatalf("sequence counter %d after INITIALIZE UPDATE, want %d", c.scpSeq, seq+1)
	}
	c.Reset()
	h.selectApplication()
	if c.scpSeq != seq+1 || c.scp != nil {
		t.Fatalf("after reset: counter %d (want %d), session %v", c.scpSeq, seq+1, c.scp)
	}
	h.expect("wrapped after reset", (&hostSCP{level: 0x33, chain: make([]byte, 16), mac: newCMAC(make([]byte, 16)),
		enc: newAES(make([]byte, 16))}).wrap(0, 0xE0, 0, 0, []byte{1}, 0, true), swSMNotSupported)
	if c.Written() {
		t.Error("INITIALIZE UPDATE marks a blank chip written")
	}
}

// TestSCP03KeysAreDiversifiedFromTheMaster: two chips of one master have
// different static keys; a station that diversifies the master with the
// serial from the CPLC opens a session; WithSCP03Master changes the keys.
func TestSCP03KeysAreDiversifiedFromTheMaster(t *testing.T) {
	master, err := NewSCP03Master(0x31, bytes.Repeat([]byte{0xA1}, 32), bytes.Repeat([]byte{0xB2}, 32), bytes.Repeat([]byte{0xC3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []SCP03Master{{}, TestSCP03Master, master} {
		t.Run(m.String(), func(t *testing.T) {
			a, b := New(ModelCCCD, WithSCP03Master(m)), New(ModelCCCD, WithSCP03Master(m))
			if bytes.Equal(a.scpKeys.enc, b.scpKeys.enc) {
				t.Fatal("two chips share their static keys")
			}
			h := newCCCDHost(t, a)
			cplc := h.expect("GET DATA CPLC", unhex(t, "80CA9F7F00"), swOK)[3:]
			div := append(append([]byte(nil), cplc[0:4]...), cplc[12:18]...)
			// The station's side: KDF(master, 10, L, serial).
			mm := m.orTest()
			l := 8 * len(mm.enc)
			keys := scp03Keys{kvn: mm.kvn, enc: scp03KDF(mm.enc, 0x10, l, div), mac: scp03KDF(mm.mac, 0x10, l, div), dek: scp03KDF(mm.dek, 0x10, l, div)}
			h.selectApplication()
			h.mustOpenSCP03(keys)
			h.scpExpect("CREATE", 0xE0, 0, 0, fcp(0x0101, 10), 0, swOK)
		})
	}
	for _, bad := range [][3]int{{15, 15, 15}, {16, 32, 16}, {33, 33, 33}} {
		if _, err := NewSCP03Master(0x30, make([]byte, bad[0]), make([]byte, bad[1]), make([]byte, bad[2])); err == nil {
			t.Errorf("NewSCP03Master accepted keys of %v bytes", bad)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v %s", master, master, master, master); strings.Contains(s, "A1A1") || strings.Contains(strings.ToLower(s), "a1a1") || strings.Contains(s, "161") {
		t.Errorf("the master prints its keys: %s", s)
	}
}

// TestCCCDKeysNeverPrint: the chip, its keys and PACE state never show key
// material in fmt or slog; the chip's String names model, serial and state.
func TestCCCDKeysNeverPrint(t *testing.T) {
	c, _, _ := personalizedCCCD(t)
	d := hx(c.aaEC.private())
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("chip", "chip", c, "key", c.aaEC, "ca", *c.caKey, "scp", c.scpKeys)
	out := buf.String() + fmt.Sprintf("%v %+v %#v %d %x %s", c.aaEC, c.aaEC, c.aaEC, c.aaEC, c.aaEC, c.aaEC) +
		fmt.Sprintf("%v %#v %x", c.scpKeys, c.scpKeys, c.scpKeys) + c.String()
	for _, secret := range []string{d[:16], hx(c.caKey.private())[:16], hx(c.scpKeys.enc)[:16], c.aaEC.d.String()[:12]} {
		if strings.Contains(strings.ToUpper(out), secret) {
			t.Errorf("output contains key material %s:\n%s", secret, out)
		}
	}
	if !strings.Contains(c.String(), "cccd") {
		t.Errorf("String() = %q", c.String())
	}
}

// TestCCCDTraceNeverShowsSecrets runs personalization and PACE with a trace.
func TestCCCDTraceNeverShowsSecrets(t *testing.T) {
	var buf bytes.Buffer
	c, img, _ := personalizedCCCD(t, WithTrace(&buf))
	h := newCCCDHost(t, c)
	h.mustPACE(pacePasswordCAN, paceKeyOf(pacePasswordCAN, img.mrz, img.can))
	trace := buf.String()
	for _, want := range []string{"SCP03 session open, security level 33", "SCP03 00DA0062", "operational", "PACE established (CAN)", "key 01 generated"} {
		if !strings.Contains(trace, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	for _, secret := range []string{img.mrz.doc, img.mrz.dob, img.can, hx([]byte(img.can)), hx(c.kPiCAN)[:16], hx(c.scpKeys.enc)[:16]} {
		if strings.Contains(strings.ToUpper(trace), strings.ToUpper(secret)) {
			t.Errorf("trace contains %q", secret)
		}
	}
}
