// Package gp is the host side of GlobalPlatform Secure Channel Protocol 03
// (GP Card Specification 2.3 Amendment D), with which the station
// personalizes chips of the cccd profile (personalization/cccd.md §3–4):
// INITIALIZE UPDATE, the session keys and cryptograms, EXTERNAL
// AUTHENTICATE, and a Channel that protects commands (C-MAC, C-DECRYPTION)
// and checks responses (R-MAC, R-ENCRYPTION) at security levels 01, 03, 11,
// 13 and 33; and the diversification of each card's static keys from the
// station's master keys.
//
// It is written independently of the virtual chip's card manager (package
// pcsc/vcard/emrtd); both are pinned by the same known-answer vectors.
package gp

import (
	"crypto/aes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cccd-station/station/pcsc"
)

// Errors callers decide on (errors.Is).
var (
	// ErrAuth: the card's cryptogram is not the one the keys give (wrong
	// keys, or not the card), or the card refused EXTERNAL AUTHENTICATE
	// (the *pcsc.StatusError is wrapped too).
	ErrAuth = errors.New("gp: SCP03 authentication failed")
	// ErrRMAC: a response's R-MAC does not verify, or its protection is
	// malformed. The session is over.
	ErrRMAC = errors.New("gp: SCP03 response rejected")
	// ErrResponse: the answer to INITIALIZE UPDATE is not an SCP03 one this
	// host can use (length, SCP identifier, key version, S16 mode, or a
	// security level the card does not offer).
	ErrResponse = errors.New("gp: unusable INITIALIZE UPDATE response")
)

// Security levels (P1 of EXTERNAL AUTHENTICATE; Amendment D §7.1.2).
const (
	LevelCMAC byte = 0x01 // C-MAC
	LevelCDEC byte = 0x02 // C-DECRYPTION
	LevelRMAC byte = 0x10 // R-MAC
	LevelRENC byte = 0x20 // R-ENCRYPTION
)

// Keys are a card's static SCP03 keys of one key version: AES keys of 16,
// 24 or 32 bytes. They are secrets: they format and log redacted.
type Keys struct {
	ENC, MAC, DEK []byte
	KVN           byte
}

// LogValue names the key version only.
func (k Keys) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("kvn", int(k.KVN)), slog.String("keys", "[redacted]"))
}

// Format prints the key version only, whatever the verb.
func (k Keys) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "SCP03 keys KVN %02X [redacted]", k.KVN)
}

// initUpdate is the card's answer to INITIALIZE UPDATE (Amendment D
// §7.1.1.6, Table 7-3).
type initUpdate struct {
	divData       [10]byte
	kvn           byte
	i             byte
	cardChallenge []byte
	cryptogram    []byte
	sequence      []byte // with a pseudo-random card challenge (not checked: the cryptogram authenticates the card)
}

// Bits of the i parameter (Amendment D §5.1, Table 5-1).
const (
	iS16          = 0x01
	iPseudoRandom = 0x10
	iRMAC         = 0x20
	iRENC         = 0x40
)

func parseInitUpdate(b []byte, kvn byte) (initUpdate, error) {
	var r initUpdate
	if len(b) != 29 && len(b) != 32 {
		return r, fmt.Errorf("%w: %d bytes", ErrResponse, len(b))
	}
	copy(r.divData[:], b[:10])
	r.kvn, r.i = b[10], b[12]
	switch {
	case b[11] != 0x03:
		return r, fmt.Errorf("%w: SCP %02X, not 03", ErrResponse, b[11])
	case kvn != 0 && r.kvn != kvn:
		return r, fmt.Errorf("%w: key version %02X, %02X asked", ErrResponse, r.kvn, kvn)
	case r.i&iS16 != 0:
		return r, fmt.Errorf("%w: S16 mode (i = %02X)", ErrResponse, r.i)
	case (r.i&iPseudoRandom != 0) != (len(b) == 32):
		return r, fmt.Errorf("%w: %d bytes with i = %02X", ErrResponse, len(b), r.i)
	}
	r.cardChallenge, r.cryptogram = b[13:21], b[21:29]
	if len(b) == 32 {
		r.sequence = b[29:32]
	}
	return r, nil
}

// Open authenticates to the card over t and opens a secure channel at the
// given security level (Amendment D §7.1): INITIALIZE UPDATE 80 50 KVN 00
// with an 8-byte host challenge from rnd, the session keys S-ENC, S-MAC and
// S-RMAC (§6.2.1), the card cryptogram checked (§6.2.2.2), EXTERNAL
// AUTHENTICATE 84 82 level 00 with the host cryptogram and its C-MAC
// (§6.2.2.3, §7.1.2). level is 01, 03, 11, 13 or 33.
func Open(t pcsc.Transport, k Keys, level byte, rnd io.Reader) (*Channel, error) {
	switch level {
	case 0x01, 0x03, 0x11, 0x13, 0x33:
	default:
		return nil, fmt.Errorf("gp: security level %02X (01, 03, 11, 13, 33)", level)
	}
	encKey, err := aes.NewCipher(k.ENC)
	if err != nil {
		return nil, fmt.Errorf("gp: ENC key: %w", err)
	}
	macKey, err := aes.NewCipher(k.MAC)
	if err != nil {
		return nil, fmt.Errorf("gp: MAC key: %w", err)
	}
	if len(k.ENC) != len(k.MAC) {
		return nil, fmt.Errorf("gp: ENC and MAC keys of %d and %d bytes", len(k.ENC), len(k.MAC))
	}
	hostChallenge := make([]byte, 8)
	if _, err := io.ReadFull(rnd, hostChallenge); err != nil {
		return nil, fmt.Errorf("gp: host challenge: %w", err)
	}
	resp, err := pcsc.Exec(t, pcsc.Command{CLA: 0x80, INS: 0x50, P1: k.KVN, P2: 0x00, Data: hostChallenge, Ne: 256})
	if err != nil {
		return nil, fmt.Errorf("gp: INITIALIZE UPDATE: %w", err)
	}
	iu, err := parseInitUpdate(resp, k.KVN)
	if err != nil {
		return nil, err
	}
	if level&LevelRMAC != 0 && iu.i&iRMAC == 0 || level&LevelRENC != 0 && iu.i&iRENC == 0 {
		return nil, fmt.Errorf("%w: level %02X, the card offers i = %02X", ErrResponse, level, iu.i)
	}

	// Session keys (§6.2.1): context = host challenge ‖ card challenge.
	ctx := append(append([]byte{}, hostChallenge...), iu.cardChallenge...)
	bits := len(k.ENC) * 8
	s := &Channel{inner: t, level: level}
	sEnc, err := kdf(encKey, constSENC, bits, ctx)
	if err != nil {
		return nil, err
	}
	sMac, err := kdf(macKey, constSMAC, bits, ctx)
	if err != nil {
		return nil, err
	}
	sRmac, err := kdf(macKey, constSRMAC, bits, ctx)
	if err != nil {
		return nil, err
	}
	if s.enc, err = aes.NewCipher(sEnc); err != nil {
		return nil, err
	}
	if s.mac, err = aes.NewCipher(sMac); err != nil {
		return nil, err
	}
	if s.rmac, err = aes.NewCipher(sRmac); err != nil {
		return nil, err
	}

	// Cryptograms (§6.2.2.2, §6.2.2.3): 64 bits under S-MAC.
	card, err := kdf(s.mac, constCardCryptogram, 64, ctx)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(card, iu.cryptogram) != 1 {
		return nil, fmt.Errorf("%w: the card cryptogram does not verify (wrong keys for key version %02X?)", ErrAuth, k.KVN)
	}
	host, err := kdf(s.mac, constHostCryptogram, 64, ctx)
	if err != nil {
		return nil, err
	}

	// EXTERNAL AUTHENTICATE (§7.1.2): C-MAC only, whatever the level.
	ea, err := s.macCommand(pcsc.Command{CLA: 0x80, INS: 0x82, P1: level, P2: 0x00, Data: host}, false, false)
	if err != nil {
		return nil, err
	}
	if _, err := pcsc.Do(t, ea); err != nil {
		var se *pcsc.StatusError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w: EXTERNAL AUTHENTICATE: %w", ErrAuth, err)
		}
		return nil, fmt.Errorf("gp: EXTERNAL AUTHENTICATE: %w", err)
	}
	return s, nil
}
