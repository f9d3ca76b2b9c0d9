package brainpool

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	mrand "math/rand/v2"
	"strings"
	"testing"

	reference "github.com/ProtonMail/go-crypto/brainpool"
)

// The parameters are RFC 5639's, as the reference implementation has them.
func TestParametersAreRFC5639s(t *testing.T) {
	got, want := P256r1().Params(), reference.P256r1().Params()
	for name, pair := range map[string][2]*big.Int{
		"P": {got.P, want.P}, "N": {got.N, want.N},
		"Gx": {got.Gx, want.Gx}, "Gy": {got.Gy, want.Gy},
	} {
		if pair[0].Cmp(pair[1]) != 0 {
			t.Errorf("%s = %X, want %X", name, pair[0], pair[1])
		}
	}
	// The reference's parameters do not carry b; RFC 5639 §3.4's b, with
	// G on the curve, checks ours (TestIsOnCurve).
	if want := "26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6"; got.B.Text(16) != strings.ToLower(want) {
		t.Errorf("B = %X", got.B)
	}
	if got.BitSize != 256 || got.Name != "brainpoolP256r1" {
		t.Errorf("BitSize %d, Name %q", got.BitSize, got.Name)
	}
	if P256r1() != P256r1() {
		t.Error("P256r1 returns different values: curves are compared with ==")
	}
}

// The field arithmetic agrees with math/big on random and edge values.
func TestFieldArithmeticAgreesWithMathBig(t *testing.T) {
	P256r1()
	p := P256r1().Params().P
	rng := mrand.New(mrand.NewPCG(1, 2))
	pm1 := new(big.Int).Sub(p, big.NewInt(1))
	edges := []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(2), pm1, new(big.Int).Rsh(p, 1),
		new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(1))}
	random := func() *big.Int {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return new(big.Int).Mod(new(big.Int).SetBytes(b), p)
	}
	vals := append([]*big.Int{}, edges...)
	for range 200 {
		vals = append(vals, random())
	}
	mod := func(x *big.Int) *big.Int { return x.Mod(x, p) }
	for i, x := range vals {
		y := vals[(i*7+3)%len(vals)]
		fx, fy := feFromBig(x), feFromBig(y)
		if got := fx.toBig(); got.Cmp(x) != 0 {
			t.Fatalf("round trip of %X gives %X", x, got)
		}
		var z fe
		feMul(&z, &fx, &fy)
		if want := mod(new(big.Int).Mul(x, y)); z.toBig().Cmp(want) != 0 {
			t.Fatalf("%X·%X = %X, want %X", x, y, z.toBig(), want)
		}
		feAdd(&z, &fx, &fy)
		if want := mod(new(big.Int).Add(x, y)); z.toBig().Cmp(want) != 0 {
			t.Fatalf("%X+%X = %X, want %X", x, y, z.toBig(), want)
		}
		feSub(&z, &fx, &fy)
		if want := mod(new(big.Int).Sub(x, y)); z.toBig().Cmp(want) != 0 {
			t.Fatalf("%X-%X = %X, want %X", x, y, z.toBig(), want)
		}
		if x.Sign() != 0 && i < 40 {
			feInv(&z, &fx)
			if want := new(big.Int).ModInverse(x, p); z.toBig().Cmp(want) != 0 {
				t.Fatalf("1/%X = %X, want %X", x, z.toBig(), want)
			}
		}
	}
}

func samePoint(t *testing.T, what string, x1, y1, x2, y2 *big.Int) {
	t.Helper()
	if x1.Cmp(x2) != 0 || y1.Cmp(y2) != 0 {
		t.Fatalf("%s: (%X, %X), the reference gives (%X, %X)", what, x1, y1, x2, y2)
	}
}

// Scalar multiplications, additions and doublings give the reference's
// points, for random scalars of several lengths and the edge scalars.
func TestPointsAgreeWithTheReference(t *testing.T) {
	c, ref := P256r1(), reference.P256r1()
	n := c.Params().N
	nm1 := new(big.Int).Sub(n, big.NewInt(1)).Bytes()
	scalars := [][]byte{{}, {0}, {1}, {2}, {15}, {16}, {0xFF}, nm1, n.Bytes(),
		new(big.Int).Add(n, big.NewInt(5)).Bytes(), make([]byte, 40)}
	rng := mrand.New(mrand.NewPCG(3, 4))
	for _, l := range []int{16, 31, 32, 32, 32, 33, 48} {
		k := make([]byte, l)
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		scalars = append(scalars, k)
	}
	scalars[len(scalars)-1][0] = 0xFF
	gx, gy := c.Params().Gx, c.Params().Gy
	// A second point, away from G.
	qx, qy := ref.ScalarBaseMult([]byte{0x12, 0x34, 0x56})
	for i, k := range scalars {
		x, y := c.ScalarBaseMult(k)
		wx, wy := ref.ScalarBaseMult(k)
		samePoint(t, "ScalarBaseMult", x, y, wx, wy)
		x, y = c.ScalarMult(qx, qy, k)
		wx, wy = ref.ScalarMult(qx, qy, k)
		samePoint(t, "ScalarMult", x, y, wx, wy)
		x, y = c.ScalarMult(gx, gy, k)
		wx, wy = ref.ScalarBaseMult(k)
		samePoint(t, "ScalarMult(G)", x, y, wx, wy)
		if i > 0 && !(x.Sign() == 0 && y.Sign() == 0) && !c.IsOnCurve(x, y) {
			t.Fatalf("k·G for k=%X is not on the curve", k)
		}
		// Add and Double, including P + P, P + (-P) and P + O.
		ax, ay := c.Add(x, y, qx, qy)
		rx, ry := ref.Add(wx, wy, qx, qy)
		if x.Sign() != 0 || y.Sign() != 0 {
			samePoint(t, "Add", ax, ay, rx, ry)
			dx, dy := c.Double(x, y)
			ex, ey := ref.Double(wx, wy)
			samePoint(t, "Double", dx, dy, ex, ey)
			sx, sy := c.Add(x, y, x, y)
			samePoint(t, "P+P", sx, sy, ex, ey)
			ny := new(big.Int).Sub(c.Params().P, y)
			if zx, zy := c.Add(x, y, x, ny); zx.Sign() != 0 || zy.Sign() != 0 {
				t.Fatalf("P + (-P) = (%X, %X), want the point at infinity", zx, zy)
			}
		} else {
			samePoint(t, "O + Q", ax, ay, qx, qy)
		}
	}
	// n·G and 0·G are the point at infinity; (n-1)·G = -G.
	for _, k := range [][]byte{n.Bytes(), {}, {0, 0}} {
		if x, y := c.ScalarBaseMult(k); x.Sign() != 0 || y.Sign() != 0 {
			t.Errorf("%X·G = (%X, %X), want the point at infinity", k, x, y)
		}
	}
	x, y := c.ScalarBaseMult(nm1)
	if x.Cmp(gx) != 0 || new(big.Int).Add(y, gy).Cmp(c.Params().P) != 0 {
		t.Error("(n-1)·G is not -G")
	}
}

func TestIsOnCurve(t *testing.T) {
	c := P256r1()
	p := c.Params()
	if !c.IsOnCurve(p.Gx, p.Gy) {
		t.Fatal("G is not on the curve")
	}
	for name, xy := range map[string][2]*big.Int{
		"y+1":      {p.Gx, new(big.Int).Add(p.Gy, big.NewInt(1))},
		"x+p":      {new(big.Int).Add(p.Gx, p.P), p.Gy},
		"negative": {new(big.Int).Neg(p.Gx), p.Gy},
		"infinity": {new(big.Int), new(big.Int)},
	} {
		if c.IsOnCurve(xy[0], xy[1]) {
			t.Errorf("%s: on the curve", name)
		}
	}
}

// A point off the curve panics, as crypto/elliptic's own curves do, rather
// than letting ECDSA verification accept a forgery under an invalid key.
func TestAPointOffTheCurvePanics(t *testing.T) {
	c := P256r1()
	p := c.Params()
	defer func() {
		if recover() == nil {
			t.Fatal("ScalarMult on a point off the curve did not panic")
		}
	}()
	c.ScalarMult(p.Gx, new(big.Int).Add(p.Gy, big.NewInt(1)), []byte{3})
}

// crypto/ecdsa signs and verifies with it, and each side verifies the
// other's signatures.
func TestECDSAAcrossImplementations(t *testing.T) {
	msg := sha256.Sum256([]byte("challenge"))
	for _, pair := range [][2]elliptic.Curve{{P256r1(), reference.P256r1()}, {reference.P256r1(), P256r1()}} {
		key, err := ecdsa.GenerateKey(pair[0], rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := ecdsa.SignASN1(rand.Reader, key, msg[:])
		if err != nil {
			t.Fatal(err)
		}
		other := &ecdsa.PublicKey{Curve: pair[1], X: key.X, Y: key.Y}
		if !ecdsa.VerifyASN1(other, msg[:], sig) {
			t.Fatal("a signature does not verify with the other implementation")
		}
		bad := sha256.Sum256([]byte("another"))
		if ecdsa.VerifyASN1(other, bad[:], sig) {
			t.Fatal("a signature verifies over another message")
		}
	}
}

func BenchmarkScalarMult(b *testing.B) {
	k := make([]byte, 32)
	rand.Read(k)
	for name, c := range map[string]elliptic.Curve{"ours": P256r1(), "reference": reference.P256r1()} {
		qx, qy := c.ScalarBaseMult([]byte{7})
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				c.ScalarMult(qx, qy, k)
			}
		})
		b.Run(name+"-base", func(b *testing.B) {
			for b.Loop() {
				c.ScalarBaseMult(k)
			}
		})
	}
}
