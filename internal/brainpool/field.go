package brainpool

import (
	"math/big"
	"math/bits"
)

// fe is an element of GF(p), p the brainpoolP256r1 prime, in Montgomery form
// (x·2^256 mod p), as four 64-bit limbs, least significant first. Every
// operation leaves its result fully reduced (< p).
type fe [4]uint64

// Field constants, derived once from p (RFC 5639 §3.4).
var (
	fieldP  fe     // p
	fieldN0 uint64 // -p⁻¹ mod 2^64: Montgomery reduction's factor
	fieldR2 fe     // 2^512 mod p: converts into Montgomery form
	feOne   fe     // 1 in Montgomery form (2^256 mod p)
)

func initField(p *big.Int) {
	fieldP = limbs(p)
	// Newton's iteration doubles the correct low bits each step:
	// 1 → 2 → … → 64 bits after 6 steps (p is odd).
	inv := uint64(1)
	for i := 0; i < 6; i++ {
		inv *= 2 - fieldP[0]*inv
	}
	fieldN0 = -inv
	r := new(big.Int).Lsh(big.NewInt(1), 256)
	feOne = limbs(new(big.Int).Mod(r, p))
	fieldR2 = limbs(new(big.Int).Mod(new(big.Int).Mul(r, r), p))
}

// limbs splits a non-negative integer below 2^256 into limbs.
func limbs(x *big.Int) fe {
	var b [32]byte
	x.FillBytes(b[:])
	var z fe
	for i := 0; i < 4; i++ {
		for j := 0; j < 8; j++ {
			z[i] |= uint64(b[31-8*i-j]) << (8 * j)
		}
	}
	return z
}

// feFromBig sets z to x (0 ≤ x < p) in Montgomery form.
func feFromBig(x *big.Int) fe {
	z := limbs(x)
	feMul(&z, &z, &fieldR2)
	return z
}

// toBig returns x out of Montgomery form.
func (x *fe) toBig() *big.Int {
	var one = fe{1}
	var z fe
	feMul(&z, x, &one)
	var b [32]byte
	for i := 0; i < 4; i++ {
		for j := 0; j < 8; j++ {
			b[31-8*i-j] = byte(z[i] >> (8 * j))
		}
	}
	return new(big.Int).SetBytes(b[:])
}

func (x *fe) isZero() bool { return x[0]|x[1]|x[2]|x[3] == 0 }

// reduceOnce sets z to t mod p for t = carry·2^256 + (t0..t3) < 2p.
func reduceOnce(z *fe, t0, t1, t2, t3, carry uint64) {
	s0, b := bits.Sub64(t0, fieldP[0], 0)
	s1, b := bits.Sub64(t1, fieldP[1], b)
	s2, b := bits.Sub64(t2, fieldP[2], b)
	s3, b := bits.Sub64(t3, fieldP[3], b)
	_, b = bits.Sub64(carry, 0, b)
	// b = 1: t < p, keep t. Selected without branching on the value.
	mask := -b
	z[0] = t0&mask | s0&^mask
	z[1] = t1&mask | s1&^mask
	z[2] = t2&mask | s2&^mask
	z[3] = t3&mask | s3&^mask
}

// feAdd sets z = x + y mod p.
func feAdd(z, x, y *fe) {
	t0, c := bits.Add64(x[0], y[0], 0)
	t1, c := bits.Add64(x[1], y[1], c)
	t2, c := bits.Add64(x[2], y[2], c)
	t3, c := bits.Add64(x[3], y[3], c)
	reduceOnce(z, t0, t1, t2, t3, c)
}

// feSub sets z = x - y mod p.
func feSub(z, x, y *fe) {
	t0, b := bits.Sub64(x[0], y[0], 0)
	t1, b := bits.Sub64(x[1], y[1], b)
	t2, b := bits.Sub64(x[2], y[2], b)
	t3, b := bits.Sub64(x[3], y[3], b)
	// On borrow add p back.
	mask := -b
	var c uint64
	z[0], c = bits.Add64(t0, fieldP[0]&mask, 0)
	z[1], c = bits.Add64(t1, fieldP[1]&mask, c)
	z[2], c = bits.Add64(t2, fieldP[2]&mask, c)
	z[3], _ = bits.Add64(t3, fieldP[3]&mask, c)
}

// feMul sets z = x·y·2^-256 mod p: Montgomery multiplication, coarsely
// integrated operand scanning (Koç, Acar, Kaliski, "Analyzing and comparing
// Montgomery multiplication algorithms", IEEE Micro 1996). z may alias x or y.
func feMul(z, x, y *fe) {
	var t [6]uint64
	for i := 0; i < 4; i++ {
		// t += x·y[i]
		var c uint64
		for j := 0; j < 4; j++ {
			hi, lo := bits.Mul64(x[j], y[i])
			var cc uint64
			lo, cc = bits.Add64(lo, t[j], 0)
			hi += cc
			lo, cc = bits.Add64(lo, c, 0)
			hi += cc
			t[j], c = lo, hi
		}
		var cc uint64
		t[4], cc = bits.Add64(t[4], c, 0)
		t[5] = cc
		// t = (t + m·p) / 2^64, with m making the low limb zero.
		m := t[0] * fieldN0
		hi, lo := bits.Mul64(m, fieldP[0])
		_, cc = bits.Add64(lo, t[0], 0)
		c = hi + cc
		for j := 1; j < 4; j++ {
			hi, lo := bits.Mul64(m, fieldP[j])
			lo, cc = bits.Add64(lo, t[j], 0)
			hi += cc
			lo, cc = bits.Add64(lo, c, 0)
			hi += cc
			t[j-1], c = lo, hi
		}
		t[3], cc = bits.Add64(t[4], c, 0)
		t[4] = t[5] + cc
		t[5] = 0
	}
	reduceOnce(z, t[0], t[1], t[2], t[3], t[4])
}

func feSqr(z, x *fe) { feMul(z, x, x) }

// feInv sets z = x⁻¹ mod p (0 for 0) by Fermat's little theorem:
// x^(p-2), square and multiply over the bits of p-2.
func feInv(z, x *fe) {
	e := fieldP
	e[0] -= 2 // p is odd and its low limb above 2: no borrow
	r := feOne
	for i := 3; i >= 0; i-- {
		for j := 63; j >= 0; j-- {
			feSqr(&r, &r)
			if e[i]>>uint(j)&1 == 1 {
				feMul(&r, &r, x)
			}
		}
	}
	*z = r
}
