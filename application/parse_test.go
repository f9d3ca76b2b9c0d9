package application

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"
)

var testNow = func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, Vietnam) }

func testRules() Rules { return Rules{Now: testNow} }

// samples returns the sample applications of the central system carried into
// testdata (the same as ../shared/samples/applications).
func samples(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("../testdata/samples/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample applications in ../testdata/samples: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

func sample(t testing.TB, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(samples(t)[name], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encode(t testing.TB, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEverySampleApplicationIsValid(t *testing.T) {
	for name, data := range samples(t) {
		t.Run(name, func(t *testing.T) {
			a, err := Parse(data, testRules())
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(a.PersonalID) != 12 || a.FaceImage == nil || len(a.Fingerprints) == 0 {
				t.Errorf("incomplete application: id %d digits, face %d bytes, %d fingers", len(a.PersonalID), len(a.FaceImage), len(a.Fingerprints))
			}
		})
	}
	// The samples as ../shared has them, when present.
	if files, _ := filepath.Glob("../../shared/samples/applications/*.json"); len(files) > 0 {
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if _, err := Parse(b, testRules()); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}

func TestSampleFieldsDecodedAsSent(t *testing.T) {
	a, err := Parse(samples(t)["ton-nu-thi-phuong-thao.json"], testRules())
	if err != nil {
		t.Fatal(err)
	}
	if a.FamilyName != "Tôn Nữ" || a.GivenNames != "Thị Phương Thảo Nguyên" {
		t.Errorf("names: family %q given %q", a.FamilyName, a.GivenNames)
	}
	if a.DocumentNumber() != "302000777" || a.CAN() != "000777" {
		t.Errorf("document number %q CAN %q", a.DocumentNumber(), a.CAN())
	}
	b, err := Parse(samples(t)["le-dinh-duc.json"], testRules())
	if err != nil {
		t.Fatal(err)
	}
	if b.ExpiryDate != nil || b.DateOfBirth != (Date{Year: 1950}) || b.OldIDNumber != "011234567" || b.SpouseName != "Vũ Thị Hoa" {
		t.Errorf("le-dinh-duc: expiry %v dob %v old %q spouse %q", b.ExpiryDate, b.DateOfBirth, b.OldIDNumber, b.SpouseName)
	}
	// Without family_name the family name is the first word.
	c, _ := Parse(samples(t)["nguyen-van-an.json"], testRules())
	if c.FamilyName != "Nguyễn" || c.GivenNames != "Văn An" {
		t.Errorf("nguyen-van-an: family %q given %q", c.FamilyName, c.GivenNames)
	}
}

func TestDecomposedInputIsNormalizedToNFC(t *testing.T) {
	m := sample(t, "nguyen-van-an.json")
	m["full_name"] = norm.NFD.String("Nguyễn Văn An")
	m["place_of_residence"] = norm.NFD.String(m["place_of_residence"].(string))
	a, err := Parse(encode(t, m), testRules())
	if err != nil {
		t.Fatal(err)
	}
	if a.FullName != "Nguyễn Văn An" || !norm.NFC.IsNormalString(a.PlaceOfResidence) {
		t.Errorf("not NFC: %q", a.FullName)
	}
}

func TestEthnicMinorityNamesAreAccepted(t *testing.T) {
	for _, name := range []string{"H'Hen Niê", "Y'Moan Êñuôl", "Ksor H'Bia", "Rơ Mah Ŭt", "Nông Thị Dín", "Lê-Văn Tám"} {
		m := sample(t, "nguyen-van-an.json")
		m["full_name"] = name
		if _, err := Parse(encode(t, m), testRules()); err != nil {
			t.Errorf("%q refused: %v", name, err)
		}
	}
}

// Ê Đê names put the given name first and the clan name last: with both
// parts sent, either order of full_name is accepted, and the parts are kept
// as sent (chip-data.md §2).
func TestNameInEitherOrderWhenBothPartsAreSent(t *testing.T) {
	for _, full := range []string{"H'Hen Niê", "Niê H'Hen"} {
		m := sample(t, "nguyen-van-an.json")
		m["full_name"], m["family_name"], m["given_names"] = full, "Niê", "H'Hen"
		a, err := Parse(encode(t, m), testRules())
		if err != nil {
			t.Fatalf("%q refused: %v", full, err)
		}
		if a.FullName != full || a.FamilyName != "Niê" || a.GivenNames != "H'Hen" {
			t.Errorf("%q: full %q family %q given %q", full, a.FullName, a.FamilyName, a.GivenNames)
		}
	}
}

// Each rule broken once: the error names the field (by its JSON name) and the rule.
func TestEachRuleRefusedWithFieldAndRule(t *testing.T) {
	big := strings.Repeat("A", 5000)
	threeMB := base64.StdEncoding.EncodeToString(make([]byte, 3<<20))
	cases := []struct {
		name   string
		base   string
		change func(m map[string]any)
		field  string
		rule   string // a part of the rule's text
	}{
		{"missing personal_id", "nguyen-van-an.json", func(m map[string]any) { delete(m, "personal_id") }, "personal_id", "required"},
		{"missing expiry_date key", "nguyen-van-an.json", func(m map[string]any) { delete(m, "expiry_date") }, "expiry_date", "required"},
		{"empty full_name", "nguyen-van-an.json", func(m map[string]any) { m["full_name"] = "" }, "full_name", "empty"},
		{"unknown field", "nguyen-van-an.json", func(m map[string]any) { m["spouse_nam"] = "x" }, "spouse_nam", "unknown field"},
		{"wrong type", "nguyen-van-an.json", func(m map[string]any) { m["sex"] = 1 }, "sex", "string"},
		{"personal_id not digits", "nguyen-van-an.json", func(m map[string]any) { m["personal_id"] = "08220300123A" }, "personal_id", "12 digits"},
		{"personal_id short", "nguyen-van-an.json", func(m map[string]any) { m["personal_id"] = "08220300123" }, "personal_id", "12 digits"},
		{"personal_id province", "nguyen-van-an.json", func(m map[string]any) { m["personal_id"] = "003203001234" }, "personal_id", "province code"},
		{"personal_id province 097", "nguyen-van-an.json", func(m map[string]any) { m["personal_id"] = "097203001234" }, "personal_id", "province code"},
		{"personal_id sex digit", "nguyen-van-an.json", func(m map[string]any) { m["personal_id"] = "082303001234" }, "personal_id", "disagrees with sex"},
		{"personal_id century", "nguyen-van-an.json", func(m map[string]any) { m["personal_id"] = "082003001234" }, "personal_id", "century"},
		{"personal_id year", "nguyen-van-an.json", func(m map[string]any) { m["personal_id"] = "082204001234" }, "personal_id", "year of date_of_birth"},
		{"personal_id digit 6", "nguyen-van-an.json", func(m map[string]any) { m["personal_id"] = "082603001234" }, "personal_id", "0–5"},
		{"sex", "nguyen-van-an.json", func(m map[string]any) { m["sex"] = "X" }, "sex", "M or F"},
		{"date not real", "nguyen-van-an.json", func(m map[string]any) { m["date_of_birth"] = "2003-02-30" }, "date_of_birth", "does not exist"},
		{"date format", "nguyen-van-an.json", func(m map[string]any) { m["date_of_birth"] = "14/05/2003" }, "date_of_birth", "YYYY-MM-DD"},
		{"issue partial", "nguyen-van-an.json", func(m map[string]any) { m["issue_date"] = "2026-11" }, "issue_date", "YYYY-MM-DD"},
		{"issue in future", "nguyen-van-an.json", func(m map[string]any) { m["issue_date"] = "2026-11-24" }, "issue_date", "future"},
		{"birth in future", "nguyen-van-an.json", func(m map[string]any) {
			m["date_of_birth"] = "2027-01-01"
			m["personal_id"] = "082227001234"
		}, "date_of_birth", "future"},
		{"issue before birth", "nguyen-van-an.json", func(m map[string]any) { m["issue_date"] = "2003-05-13" }, "issue_date", "before date_of_birth"},
		{"expiry before issue", "nguyen-van-an.json", func(m map[string]any) { m["expiry_date"] = "2026-11-19" }, "expiry_date", "after issue_date"},
		{"expiry equal issue", "nguyen-van-an.json", func(m map[string]any) { m["expiry_date"] = "2026-11-20" }, "expiry_date", "after issue_date"},
		{"expiry off policy", "nguyen-van-an.json", func(m map[string]any) { m["expiry_date"] = "2028-05-14" }, "expiry_date", "turns 40"},
		{"expiry null off policy", "nguyen-van-an.json", func(m map[string]any) { m["expiry_date"] = nil }, "expiry_date", "turns 40"},
		{"expiry given after 60", "le-dinh-duc.json", func(m map[string]any) { m["expiry_date"] = "2030-01-01" }, "expiry_date", "null"},
		{"expiry wrong type", "nguyen-van-an.json", func(m map[string]any) { m["expiry_date"] = 2043 }, "expiry_date", "date"},
		{"name with digit", "nguyen-van-an.json", func(m map[string]any) { m["full_name"] = "Nguyễn Văn 2" }, "full_name", "digits"},
		{"name with symbol", "nguyen-van-an.json", func(m map[string]any) { m["father_name"] = "Nguyễn Văn Bình!" }, "father_name", "only letters"},
		{"name with two spaces", "nguyen-van-an.json", func(m map[string]any) { m["mother_name"] = "Trần  Thị Cúc" }, "mother_name", "two spaces"},
		{"name leading hyphen", "nguyen-van-an.json", func(m map[string]any) { m["full_name"] = "-Nguyễn Văn An" }, "full_name", "begin with a letter"},
		{"name in another script", "nguyen-van-an.json", func(m map[string]any) { m["full_name"] = "Нгуен Ван Ан" }, "full_name", "only letters"},
		{"family and given disagree", "ton-nu-thi-phuong-thao.json", func(m map[string]any) { m["given_names"] = "Thị Phương Thảo" }, "full_name", "either order"},
		{"family without given", "nguyen-van-an.json", func(m map[string]any) { m["family_name"] = "Nguyễn" }, "given_names", "required when"},
		{"address 5000 characters", "nguyen-van-an.json", func(m map[string]any) { m["place_of_residence"] = big }, "place_of_residence", "longer than 300"},
		{"address control character", "nguyen-van-an.json", func(m map[string]any) { m["place_of_origin"] = "Xã\tTân Phú" }, "place_of_origin", "control"},
		{"address symbol", "nguyen-van-an.json", func(m map[string]any) { m["place_of_origin"] = "Xã <script>" }, "place_of_origin", "only letters, digits"},
		{"nationality", "nguyen-van-an.json", func(m map[string]any) { m["nationality"] = "USA" }, "nationality", "VNM"},
		{"old id", "le-dinh-duc.json", func(m map[string]any) { m["old_id_number"] = "12345" }, "old_id_number", "9 digits"},
		{"face 3 MB", "nguyen-van-an.json", func(m map[string]any) { m["face_image"] = threeMB }, "face_image", "larger than"},
		{"face not base64", "nguyen-van-an.json", func(m map[string]any) { m["face_image"] = "@@@@" }, "face_image", "base64"},
		{"face missing", "nguyen-van-an.json", func(m map[string]any) { delete(m, "face_image") }, "face_image", "required"},
		{"no fingerprints", "nguyen-van-an.json", func(m map[string]any) { m["fingerprints"] = []any{} }, "fingerprints", "at least one"},
		{"finger name", "nguyen-van-an.json", func(m map[string]any) {
			m["fingerprints"].([]any)[0].(map[string]any)["finger"] = "right_toe"
		}, "fingerprints[0].finger", "must be one of"},
		{"finger twice", "nguyen-van-an.json", func(m map[string]any) {
			m["fingerprints"].([]any)[1].(map[string]any)["finger"] = "right_index"
		}, "fingerprints[1].finger", "twice"},
		{"finger format", "nguyen-van-an.json", func(m map[string]any) {
			m["fingerprints"].([]any)[0].(map[string]any)["format"] = "wsq"
		}, "fingerprints[0].format", "must be one of"},
		{"application id symbols", "nguyen-van-an.json", func(m map[string]any) { m["application_id"] = "TG 2026/1" }, "application_id", "only letters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := sample(t, tc.base)
			tc.change(m)
			a, err := Parse(encode(t, m), testRules())
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a ValidationError, got application %v, error %v", a != nil, err)
			}
			if a != nil {
				t.Errorf("an application was produced from invalid input")
			}
			found := false
			for _, p := range ve.Problems {
				if p.Field == tc.field && strings.Contains(p.Rule, tc.rule) {
					found = true
				}
			}
			if !found {
				t.Errorf("want %s: …%s…, got %v", tc.field, tc.rule, ve)
			}
		})
	}
}

func TestDocumentLevelProblems(t *testing.T) {
	valid := samples(t)["nguyen-van-an.json"]
	cases := map[string][]byte{
		"duplicate key":    []byte(`{"personal_id":"082203001234","personal_id":"082203001235"}`),
		"nested duplicate": []byte(`{"fingerprints":[{"finger":"a","finger":"b"}]}`),
		"trailing data":    append(append([]byte{}, valid...), []byte(` {}`)...),
		"not an object":    []byte(`[1,2]`),
		"empty":            []byte(``),
		"truncated":        valid[:len(valid)/2],
		"not UTF-8":        []byte("{\"full_name\":\"\xff\"}"),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(data, testRules())
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("want a ValidationError, got %v", err)
			}
		})
	}
	// A 10 MB photo makes the document itself too large: refused before decoding.
	m := sample(t, "nguyen-van-an.json")
	m["face_image"] = base64.StdEncoding.EncodeToString(make([]byte, 10<<20))
	if _, err := Parse(encode(t, m), testRules()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("10 MB photo: %v", err)
	}
}

// The error text is reported to central and logged: it must not carry the
// values it refused.
func TestValidationErrorsCarryNoPersonalData(t *testing.T) {
	m := sample(t, "nguyen-van-an.json")
	m["personal_id"] = "082303001234"
	m["full_name"] = "Nguyễn Văn 9"
	m["expiry_date"] = "2031-05-14"
	_, err := Parse(encode(t, m), testRules())
	if err == nil {
		t.Fatal("accepted")
	}
	for _, secret := range []string{"082303001234", "Nguyễn", "2031", "2003"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error text carries %q: %v", secret, err)
		}
	}
}

func TestBiometricCheckersAreConsulted(t *testing.T) {
	rules := testRules()
	rules.CheckFace = func([]byte) error { return errors.New("not a JPEG picture") }
	rules.CheckFinger = func(string, []byte) error { return errors.New("record length disagrees with the data") }
	_, err := Parse(samples(t)["nguyen-van-an.json"], rules)
	var ve *ValidationError
	if !errors.As(err, &ve) || !ve.Has("face_image") || !ve.Has("fingerprints[0].data") || !ve.Has("fingerprints[1].data") {
		t.Fatalf("checker verdicts not reported: %v", err)
	}
}

func TestRenewalPolicy(t *testing.T) {
	d := func(s string) Date {
		x, rule := parseDate(s, true)
		if rule != "" {
			t.Fatalf("%s: %s", s, rule)
		}
		return x
	}
	p := func(s string) *Date { x := d(s); return &x }
	cases := []struct {
		policy     Policy
		dob, issue string
		expiry     *Date
		ok         bool
		why        string
	}{
		{PolicyCCCD2014, "2003-05-14", "2026-11-20", p("2043-05-14"), true, "within 2 years of 25: valid until 40"},
		{PolicyCCCD2014, "2003-05-14", "2026-11-20", p("2028-05-14"), false, "within grace must skip to 40"},
		{PolicyCCCD2014, "2003-05-14", "2026-05-13", p("2028-05-14"), true, "one day more than 2 years before 25: until 25"},
		{PolicyCCCD2014, "2003-05-14", "2026-05-14", p("2043-05-14"), true, "exactly 2 years before 25: grace applies"},
		{PolicyCCCD2014, "1990-02-28", "2026-11-20", p("2030-02-28"), true, "36: until 40"},
		{PolicyCCCD2014, "1985-11-02", "2026-11-20", p("2045-11-02"), true, "41: until 60"},
		{PolicyCCCD2014, "1968-01-01", "2026-11-20", nil, true, "58: within grace of 60, no expiry"},
		{PolicyCCCD2014, "1950", "2026-11-20", nil, true, "76: no expiry"},
		{PolicyCCCD2014, "1950", "2026-11-20", p("2030-01-01"), false, "76: must be null"},
		{PolicyCCCD2014, "2012-03-01", "2026-11-20", p("2037-03-01"), true, "14 under 2014 law: until 25"},
		{PolicyIdentity2023, "2012-03-01", "2023-11-20", p("2026-03-01"), true, "11 under 2023 law: until 14"},
		{PolicyIdentity2023, "2012-03-01", "2023-11-20", p("2037-03-01"), false, "11 under 2023 law: not 25"},
		{PolicyIdentity2023, "2012-03-01", "2024-11-20", p("2037-03-01"), true, "12 under 2023 law: within grace of 14, until 25"},
		{PolicyCCCD2014, "2001", "2024-06-01", p("2026-12-31"), true, "year-only DOB compares by year (until 25)"},
		{PolicyCCCD2014, "2001", "2024-06-01", p("2041-01-01"), true, "year-only DOB: grace possible, until 40"},
		{PolicyCCCD2014, "2001", "2024-06-01", p("2027-06-01"), false, "year-only DOB: wrong year"},
		{PolicyCCCD2014, "2001-07", "2022-06-01", p("2026-07-30"), true, "year-month DOB compares by month"},
		{PolicyCCCD2014, "2001-07", "2022-06-01", p("2026-08-01"), false, "year-month DOB: wrong month"},
		{PolicyCCCD2014, "2000-02-29", "2020-01-10", p("2025-02-28"), true, "29 February: 28 February accepted"},
		{PolicyCCCD2014, "2000-02-29", "2020-01-10", p("2025-03-01"), true, "29 February: 1 March accepted"},
		{PolicyCCCD2014, "2000-02-29", "2020-01-10", p("2025-03-02"), false, "29 February: not 2 March"},
	}
	for _, tc := range cases {
		rule := tc.policy.check(d(tc.dob), d(tc.issue), tc.expiry)
		if (rule == "") != tc.ok {
			t.Errorf("%s: %s dob %s issue %s expiry %v: rule %q", tc.why, tc.policy, tc.dob, tc.issue, tc.expiry, rule)
		}
	}
}

func TestTransliterationICAO(t *testing.T) {
	cases := map[string]string{
		"Nguyễn Văn An":  "NGUYEN<VAN<AN",
		"Đặng Thị Ước":   "DANG<THI<UOC",
		"H'Hen Niê":      "HHEN<NIE",
		"Y'Moan Êñuôl":   "YMOAN<ENUOL",
		"Rơ Mah Ŭt Ĭ Ŏ":  "RO<MAH<UT<I<O",
		"Lê-Văn":         "LE<VAN",
		"Tôn Nữ Thị Ỷ Ỵ": "TON<NU<THI<Y<Y",
	}
	for in, want := range cases {
		got, ok := TransliterateICAO(in)
		if !ok || got != want {
			t.Errorf("TransliterateICAO(%q) = %q, %v; want %q", in, got, ok, want)
		}
		if got2, _ := TransliterateICAO(norm.NFD.String(in)); got2 != want {
			t.Errorf("decomposed %q = %q", in, got2)
		}
	}
	if _, ok := TransliterateICAO("Nguyễn 3"); ok {
		t.Error("a digit was transliterated")
	}
}

func TestContentHashIgnoresKeyOrderAndSpacing(t *testing.T) {
	a := []byte(`{"b":1,"a":"x"}`)
	b := []byte("{ \"a\" : \"x\",\n \"b\" : 1 }")
	c := []byte(`{"a":"y","b":1}`)
	ha, _ := ContentHash(a)
	hb, _ := ContentHash(b)
	hc, _ := ContentHash(c)
	if ha != hb || ha == hc {
		t.Error("content hash is not canonical")
	}
	if id, batch := PeekID([]byte(`{"application_id":"TG-1","batch_id":"B 1","x":`)); id != "" || batch != "" {
		t.Errorf("PeekID of broken JSON: %q %q", id, batch)
	}
	if id, _ := PeekID([]byte(`{"application_id":"TG-1","sex":"X"}`)); id != "TG-1" {
		t.Errorf("PeekID: %q", id)
	}
}
