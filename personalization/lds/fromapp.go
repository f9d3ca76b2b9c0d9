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

// NoExpiryMRZ is the MRZ expiry of a card that never expires.
const NoExpiryMRZ = "<<<<<<"

// NewMRZ builds the TD1 MRZ of a CCCD (chip-data.md §2): document code "ID",
// issuing state VNM, document number = the last 9 digits of the personal ID,
// optional data of line 1 = the full 12-digit personal ID (assumed from
// public samples), names transliterated per ICAO 9303-3 §6 and truncated per
// §4.6.2.
func NewMRZ(a *application.Application) (MRZ, error) {
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
	exp := NoExpiryMRZ
	if a.ExpiryDate != nil {
		exp = MRZDate(*a.ExpiryDate)
	}
	m := MRZ{
		DocumentCode:   "ID",
		IssuingState:   a.Nationality,
		DocumentNumber: a.DocumentNumber(),
		OptionalData1:  a.PersonalID,
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
