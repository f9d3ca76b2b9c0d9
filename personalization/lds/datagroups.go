package lds

import (
	"crypto"
	"crypto/x509"
	"fmt"
)

// Data group tags and file identifiers (ICAO 9303-10 §4.6, Table 39).
const (
	TagCOM  Tag = 0x60
	TagDG1  Tag = 0x61
	TagDG2  Tag = 0x75
	TagDG3  Tag = 0x63
	TagDG13 Tag = 0x6D
	TagDG14 Tag = 0x6E
	TagDG15 Tag = 0x6F
	TagSOD  Tag = 0x77
)

// FID is an elementary file identifier in the eMRTD application.
type FID uint16

const (
	FIDCOM  FID = 0x011E
	FIDDG1  FID = 0x0101
	FIDDG2  FID = 0x0102
	FIDDG3  FID = 0x0103
	FIDDG13 FID = 0x010D
	FIDDG14 FID = 0x010E
	FIDDG15 FID = 0x010F
	FIDSOD  FID = 0x011D
	// FIDCardAccess is EF.CardAccess, in the MF (ICAO 9303-10 §3.11.2).
	FIDCardAccess FID = 0x011C
)

func (f FID) String() string { return fmt.Sprintf("%04X", uint16(f)) }

// DataGroup is one data group of the LDS.
type DataGroup struct {
	Number int
	Tag    Tag
	FID    FID
	Name   string
}

// DataGroups known to the station, in the order of their numbers.
var DataGroups = []DataGroup{
	{1, TagDG1, FIDDG1, "DG1"},
	{2, TagDG2, FIDDG2, "DG2"},
	{3, TagDG3, FIDDG3, "DG3"},
	{13, TagDG13, FIDDG13, "DG13"},
	{14, TagDG14, FIDDG14, "DG14"},
	{15, TagDG15, FIDDG15, "DG15"},
}

// DataGroupByNumber returns the data group with that number.
func DataGroupByNumber(n int) (DataGroup, bool) {
	for _, g := range DataGroups {
		if g.Number == n {
			return g, true
		}
	}
	return DataGroup{}, false
}

// DataGroupByFID returns the data group in that file.
func DataGroupByFID(f FID) (DataGroup, bool) {
	for _, g := range DataGroups {
		if g.FID == f {
			return g, true
		}
	}
	return DataGroup{}, false
}

// DataGroupByTag returns the data group with that tag.
func DataGroupByTag(t Tag) (DataGroup, bool) {
	for _, g := range DataGroups {
		if g.Tag == t {
			return g, true
		}
	}
	return DataGroup{}, false
}

// LDS and Unicode versions written to EF.COM (ICAO 9303-10 §4.6.1:
// LDS 1.7, Unicode 4.0.0).
const (
	LDSVersion     = "0107"
	UnicodeVersion = "040000"
)

// EncodeCOM builds EF.COM (ICAO 9303-10 §4.6.1): 60 { 5F01 LDS version,
// 5F36 Unicode version, 5C tag list of the data groups present }.
func EncodeCOM(dgTags []Tag) []byte {
	list := make([]byte, 0, len(dgTags))
	for _, t := range dgTags {
		list = appendTag(list, t)
	}
	return TLV(TagCOM,
		TLV(0x5F01, []byte(LDSVersion)),
		TLV(0x5F36, []byte(UnicodeVersion)),
		TLV(0x5C, list))
}

// COM is a decoded EF.COM.
type COM struct {
	LDSVersion     string
	UnicodeVersion string
	Tags           []Tag
}

// DecodeCOM reads EF.COM.
func DecodeCOM(b []byte) (COM, error) {
	var c COM
	o, err := ParseOne(b, TagCOM)
	if err != nil {
		return c, fmt.Errorf("EF.COM: %w", err)
	}
	kids, err := o.Children()
	if err != nil {
		return c, fmt.Errorf("EF.COM: %w", err)
	}
	v, ok := Find(kids, 0x5F01)
	if !ok {
		return c, fmt.Errorf("EF.COM: %w: no LDS version (5F01)", ErrTLV)
	}
	c.LDSVersion = string(v.Value)
	if u, ok := Find(kids, 0x5F36); ok {
		c.UnicodeVersion = string(u.Value)
	}
	l, ok := Find(kids, 0x5C)
	if !ok {
		return c, fmt.Errorf("EF.COM: %w: no tag list (5C)", ErrTLV)
	}
	for i := 0; i < len(l.Value); i++ {
		t := Tag(l.Value[i])
		if l.Value[i]&0x1F == 0x1F && i+1 < len(l.Value) {
			i++
			t = t<<8 | Tag(l.Value[i])
		}
		c.Tags = append(c.Tags, t)
	}
	return c, nil
}

// EncodeDG1 builds DG1 (ICAO 9303-10 §4.7.1): 61 { 5F1F <MRZ> }.
func EncodeDG1(m MRZ) ([]byte, error) {
	s, err := m.String()
	if err != nil {
		return nil, err
	}
	return TLV(TagDG1, TLV(0x5F1F, []byte(s))), nil
}

// DecodeDG1 reads DG1 and verifies the MRZ check digits.
func DecodeDG1(b []byte) (MRZ, error) {
	o, err := ParseOne(b, TagDG1)
	if err != nil {
		return MRZ{}, fmt.Errorf("DG1: %w", err)
	}
	kids, err := o.Children()
	if err != nil {
		return MRZ{}, fmt.Errorf("DG1: %w", err)
	}
	z, ok := Find(kids, 0x5F1F)
	if !ok {
		return MRZ{}, fmt.Errorf("DG1: %w: no MRZ (5F1F)", ErrTLV)
	}
	m, err := ParseTD1(string(z.Value))
	if err != nil {
		return m, fmt.Errorf("DG1: %w", err)
	}
	return m, nil
}

// EncodeDG15 builds DG15 (ICAO 9303-11 §6.1): 6F { SubjectPublicKeyInfo } of
// the Active Authentication key.
func EncodeDG15(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("DG15: %w", err)
	}
	return TLV(TagDG15, spki), nil
}

// DecodeDG15 reads the Active Authentication public key.
func DecodeDG15(b []byte) (crypto.PublicKey, error) {
	o, err := ParseOne(b, TagDG15)
	if err != nil {
		return nil, fmt.Errorf("DG15: %w", err)
	}
	pub, err := x509.ParsePKIXPublicKey(o.Value)
	if err != nil {
		return nil, fmt.Errorf("DG15: SubjectPublicKeyInfo: %w", err)
	}
	return pub, nil
}

// WrapDG wraps biometric template content in its data group tag (DG2 75,
// DG3 63).
func WrapDG(t Tag, content []byte) []byte { return TLV(t, content) }

// UnwrapDG returns the content of a data group with tag t.
func UnwrapDG(b []byte, t Tag) ([]byte, error) {
	o, err := ParseOne(b, t)
	if err != nil {
		return nil, err
	}
	return o.Value, nil
}
