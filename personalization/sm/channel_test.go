package sm

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/cmac"
)

type paceVector struct {
	MRZInformation string `json:"mrz_information"`
	KPi            string `json:"k_pi"`
	SharedSecretK  string `json:"shared_secret_k"`
	KSEnc          string `json:"ks_enc"`
	KSMac          string `json:"ks_mac"`
}

// loadPACE reads ICAO 9303-11 Appendix G.1's worked example, carried into
// testdata from ../shared/testvectors/icao9303-pace-gm-ecdh.json.
func loadPACE(t *testing.T) paceVector {
	t.Helper()
	b, err := os.ReadFile("testdata/icao9303-pace-gm-ecdh.json")
	if err != nil {
		t.Fatal(err)
	}
	var v paceVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// ICAO 9303-11 Appendix G.1: K_π from the MRZ (§9.7.3, counter 3) and the
// AES-128 session keys from the ECDH shared secret (§9.7.1).
func TestKDFAESDerivesThePACEVectorKeys(t *testing.T) {
	v := loadPACE(t)
	k := sha1.Sum([]byte(v.MRZInformation))
	for _, c := range []struct {
		name    string
		secret  []byte
		counter uint32
		want    string
	}{
		{"K_π", k[:], CounterPassword, v.KPi},
		{"KS_enc", h(t, v.SharedSecretK), CounterEnc, v.KSEnc},
		{"KS_mac", h(t, v.SharedSecretK), CounterMAC, v.KSMac},
	} {
		got, err := KDFAES(c.secret, c.counter, 16)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, c.name, got, h(t, c.want))
	}
}

func TestKDFAESUsesSHA256ForLongerKeys(t *testing.T) {
	secret := []byte{1, 2, 3}
	for _, n := range []int{24, 32} {
		got, err := KDFAES(secret, 1, n)
		if err != nil {
			t.Fatal(err)
		}
		want := sha256Of(append(bytes.Clone(secret), 0, 0, 0, 1))[:n]
		eq(t, fmt.Sprintf("AES-%d key", n*8), got, want)
	}
	if _, err := KDFAES(secret, 1, 20); err == nil {
		t.Error("a 20-byte AES key was derived")
	}
}

// replay is a transport that checks each command against the expected bytes
// and answers the scripted response.
type replay struct {
	t     *testing.T
	steps []struct{ cmd, resp []byte }
	n     int
}

func (r *replay) Transmit(cmd []byte) ([]byte, error) {
	r.t.Helper()
	if r.n >= len(r.steps) {
		r.t.Fatalf("unexpected command %X", cmd)
	}
	s := r.steps[r.n]
	r.n++
	if s.cmd != nil && !bytes.Equal(cmd, s.cmd) {
		r.t.Errorf("command %d:\n got %X\nwant %X", r.n, cmd, s.cmd)
	}
	return s.resp, nil
}

// ICAO 9303-11 Appendix D.4: the protected SELECT EF.COM and READ BINARY of
// the worked example, through a BAC Channel: plain APDUs in, plain
// responses out.
func TestBACChannelReproducesTheWorkedExample(t *testing.T) {
	v := loadBAC(t)
	s := NewSession(h(t, v.KSEnc), h(t, v.KSMac), h(t, v.SSC))
	r := &replay{t: t}
	r.steps = append(r.steps,
		struct{ cmd, resp []byte }{h(t, v.ProtectedSelect.Command), h(t, v.ProtectedSelect.Response)},
		// Appendix D.4: READ BINARY of the first four bytes, then of the
		// remaining 18.
		struct{ cmd, resp []byte }{h(t, "0CB000000D9701048E08ED6705417E96BA5500"), h(t, "8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000")},
		struct{ cmd, resp []byte }{h(t, "0CB000040D9701128E082EA28A70F3C7B53500"), h(t, "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000")},
	)
	ch := NewBACChannel(r, s)
	for _, c := range []struct{ cmd, want string }{
		{"00A4020C02011E", "9000"},
		{"00B0000004", "60145F019000"},
		{"00B0000412", "04303130365F36063034303030305C0261759000"},
	} {
		got, err := ch.Transmit(h(t, c.cmd))
		if err != nil {
			t.Fatalf("%s: %v", c.cmd, err)
		}
		eq(t, "response to "+c.cmd, got, h(t, c.want))
	}
	eq(t, "SSC after three exchanges", s.SSC(), h(t, "887022120C06C22C"))
}

// aesChip is this test's chip side of AES secure messaging, written from
// ICAO 9303-11 §9.8 with crypto/aes and the CMAC package only: it checks a
// protected command, compares it with the plain command expected, and
// answers a protected response.
type aesChip struct {
	t        *testing.T
	enc, mac cipher.Block
	ssc      [16]byte
	want     []byte // the plain command
	data     []byte // response data
	sw       uint16
	tamper   bool // flip a bit of the response MAC
	plainSW  bool // answer the status word in plain
	calls    int
}

func newAESChip(t *testing.T, ksEnc, ksMac []byte) *aesChip {
	e, err := aes.NewCipher(ksEnc)
	if err != nil {
		t.Fatal(err)
	}
	m, err := aes.NewCipher(ksMac)
	if err != nil {
		t.Fatal(err)
	}
	return &aesChip{t: t, enc: e, mac: m}
}

func pad16(b []byte) []byte {
	b = append(bytes.Clone(b), 0x80)
	for len(b)%16 != 0 {
		b = append(b, 0)
	}
	return b
}

func (c *aesChip) inc() {
	for i := 15; i >= 0; i-- {
		c.ssc[i]++
		if c.ssc[i] != 0 {
			return
		}
	}
}

func (c *aesChip) cbc(decrypt bool, b []byte) []byte {
	iv := make([]byte, 16)
	c.enc.Encrypt(iv, c.ssc[:])
	out := make([]byte, len(b))
	if decrypt {
		cipher.NewCBCDecrypter(c.enc, iv).CryptBlocks(out, b)
	} else {
		cipher.NewCBCEncrypter(c.enc, iv).CryptBlocks(out, b)
	}
	return out
}

func (c *aesChip) cmac8(b []byte) []byte {
	return cmac.Sum(c.mac, pad16(append(bytes.Clone(c.ssc[:]), b...)))[:8]
}

func (c *aesChip) Transmit(apdu []byte) ([]byte, error) {
	t := c.t
	t.Helper()
	c.calls++
	cmd, ext, err := pcsc.ParseCommand(apdu)
	if err != nil {
		t.Fatalf("protected APDU %X: %v", apdu, err)
	}
	plain, plainExt, _ := pcsc.ParseCommand(c.want)
	if cmd.CLA != plain.CLA|0x0C || cmd.INS != plain.INS || cmd.P1 != plain.P1 || cmd.P2 != plain.P2 {
		t.Errorf("protected header %X for plain %X", apdu[:4], c.want[:4])
	}
	if wantNe := map[bool]int{false: 256, true: 65536}[ext]; cmd.Ne != wantNe {
		t.Errorf("protected Le: Ne %d, want %d (%X)", cmd.Ne, wantNe, apdu)
	}
	if needExt := plainExt || len(cmd.Data) > 255; ext != needExt {
		t.Errorf("protected APDU extended %v, want %v: %X", ext, needExt, apdu)
	}
	c.inc()
	// The data objects: 87 or 85, 97, 8E, in that order (§9.8.5).
	var crypt, le, mac []byte
	var tagCrypt byte
	rest := cmd.Data
	var macInput []byte
	for len(rest) > 0 {
		tag, n, hl := rest[0], int(rest[1]), 2
		if rest[1] == 0x81 {
			n, hl = int(rest[2]), 3
		} else if rest[1] == 0x82 {
			n, hl = int(rest[2])<<8|int(rest[3]), 4
		}
		v := rest[hl : hl+n]
		switch tag {
		case 0x87, 0x85:
			crypt, tagCrypt = v, tag
			macInput = append(macInput, rest[:hl+n]...)
		case 0x97:
			le = v
			macInput = append(macInput, rest[:hl+n]...)
		case 0x8E:
			mac = v
		default:
			t.Errorf("data object %02X in %X", tag, apdu)
		}
		rest = rest[hl+n:]
	}
	header := pad16(apdu[:4])
	if got, want := mac, c.cmac8(append(header, macInput...)); !bytes.Equal(got, want) {
		t.Errorf("command MAC:\n got %X\nwant %X", got, want)
	}
	var data []byte
	if crypt != nil {
		if plain.INS&1 == 1 && tagCrypt != 0x85 || plain.INS&1 == 0 && tagCrypt != 0x87 {
			t.Errorf("INS %02X data in DO'%02X'", plain.INS, tagCrypt)
		}
		if tagCrypt == 0x87 {
			if crypt[0] != 0x01 {
				t.Errorf("DO'87' indicator %02X", crypt[0])
			}
			crypt = crypt[1:]
		}
		p := c.cbc(true, crypt)
		i := bytes.LastIndexByte(p, 0x80)
		data = p[:i]
	}
	if !bytes.Equal(data, plain.Data) {
		t.Errorf("command data:\n got %X\nwant %X", data, plain.Data)
	}
	var ne int
	switch len(le) {
	case 1:
		ne = int(le[0])
		if ne == 0 {
			ne = 256
		}
	case 2:
		ne = int(le[0])<<8 | int(le[1])
		if ne == 0 {
			ne = 65536
		}
	}
	if ne != plain.Ne {
		t.Errorf("DO'97': Ne %d, want %d", ne, plain.Ne)
	}
	if (len(le) == 2) != (plainExt && plain.Ne > 0) {
		t.Errorf("DO'97' of %d bytes for an extended plain command %v", len(le), plainExt)
	}

	sw := []byte{byte(c.sw >> 8), byte(c.sw)}
	if c.plainSW {
		return sw, nil
	}
	c.inc()
	var resp []byte
	if len(c.data) > 0 {
		resp = tlvTest(0x87, append([]byte{0x01}, c.cbc(false, pad16(c.data))...))
	}
	resp = append(resp, 0x99, 0x02, sw[0], sw[1])
	m := c.cmac8(resp)
	if c.tamper {
		m[0] ^= 1
	}
	resp = append(append(resp, 0x8E, 0x08), m...)
	return append(resp, sw...), nil
}

func tlvTest(tag byte, v []byte) []byte {
	switch n := len(v); {
	case n < 0x80:
		return append([]byte{tag, byte(n)}, v...)
	case n < 0x100:
		return append([]byte{tag, 0x81, byte(n)}, v...)
	default:
		return append([]byte{tag, 0x82, byte(n >> 8), byte(n)}, v...)
	}
}

// Every ISO/IEC 7816-4 case, short and extended, even and odd INS, and a
// protected error status word, through an AES channel and the test's chip.
func TestAESChannelProtectsEveryCase(t *testing.T) {
	v := loadPACE(t)
	ksEnc, ksMac := h(t, v.KSEnc), h(t, v.KSMac)
	chip := newAESChip(t, ksEnc, ksMac)
	ch, err := NewAESChannel(chip, ksEnc, ksMac)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Suite() != "AES" || !bytes.Equal(ch.SSC(), make([]byte, 16)) {
		t.Fatalf("new AES channel: %s SSC %X", ch.Suite(), ch.SSC())
	}
	d300 := bytes.Repeat([]byte{0x5A}, 300)
	for _, c := range []struct {
		name, cmd string
		data      []byte
		sw        uint16
	}{
		{"case 1", "00440000", nil, 0x9000},
		{"case 2S Le 00", "00B0000000", bytes.Repeat([]byte{1}, 231), 0x9000},
		{"case 2S Le 04", "00B0000004", []byte{0x60, 0x14, 0x5F, 0x01}, 0x9000},
		{"case 3S", "00A4020C02011C", nil, 0x9000},
		{"case 3S a whole block", "00220000" + "10" + "000102030405060708090A0B0C0D0E0F", nil, 0x9000},
		{"case 4S", "00880000080102030405060708" + "00", bytes.Repeat([]byte{7}, 64), 0x9000},
		{"case 4S odd INS", "00B10000" + "04" + "54020000" + "00", []byte{0x53, 0x01, 0xAA}, 0x9000},
		{"case 2E", "00B00000" + "000400", bytes.Repeat([]byte{2}, 1024), 0x9000},
		{"case 2E Le 0000", "00B00000" + "000000", nil, 0x6282},
		{"case 3E", "00D60000" + "00012C" + fmt.Sprintf("%X", d300), nil, 0x9000},
		{"case 4E", "00880000" + "00012C" + fmt.Sprintf("%X", d300) + "0100", bytes.Repeat([]byte{3}, 256), 0x9000},
		{"case 3S whose protected form is extended", "00D60000" + "F0" + fmt.Sprintf("%X", d300[:240]), nil, 0x9000},
		{"protected error status word", "00A4020C020103", nil, 0x6A82},
		{"protected 6982", "00B0000000", nil, 0x6982},
	} {
		chip.want, chip.data, chip.sw = h(t, c.cmd), c.data, c.sw
		got, err := ch.Transmit(h(t, c.cmd))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := append(bytes.Clone(c.data), byte(c.sw>>8), byte(c.sw))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: response\n got %X\nwant %X", c.name, got, want)
		}
		if !bytes.Equal(ch.SSC(), chip.ssc[:]) {
			t.Errorf("%s: SSC %X, chip %X", c.name, ch.SSC(), chip.ssc)
		}
	}
	if ch.Err() != nil {
		t.Errorf("channel ended: %v", ch.Err())
	}
}

func TestChannelEndsOnAResponseMACThatDoesNotVerify(t *testing.T) {
	v := loadPACE(t)
	ksEnc, ksMac := h(t, v.KSEnc), h(t, v.KSMac)
	chip := newAESChip(t, ksEnc, ksMac)
	ch, _ := NewAESChannel(chip, ksEnc, ksMac)
	chip.want, chip.data, chip.sw, chip.tamper = h(t, "00B0000004"), []byte{1, 2, 3, 4}, 0x9000, true
	if _, err := ch.Transmit(chip.want); !errors.Is(err, ErrSM) {
		t.Fatalf("tampered MAC: %v", err)
	}
	chip.tamper = false
	calls := chip.calls
	if _, err := ch.Transmit(chip.want); !errors.Is(err, ErrSM) || chip.calls != calls {
		t.Errorf("after the session ended: %v, %d commands sent", err, chip.calls-calls)
	}
	if err := ch.Rekey(ksEnc, ksMac); !errors.Is(err, ErrSM) {
		t.Errorf("Rekey revived an ended channel: %v", err)
	}
}

func TestChannelEndsOnAStatusWordInPlain(t *testing.T) {
	v := loadPACE(t)
	ksEnc, ksMac := h(t, v.KSEnc), h(t, v.KSMac)
	chip := newAESChip(t, ksEnc, ksMac)
	ch, _ := NewAESChannel(chip, ksEnc, ksMac)
	chip.want, chip.sw, chip.plainSW = h(t, "00B0000004"), 0x6988, true
	if _, err := ch.Transmit(chip.want); !errors.Is(err, ErrSM) {
		t.Errorf("plain 6988: %v", err)
	}
	if ch.Err() == nil {
		t.Error("the channel lives on")
	}
}

type failing struct{ err error }

func (f failing) Transmit([]byte) ([]byte, error) { return nil, f.err }

func TestChannelEndsWhenTheTransportFails(t *testing.T) {
	ch, _ := NewAESChannel(failing{pcsc.ErrCardRemoved}, make([]byte, 16), make([]byte, 16))
	if _, err := ch.Transmit(h(t, "00B0000004")); !errors.Is(err, pcsc.ErrCardRemoved) {
		t.Errorf("card removed: %v", err)
	}
	if _, err := ch.Transmit(h(t, "00B0000004")); !errors.Is(err, ErrSM) {
		t.Errorf("after the transport failed: %v", err)
	}
}

func TestChannelRefusesAMalformedAPDUAndStaysAlive(t *testing.T) {
	r := &replay{t: t}
	ch, _ := NewAESChannel(r, make([]byte, 16), make([]byte, 16))
	for _, bad := range []string{"00B0", "00D6000005AABB", "00D60000000005AA"} {
		if _, err := ch.Transmit(h(t, bad)); !errors.Is(err, pcsc.ErrBadCommand) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if ch.Err() != nil || !bytes.Equal(ch.SSC(), make([]byte, 16)) {
		t.Errorf("a refused APDU changed the session: %v, SSC %X", ch.Err(), ch.SSC())
	}
}

// After Chip Authentication a BAC channel continues with AES and SSC 0
// (ICAO 9303-11 §6.2.3, §9.8.7.1).
func TestRekeyTurnsABACChannelIntoAESWithSSCZero(t *testing.T) {
	v := loadBAC(t)
	p := loadPACE(t)
	ksEnc, ksMac := h(t, p.KSEnc), h(t, p.KSMac)
	chip := newAESChip(t, ksEnc, ksMac)
	ch := NewBACChannel(chip, NewSession(h(t, v.KSEnc), h(t, v.KSMac), h(t, v.SSC)))
	if ch.Suite() != "3DES" {
		t.Fatalf("BAC channel suite %s", ch.Suite())
	}
	if err := ch.Rekey(ksEnc, ksMac); err != nil {
		t.Fatal(err)
	}
	if ch.Suite() != "AES" || !bytes.Equal(ch.SSC(), make([]byte, 16)) {
		t.Fatalf("after Rekey: %s SSC %X", ch.Suite(), ch.SSC())
	}
	chip.want, chip.data, chip.sw = h(t, "00B0000004"), []byte{0x6E, 0x82, 0x01, 0x00}, 0x9000
	got, err := ch.Transmit(chip.want)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "response after Rekey", got, h(t, "6E8201009000"))
	if err := ch.Rekey(make([]byte, 15), ksMac); err == nil {
		t.Error("a 15-byte AES key was taken")
	}
}

func TestChannelMaxPlainResponseFitsTheResponse(t *testing.T) {
	p := loadPACE(t)
	ksEnc, ksMac := h(t, p.KSEnc), h(t, p.KSMac)
	for _, max := range []int{256, 2048} {
		chip := newAESChip(t, ksEnc, ksMac)
		ch, _ := NewAESChannel(chip, ksEnc, ksMac)
		n := ch.MaxPlainResponse(max)
		for _, k := range []int{n, n + 1} {
			chip.want, chip.data, chip.sw = h(t, "00B00000"+map[bool]string{false: "00", true: "000000"}[max > 256]), bytes.Repeat([]byte{9}, k), 0x9000
			var size int
			inner := chip.Transmit
			spy := transportFunc(func(b []byte) ([]byte, error) {
				r, err := inner(b)
				size = len(r)
				return r, err
			})
			ch.inner = spy
			if _, err := ch.Transmit(chip.want); err != nil {
				t.Fatal(err)
			}
			if fits := size <= max; fits != (k == n) {
				t.Errorf("max %d: %d plain bytes make a %d-byte response (MaxPlainResponse %d)", max, k, size, n)
			}
		}
	}
}

type transportFunc func([]byte) ([]byte, error)

func (f transportFunc) Transmit(b []byte) ([]byte, error) { return f(b) }

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
