// Package personalization turns a validated application into a chip: it
// prepares the signed chip image (LDS, keys, EF.SOD), drives a chip profile's
// commands through a pcsc.Transport, and verifies the card as a border
// terminal would (BAC, secure messaging, passive and active authentication).
package personalization

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/biometrics"
	"github.com/cccd-station/station/personalization/lds"
)

// ContentOptions configure PrepareContent.
type ContentOptions struct {
	// FaceBudget is the largest face JPEG on the chip, in bytes (default
	// 20,000).
	FaceBudget int
	// MRZ: the CCCD conventions of the MRZ (zero value: what real cards
	// carry).
	MRZ lds.MRZConventions
}

// RejectError says that the application itself cannot become a chip (its
// picture does not fit the budget, a name cannot be written in the MRZ): it
// is rejected with this reason, unlike a station failure (a signer token
// out), which is retried.
type RejectError struct {
	Field string // the JSON field at fault
	Rule  string
	Err   error
}

func (e *RejectError) Error() string { return e.Field + ": " + e.Rule }
func (e *RejectError) Unwrap() error { return e.Err }

// PrepareContent makes what the application puts on any chip, with no card
// and no key involved (chip-data.md §1, §2, §5): DG1, DG2 and DG13 in write
// order, DG3 aside, the MRZ and the CAN. The station does it ahead of the
// readers; the security objects follow on the card's path (Finish).
func PrepareContent(a *application.Application, o ContentOptions) (*lds.Content, error) {
	if o.FaceBudget == 0 {
		o.FaceBudget = biometrics.DefaultFaceMaxBytes
	}
	// DG1: the MRZ (chip-data.md §2).
	mrz, err := lds.NewMRZ(a, o.MRZ)
	if err != nil {
		return nil, &RejectError{Field: "full_name", Rule: "cannot be written in the MRZ", Err: err}
	}
	dg1, err := lds.EncodeDG1(mrz)
	if err != nil {
		return nil, &RejectError{Field: "full_name", Rule: "cannot be written in the MRZ", Err: err}
	}

	// DG2: the face in an ISO/IEC 19794-5 record inside CBEFF.
	face, err := biometrics.PrepareFace(a.FaceImage, biometrics.FaceOptions{MaxBytes: o.FaceBudget})
	if err != nil {
		var fe *biometrics.FaceError
		rule := "cannot be prepared"
		if errors.As(err, &fe) {
			rule = fe.Error()
		}
		return nil, &RejectError{Field: "face_image", Rule: rule, Err: err}
	}
	rec, err := biometrics.EncodeFaceRecord(face, biometrics.GenderFromSex(string(a.Sex)))
	if err != nil {
		return nil, fmt.Errorf("prepare: face record: %w", err)
	}
	dg2content, err := biometrics.EncodeDG2(rec)
	if err != nil {
		return nil, fmt.Errorf("prepare: DG2: %w", err)
	}
	dg2 := lds.WrapDG(lds.TagDG2, dg2content)

	// DG3: the fingerprints in CBEFF.
	var fingers []*biometrics.FingerRecord
	for i, f := range a.Fingerprints {
		fr, err := biometrics.ParseFinger(f.Format, f.Data)
		if err != nil {
			return nil, &RejectError{Field: fmt.Sprintf("fingerprints[%d].data", i), Rule: err.Error(), Err: err}
		}
		fingers = append(fingers, fr)
	}
	dg3content, err := biometrics.EncodeDG3(fingers...)
	if err != nil {
		return nil, &RejectError{Field: "fingerprints", Rule: err.Error(), Err: err}
	}

	// DG13: Vietnam-specific data (chip-data.md §5).
	d13, err := lds.NewDG13(a)
	if err != nil {
		return nil, &RejectError{Field: "nationality", Rule: "no DG13 name for it", Err: err}
	}
	dg13, err := d13.Encode()
	if err != nil {
		return nil, &RejectError{Field: "(document)", Rule: err.Error(), Err: err}
	}
	return &lds.Content{
		Files: []lds.File{
			{FID: lds.FIDDG1, Name: "DG1", Data: dg1},
			{FID: lds.FIDDG2, Name: "DG2", Data: dg2},
			{FID: lds.FIDDG13, Name: "DG13", Data: dg13},
		},
		DG3: lds.WrapDG(lds.TagDG3, dg3content),
		MRZ: mrz,
		CAN: a.CAN(),
	}, nil
}

// PrepareOptions configure Prepare.
type PrepareOptions struct {
	ContentOptions
	// Signer is the Document Signer key and DSCert its certificate.
	Signer crypto.Signer
	DSCert *x509.Certificate
	// AAKeyBits is the Active Authentication RSA key size: 2048 by default,
	// 1024 for chip models that can take no more.
	AAKeyBits int
	// WriteDG3 puts the fingerprints on the chip. Only with Terminal
	// Authentication (EAC) protecting DG3 — not with the JMRTD profile.
	WriteDG3 bool
	Now      func() time.Time // signing time; default time.Now
	Rand     io.Reader        // default crypto/rand
}

// Prepare makes a whole chip image of the JMRTD kind with no card involved
// (`stationctl encode`, tests): the content, a fresh RSA Active
// Authentication key made by the station, and the security objects signed
// (Finish). A chip that makes its own keys can only be finished on the
// card's path.
func Prepare(a *application.Application, o PrepareOptions) (*lds.Image, error) {
	if o.Signer == nil || o.DSCert == nil {
		return nil, errors.New("prepare: a Document Signer key and certificate are required")
	}
	if o.AAKeyBits == 0 {
		o.AAKeyBits = 2048
	}
	if o.AAKeyBits != 1024 && o.AAKeyBits != 2048 {
		return nil, fmt.Errorf("prepare: AA key size %d: 1024 or 2048", o.AAKeyBits)
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	c, err := PrepareContent(a, o.ContentOptions)
	if err != nil {
		return nil, err
	}
	aaKey, err := rsa.GenerateKey(o.Rand, o.AAKeyBits)
	if err != nil {
		return nil, fmt.Errorf("prepare: AA key: %w", err)
	}
	im, err := Finish(c, FinishOptions{AAKey: aaKey, Signer: o.Signer, DSCert: o.DSCert, WriteDG3: o.WriteDG3, Now: o.Now, Rand: o.Rand})
	if err != nil {
		return nil, err
	}
	return im, nil
}
