package lds

import (
	"bytes"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/cccd-station/station/application"
)

// DG13 is the Vietnam-specific data group, as public readers of CCCD chips
// decode it (chip-data.md §5). All strings are NFC.
type DG13 struct {
	PersonalID       string // 1, PrintableString
	FullName         string // 2
	DateOfBirth      string // 3, dd/mm/yyyy (unknown parts left out), PrintableString
	Sex              string // 4, "Nam" / "Nữ"
	Nationality      string // 5, "Việt Nam"
	Ethnicity        string // 6
	Religion         string // 7
	PlaceOfOrigin    string // 8
	PlaceOfResidence string // 9
	IdentifyingMarks string // 10
	IssueDate        string // 11, dd/mm/yyyy, PrintableString
	ExpiryDate       string // 12, dd/mm/yyyy or "Không thời hạn"
	FatherName       string // 13, first SEQUENCE
	MotherName       string // 13, second SEQUENCE
	SpouseName       string // 14, empty SEQUENCE when none
	OldIDNumber      string // 15, omitted when none, PrintableString
}

// LogValue hides every field: DG13 is personal data through and through.
func (d DG13) LogValue() slog.Value { return slog.StringValue("DG13{redacted}") }

// NoExpiry is field 12 of a card without expiry.
const NoExpiry = "Không thời hạn"

// dg13OID is 1.0.10646.1.0.8 (ISO/IEC 10646 UTF-8), written after the
// version as public readers expect.
var dg13OID = []byte{0x28, 0xD3, 0x16, 0x01, 0x00, 0x08}

// ASN.1 universal tags used in DG13.
const (
	tagInteger         Tag = 0x02
	tagOID             Tag = 0x06
	tagUTF8String      Tag = 0x0C
	tagPrintableString Tag = 0x13
	tagSequence        Tag = 0x30
	tagSet             Tag = 0x31
)

// FormatDG13Date writes a date as dd/mm/yyyy, leaving out unknown parts
// (yyyy, mm/yyyy).
func FormatDG13Date(d application.Date) string {
	switch {
	case d.Month == 0:
		return fmt.Sprintf("%04d", d.Year)
	case d.Day == 0:
		return fmt.Sprintf("%02d/%04d", d.Month, d.Year)
	default:
		return fmt.Sprintf("%02d/%02d/%04d", d.Day, d.Month, d.Year)
	}
}

// NationalityNames maps ICAO nationality codes to the name DG13 holds.
var NationalityNames = map[string]string{"VNM": "Việt Nam"}

// NewDG13 takes DG13's fields from a validated application.
func NewDG13(a *application.Application) (DG13, error) {
	nat, ok := NationalityNames[a.Nationality]
	if !ok {
		return DG13{}, fmt.Errorf("DG13: no name for nationality code %q", a.Nationality)
	}
	d := DG13{
		PersonalID:       a.PersonalID,
		FullName:         a.FullName,
		DateOfBirth:      FormatDG13Date(a.DateOfBirth),
		Sex:              "Nam",
		Nationality:      nat,
		Ethnicity:        a.Ethnicity,
		Religion:         a.Religion,
		PlaceOfOrigin:    a.PlaceOfOrigin,
		PlaceOfResidence: a.PlaceOfResidence,
		IdentifyingMarks: a.IdentifyingMarks,
		IssueDate:        FormatDG13Date(a.IssueDate),
		ExpiryDate:       NoExpiry,
		FatherName:       a.FatherName,
		MotherName:       a.MotherName,
		SpouseName:       a.SpouseName,
		OldIDNumber:      a.OldIDNumber,
	}
	if a.Sex == application.Female {
		d.Sex = "Nữ"
	}
	if a.ExpiryDate != nil {
		d.ExpiryDate = FormatDG13Date(*a.ExpiryDate)
	}
	return d, nil
}

// Encode builds DG13 exactly as chip-data.md §5 lays it out:
//
//	6D { 30 { 02 01 01, 06 <1.0.10646.1.0.8>, 31 { 30 { 02 01 n, value } … } } }
//
// Fields in ascending n; field 13 holds one SEQUENCE per parent; field 14 is
// present but empty (30 03 02 01 0E) when there is no spouse; field 15 is
// omitted when there is no old ID number.
func (d DG13) Encode() ([]byte, error) {
	type field struct {
		n     byte
		tag   Tag
		value string
	}
	fields := []field{
		{1, tagPrintableString, d.PersonalID},
		{2, tagUTF8String, d.FullName},
		{3, tagPrintableString, d.DateOfBirth},
		{4, tagUTF8String, d.Sex},
		{5, tagUTF8String, d.Nationality},
		{6, tagUTF8String, d.Ethnicity},
		{7, tagUTF8String, d.Religion},
		{8, tagUTF8String, d.PlaceOfOrigin},
		{9, tagUTF8String, d.PlaceOfResidence},
		{10, tagUTF8String, d.IdentifyingMarks},
		{11, tagPrintableString, d.IssueDate},
		{12, tagUTF8String, d.ExpiryDate},
	}
	var set [][]byte
	for _, f := range fields {
		v, err := dg13String(f.n, f.tag, f.value)
		if err != nil {
			return nil, err
		}
		set = append(set, TLV(tagSequence, TLV(tagInteger, []byte{f.n}), v))
	}
	father, err := dg13String(13, tagUTF8String, d.FatherName)
	if err != nil {
		return nil, err
	}
	mother, err := dg13String(13, tagUTF8String, d.MotherName)
	if err != nil {
		return nil, err
	}
	set = append(set, TLV(tagSequence, TLV(tagInteger, []byte{13}), TLV(tagSequence, father), TLV(tagSequence, mother)))
	if d.SpouseName == "" {
		set = append(set, TLV(tagSequence, TLV(tagInteger, []byte{14})))
	} else {
		v, err := dg13String(14, tagUTF8String, d.SpouseName)
		if err != nil {
			return nil, err
		}
		set = append(set, TLV(tagSequence, TLV(tagInteger, []byte{14}), v))
	}
	if d.OldIDNumber != "" {
		v, err := dg13String(15, tagPrintableString, d.OldIDNumber)
		if err != nil {
			return nil, err
		}
		set = append(set, TLV(tagSequence, TLV(tagInteger, []byte{15}), v))
	}
	return TLV(TagDG13, TLV(tagSequence,
		TLV(tagInteger, []byte{1}),
		TLV(tagOID, dg13OID),
		TLV(tagSet, set...))), nil
}

// dg13String encodes one string value, refusing what its type cannot hold.
func dg13String(n byte, t Tag, s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("DG13 field %d: empty", n)
	}
	switch t {
	case tagPrintableString:
		if !printable(s) {
			return nil, fmt.Errorf("DG13 field %d: not a PrintableString", n)
		}
	case tagUTF8String:
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("DG13 field %d: not UTF-8", n)
		}
		s = norm.NFC.String(s)
	}
	return TLV(t, []byte(s)), nil
}

// printable reports whether s fits ASN.1 PrintableString (X.680 §41.4).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case bytes.IndexByte([]byte(" '()+,-./:=?"), c) >= 0:
		default:
			return false
		}
	}
	return true
}

// DecodeDG13 reads DG13, keyed by field number as readers do (order is not
// significant to them).
func DecodeDG13(b []byte) (DG13, error) {
	var d DG13
	o, err := ParseOne(b, TagDG13)
	if err != nil {
		return d, fmt.Errorf("DG13: %w", err)
	}
	seq, err := ParseOne(o.Value, tagSequence)
	if err != nil {
		return d, fmt.Errorf("DG13: %w", err)
	}
	kids, err := seq.Children()
	if err != nil {
		return d, fmt.Errorf("DG13: %w", err)
	}
	set, ok := Find(kids, tagSet)
	if !ok {
		return d, fmt.Errorf("DG13: %w: no SET of fields", ErrTLV)
	}
	fields, err := set.Children()
	if err != nil {
		return d, fmt.Errorf("DG13: %w", err)
	}
	seen := map[int]bool{}
	for _, f := range fields {
		if f.Tag != tagSequence {
			return d, fmt.Errorf("DG13: %w: field is tag %X, not a SEQUENCE", ErrTLV, uint32(f.Tag))
		}
		parts, err := f.Children()
		if err != nil {
			return d, fmt.Errorf("DG13: %w", err)
		}
		if len(parts) == 0 || parts[0].Tag != tagInteger || len(parts[0].Value) != 1 {
			return d, fmt.Errorf("DG13: %w: field without a field number", ErrTLV)
		}
		n := int(parts[0].Value[0])
		if seen[n] {
			return d, fmt.Errorf("DG13: field %d appears twice", n)
		}
		seen[n] = true
		str := func(i int) (string, error) {
			if i >= len(parts) {
				return "", nil
			}
			p := parts[i]
			if p.Tag != tagUTF8String && p.Tag != tagPrintableString {
				return "", fmt.Errorf("DG13 field %d: %w: tag %X is not a string", n, ErrTLV, uint32(p.Tag))
			}
			if !utf8.Valid(p.Value) {
				return "", fmt.Errorf("DG13 field %d: not UTF-8", n)
			}
			return string(p.Value), nil
		}
		var s string
		if n != 13 {
			if s, err = str(1); err != nil {
				return d, err
			}
		}
		switch n {
		case 1:
			d.PersonalID = s
		case 2:
			d.FullName = s
		case 3:
			d.DateOfBirth = s
		case 4:
			d.Sex = s
		case 5:
			d.Nationality = s
		case 6:
			d.Ethnicity = s
		case 7:
			d.Religion = s
		case 8:
			d.PlaceOfOrigin = s
		case 9:
			d.PlaceOfResidence = s
		case 10:
			d.IdentifyingMarks = s
		case 11:
			d.IssueDate = s
		case 12:
			d.ExpiryDate = s
		case 13:
			var names []string
			for _, p := range parts[1:] {
				if p.Tag != tagSequence {
					return d, fmt.Errorf("DG13 field 13: %w: parent is not a SEQUENCE", ErrTLV)
				}
				inner, err := ParseAll(p.Value)
				if err != nil || len(inner) != 1 || inner[0].Tag != tagUTF8String {
					return d, fmt.Errorf("DG13 field 13: %w: parent name", ErrTLV)
				}
				names = append(names, string(inner[0].Value))
			}
			if len(names) != 2 {
				return d, fmt.Errorf("DG13 field 13: %d parents, 2 expected", len(names))
			}
			d.FatherName, d.MotherName = names[0], names[1]
		case 14:
			d.SpouseName = s
		case 15:
			d.OldIDNumber = s
		}
	}
	for n := 1; n <= 14; n++ {
		if !seen[n] {
			return d, fmt.Errorf("DG13: field %d missing", n)
		}
	}
	return d, nil
}
