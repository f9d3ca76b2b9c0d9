package brainpool

import "sync"

// point is a point in Jacobian coordinates: (X/Z², Y/Z³); Z = 0 is the
// point at infinity (the zero value).
type point struct {
	x, y, z fe
}

// double sets r = 2·p: "dbl-2007-bl" for y² = x³ + ax + b in Jacobian
// coordinates (Bernstein, Lange: Explicit-Formulas Database), any a
// (brainpoolP256r1's a is not -3). The point at infinity doubles to itself
// (Z3 = 0); the curve has prime order, so no point has Y = 0.
func (c *curve) double(r, p *point) {
	var xx, yy, yyyy, zz, s, m, t, u fe
	feSqr(&xx, &p.x)
	feSqr(&yy, &p.y)
	feSqr(&yyyy, &yy)
	feSqr(&zz, &p.z)
	// S = 2·((X1+YY)² - XX - YYYY)
	feAdd(&s, &p.x, &yy)
	feSqr(&s, &s)
	feSub(&s, &s, &xx)
	feSub(&s, &s, &yyyy)
	feAdd(&s, &s, &s)
	// M = 3·XX + a·ZZ²
	feSqr(&m, &zz)
	feMul(&m, &m, &c.a)
	feAdd(&m, &m, &xx)
	feAdd(&m, &m, &xx)
	feAdd(&m, &m, &xx)
	// Z3 = (Y1+Z1)² - YY - ZZ (before X1, Y1 may be overwritten)
	feAdd(&u, &p.y, &p.z)
	feSqr(&u, &u)
	feSub(&u, &u, &yy)
	feSub(&u, &u, &zz)
	// X3 = M² - 2·S
	feSqr(&t, &m)
	feSub(&t, &t, &s)
	feSub(&t, &t, &s)
	// Y3 = M·(S - X3) - 8·YYYY
	feSub(&s, &s, &t)
	feMul(&s, &s, &m)
	feAdd(&yyyy, &yyyy, &yyyy)
	feAdd(&yyyy, &yyyy, &yyyy)
	feAdd(&yyyy, &yyyy, &yyyy)
	feSub(&r.y, &s, &yyyy)
	r.x = t
	r.z = u
}

// add sets r = p + q: "add-2007-bl" (Explicit-Formulas Database), with the
// cases it does not cover: either point at infinity, p = q (doubled), and
// p = -q (the point at infinity).
func (c *curve) add(r, p, q *point) {
	if p.z.isZero() {
		*r = *q
		return
	}
	if q.z.isZero() {
		*r = *p
		return
	}
	var z1z1, z2z2, u1, u2, s1, s2, h, i, j, rr, v, t fe
	feSqr(&z1z1, &p.z)
	feSqr(&z2z2, &q.z)
	feMul(&u1, &p.x, &z2z2)
	feMul(&u2, &q.x, &z1z1)
	feMul(&s1, &p.y, &q.z)
	feMul(&s1, &s1, &z2z2)
	feMul(&s2, &q.y, &p.z)
	feMul(&s2, &s2, &z1z1)
	feSub(&h, &u2, &u1)
	feSub(&rr, &s2, &s1)
	if h.isZero() {
		if rr.isZero() {
			c.double(r, p)
			return
		}
		*r = point{}
		return
	}
	// I = (2H)², J = H·I, r = 2(S2 - S1), V = U1·I
	feAdd(&i, &h, &h)
	feSqr(&i, &i)
	feMul(&j, &h, &i)
	feAdd(&rr, &rr, &rr)
	feMul(&v, &u1, &i)
	// Z3 = ((Z1+Z2)² - Z1Z1 - Z2Z2)·H
	var z3 fe
	feAdd(&z3, &p.z, &q.z)
	feSqr(&z3, &z3)
	feSub(&z3, &z3, &z1z1)
	feSub(&z3, &z3, &z2z2)
	feMul(&z3, &z3, &h)
	// X3 = r² - J - 2V
	var x3 fe
	feSqr(&x3, &rr)
	feSub(&x3, &x3, &j)
	feSub(&x3, &x3, &v)
	feSub(&x3, &x3, &v)
	// Y3 = r·(V - X3) - 2·S1·J
	feSub(&t, &v, &x3)
	feMul(&t, &t, &rr)
	feMul(&s1, &s1, &j)
	feAdd(&s1, &s1, &s1)
	feSub(&r.y, &t, &s1)
	r.x, r.z = x3, z3
}

// scalarMult sets r = k·p, k big-endian: a fixed 4-bit window (16 multiples
// of p, then per nibble of k four doublings and one addition).
func (c *curve) scalarMult(r, p *point, k []byte) {
	var table [16]point // table[i] = i·p
	table[1] = *p
	for i := 2; i < 16; i++ {
		if i%2 == 0 {
			c.double(&table[i], &table[i/2])
		} else {
			c.add(&table[i], &table[i-1], p)
		}
	}
	var acc point
	for _, b := range k {
		for _, nib := range [2]byte{b >> 4, b & 0x0F} {
			for range 4 {
				c.double(&acc, &acc)
			}
			if nib != 0 {
				c.add(&acc, &acc, &table[nib])
			}
		}
	}
	*r = acc
}

// baseTable[w][i-1] = i·16^w·G for the 64 nibbles of a 32-byte scalar: a
// fixed-base comb, so k·G is at most 64 additions and no doubling.
var (
	baseOnce  sync.Once
	baseTable *[64][15]point
)

func (c *curve) initBaseTable() {
	t := new([64][15]point)
	g := c.g
	for w := 0; w < 64; w++ {
		t[w][0] = g
		for i := 1; i < 15; i++ {
			c.add(&t[w][i], &t[w][i-1], &g)
		}
		// g = 16·g for the next window
		for range 4 {
			c.double(&g, &g)
		}
	}
	baseTable = t
}

// scalarBaseMult sets r = k·G, k big-endian of at most 32 bytes.
func (c *curve) scalarBaseMult(r *point, k []byte) {
	baseOnce.Do(c.initBaseTable)
	var acc point
	w := 0
	for i := len(k) - 1; i >= 0; i-- {
		for _, nib := range [2]byte{k[i] & 0x0F, k[i] >> 4} {
			if nib != 0 {
				c.add(&acc, &acc, &baseTable[w][nib-1])
			}
			w++
		}
	}
	*r = acc
}
