package emrtd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// bacVector is testdata/icao9303-bac.json: ICAO 9303-11 Appendix D.
type bacVector struct {
	MRZInformation  string `json:"mrz_information"`
	DocumentNumber  string `json:"document_number"`
	DateOfBirth     string `json:"date_of_birth"`
	DateOfExpiry    string `json:"date_of_expiry"`
	SHA1OfMRZ       string `json:"sha1_of_mrz_information"`
	KSeed           string `json:"k_seed"`
	KEnc            string `json:"k_enc"`
	KMac            string `json:"k_mac"`
	GetChallenge    string `json:"get_challenge_command"`
	GetChallengeRsp string `json:"get_challenge_response"`
	RndIC           string `json:"rnd_ic"`
	RndIFD          string `json:"rnd_ifd"`
	KIFD            string `json:"k_ifd"`
	S               string `json:"s"`
	EIFD            string `json:"e_ifd"`
	MIFD            string `json:"m_ifd"`
	ExtAuthResponse string `json:"external_authenticate_response_data"`
	KICC            string `json:"k_icc"`
	KSSeed          string `json:"ks_seed"`
	KSEnc           string `json:"ks_enc"`
	KSMac           string `json:"ks_mac"`
	SSC             string `json:"ssc"`
	ProtectedSelect struct {
		SSC         string `json:"ssc"`
		Command     string `json:"command"`
		ResponseSSC string `json:"response_ssc"`
		Response    string `json:"response"`
	} `json:"protected_select_ef_com"`
}

func loadBACVector(t *testing.T) bacVector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "icao9303-bac.json"))
	if err != nil {
		t.Fatalf("reading the ICAO BAC vector: %v", err)
	}
	var v bacVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding the ICAO BAC vector: %v", err)
	}
	return v
}

func eqHex(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if hx(got) != want {
		t.Errorf("%s:\n got %s\nwant %s", what, hx(got), want)
	}
}

// TestICAOAppendixDPrimitivesMatch pins the chip's own primitives one by one
// on the worked example: MRZ_information, K_seed, K_enc/K_mac with parity,
// retail MAC, 3DES-CBC, session keys.
func TestICAOAppendixDPrimitivesMatch(t *testing.T) {
	v := loadBACVector(t)
	m := keySeedInput{v.DocumentNumber, v.DateOfBirth, v.DateOfExpiry}
	if err := m.validate(); err != nil {
		t.Fatalf("ICAO MRZ rejected: %v", err)
	}
	kEnc, kMac := m.bacKeys()
	eIFD := cbcEncrypt(newTDES(unhex(t, v.KEnc)), unhex(t, v.S))
	ksSeed := make([]byte, 16)
	for i := range ksSeed {
		ksSeed[i] = unhex(t, v.KIFD)[i] ^ unhex(t, v.KICC)[i]
	}
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"MRZ_information", m.information(), hx([]byte(v.MRZInformation))},
		{"K_seed", m.keySeed(), v.KSeed},
		{"K_enc", kEnc, v.KEnc},
		{"K_mac", kMac, v.KMac},
		{"E.IFD = 3DES-CBC(K_enc, S)", eIFD, v.EIFD},
		{"M.IFD = retail MAC(K_mac, E.IFD)", newRetailMAC(unhex(t, v.KMac)).sum(eIFD), v.MIFD},
		{"KS_seed = K.IFD xor K.IC", ksSeed, v.KSSeed},
		{"KS_enc", deriveKey(ksSeed, kdfEnc), v.KSEnc},
		{"KS_mac", deriveKey(ksSeed, kdfMac), v.KSMac},
	} {
		t.Run(tc.name, func(t *testing.T) { eqHex(t, tc.name, tc.got, tc.want) })
	}
}

// TestChipAnswersICAOAppendixDExactly runs the worked example against the
// chip: the MRZ is written by PUT DATA, RND.IC and K.IC are forced through
// WithRand, and the chip's answers must be the example's bytes.
func TestChipAnswersICAOAppendixDExactly(t *testing.T) {
	v := loadBACVector(t)
	rnd := append(unhex(t, v.RndIC), unhex(t, v.KICC)...)
	c := New(ModelExt144, WithRand(bytes.NewReader(rnd)), WithSerial(1, 1))
	r := newReader(t, c)
	r.selectApplet()
	r.writeFile(0x011E, pattern(0x011E, 24), 255)
	r.expect("PUT DATA MRZ", putMRZAPDU(mrzTriple{v.DocumentNumber, v.DateOfBirth, v.DateOfExpiry}), swOK)
	eqHex(t, "K_enc stored by the chip", c.kEnc, v.KEnc)
	eqHex(t, "K_mac stored by the chip", c.kMac, v.KMac)
	r.expect("LOCK", lockAPDU(), swOK)
	c.Reset()
	r.selectApplet()

	resp := r.send(unhex(t, v.GetChallenge))
	eqHex(t, "GET CHALLENGE response", resp, v.GetChallengeRsp)

	ea := buildAPDU(0x00, 0x82, 0x00, 0x00, append(unhex(t, v.EIFD), unhex(t, v.MIFD)...), 40, false)
	resp = r.expect("EXTERNAL AUTHENTICATE", ea, swOK)
	eqHex(t, "EXTERNAL AUTHENTICATE response data", resp, v.ExtAuthResponse)
	if c.sm == nil {
		t.Fatal("no secure messaging session after the example's EXTERNAL AUTHENTICATE")
	}
	eqHex(t, "KS_enc", c.sm.ksEnc, v.KSEnc)
	eqHex(t, "KS_mac", c.sm.ksMac, v.KSMac)
	eqHex(t, "SSC", c.sm.ssc[:], v.SSC)

	resp = r.send(unhex(t, v.ProtectedSelect.Command))
	eqHex(t, "protected SELECT EF.COM response", resp, v.ProtectedSelect.Response)
	eqHex(t, "SSC after the response", c.sm.ssc[:], v.ProtectedSelect.ResponseSSC)
	if !c.hasSelected || c.selected != 0x011E {
		t.Errorf("EF.COM not selected after the protected SELECT")
	}
}

// mrzVectors is testdata/icao9303-mrz.json.
type mrzVectors struct {
	CheckDigits []struct {
		Field string `json:"field"`
		Digit int    `json:"digit"`
	} `json:"check_digits"`
	TD1Specimen []string `json:"td1_specimen"`
}

func TestCheckDigitsMatchICAOVectors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "icao9303-mrz.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v mrzVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for _, cd := range v.CheckDigits {
		t.Run(cd.Field, func(t *testing.T) {
			got, ok := checkDigit(cd.Field)
			if !ok || got != byte('0'+cd.Digit) {
				t.Errorf("checkDigit(%q) = %q, %t; want %d", cd.Field, got, ok, cd.Digit)
			}
		})
	}
	l1, l2 := v.TD1Specimen[0], v.TD1Specimen[1]
	for _, tc := range []struct {
		name  string
		field string
		digit byte
	}{
		{"document number", l1[5:14], l1[14]},
		{"date of birth", l2[0:6], l2[6]},
		{"date of expiry", l2[8:14], l2[14]},
		{"composite", l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29]},
	} {
		t.Run("TD1 specimen "+tc.name, func(t *testing.T) {
			if got, ok := checkDigit(tc.field); !ok || got != tc.digit {
				t.Errorf("checkDigit(%q) = %q, want %q", tc.field, got, tc.digit)
			}
		})
	}
	for _, bad := range []string{"abc", "L89 902C", "É"} {
		if _, ok := checkDigit(bad); ok {
			t.Errorf("checkDigit(%q) accepted a character outside the MRZ alphabet", bad)
		}
	}
}

// TestTestdataVectorsAreCopiesOfShared checks the copies in testdata against
// ../shared/testvectors when that tree is present.
func TestTestdataVectorsAreCopiesOfShared(t *testing.T) {
	shared := filepath.Join("..", "..", "..", "..", "shared", "testvectors")
	if _, err := os.Stat(shared); err != nil {
		t.Skipf("no shared test vectors at %s", shared)
	}
	for _, name := range []string{"icao9303-bac.json", "icao9303-mrz.json"} {
		want, err := os.ReadFile(filepath.Join(shared, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/%s differs from %s", name, filepath.Join(shared, name))
		}
	}
}
