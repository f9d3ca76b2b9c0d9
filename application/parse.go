package application

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits bound every part of an application. Anything larger is refused, never
// truncated.
type Limits struct {
	Document     int // the whole JSON document, bytes
	FaceImage    int // decoded face picture, bytes
	Fingerprint  int // one decoded finger record, bytes
	Fingerprints int // number of finger records
}

// DefaultLimits are generous for real data and small enough to refuse abuse:
// a 10 MB photo or a 5,000-character address is refused.
var DefaultLimits = Limits{
	Document:     8 << 20, // room for the largest face and ten largest finger records in base64
	FaceImage:    2 << 20,
	Fingerprint:  256 << 10,
	Fingerprints: 10,
}

// textLimit is the longest value, in characters, of each text field.
var textLimit = map[string]int{
	"application_id":     64,
	"batch_id":           64,
	"full_name":          100,
	"family_name":        50,
	"given_names":        80,
	"ethnicity":          50,
	"religion":           50,
	"place_of_origin":    300,
	"place_of_residence": 300,
	"identifying_marks":  200,
	"father_name":        100,
	"mother_name":        100,
	"spouse_name":        100,
}

// Rules configure validation.
type Rules struct {
	Policy Policy           // renewal-age policy; zero value: PolicyCCCD2014
	Limits Limits           // zero value: DefaultLimits
	Now    func() time.Time // zero value: time.Now
	// CheckFace and CheckFinger validate the biometric data; nil means the
	// defaults (a JPEG that decodes, at least 240×320; a finger record that
	// parses as its format). They return an error whose text states the
	// broken rule without any image data.
	CheckFace   func(jpeg []byte) error
	CheckFinger func(format string, record []byte) error
}

// Problem is one broken rule, named by the JSON field it concerns.
type Problem struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
	// FromInput: Field is a name taken from the document (an unknown or a
	// repeated key), in its short safe form (InputName), not one of the
	// schema's: it may be told to central, but is not kept once the
	// application is purged.
	FromInput bool `json:"-"`
}

// maxInputName is the longest key name ever echoed or stored.
const maxInputName = 32

// InputName is the short, safe form of a name taken from the document (an
// unknown or a repeated key): at most 32 characters of A-Z a-z 0-9 _ . -,
// anything else shown as '?', a longer name cut with "…". A 4 MiB key is
// never echoed or stored whole.
func InputName(name string) string {
	var b strings.Builder
	n := 0
	for _, r := range name {
		if n == maxInputName {
			b.WriteString("…")
			break
		}
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
		n++
	}
	if n == 0 {
		return "(empty)"
	}
	return b.String()
}

func (p Problem) String() string { return p.Field + ": " + p.Rule }

// ValidationError lists every rule an application broke. Its text names
// fields and rules only, never values, so it may be reported to central and
// logged.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid application: " + strings.Join(parts, "; ")
}

// Has reports whether field broke a rule.
func (e *ValidationError) Has(field string) bool {
	for _, p := range e.Problems {
		if p.Field == field {
			return true
		}
	}
	return false
}

// wire is the JSON as central sends it. Pointers tell a missing field from an
// empty one; expiry_date is raw to tell null (no expiry) from missing.
type wire struct {
	ApplicationID    *string         `json:"application_id"`
	BatchID          *string         `json:"batch_id"`
	PersonalID       *string         `json:"personal_id"`
	FullName         *string         `json:"full_name"`
	FamilyName       *string         `json:"family_name"`
	GivenNames       *string         `json:"given_names"`
	DateOfBirth      *string         `json:"date_of_birth"`
	Sex              *string         `json:"sex"`
	Nationality      *string         `json:"nationality"`
	Ethnicity        *string         `json:"ethnicity"`
	Religion         *string         `json:"religion"`
	PlaceOfOrigin    *string         `json:"place_of_origin"`
	PlaceOfResidence *string         `json:"place_of_residence"`
	IdentifyingMarks *string         `json:"identifying_marks"`
	IssueDate        *string         `json:"issue_date"`
	ExpiryDate       json.RawMessage `json:"expiry_date"`
	FatherName       *string         `json:"father_name"`
	MotherName       *string         `json:"mother_name"`
	SpouseName       *string         `json:"spouse_name"`
	OldIDNumber      *string         `json:"old_id_number"`
	FaceImage        *string         `json:"face_image"`
	Fingerprints     []wireFinger    `json:"fingerprints"`
}

type wireFinger struct {
	Finger *string `json:"finger"`
	Format *string `json:"format"`
	Data   *string `json:"data"`
}

// FingerNames are the accepted values of fingerprints[].finger, in ISO/IEC
// 19794-2 finger position order (1 right thumb … 10 left little).
var FingerNames = []string{
	"right_thumb", "right_index", "right_middle", "right_ring", "right_little",
	"left_thumb", "left_index", "left_middle", "left_ring", "left_little",
}

// FingerFormats are the accepted values of fingerprints[].format.
var FingerFormats = []string{"iso19794-2", "iso19794-4"}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)

// Parse decodes and validates one application. On failure it returns a
// *ValidationError naming every broken rule, and no application.
func Parse(data []byte, rules Rules) (*Application, error) {
	lim := rules.Limits
	if lim == (Limits{}) {
		lim = DefaultLimits
	}
	if len(data) > lim.Document {
		return nil, &ValidationError{[]Problem{{Field: "(document)", Rule: fmt.Sprintf("larger than %d bytes", lim.Document)}}}
	}
	w, prob := decodeWire(data)
	if prob != nil {
		return nil, &ValidationError{[]Problem{*prob}}
	}
	v := validator{rules: rules, lim: lim}
	if v.rules.Now == nil {
		v.rules.Now = time.Now
	}
	if v.rules.CheckFace == nil {
		v.rules.CheckFace = checkFace
	}
	if v.rules.CheckFinger == nil {
		v.rules.CheckFinger = checkFinger
	}
	a := v.check(w)
	if len(v.problems) > 0 {
		return nil, &ValidationError{v.problems}
	}
	return a, nil
}

// decodeWire decodes strictly: one JSON object, no unknown fields, no field
// twice, nothing after it.
func decodeWire(data []byte) (*wire, *Problem) {
	if !utf8.Valid(data) {
		return nil, &Problem{Field: "(document)", Rule: "must be UTF-8 JSON"}
	}
	if p := checkDuplicateKeys(data); p != nil {
		return nil, p
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w wire
	if err := dec.Decode(&w); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			field := te.Field
			if field == "" {
				field = "(document)"
			}
			return nil, &Problem{Field: field, Rule: "must be a JSON " + jsonKind(te.Type.Kind().String())}
		case errors.As(err, &se):
			return nil, &Problem{Field: "(document)", Rule: fmt.Sprintf("not valid JSON (at byte %d)", se.Offset)}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.TrimPrefix(err.Error(), "json: unknown field ")
			if u, err := strconv.Unquote(name); err == nil {
				name = u
			}
			return nil, &Problem{Field: InputName(name), Rule: "unknown field", FromInput: true}
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, &Problem{Field: "(document)", Rule: "empty or truncated JSON"}
		default:
			return nil, &Problem{Field: "(document)", Rule: "must be a JSON object"}
		}
	}
	if dec.More() {
		return nil, &Problem{Field: "(document)", Rule: "one JSON object expected, found more data after it"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &Problem{Field: "(document)", Rule: "one JSON object expected, found more data after it"}
	}
	return &w, nil
}

func jsonKind(k string) string {
	switch k {
	case "ptr", "string":
		return "string"
	case "slice":
		return "array"
	case "struct":
		return "object"
	default:
		return k
	}
}

// checkDuplicateKeys refuses an object that names a key twice, at any depth:
// encoding/json would silently keep the last, and a chip must not be made
// from an ambiguous document.
func checkDuplicateKeys(data []byte) *Problem {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		keys   map[string]bool
		object bool
		expect bool // next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // syntax errors are reported by the real decode
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isValueStart := true
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &frame{keys: map[string]bool{}, object: true, expect: true})
				if top != nil && top.object {
					top.expect = true
				}
				continue
			case '[':
				stack = append(stack, &frame{})
				if top != nil && top.object {
					top.expect = true
				}
				continue
			case '}', ']':
				stack = stack[:len(stack)-1]
				continue
			}
		case string:
			if top != nil && top.object && top.expect {
				if top.keys[t] {
					return &Problem{Field: InputName(t), Rule: "appears twice", FromInput: true}
				}
				top.keys[t] = true
				top.expect = false
				isValueStart = false
			}
		}
		if isValueStart && top != nil && top.object {
			top.expect = true
		}
	}
}

type validator struct {
	rules    Rules
	lim      Limits
	problems []Problem
}

func (v *validator) fail(field, rule string) {
	v.problems = append(v.problems, Problem{Field: field, Rule: rule})
}

func (v *validator) failed(field string) bool {
	for _, p := range v.problems {
		if p.Field == field {
			return true
		}
	}
	return false
}

// str returns the NFC form of a required (or optional) string field, checking
// presence, emptiness, control characters and length.
func (v *validator) str(field string, p *string, required bool) string {
	if p == nil {
		if required {
			v.fail(field, "required")
		}
		return ""
	}
	s := norm.NFC.String(*p)
	if s == "" {
		if required {
			v.fail(field, "must not be empty")
		}
		return ""
	}
	if lim, ok := textLimit[field]; ok && utf8.RuneCountInString(s) > lim {
		v.fail(field, fmt.Sprintf("longer than %d characters", lim))
		return ""
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			v.fail(field, "must not contain control characters")
			return ""
		}
	}
	if strings.TrimSpace(s) != s {
		v.fail(field, "must not begin or end with a space")
		return ""
	}
	if strings.Contains(s, "  ") {
		v.fail(field, "must not contain two spaces in a row")
		return ""
	}
	return s
}

// name checks a person's name: letters (Vietnamese, and the orthographies of
// the ethnic minorities: H'Hen Niê, Y'Moan Êñuôl), single spaces, apostrophes
// and hyphens between letters; no digits or other symbols; every letter must
// have an ICAO 9303-3 transliteration for the MRZ.
func (v *validator) name(field string, p *string, required bool) string {
	s := v.str(field, p, required)
	if s == "" {
		return ""
	}
	prevLetter := false
	for i, r := range s {
		switch {
		case unicode.Is(unicode.Latin, r):
			if !transliterable(r) {
				v.fail(field, "letter without an ICAO transliteration")
				return ""
			}
			prevLetter = true
		case unicode.Is(unicode.Mn, r):
			if !prevLetter {
				v.fail(field, "combining mark without a letter")
				return ""
			}
		case r == ' ' || r == '-' || isApostrophe(r):
			if !prevLetter {
				if i == 0 {
					v.fail(field, "must begin with a letter")
				} else {
					v.fail(field, "spaces, hyphens and apostrophes must stand between letters")
				}
				return ""
			}
			prevLetter = false
		case unicode.IsDigit(r):
			v.fail(field, "must not contain digits")
			return ""
		default:
			v.fail(field, "only letters, spaces, apostrophes and hyphens are allowed")
			return ""
		}
	}
	if !prevLetter {
		v.fail(field, "must end with a letter")
		return ""
	}
	return s
}

// label checks a short label such as an ethnicity or a religion: letters and
// single spaces.
func (v *validator) label(field string, p *string) string {
	s := v.str(field, p, true)
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.Is(unicode.Mn, r) || r == ' ' || r == '-' || isApostrophe(r)) {
			v.fail(field, "only letters, spaces, apostrophes and hyphens are allowed")
			return ""
		}
	}
	return s
}

// text checks free text (addresses, identifying marks): letters, digits,
// spaces and ordinary punctuation.
func (v *validator) text(field string, p *string) string {
	s := v.str(field, p, true)
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.Is(unicode.Mn, r) || unicode.IsDigit(r) || r == ' ' || isApostrophe(r) {
			continue
		}
		if strings.ContainsRune(`,.;:/-()"`, r) {
			continue
		}
		v.fail(field, "only letters, digits, spaces and the punctuation , . ; : / - ( ) \" ' are allowed")
		return ""
	}
	return s
}

func (v *validator) check(w *wire) *Application {
	a := &Application{}

	a.ID = v.str("application_id", w.ApplicationID, true)
	if a.ID != "" && !idPattern.MatchString(a.ID) {
		v.fail("application_id", "only letters, digits and . _ : - are allowed")
	}
	a.BatchID = v.str("batch_id", w.BatchID, true)
	if a.BatchID != "" && !idPattern.MatchString(a.BatchID) {
		v.fail("batch_id", "only letters, digits and . _ : - are allowed")
	}

	a.FullName = v.name("full_name", w.FullName, true)
	family := v.name("family_name", w.FamilyName, false)
	given := v.name("given_names", w.GivenNames, false)
	switch {
	case w.FamilyName != nil && w.GivenNames == nil:
		v.fail("given_names", "required when family_name is given")
	case w.FamilyName == nil && w.GivenNames != nil:
		v.fail("family_name", "required when given_names is given")
	case family != "" && given != "" && a.FullName != "":
		// chip-data.md §2: name order differs between the peoples of
		// Vietnam — Kinh put the family name first ("Nguyễn Văn An"), Ê Đê
		// and Gia Rai the clan name last ("H'Hen Niê"). With both parts
		// sent, full_name may hold them in either order; the MRZ's primary
		// identifier is family_name whatever the order, and DG13 carries
		// full_name as sent.
		if family+" "+given != a.FullName && given+" "+family != a.FullName {
			v.fail("full_name", "must be family_name and given_names joined by a space, in either order")
		}
		a.FamilyName, a.GivenNames = family, given
	case a.FullName != "" && w.FamilyName == nil:
		// chip-data.md §2: without explicit parts the family name is the
		// first word of full_name.
		a.FamilyName, a.GivenNames, _ = strings.Cut(a.FullName, " ")
	}

	var sexOK bool
	switch s := v.str("sex", w.Sex, true); s {
	case "":
	case "M", "F":
		a.Sex, sexOK = Sex(s[0]), true
	default:
		v.fail("sex", "must be M or F")
	}

	var dobOK bool
	if s := v.str("date_of_birth", w.DateOfBirth, true); s != "" {
		d, rule := parseDate(s, true)
		if rule != "" {
			v.fail("date_of_birth", rule)
		} else {
			a.DateOfBirth, dobOK = d, true
		}
	}

	a.PersonalID = v.str("personal_id", w.PersonalID, true)
	if a.PersonalID != "" {
		for _, rule := range personalIDRules(a.PersonalID, a.Sex, sexOK, a.DateOfBirth, dobOK) {
			v.fail("personal_id", rule)
		}
	}

	switch s := v.str("nationality", w.Nationality, true); s {
	case "", "VNM":
		a.Nationality = s
	default:
		v.fail("nationality", "must be VNM (a CCCD is issued to Vietnamese citizens)")
	}

	a.Ethnicity = v.label("ethnicity", w.Ethnicity)
	a.Religion = v.label("religion", w.Religion)
	a.PlaceOfOrigin = v.text("place_of_origin", w.PlaceOfOrigin)
	a.PlaceOfResidence = v.text("place_of_residence", w.PlaceOfResidence)
	a.IdentifyingMarks = v.text("identifying_marks", w.IdentifyingMarks)
	a.FatherName = v.name("father_name", w.FatherName, true)
	a.MotherName = v.name("mother_name", w.MotherName, true)
	a.SpouseName = v.name("spouse_name", w.SpouseName, false)
	if w.OldIDNumber != nil {
		a.OldIDNumber = v.str("old_id_number", w.OldIDNumber, false)
		if a.OldIDNumber != "" && !allDigits(a.OldIDNumber, 9) {
			v.fail("old_id_number", "must be the 9 digits of the old identity card number")
			a.OldIDNumber = ""
		}
	}

	v.dates(w, a, dobOK)
	v.biometrics(w, a)
	return a
}

func allDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (v *validator) dates(w *wire, a *Application, dobOK bool) {
	today := DateOf(v.rules.Now())

	if dobOK && today.Time().Before(a.DateOfBirth.Earliest()) {
		v.fail("date_of_birth", "must not be in the future")
		dobOK = false
	}

	var issueOK bool
	if s := v.str("issue_date", w.IssueDate, true); s != "" {
		d, rule := parseDate(s, false)
		switch {
		case rule != "":
			v.fail("issue_date", rule)
		case today.Before(d):
			v.fail("issue_date", "must not be in the future")
		case dobOK && d.Time().Before(a.DateOfBirth.Earliest()):
			v.fail("issue_date", "must not be before date_of_birth")
		default:
			a.IssueDate, issueOK = d, true
		}
	}

	var expiryOK bool
	switch raw := bytes.TrimSpace(w.ExpiryDate); {
	case raw == nil:
		v.fail("expiry_date", "required (null when the card has no expiry)")
	case string(raw) == "null":
		a.ExpiryDate, expiryOK = nil, true
	default:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			v.fail("expiry_date", "must be a date YYYY-MM-DD or null")
			break
		}
		d, rule := parseDate(norm.NFC.String(s), false)
		switch {
		case rule != "":
			v.fail("expiry_date", rule)
		case issueOK && !a.IssueDate.Before(d):
			v.fail("expiry_date", "must be after issue_date")
		default:
			a.ExpiryDate, expiryOK = &d, true
		}
	}

	if dobOK && issueOK && expiryOK {
		if rule := v.rules.Policy.check(a.DateOfBirth, a.IssueDate, a.ExpiryDate); rule != "" {
			v.fail("expiry_date", rule)
		}
	}
}

func (v *validator) biometrics(w *wire, a *Application) {
	if w.FaceImage == nil || *w.FaceImage == "" {
		v.fail("face_image", "required")
	} else if img, rule := decodeBase64(*w.FaceImage, v.lim.FaceImage); rule != "" {
		v.fail("face_image", rule)
	} else if v.rules.CheckFace != nil {
		if err := v.rules.CheckFace(img); err != nil {
			v.fail("face_image", err.Error())
		} else {
			a.FaceImage = img
		}
	} else {
		a.FaceImage = img
	}

	switch n := len(w.Fingerprints); {
	case w.Fingerprints == nil:
		v.fail("fingerprints", "required")
		return
	case n == 0:
		v.fail("fingerprints", "at least one finger record is required")
		return
	case n > v.lim.Fingerprints:
		v.fail("fingerprints", fmt.Sprintf("at most %d finger records", v.lim.Fingerprints))
		return
	}
	seen := map[string]bool{}
	for i, f := range w.Fingerprints {
		prefix := fmt.Sprintf("fingerprints[%d].", i)
		var fp Fingerprint
		ok := true
		switch {
		case f.Finger == nil || *f.Finger == "":
			v.fail(prefix+"finger", "required")
			ok = false
		case !contains(FingerNames, *f.Finger):
			v.fail(prefix+"finger", "must be one of "+strings.Join(FingerNames, ", "))
			ok = false
		case seen[*f.Finger]:
			v.fail(prefix+"finger", "the same finger appears twice")
			ok = false
		default:
			seen[*f.Finger] = true
			fp.Finger = *f.Finger
		}
		switch {
		case f.Format == nil || *f.Format == "":
			v.fail(prefix+"format", "required")
			ok = false
		case !contains(FingerFormats, *f.Format):
			v.fail(prefix+"format", "must be one of "+strings.Join(FingerFormats, ", "))
			ok = false
		default:
			fp.Format = *f.Format
		}
		if f.Data == nil || *f.Data == "" {
			v.fail(prefix+"data", "required")
			continue
		}
		data, rule := decodeBase64(*f.Data, v.lim.Fingerprint)
		if rule != "" {
			v.fail(prefix+"data", rule)
			continue
		}
		if ok && v.rules.CheckFinger != nil {
			if err := v.rules.CheckFinger(fp.Format, data); err != nil {
				v.fail(prefix+"data", err.Error())
				continue
			}
		}
		fp.Data = data
		if ok {
			a.Fingerprints = append(a.Fingerprints, fp)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// decodeBase64 decodes standard base64 (padding required), refusing before
// decoding anything larger than max bytes.
func decodeBase64(s string, max int) ([]byte, string) {
	if base64.StdEncoding.DecodedLen(len(s)) > max+2 {
		return nil, fmt.Sprintf("larger than %d bytes", max)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, "must be standard base64"
	}
	if len(b) > max {
		return nil, fmt.Sprintf("larger than %d bytes", max)
	}
	return b, ""
}
