package ecka

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"math/big"
	"testing"

	"github.com/cccd-station/station/internal/brainpool"
)

// GenerateKey takes the order's byte length from rnd and skips values out
// of [1, n-1]: a known-answer test's key bytes come out as the key.
func TestGenerateKeyDrawsAgainOutsideTheRange(t *testing.T) {
	c := brainpool.P256r1()
	n := c.Params().N
	want := big.NewInt(0x1234)
	src := bytes.Join([][]byte{
		make([]byte, 32),               // 0
		n.FillBytes(make([]byte, 32)),  // n
		bytes.Repeat([]byte{0xFF}, 32), // above n
		want.FillBytes(make([]byte, 32)),
	}, nil)
	d, pub, err := GenerateKey(c, bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if d.Cmp(want) != 0 {
		t.Errorf("d = %X, want %X", d, want)
	}
	x, y := c.ScalarBaseMult(want.Bytes())
	if pub.X.Cmp(x) != 0 || pub.Y.Cmp(y) != 0 || !c.IsOnCurve(pub.X, pub.Y) {
		t.Errorf("public key is not d·G")
	}
	if _, _, err := GenerateKey(c, bytes.NewReader(make([]byte, 31))); err == nil {
		t.Error("a short random source gave a key")
	}
}

// The shared secret is the x-coordinate at the field's full length: one
// with a leading zero byte keeps it.
func TestSharedSecretKeepsLeadingZeros(t *testing.T) {
	for _, c := range []elliptic.Curve{brainpool.P256r1(), elliptic.P256()} {
		g := &ecdsa.PublicKey{Curve: c, X: c.Params().Gx, Y: c.Params().Gy}
		// d·G for d = 1, 2, … until x < 2^248.
		d := big.NewInt(1)
		x, y := c.Params().Gx, c.Params().Gy
		for x.BitLen() > 248 {
			d.Add(d, big.NewInt(1))
			x, y = c.Add(x, y, g.X, g.Y)
		}
		k, err := SharedSecret(c, d, g)
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != 32 || k[0] != 0 || new(big.Int).SetBytes(k).Cmp(x) != 0 {
			t.Errorf("%s: K = %X for x = %X", c.Params().Name, k, x)
		}
	}
}

// On P-256 our agreement is crypto/ecdh's.
func TestSharedSecretIsCryptoECDHsOnP256(t *testing.T) {
	a, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := a.ECDH(b.PublicKey())
	pb := b.PublicKey().Bytes()
	c := elliptic.P256()
	pub := &ecdsa.PublicKey{Curve: c, X: new(big.Int).SetBytes(pb[1:33]), Y: new(big.Int).SetBytes(pb[33:])}
	got, err := SharedSecret(c, new(big.Int).SetBytes(a.Bytes()), pub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("K:\n got %X\nwant %X", got, want)
	}
}

func TestSharedPointRefusesInfinity(t *testing.T) {
	c := brainpool.P256r1()
	g := &ecdsa.PublicKey{Curve: c, X: c.Params().Gx, Y: c.Params().Gy}
	if _, _, err := SharedPoint(c, c.Params().N, g); !errors.Is(err, ErrInfinity) {
		t.Errorf("n·G: %v", err)
	}
}
