package personalization

import (
	"crypto"
	"crypto/ecdsa"
	"errors"
	"io"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/lds"
)

// CardState is what a card holds, as far as personalization is concerned.
type CardState int

const (
	CardUnknown CardState = iota // not known (the card went away mid-command)
	CardBlank                    // the applet is there, unlocked, no files
	CardWritten                  // files created, not locked
	CardLocked                   // locked for life
)

func (s CardState) String() string {
	switch s {
	case CardBlank:
		return "blank"
	case CardWritten:
		return "written"
	case CardLocked:
		return "locked"
	}
	return "unknown"
}

// Profile is the command script of one chip product family: how to find out
// what a card holds, open its personalization, write a file, make its keys,
// and seal it. The engine runs every profile through the same steps
// (engine.go); a profile is a plain instance of that mechanism.
// Verification is not the profile's: after sealing, every chip is read as an
// ICAO 9303 eMRTD by the Verifier, as the product's capabilities say.
type Profile interface {
	Name() string
	// Inspect selects the application and reports the card's state,
	// without changing it.
	Inspect(t pcsc.Transport) (CardState, error)
	// Open starts the personalization of a blank card and returns the
	// transport the other steps use (the cccd profile's SCP03 channel).
	// Nothing is written.
	Open(t pcsc.Transport, p Product, serial string, rnd io.Reader) (pcsc.Transport, error)
	// WriteFile creates one file at its exact size, writes it in the
	// largest chunks the product takes and reads it back, comparing byte
	// for byte (ErrReadBack).
	WriteFile(t pcsc.Transport, p Product, f lds.File) error
	// ChipMakesKeys: the chip makes its keys (GenerateKeys); otherwise the
	// station makes the Active Authentication key and Seal injects it.
	ChipMakesKeys() bool
	// GenerateKeys has the chip make its key pairs and returns their
	// public halves (profiles whose chips make their keys).
	GenerateKeys(t pcsc.Transport, p Product) (ChipKeys, error)
	// Seal stores the access secrets (MRZ, CAN) and a station-made key,
	// then locks the chip. Irreversible.
	Seal(t pcsc.Transport, p Product, im *lds.Image) error
}

// ChipKeys are the public keys of a chip, made by the chip (or, for the
// Active Authentication key of the JMRTD profile, by the station).
type ChipKeys struct {
	AA crypto.PublicKey // *rsa.PublicKey or *ecdsa.PublicKey
	CA *ecdsa.PublicKey // the Chip Authentication key; nil without
}

// Errors of the pre-checks: the card is refused and nothing is written.
var (
	ErrUnknownChip = errors.New("chip product not recognized by its ATR")
	ErrNotBlank    = errors.New("card is not blank: it holds data")
	ErrLocked      = errors.New("card is already locked")
	ErrNoApplet    = errors.New("the eMRTD application is not on the card")
	ErrWrongStock  = errors.New("chip product cannot take this chip image")
	// ErrKeyGeneration: the chip did not make a key pair it was asked for.
	ErrKeyGeneration = errors.New("the chip's key generation failed")
	// ErrMalformedKey: a public key the chip returned is malformed or not
	// on its curve.
	ErrMalformedKey = errors.New("the chip returned a malformed public key")
	// ErrReadBack: a file read back before locking differs from what was
	// written; nothing irreversible has happened.
	ErrReadBack = errors.New("read-back differs from what was written")
)
