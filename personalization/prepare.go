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

// PrepareOptions configure Prepare.
type PrepareOptions struct {
	// Signer is the Document Signer key and DSCert its certificate.
	Signer crypto.Signer
	DSCert *x509.Certificate
	// FaceBudget is the largest face JPEG on the chip, in bytes (default
	// 20,000).
	FaceBudget int
	// AAKeyBits is the Active Authentication RSA key size: 2048 by default,
	// 1024 for chip models that can take no more.
	AAKeyBits int
	// WriteDG3 puts the fingerprints on the chip. Only with Terminal
	// Authentication (EAC) protecting DG3 — not with the JMRTD profile.
	WriteDG3 bool
	// MRZ: the CCCD conventions of the MRZ (zero value: what real cards
	// carry).
	MRZ  lds.MRZConventions
	Now  func() time.Time // signing time; default time.Now
	Rand io.Reader        // default crypto/rand
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

// Prepare produces every file of the chip, signed, with no card involved
// (chip-data.md §1, §6): EF.COM, DG1, DG2, DG13, DG15 and EF.SOD in write
// order, DG3 prepared aside, and a fresh Active Authentication key kept only
// for injection.
func Prepare(a *application.Application, o PrepareOptions) (*lds.Image, error) {
	if o.Signer == nil || o.DSCert == nil {
		return nil, errors.New("prepare: a Document Signer key and certificate are required")
	}
	if o.FaceBudget == 0 {
		o.FaceBudget = biometrics.DefaultFaceMaxBytes
	}
	if o.AAKeyBits == 0 {
		o.AAKeyBits = 2048
	}
	if o.AAKeyBits != 1024 && o.AAKeyBits != 2048 {
		return nil, fmt.Errorf("prepare: AA key size %d: 1024 or 2048", o.AAKeyBits)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
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
	dg3 := lds.WrapDG(lds.TagDG3, dg3content)

	// DG13: Vietnam-specific data (chip-data.md §5).
	d13, err := lds.NewDG13(a)
	if err != nil {
		return nil, &RejectError{Field: "nationality", Rule: "no DG13 name for it", Err: err}
	}
	dg13, err := d13.Encode()
	if err != nil {
		return nil, &RejectError{Field: "(document)", Rule: err.Error(), Err: err}
	}

	// DG15: a fresh Active Authentication key (ICAO 9303-11 §6.1).
	aaKey, err := rsa.GenerateKey(o.Rand, o.AAKeyBits)
	if err != nil {
		return nil, fmt.Errorf("prepare: AA key: %w", err)
	}
	dg15, err := lds.EncodeDG15(&aaKey.PublicKey)
	if err != nil {
		return nil, err
	}

	groups := []struct {
		tag  lds.Tag
		fid  lds.FID
		name string
		n    int
		data []byte
	}{
		{lds.TagDG1, lds.FIDDG1, "DG1", 1, dg1},
		{lds.TagDG2, lds.FIDDG2, "DG2", 2, dg2},
		{lds.TagDG3, lds.FIDDG3, "DG3", 3, dg3},
		{lds.TagDG13, lds.FIDDG13, "DG13", 13, dg13},
		{lds.TagDG15, lds.FIDDG15, "DG15", 15, dg15},
	}
	var tags []lds.Tag
	hashes := map[int][]byte{}
	var files []lds.File
	for _, g := range groups {
		if g.n == 3 && !o.WriteDG3 {
			continue
		}
		tags = append(tags, g.tag)
		hashes[g.n] = lds.HashDG(g.data)
		files = append(files, lds.File{FID: g.fid, Name: g.name, Data: g.data})
	}
	com := lds.EncodeCOM(tags)
	sod, err := lds.EncodeSOD(hashes, o.Signer, o.DSCert, lds.SignOptions{SigningTime: o.Now(), Rand: o.Rand})
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	im := &lds.Image{
		Files: append(append([]lds.File{{FID: lds.FIDCOM, Name: "EF.COM", Data: com}}, files...),
			lds.File{FID: lds.FIDSOD, Name: "EF.SOD", Data: sod}),
		AAKey: aaKey,
		MRZ:   mrz,
		CAN:   a.CAN(),
	}
	if !o.WriteDG3 {
		im.DG3 = dg3
	}
	return im, nil
}
