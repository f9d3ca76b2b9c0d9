package pace

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"fmt"
	"math/big"

	"github.com/cccd-station/station/personalization/ecka"
)

// mapGeneric is the Generic Mapping for ECDH (ICAO 9303-11 §4.4.3.3.1):
// H = SK_map,PCD · PK_map,IC, and the mapped generator G' = s·G + H, where
// s is the decrypted nonce as an integer. Neither may be the point at
// infinity. pkIC must be a validated point of c.
func mapGeneric(c elliptic.Curve, nonce []byte, skPCD *big.Int, pkIC *ecdsa.PublicKey) (hx, hy, gx, gy *big.Int, err error) {
	hx, hy, err = ecka.SharedPoint(c, skPCD, pkIC)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("%w: mapping: %w", ErrChipData, err)
	}
	sx, sy := c.ScalarBaseMult(nonce)
	gx, gy = c.Add(sx, sy, hx, hy)
	if gx.Sign() == 0 && gy.Sign() == 0 {
		return nil, nil, nil, nil, fmt.Errorf("%w: the mapped generator is the point at infinity", ErrChipData)
	}
	return hx, hy, gx, gy, nil
}
