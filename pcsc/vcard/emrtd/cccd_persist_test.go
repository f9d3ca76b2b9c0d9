package emrtd

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestCCCDMarshalThenLoadGivesAnIdenticalChip: an operational cccd chip saved
// and loaded keeps its serial, files, life cycle, keys (the same AA and CA
// keys answer), secrets (PACE with the CAN and the MRZ, BAC), SCP03 keys and
// counter; the saved JSON is stable.
func TestCCCDMarshalThenLoadGivesAnIdenticalChip(t *testing.T) {
	c, img, res := personalizedCCCD(t)
	saved, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	l, err := Load(saved)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if l.Serial() != c.Serial() || !l.Locked() || !l.Written() || l.Model().Name != "cccd" {
		t.Fatalf("loaded chip: serial %s locked %t written %t model %s", l.Serial(), l.Locked(), l.Written(), l.Model().Name)
	}
	again, err := l.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, saved) {
		t.Errorf("MarshalJSON of the loaded chip differs:\n%s\nvs\n%s", again, saved)
	}
	if !bytes.Equal(l.scpKeys.enc, c.scpKeys.enc) || l.scpSeq != c.scpSeq || l.scpSeq == 0 {
		t.Errorf("SCP03 keys or counter not kept (counter %d, was %d)", l.scpSeq, c.scpSeq)
	}

	h := newCCCDHost(t, l)
	h.expect("SELECT EF.CardAccess", selectFileAPDU(fidCardAccess), swOK)
	h.mustPACE(pacePasswordCAN, paceKeyOf(pacePasswordCAN, img.mrz, img.can))
	h.smExpect("SELECT", 0xA4, 0x04, 0x0C, AIDPassport, 0, swOK)
	for _, fid := range []uint16{0x011E, 0x0101, 0x0102, 0x010D, 0x010E, 0x010F, 0x011D} {
		if got := h.smReadFile(fid); !bytes.Equal(got, img.files[fid]) {
			t.Errorf("file %04X of the loaded chip differs", fid)
		}
	}
	h.activeAuthentication(res.aaPub, img.aaCurve)
	h.chipAuthentication(res.caPub, img.caCurve, false)
	h.smReadFile(0x0101)
	l.Reset()
	h.selectApplication()
	if sw := h.bac(img.mrz); sw != swOK {
		t.Fatalf("BAC on the loaded chip: %04X", sw)
	}
	l.Reset()
	h.mustPACE(pacePasswordMRZ, paceKeyOf(pacePasswordMRZ, img.mrz, img.can))
	h.smExpect("UPDATE on the loaded chip", 0xD6, 0, 0, []byte{1}, 0, swConditionsOfUse)
}

// TestCCCDBlankChipKeepsItsSCP03CounterAndKeys: a blank chip after one
// INITIALIZE UPDATE, saved and loaded, goes on counting from there, and a
// half-personalized chip comes back in the personalization state.
func TestCCCDBlankChipKeepsItsSCP03CounterAndKeys(t *testing.T) {
	master, _ := NewSCP03Master(0x31, bytes.Repeat([]byte{9}, 16), bytes.Repeat([]byte{8}, 16), bytes.Repeat([]byte{7}, 16))
	c, h := blankCCCDInSCP03(t, WithSCP03Master(master))
	h.scpWriteFile(0x0101, pattern(0x0101, 300))
	h.generate(keyRefAA, curveP256)
	saved, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"life_cycle": "personalization"`, `"sequence_counter": 1`, `"kvn": "31"`, `"curve": "P-256"`, `"fid": "0101"`} {
		if !strings.Contains(string(saved), want) {
			t.Errorf("saved chip lacks %s:\n%s", want, saved)
		}
	}
	l, err := Load(saved, WithSCP03Master(TestSCP03Master)) // ignored: the saved keys win
	if err != nil {
		t.Fatal(err)
	}
	if l.Locked() || l.scpSeq != 1 || !bytes.Equal(l.aaEC.private(), c.aaEC.private()) || l.caKey != nil {
		t.Fatalf("loaded: locked %t counter %d", l.Locked(), l.scpSeq)
	}
	h2 := newCCCDHost(t, l)
	h2.selectApplication()
	h2.mustOpenSCP03(c.scpKeys)
	if l.scpSeq != 2 {
		t.Errorf("counter %d after the next INITIALIZE UPDATE, want 2", l.scpSeq)
	}
	h2.scpExpect("SELECT", 0xA4, 0x02, 0x0C, []byte{0x01, 0x01}, 0, swOK)
	if got := h2.scpReadFile(0x0101, 300); !bytes.Equal(got, pattern(0x0101, 300)) {
		t.Error("file of the loaded chip differs")
	}
	h2.scpExpect("GENERATE the key that exists", 0x47, 0x80, 0x00, generateAPDUData(keyRefAA, curveP256), 256, swFileExists)
}

// TestCCCDLoadRefusesInconsistentState: a saved cccd chip whose parts
// disagree does not load, and the error never quotes a key.
func TestCCCDLoadRefusesInconsistentState(t *testing.T) {
	c, _, _ := personalizedCCCD(t)
	saved, _ := c.MarshalJSON()
	secret := hx(c.aaEC.private())
	for _, tc := range []struct {
		name   string
		mutate func(m map[string]any)
	}{
		{"life cycle disagrees with locked", func(m map[string]any) { m["cccd"].(map[string]any)["life_cycle"] = "personalization" }},
		{"cccd state missing", func(m map[string]any) { delete(m, "cccd") }},
		{"AA key does not match", func(m map[string]any) {
			k := m["cccd"].(map[string]any)["aa_key"].(map[string]any)
			k["private"] = strings.Repeat("11", 32)
		}},
		{"unknown curve", func(m map[string]any) { m["cccd"].(map[string]any)["ca_key"].(map[string]any)["curve"] = "P-384" }},
		{"CAN of 5 digits", func(m map[string]any) { m["cccd"].(map[string]any)["can"] = "12345" }},
		{"SCP03 key lengths differ", func(m map[string]any) { m["cccd"].(map[string]any)["scp03"].(map[string]any)["dek"] = "00" }},
		{"counter over 3 bytes", func(m map[string]any) {
			m["cccd"].(map[string]any)["scp03"].(map[string]any)["sequence_counter"] = 1 << 24
		}},
		{"operational without EF.SOD", func(m map[string]any) {
			var files []any
			for _, f := range m["files"].([]any) {
				if f.(map[string]any)["fid"] != "011D" {
					files = append(files, f)
				}
			}
			m["files"] = files
		}},
		{"RSA AA key on a cccd chip", func(m map[string]any) {
			m["aa_key"] = map[string]any{"modulus": "C0FFEE"}
			m["state"].(map[string]any)["has_aa_modulus"] = true
		}},
		{"cccd state on an ext144 chip", func(m map[string]any) { m["model"] = "ext144" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(saved, &m); err != nil {
				t.Fatal(err)
			}
			tc.mutate(m)
			b, _ := json.Marshal(m)
			_, err := Load(b)
			if err == nil {
				t.Fatal("Load accepted it")
			}
			if strings.Contains(strings.ToUpper(err.Error()), secret[:16]) {
				t.Errorf("the error quotes the key: %v", err)
			}
		})
	}
}
