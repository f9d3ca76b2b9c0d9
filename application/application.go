// Package application owns the approved CCCD application as the central card
// management system sends it: strict JSON decoding, Unicode NFC
// normalization, and every validation rule a chip depends on (personal ID
// structure, dates and the renewal-age policy, names, sizes, the face picture
// and fingerprint records). An application that passes Parse is safe to turn
// into chip data; one that fails is refused with every problem named by its
// JSON field and rule, and nothing is produced from it.
package application

import (
	"log/slog"
)

// Sex as written on the card and in the MRZ (ICAO 9303-4 §4.2.2.2).
type Sex byte

const (
	Male   Sex = 'M'
	Female Sex = 'F'
)

// Fingerprint is one finger's record as central sent it.
type Fingerprint struct {
	Finger string // e.g. "right_index"
	Format string // "iso19794-2" (minutiae) or "iso19794-4" (finger image)
	Data   []byte // the record
}

// Application is a validated, NFC-normalized application.
type Application struct {
	ID               string // application_id
	BatchID          string
	PersonalID       string // 12 digits
	FullName         string
	FamilyName       string // from family_name, or the first word of full_name
	GivenNames       string // from given_names, or the rest of full_name
	DateOfBirth      Date   // day or month may be unknown
	Sex              Sex
	Nationality      string // ICAO code, "VNM"
	Ethnicity        string
	Religion         string
	PlaceOfOrigin    string
	PlaceOfResidence string
	IdentifyingMarks string
	IssueDate        Date
	ExpiryDate       *Date // nil: no expiry
	FatherName       string
	MotherName       string
	SpouseName       string // "" when none
	OldIDNumber      string // "" when none
	FaceImage        []byte // JPEG as sent
	Fingerprints     []Fingerprint
}

// DocumentNumber is the card's document number: the last 9 digits of the
// personal ID (chip-data.md §2).
func (a *Application) DocumentNumber() string { return a.PersonalID[3:] }

// CAN is the card access number for PACE: the last 6 digits of the personal
// ID (chip-data.md §1).
func (a *Application) CAN() string { return a.PersonalID[6:] }

// LogValue shows only what identifies the job, never personal data.
func (a *Application) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("application_id", a.ID),
		slog.String("batch_id", a.BatchID),
	)
}
