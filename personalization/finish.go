package personalization

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cccd-station/station/personalization/lds"
)

// FinishOptions are what the security objects of one chip are made of,
// besides its content.
type FinishOptions struct {
	// AA is the Active Authentication public key DG15 carries: the chip's
	// (made on the chip), or nil with AAKey.
	AA crypto.PublicKey
	// AAKey is a station-made RSA key (the JMRTD profile): DG15 carries its
	// public half, the image the key for injection.
	AAKey *rsa.PrivateKey
	// CardAccess is EF.CardAccess and DG14 the data group of the same
	// SecurityInfos plus the chip's public keys (SecurityObjects); nil for a
	// chip that offers BAC only.
	CardAccess, DG14 []byte
	// Signer is the Document Signer key and DSCert its certificate.
	Signer crypto.Signer
	DSCert *x509.Certificate
	// WriteDG3 puts the fingerprints on the chip (only behind Terminal
	// Authentication).
	WriteDG3 bool
	Now      func() time.Time // signing time; default time.Now
	Rand     io.Reader        // default crypto/rand
}

// ErrSign: the Document Signer did not sign EF.SOD (the token out, the HSM
// unreachable). Not the application's fault: issuance pauses.
var ErrSign = errors.New("the Document Signer did not sign")

// Finish makes the security objects of one chip from its content and its
// keys (ICAO 9303-10 §4.6, 9303-11 §9.2): DG14 and DG15, EF.COM listing every
// data group, and EF.SOD over the hashes of all of them, signed by the
// Document Signer. The image's files are in write order: EF.CardAccess (in
// the MF), the content's data groups, DG14, DG15, EF.COM, and EF.SOD last.
func Finish(c *lds.Content, o FinishOptions) (*lds.Image, error) {
	if o.Signer == nil || o.DSCert == nil {
		return nil, errors.New("finish: a Document Signer key and certificate are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	aa := o.AA
	if o.AAKey != nil {
		aa = &o.AAKey.PublicKey
	}
	if aa == nil {
		return nil, errors.New("finish: no Active Authentication key")
	}
	var dg15 []byte
	var err error
	if ec, ok := aa.(*ecdsa.PublicKey); ok {
		dg15, err = lds.EncodeDG15EC(ec) // brainpool too, which crypto/x509 cannot
	} else {
		dg15, err = lds.EncodeDG15(aa)
	}
	if err != nil {
		return nil, fmt.Errorf("finish: DG15: %w", err)
	}
	im := &lds.Image{AAKey: o.AAKey, MRZ: c.MRZ, CAN: c.CAN}
	if o.CardAccess != nil {
		im.Files = append(im.Files, lds.File{FID: lds.FIDCardAccess, Name: "EF.CardAccess", Data: o.CardAccess})
	}
	groups := append([]lds.File(nil), c.Files...)
	if o.WriteDG3 {
		groups = append(groups, lds.File{FID: lds.FIDDG3, Name: "DG3", Data: c.DG3})
	} else {
		im.DG3 = c.DG3
	}
	if o.DG14 != nil {
		groups = append(groups, lds.File{FID: lds.FIDDG14, Name: "DG14", Data: o.DG14})
	}
	groups = append(groups, lds.File{FID: lds.FIDDG15, Name: "DG15", Data: dg15})
	var tags []lds.Tag
	hashes := map[int][]byte{}
	for _, f := range groups {
		g, ok := lds.DataGroupByFID(f.FID)
		if !ok {
			return nil, fmt.Errorf("finish: %s is not a data group", f.Name)
		}
		tags = append(tags, g.Tag)
		hashes[g.Number] = lds.HashDG(f.Data)
	}
	sod, err := lds.EncodeSOD(hashes, o.Signer, o.DSCert, lds.SignOptions{SigningTime: o.Now(), Rand: o.Rand})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSign, err)
	}
	im.Files = append(im.Files, groups...)
	im.Files = append(im.Files,
		lds.File{FID: lds.FIDCOM, Name: "EF.COM", Data: lds.EncodeCOM(tags)},
		lds.File{FID: lds.FIDSOD, Name: "EF.SOD", Data: sod})
	return im, nil
}
