package emrtd

import (
	"crypto/sha1"
	"errors"
	"log/slog"
)

// mrzCharValue is the value of an MRZ character in a check digit
// (ICAO 9303-3 §4.9): 0-9 as themselves, A=10 … Z=35, the filler < = 0.
func mrzCharValue(ch byte) (int, bool) {
	switch {
	case ch >= '0' && ch <= '9':
		return int(ch - '0'), true
	case ch >= 'A' && ch <= 'Z':
		return int(ch-'A') + 10, true
	case ch == '<':
		return 0, true
	}
	return 0, false
}

// checkDigit computes the ICAO 9303-3 §4.9 check digit: weights 7, 3, 1
// repeating, sum modulo 10, as an ASCII digit. ok is false when s holds a
// character outside the MRZ alphabet.
func checkDigit(s string) (digit byte, ok bool) {
	weights := [3]int{7, 3, 1}
	sum := 0
	for i := 0; i < len(s); i++ {
		v, ok := mrzCharValue(s[i])
		if !ok {
			return 0, false
		}
		sum += v * weights[i%3]
	}
	return byte('0' + sum%10), true
}

// keySeedInput is what PUT DATA 62 carries: the MRZ fields the BAC keys come
// from. It is personal data: it never reaches logs or error strings.
type keySeedInput struct {
	DocumentNumber string
	DateOfBirth    string // YYMMDD, '<' for an unknown part
	DateOfExpiry   string // YYMMDD, or <<<<<< for none
}

// LogValue redacts the MRZ fields.
func (keySeedInput) LogValue() slog.Value { return slog.StringValue("[MRZ redacted]") }

// String redacts the MRZ fields, so that a %v never prints them.
func (keySeedInput) String() string { return "[MRZ redacted]" }

var (
	errDocumentNumber = errors.New("document number must be 1 to 30 MRZ characters (0-9, A-Z, <)")
	errDate           = errors.New("date must be 6 characters of 0-9 or <")
)

// validate checks the fields against the MRZ alphabet. Like the JMRTD applet,
// the chip takes the document number as given: it does not pad it with '<'
// to 9 characters, so "L898902C" and "L898902C<" give different keys.
func (m keySeedInput) validate() error {
	if n := len(m.DocumentNumber); n < 1 || n > 30 {
		return errDocumentNumber
	}
	if _, ok := checkDigit(m.DocumentNumber); !ok {
		return errDocumentNumber
	}
	for _, d := range []string{m.DateOfBirth, m.DateOfExpiry} {
		if len(d) != 6 {
			return errDate
		}
		for i := 0; i < 6; i++ {
			if (d[i] < '0' || d[i] > '9') && d[i] != '<' {
				return errDate
			}
		}
	}
	return nil
}

// information is MRZ_information (ICAO 9303-11 §9.7.2): document number,
// its check digit, date of birth, its check digit, date of expiry, its check
// digit. The fields must have been validated.
func (m keySeedInput) information() []byte {
	out := make([]byte, 0, len(m.DocumentNumber)+15)
	for _, f := range []string{m.DocumentNumber, m.DateOfBirth, m.DateOfExpiry} {
		cd, _ := checkDigit(f)
		out = append(out, f...)
		out = append(out, cd)
	}
	return out
}

// keySeed is K_seed: the 16 most significant bytes of SHA-1(MRZ_information)
// (ICAO 9303-11 §9.7.2).
func (m keySeedInput) keySeed() []byte {
	h := sha1.Sum(m.information())
	return h[:16]
}

// bacKeys derives the document basic access keys K_enc and K_mac from the
// key seed (ICAO 9303-11 §9.7.1).
func (m keySeedInput) bacKeys() (kEnc, kMac []byte) {
	seed := m.keySeed()
	return deriveKey(seed, kdfEnc), deriveKey(seed, kdfMac)
}

// paceKey is K_π of the MRZ password (ICAO 9303-11 §9.7.3): KDF_π of
// f(π) = SHA-1(MRZ_information) — the whole hash, not K_seed — with the
// AES-128 KDF of §9.7.1 and counter 3.
func (m keySeedInput) paceKey() []byte {
	h := sha1.Sum(m.information())
	return icaoKDFAES128(h[:], kdfPACE)
}
