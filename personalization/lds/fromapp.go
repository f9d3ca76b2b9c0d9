package lds

import (
	"fmt"

	"github.com/cccd-station/station/application"
)

// MRZDate writes a date as YYMMDD for the MRZ; unknown month or day are
// fillers, counted as 0 by the check digit (ICAO 9303-3 §4.6.1,
// chip-data.md §2).
func MRZDate(d application.Date) string {
	s := fmt.Sprintf("%02d", d.Year%100)
	if d.Month == 0 {
		return s + "<<<<"
	}
	s += fmt.Sprintf("%02d", d.Month)
	if d.Day == 0 {
		return s + "<<"
	}
	return s + fmt.Sprintf("%02d", d.Day)
}

// IssuingState is the ICAO code of the state that issues CCCDs: the MRZ's
// issuing state, and the country every Document Signer certificate must
// name (ICAO 9303-12 §7).
const IssuingState = "VNM"

// MRZConventions are the choices the CCCD's TD1 MRZ makes where ICAO 9303
// leaves them to the issuing state (chip-data.md §2). This is the one place
// they are decided; the zero value is what real cards carry.
type MRZConventions struct {
	// OptionalData1 is what line 1's optional data (positions 16–30)
	// holds: MRZIDWithCheck (default; every public sample of a real card)
	// the 12-digit personal ID in 16–27, "<<" in 28–29 and the ID's check
	// digit (ICAO 9303-3 §4.9) in 30; MRZIDOnly the 12 digits and fillers.
	OptionalData1 string `yaml:"optional_data" json:"optional_data"`
	// NoExpiry is the expiry field of a card issued after the last renewal
	// age: MRZNoExpiryDate "991231" (default; real cards) or
	// MRZNoExpiryFillers "<<<<<<".
	NoExpiry string `yaml:"no_expiry" json:"no_expiry"`
}

// Values of MRZConventions.
const (
	MRZIDWithCheck     = "id-check"
	MRZIDOnly          = "id"
	MRZNoExpiryDate    = "991231"
	MRZNoExpiryFillers = "<<<<<<"
)

// withDefaults fills the fields left empty with what real cards do.
func (c MRZConventions) withDefaults() MRZConventions {
	if c.OptionalData1 == "" {
		c.OptionalData1 = MRZIDWithCheck
	}
	if c.NoExpiry == "" {
		c.NoExpiry = MRZNoExpiryDate
	}
	return c
}

// Check names the field of c that has no meaning.
func (c MRZConventions) Check() error {
	c = c.withDefaults()
	if c.OptionalData1 != MRZIDWithCheck && c.OptionalData1 != MRZIDOnly {
		return fmt.Errorf("%w: optional_data must be %s or %s", ErrMRZ, MRZIDWithCheck, MRZIDOnly)
	}
	if c.NoExpiry != MRZNoExpiryDate && c.NoExpiry != MRZNoExpiryFillers {
		return fmt.Errorf("%w: no_expiry must be %s or %s", ErrMRZ, MRZNoExpiryDate, MRZNoExpiryFillers)
	}
	return nil
}

// NewMRZ builds the TD1 MRZ of a CCCD (chip-data.md §2): document code "ID",
// issuing state VNM, document number = the last 9 digits of the personal ID,
// optional data of line 1 = the full 12-digit personal ID and, by the
// conventions, its check digit; the expiry, or the conventions' value for a
// card without one; the primary identifier is the family name whatever the
// order of full_name; names transliterated per ICAO 9303-3 §6 and truncated
// per §4.6.2.
func NewMRZ(a *application.Application, conv MRZConventions) (MRZ, error) {
	conv = conv.withDefaults()
	if err := conv.Check(); err != nil {
		return MRZ{}, err
	}
	family, ok := application.TransliterateICAO(a.FamilyName)
	if !ok {
		return MRZ{}, fmt.Errorf("%w: family name has no ICAO transliteration", ErrMRZ)
	}
	given, ok := application.TransliterateICAO(a.GivenNames)
	if !ok {
		return MRZ{}, fmt.Errorf("%w: given names have no ICAO transliteration", ErrMRZ)
	}
	name, _ := NameField(family, given)
	sex := byte(a.Sex)
	if sex != 'M' && sex != 'F' {
		sex = '<'
	}
	exp := conv.NoExpiry
	if a.ExpiryDate != nil {
		exp = MRZDate(*a.ExpiryDate)
	}
	opt1 := a.PersonalID
	if conv.OptionalData1 == MRZIDWithCheck {
		if !validMRZChars(opt1) || len(opt1) != 12 {
			return MRZ{}, fmt.Errorf("%w: the personal ID must be 12 digits", ErrMRZ)
		}
		opt1 += "<<" + string(mustCheck(opt1))
	}
	m := MRZ{
		DocumentCode:   "ID",
		IssuingState:   a.Nationality,
		DocumentNumber: a.DocumentNumber(),
		OptionalData1:  opt1,
		DateOfBirth:    MRZDate(a.DateOfBirth),
		Sex:            sex,
		DateOfExpiry:   exp,
		Nationality:    a.Nationality,
		Name:           name,
	}
	if err := m.validate(); err != nil {
		return MRZ{}, err
	}
	return m, nil
}
