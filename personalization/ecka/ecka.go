// Package ecka is elliptic curve key agreement as the terminal runs it in
// PACE and Chip Authentication (ICAO Doc 9303 Part 11 §4.4, §6.2, §9.6):
// ECKA-DH of BSI TR-03111 §4.3.1 — ephemeral key pairs drawn from a random
// source, the shared point, and the shared secret as the x-coordinate in
// the field's full length (FE2OS, leading zeros kept).
//
// The curves are crypto/elliptic ones (NIST P-256) and brainpoolP256r1 from
// internal/brainpool. Public keys received must have
// been validated (lds.ParseECPoint) before they get here.
package ecka

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// ErrInfinity: a key agreement produced the point at infinity; the peer's
// key is not usable.
var ErrInfinity = errors.New("ecka: the point at infinity")

// GenerateKey draws a private key d in [1, n-1] from rnd — the order's byte
// length at a time, bits above the order's length cleared, drawn again when
// out of range (BSI TR-03111 §4.1.1, rejection sampling) — and returns it
// with its public key d·G. A known-answer test feeds the key's bytes.
func GenerateKey(c elliptic.Curve, rnd io.Reader) (*big.Int, *ecdsa.PublicKey, error) {
	d, err := randomScalar(c, rnd)
	if err != nil {
		return nil, nil, err
	}
	x, y := c.ScalarBaseMult(ScalarBytes(c, d))
	return d, &ecdsa.PublicKey{Curve: c, X: x, Y: y}, nil
}

// GenerateKeyOn is GenerateKey on another generator g of c (PACE's mapped
// generator G'): the public key is d·g.
func GenerateKeyOn(c elliptic.Curve, gx, gy *big.Int, rnd io.Reader) (*big.Int, *ecdsa.PublicKey, error) {
	d, err := randomScalar(c, rnd)
	if err != nil {
		return nil, nil, err
	}
	x, y := c.ScalarMult(gx, gy, ScalarBytes(c, d))
	if isInfinity(x, y) {
		return nil, nil, fmt.Errorf("ecka: public key: %w", ErrInfinity)
	}
	return d, &ecdsa.PublicKey{Curve: c, X: x, Y: y}, nil
}

func randomScalar(c elliptic.Curve, rnd io.Reader) (*big.Int, error) {
	n := c.Params().N
	b := make([]byte, (n.BitLen()+7)/8)
	excess := uint(len(b)*8 - n.BitLen())
	for range 64 {
		if _, err := io.ReadFull(rnd, b); err != nil {
			return nil, fmt.Errorf("ecka: private key: %w", err)
		}
		b[0] &= 0xFF >> excess
		d := new(big.Int).SetBytes(b)
		if d.Sign() > 0 && d.Cmp(n) < 0 {
			return d, nil
		}
	}
	return nil, errors.New("ecka: private key: the random source gives no usable value")
}

// ScalarBytes is d as the fixed-length big-endian octets ScalarMult takes.
func ScalarBytes(c elliptic.Curve, d *big.Int) []byte {
	return d.FillBytes(make([]byte, (c.Params().N.BitLen()+7)/8))
}

func isInfinity(x, y *big.Int) bool { return x.Sign() == 0 && y.Sign() == 0 }

// SharedPoint is d·P (BSI TR-03111 §4.3.1 step 1). P must be a validated
// point of c; the point at infinity is ErrInfinity.
func SharedPoint(c elliptic.Curve, d *big.Int, p *ecdsa.PublicKey) (x, y *big.Int, err error) {
	x, y = c.ScalarMult(p.X, p.Y, ScalarBytes(c, d))
	if isInfinity(x, y) {
		return nil, nil, fmt.Errorf("ecka: shared point: %w", ErrInfinity)
	}
	return x, y, nil
}

// SharedSecret is the x-coordinate of d·P as an octet string of the
// field's length, leading zeros kept (ICAO 9303-11 §9.6; BSI TR-03111
// §3.1.3 FE2OS, §4.3.1 step 3).
func SharedSecret(c elliptic.Curve, d *big.Int, p *ecdsa.PublicKey) ([]byte, error) {
	x, _, err := SharedPoint(c, d, p)
	if err != nil {
		return nil, err
	}
	return FE2OS(c, x), nil
}

// FE2OS is a field element as an octet string of the field's length (BSI
// TR-03111 §3.1.3).
func FE2OS(c elliptic.Curve, v *big.Int) []byte {
	return v.FillBytes(make([]byte, (c.Params().BitSize+7)/8))
}
