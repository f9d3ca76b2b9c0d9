package pace

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"errors"
	"math/big"
	"testing"

	"github.com/cccd-station/station/internal/brainpool"
	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/cmac"
	"github.com/cccd-station/station/personalization/lds"
)

// testChip is this test's chip side of PACE-ECDH-GM-AES-128 (ICAO 9303-11
// §4.4), written from the spec with crypto/aes, crypto/sha1 and math/big: a
// test of the terminal against a chip that is not a recording.
type testChip struct {
	t     *testing.T
	curve elliptic.Curve
	can   string
	// behaviour
	leadingZero bool // choose the ephemeral key so that K starts with 00
	badMapping  bool // answer a mapping key off the curve
	echoKey     bool // answer the terminal's own ephemeral key
	badToken    bool // answer a wrong T_IC

	step            int
	kpi, s          []byte
	skMap, skEph    *big.Int
	gx, gy          *big.Int
	pkPCD, pkIC     []byte
	k, ksEnc, ksMac []byte
}

func (c *testChip) fe(v *big.Int) []byte { return v.FillBytes(make([]byte, 32)) }

func (c *testChip) point(x, y *big.Int) []byte {
	return append(append([]byte{4}, c.fe(x)...), c.fe(y)...)
}

func (c *testChip) scalar() *big.Int {
	k, err := rand.Int(rand.Reader, new(big.Int).Sub(c.curve.Params().N, big.NewInt(1)))
	if err != nil {
		c.t.Fatal(err)
	}
	return k.Add(k, big.NewInt(1))
}

func (c *testChip) kdf(secret []byte, n byte) []byte {
	h := sha1.Sum(append(bytes.Clone(secret), 0, 0, 0, n))
	return h[:16]
}

func (c *testChip) token(point []byte) []byte {
	b, _ := aes.NewCipher(c.ksMac)
	oid := []byte{0x06, 0x0A, 0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x04, 0x02, 0x02}
	obj := append(append([]byte{0x7F, 0x49, byte(len(oid) + 2 + len(point))}, oid...), 0x86, byte(len(point)))
	return cmac.Sum(b, append(obj, point...))[:8]
}

// ga returns the value of the one data object in 7C of a command.
func (c *testChip) ga(cmd []byte) []byte {
	body := cmd[5 : 5+int(cmd[4])]
	if body[0] != 0x7C || len(body) < 2 {
		c.t.Fatalf("GENERAL AUTHENTICATE %X", cmd)
	}
	if body[1] == 0 {
		return nil
	}
	return body[4:]
}

func ok(b ...[]byte) []byte { return append(bytes.Join(b, nil), 0x90, 0x00) }

func (c *testChip) Transmit(cmd []byte) ([]byte, error) {
	t := c.t
	cur := c.curve
	c.step++
	switch c.step {
	case 1: // MSE:Set AT
		if cmd[1] != 0x22 || cmd[2] != 0xC1 || cmd[3] != 0xA4 {
			t.Fatalf("MSE:Set AT %X", cmd)
		}
		if ref := cmd[len(cmd)-4]; ref != RefCAN {
			t.Fatalf("password reference %02X", ref)
		}
		h := sha1.Sum(append([]byte(c.can), 0, 0, 0, 3))
		c.kpi = h[:16]
		return []byte{0x90, 0x00}, nil
	case 2: // encrypted nonce
		c.s = make([]byte, 16)
		rand.Read(c.s)
		b, _ := aes.NewCipher(c.kpi)
		z := make([]byte, 16)
		cipher.NewCBCEncrypter(b, make([]byte, 16)).CryptBlocks(z, c.s)
		return ok([]byte{0x7C, 0x12, 0x80, 0x10}, z), nil
	case 3: // mapping: H = SK_map,IC · PK_map,PCD, G' = s·G + H
		pk := c.ga(cmd)
		px, py := new(big.Int).SetBytes(pk[1:33]), new(big.Int).SetBytes(pk[33:])
		c.skMap = c.scalar()
		hx, hy := cur.ScalarMult(px, py, c.skMap.Bytes())
		sx, sy := cur.ScalarBaseMult(c.s)
		c.gx, c.gy = cur.Add(sx, sy, hx, hy)
		x, y := cur.ScalarBaseMult(c.skMap.Bytes())
		mine := c.point(x, y)
		if c.badMapping {
			mine[64] ^= 1
		}
		return ok([]byte{0x7C, 0x43, 0x82, 0x41}, mine), nil
	case 4: // key agreement on G'
		c.pkPCD = c.ga(cmd)
		px, py := new(big.Int).SetBytes(c.pkPCD[1:33]), new(big.Int).SetBytes(c.pkPCD[33:])
		c.skEph = c.scalar()
		kx, ky := cur.ScalarMult(px, py, c.skEph.Bytes())
		for c.leadingZero && kx.BitLen() > 248 {
			// SK+1: K moves by PK_PCD; about 256 tries to a leading 00.
			c.skEph.Add(c.skEph, big.NewInt(1))
			kx, ky = cur.Add(kx, ky, px, py)
		}
		c.k = c.fe(kx)
		c.ksEnc, c.ksMac = c.kdf(c.k, 1), c.kdf(c.k, 2)
		x, y := cur.ScalarMult(c.gx, c.gy, c.skEph.Bytes())
		c.pkIC = c.point(x, y)
		if c.echoKey {
			c.pkIC = c.pkPCD
		}
		return ok([]byte{0x7C, 0x43, 0x84, 0x41}, c.pkIC), nil
	case 5: // tokens
		if got := c.ga(cmd); !bytes.Equal(got, c.token(c.pkIC)) {
			return []byte{0x63, 0x00}, nil
		}
		tIC := c.token(c.pkPCD)
		if c.badToken {
			tIC[7] ^= 1
		}
		return ok([]byte{0x7C, 0x0A, 0x86, 0x08}, tIC), nil
	}
	t.Fatalf("command after PACE: %X", cmd)
	return nil, nil
}

func TestPACEWithTheCANAgreesWithAChip(t *testing.T) {
	for _, c := range []struct {
		name  string
		curve elliptic.Curve
		p     Params
	}{
		{"brainpoolP256r1", brainpool.P256r1(), CCCD},
		{"NIST P-256", elliptic.P256(), Params{Protocol: lds.OIDPACEECDHGMAES128, ParameterID: 12}},
	} {
		chip := &testChip{t: t, curve: c.curve, can: "246810"}
		ch, err := Establish(chip, CAN("246810"), c.p, rand.Reader)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ch.Suite() != "AES" {
			t.Errorf("%s: suite %s", c.name, ch.Suite())
		}
	}
}

// The shared secret is the x-coordinate at the field's full length (ICAO
// 9303-11 §9.6): when it starts with a zero byte, the byte stays, or the
// tokens disagree. The chip here picks its key so that it does.
func TestPACEKeepsTheLeadingZeroOfTheSharedSecret(t *testing.T) {
	for _, c := range []struct {
		curve elliptic.Curve
		id    int
	}{{brainpool.P256r1(), 13}, {elliptic.P256(), 12}} {
		cur := c.curve
		chip := &testChip{t: t, curve: cur, can: "246810", leadingZero: true}
		tm, err := establish(chip, CAN("246810"), Params{Protocol: lds.OIDPACEECDHGMAES128, ParameterID: c.id}, rand.Reader)
		if err != nil {
			t.Fatalf("%s: %v", cur.Params().Name, err)
		}
		if len(tm.k) != 32 || tm.k[0] != 0 {
			t.Fatalf("%s: K = %X, a leading zero byte expected", cur.Params().Name, tm.k)
		}
		if !bytes.Equal(tm.k, chip.k) || !bytes.Equal(tm.ksMac, chip.ksMac) {
			t.Errorf("%s: K\n got %X\nchip %X", cur.Params().Name, tm.k, chip.k)
		}
	}
}

func TestPACEErrorsNameTheFailedCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		chip *testChip
		pw   Password
		want error
	}{
		{"wrong CAN: the chip refuses our token", &testChip{can: "246810"}, CAN("135790"), ErrRefused},
		{"a wrong chip token", &testChip{can: "246810", badToken: true}, CAN("246810"), ErrToken},
		{"a mapping key off the curve", &testChip{can: "246810", badMapping: true}, CAN("246810"), ErrChipData},
		{"the chip echoes our ephemeral key", &testChip{can: "246810", echoKey: true}, CAN("246810"), ErrChipData},
	} {
		c.chip.t, c.chip.curve = t, brainpool.P256r1()
		_, err := Establish(c.chip, c.pw, CCCD, rand.Reader)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// The wrong CAN's refusal carries the chip's status word.
	chip := &testChip{t: t, curve: brainpool.P256r1(), can: "246810"}
	_, err := Establish(chip, CAN("000000"), CCCD, rand.Reader)
	var se *pcsc.StatusError
	if !errors.As(err, &se) || se.SW != 0x6300 {
		t.Errorf("wrong CAN: %v", err)
	}
}
