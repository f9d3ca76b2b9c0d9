package personalization

import (
	"crypto"
	"crypto/ecdsa"
	"encoding/asn1"
	"fmt"
	"math/big"

	_ "crypto/sha1" // the hashes ECDSA Active Authentication may name
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// ecdsa-plain-SHA* (BSI TR-03111 §5.2.1): the signature algorithms of ECDSA
// Active Authentication, named by DG14's ActiveAuthenticationInfo (ICAO
// 9303-11 §9.2.8).
var ecdsaPlain = map[string]crypto.Hash{
	"0.4.0.127.0.7.1.1.4.1.1": crypto.SHA1,
	"0.4.0.127.0.7.1.1.4.1.2": crypto.SHA224,
	"0.4.0.127.0.7.1.1.4.1.3": crypto.SHA256,
	"0.4.0.127.0.7.1.1.4.1.4": crypto.SHA384,
	"0.4.0.127.0.7.1.1.4.1.5": crypto.SHA512,
}

// ECDSAPlainHash returns the hash of an ecdsa-plain-SHA* signature
// algorithm OID (BSI TR-03111 §5.2.1).
func ECDSAPlainHash(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	h, ok := ecdsaPlain[oid.String()]
	if !ok {
		return 0, fmt.Errorf("%w: signature algorithm %v is not ecdsa-plain-SHA*", ErrActiveAuthentication, oid)
	}
	return h, nil
}

// VerifyECDSAPlain checks an ECDSA Active Authentication signature (ICAO
// 9303-11 §6.1) with SHA-256, what the cccd profile's chips use
// (ecdsa-plain-SHA256): VerifyECDSAPlainWith(pub, crypto.SHA256, …).
func VerifyECDSAPlain(pub *ecdsa.PublicKey, challenge, sig []byte) error {
	return VerifyECDSAPlainWith(pub, crypto.SHA256, challenge, sig)
}

// VerifyECDSAPlainWith checks a plain ECDSA signature r ‖ s (BSI TR-03111
// §5.2.1: each the length of the order in bytes) over the hash h of the
// challenge, with the chip's public key from DG15 — NIST P-256 or
// brainpoolP256r1 (crypto/ecdsa verifies curves other than NIST's through
// its generic implementation). A failure wraps ErrActiveAuthentication.
func VerifyECDSAPlainWith(pub *ecdsa.PublicKey, h crypto.Hash, challenge, sig []byte) error {
	if pub == nil || pub.Curve == nil || pub.X == nil || pub.Y == nil {
		return fmt.Errorf("%w: no ECDSA key", ErrActiveAuthentication)
	}
	if !h.Available() {
		return fmt.Errorf("%w: hash %v not available", ErrActiveAuthentication, h)
	}
	n := (pub.Curve.Params().N.BitLen() + 7) / 8
	if len(sig) != 2*n {
		return fmt.Errorf("%w: plain ECDSA signature of %d bytes, %d expected", ErrActiveAuthentication, len(sig), 2*n)
	}
	d := h.New()
	d.Write(challenge)
	r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
	if !ecdsa.Verify(pub, d.Sum(nil), r, s) {
		return fmt.Errorf("%w: the ECDSA signature does not verify", ErrActiveAuthentication)
	}
	return nil
}
