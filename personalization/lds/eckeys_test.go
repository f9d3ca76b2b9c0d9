package lds

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/cccd-station/station/internal/brainpool"
)

// The coefficients kept for explicit parameters are those of the curves:
// the base point and a random point satisfy y² = x³ + ax + b.
func TestNamedCurveCoefficientsAreTheCurves(t *testing.T) {
	for _, nc := range namedCurves {
		c := nc.curve()
		p := c.Params().P
		k := testKey(t, c)
		for _, pt := range [][2]*big.Int{{c.Params().Gx, c.Params().Gy}, {k.X, k.Y}} {
			x, y := pt[0], pt[1]
			lhs := new(big.Int).Mul(y, y)
			lhs.Mod(lhs, p)
			rhs := new(big.Int).Exp(x, big.NewInt(3), p)
			rhs.Add(rhs, new(big.Int).Mul(nc.a, x))
			rhs.Add(rhs, nc.b)
			rhs.Mod(rhs, p)
			if lhs.Cmp(rhs) != 0 {
				t.Errorf("%s: (%X, %X) does not satisfy the kept a, b", c.Params().Name, x, y)
			}
		}
	}
}

// For P-256 our encoding is crypto/x509's, byte for byte, and each decodes
// the other.
func TestECPublicKeyInfoOfP256IsX509s(t *testing.T) {
	k := testKey(t, elliptic.P256())
	ours, err := MarshalECPublicKeyInfo(k)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "SubjectPublicKeyInfo", ours, theirs)
	back, err := ParseECPublicKeyInfo(theirs)
	if err != nil || !back.Equal(k) {
		t.Errorf("ParseECPublicKeyInfo of x509's: %v", err)
	}
}

func TestECPublicKeyInfoOfBrainpoolRoundTrips(t *testing.T) {
	k := testKey(t, brainpool.P256r1())
	der, err := MarshalECPublicKeyInfo(k)
	if err != nil {
		t.Fatal(err)
	}
	// SEQUENCE { SEQUENCE { id-ecPublicKey, brainpoolP256r1 }, BIT STRING 04‖X‖Y }
	want := append(mustHex(t, "305A301406072A8648CE3D020106092B2403030208010107034200"), MarshalECPoint(k)...)
	sameBytes(t, "brainpool SubjectPublicKeyInfo", der, want)
	back, err := ParseECPublicKeyInfo(der)
	if err != nil {
		t.Fatal(err)
	}
	if back.Curve != brainpool.P256r1() || back.X.Cmp(k.X) != 0 || back.Y.Cmp(k.Y) != 0 {
		t.Errorf("decoded another key")
	}
}

// explicitSPKI builds a SubjectPublicKeyInfo with explicit ECParameters
// (RFC 3279 §2.3.5), with hooks to spoil them.
func explicitSPKI(t *testing.T, nc namedCurve, pub *ecdsa.PublicKey, spoil string) []byte {
	t.Helper()
	c := nc.curve()
	cp := c.Params()
	n := (cp.BitSize + 7) / 8
	fe := func(v *big.Int) []byte { return v.FillBytes(make([]byte, n)) }
	gx, gy := cp.Gx, cp.Gy
	a := nc.a
	cofactor := int64(1)
	switch spoil {
	case "base":
		gx, gy = pub.X, pub.Y
	case "a":
		a = new(big.Int).Add(a, big.NewInt(1))
	case "cofactor":
		cofactor = 4
	}
	g := append(append([]byte{4}, fe(gx)...), fe(gy)...)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidECPublicKey)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(1)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidPrimeField)
					b.AddASN1BigInt(cp.P)
				})
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1OctetString(fe(a))
					b.AddASN1OctetString(fe(nc.b))
				})
				b.AddASN1OctetString(g)
				b.AddASN1BigInt(cp.N)
				b.AddASN1Int64(cofactor)
			})
		})
		b.AddASN1BitString(MarshalECPoint(pub))
	})
	der, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Readers meet brainpoolP256r1 keys with explicit parameters in DG14: they
// decode to the named curve when, and only when, every parameter is its.
func TestExplicitParametersDecodeOnlyAsAKnownCurve(t *testing.T) {
	for _, nc := range namedCurves {
		c := nc.curve()
		k := testKey(t, c)
		got, err := ParseECPublicKeyInfo(explicitSPKI(t, nc, k, ""))
		if err != nil {
			t.Fatalf("%s explicit: %v", c.Params().Name, err)
		}
		if got.Curve != c || !got.Equal(&ecdsa.PublicKey{Curve: c, X: k.X, Y: k.Y}) {
			t.Errorf("%s explicit: another key", c.Params().Name)
		}
		for _, spoil := range []string{"base", "a", "cofactor"} {
			if _, err := ParseECPublicKeyInfo(explicitSPKI(t, nc, k, spoil)); !errors.Is(err, ErrECKey) {
				t.Errorf("%s with another %s: %v", c.Params().Name, spoil, err)
			}
		}
	}
}

func TestPointValidationRefusesWhatIsNotAPointOfTheCurve(t *testing.T) {
	for _, c := range []elliptic.Curve{brainpool.P256r1(), elliptic.P256()} {
		k := testKey(t, c)
		p := c.Params().P
		for name, pt := range map[string][2]*big.Int{
			"off the curve":        {k.X, new(big.Int).Add(k.Y, big.NewInt(1))},
			"infinity as (0, 0)":   {big.NewInt(0), big.NewInt(0)},
			"x + p (same residue)": {new(big.Int).Add(k.X, p), k.Y},
			"negative y":           {k.X, new(big.Int).Neg(k.Y)},
		} {
			if err := ValidatePoint(c, pt[0], pt[1]); !errors.Is(err, ErrECKey) {
				t.Errorf("%s %s: %v", c.Params().Name, name, err)
			}
		}
		pt := MarshalECPoint(k)
		pt[len(pt)-1] ^= 1
		if _, err := ParseECPoint(c, pt); !errors.Is(err, ErrECKey) {
			t.Errorf("%s: a changed point decoded: %v", c.Params().Name, err)
		}
		if _, err := ParseECPoint(c, append([]byte{2}, MarshalECPoint(k)[1:33]...)); !errors.Is(err, ErrECKey) {
			t.Errorf("%s: a compressed point decoded: %v", c.Params().Name, err)
		}
	}
}

func TestECPublicKeyTemplateOfGenerateAsymmetricKeyPair(t *testing.T) {
	for _, c := range []elliptic.Curve{brainpool.P256r1(), elliptic.P256()} {
		k := testKey(t, c)
		oid, _ := CurveOID(c)
		oidDER, _ := asn1.Marshal(oid)
		point := MarshalECPoint(k)
		good := TLV(0x7F49, oidDER, TLV(0x86, point))
		tmpl, err := EncodeECPublicKeyTemplate(k)
		if err != nil {
			t.Fatal(err)
		}
		sameBytes(t, "7F49 template", tmpl, good)
		got, err := ParseECPublicKeyTemplate(good)
		if err != nil || !got.Equal(k) {
			t.Errorf("%s: %v", c.Params().Name, err)
		}
		bad := point
		bad = append([]byte{}, bad...)
		bad[40] ^= 1
		for name, b := range map[string][]byte{
			"point only":            TLV(0x7F49, TLV(0x86, point)),
			"point first":           TLV(0x7F49, TLV(0x86, point), oidDER),
			"an extra object":       TLV(0x7F49, oidDER, TLV(0x86, point), TLV(0x87, []byte{1})),
			"unknown curve":         TLV(0x7F49, mustHex(t, "06052B81040022"), TLV(0x86, point)),
			"point off the curve":   TLV(0x7F49, oidDER, TLV(0x86, bad)),
			"other outer tag":       TLV(0x7F4A, oidDER, TLV(0x86, point)),
			"bytes after it":        append(good, 0),
			"truncated":             good[:len(good)-1],
			"malformed OID content": TLV(0x7F49, TLV(0x06, []byte{0x80}), TLV(0x86, point)),
		} {
			if _, err := ParseECPublicKeyTemplate(b); !errors.Is(err, ErrECKey) {
				t.Errorf("%s %s: %v", c.Params().Name, name, err)
			}
		}
	}
}

func TestDG15ECCarriesBrainpoolAndP256Keys(t *testing.T) {
	for _, c := range []elliptic.Curve{brainpool.P256r1(), elliptic.P256()} {
		k := testKey(t, c)
		dg15, err := EncodeDG15EC(k)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := DecodeDG15Key(dg15)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := pub.(*ecdsa.PublicKey); !ok || !got.Equal(k) {
			t.Errorf("%s: decoded %T", c.Params().Name, pub)
		}
	}
	r, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&r.PublicKey)
	pub, err := DecodeDG15Key(TLV(TagDG15, spki))
	if got, ok := pub.(*rsa.PublicKey); err != nil || !ok || !got.Equal(&r.PublicKey) {
		t.Errorf("RSA DG15: %T %v", pub, err)
	}
}

func TestMarshalRefusesKeysOutsideTheProfile(t *testing.T) {
	k := testKey(t, elliptic.P384())
	if _, err := MarshalECPublicKeyInfo(k); !errors.Is(err, ErrECKey) {
		t.Errorf("P-384: %v", err)
	}
	c := brainpool.P256r1()
	bad := &ecdsa.PublicKey{Curve: c, X: big.NewInt(1), Y: big.NewInt(2)}
	if _, err := MarshalECPublicKeyInfo(bad); !errors.Is(err, ErrECKey) {
		t.Errorf("a point off the curve: %v", err)
	}
	if _, err := EncodeDG15EC(nil); err == nil {
		t.Error("nil key encoded")
	}
}
