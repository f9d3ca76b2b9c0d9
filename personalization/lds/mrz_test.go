package lds

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cccd-station/station/application"
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

// sampleApplication reads one of the project's sample applications.
func sampleApplication(t *testing.T, name string, edit func(m map[string]any)) *application.Application {
	t.Helper()
	b, err := os.ReadFile("../../testdata/samples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		if b, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	now := func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }
	a, err := application.Parse(b, application.Rules{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// chip-data.md §2: the MRZ of the invented person of the samples as real
// cards carry it — the check digit of the 12-digit personal ID in position
// 30 of line 1 (after "<<"), covered by the composite check digit.
func TestCCCDMRZIsWhatRealCardsCarry(t *testing.T) {
	want := [3]string{
		"IDVNM2030012345082203001234<<1",
		"0305141M4305149VNM<<<<<<<<<<<8",
		"NGUYEN<<VAN<AN<<<<<<<<<<<<<<<<",
	}
	m, err := NewMRZ(sampleApplication(t, "nguyen-van-an.json", nil), MRZConventions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Lines()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("MRZ\n got %q\nwant %q", got, want)
	}
	if _, err := ParseTD1(want[0] + want[1] + want[2]); err != nil {
		t.Errorf("the real-card MRZ does not parse: %v", err)
	}
	// The check digit of line 1 is the ID's: another ID, another digit.
	other, _ := CheckDigit("082203001235")
	if other == '1' {
		t.Fatal("test ID collision")
	}

	// Configured as before: the 12 digits alone.
	m, err = NewMRZ(sampleApplication(t, "nguyen-van-an.json", nil), MRZConventions{OptionalData1: MRZIDOnly})
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := m.Lines(); l[0] != "IDVNM2030012345082203001234<<<" {
		t.Errorf("id only: line 1 %q", l[0])
	}
}

// A card without expiry carries 991231 in the expiry field, as real cards
// do (chip-data.md §2); the fillers only when configured.
func TestNoExpiryIs991231UnlessConfigured(t *testing.T) {
	a := sampleApplication(t, "le-dinh-duc.json", nil)
	if a.ExpiryDate != nil {
		t.Fatal("the sample has an expiry")
	}
	for conv, want := range map[MRZConventions]string{
		{}:                              "991231",
		{NoExpiry: MRZNoExpiryFillers}:  "<<<<<<",
		{NoExpiry: MRZNoExpiryDate}:     "991231",
		{OptionalData1: MRZIDWithCheck}: "991231",
		{OptionalData1: MRZIDOnly}:      "991231",
	} {
		m, err := NewMRZ(a, conv)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := m.Lines()
		if l[1][8:14] != want {
			t.Errorf("%+v: expiry field %q, want %q (line 2 %s)", conv, l[1][8:14], want, l[1])
		}
		if m.Information()[17:23] != want {
			t.Errorf("%+v: BAC MRZ_information %q does not carry %s", conv, m.Information(), want)
		}
	}
	// The check digit of 991231 is 5: a line 2 of a real card reads
	// <DOB><check><sex>9912315VNM…
	if l, _ := mustMRZ(t, a).Lines(); l[1][7:15] != "M9912315" {
		t.Errorf("line 2 %q", l[1])
	}
	for _, bad := range []MRZConventions{{OptionalData1: "personal-id"}, {NoExpiry: "000000"}} {
		if _, err := NewMRZ(a, bad); err == nil || bad.Check() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func mustMRZ(t *testing.T, a *application.Application) MRZ {
	m, err := NewMRZ(a, MRZConventions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
