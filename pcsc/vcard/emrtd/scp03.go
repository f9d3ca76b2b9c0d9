package emrtd

import (
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
)

// The card side of Secure Channel Protocol '03' (GlobalPlatform Card
// Specification 2.3, Amendment D), as the cccd model's eMRTD application
// runs it while it acts as its own security domain: static keys diversified
// from the station's master keys, INITIALIZE UPDATE with a pseudo-random
// card challenge (i = 70), EXTERNAL AUTHENTICATE, and command/response
// protection (C-MAC, C-DECRYPTION, R-MAC, R-ENCRYPTION). Written from the
// card's side, independently of package personalization.

// Derivation constants (GP Amd D §4.1.5, used in §6.2; cccd.md §3 for the key
// diversification constant).
const (
	scpConstCardCryptogram = 0x00
	scpConstHostCryptogram = 0x01
	scpConstCardChallenge  = 0x02
	scpConstSENC           = 0x04
	scpConstSMAC           = 0x06
	scpConstSRMAC          = 0x07
	scpConstDiversify      = 0x10
)

// Security level bits (P1 of EXTERNAL AUTHENTICATE, GP Amd D §7.1.2).
const (
	scpCMAC = 0x01 // C-MAC
	scpCDEC = 0x02 // C-DECRYPTION
	scpRMAC = 0x10 // R-MAC
	scpRENC = 0x20 // R-ENCRYPTION
)

// scpIParam is the i-parameter the card announces in INITIALIZE UPDATE
// (Amd D §5.1, Table 5-1): 70, as cccd.md §3 and the known-answer vectors
// give it — pseudo-random card challenge (the response carries the sequence
// counter), R-MAC and R-ENCRYPTION supported.
const scpIParam = 0x70

// scpSeqMax is the largest 3-byte sequence counter.
const scpSeqMax = 0xFFFFFF

// scp03KDF is the data derivation scheme of GP Amd D §4.1.5: NIST SP 800-108
// KDF in counter mode with AES-CMAC as PRF. The derivation data is a label
// of 11 bytes 00 and the one-byte constant, a separation indicator 00, L (2
// bytes, bits, big-endian), the counter i (1 byte, from 01) and the context.
// The result is the first L bits of PRF(i=1) ‖ PRF(i=2) ‖ ….
func scp03KDF(key []byte, constant byte, lBits int, context []byte) []byte {
	m := newCMAC(key)
	blocks := (lBits + 127) / 128
	out := make([]byte, 0, blocks*aesBlock)
	for i := 1; i <= blocks; i++ {
		d := make([]byte, 16, 16+len(context))
		d[11] = constant
		d[12] = 0x00
		d[13], d[14] = byte(lBits>>8), byte(lBits)
		d[15] = byte(i)
		d = append(d, context...)
		out = append(out, m.sum(d)...)
	}
	return out[:lBits/8]
}

// SCP03Master is a set of SCP03 master keys of one key version: the chip
// diversifies its own static keys from them (cccd.md §3). Build one with
// NewSCP03Master; the zero value means TestSCP03Master. It never prints its
// keys.
type SCP03Master struct {
	kvn           byte
	enc, mac, dek []byte
}

// NewSCP03Master checks and copies a key version number and three AES master
// keys (ENC, MAC, DEK) of the same length: 16, 24 or 32 bytes.
func NewSCP03Master(kvn byte, enc, mac, dek []byte) (SCP03Master, error) {
	switch len(enc) {
	case 16, 24, 32:
	default:
		return SCP03Master{}, fmt.Errorf("emrtd: SCP03 master keys must be 16, 24 or 32 bytes, not %d", len(enc))
	}
	if len(mac) != len(enc) || len(dek) != len(enc) {
		return SCP03Master{}, errors.New("emrtd: SCP03 master keys ENC, MAC and DEK must have the same length")
	}
	if kvn == 0x00 || kvn == 0xFF {
		return SCP03Master{}, fmt.Errorf("emrtd: SCP03 key version number %02X is reserved", kvn)
	}
	return SCP03Master{kvn: kvn, enc: clone(enc), mac: clone(mac), dek: clone(dek)}, nil
}

// TestSCP03Master is the well-known TEST master key set a cccd chip uses when
// none is given: key version 30, ENC = MAC = DEK = 40 41 42 … 4F (AES-128),
// the GlobalPlatform default test key. Never for a real card.
var TestSCP03Master = func() SCP03Master {
	k := []byte{0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F}
	m, err := NewSCP03Master(0x30, k, k, k)
	if err != nil {
		panic(err)
	}
	return m
}()

// KVN is the key version number.
func (m SCP03Master) KVN() byte { return m.orTest().kvn }

// KeyBits is the AES key length.
func (m SCP03Master) KeyBits() int { return 8 * len(m.orTest().enc) }

func (m SCP03Master) orTest() SCP03Master {
	if m.enc == nil {
		return TestSCP03Master
	}
	return m
}

// String names the key set without its keys.
func (m SCP03Master) String() string {
	m = m.orTest()
	return fmt.Sprintf("SCP03 master KVN %02X (AES-%d)", m.kvn, 8*len(m.enc))
}

// GoString redacts as String does, for %#v.
func (m SCP03Master) GoString() string { return m.String() }

// LogValue logs the key version and length only.
func (m SCP03Master) LogValue() slog.Value { return slog.StringValue(m.String()) }

// diversify computes the card's static keys from the master keys: K_card,x =
// KDF(K_master,x, constant 10, L = key length, context = the 10 bytes of
// diversification data) (cccd.md §3 with the scheme of GP Amd D §4.1.5).
func (m SCP03Master) diversify(data []byte) scp03Keys {
	m = m.orTest()
	l := 8 * len(m.enc)
	return scp03Keys{
		kvn: m.kvn,
		enc: scp03KDF(m.enc, scpConstDiversify, l, data),
		mac: scp03KDF(m.mac, scpConstDiversify, l, data),
		dek: scp03KDF(m.dek, scpConstDiversify, l, data),
	}
}

// WithSCP03Master sets the master keys a new cccd chip diversifies its SCP03
// static keys from (default TestSCP03Master). Other models ignore it, and so
// does Load: a saved chip keeps its own keys.
func WithSCP03Master(m SCP03Master) Option { return func(c *config) { c.scp03 = m } }

// scp03Keys are the card's static keys (secret: never logged).
type scp03Keys struct {
	kvn           byte
	enc, mac, dek []byte
}

func (k scp03Keys) String() string   { return fmt.Sprintf("SCP03 keys KVN %02X [redacted]", k.kvn) }
func (k scp03Keys) GoString() string { return k.String() }

// cardChallenge is the pseudo-random card challenge (GP Amd D §6.2.2.1):
// KDF(K-ENC, constant 02, L = 64, context = sequence counter (3 bytes) ‖ the
// AID of the application that runs the secure channel).
func (k scp03Keys) cardChallenge(seq uint32, aid []byte) []byte {
	ctx := append([]byte{byte(seq >> 16), byte(seq >> 8), byte(seq)}, aid...)
	return scp03KDF(k.enc, scpConstCardChallenge, 64, ctx)
}

// scp03Session is one secure channel session from INITIALIZE UPDATE on.
type scp03Session struct {
	level         byte
	authenticated bool
	sEnc          cipher.Block
	sMac, sRMac   *cmac
	hostChallenge []byte
	cardChallenge []byte
	// chain is the MAC chaining value: 16 bytes 00 before EXTERNAL
	// AUTHENTICATE, then the full CMAC of the last command (Amd D §6.2.4).
	chain []byte
	// counter is the encryption counter (Amd D §6.2.6): 1 for the first
	// command after EXTERNAL AUTHENTICATE, incremented after every command.
	counter uint64
	// the session keys, kept for the known-answer test only
	keyEnc, keyMac, keyRMac []byte
}

// open derives the session keys from the static keys and both challenges
// (Amd D §6.2.1: S-ENC, S-MAC, S-RMAC with context host ‖ card challenge,
// L = the static key length).
func (k scp03Keys) open(hostChallenge, cardChallenge []byte) *scp03Session {
	ctx := append(append([]byte(nil), hostChallenge...), cardChallenge...)
	l := 8 * len(k.enc)
	s := &scp03Session{
		hostChallenge: clone(hostChallenge),
		cardChallenge: clone(cardChallenge),
		chain:         make([]byte, aesBlock),
		counter:       1,
		keyEnc:        scp03KDF(k.enc, scpConstSENC, l, ctx),
		keyMac:        scp03KDF(k.mac, scpConstSMAC, l, ctx),
		keyRMac:       scp03KDF(k.mac, scpConstSRMAC, l, ctx),
	}
	s.sEnc = newAES(s.keyEnc)
	s.sMac = newCMAC(s.keyMac)
	s.sRMac = newCMAC(s.keyRMac)
	return s
}

func (s *scp03Session) context() []byte {
	return append(append([]byte(nil), s.hostChallenge...), s.cardChallenge...)
}

// cardCryptogram and hostCryptogram (Amd D §6.2.2.2, §6.2.2.3): KDF(S-MAC,
// constant 00 / 01, L = 64, context = host challenge ‖ card challenge).
func (s *scp03Session) cardCryptogram() []byte {
	return scp03KDF(s.keyMac, scpConstCardCryptogram, 64, s.context())
}

func (s *scp03Session) hostCryptogram() []byte {
	return scp03KDF(s.keyMac, scpConstHostCryptogram, 64, s.context())
}

// scpLevelValid says whether a security level is one GP defines (Amd D
// §7.1.2: no security, C-MAC, C-DEC and C-MAC, with R-MAC, with R-ENC).
func scpLevelValid(level byte) bool {
	switch level {
	case 0x00, 0x01, 0x03, 0x11, 0x13, 0x33:
		return true
	}
	return false
}

// macInput is chaining value ‖ header with the length field as sent ‖ data
// (without the C-MAC).
func (s *scp03Session) macInput(cmd command, data []byte) []byte {
	in := make([]byte, 0, aesBlock+7+len(data))
	in = append(in, s.chain...)
	in = append(in, cmd.cla, cmd.ins, cmd.p1, cmd.p2)
	lc := len(cmd.data)
	if cmd.extended {
		in = append(in, 0x00, byte(lc>>8), byte(lc))
	} else {
		in = append(in, byte(lc))
	}
	return append(in, data...)
}

// checkCMAC verifies the C-MAC at the end of cmd's data field (its last 8
// bytes) and, when it matches, makes the full CMAC the new chaining value
// (Amd D §6.2.4). It returns the data before the MAC.
func (s *scp03Session) checkCMAC(cmd command) ([]byte, bool) {
	if len(cmd.data) < 8 {
		return nil, false
	}
	body, mac := cmd.data[:len(cmd.data)-8], cmd.data[len(cmd.data)-8:]
	full := s.sMac.sum(s.macInput(cmd, body))
	if subtle.ConstantTimeCompare(full[:8], mac) != 1 {
		return nil, false
	}
	s.chain = full
	return body, true
}

// externalAuthenticate checks EXTERNAL AUTHENTICATE (84 82 level 00 10
// host cryptogram ‖ C-MAC, Amd D §7.1.2): the C-MAC over the command with a
// zero chaining value, then the host cryptogram. On success the session is
// authenticated at that level. The caller checks the level against its
// policy first.
func (s *scp03Session) externalAuthenticate(cmd command) bool {
	body, ok := s.checkCMAC(cmd)
	if !ok || len(body) != 8 || subtle.ConstantTimeCompare(body, s.hostCryptogram()) != 1 {
		return false
	}
	s.level = cmd.p1
	s.authenticated = true
	return true
}

// icv is the IV of C-DECRYPTION and R-ENCRYPTION (Amd D §6.2.6, §6.2.7):
// E(S-ENC, the encryption counter on 16 bytes), with the first byte set to
// 80 for a response.
func (s *scp03Session) icv(response bool) []byte {
	var b [aesBlock]byte
	for i := 0; i < 8; i++ {
		b[aesBlock-1-i] = byte(s.counter >> (8 * i))
	}
	if response {
		b[0] = 0x80
	}
	s.sEnc.Encrypt(b[:], b[:])
	return b[:]
}

// unwrap checks and removes the protection of a command (CLA b3 set, Amd D
// §6.2.4-§6.2.6): C-MAC (with C-MAC levels), then the C-DECRYPTION of the
// data field (padded 80 00… to 16 bytes). The inner command has CLA b3
// cleared and keeps Le. ok is false on any failure: the caller answers
// 6982 and ends the session.
func (s *scp03Session) unwrap(cmd command) (command, bool) {
	inner := command{cla: cmd.cla &^ 0x04, ins: cmd.ins, p1: cmd.p1, p2: cmd.p2,
		ne: cmd.ne, hasLe: cmd.hasLe, extended: cmd.extended}
	data := cmd.data
	if s.level&scpCMAC != 0 {
		var ok bool
		if data, ok = s.checkCMAC(cmd); !ok {
			return command{}, false
		}
	}
	if s.level&scpCDEC != 0 && len(data) > 0 {
		if len(data)%aesBlock != 0 {
			return command{}, false
		}
		plain, ok := unpadBlock(aesCBCDecrypt(s.sEnc, s.icv(false), data), aesBlock)
		if !ok {
			return command{}, false
		}
		data = plain
	}
	inner.data = clone(data)
	return inner, true
}

// wrap protects a response (Amd D §6.2.5, §6.2.7): with R-ENC the data,
// padded, encrypted under the command's counter; with R-MAC the first 8
// bytes of CMAC(S-RMAC, chaining value ‖ data ‖ SW1 SW2). An error status
// word (anything but 9000, 62xx and 63xx) comes back alone, unprotected.
// The encryption counter moves on to the next command.
func (s *scp03Session) wrap(data []byte, sw uint16) []byte {
	defer func() { s.counter++ }()
	if sw != swOK && sw>>8 != 0x62 && sw>>8 != 0x63 {
		return status(sw)
	}
	if s.level&scpRENC != 0 && len(data) > 0 {
		data = aesCBCEncrypt(s.sEnc, s.icv(true), padBlock(data, aesBlock))
	}
	out := clone(data)
	if s.level&scpRMAC != 0 {
		in := make([]byte, 0, aesBlock+len(data)+2)
		in = append(in, s.chain...)
		in = append(in, data...)
		in = append(in, byte(sw>>8), byte(sw))
		out = append(out, s.sRMac.sum(in)[:8]...)
	}
	return respond(out, sw)
}

// maxPlain is the largest plain response that fits limit bytes once wrapped.
func (s *scp03Session) maxPlain(limit int) int {
	if s.level&scpRMAC != 0 {
		limit -= 8
	}
	if s.level&scpRENC != 0 {
		limit = limit/aesBlock*aesBlock - 1 // at least one byte of padding
	}
	return max(limit, 0)
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
