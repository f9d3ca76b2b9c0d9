package pki

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/cccd-station/station/personalization/lds"
)

// CheckSigner is what the station asks before it signs a chip or touches a
// card (never burn a card for what could be known first): may this Document
// Signer certificate and key sign documents at time at? The certificate must
// pass the rule every reader applies (lds.VerifyDocumentSigner: validity,
// keyUsage, country, chain to a configured CSCA); the key must be the
// certificate's; and at must fall within the certificate's private key
// usage period when it has one (RFC 5280 §4.2.1.4 privateKeyUsagePeriod,
// which the DS certificate profile of ICAO 9303-12 §7.1 provides for). Errors are
// *lds.DSError.
func CheckSigner(cert *x509.Certificate, key crypto.PublicKey, cscas []*x509.Certificate, at time.Time) error {
	if err := lds.VerifyDocumentSigner(cert, cscas, at, lds.IssuingState); err != nil {
		return err
	}
	if k, ok := key.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(cert.PublicKey) {
		return &lds.DSError{Problem: lds.DSKeyMismatch, Detail: "the signing key is not the certificate's"}
	}
	from, until, err := UsagePeriod(cert)
	if err != nil {
		return &lds.DSError{Problem: lds.DSUntrusted, Detail: "privateKeyUsagePeriod cannot be read", Err: err}
	}
	if !from.IsZero() && at.Before(from) || !until.IsZero() && at.After(until) {
		return &lds.DSError{Problem: lds.DSUsageOver, Detail: fmt.Sprintf("outside the private key usage period %s – %s",
			dateOr(from, "…"), dateOr(until, "…"))}
	}
	return nil
}

func dateOr(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format(time.DateOnly)
}

// oidPrivateKeyUsagePeriod is id-ce-privateKeyUsagePeriod (RFC 5280 §4.2.1.4).
var oidPrivateKeyUsagePeriod = asn1.ObjectIdentifier{2, 5, 29, 16}

// UsagePeriod reads the certificate's private key usage period (zero times
// where it has none):
//
//	PrivateKeyUsagePeriod ::= SEQUENCE {
//	     notBefore       [0]     GeneralizedTime OPTIONAL,
//	     notAfter        [1]     GeneralizedTime OPTIONAL }
func UsagePeriod(cert *x509.Certificate) (from, until time.Time, err error) {
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidPrivateKeyUsagePeriod) {
			continue
		}
		in := cryptobyte.String(ext.Value)
		var seq cryptobyte.String
		if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
			return from, until, fmt.Errorf("pki: privateKeyUsagePeriod: not a SEQUENCE")
		}
		for _, f := range []struct {
			tag cbasn1.Tag
			t   *time.Time
		}{{cbasn1.Tag(0).ContextSpecific(), &from}, {cbasn1.Tag(1).ContextSpecific(), &until}} {
			var v cryptobyte.String
			var present bool
			if !seq.ReadOptionalASN1(&v, &present, f.tag) {
				return from, until, fmt.Errorf("pki: privateKeyUsagePeriod: malformed")
			}
			if !present {
				continue
			}
			t, err := time.Parse("20060102150405Z0700", string(v))
			if err != nil {
				return from, until, fmt.Errorf("pki: privateKeyUsagePeriod: %w", err)
			}
			*f.t = t
		}
		if !seq.Empty() {
			return from, until, fmt.Errorf("pki: privateKeyUsagePeriod: trailing data")
		}
		return from, until, nil
	}
	return from, until, nil
}

// noExpiry is when a document without expiry is taken to end, for the
// comparison below: the date its MRZ carries (991231, chip-data.md §2).
var noExpiry = time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC)

// Outlives reports whether a document expiring at expiry (nil: never)
// outlives the DS certificate that signs it. ICAO 9303-12 §5 (key usage
// and validity periods): a DS certificate's validity is its key's usage
// period plus the validity of the documents it signs, so that every
// document can be verified until it expires.
func Outlives(cert *x509.Certificate, expiry *time.Time) bool {
	end := noExpiry
	if expiry != nil {
		end = *expiry
	}
	return end.After(cert.NotAfter)
}
