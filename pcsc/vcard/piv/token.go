// Package piv is a virtual PIV token: the PIV Card Application of NIST SP
// 800-73-4 with the YubiKey extensions github.com/go-piv/piv-go/v2 relies on
// (GET VERSION, GET SERIAL, ATTEST), enough to open it, authenticate with the
// management key, generate ECDSA P-256/P-384 keys, sign, and store
// certificates — through the vpcd bridge and a real pcscd.
//
// It reports firmware 5.2.7 so that piv-go does not send GET METADATA
// (5.3.0 and later) and learns a key's PIN policy from ATTEST instead.
//
// The PIN, PUK, management key and private keys never leave the token: not in
// responses, errors or logs (Token implements slog.LogValuer and shows only
// its serial number).
package piv

import (
	"bytes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cccd-station/station/pcsc/vcard"
)

// Defaults of a new token, those of a YubiKey fresh from the factory.
const (
	DefaultSerial  uint32 = 10000001
	DefaultPIN            = "123456"
	DefaultPUK            = "12345678"
	DefaultRetries        = 3
)

// defaultManagementKey is 0102030405060708 three times (3DES).
var defaultManagementKey = bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 3)

// Instructions: SP 800-73-4 Part 2 §3 and the YubiKey extensions.
const (
	insVerify       = 0x20 // Part 2 §3.2.1
	insChangeRef    = 0x24 // Part 2 §3.2.2
	insResetRetry   = 0x2c // Part 2 §3.2.3
	insGenerate     = 0x47 // Part 2 §3.3.2
	insGeneralAuth  = 0x87 // Part 2 §3.2.4
	insSelect       = 0xa4 // Part 2 §3.1.1
	insGetResponse  = 0xc0 // ISO/IEC 7816-4 §7.6.1
	insGetData      = 0xcb // Part 2 §3.1.2
	insPutData      = 0xdb // Part 2 §3.3.1
	insGetSerial    = 0xf8 // YubiKey
	insAttest       = 0xf9 // YubiKey
	insGetVersion   = 0xfd // YubiKey
	keyManagement   = 0x9b // Part 1 §5.1: PIV Card Application Administration Key
	algTDES         = 0x03 // Part 1 §5.3 Table 5, SP 800-78-4 Table 6-2
	algP256         = 0x11
	algP384         = 0x14
	policyNever     = 0x01 // YubiKey PIN policies (tag AA)
	policyOnce      = 0x02
	policyAlways    = 0x03
	maxObject       = 3072 // largest data object stored (a YubiKey 5 takes ~3 KB)
	objAttestation  = 0x5fff01
	shortResponse   = 256 // most response data in one short APDU (Le = 00)
	maxChainedInput = 2 * maxObject
)

// Status words: ISO/IEC 7816-4 §5.1.3, as SP 800-73-4 Part 2 §3 uses them.
const (
	sw9000          = 0x9000
	swWrongLength   = 0x6700
	swChannel       = 0x6881
	swSMNotSupport  = 0x6882
	swLastInChain   = 0x6883
	swSecurity      = 0x6982
	swBlocked       = 0x6983
	swConditions    = 0x6985
	swWrongData     = 0x6a80
	swNotFound      = 0x6a82
	swNoMemory      = 0x6a84
	swWrongP1P2     = 0x6a86
	swRefNotFound   = 0x6a88
	swINSNotSupport = 0x6d00
	swCLANotSupport = 0x6e00
)

// aid is the PIV Card Application's full AID (SP 800-73-4 Part 1 §2.2);
// SELECT may give it right-truncated, down to the RID and PIX prefix A0000003 08.
var aid = []byte{0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00}

// atr advertises T=1 (TD1 = 80: T=0 and TD2 follows; TD2 = 01: T=1), eight
// historical bytes (ISO/IEC 7816-4 §8.1: category 80, card capabilities
// 73 C0 21 C0, issuer data "VP"), and TCK, the XOR of T0..last historical byte
// (ISO/IEC 7816-3 §8.2.5), set in init.
var atr = []byte{0x3b, 0x88, 0x80, 0x01, 0x80, 0x73, 0xc0, 0x21, 0xc0, 0x52, 0x56, 0x50, 0x00}

func init() {
	var tck byte
	for _, b := range atr[1 : len(atr)-1] {
		tck ^= b
	}
	atr[len(atr)-1] = tck
}

// secret is a PIN or the PUK with its retry counter (Part 2 §2.4.3: 8 bytes,
// padded with FF).
type secret struct {
	value       [8]byte
	left, limit int
}

func padPIN(s string) ([8]byte, bool) {
	var v [8]byte
	if len(s) < 1 || len(s) > 8 {
		return v, false
	}
	for i := range v {
		v[i] = 0xff
	}
	copy(v[:], s)
	return v, true
}

// check compares got with the reference value, counting a failure.
func (s *secret) check(got []byte) uint16 {
	if s.left == 0 {
		return swBlocked
	}
	if len(got) != 8 {
		return swWrongData
	}
	if subtle.ConstantTimeCompare(s.value[:], got) == 1 {
		s.left = s.limit
		return sw9000
	}
	s.left--
	return s.status()
}

// status is the retry status of Part 2 §3.2.1: 63Cx with x tries left.
func (s *secret) status() uint16 {
	if s.left == 0 {
		return swBlocked
	}
	return 0x63c0 | uint16(min(s.left, 15))
}

type slotKey struct {
	alg         byte
	pinPolicy   byte
	touchPolicy byte
	priv        *ecdsa.PrivateKey
}

// Token is a virtual PIV token. It implements vcard.Card; it is safe for
// concurrent use (one APDU at a time).
type Token struct {
	mu       sync.Mutex
	serial   uint32
	version  [3]byte
	pin, puk secret
	mgmKey   cipher.Block
	keys     map[byte]*slotKey
	objects  map[uint32][]byte
	attKey   *ecdsa.PrivateKey
	attCA    *x509.Certificate

	// Volatile state, lost on reset and power-off.
	selected  bool
	pinOK     bool // PIN verified in this session (policy "once")
	pinFresh  bool // PIN verified since the last private-key operation (policy "always")
	mgmOK     bool // management key authenticated
	witness   []byte
	chaining  bool
	chainHdr  [3]byte
	chain     []byte
	remaining []byte // response data waiting for GET RESPONSE
}

var _ vcard.Card = (*Token)(nil)

// Option configures a new token.
type Option func(*Token)

// WithSerial sets the serial number GET SERIAL reports.
func WithSerial(n uint32) Option { return func(t *Token) { t.serial = n } }

// WithPIN sets the PIN (1 to 8 bytes).
func WithPIN(pin string) Option {
	return func(t *Token) {
		v, ok := padPIN(pin)
		if !ok {
			panic("piv: WithPIN: the PIN must be 1 to 8 bytes")
		}
		t.pin.value = v
	}
}

// WithPUK sets the PUK (1 to 8 bytes).
func WithPUK(puk string) Option {
	return func(t *Token) {
		v, ok := padPIN(puk)
		if !ok {
			panic("piv: WithPUK: the PUK must be 1 to 8 bytes")
		}
		t.puk.value = v
	}
}

// WithManagementKey sets the 24-byte 3DES management key.
func WithManagementKey(key []byte) Option {
	return func(t *Token) {
		b, err := des.NewTripleDESCipher(key)
		if err != nil {
			panic("piv: WithManagementKey: the key must be 24 bytes (3DES)")
		}
		t.mgmKey = b
	}
}

// WithPINRetries sets how many wrong PINs (and PUKs) block them (1 to 15).
func WithPINRetries(n int) Option {
	return func(t *Token) {
		if n < 1 || n > 15 {
			panic("piv: WithPINRetries: 1 to 15")
		}
		t.pin.left, t.pin.limit = n, n
		t.puk.left, t.puk.limit = n, n
	}
}

// New returns a token with no keys and no certificates.
func New(opts ...Option) *Token {
	t := &Token{
		serial:  DefaultSerial,
		version: [3]byte{5, 2, 7},
		keys:    map[byte]*slotKey{},
		objects: map[uint32][]byte{},
	}
	WithPIN(DefaultPIN)(t)
	WithPUK(DefaultPUK)(t)
	WithManagementKey(defaultManagementKey)(t)
	WithPINRetries(DefaultRetries)(t)
	for _, o := range opts {
		o(t)
	}
	if err := t.makeAttestationCA(); err != nil {
		panic(fmt.Sprintf("piv: making the attestation certificate: %v", err))
	}
	return t
}

// LogValue shows the token's serial number, never its secrets.
func (t *Token) LogValue() slog.Value {
	return slog.GroupValue(slog.Uint64("piv_serial", uint64(t.serial)))
}

// PINRetries reports how many PIN tries are left (0: blocked).
func (t *Token) PINRetries() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pin.left
}

// ATR implements vcard.Card.
func (t *Token) ATR() []byte { return bytes.Clone(atr) }

// PowerOn implements vcard.Card.
func (t *Token) PowerOn() { t.clearVolatile() }

// PowerOff implements vcard.Card: volatile state is lost.
func (t *Token) PowerOff() { t.clearVolatile() }

// Reset implements vcard.Card: volatile state is lost.
func (t *Token) Reset() { t.clearVolatile() }

func (t *Token) clearVolatile() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.selected, t.pinOK, t.pinFresh, t.mgmOK = false, false, false, false
	t.witness, t.chaining, t.chain, t.remaining = nil, false, nil, nil
}

// Process implements vcard.Card. The token never leaves the reader by
// itself, so the error is always nil.
func (t *Token) Process(cmd []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	data, sw := t.process(cmd)
	if sw == sw9000 && len(data) > shortResponse {
		// ISO/IEC 7816-4 §5.1.3: 61xx, the rest comes with GET RESPONSE.
		t.remaining = data[shortResponse:]
		return append(bytes.Clone(data[:shortResponse]), 0x61, remainingSW2(len(t.remaining))), nil
	}
	// Copy: data may alias the pending response or a stored object.
	return append(append(make([]byte, 0, len(data)+2), data...), byte(sw>>8), byte(sw)), nil
}

func remainingSW2(n int) byte {
	if n > 0xff {
		return 0x00 // 256 or more
	}
	return byte(n)
}

// parseAPDU splits a short command APDU (ISO/IEC 7816-4 §5.1) into its data
// and Le (256 for Le = 00, 0 when absent). Extended length is not supported.
func parseAPDU(cmd []byte) (data []byte, le int, ok bool) {
	switch {
	case len(cmd) < 4:
		return nil, 0, false
	case len(cmd) == 4:
		return nil, 0, true
	case len(cmd) == 5:
		return nil, leOf(cmd[4]), true
	}
	lc := int(cmd[4])
	switch len(cmd) - 5 - lc {
	case 0:
		return cmd[5 : 5+lc], 0, lc > 0
	case 1:
		return cmd[5 : 5+lc], leOf(cmd[5+lc]), lc > 0
	}
	return nil, 0, false
}

func leOf(b byte) int {
	if b == 0 {
		return 256
	}
	return int(b)
}

func (t *Token) process(cmd []byte) ([]byte, uint16) {
	data, le, ok := parseAPDU(cmd)
	if !ok {
		return nil, swWrongLength
	}
	cla, ins, p1, p2 := cmd[0], cmd[1], cmd[2], cmd[3]
	if cla&^0x10 != 0 {
		return nil, unsupportedCLA(cla)
	}
	if ins == insGetResponse && cla == 0 {
		return t.getResponse(le)
	}
	t.remaining = nil

	// ISO/IEC 7816-4 §5.1.1.1: CLA b5 set means more of this command
	// follows. A different command abandons the chain.
	hdr := [3]byte{ins, p1, p2}
	if t.chaining && hdr != t.chainHdr {
		t.chaining, t.chain = false, nil
		if cla&0x10 == 0 {
			return nil, swLastInChain
		}
	}
	if cla&0x10 != 0 {
		if len(t.chain)+len(data) > maxChainedInput {
			t.chaining, t.chain = false, nil
			return nil, swNoMemory
		}
		t.chaining, t.chainHdr = true, hdr
		t.chain = append(t.chain, data...)
		return nil, sw9000
	}
	if t.chaining {
		data = append(t.chain, data...)
		t.chaining, t.chain = false, nil
	}

	if ins == insSelect {
		return t.selectApp(p1, data)
	}
	if !t.selected {
		return nil, swINSNotSupport
	}
	switch ins {
	case insGetVersion:
		return t.version[:], sw9000
	case insGetSerial:
		return binary.BigEndian.AppendUint32(nil, t.serial), sw9000
	case insVerify:
		return nil, t.verify(p1, p2, data)
	case insChangeRef:
		return nil, t.changeReference(p1, p2, data)
	case insResetRetry:
		return nil, t.resetRetry(p1, p2, data)
	case insGetData:
		return t.getData(p1, p2, data)
	case insPutData:
		return nil, t.putData(p1, p2, data)
	case insGenerate:
		return t.generate(p1, p2, data)
	case insGeneralAuth:
		return t.generalAuthenticate(p1, p2, data)
	case insAttest:
		return t.attest(p1)
	}
	return nil, swINSNotSupport
}

// getResponse returns the next part of a long response (ISO/IEC 7816-4 §7.6.1).
func (t *Token) getResponse(le int) ([]byte, uint16) {
	if t.remaining == nil {
		return nil, swConditions
	}
	if le == 0 {
		le = shortResponse
	}
	n := min(le, len(t.remaining))
	out := t.remaining[:n]
	t.remaining = t.remaining[n:]
	if len(t.remaining) == 0 {
		t.remaining = nil
		return out, sw9000
	}
	return out, 0x6100 | uint16(remainingSW2(len(t.remaining)))
}

// unsupportedCLA answers a class byte other than 00 and 10 (ISO/IEC 7816-4
// §5.4.1 codes CLA; §5.6 Table 6 the answers): a logical channel other
// than the basic one 6881, secure messaging 6882, any other class 6E00.
func unsupportedCLA(cla byte) uint16 {
	switch {
	case cla&0xE0 == 0x00 && cla&0x03 != 0, cla&0xC0 == 0x40:
		return swChannel
	case cla&0xE0 == 0x00 && cla&0x0C != 0:
		return swSMNotSupport
	}
	return swCLANotSupport
}

// selectApp: SP 800-73-4 Part 2 §3.1.1. The response is the application
// property template 61 { 4F PIX, 79 { 4F RID+PIX } }. The token has no
// file system: SELECT of a file by identifier (P1 00 or 02; the MF: P1 00
// without data) answers 6A82, file not found (ISO/IEC 7816-4 §5.6, Table
// 6), or 6700 with an identifier not of 2 bytes; other selection methods
// 6A86.
func (t *Token) selectApp(p1 byte, id []byte) ([]byte, uint16) {
	switch {
	case p1 == 0x00 || p1 == 0x02:
		if len(id) == 2 || p1 == 0x00 && len(id) == 0 {
			return nil, swNotFound
		}
		return nil, swWrongLength
	case p1 != 0x04:
		return nil, swWrongP1P2
	}
	if len(id) < 5 || !bytes.HasPrefix(aid, id) {
		return nil, swNotFound
	}
	t.selected = true
	apt := append(encodeTLV(0x4f, aid[5:]), encodeTLV(0x79, encodeTLV(0x4f, aid[:5]))...)
	return encodeTLV(0x61, apt), sw9000
}

// verify: SP 800-73-4 Part 2 §3.2.1. Without data it reports the retry
// status; P1 = FF resets the PIN's security status.
func (t *Token) verify(p1, p2 byte, pin []byte) uint16 {
	if p2 != 0x80 {
		return swRefNotFound
	}
	switch {
	case p1 == 0xff && len(pin) == 0:
		t.pinOK, t.pinFresh = false, false
		return sw9000
	case p1 != 0x00:
		return swWrongP1P2
	case len(pin) == 0 && t.pin.left > 0 && t.pinOK:
		return sw9000
	case len(pin) == 0:
		return t.pin.status()
	}
	sw := t.pin.check(pin)
	t.pinOK = sw == sw9000
	t.pinFresh = t.pinOK
	return sw
}

// changeReference: SP 800-73-4 Part 2 §3.2.2, old and new value, 8 bytes each.
func (t *Token) changeReference(p1, p2 byte, data []byte) uint16 {
	ref := &t.pin
	switch {
	case p1 != 0:
		return swWrongP1P2
	case p2 == 0x81:
		ref = &t.puk
	case p2 != 0x80:
		return swRefNotFound
	}
	if len(data) != 16 {
		return swWrongData
	}
	if sw := ref.check(data[:8]); sw != sw9000 {
		if ref == &t.pin {
			t.pinOK, t.pinFresh = false, false
		}
		return sw
	}
	copy(ref.value[:], data[8:])
	return sw9000
}

// resetRetry: SP 800-73-4 Part 2 §3.2.3, the PUK and a new PIN unblock the PIN.
func (t *Token) resetRetry(p1, p2 byte, data []byte) uint16 {
	if p1 != 0 || p2 != 0x80 {
		return swWrongP1P2
	}
	if len(data) != 16 {
		return swWrongData
	}
	if sw := t.puk.check(data[:8]); sw != sw9000 {
		return sw
	}
	copy(t.pin.value[:], data[8:])
	t.pin.left = t.pin.limit
	t.pinOK, t.pinFresh = false, false
	return sw9000
}

// objectTag reads the tag list 5C of GET DATA / PUT DATA (Part 2 §3.1.2, §3.3.1).
func objectTag(objs []tlv) (uint32, bool) {
	v, ok := find(objs, 0x5c)
	if !ok || len(v) < 1 || len(v) > 3 {
		return 0, false
	}
	var tag uint32
	for _, b := range v {
		tag = tag<<8 | uint32(b)
	}
	return tag, true
}

// getData: SP 800-73-4 Part 2 §3.1.2; the object comes back as 53 { ... }.
func (t *Token) getData(p1, p2 byte, data []byte) ([]byte, uint16) {
	if p1 != 0x3f || p2 != 0xff {
		return nil, swWrongP1P2
	}
	objs, err := parseTLV(data)
	if err != nil {
		return nil, swWrongData
	}
	tag, ok := objectTag(objs)
	if !ok {
		return nil, swWrongData
	}
	obj, ok := t.objects[tag]
	if !ok {
		return nil, swNotFound
	}
	return encodeTLV(0x53, obj), sw9000
}

// putData: SP 800-73-4 Part 2 §3.3.1; needs the management key. An empty
// 53 deletes the object.
func (t *Token) putData(p1, p2 byte, data []byte) uint16 {
	if p1 != 0x3f || p2 != 0xff {
		return swWrongP1P2
	}
	if !t.mgmOK {
		return swSecurity
	}
	objs, err := parseTLV(data)
	if err != nil {
		return swWrongData
	}
	tag, ok := objectTag(objs)
	body, ok2 := find(objs, 0x53)
	switch {
	case !ok || !ok2:
		return swWrongData
	case len(body) > maxObject:
		return swNoMemory
	case len(body) == 0:
		delete(t.objects, tag)
	default:
		t.objects[tag] = bytes.Clone(body)
	}
	return sw9000
}

func curveOf(alg byte) elliptic.Curve {
	switch alg {
	case algP256:
		return elliptic.P256()
	case algP384:
		return elliptic.P384()
	}
	return nil
}

func isKeySlot(ref byte) bool { return ref == 0x9a || ref == 0x9c || ref == 0x9d || ref == 0x9e }

// generate: SP 800-73-4 Part 2 §3.3.2. Data AC { 80 alg, AA pin policy,
// AB touch policy } (AA/AB: YubiKey); response 7F49 { 86 04||X||Y } (the
// uncompressed point, SP 800-78-4). Needs the management key.
func (t *Token) generate(p1, p2 byte, data []byte) ([]byte, uint16) {
	if p1 != 0 || !isKeySlot(p2) {
		return nil, swWrongP1P2
	}
	if !t.mgmOK {
		return nil, swSecurity
	}
	outer, err := parseTLV(data)
	if err != nil {
		return nil, swWrongData
	}
	tmpl, ok := find(outer, 0xac)
	if !ok {
		return nil, swWrongData
	}
	objs, err := parseTLV(tmpl)
	if err != nil {
		return nil, swWrongData
	}
	alg, _ := find(objs, 0x80)
	if len(alg) != 1 || curveOf(alg[0]) == nil {
		return nil, swWrongData
	}
	// YubiKey defaults: 9C asks for the PIN before every signature, 9E never.
	k := &slotKey{alg: alg[0], pinPolicy: policyOnce, touchPolicy: 0x01}
	switch p2 {
	case 0x9c:
		k.pinPolicy = policyAlways
	case 0x9e:
		k.pinPolicy = policyNever
	}
	if v, ok := find(objs, 0xaa); ok {
		if len(v) != 1 || v[0] < policyNever || v[0] > policyAlways {
			return nil, swWrongData
		}
		k.pinPolicy = v[0]
	}
	if v, ok := find(objs, 0xab); ok {
		if len(v) != 1 || v[0] < 0x01 || v[0] > 0x03 {
			return nil, swWrongData
		}
		k.touchPolicy = v[0] // there is no button to touch: recorded for ATTEST only
	}
	k.priv, err = ecdsa.GenerateKey(curveOf(k.alg), rand.Reader)
	if err != nil {
		return nil, swConditions
	}
	pub, err := k.priv.PublicKey.ECDH()
	if err != nil {
		return nil, swConditions
	}
	t.keys[p2] = k
	return encodeTLV(0x7f49, encodeTLV(0x86, pub.Bytes())), sw9000
}

// generalAuthenticate: SP 800-73-4 Part 2 §3.2.4 with a dynamic
// authentication template 7C. Key 9B: management key challenge-response;
// a key slot: the private key operation.
func (t *Token) generalAuthenticate(p1, p2 byte, data []byte) ([]byte, uint16) {
	outer, err := parseTLV(data)
	if err != nil || len(outer) != 1 || outer[0].tag != 0x7c {
		return nil, swWrongData
	}
	objs, err := parseTLV(outer[0].value)
	if err != nil {
		return nil, swWrongData
	}
	if p2 == keyManagement {
		return t.authenticateAdmin(p1, objs)
	}
	if !isKeySlot(p2) {
		return nil, swWrongP1P2
	}
	return t.sign(p1, p2, objs)
}

// authenticateAdmin is the mutual authentication of the card administrator
// (SP 800-73-4 Part 2 §3.2.4 and Appendix A, as piv-go runs it):
//
//  1. 7C { 80 00 }             -> 7C { 80 E(K, witness) }
//  2. 7C { 80 witness, 81 c }  -> 7C { 82 E(K, c) }
//
// P1 is 03 (3DES) or 00 (the card's default algorithm, 3DES here).
func (t *Token) authenticateAdmin(p1 byte, objs []tlv) ([]byte, uint16) {
	if p1 != algTDES && p1 != 0x00 {
		return nil, swWrongP1P2
	}
	bs := t.mgmKey.BlockSize()
	w, hasW := find(objs, 0x80)
	c, hasC := find(objs, 0x81)
	switch {
	case hasW && len(w) == 0 && !hasC:
		t.mgmOK = false
		t.witness = make([]byte, bs)
		rand.Read(t.witness)
		enc := make([]byte, bs)
		t.mgmKey.Encrypt(enc, t.witness)
		return encodeTLV(0x7c, encodeTLV(0x80, enc)), sw9000
	case hasW && hasC && len(w) == bs && len(c) == bs:
		want := t.witness
		t.witness = nil
		if want == nil {
			return nil, swConditions
		}
		if subtle.ConstantTimeCompare(w, want) != 1 {
			return nil, swSecurity
		}
		t.mgmOK = true
		enc := make([]byte, bs)
		t.mgmKey.Encrypt(enc, c)
		return encodeTLV(0x7c, encodeTLV(0x82, enc)), sw9000
	}
	return nil, swWrongData
}

// sign: 7C { 82 00, 81 digest } -> 7C { 82 DER ECDSA-Sig-Value }
// (SP 800-73-4 Part 2 §3.2.4, ECDSA per SP 800-78-4). The key's PIN policy
// decides whether a verified PIN is needed ("once": in this session;
// "always": right before, and it is used up).
func (t *Token) sign(alg, ref byte, objs []tlv) ([]byte, uint16) {
	k := t.keys[ref]
	if k == nil {
		return nil, swRefNotFound
	}
	if alg != k.alg {
		return nil, swWrongP1P2
	}
	resp, hasResp := find(objs, 0x82)
	digest, hasDigest := find(objs, 0x81)
	size := (curveOf(k.alg).Params().BitSize + 7) / 8
	if !hasResp || len(resp) != 0 || !hasDigest || len(digest) == 0 || len(digest) > size {
		return nil, swWrongData
	}
	switch {
	case k.pinPolicy == policyOnce && !t.pinOK,
		k.pinPolicy == policyAlways && !t.pinFresh:
		return nil, swSecurity
	}
	t.pinFresh = false
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest)
	if err != nil {
		return nil, swConditions
	}
	return encodeTLV(0x7c, encodeTLV(0x82, sig)), sw9000
}
