package lds

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

type mrzVectors struct {
	CheckDigits []struct {
		Field string `json:"field"`
		Digit int    `json:"digit"`
	} `json:"check_digits"`
	TD1Specimen []string `json:"td1_specimen"`
}

// loadMRZVectors reads ICAO 9303's MRZ worked examples, carried into
// testdata from ../shared/testvectors/icao9303-mrz.json.
func loadMRZVectors(t *testing.T) mrzVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/icao9303-mrz.json")
	if err != nil {
		t.Fatal(err)
	}
	var v mrzVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.CheckDigits) == 0 || len(v.TD1Specimen) != 3 {
		t.Fatal("vectors incomplete")
	}
	return v
}

func TestCheckDigitKnownAnswers(t *testing.T) {
	for _, c := range loadMRZVectors(t).CheckDigits {
		got, err := CheckDigit(c.Field)
		if err != nil || int(got-'0') != c.Digit {
			t.Errorf("CheckDigit(%q) = %c, %v; ICAO says %d", c.Field, got, err, c.Digit)
		}
	}
}

// ICAO 9303-5's TD1 specimen rebuilt from its fields gives the same three lines.
func TestTD1SpecimenRebuiltExactly(t *testing.T) {
	want := loadMRZVectors(t).TD1Specimen
	m := MRZ{
		DocumentCode:   "I<",
		IssuingState:   "UTO",
		DocumentNumber: "D23145890",
		DateOfBirth:    "740812",
		Sex:            'F',
		DateOfExpiry:   "120415",
		Nationality:    "UTO",
		Name:           "ERIKSSON<<ANNA<MARIA",
	}
	got, err := m.Lines()
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, got[i], want[i])
		}
	}
	parsed, err := ParseTD1(strings.Join(want, "\n"))
	if err != nil {
		t.Fatalf("ParseTD1(specimen): %v", err)
	}
	if parsed != m {
		t.Errorf("ParseTD1 = %+v, want %+v", parsed, m)
	}
}

func TestParseTD1RefusesEveryWrongCheckDigit(t *testing.T) {
	spec := strings.Join(loadMRZVectors(t).TD1Specimen, "")
	for _, pos := range []int{14, 36, 44, 59} { // document number, DOB, expiry, composite
		b := []byte(spec)
		b[pos] = '0' + (b[pos]-'0'+1)%10
		if _, err := ParseTD1(string(b)); err == nil {
			t.Errorf("check digit at position %d altered, still accepted", pos)
		}
	}
	if _, err := ParseTD1(spec[:89]); err == nil {
		t.Error("89 characters accepted")
	}
}

func TestNameFieldTruncationEndsWithALetter(t *testing.T) {
	cases := []struct {
		primary, secondary string
		want               string
		truncated          bool
	}{
		{"NGUYEN", "VAN<AN", "NGUYEN<<VAN<AN", false},
		{"TON<NU", "THI<PHUONG<THAO<NGUYEN", "TON<NU<<THI<PHUONG<THAO<NGUYEN", false}, // exactly 30
		{"TON<NU", "THI<PHUONG<THAO<NGUYENX", "TON<NU<<THI<PHUONG<THAO<NGUYEN", true},
		// The cut at 30 would leave a filler in position 30: letters are
		// taken from the end of an earlier component so that the next
		// component's initial lands there.
		{"NGUYEN", "THI<NGOC<PHUONG<HOANG<ANH", "NGUYEN<<THI<NGOC<PHUONG<HOAN<A", true},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "B", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAA", "BB", "AAAAAAAAAAAAAAAAAAAAAAAAAAA<<B", true},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "BB", "AAAAAAAAAAAAAAAAAAAAAAAAAAA<<B", true},
	}
	for _, c := range cases {
		got, tr := NameField(c.primary, c.secondary)
		if got != c.want || tr != c.truncated {
			t.Errorf("NameField(%s, %s) = %s (%d), %v; want %s, %v", c.primary, c.secondary, got, len(got), tr, c.want, c.truncated)
		}
		if tr && (len(got) != 30 || got[29] == '<') {
			t.Errorf("truncated name %q does not end with a letter in position 30", got)
		}
	}
}

func TestMRZRefusesBadFields(t *testing.T) {
	good := MRZ{DocumentCode: "ID", IssuingState: "VNM", DocumentNumber: "203001234", DateOfBirth: "030514", Sex: 'M', DateOfExpiry: "430514", Nationality: "VNM", Name: "NGUYEN<<VAN<AN"}
	if _, err := good.Lines(); err != nil {
		t.Fatal(err)
	}
	bad := []func(m *MRZ){
		func(m *MRZ) { m.DocumentNumber = "20300123" },
		func(m *MRZ) { m.Name = "NGUYEN<<VĂN" },
		func(m *MRZ) { m.Name = strings.Repeat("A", 31) },
		func(m *MRZ) { m.Sex = 'X' },
		func(m *MRZ) { m.DateOfBirth = "0305" },
		func(m *MRZ) { m.OptionalData1 = "0123456789012345" },
	}
	for i, f := range bad {
		m := good
		f(&m)
		if _, err := m.Lines(); err == nil {
			t.Errorf("case %d accepted: %+v", i, m)
		}
	}
}
