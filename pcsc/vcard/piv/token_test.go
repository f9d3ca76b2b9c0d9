package piv_test

import (
	"bytes"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/cccd-station/station/pcsc/vcard/piv"
)

// The host side of these tests is written from the specification with the
// standard library (encoding/asn1 for responses, hand-built commands): it
// shares no code with the token.

var defaultMgmKey = bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 3)

type response struct {
	data []byte
	sw   uint16
}

func (r response) String() string { return fmt.Sprintf("%X %04X", r.data, r.sw) }

// apdu builds a short command APDU (Lc only when there is data, no Le).
func apdu(cla, ins, p1, p2 byte, data []byte) []byte {
	cmd := []byte{cla, ins, p1, p2}
	if len(data) > 0 {
		cmd = append(cmd, byte(len(data)))
		cmd = append(cmd, data...)
	}
	return cmd
}

func send(t testing.TB, tok *piv.Token, cmd []byte) response {
	t.Helper()
	out, err := tok.Process(cmd)
	if err != nil {
		t.Fatalf("Process(%X): %v", cmd, err)
	}
	if len(out) < 2 {
		t.Fatalf("Process(%X) = %X: no status word", cmd, out)
	}
	return response{data: out[:len(out)-2], sw: uint16(out[len(out)-2])<<8 | uint16(out[len(out)-1])}
}

// transmit sends data as piv-go does: chained in 255-byte blocks (ISO/IEC
// 7816-4 §5.1.1.1), then GET RESPONSE while the card answers 61xx.
func transmit(t testing.TB, tok *piv.Token, ins, p1, p2 byte, data []byte) response {
	t.Helper()
	for len(data) > 255 {
		if r := send(t, tok, apdu(0x10, ins, p1, p2, data[:255])); r.sw != 0x9000 {
			t.Fatalf("chained block of INS %02X: %s, want 9000", ins, r)
		}
		data = data[255:]
	}
	r := send(t, tok, apdu(0x00, ins, p1, p2, data))
	all := r.data
	for r.sw>>8 == 0x61 {
		r = send(t, tok, []byte{0x00, 0xc0, 0x00, 0x00, 0x00})
		all = append(all, r.data...)
	}
	return response{data: all, sw: r.sw}
}

func mustSW(t testing.TB, what string, r response, want uint16) {
	t.Helper()
	if r.sw != want {
		t.Fatalf("%s: response %s, want SW %04X", what, r, want)
	}
}

func selected(t testing.TB, opts ...piv.Option) *piv.Token {
	t.Helper()
	tok := piv.New(opts...)
	tok.PowerOn()
	mustSW(t, "SELECT", send(t, tok, apdu(0, 0xa4, 0x04, 0x00, []byte{0xa0, 0, 0, 3, 8})), 0x9000)
	return tok
}

func pinBlock(pin string) []byte {
	b := bytes.Repeat([]byte{0xff}, 8)
	copy(b, pin)
	return b
}

// authenticate runs the management key mutual authentication the way piv-go
// does (SP 800-73-4 Part 2 §3.2.4): witness, then witness + challenge.
func authenticate(t testing.TB, tok *piv.Token, key []byte) response {
	t.Helper()
	block, err := des.NewTripleDESCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	r := send(t, tok, apdu(0, 0x87, 0x03, 0x9b, []byte{0x7c, 0x02, 0x80, 0x00}))
	mustSW(t, "GENERAL AUTHENTICATE witness", r, 0x9000)
	if len(r.data) != 12 || !bytes.Equal(r.data[:4], []byte{0x7c, 0x0a, 0x80, 0x08}) {
		t.Fatalf("witness = %X, want 7C0A8008 + 8 bytes", r.data)
	}
	witness := make([]byte, 8)
	block.Decrypt(witness, r.data[4:])
	challenge := make([]byte, 8)
	rand.Read(challenge)
	cmd := append([]byte{0x7c, 0x14, 0x80, 0x08}, witness...)
	cmd = append(append(cmd, 0x81, 0x08), challenge...)
	r = send(t, tok, apdu(0, 0x87, 0x03, 0x9b, cmd))
	if r.sw == 0x9000 {
		want := make([]byte, 8)
		block.Encrypt(want, challenge)
		if !bytes.Equal(r.data, append([]byte{0x7c, 0x0a, 0x82, 0x08}, want...)) {
			t.Fatalf("card response = %X, want 7C0A8208%X", r.data, want)
		}
	}
	return r
}

// tlvValue unwraps one BER-TLV with encoding/asn1 and checks its tag bytes.
func tlvValue(t testing.TB, b []byte, tag []byte) (value, rest []byte) {
	t.Helper()
	if !bytes.HasPrefix(b, tag) {
		t.Fatalf("%X: want tag %X", b, tag)
	}
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(b, &v)
	if err != nil {
		t.Fatalf("%X: %v", b, err)
	}
	return v.Bytes, rest
}

func generate(t testing.TB, tok *piv.Token, slot, alg, pinPolicy byte) *ecdsa.PublicKey {
	t.Helper()
	r := send(t, tok, apdu(0, 0x47, 0x00, slot, []byte{0xac, 0x09, 0x80, 0x01, alg, 0xaa, 0x01, pinPolicy, 0xab, 0x01, 0x01}))
	mustSW(t, "GENERATE", r, 0x9000)
	tmpl, _ := tlvValue(t, r.data, []byte{0x7f, 0x49})
	point, _ := tlvValue(t, tmpl, []byte{0x86})
	curve := map[byte]elliptic.Curve{0x11: elliptic.P256(), 0x14: elliptic.P384()}[alg]
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		t.Fatalf("GENERATE point %X: %v", point, err)
	}
	return pub
}

func sign(t testing.TB, tok *piv.Token, slot, alg byte, digest []byte) response {
	t.Helper()
	body := append([]byte{0x82, 0x00, 0x81, byte(len(digest))}, digest...)
	return send(t, tok, apdu(0, 0x87, alg, slot, append([]byte{0x7c, byte(len(body))}, body...)))
}

func signature(t testing.TB, r response) []byte {
	t.Helper()
	tmpl, _ := tlvValue(t, r.data, []byte{0x7c})
	sig, _ := tlvValue(t, tmpl, []byte{0x82})
	return sig
}

func TestATRAdvertisesT1WithValidTCK(t *testing.T) {
	atr := piv.New().ATR()
	if !bytes.HasPrefix(atr, []byte{0x3b, 0x88, 0x80, 0x01}) {
		t.Fatalf("ATR %X: want 3B888001 (TD2 = T=1)", atr)
	}
	if k := int(atr[1] & 0x0f); len(atr) != 4+k+1 {
		t.Fatalf("ATR %X: %d historical bytes announced, length %d", atr, k, len(atr))
	}
	var x byte
	for _, b := range atr[1:] {
		x ^= b
	}
	if x != 0 {
		t.Fatalf("ATR %X: XOR of T0..TCK = %02X, want 00", atr, x)
	}
}

func TestCommandsBeforeSelectAreRejected(t *testing.T) {
	tok := piv.New()
	mustSW(t, "GET SERIAL unselected", send(t, tok, []byte{0, 0xf8, 0, 0, 0}), 0x6d00)
	mustSW(t, "SELECT other AID", send(t, tok, apdu(0, 0xa4, 0x04, 0, []byte{0xa0, 0, 0, 2, 0x47, 0x10, 1})), 0x6a82)
}

// Status words before the PIV application is selected or anything is
// authenticated, as ISO/IEC 7816-4:2020 §5.6 (Table 6) gives them: a file
// that does not exist is 6A82, 6A86 only for P1-P2 the token does not take.
func TestStatusWordsBeforeAuthentication(t *testing.T) {
	for _, tc := range []struct {
		name     string
		selected bool
		cmd      []byte
		want     uint16
	}{
		{"SELECT EF.CardAccess by FID", false, apdu(0, 0xa4, 0x02, 0x0c, []byte{0x01, 0x1c}), 0x6a82},   // file not found
		{"SELECT MF by FID", false, apdu(0, 0xa4, 0x00, 0x0c, []byte{0x3f, 0x00}), 0x6a82},              // file not found
		{"SELECT MF without data", false, []byte{0, 0xa4, 0x00, 0x0c}, 0x6a82},                          // file not found
		{"SELECT by path (P1 08)", false, apdu(0, 0xa4, 0x08, 0x0c, []byte{0x3f, 0x00}), 0x6a86},        // incorrect P1-P2
		{"SELECT FID of 3 bytes", false, apdu(0, 0xa4, 0x02, 0x0c, []byte{0x01, 0x1c, 0x00}), 0x6700},   // wrong length
		{"SELECT unknown AID", false, apdu(0, 0xa4, 0x04, 0, []byte{0xa0, 0, 0, 2, 0x47}), 0x6a82},      // application not found
		{"GET DATA unselected", false, apdu(0, 0xcb, 0x3f, 0xff, []byte{0x5c, 0x01, 0x7e}), 0x6d00},     // INS not supported
		{"CLA 01 (logical channel 1)", true, []byte{0x01, 0xfd, 0x00, 0x00}, 0x6881},                    // logical channel not supported
		{"CLA 0C (secure messaging)", true, []byte{0x0c, 0xfd, 0x00, 0x00}, 0x6882},                     // SM not supported
		{"CLA 80 (proprietary)", true, []byte{0x80, 0xfd, 0x00, 0x00}, 0x6e00},                          // class not supported
		{"VERIFY, P2 not a PIN", true, apdu(0, 0x20, 0x00, 0x81, nil), 0x6a88},                          // referenced data not found
		{"VERIFY, P1 01", true, apdu(0, 0x20, 0x01, 0x80, nil), 0x6a86},                                 // incorrect P1-P2
		{"GET DATA, P1-P2 not 3FFF", true, apdu(0, 0xcb, 0x3f, 0x00, []byte{0x5c, 0x01, 0x7e}), 0x6a86}, // incorrect P1-P2
		{"GET DATA of an absent object", true, apdu(0, 0xcb, 0x3f, 0xff, []byte{0x5c, 0x03, 0x5f, 0xc1, 0x0a}), 0x6a82},
		{"GET RESPONSE with nothing pending", true, []byte{0, 0xc0, 0, 0, 0}, 0x6985}, // conditions of use not satisfied
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := piv.New()
			if tc.selected {
				tok = selected(t)
			}
			mustSW(t, tc.name, send(t, tok, tc.cmd), tc.want)
		})
	}
}

func TestSelectAcceptsTruncatedAndFullAID(t *testing.T) {
	for _, aid := range [][]byte{{0xa0, 0, 0, 3, 8}, {0xa0, 0, 0, 3, 8, 0, 0, 0x10, 0, 1, 0}} {
		tok := piv.New()
		r := send(t, tok, apdu(0, 0xa4, 0x04, 0, aid))
		mustSW(t, fmt.Sprintf("SELECT %X", aid), r, 0x9000)
		apt, _ := tlvValue(t, r.data, []byte{0x61})
		pix, rest := tlvValue(t, apt, []byte{0x4f})
		if !bytes.Equal(pix, []byte{0, 0, 0x10, 0, 1, 0}) {
			t.Fatalf("APT PIX = %X, want 000010000100", pix)
		}
		auth, _ := tlvValue(t, rest, []byte{0x79})
		if rid, _ := tlvValue(t, auth, []byte{0x4f}); !bytes.Equal(rid, []byte{0xa0, 0, 0, 3, 8}) {
			t.Fatalf("APT authority = %X, want A000000308", rid)
		}
	}
}

func TestVersionIsThreeBytesBelow53AndSerialIsConfigurable(t *testing.T) {
	tok := selected(t, piv.WithSerial(0x01020304))
	r := send(t, tok, []byte{0, 0xfd, 0, 0, 0})
	mustSW(t, "GET VERSION", r, 0x9000)
	if len(r.data) != 3 || r.data[0] != 5 || r.data[1] != 2 {
		t.Fatalf("GET VERSION = %X, want 3 bytes 0502xx", r.data)
	}
	r = send(t, tok, []byte{0, 0xf8, 0, 0, 0})
	mustSW(t, "GET SERIAL", r, 0x9000)
	if !bytes.Equal(r.data, []byte{1, 2, 3, 4}) {
		t.Fatalf("GET SERIAL = %X, want 01020304", r.data)
	}
}

func TestVerifyCountsDownBlocksAndPUKUnblocks(t *testing.T) {
	tok := selected(t, piv.WithPIN("24681357"), piv.WithPUK("87654321"), piv.WithPINRetries(3))
	status := []byte{0, 0x20, 0, 0x80, 0}
	mustSW(t, "empty VERIFY", send(t, tok, status), 0x63c3)
	mustSW(t, "wrong PIN 1", send(t, tok, apdu(0, 0x20, 0, 0x80, pinBlock("000000"))), 0x63c2)
	if n := tok.PINRetries(); n != 2 {
		t.Fatalf("PINRetries = %d after one wrong PIN, want 2", n)
	}
	mustSW(t, "right PIN", send(t, tok, apdu(0, 0x20, 0, 0x80, pinBlock("24681357"))), 0x9000)
	mustSW(t, "empty VERIFY once verified", send(t, tok, status), 0x9000)
	if n := tok.PINRetries(); n != 3 {
		t.Fatalf("PINRetries = %d after the right PIN, want 3", n)
	}
	mustSW(t, "VERIFY P1=FF resets", send(t, tok, []byte{0, 0x20, 0xff, 0x80}), 0x9000)
	mustSW(t, "empty VERIFY after reset", send(t, tok, status), 0x63c3)
	for i, want := range []uint16{0x63c2, 0x63c1, 0x6983} {
		mustSW(t, fmt.Sprintf("wrong PIN %d", i+1), send(t, tok, apdu(0, 0x20, 0, 0x80, pinBlock("111111"))), want)
	}
	mustSW(t, "right PIN once blocked", send(t, tok, apdu(0, 0x20, 0, 0x80, pinBlock("24681357"))), 0x6983)
	mustSW(t, "empty VERIFY once blocked", send(t, tok, status), 0x6983)
	mustSW(t, "RESET RETRY wrong PUK", send(t, tok, apdu(0, 0x2c, 0, 0x80, append(pinBlock("11111111"), pinBlock("999999")...))), 0x63c2)
	mustSW(t, "RESET RETRY", send(t, tok, apdu(0, 0x2c, 0, 0x80, append(pinBlock("87654321"), pinBlock("999999")...))), 0x9000)
	mustSW(t, "new PIN", send(t, tok, apdu(0, 0x20, 0, 0x80, pinBlock("999999"))), 0x9000)
	mustSW(t, "CHANGE REFERENCE", send(t, tok, apdu(0, 0x24, 0, 0x80, append(pinBlock("999999"), pinBlock("123123")...))), 0x9000)
	mustSW(t, "changed PIN", send(t, tok, apdu(0, 0x20, 0, 0x80, pinBlock("123123"))), 0x9000)
}

func TestResetAndPowerOffLoseVerifiedPINAndManagementKey(t *testing.T) {
	for name, event := range map[string]func(*piv.Token){"Reset": (*piv.Token).Reset, "PowerOff": (*piv.Token).PowerOff} {
		t.Run(name, func(t *testing.T) {
			tok := selected(t)
			mustSW(t, "VERIFY", send(t, tok, apdu(0, 0x20, 0, 0x80, pinBlock(piv.DefaultPIN))), 0x9000)
			mustSW(t, "authenticate", authenticate(t, tok, defaultMgmKey), 0x9000)
			event(tok)
			tok.PowerOn()
			mustSW(t, "GET SERIAL after "+name, send(t, tok, []byte{0, 0xf8, 0, 0, 0}), 0x6d00)
			mustSW(t, "SELECT", send(t, tok, apdu(0, 0xa4, 0x04, 0, []byte{0xa0, 0, 0, 3, 8})), 0x9000)
			mustSW(t, "empty VERIFY after "+name, send(t, tok, []byte{0, 0x20, 0, 0x80, 0}), 0x63c3)
			mustSW(t, "GENERATE after "+name, send(t, tok, apdu(0, 0x47, 0, 0x9c, []byte{0xac, 0x03, 0x80, 0x01, 0x11})), 0x6982)
		})
	}
}

func TestManagementKeyAuthentication(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a, 0xa5, 0x3c, 0xc3, 0x0f, 0xf0, 0x69, 0x96}, 3)
	tok := selected(t, piv.WithManagementKey(key))
	mustSW(t, "GENERATE unauthenticated", send(t, tok, apdu(0, 0x47, 0, 0x9c, []byte{0xac, 0x03, 0x80, 0x01, 0x11})), 0x6982)
	mustSW(t, "wrong management key", authenticate(t, tok, defaultMgmKey), 0x6982)
	mustSW(t, "witness answer without a witness", send(t, tok, apdu(0, 0x87, 0x03, 0x9b,
		append(append([]byte{0x7c, 0x14, 0x80, 0x08}, make([]byte, 8)...), append([]byte{0x81, 0x08}, make([]byte, 8)...)...))), 0x6985)
	mustSW(t, "right management key", authenticate(t, tok, key), 0x9000)
	generate(t, tok, 0x9c, 0x11, 0x01)
}

func TestGenerateAndSignP256AndP384(t *testing.T) {
	for _, tc := range []struct {
		name   string
		alg    byte
		digest []byte
	}{
		{"P-256/SHA-256", 0x11, func() []byte { d := sha256.Sum256([]byte("EF.SOD")); return d[:] }()},
		{"P-384/SHA-384", 0x14, func() []byte { d := sha512.Sum384([]byte("EF.SOD")); return d[:] }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := selected(t)
			mustSW(t, "authenticate", authenticate(t, tok, defaultMgmKey), 0x9000)
			pub := generate(t, tok, 0x9c, tc.alg, 0x02) // PIN once
			mustSW(t, "sign without PIN", sign(t, tok, 0x9c, tc.alg, tc.digest), 0x6982)
			mustSW(t, "VERIFY", send(t, tok, apdu(0, 0x20, 0, 0x80, pinBlock(piv.DefaultPIN))), 0x9000)
			for i := range 2 {
				r := sign(t, tok, 0x9c, tc.alg, tc.digest)
				mustSW(t, fmt.Sprintf("sign %d", i), r, 0x9000)
				if sig := signature(t, r); !ecdsa.VerifyASN1(pub, tc.digest, sig) {
					t.Fatalf("signature %X does not verify with the generated key", sig)
				}
			}
			mustSW(t, "sign with the wrong algorithm", sign(t, tok, 0x9c, 0x11^0x14^tc.alg, tc.digest), 0x6a86)
			mustSW(t, "sign a digest longer than the key", sign(t, tok, 0x9c, tc.alg, make([]byte, 49)), 0x6a80)
			mustSW(t, "sign with an empty slot", sign(t, tok, 0x9a, tc.alg, tc.digest), 0x6a88)
		})
	}
}

func TestPINPolicyAlwaysNeedsAVerifyBeforeEachSignature(t *testing.T) {
	tok := selected(t)
	authenticate(t, tok, defaultMgmKey)
	generate(t, tok, 0x9c, 0x11, 0x03)
	generate(t, tok, 0x9e, 0x11, 0x01)
	digest := make([]byte, 32)
	mustSW(t, "VERIFY", send(t, tok, apdu(0, 0x20, 0, 0x80, pinBlock(piv.DefaultPIN))), 0x9000)
	mustSW(t, "first signature", sign(t, tok, 0x9c, 0x11, digest), 0x9000)
	mustSW(t, "second signature without VERIFY", sign(t, tok, 0x9c, 0x11, digest), 0x6982)
	mustSW(t, "VERIFY again", send(t, tok, apdu(0, 0x20, 0, 0x80, pinBlock(piv.DefaultPIN))), 0x9000)
	mustSW(t, "second signature", sign(t, tok, 0x9c, 0x11, digest), 0x9000)
	tok.Reset()
	send(t, tok, apdu(0, 0xa4, 0x04, 0, []byte{0xa0, 0, 0, 3, 8}))
	mustSW(t, "PIN policy never", sign(t, tok, 0x9e, 0x11, digest), 0x9000)
}

// certificate makes a self-signed certificate padded past 255 bytes so that
// PUT DATA needs chaining and GET DATA needs GET RESPONSE.
func certificate(t testing.TB, pub *ecdsa.PublicKey) []byte {
	t.Helper()
	ca, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "TEST DS " + strings.Repeat("x", 40), Organization: []string{strings.Repeat("y", 300)}},
		NotBefore:    time.Now(),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, ca)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCertificateRoundTripWithChainingAndGetResponse(t *testing.T) {
	tok := selected(t)
	authenticate(t, tok, defaultMgmKey)
	pub := generate(t, tok, 0x9c, 0x11, 0x02)
	der := certificate(t, pub)
	obj := append([]byte{0x70, 0x82, byte(len(der) >> 8), byte(len(der))}, der...)
	obj = append(obj, 0x71, 0x01, 0x00, 0xfe, 0x00)
	put := append([]byte{0x5c, 0x03, 0x5f, 0xc1, 0x0a, 0x53, 0x82, byte(len(obj) >> 8), byte(len(obj))}, obj...)
	if len(put) < 2*255 {
		t.Fatalf("test certificate too small: %d bytes", len(put))
	}
	mustSW(t, "GET DATA before PUT", transmit(t, tok, 0xcb, 0x3f, 0xff, []byte{0x5c, 0x03, 0x5f, 0xc1, 0x0a}), 0x6a82)
	mustSW(t, "PUT DATA", transmit(t, tok, 0xdb, 0x3f, 0xff, put), 0x9000)
	r := transmit(t, tok, 0xcb, 0x3f, 0xff, []byte{0x5c, 0x03, 0x5f, 0xc1, 0x0a})
	mustSW(t, "GET DATA", r, 0x9000)
	body, _ := tlvValue(t, r.data, []byte{0x53})
	if !bytes.Equal(body, obj) {
		t.Fatalf("GET DATA object\n got %X\nwant %X", body, obj)
	}
	// The first part of a long response comes with 61xx.
	first := send(t, tok, apdu(0, 0xcb, 0x3f, 0xff, []byte{0x5c, 0x03, 0x5f, 0xc1, 0x0a}))
	if first.sw>>8 != 0x61 || len(first.data) != 256 {
		t.Fatalf("GET DATA of %d bytes: %d bytes and SW %04X, want 256 and 61xx", len(r.data), len(first.data), first.sw)
	}
	// Another command drops the pending response.
	send(t, tok, []byte{0, 0xf8, 0, 0, 0})
	mustSW(t, "GET RESPONSE with nothing pending", send(t, tok, []byte{0, 0xc0, 0, 0, 0}), 0x6985)
}

func TestPutDataNeedsManagementKey(t *testing.T) {
	tok := selected(t)
	mustSW(t, "PUT DATA", send(t, tok, apdu(0, 0xdb, 0x3f, 0xff, []byte{0x5c, 0x03, 0x5f, 0xc1, 0x0a, 0x53, 0x00})), 0x6982)
}

func TestInterruptedChainIsRefused(t *testing.T) {
	tok := selected(t)
	mustSW(t, "first block", send(t, tok, apdu(0x10, 0xdb, 0x3f, 0xff, []byte{0x5c, 0x03})), 0x9000)
	mustSW(t, "a different last command", send(t, tok, apdu(0, 0xcb, 0x3f, 0xff, []byte{0x5c, 0x03, 0x5f, 0xc1, 0x0a})), 0x6883)
	mustSW(t, "next command", send(t, tok, []byte{0, 0xf8, 0, 0, 0}), 0x9000)
}

func TestAttestCarriesKeyAndPolicies(t *testing.T) {
	tok := selected(t, piv.WithSerial(777))
	mustSW(t, "ATTEST empty slot", send(t, tok, []byte{0, 0xf9, 0x9c, 0, 0}), 0x6a80)
	authenticate(t, tok, defaultMgmKey)
	pub := generate(t, tok, 0x9c, 0x14, 0x02)
	r := transmit(t, tok, 0xf9, 0x9c, 0x00, nil)
	mustSW(t, "ATTEST", r, 0x9000)
	cert, err := x509.ParseCertificate(r.data)
	if err != nil {
		t.Fatalf("ATTEST %X: %v", r.data, err)
	}
	if !pub.Equal(cert.PublicKey) {
		t.Fatal("attestation certificate key differs from the generated key")
	}
	var policy, serial []byte
	for _, e := range cert.Extensions {
		switch e.Id.String() {
		case "1.3.6.1.4.1.41482.3.8":
			policy = e.Value
		case "1.3.6.1.4.1.41482.3.7":
			serial = e.Value
		}
	}
	if !bytes.Equal(policy, []byte{0x02, 0x01}) {
		t.Fatalf("key policy extension = %X, want 0201 (PIN once, touch never)", policy)
	}
	if want, _ := asn1.Marshal(777); !bytes.Equal(serial, want) {
		t.Fatalf("serial extension = %X, want %X", serial, want)
	}
	r = transmit(t, tok, 0xcb, 0x3f, 0xff, []byte{0x5c, 0x03, 0x5f, 0xff, 0x01})
	mustSW(t, "GET DATA attestation certificate", r, 0x9000)
	body, _ := tlvValue(t, r.data, []byte{0x53})
	caDER, _ := tlvValue(t, body, []byte{0x70})
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		t.Fatalf("attestation not signed by the F9 certificate: %v", err)
	}
}

func TestMalformedCommandsGetStatusWords(t *testing.T) {
	tok := selected(t)
	for _, tc := range []struct {
		cmd  []byte
		want uint16
	}{
		{[]byte{0x00, 0xfd}, 0x6700},
		{[]byte{0x00, 0xcb, 0x3f, 0xff, 0x05, 0x5c}, 0x6700},
		{[]byte{0x80, 0xfd, 0x00, 0x00}, 0x6e00},
		{[]byte{0x00, 0x99, 0x00, 0x00}, 0x6d00},
		{apdu(0, 0xcb, 0x3f, 0xff, []byte{0x5c, 0x05, 0x5f}), 0x6a80},
		{apdu(0, 0x87, 0x11, 0x9c, []byte{0x7c, 0x7f}), 0x6a80},
		{apdu(0, 0x20, 0, 0x80, []byte{1, 2, 3}), 0x6a80},
	} {
		mustSW(t, fmt.Sprintf("%X", tc.cmd), send(t, tok, tc.cmd), tc.want)
	}
}

func TestLogValueShowsNoSecrets(t *testing.T) {
	tok := piv.New(piv.WithPIN("73519246"), piv.WithSerial(4242))
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("token", "token", tok)
	if out := buf.String(); strings.Contains(out, "73519246") || !strings.Contains(out, "4242") {
		t.Fatalf("log line %q: want the serial and not the PIN", out)
	}
}
