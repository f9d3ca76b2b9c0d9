package emrtd

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"

	"github.com/cccd-station/station/internal/brainpool"
)

// Elliptic curves of the cccd model: brainpoolP256r1 (PACE, and the default
// for the chip's keys) and NIST P-256. The curve arithmetic is a shared
// primitive (crypto/elliptic, internal/brainpool); point encoding, key
// handling and the protocols on top are the chip's own.

// ecCurve is a named curve the chip supports.
type ecCurve struct {
	name  string
	oid   []byte // DER contents of the OBJECT IDENTIFIER (no 06 L)
	curve elliptic.Curve
}

var (
	// brainpoolP256r1 (RFC 5639), 1.3.36.3.3.2.8.1.1.7; PACE standardized
	// domain parameters 13 (ICAO 9303-11 §9.5.1).
	curveBrainpoolP256r1 = &ecCurve{
		name:  "brainpoolP256r1",
		oid:   []byte{0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07},
		curve: brainpool.P256r1(),
	}
	// NIST P-256 (secp256r1), 1.2.840.10045.3.1.7.
	curveP256 = &ecCurve{
		name:  "P-256",
		oid:   []byte{0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07},
		curve: elliptic.P256(),
	}
	ecCurves = []*ecCurve{curveBrainpoolP256r1, curveP256}
)

// paceParamBrainpoolP256r1 is the standardized domain parameter id of
// brainpoolP256r1 (ICAO 9303-11 §9.5.1), the only one this chip offers.
const paceParamBrainpoolP256r1 = 13

func curveByOID(oid []byte) (*ecCurve, bool) {
	for _, c := range ecCurves {
		if bytes.Equal(c.oid, oid) {
			return c, true
		}
	}
	return nil, false
}

func curveByName(name string) (*ecCurve, bool) {
	for _, c := range ecCurves {
		if c.name == name {
			return c, true
		}
	}
	return nil, false
}

// size is the length of a field element and of a scalar in bytes.
func (c *ecCurve) size() int { return (c.curve.Params().BitSize + 7) / 8 }

// fe2os is the fixed-length octet string of a field element (ICAO 9303-11
// §9.6, BSI TR-03111: FE2OS keeps the leading zero bytes).
func (c *ecCurve) fe2os(v *big.Int) []byte { return v.FillBytes(make([]byte, c.size())) }

// encodePoint is the uncompressed encoding 04 ‖ X ‖ Y (BSI TR-03111).
func (c *ecCurve) encodePoint(x, y *big.Int) []byte {
	out := make([]byte, 0, 1+2*c.size())
	out = append(out, 0x04)
	out = append(out, c.fe2os(x)...)
	return append(out, c.fe2os(y)...)
}

// decodePoint parses an uncompressed point and checks that it lies on the
// curve (which also excludes the point at infinity). Points from outside
// are always checked before any arithmetic.
func (c *ecCurve) decodePoint(b []byte) (x, y *big.Int, ok bool) {
	n := c.size()
	if len(b) != 1+2*n || b[0] != 0x04 {
		return nil, nil, false
	}
	x = new(big.Int).SetBytes(b[1 : 1+n])
	y = new(big.Int).SetBytes(b[1+n:])
	p := c.curve.Params().P
	if x.Cmp(p) >= 0 || y.Cmp(p) >= 0 || !c.curve.IsOnCurve(x, y) {
		return nil, nil, false
	}
	return x, y, true
}

// randomScalar draws a private key in [1, n-1] from r: size() bytes at a
// time, drawing again when the value is out of range (so that a test can
// inject a known key through WithRand).
func (c *ecCurve) randomScalar(r io.Reader) (*big.Int, error) {
	n := c.curve.Params().N
	buf := make([]byte, c.size())
	for i := 0; i < 64; i++ {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("drawing a private key: %w", err)
		}
		k := new(big.Int).SetBytes(buf)
		if k.Sign() > 0 && k.Cmp(n) < 0 {
			return k, nil
		}
	}
	return nil, errors.New("drawing a private key: no value in range")
}

// isInfinity: crypto/elliptic represents the point at infinity as (0, 0).
func isInfinity(x, y *big.Int) bool { return x.Sign() == 0 && y.Sign() == 0 }

// ecKey is a private key generated on the chip (GENERATE ASYMMETRIC KEY
// PAIR): Chip Authentication (ECDH) or Active Authentication (ECDSA). Secret:
// it formats as "[redacted]" for every fmt verb and slog, and refuses JSON
// (the chip saves it explicitly, see persist.go).
type ecKey struct {
	curve *ecCurve
	d     *big.Int
	x, y  *big.Int
}

// generateECKey makes a key pair on curve c from r.
func generateECKey(c *ecCurve, r io.Reader) (*ecKey, error) {
	d, err := c.randomScalar(r)
	if err != nil {
		return nil, err
	}
	x, y := c.curve.ScalarBaseMult(c.fe2os(d))
	return &ecKey{curve: c, d: d, x: x, y: y}, nil
}

// ecKeyFrom rebuilds a saved key and checks that the public point is d·G.
func ecKeyFrom(c *ecCurve, d []byte, pub []byte) (*ecKey, error) {
	k := new(big.Int).SetBytes(d)
	if k.Sign() <= 0 || k.Cmp(c.curve.Params().N) >= 0 {
		return nil, errors.New("private key out of range")
	}
	x, y := c.curve.ScalarBaseMult(c.fe2os(k))
	if !bytes.Equal(c.encodePoint(x, y), pub) {
		return nil, errors.New("public key does not match the private key")
	}
	return &ecKey{curve: c, d: k, x: x, y: y}, nil
}

// public is the uncompressed public point.
func (k *ecKey) public() []byte { return k.curve.encodePoint(k.x, k.y) }

// private is the private scalar as a fixed-length octet string.
func (k *ecKey) private() []byte { return k.curve.fe2os(k.d) }

// publicKeyDO is the public key data object ISO/IEC 7816-8 GENERATE
// ASYMMETRIC KEY PAIR returns for an EC key (cccd.md §4 step 7; ICAO
// 9303-11 §9.4): 7F49 { 06 curve OID, 86 04‖X‖Y }.
func (k *ecKey) publicKeyDO() []byte {
	var in []byte
	in = appendTLV(in, 0x06, k.curve.oid)
	in = appendTLV(in, 0x86, k.public())
	return appendTLV(nil, 0x7F49, in)
}

// sharedX is the ECDH shared secret with a peer's (checked) point: the
// x-coordinate of d·P as FE2OS (ICAO 9303-11 §9.6). ok is false for the
// point at infinity.
func (k *ecKey) sharedX(px, py *big.Int) ([]byte, bool) {
	x, y := k.curve.curve.ScalarMult(px, py, k.curve.fe2os(k.d))
	if isInfinity(x, y) {
		return nil, false
	}
	return k.curve.fe2os(x), true
}

// signPlain is ECDSA over a digest with the plain signature format r ‖ s,
// each FE2OS of the curve's size (BSI TR-03111, plain format; ICAO 9303-11 §6.1
// ECDSA Active Authentication).
func (k *ecKey) signPlain(digest []byte, r io.Reader) ([]byte, error) {
	priv := &ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: k.curve.curve, X: k.x, Y: k.y}, D: k.d}
	sr, ss, err := ecdsa.Sign(r, priv, digest)
	if err != nil {
		return nil, err
	}
	return append(k.curve.fe2os(sr), k.curve.fe2os(ss)...), nil
}

const redacted = "[redacted]"

// String, GoString, Format and LogValue never show the private key; JSON and
// text marshalling refuse it.
func (k ecKey) String() string {
	if k.curve == nil {
		return "ecKey{" + redacted + "}"
	}
	return "ecKey{" + k.curve.name + " " + redacted + "}"
}

func (k ecKey) GoString() string           { return k.String() }
func (k ecKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }
func (k ecKey) LogValue() slog.Value       { return slog.StringValue(k.String()) }
func (k ecKey) MarshalJSON() ([]byte, error) {
	return nil, errors.New("emrtd: a private key is not JSON")
}
func (k ecKey) MarshalText() ([]byte, error) {
	return nil, errors.New("emrtd: a private key is not text")
}
