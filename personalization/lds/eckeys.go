package lds

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/cccd-station/station/internal/brainpool"
)

// ErrECKey is wrapped by every error of an EC public key that is malformed,
// on an unknown curve, or not a valid point of its curve.
var ErrECKey = errors.New("lds: invalid EC public key")

// Object identifiers of EC public keys (RFC 5480 §2.1.1, RFC 3279 §2.3.5,
// RFC 5639 §4.1).
var (
	OIDBrainpoolP256r1 = asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}
	OIDP256            = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidECPublicKey     = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidPrimeField      = asn1.ObjectIdentifier{1, 2, 840, 10045, 1, 1}
)

// namedCurve is a curve the station knows, with the coefficient a that
// elliptic.CurveParams does not carry (it assumes a = -3, which
// brainpoolP256r1 does not have), for matching explicit parameters.
type namedCurve struct {
	oid   asn1.ObjectIdentifier
	curve func() elliptic.Curve
	a, b  *big.Int
}

func hexInt(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("lds: bad constant " + s)
	}
	return n
}

var namedCurves = []namedCurve{
	// RFC 5639 §3.4.
	{OIDBrainpoolP256r1, brainpool.P256r1,
		hexInt("7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9"),
		hexInt("26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6")},
	// FIPS 186-4 §D.1.2.3: a = p - 3.
	{OIDP256, elliptic.P256,
		hexInt("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC"),
		hexInt("5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B")},
}

func curveByOID(oid asn1.ObjectIdentifier) (elliptic.Curve, bool) {
	for _, c := range namedCurves {
		if c.oid.Equal(oid) {
			return c.curve(), true
		}
	}
	return nil, false
}

// CurveByOID returns the curve a named-curve OID names: brainpoolP256r1 or
// NIST P-256.
func CurveByOID(oid asn1.ObjectIdentifier) (elliptic.Curve, error) {
	if c, ok := curveByOID(oid); ok {
		return c, nil
	}
	return nil, fmt.Errorf("%w: curve %v not supported", ErrECKey, oid)
}

// CurveOID returns the OID that names c.
func CurveOID(c elliptic.Curve) (asn1.ObjectIdentifier, error) {
	for _, n := range namedCurves {
		if n.curve() == c {
			return n.oid, nil
		}
	}
	return nil, fmt.Errorf("%w: curve %s not supported", ErrECKey, c.Params().Name)
}

// ValidatePoint checks that (x, y) is a point of c other than the point at
// infinity, with both coordinates in [0, p-1] (BSI TR-03111 §3.2.2.1; ICAO
// 9303-11 §4.4.3.3 and §6.2.4 ask the terminal to check every public key it
// receives).
func ValidatePoint(c elliptic.Curve, x, y *big.Int) error {
	if x == nil || y == nil {
		return fmt.Errorf("%w: no point", ErrECKey)
	}
	p := c.Params().P
	if x.Sign() < 0 || y.Sign() < 0 || x.Cmp(p) >= 0 || y.Cmp(p) >= 0 {
		return fmt.Errorf("%w: coordinate out of the field", ErrECKey)
	}
	if x.Sign() == 0 && y.Sign() == 0 {
		return fmt.Errorf("%w: the point at infinity", ErrECKey)
	}
	if !c.IsOnCurve(x, y) {
		return fmt.Errorf("%w: the point is not on %s", ErrECKey, c.Params().Name)
	}
	return nil
}

// coordLen is the length of one field element (SEC 1 §2.3.5).
func coordLen(c elliptic.Curve) int { return (c.Params().BitSize + 7) / 8 }

// MarshalECPoint encodes a public key as an uncompressed point 04 ‖ X ‖ Y,
// each coordinate at the field's full length (SEC 1 §2.3.3; BSI TR-03111
// §3.2.1).
func MarshalECPoint(pub *ecdsa.PublicKey) []byte {
	n := coordLen(pub.Curve)
	b := make([]byte, 1+2*n)
	b[0] = 4
	pub.X.FillBytes(b[1 : 1+n])
	pub.Y.FillBytes(b[1+n:])
	return b
}

// ParseECPoint decodes an uncompressed point 04 ‖ X ‖ Y of c and validates
// it (ValidatePoint). Compressed points are refused: ICAO 9303-11 and the
// cccd profile use the uncompressed form.
func ParseECPoint(c elliptic.Curve, b []byte) (*ecdsa.PublicKey, error) {
	n := coordLen(c)
	if len(b) != 1+2*n || b[0] != 4 {
		return nil, fmt.Errorf("%w: not an uncompressed point of %s (%d bytes)", ErrECKey, c.Params().Name, len(b))
	}
	x := new(big.Int).SetBytes(b[1 : 1+n])
	y := new(big.Int).SetBytes(b[1+n:])
	if err := ValidatePoint(c, x, y); err != nil {
		return nil, err
	}
	return &ecdsa.PublicKey{Curve: c, X: x, Y: y}, nil
}

// MarshalECPublicKeyInfo encodes an EC public key as a SubjectPublicKeyInfo
// with id-ecPublicKey and the curve named (RFC 5480 §2), the point
// uncompressed: what DG14's ChipAuthenticationPublicKeyInfo and DG15 carry in
// the cccd profile. crypto/x509 cannot encode brainpool keys.
func MarshalECPublicKeyInfo(pub *ecdsa.PublicKey) ([]byte, error) {
	if pub == nil || pub.Curve == nil {
		return nil, fmt.Errorf("%w: no key", ErrECKey)
	}
	oid, err := CurveOID(pub.Curve)
	if err != nil {
		return nil, err
	}
	if err := ValidatePoint(pub.Curve, pub.X, pub.Y); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidECPublicKey)
			b.AddASN1ObjectIdentifier(oid)
		})
		b.AddASN1BitString(MarshalECPoint(pub))
	})
	return b.Bytes()
}

// ParseECPublicKeyInfo decodes a DER SubjectPublicKeyInfo of an EC key
// (RFC 5480 §2): id-ecPublicKey with the curve named (brainpoolP256r1, P-256)
// or given by explicit ECParameters (RFC 3279 §2.3.5; readers meet
// brainpoolP256r1 keys this way in DG14), which must be exactly those of a
// known curve. The point is validated.
func ParseECPublicKeyInfo(spki []byte) (*ecdsa.PublicKey, error) {
	in := cryptobyte.String(spki)
	var seq, alg, params cryptobyte.String
	var algOID asn1.ObjectIdentifier
	var point asn1.BitString
	var tag cbasn1.Tag
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&alg, cbasn1.SEQUENCE) ||
		!alg.ReadASN1ObjectIdentifier(&algOID) {
		return nil, fmt.Errorf("%w: malformed SubjectPublicKeyInfo", ErrECKey)
	}
	if !algOID.Equal(oidECPublicKey) {
		return nil, fmt.Errorf("%w: algorithm %v is not id-ecPublicKey", ErrECKey, algOID)
	}
	if !alg.ReadAnyASN1Element(&params, &tag) || !alg.Empty() ||
		!seq.ReadASN1BitString(&point) || !seq.Empty() || point.BitLength%8 != 0 {
		return nil, fmt.Errorf("%w: malformed SubjectPublicKeyInfo", ErrECKey)
	}
	var c elliptic.Curve
	switch tag {
	case cbasn1.OBJECT_IDENTIFIER:
		var oid asn1.ObjectIdentifier
		if !params.ReadASN1ObjectIdentifier(&oid) {
			return nil, fmt.Errorf("%w: malformed curve OID", ErrECKey)
		}
		var err error
		if c, err = CurveByOID(oid); err != nil {
			return nil, err
		}
	case cbasn1.SEQUENCE:
		var err error
		if c, err = explicitCurve(params); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: EC parameters neither named nor explicit", ErrECKey)
	}
	return ParseECPoint(c, point.Bytes)
}

// explicitCurve matches explicit ECParameters (RFC 3279 §2.3.5, SEC 1
// §C.2) against the known curves: version 1, a prime field, a, b, the base
// point, the order and, when present, cofactor 1 must all be those of one of
// them.
func explicitCurve(elem cryptobyte.String) (elliptic.Curve, error) {
	bad := fmt.Errorf("%w: malformed explicit EC parameters", ErrECKey)
	var seq, field, curve cryptobyte.String
	var version int64
	var fieldType asn1.ObjectIdentifier
	p, n := new(big.Int), new(big.Int)
	var a, b, base []byte
	if !elem.ReadASN1(&seq, cbasn1.SEQUENCE) ||
		!seq.ReadASN1Integer(&version) || version != 1 ||
		!seq.ReadASN1(&field, cbasn1.SEQUENCE) ||
		!field.ReadASN1ObjectIdentifier(&fieldType) || !fieldType.Equal(oidPrimeField) ||
		!field.ReadASN1Integer(p) || !field.Empty() ||
		!seq.ReadASN1(&curve, cbasn1.SEQUENCE) ||
		!curve.ReadASN1Bytes(&a, cbasn1.OCTET_STRING) ||
		!curve.ReadASN1Bytes(&b, cbasn1.OCTET_STRING) ||
		!curve.SkipOptionalASN1(cbasn1.BIT_STRING) || !curve.Empty() ||
		!seq.ReadASN1Bytes(&base, cbasn1.OCTET_STRING) ||
		!seq.ReadASN1Integer(n) {
		return nil, bad
	}
	if seq.PeekASN1Tag(cbasn1.INTEGER) {
		var h int64
		if !seq.ReadASN1Integer(&h) || h != 1 {
			return nil, fmt.Errorf("%w: cofactor is not 1", ErrECKey)
		}
	}
	if !seq.Empty() {
		return nil, bad
	}
	for _, nc := range namedCurves {
		c := nc.curve()
		cp := c.Params()
		if cp.P.Cmp(p) != 0 || cp.N.Cmp(n) != 0 ||
			nc.a.Cmp(new(big.Int).SetBytes(a)) != 0 || nc.b.Cmp(new(big.Int).SetBytes(b)) != 0 {
			continue
		}
		g, err := ParseECPoint(c, base)
		if err != nil || g.X.Cmp(cp.Gx) != 0 || g.Y.Cmp(cp.Gy) != 0 {
			return nil, fmt.Errorf("%w: explicit parameters of %s with another base point", ErrECKey, cp.Name)
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: explicit parameters of an unknown curve", ErrECKey)
}

// ParseSubjectPublicKeyInfo decodes any public key the station meets in a
// chip: EC keys with ParseECPublicKeyInfo (brainpool too), the rest (RSA)
// with crypto/x509.
func ParseSubjectPublicKeyInfo(spki []byte) (crypto.PublicKey, error) {
	in := cryptobyte.String(spki)
	var seq, alg cryptobyte.String
	var oid asn1.ObjectIdentifier
	if in.ReadASN1(&seq, cbasn1.SEQUENCE) && seq.ReadASN1(&alg, cbasn1.SEQUENCE) &&
		alg.ReadASN1ObjectIdentifier(&oid) && oid.Equal(oidECPublicKey) {
		return ParseECPublicKeyInfo(spki)
	}
	return x509.ParsePKIXPublicKey(spki)
}

// TagPublicKeyTemplate is the ISO/IEC 7816-8 public key data object.
const TagPublicKeyTemplate Tag = 0x7F49

// ParseECPublicKeyTemplate decodes the public key template a chip returns
// to GENERATE ASYMMETRIC KEY PAIR (ISO/IEC 7816-8 §5.1, Table 3; cccd.md §4
// steps 7–8): 7F49 { 06 curve OID, 86 04 ‖ X ‖ Y }, nothing else, each
// once. The point is validated.
func ParseECPublicKeyTemplate(b []byte) (*ecdsa.PublicKey, error) {
	o, err := ParseOne(b, TagPublicKeyTemplate)
	if err != nil {
		return nil, fmt.Errorf("%w: public key template: %w", ErrECKey, err)
	}
	children, err := o.Children()
	if err != nil {
		return nil, fmt.Errorf("%w: public key template: %w", ErrECKey, err)
	}
	if len(children) != 2 || children[0].Tag != 0x06 || children[1].Tag != 0x86 {
		return nil, fmt.Errorf("%w: public key template is not { 06 curve, 86 point }", ErrECKey)
	}
	oid, err := parseOIDContent(children[0].Value)
	if err != nil {
		return nil, err
	}
	c, err := CurveByOID(oid)
	if err != nil {
		return nil, err
	}
	return ParseECPoint(c, children[1].Value)
}

// EncodeECPublicKeyTemplate builds 7F49 { 06 curve OID, 86 04 ‖ X ‖ Y }.
func EncodeECPublicKeyTemplate(pub *ecdsa.PublicKey) ([]byte, error) {
	oid, err := CurveOID(pub.Curve)
	if err != nil {
		return nil, err
	}
	der, err := asn1.Marshal(oid)
	if err != nil {
		return nil, err
	}
	return TLV(TagPublicKeyTemplate, der, TLV(0x86, MarshalECPoint(pub))), nil
}

// parseOIDContent decodes the content octets of an OBJECT IDENTIFIER
// (X.690 §8.19) as carried in a BER-TLV 06 data object.
func parseOIDContent(v []byte) (asn1.ObjectIdentifier, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(v) })
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: malformed OID", ErrECKey)
	}
	s := cryptobyte.String(der)
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1ObjectIdentifier(&oid) {
		return nil, fmt.Errorf("%w: malformed OID %X", ErrECKey, v)
	}
	return oid, nil
}

// EncodeDG15EC builds DG15 (ICAO 9303-11 §6.1) for an ECDSA Active
// Authentication key: 6F { SubjectPublicKeyInfo, id-ecPublicKey, curve
// named }. It takes brainpoolP256r1 keys, which EncodeDG15 (crypto/x509)
// cannot.
func EncodeDG15EC(pub *ecdsa.PublicKey) ([]byte, error) {
	spki, err := MarshalECPublicKeyInfo(pub)
	if err != nil {
		return nil, fmt.Errorf("DG15: %w", err)
	}
	return TLV(TagDG15, spki), nil
}

// DecodeDG15Key reads the Active Authentication public key of DG15, RSA or
// EC (brainpool and explicit parameters included; ParseSubjectPublicKeyInfo).
func DecodeDG15Key(b []byte) (crypto.PublicKey, error) {
	o, err := ParseOne(b, TagDG15)
	if err != nil {
		return nil, fmt.Errorf("DG15: %w", err)
	}
	pub, err := ParseSubjectPublicKeyInfo(o.Value)
	if err != nil {
		return nil, fmt.Errorf("DG15: SubjectPublicKeyInfo: %w", err)
	}
	return pub, nil
}
