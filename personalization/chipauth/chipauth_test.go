package chipauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/cccd-station/station/internal/brainpool"
	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/sm"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %X\nwant %X", what, got, want)
	}
}

// Fixed keys: the chip's static key d_IC and the terminal's ephemeral key
// d_PCD, on brainpoolP256r1.
const (
	chipPrivate     = "0A1B2C3D4E5F60718293A4B5C6D7E8F90112233445566778899AABBCCDDEEFF0"
	terminalPrivate = "7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99"
)

// chip is this test's chip side of Chip Authentication at the layer above
// secure messaging: it checks the plain commands, and computes the shared
// secret from its private key and the terminal's public key.
type chip struct {
	t        *testing.T
	curve    elliptic.Curve
	d        *big.Int
	wantMSE  []byte
	mseSW    []byte
	gaResp   []byte
	calls    int
	k        []byte // the shared secret, once computed
	rekeyed  [][]byte
	terminal *ecdsa.PublicKey
}

func newChip(t *testing.T, c elliptic.Curve, d string) *chip {
	return &chip{t: t, curve: c, d: new(big.Int).SetBytes(unhex(t, d)),
		wantMSE: unhex(t, "002241A40C800A04007F00070202030202"), mseSW: []byte{0x90, 0x00}, gaResp: []byte{0x7C, 0x00, 0x90, 0x00}}
}

func (c *chip) public() *ecdsa.PublicKey {
	x, y := c.curve.ScalarBaseMult(c.d.Bytes())
	return &ecdsa.PublicKey{Curve: c.curve, X: x, Y: y}
}

func (c *chip) Transmit(cmd []byte) ([]byte, error) {
	t := c.t
	c.calls++
	switch c.calls {
	case 1:
		eq(t, "MSE:Set AT", cmd, c.wantMSE)
		return c.mseSW, nil
	case 2:
		// 00 86 00 00 45 7C 43 80 41 04‖X‖Y 00
		if len(cmd) != 4+1+0x45+1 || !bytes.Equal(cmd[:9], unhex(t, "00860000457C438041")) || cmd[len(cmd)-1] != 0 {
			t.Fatalf("GENERAL AUTHENTICATE %X", cmd)
		}
		pk, err := lds.ParseECPoint(c.curve, cmd[9:9+65])
		if err != nil {
			t.Fatal(err)
		}
		c.terminal = pk
		x, _ := c.curve.ScalarMult(pk.X, pk.Y, c.d.Bytes())
		c.k = x.FillBytes(make([]byte, 32))
		return c.gaResp, nil
	}
	t.Fatalf("unexpected command %X", cmd)
	return nil, nil
}

func (c *chip) Rekey(ksEnc, ksMac []byte) error {
	c.rekeyed = [][]byte{ksEnc, ksMac}
	return nil
}

// kdf is ICAO 9303-11 §9.7.1 for AES-128, by hand.
func kdf(k []byte, counter byte) []byte {
	h := sha1.Sum(append(bytes.Clone(k), 0, 0, 0, counter))
	return h[:16]
}

func TestChipAuthenticationRekeysWithTheKDFOfTheECDHSecret(t *testing.T) {
	c := newChip(t, brainpool.P256r1(), chipPrivate)
	if err := Authenticate(c, CCCD, c.public(), bytes.NewReader(unhex(t, terminalPrivate))); err != nil {
		t.Fatal(err)
	}
	// The terminal's ephemeral key is d_PCD·G.
	x, y := c.curve.ScalarBaseMult(unhex(t, terminalPrivate))
	if c.terminal.X.Cmp(x) != 0 || c.terminal.Y.Cmp(y) != 0 {
		t.Errorf("ephemeral public key is not d_PCD·G")
	}
	if c.rekeyed == nil {
		t.Fatal("the channel was not restarted")
	}
	eq(t, "KS_enc", c.rekeyed[0], kdf(c.k, 1))
	eq(t, "KS_mac", c.rekeyed[1], kdf(c.k, 2))
	// The same values, pinned.
	eq(t, "K", c.k, unhex(t, "A3A3D192FBFEC875DD079C4B22E0B1E0DCC12C9B5DC75192248EDF17634D2B4E"))
	eq(t, "KS_enc pinned", c.rekeyed[0], unhex(t, "D5B4B4D47E779C1037D5C023ED0D6B6A"))
	eq(t, "KS_mac pinned", c.rekeyed[1], unhex(t, "732FCBD05B27E579B43DEF8BBB24575F"))
}

// A terminal key whose shared secret starts with a zero byte: K keeps it
// (ICAO 9303-11 §9.6), and the keys are the KDF of the 32 bytes.
func TestChipAuthenticationKeepsTheLeadingZeroOfTheSecret(t *testing.T) {
	c := newChip(t, brainpool.P256r1(), chipPrivate)
	pub := c.public()
	d := new(big.Int).SetBytes(unhex(t, terminalPrivate))
	x, y := c.curve.ScalarMult(pub.X, pub.Y, d.Bytes())
	for x.BitLen() > 248 {
		d.Add(d, big.NewInt(1))
		x, y = c.curve.Add(x, y, pub.X, pub.Y)
	}
	if err := Authenticate(c, CCCD, pub, bytes.NewReader(d.FillBytes(make([]byte, 32)))); err != nil {
		t.Fatal(err)
	}
	if c.k[0] != 0 {
		t.Fatalf("K = %X has no leading zero", c.k)
	}
	eq(t, "KS_enc", c.rekeyed[0], kdf(c.k, 1))
	eq(t, "KS_mac", c.rekeyed[1], kdf(c.k, 2))
}

func TestChipAuthenticationSendsTheKeyIDWhenGiven(t *testing.T) {
	c := newChip(t, elliptic.P256(), chipPrivate)
	c.wantMSE = unhex(t, "002241A40F800A04007F00070202030202840101")
	p := CCCD
	p.KeyID = lds.Int(1)
	if err := Authenticate(c, p, c.public(), bytes.NewReader(unhex(t, terminalPrivate))); err != nil {
		t.Fatal(err)
	}
	eq(t, "KS_enc on P-256", c.rekeyed[0], kdf(c.k, 1))
}

func TestChipAuthenticationErrorsNameTheFailedCheck(t *testing.T) {
	rnd := func() *bytes.Reader { return bytes.NewReader(unhex(t, terminalPrivate)) }
	c := newChip(t, brainpool.P256r1(), chipPrivate)
	c.mseSW = []byte{0x6A, 0x80}
	err := Authenticate(c, CCCD, c.public(), rnd())
	var se *pcsc.StatusError
	if !errors.Is(err, ErrRefused) || !errors.As(err, &se) || se.SW != 0x6A80 {
		t.Errorf("MSE:Set AT refused: %v", err)
	}
	for _, resp := range []string{"6982", "7C0280009000", "7D009000", "7C009000", "9000"} {
		c := newChip(t, brainpool.P256r1(), chipPrivate)
		c.gaResp = unhex(t, resp)
		err := Authenticate(c, CCCD, c.public(), rnd())
		switch {
		case resp == "7C009000":
			if err != nil {
				t.Errorf("7C 00: %v", err)
			}
		case resp == "6982":
			if !errors.Is(err, ErrRefused) {
				t.Errorf("GENERAL AUTHENTICATE %s: %v", resp, err)
			}
		default:
			if !errors.Is(err, ErrChipData) {
				t.Errorf("GENERAL AUTHENTICATE %s: %v", resp, err)
			}
		}
		if err != nil && c.rekeyed != nil {
			t.Errorf("%s: the channel was restarted after a failure", resp)
		}
	}
	c = newChip(t, brainpool.P256r1(), chipPrivate)
	bad := c.public()
	bad.Y = new(big.Int).Add(bad.Y, big.NewInt(1))
	if err := Authenticate(c, CCCD, bad, rnd()); !errors.Is(err, ErrKey) || c.calls != 0 {
		t.Errorf("a chip key off the curve: %v (%d commands sent)", err, c.calls)
	}
	if err := Authenticate(c, Params{Protocol: lds.OIDCAECDH3DES}, c.public(), rnd()); !errors.Is(err, ErrUnsupported) {
		t.Errorf("3DES Chip Authentication: %v", err)
	}
	if _, err := ParamsFromInfo(lds.ChipAuthenticationInfo{Protocol: lds.OIDCAECDHAES128, Version: 2}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("version 2: %v", err)
	}
	if p, err := ParamsFromInfo(lds.ChipAuthenticationInfo{Protocol: lds.OIDCAECDHAES128, Version: 1}); err != nil || p.KeyID != nil {
		t.Errorf("the CCCD info: %+v %v", p, err)
	}
}

// bacChip answers protected 3DES responses the way a chip under BAC does
// (built with the sm primitives, which ICAO's Appendix D pins), then checks
// that the first command after Chip Authentication is protected with AES,
// the new keys and SSC 1.
type bacChip struct {
	t        *testing.T
	enc, mac []byte
	ssc      []byte
	ca       *chip
	afterCA  []byte
	calls    int
}

func (b *bacChip) inc() {
	for i := len(b.ssc) - 1; i >= 0; i-- {
		b.ssc[i]++
		if b.ssc[i] != 0 {
			return
		}
	}
}

// plain decrypts a protected command's DO'87' (the test trusts the MAC).
func (b *bacChip) plain(cmd []byte) []byte {
	hdr := []byte{cmd[0] &^ 0x0C, cmd[1], cmd[2], cmd[3]}
	body := cmd[5:]
	if body[0] != 0x87 {
		return hdr
	}
	n, hl := int(body[1]), 2
	if body[1] == 0x81 {
		n, hl = int(body[2]), 3
	}
	p, err := sm.Decrypt3DES(b.enc, body[hl+1:hl+n])
	if err != nil {
		b.t.Fatal(err)
	}
	data, err := sm.Unpad(p)
	if err != nil {
		b.t.Fatal(err)
	}
	return append(append(hdr, byte(len(data))), data...)
}

func (b *bacChip) Transmit(cmd []byte) ([]byte, error) {
	b.calls++
	if b.calls > 2 {
		b.afterCA = cmd
		return []byte{0x69, 0x88}, nil
	}
	b.inc() // the command's SSC
	p := b.plain(cmd)
	if b.calls == 2 {
		p = append(p, 0x00)
	}
	resp, err := b.ca.Transmit(p)
	if err != nil {
		return nil, err
	}
	b.inc() // the response's SSC
	data, sw := resp[:len(resp)-2], resp[len(resp)-2:]
	var dos []byte
	if len(data) > 0 {
		enc, _ := sm.Encrypt3DES(b.enc, sm.Pad(data))
		dos = append([]byte{0x87, byte(len(enc) + 1), 0x01}, enc...)
	}
	dos = append(dos, 0x99, 0x02, sw[0], sw[1])
	m, _ := sm.RetailMAC(b.mac, append(bytes.Clone(b.ssc), dos...))
	return append(append(append(dos, 0x8E, 0x08), m...), sw...), nil
}

// Over BAC, Chip Authentication turns the channel into AES with the new
// keys and SSC 0 (ICAO 9303-11 §6.2.4.3, §9.8.7.1).
func TestChipAuthenticationTurnsABACChannelIntoAES(t *testing.T) {
	enc, mac := unhex(t, "979EC13B1CBFE9DCD01AB0FED307EAE5"), unhex(t, "F1CB1F1FB5ADF208806B89DC579DC1F8")
	ssc := unhex(t, "887022120C06C226")
	ca := newChip(t, brainpool.P256r1(), chipPrivate)
	inner := &bacChip{t: t, enc: enc, mac: mac, ssc: bytes.Clone(ssc), ca: ca}
	ch := sm.NewBACChannel(inner, sm.NewSession(enc, mac, ssc))
	if err := Authenticate(ch, CCCD, ca.public(), bytes.NewReader(unhex(t, terminalPrivate))); err != nil {
		t.Fatal(err)
	}
	if ch.Suite() != "AES" || !bytes.Equal(ch.SSC(), make([]byte, 16)) {
		t.Fatalf("after Chip Authentication: %s SSC %X", ch.Suite(), ch.SSC())
	}
	ch.Transmit(unhex(t, "00B0000004"))
	want, err := sm.NewAESSession(kdf(ca.k, 1), kdf(ca.k, 2))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := want.Wrap(sm.Command{INS: 0xB0, Ne: 4})
	eq(t, "first command after Chip Authentication", inner.afterCA, w)
}
