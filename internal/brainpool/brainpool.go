// Package brainpool is the brainpoolP256r1 elliptic curve (RFC 5639 §3.4)
// as an elliptic.Curve, with field arithmetic on fixed 64-bit limbs in
// Montgomery form instead of math/big.
//
// It is a primitive, like crypto/elliptic: the station's PACE, Chip
// Authentication and ECDSA Active Authentication and the virtual chip's own
// implementations of them both use it. The generic elliptic.CurveParams
// arithmetic (math/big, which ProtonMail's brainpool package wraps) made
// brainpool scalar multiplications a third of the CPU of a cccd card; this
// is about ten times faster (BenchmarkScalarMult). It is checked against
// ProtonMail's implementation point by point and against the ICAO 9303-11
// Appendix G.1 PACE example (brainpoolP256r1) through both sides' PACE.
//
// Not constant-time (table lookups and additions depend on the scalar):
// the keys it handles are ephemeral session keys and the virtual chip's
// test keys, as with the math/big arithmetic it replaces.
package brainpool

import (
	"crypto/elliptic"
	"math/big"
	"sync"
)

type curve struct {
	params *elliptic.CurveParams
	a, b   fe // in Montgomery form
	g      point
}

var (
	once sync.Once
	p256 *curve
)

func hexInt(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("brainpool: bad constant")
	}
	return n
}

func initP256r1() {
	// RFC 5639 §3.4, brainpoolP256r1.
	params := &elliptic.CurveParams{
		Name:    "brainpoolP256r1",
		P:       hexInt("A9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377"),
		N:       hexInt("A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7"),
		B:       hexInt("26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6"),
		Gx:      hexInt("8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262"),
		Gy:      hexInt("547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997"),
		BitSize: 256,
	}
	initField(params.P)
	c := &curve{params: params}
	c.a = feFromBig(hexInt("7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9"))
	c.b = feFromBig(params.B)
	c.g = point{x: feFromBig(params.Gx), y: feFromBig(params.Gy), z: feOne}
	p256 = c
}

// P256r1 returns the brainpoolP256r1 curve (always the same value, so curves
// can be compared with ==).
func P256r1() elliptic.Curve {
	once.Do(initP256r1)
	return p256
}

// Params returns the curve's parameters. Note that its coefficient a is not
// -3: elliptic.CurveParams' own methods must not be used on them.
func (c *curve) Params() *elliptic.CurveParams { return c.params }

// inField: 0 ≤ v < p.
func (c *curve) inField(v *big.Int) bool {
	return v.Sign() >= 0 && v.Cmp(c.params.P) < 0
}

// IsOnCurve reports whether (x, y) satisfies y² = x³ + ax + b (mod p).
func (c *curve) IsOnCurve(x, y *big.Int) bool {
	if !c.inField(x) || !c.inField(y) {
		return false
	}
	fx, fy := feFromBig(x), feFromBig(y)
	return c.onCurve(&fx, &fy)
}

func (c *curve) onCurve(x, y *fe) bool {
	var lhs, rhs, t fe
	feSqr(&lhs, y)
	feSqr(&rhs, x)
	feAdd(&rhs, &rhs, &c.a)
	feMul(&rhs, &rhs, x)
	feAdd(&rhs, &rhs, &c.b)
	feSub(&t, &lhs, &rhs)
	return t.isZero()
}

// fromAffine converts (x, y) to a point; (0, 0) is the point at infinity,
// as in crypto/elliptic. A point not on the curve panics, as crypto/
// elliptic's own curves do: computing on it would give an attacker the
// invalid-curve attack, and returning any point instead would let ECDSA
// verification (crypto/ecdsa does not check the key of a custom curve)
// accept a forged signature. Callers validate what they receive with
// IsOnCurve (lds and the virtual chip do, when they parse a point).
func (c *curve) fromAffine(x, y *big.Int) point {
	if x.Sign() == 0 && y.Sign() == 0 {
		return point{}
	}
	if !c.IsOnCurve(x, y) {
		panic("brainpool: called on a point not on brainpoolP256r1")
	}
	return point{x: feFromBig(x), y: feFromBig(y), z: feOne}
}

// toAffine returns (X/Z², Y/Z³), or (0, 0) for the point at infinity.
func (c *curve) toAffine(q *point) (*big.Int, *big.Int) {
	if q.z.isZero() {
		return new(big.Int), new(big.Int)
	}
	var zinv, zinv2, x, y fe
	feInv(&zinv, &q.z)
	feSqr(&zinv2, &zinv)
	feMul(&x, &q.x, &zinv2)
	feMul(&zinv2, &zinv2, &zinv)
	feMul(&y, &q.y, &zinv2)
	return x.toBig(), y.toBig()
}

// Add returns the sum of two points.
func (c *curve) Add(x1, y1, x2, y2 *big.Int) (*big.Int, *big.Int) {
	p, q := c.fromAffine(x1, y1), c.fromAffine(x2, y2)
	var r point
	c.add(&r, &p, &q)
	return c.toAffine(&r)
}

// Double returns 2·(x, y).
func (c *curve) Double(x1, y1 *big.Int) (*big.Int, *big.Int) {
	p := c.fromAffine(x1, y1)
	c.double(&p, &p)
	return c.toAffine(&p)
}

// ScalarMult returns k·(x, y), k a big-endian integer of any length.
func (c *curve) ScalarMult(x1, y1 *big.Int, k []byte) (*big.Int, *big.Int) {
	p := c.fromAffine(x1, y1)
	var r point
	c.scalarMult(&r, &p, k)
	return c.toAffine(&r)
}

// ScalarBaseMult returns k·G, k a big-endian integer of any length.
func (c *curve) ScalarBaseMult(k []byte) (*big.Int, *big.Int) {
	if len(k) > 32 {
		// G has order n: reduce, so the fixed-base tables cover it.
		k = new(big.Int).Mod(new(big.Int).SetBytes(k), c.params.N).FillBytes(make([]byte, 32))
	}
	var r point
	c.scalarBaseMult(&r, k)
	return c.toAffine(&r)
}
