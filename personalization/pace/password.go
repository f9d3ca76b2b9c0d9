package pace

import (
	"crypto/sha1"
	"fmt"
	"log/slog"
)

// Password references of MSE:Set AT (ICAO 9303-11 §4.4; BSI TR-03110-3
// Table D.1).
const (
	RefMRZ byte = 0x01
	RefCAN byte = 0x02
)

// Password is a PACE password: which one (MRZ or CAN) and K, the input of
// K_π = KDF_π(K) (ICAO 9303-11 §9.7.3). It is a secret: it formats and logs
// redacted.
type Password struct {
	ref byte
	k   []byte
}

// MRZ is the password from the MRZ: K = SHA-1(MRZ_information), the
// document number, date of birth and date of expiry each with its check
// digit (ICAO 9303-11 §9.7.3, §9.7.1.1).
func MRZ(mrzInformation string) Password {
	h := sha1.Sum([]byte(mrzInformation))
	return Password{ref: RefMRZ, k: h[:]}
}

// CAN is the password from the card access number: K = the CAN's digits as
// characters (ICAO 9303-11 §9.7.3; CCCD chips: the last 6 digits of the
// personal ID).
func CAN(can string) Password {
	return Password{ref: RefCAN, k: []byte(can)}
}

// Ref is the password reference sent in MSE:Set AT.
func (p Password) Ref() byte { return p.ref }

func (p Password) kind() string {
	switch p.ref {
	case RefMRZ:
		return "MRZ"
	case RefCAN:
		return "CAN"
	}
	return fmt.Sprintf("ref %02X", p.ref)
}

// LogValue names the password's kind only.
func (p Password) LogValue() slog.Value {
	return slog.StringValue("PACE password " + p.kind() + " [redacted]")
}

// Format prints the password's kind only, whatever the verb.
func (p Password) Format(f fmt.State, _ rune) {
	fmt.Fprint(f, "PACE password "+p.kind()+" [redacted]")
}
