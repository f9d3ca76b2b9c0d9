package lds

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"sort"
	"time"

	"github.com/smallstep/pkcs7"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers of the Document Security Object (ICAO 9303-10 §4.6.2,
// RFC 5652, RFC 5754, RFC 4055).
var (
	oidSignedData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	OIDLDSSecurityObject   = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 1}
	oidSHA256              = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384              = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512              = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidAttrContentType     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidECDSAWithSHA256     = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384     = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512     = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidRSASSAPSS           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1                = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidSHA256WithRSA       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidRSAEncryption       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	errSOD                 = errors.New("lds: EF.SOD")
	ErrSODSignature        = errors.New("lds: EF.SOD signature does not verify")
	ErrSODHashMismatch     = errors.New("lds: data group hash does not match EF.SOD")
	ErrSODSignerNotTrusted = errors.New("lds: Document Signer certificate not trusted")
)

// LDSHash is the hash of the data groups in the LDSSecurityObject
// (chip-data.md §6: SHA-256).
const LDSHash = crypto.SHA256

// HashDG returns the LDS hash of a data group's bytes.
func HashDG(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// SignOptions tune EncodeSOD.
type SignOptions struct {
	SigningTime time.Time // zero: now
	Rand        io.Reader // zero: crypto/rand
}

// signatureScheme is how a DS key signs the signed attributes.
type signatureScheme struct {
	digest crypto.Hash
	algID  func(b *cryptobyte.Builder)
	opts   crypto.SignerOpts
}

func schemeFor(pub crypto.PublicKey) (signatureScheme, error) {
	oidOnly := func(oid asn1.ObjectIdentifier) func(b *cryptobyte.Builder) {
		return func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
		}
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		// ICAO 9303-12 §7.1: ECDSA; the hash sized to the curve.
		switch k.Curve {
		case elliptic.P256():
			return signatureScheme{crypto.SHA256, oidOnly(oidECDSAWithSHA256), crypto.SHA256}, nil
		case elliptic.P384():
			return signatureScheme{crypto.SHA384, oidOnly(oidECDSAWithSHA384), crypto.SHA384}, nil
		case elliptic.P521():
			return signatureScheme{crypto.SHA512, oidOnly(oidECDSAWithSHA512), crypto.SHA512}, nil
		}
		return signatureScheme{}, fmt.Errorf("%w: unsupported curve %s", errSOD, k.Curve.Params().Name)
	case *rsa.PublicKey:
		// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt (RFC 4055 §3.1).
		return signatureScheme{crypto.SHA256, pssAlgID, &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}}, nil
	}
	return signatureScheme{}, fmt.Errorf("%w: Document Signer key type %T is not allowed (ECDSA or RSA)", errSOD, pub)
}

func pssAlgID(b *cryptobyte.Builder) {
	sha256ID := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSHA256) })
	}
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidRSASSAPSS)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), sha256ID)
			b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidMGF1)
					sha256ID(b)
				})
			})
			b.AddASN1(cbasn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddASN1Int64(32) })
		})
	})
}

func hashOID(h crypto.Hash) asn1.ObjectIdentifier {
	switch h {
	case crypto.SHA384:
		return oidSHA384
	case crypto.SHA512:
		return oidSHA512
	}
	return oidSHA256
}

// EncodeLDSSecurityObject builds the DER LDSSecurityObject (ICAO 9303-10
// §4.6.2.3): version 0, hashAlgorithm SHA-256 (parameters absent, RFC 5754
// §2), one DataGroupHash per data group, in ascending number.
func EncodeLDSSecurityObject(hashes map[int][]byte) ([]byte, error) {
	nums := make([]int, 0, len(hashes))
	for n := range hashes {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSHA256) })
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, n := range nums {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1Int64(int64(n))
					b.AddASN1OctetString(hashes[n])
				})
			}
		})
	})
	return b.Bytes()
}

// EncodeSOD builds EF.SOD (ICAO 9303-10 §4.6.2): 77 { ContentInfo {
// signedData, SignedData v3 { SHA-x, eContent LDSSecurityObject,
// certificates { DS }, SignerInfo v1 { issuerAndSerialNumber, signed
// attributes contentType, signingTime, messageDigest; signature } } } }.
// hashes maps data group numbers to their SHA-256 hashes.
func EncodeSOD(hashes map[int][]byte, signer crypto.Signer, ds *x509.Certificate, opts SignOptions) ([]byte, error) {
	if !publicKeysEqual(signer.Public(), ds.PublicKey) {
		return nil, fmt.Errorf("%w: the signing key does not match the Document Signer certificate", errSOD)
	}
	scheme, err := schemeFor(signer.Public())
	if err != nil {
		return nil, err
	}
	lso, err := EncodeLDSSecurityObject(hashes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSOD, err)
	}
	when := opts.SigningTime
	if when.IsZero() {
		when = time.Now()
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	h := scheme.digest.New()
	h.Write(lso)
	attrs, err := signedAttributes(h.Sum(nil), when)
	if err != nil {
		return nil, err
	}
	// RFC 5652 §5.4: the signature covers the DER of the SET OF attributes
	// with its universal SET tag.
	h = scheme.digest.New()
	h.Write(TLV(tagSet, attrs))
	sig, err := signer.Sign(rnd, h.Sum(nil), scheme.opts)
	if err != nil {
		return nil, fmt.Errorf("%w: signing: %w", errSOD, err)
	}

	digestAlgID := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(hashOID(scheme.digest)) })
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(3) // RFC 5652 §5.1: v3 when eContentType is not id-data
				b.AddASN1(cbasn1.SET, digestAlgID)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // EncapsulatedContentInfo
					b.AddASN1ObjectIdentifier(OIDLDSSecurityObject)
					b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
						b.AddASN1OctetString(lso)
					})
				})
				b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					b.AddBytes(ds.Raw)
				})
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignerInfo
						b.AddASN1Int64(1) // sid is issuerAndSerialNumber
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddBytes(ds.RawIssuer)
							b.AddASN1BigInt(ds.SerialNumber)
						})
						digestAlgID(b)
						b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
							b.AddBytes(attrs)
						})
						scheme.algID(b)
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	ci, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSOD, err)
	}
	return TLV(TagSOD, ci), nil
}

// signedAttributes returns the DER contents of the SET OF signed attributes:
// contentType, signingTime and messageDigest, in DER order (X.690 §11.6).
func signedAttributes(digest []byte, when time.Time) ([]byte, error) {
	attr := func(oid asn1.ObjectIdentifier, value func(b *cryptobyte.Builder)) ([]byte, error) {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1(cbasn1.SET, value)
		})
		return b.Bytes()
	}
	ct, err := attr(oidAttrContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(OIDLDSSecurityObject) })
	if err != nil {
		return nil, err
	}
	md, err := attr(oidAttrMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest) })
	if err != nil {
		return nil, err
	}
	st, err := attr(oidAttrSigningTime, func(b *cryptobyte.Builder) {
		// RFC 5652 §11.3: UTCTime for 1950–2049.
		u := when.UTC()
		if u.Year() >= 1950 && u.Year() < 2050 {
			b.AddASN1UTCTime(u)
		} else {
			b.AddASN1GeneralizedTime(u)
		}
	})
	if err != nil {
		return nil, err
	}
	list := [][]byte{ct, md, st}
	slices.SortFunc(list, bytes.Compare)
	return bytes.Join(list, nil), nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// SOD is a decoded Document Security Object.
type SOD struct {
	LDSSecurityObjectVersion int
	HashAlgorithm            crypto.Hash
	Hashes                   map[int][]byte
	Certificates             []*x509.Certificate
	Signer                   *x509.Certificate // the certificate named by the SignerInfo
	DigestAlgorithm          crypto.Hash
	ContentType              asn1.ObjectIdentifier // signed attribute
	MessageDigest            []byte                // signed attribute
	SigningTime              time.Time             // signed attribute, zero if absent
	SignatureAlgorithm       x509.SignatureAlgorithm
	Signature                []byte

	contentInfo  []byte // for the library cross-check
	eContentType asn1.ObjectIdentifier
	eContent     []byte // DER LDSSecurityObject
	signedAttrs  []byte // the SET OF attributes, re-tagged as SET for verification
}

// DecodeSOD parses EF.SOD strictly: one signer, DER lengths, the
// LDSSecurityObject content type.
func DecodeSOD(b []byte) (*SOD, error) {
	o, err := ParseOne(b, TagSOD)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errSOD, err)
	}
	s := &SOD{contentInfo: o.Value, Hashes: map[int][]byte{}}
	bad := func(what string) error { return fmt.Errorf("%w: malformed %s", errSOD, what) }

	in := cryptobyte.String(o.Value)
	var ci, sd cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() ||
		!ci.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidSignedData) ||
		!ci.ReadASN1(&sd, cbasn1.Tag(0).ContextSpecific().Constructed()) || !sd.ReadASN1(&sd, cbasn1.SEQUENCE) {
		return nil, bad("ContentInfo (signedData expected)")
	}
	var version int64
	var digestAlgs, encap, certs, signerInfos cryptobyte.String
	if !sd.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) || !sd.ReadASN1(&digestAlgs, cbasn1.SET) ||
		!sd.ReadASN1(&encap, cbasn1.SEQUENCE) {
		return nil, bad("SignedData")
	}
	if version != 3 {
		return nil, fmt.Errorf("%w: SignedData version %d, 3 expected", errSOD, version)
	}
	var hasCerts bool
	if !sd.ReadOptionalASN1(&certs, &hasCerts, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return nil, bad("certificates")
	}
	var crls cryptobyte.String
	var hasCRLs bool
	if !sd.ReadOptionalASN1(&crls, &hasCRLs, cbasn1.Tag(1).ContextSpecific().Constructed()) ||
		!sd.ReadASN1(&signerInfos, cbasn1.SET) || !sd.Empty() {
		return nil, bad("SignedData")
	}
	var econtent, octets cryptobyte.String
	if !encap.ReadASN1ObjectIdentifier(&s.eContentType) ||
		!encap.ReadASN1(&econtent, cbasn1.Tag(0).ContextSpecific().Constructed()) ||
		!econtent.ReadASN1(&octets, cbasn1.OCTET_STRING) || !econtent.Empty() || !encap.Empty() {
		return nil, bad("encapsulated content")
	}
	if !s.eContentType.Equal(OIDLDSSecurityObject) {
		return nil, fmt.Errorf("%w: content type %v, LDSSecurityObject expected", errSOD, s.eContentType)
	}
	s.eContent = octets
	if err := s.decodeLDSSecurityObject(octets); err != nil {
		return nil, err
	}
	for !certs.Empty() {
		var c cryptobyte.String
		if !certs.ReadASN1Element(&c, cbasn1.SEQUENCE) {
			return nil, bad("certificate")
		}
		cert, err := x509.ParseCertificate(c)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate: %w", errSOD, err)
		}
		s.Certificates = append(s.Certificates, cert)
	}
	var si cryptobyte.String
	if !signerInfos.ReadASN1(&si, cbasn1.SEQUENCE) {
		return nil, bad("SignerInfo")
	}
	if !signerInfos.Empty() {
		return nil, fmt.Errorf("%w: more than one SignerInfo", errSOD)
	}
	if err := s.decodeSignerInfo(si); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *SOD) decodeLDSSecurityObject(der []byte) error {
	bad := fmt.Errorf("%w: malformed LDSSecurityObject", errSOD)
	in := cryptobyte.String(der)
	var seq, alg, list cryptobyte.String
	var version int64
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) ||
		!seq.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) ||
		!seq.ReadASN1(&list, cbasn1.SEQUENCE) {
		return bad
	}
	s.LDSSecurityObjectVersion = int(version)
	h, ok := hashFromOID(oid)
	if !ok {
		return fmt.Errorf("%w: LDS hash algorithm %v not supported", errSOD, oid)
	}
	s.HashAlgorithm = h
	for !list.Empty() {
		var dgh, value cryptobyte.String
		var n int64
		if !list.ReadASN1(&dgh, cbasn1.SEQUENCE) || !dgh.ReadASN1Int64WithTag(&n, cbasn1.INTEGER) ||
			!dgh.ReadASN1(&value, cbasn1.OCTET_STRING) || !dgh.Empty() {
			return bad
		}
		if n < 1 || n > 16 {
			return fmt.Errorf("%w: data group number %d out of range", errSOD, n)
		}
		if _, dup := s.Hashes[int(n)]; dup {
			return fmt.Errorf("%w: data group %d hashed twice", errSOD, n)
		}
		if len(value) != h.Size() {
			return fmt.Errorf("%w: DG%d hash has %d bytes, %d expected", errSOD, n, len(value), h.Size())
		}
		s.Hashes[int(n)] = append([]byte(nil), value...)
	}
	return nil
}

func hashFromOID(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256, true
	case oid.Equal(oidSHA384):
		return crypto.SHA384, true
	case oid.Equal(oidSHA512):
		return crypto.SHA512, true
	}
	return 0, false
}

func (s *SOD) decodeSignerInfo(si cryptobyte.String) error {
	bad := func(what string) error { return fmt.Errorf("%w: malformed SignerInfo %s", errSOD, what) }
	var version int64
	var sid, issuer, digAlg, attrs, sig cryptobyte.String
	serial := new(big.Int)
	if !si.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) || version != 1 {
		return bad("version (1, issuerAndSerialNumber, expected)")
	}
	if !si.ReadASN1(&sid, cbasn1.SEQUENCE) || !sid.ReadASN1Element(&issuer, cbasn1.SEQUENCE) ||
		!sid.ReadASN1Integer(serial) || !sid.Empty() {
		return bad("sid")
	}
	var oid asn1.ObjectIdentifier
	if !si.ReadASN1(&digAlg, cbasn1.SEQUENCE) || !digAlg.ReadASN1ObjectIdentifier(&oid) {
		return bad("digestAlgorithm")
	}
	h, ok := hashFromOID(oid)
	if !ok {
		return fmt.Errorf("%w: digest algorithm %v not supported", errSOD, oid)
	}
	s.DigestAlgorithm = h
	if !si.ReadASN1(&attrs, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return fmt.Errorf("%w: no signed attributes (ICAO 9303-10 §4.6.2.2 requires them)", errSOD)
	}
	s.signedAttrs = TLV(tagSet, attrs)
	if err := s.decodeAttributes(attrs); err != nil {
		return err
	}
	var sigAlgElem cryptobyte.String
	if !si.ReadASN1Element(&sigAlgElem, cbasn1.SEQUENCE) || !si.ReadASN1(&sig, cbasn1.OCTET_STRING) {
		return bad("signature")
	}
	alg, err := signatureAlgorithm(sigAlgElem, h)
	if err != nil {
		return err
	}
	s.SignatureAlgorithm = alg
	s.Signature = append([]byte(nil), sig...)
	for _, c := range s.Certificates {
		if bytes.Equal(c.RawIssuer, issuer) && c.SerialNumber.Cmp(serial) == 0 {
			s.Signer = c
		}
	}
	if s.Signer == nil {
		return fmt.Errorf("%w: the Document Signer certificate named by the SignerInfo is not included", errSOD)
	}
	return nil
}

func (s *SOD) decodeAttributes(attrs cryptobyte.String) error {
	seen := map[string]bool{}
	for !attrs.Empty() {
		var a, values cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !attrs.ReadASN1(&a, cbasn1.SEQUENCE) || !a.ReadASN1ObjectIdentifier(&oid) || !a.ReadASN1(&values, cbasn1.SET) {
			return fmt.Errorf("%w: malformed signed attribute", errSOD)
		}
		if seen[oid.String()] {
			return fmt.Errorf("%w: signed attribute %v twice", errSOD, oid)
		}
		seen[oid.String()] = true
		switch {
		case oid.Equal(oidAttrContentType):
			if !values.ReadASN1ObjectIdentifier(&s.ContentType) || !values.Empty() {
				return fmt.Errorf("%w: malformed contentType attribute", errSOD)
			}
		case oid.Equal(oidAttrMessageDigest):
			var d cryptobyte.String
			if !values.ReadASN1(&d, cbasn1.OCTET_STRING) || !values.Empty() {
				return fmt.Errorf("%w: malformed messageDigest attribute", errSOD)
			}
			s.MessageDigest = append([]byte(nil), d...)
		case oid.Equal(oidAttrSigningTime):
			var t time.Time
			ok := false
			if values.PeekASN1Tag(cbasn1.UTCTime) {
				ok = values.ReadASN1UTCTime(&t)
			} else {
				ok = values.ReadASN1GeneralizedTime(&t)
			}
			if !ok {
				return fmt.Errorf("%w: malformed signingTime attribute", errSOD)
			}
			s.SigningTime = t
		}
	}
	if s.ContentType == nil || s.MessageDigest == nil {
		return fmt.Errorf("%w: contentType and messageDigest signed attributes are mandatory", errSOD)
	}
	return nil
}

func signatureAlgorithm(elem cryptobyte.String, digest crypto.Hash) (x509.SignatureAlgorithm, error) {
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !elem.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&oid) {
		return 0, fmt.Errorf("%w: malformed signatureAlgorithm", errSOD)
	}
	switch {
	case oid.Equal(oidECDSAWithSHA256):
		return x509.ECDSAWithSHA256, nil
	case oid.Equal(oidECDSAWithSHA384):
		return x509.ECDSAWithSHA384, nil
	case oid.Equal(oidECDSAWithSHA512):
		return x509.ECDSAWithSHA512, nil
	case oid.Equal(oidRSASSAPSS):
		switch digest {
		case crypto.SHA256:
			return x509.SHA256WithRSAPSS, nil
		case crypto.SHA384:
			return x509.SHA384WithRSAPSS, nil
		case crypto.SHA512:
			return x509.SHA512WithRSAPSS, nil
		}
	case oid.Equal(oidSHA256WithRSA), oid.Equal(oidRSAEncryption) && digest == crypto.SHA256:
		return x509.SHA256WithRSA, nil
	}
	return 0, fmt.Errorf("%w: signature algorithm %v not supported", errSOD, oid)
}

// VerifySignature checks the SOD as passive authentication does (ICAO
// 9303-11 §5.1, RFC 5652 §5.4, §11): the contentType attribute names the
// LDSSecurityObject, the messageDigest attribute is the digest of the
// eContent, and the Document Signer's signature over the signed attributes
// verifies. For ECDSA and RSA PKCS#1 signatures the same is checked a second
// time by an independent CMS implementation (github.com/smallstep/pkcs7).
func (s *SOD) VerifySignature() error {
	if !s.ContentType.Equal(OIDLDSSecurityObject) {
		return fmt.Errorf("%w: contentType attribute %v differs from the eContentType", ErrSODSignature, s.ContentType)
	}
	h := s.DigestAlgorithm.New()
	h.Write(s.eContent)
	if subtle.ConstantTimeCompare(h.Sum(nil), s.MessageDigest) != 1 {
		return fmt.Errorf("%w: messageDigest attribute does not match the LDSSecurityObject", ErrSODSignature)
	}
	if err := s.Signer.CheckSignature(s.SignatureAlgorithm, s.signedAttrs, s.Signature); err != nil {
		return fmt.Errorf("%w: %w", ErrSODSignature, err)
	}
	switch s.SignatureAlgorithm {
	case x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS:
		// smallstep/pkcs7 does not verify RSASSA-PSS.
	default:
		p7, err := pkcs7.Parse(s.contentInfo)
		if err != nil {
			return fmt.Errorf("%w: independent CMS parse: %w", ErrSODSignature, err)
		}
		if err := p7.Verify(); err != nil {
			return fmt.Errorf("%w: independent CMS verification: %w", ErrSODSignature, err)
		}
		if !bytes.Equal(p7.Content, s.eContent) {
			return fmt.Errorf("%w: independent CMS parse found different content", ErrSODSignature)
		}
	}
	return nil
}

// VerifySigner checks the SOD's Document Signer certificate at time at:
// VerifyDocumentSigner.
func (s *SOD) VerifySigner(cscas []*x509.Certificate, at time.Time, issuingState string) error {
	return VerifyDocumentSigner(s.Signer, cscas, at, issuingState)
}

// DSProblem names why a Document Signer certificate cannot be trusted: a
// small fixed set (metrics labels, /readyz reasons), never free text.
type DSProblem string

// The DS problems, in the order VerifyDocumentSigner checks them.
const (
	DSNotYetValid DSProblem = "not_yet_valid"
	DSExpired     DSProblem = "expired"
	DSKeyUsage    DSProblem = "key_usage"
	DSCountry     DSProblem = "country"
	DSUntrusted   DSProblem = "untrusted" // no configured CSCA issued it (or that CSCA is out of validity)
	// Before signing only (pki.CheckSigner): the key is not the
	// certificate's, or its private key usage period is over.
	DSKeyMismatch DSProblem = "key_mismatch"
	DSUsageOver   DSProblem = "usage_period_over"
)

// DSError is a Document Signer certificate that cannot be trusted. It
// unwraps to ErrSODSignerNotTrusted.
type DSError struct {
	Problem DSProblem
	Detail  string // dates, countries: nothing personal
	Err     error  // the CSCA candidates' failures, when there were any
}

func (e *DSError) Error() string {
	return ErrSODSignerNotTrusted.Error() + ": " + e.Detail
}

func (e *DSError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrSODSignerNotTrusted, e.Err}
	}
	return []error{ErrSODSignerNotTrusted}
}

// VerifyDocumentSigner is the one rule of a trusted Document Signer
// certificate (ICAO 9303-11 §5.1.1, 9303-12 §7), used by verification and by
// the station before it signs: at time at, within its validity, keyUsage
// digitalSignature, its country equal to the issuing state of the document,
// and signed by one of the CSCA certificates, which is within its validity
// and of the same country. Errors are *DSError.
func VerifyDocumentSigner(ds *x509.Certificate, cscas []*x509.Certificate, at time.Time, issuingState string) error {
	validity := ds.NotBefore.UTC().Format(time.DateOnly) + " – " + ds.NotAfter.UTC().Format(time.DateOnly)
	switch {
	case at.Before(ds.NotBefore):
		return &DSError{Problem: DSNotYetValid, Detail: "not yet valid (valid " + validity + ")"}
	case at.After(ds.NotAfter):
		return &DSError{Problem: DSExpired, Detail: "expired (valid " + validity + ")"}
	}
	if ds.KeyUsage != 0 && ds.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return &DSError{Problem: DSKeyUsage, Detail: "keyUsage lacks digitalSignature"}
	}
	country := countryOf(ds)
	if alpha3(country) != issuingState {
		return &DSError{Problem: DSCountry, Detail: fmt.Sprintf("DS country %q is not the issuing state %s", country, issuingState)}
	}
	var errs []error
	for _, ca := range cscas {
		if !bytes.Equal(ca.RawSubject, ds.RawIssuer) {
			continue
		}
		if err := ds.CheckSignatureFrom(ca); err != nil {
			errs = append(errs, err)
			continue
		}
		if at.Before(ca.NotBefore) || at.After(ca.NotAfter) {
			errs = append(errs, fmt.Errorf("CSCA outside its validity"))
			continue
		}
		if countryOf(ca) != country {
			errs = append(errs, fmt.Errorf("CSCA country %q differs from the DS country %q", countryOf(ca), country))
			continue
		}
		return nil
	}
	if len(errs) == 0 {
		return &DSError{Problem: DSUntrusted, Detail: "no trusted CSCA issued it"}
	}
	return &DSError{Problem: DSUntrusted, Detail: "no trusted CSCA verifies it", Err: errors.Join(errs...)}
}

// CheckHashes compares data groups with the hashes in the SOD. files maps
// data group numbers to their bytes; every data group listed in the SOD that
// is among them must match, and every one of them must be listed.
func (s *SOD) CheckHashes(files map[int][]byte) error {
	for n, b := range files {
		want, ok := s.Hashes[n]
		if !ok {
			return fmt.Errorf("%w: DG%d is not listed in EF.SOD", ErrSODHashMismatch, n)
		}
		h := s.HashAlgorithm.New()
		h.Write(b)
		if got := h.Sum(nil); !bytes.Equal(got, want) {
			return fmt.Errorf("%w: DG%d hashes to %X, EF.SOD says %X", ErrSODHashMismatch, n, got, want)
		}
	}
	return nil
}

func countryOf(c *x509.Certificate) string {
	if len(c.Subject.Country) == 1 {
		return c.Subject.Country[0]
	}
	return ""
}

// alpha3 maps the ISO 3166-1 alpha-2 country of a certificate to the
// alpha-3 code of the MRZ (ICAO 9303-3 §5). Only the codes this station
// meets are listed.
func alpha3(c string) string {
	switch c {
	case "VN":
		return "VNM"
	case "UT":
		return "UTO" // ICAO's specimen state
	}
	return c
}
