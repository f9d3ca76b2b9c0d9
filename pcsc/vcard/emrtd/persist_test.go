package emrtd

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

func TestBlankChipIsNotWrittenAndAnyWriteMarksIt(t *testing.T) {
	for _, tc := range []struct {
		name string
		apdu []byte
	}{
		{"CREATE FILE", createFileAPDU(0x0101, 10)},
		{"PUT DATA MRZ", putMRZAPDU(cccdMRZ)},
		{"PUT DATA modulus", buildAPDU(0, 0xDA, 0x00, 0x60, aaKeyData(0x60, testKey(t, 1024).N.Bytes()), 0, false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(ModelShort80)
			r := newReader(t, c)
			r.selectApplet()
			r.expect("GET CHALLENGE on a blank chip", unhex(t, "0084000008"), swSecurityStatus)
			if c.Written() {
				t.Fatal("a blank chip says Written")
			}
			r.expect(tc.name, tc.apdu, swOK)
			if !c.Written() {
				t.Fatalf("Written() = false after %s", tc.name)
			}
		})
	}
}

// TestMarshalThenLoadGivesAnIdenticalChip: same serial, files, state bits and
// keys; still locked; BAC and AA work; the saved JSON is stable.
func TestMarshalThenLoadGivesAnIdenticalChip(t *testing.T) {
	for _, tc := range []struct {
		model Model
		bits  int
		lock  bool
	}{
		{ModelExt144, 2048, true},
		{ModelShort80, 1024, true},
		{ModelShort80, 1024, false},
	} {
		t.Run(tc.model.Name, func(t *testing.T) {
			key := testKey(t, tc.bits)
			img := testImage(key)
			c := New(tc.model)
			personalize(t, c, img, 255, tc.lock)
			saved, err := c.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			l, err := Load(saved)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if l.Serial() != c.Serial() || l.Locked() != tc.lock || !l.Written() || l.Model().Name != tc.model.Name {
				t.Fatalf("loaded chip: serial %s locked %t written %t model %s; want %s %t true %s",
					l.Serial(), l.Locked(), l.Written(), l.Model().Name, c.Serial(), tc.lock, tc.model.Name)
			}
			again, err := l.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, saved) {
				t.Errorf("MarshalJSON of the loaded chip differs:\n%s\nvs\n%s", again, saved)
			}
			if !bytes.Equal(l.ATR(), c.ATR()) {
				t.Errorf("ATR %s, want %s", hx(l.ATR()), hx(c.ATR()))
			}

			r := newReader(t, l)
			r.selectApplet()
			if tc.lock {
				r.expect("CREATE on the loaded chip", createFileAPDU(0x010E, 10), swConditionsOfUse)
				r.expect("plain SELECT on the loaded chip", selectFileAPDU(0x011E), swSecurityStatus)
			}
			r.mustBAC(img.mrz)
			r.extended = tc.model.ExtendedLength
			for _, fid := range img.order {
				if fid == 0x0103 && tc.lock {
					continue
				}
				if got := r.smReadFile(fid, 231); !bytes.Equal(got, img.files[fid]) {
					t.Errorf("file %04X of the loaded chip:\n got %s\nwant %s", fid, hx(got), hx(img.files[fid]))
				}
			}
			challenge := []byte("ABCDEFGH")
			sig := r.smExpect("AA on the loaded chip", 0x88, 0, 0, challenge, 256, swOK)
			if err := verifyAA(&key.PublicKey, challenge, sig); err != nil {
				t.Errorf("AA on the loaded chip: %v", err)
			}
		})
	}
}

func TestMarshalJSONIsReadable(t *testing.T) {
	c := New(ModelShort80, WithSerial(0xDEADBEEF, 0x0102))
	r := newReader(t, c)
	r.selectApplet()
	r.writeFile(0x011E, []byte{0x60, 0x03, 0x5C, 0x01, 0x61}, 255)
	b, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	for _, want := range []string{`"model": "short80"`, `"serial": "56430080DEADBEEF0102"`, `"fid": "011E"`,
		`"size": 5`, `"data": "60035C0161"`, `"locked": false`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("saved chip lacks %s:\n%s", want, b)
		}
	}
}

// TestLoadRejectsInconsistentChipsWithoutQuotingSecrets.
func TestLoadRejectsInconsistentChipsWithoutQuotingSecrets(t *testing.T) {
	key := testKey(t, 1024)
	c := New(ModelShort80)
	personalize(t, c, testImage(key), 255, true)
	saved, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	modHex := hx(key.N.Bytes())
	for _, tc := range []struct {
		name   string
		mutate func(s string) string
	}{
		{"unknown model", func(s string) string { return strings.Replace(s, `"short80"`, `"long99"`, 1) }},
		{"wrong format", func(s string) string { return strings.Replace(s, chipFormat, "v0", 1) }},
		{"serial not matching the CPLC", func(s string) string { return strings.Replace(s, `"serial": "5643`, `"serial": "5644`, 1) }},
		{"file size not matching its data", func(s string) string { return strings.Replace(s, `"size": 24,`, `"size": 25,`, 1) }},
		{"file not in the applet's file system", func(s string) string { return strings.Replace(s, `"fid": "011E"`, `"fid": "3F00"`, 1) }},
		{"MRZ with a lower-case document number", func(s string) string { return strings.Replace(s, cccdMRZ.doc, "abc", 1) }},
		{"state bit without the MRZ", func(s string) string {
			var m map[string]any
			json.Unmarshal([]byte(s), &m)
			delete(m, "mrz_key_seed")
			b, _ := json.Marshal(m)
			return string(b)
		}},
		{"modulus too long for short80", func(s string) string { return strings.Replace(s, modHex, modHex+modHex, 1) }},
		{"modulus not hex", func(s string) string { return strings.Replace(s, modHex, "ZZ"+modHex[2:], 1) }},
		{"unknown field", func(s string) string { return strings.Replace(s, `"model"`, `"modle": 1, "model"`, 1) }},
		{"not JSON", func(s string) string { return s[:len(s)/2] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := tc.mutate(string(saved))
			if bad == string(saved) {
				t.Fatal("the mutation changed nothing")
			}
			_, err := Load([]byte(bad))
			if err == nil {
				t.Fatal("Load accepted it")
			}
			for _, secret := range []string{cccdMRZ.doc, cccdMRZ.dob, modHex[:16], hx(key.D.Bytes())[:16]} {
				if strings.Contains(strings.ToUpper(err.Error()), secret) {
					t.Errorf("error %q quotes secret material", err)
				}
			}
		})
	}
}

// TestSerialWrittenAndMarshalAreSafeDuringProcess runs them from another
// goroutine while a reader personalizes the chip (meaningful under -race).
func TestSerialWrittenAndMarshalAreSafeDuringProcess(t *testing.T) {
	c := New(ModelExt144)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = c.Serial()
			_ = c.Written()
			_ = c.Locked()
			_ = c.Usage()
			_ = c.String()
			if _, err := c.MarshalJSON(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	personalize(t, c, testImage(testKey(t, 1024)), 255, true)
	close(stop)
	wg.Wait()
}
