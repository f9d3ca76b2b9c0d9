package lds

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMRZ is wrapped by MRZ construction and parsing errors.
var ErrMRZ = errors.New("lds: MRZ")

// MRZ is a TD1 machine readable zone (ICAO 9303-5 §4.2): three lines of 30
// characters.
type MRZ struct {
	DocumentCode   string // 2: "ID"
	IssuingState   string // 3: "VNM"
	DocumentNumber string // 9
	OptionalData1  string // ≤ 15 (line 1, positions 16–30)
	DateOfBirth    string // YYMMDD; unknown parts "<<"
	Sex            byte   // 'M', 'F' or '<'
	DateOfExpiry   string // YYMMDD; a card without expiry: MRZConventions.NoExpiry
	Nationality    string // 3
	OptionalData2  string // ≤ 11 (line 2, positions 19–29)
	Name           string // line 3, ≤ 30: primary<<secondary, already transliterated
}

// CheckDigit computes the ICAO 9303-3 §4.9 check digit: weights 7, 3, 1
// repeating; digits as themselves, A=10 … Z=35, '<'=0; sum mod 10.
func CheckDigit(s string) (byte, error) {
	weights := [3]int{7, 3, 1}
	sum := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		case c == '<':
			v = 0
		default:
			return 0, fmt.Errorf("%w: character %q is not allowed in a check-digit field", ErrMRZ, c)
		}
		sum += v * weights[i%3]
	}
	return byte('0' + sum%10), nil
}

func mustCheck(s string) byte {
	d, err := CheckDigit(s)
	if err != nil {
		panic(err) // callers validate the alphabet first
	}
	return d
}

// validMRZChars reports whether s holds only 0-9, A-Z and '<'.
func validMRZChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c == '<') {
			return false
		}
	}
	return true
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat("<", n-len(s))
}

func (m MRZ) validate() error {
	fields := []struct {
		name  string
		value string
		max   int
		exact bool
	}{
		{"document code", m.DocumentCode, 2, true},
		{"issuing state", m.IssuingState, 3, true},
		{"document number", m.DocumentNumber, 9, true},
		{"optional data (line 1)", m.OptionalData1, 15, false},
		{"date of birth", m.DateOfBirth, 6, true},
		{"date of expiry", m.DateOfExpiry, 6, true},
		{"nationality", m.Nationality, 3, true},
		{"optional data (line 2)", m.OptionalData2, 11, false},
		{"name", m.Name, 30, false},
	}
	for _, f := range fields {
		if !validMRZChars(f.value) {
			return fmt.Errorf("%w: %s holds characters other than 0-9, A-Z and <", ErrMRZ, f.name)
		}
		if len(f.value) > f.max || (f.exact && len(f.value) != f.max) {
			return fmt.Errorf("%w: %s must be %d characters", ErrMRZ, f.name, f.max)
		}
	}
	if m.Sex != 'M' && m.Sex != 'F' && m.Sex != '<' {
		return fmt.Errorf("%w: sex must be M, F or <", ErrMRZ)
	}
	return nil
}

// Lines returns the three lines of the MRZ with all check digits
// (ICAO 9303-5 §4.2.2): line 1 positions 15 (document number), line 2
// positions 7 (date of birth), 15 (expiry) and 30 (composite: line 1
// positions 6–30, line 2 positions 1–7, 9–15 and 19–29).
func (m MRZ) Lines() ([3]string, error) {
	if err := m.validate(); err != nil {
		return [3]string{}, err
	}
	l1 := m.DocumentCode + m.IssuingState + m.DocumentNumber + string(mustCheck(m.DocumentNumber)) + pad(m.OptionalData1, 15)
	dob := m.DateOfBirth + string(mustCheck(m.DateOfBirth))
	exp := m.DateOfExpiry + string(mustCheck(m.DateOfExpiry))
	opt2 := pad(m.OptionalData2, 11)
	composite := mustCheck(l1[5:30] + dob + exp + opt2)
	l2 := dob + string(m.Sex) + exp + m.Nationality + opt2 + string(composite)
	return [3]string{l1, l2, pad(m.Name, 30)}, nil
}

// String returns the 90 characters of the MRZ, as DG1 holds them.
func (m MRZ) String() (string, error) {
	l, err := m.Lines()
	if err != nil {
		return "", err
	}
	return l[0] + l[1] + l[2], nil
}

// Information is the MRZ_information that seeds the BAC keys (ICAO 9303-11
// §9.7.1.1): document number, its check digit, date of birth, check digit,
// date of expiry, check digit.
func (m MRZ) Information() string {
	return m.DocumentNumber + string(mustCheck(m.DocumentNumber)) +
		m.DateOfBirth + string(mustCheck(m.DateOfBirth)) +
		m.DateOfExpiry + string(mustCheck(m.DateOfExpiry))
}

// ParseTD1 reads a 90-character TD1 MRZ (with or without line breaks) and
// verifies every check digit.
func ParseTD1(s string) (MRZ, error) {
	s = strings.NewReplacer("\n", "", "\r", "").Replace(s)
	if len(s) != 90 {
		return MRZ{}, fmt.Errorf("%w: a TD1 MRZ has 90 characters, got %d", ErrMRZ, len(s))
	}
	if !validMRZChars(s) {
		return MRZ{}, fmt.Errorf("%w: characters other than 0-9, A-Z and <", ErrMRZ)
	}
	l1, l2, l3 := s[0:30], s[30:60], s[60:90]
	m := MRZ{
		DocumentCode:   l1[0:2],
		IssuingState:   l1[2:5],
		DocumentNumber: l1[5:14],
		OptionalData1:  strings.TrimRight(l1[15:30], "<"),
		DateOfBirth:    l2[0:6],
		Sex:            l2[7],
		DateOfExpiry:   l2[8:14],
		Nationality:    l2[15:18],
		OptionalData2:  strings.TrimRight(l2[18:29], "<"),
		Name:           strings.TrimRight(l3, "<"),
	}
	checks := []struct {
		what  string
		field string
		got   byte
	}{
		{"document number", l1[5:14], l1[14]},
		{"date of birth", l2[0:6], l2[6]},
		{"date of expiry", l2[8:14], l2[14]},
		{"composite", l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29]},
	}
	for _, c := range checks {
		if want := mustCheck(c.field); want != c.got {
			return m, fmt.Errorf("%w: %s check digit is %c, computed %c", ErrMRZ, c.what, c.got, want)
		}
	}
	if m.Sex != 'M' && m.Sex != 'F' && m.Sex != '<' {
		return m, fmt.Errorf("%w: sex must be M, F or <", ErrMRZ)
	}
	return m, nil
}

// NameField builds line 3 from transliterated name parts (ICAO 9303-3
// §4.6): primary identifier, "<<", secondary identifiers joined by '<'. Too
// long for 30 characters, the secondary identifiers are cut from the end so
// that position 30 holds a letter (9303-3 §4.6.2: a truncated name ends in
// a letter); when the cut would put a filler there, letters are dropped from
// the end of earlier secondary components (each keeps at least its initial)
// until a letter lands in position 30. The primary identifier is kept whole
// when it fits. It reports whether the name was truncated.
func NameField(primary, secondary string) (string, bool) {
	s := primary
	if secondary != "" {
		s += "<<" + secondary
	}
	const n = 30
	if len(s) <= n {
		return s, false
	}
	b := []byte(s)
	given := len(primary) + 2 // index of the first secondary character
	for b[n-1] == '<' {
		// Drop the last letter of a component before position 30 whose
		// component keeps at least one letter, rightmost first; secondary
		// identifiers before the primary one.
		i := deletable(b, given, n-1)
		if i < 0 {
			i = deletable(b, 1, min(len(primary), n-1))
		}
		if i < 0 {
			break
		}
		b = append(b[:i], b[i+1:]...)
	}
	return string(b[:n]), true
}

// deletable returns the rightmost index in [from, to) of a letter whose
// previous character is also a letter, or -1.
func deletable(b []byte, from, to int) int {
	for i := to - 1; i >= from && i >= 1; i-- {
		if b[i] != '<' && b[i-1] != '<' {
			return i
		}
	}
	return -1
}
