package personalization

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/lds"
)

// Product is one chip product a profile can personalize, recognized by its
// ATR: what its APDUs and keys may be.
type Product struct {
	Name string `yaml:"name" json:"name"`
	// ATR, as hex; ATRMask (optional, same length) selects the bits compared.
	ATR     string `yaml:"atr" json:"atr"`
	ATRMask string `yaml:"atr_mask,omitempty" json:"atr_mask,omitempty"`
	// ExtendedLength: the chip takes extended Lc/Le (ISO/IEC 7816-4 §5.1).
	ExtendedLength bool `yaml:"extended_length" json:"extended_length"`
	// MaxCommandData and MaxResponseData are the largest data fields of one
	// command and one response (255/256 for short APDUs).
	MaxCommandData  int `yaml:"max_command_data" json:"max_command_data"`
	MaxResponseData int `yaml:"max_response_data" json:"max_response_data"`
	// MaxAAKeyBits is the largest RSA Active Authentication key it holds.
	MaxAAKeyBits int `yaml:"max_aa_key_bits" json:"max_aa_key_bits"`
}

// Matches reports whether atr is this product's.
func (p Product) Matches(atr []byte) bool {
	want, err := hex.DecodeString(strings.ReplaceAll(p.ATR, " ", ""))
	if err != nil || len(want) != len(atr) {
		return false
	}
	mask := bytes.Repeat([]byte{0xFF}, len(want))
	if p.ATRMask != "" {
		m, err := hex.DecodeString(strings.ReplaceAll(p.ATRMask, " ", ""))
		if err != nil || len(m) != len(want) {
			return false
		}
		mask = m
	}
	for i := range want {
		if atr[i]&mask[i] != want[i]&mask[i] {
			return false
		}
	}
	return true
}

// Check refuses an inconsistent product definition.
func (p Product) Check() error {
	if p.Name == "" {
		return errors.New("product: name is required")
	}
	if _, err := hex.DecodeString(strings.ReplaceAll(p.ATR, " ", "")); err != nil || p.ATR == "" {
		return fmt.Errorf("product %s: atr must be hex", p.Name)
	}
	if p.MaxCommandData < 1 || (!p.ExtendedLength && p.MaxCommandData > pcsc.MaxShortNc) || p.MaxCommandData > pcsc.MaxExtendedNc {
		return fmt.Errorf("product %s: max_command_data %d out of range", p.Name, p.MaxCommandData)
	}
	if p.MaxResponseData < 16 || (!p.ExtendedLength && p.MaxResponseData > pcsc.MaxShortNe) || p.MaxResponseData > pcsc.MaxExtendedNe {
		return fmt.Errorf("product %s: max_response_data %d out of range", p.Name, p.MaxResponseData)
	}
	if p.MaxAAKeyBits != 1024 && p.MaxAAKeyBits != 2048 {
		return fmt.Errorf("product %s: max_aa_key_bits must be 1024 or 2048", p.Name)
	}
	return nil
}

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

// Profile is the command script of one chip product family: how to find
// out what a card holds, write and read back the chip image, and seal it.
// The engine calls it step by step; a second profile (PACE/EAC chips,
// secure channel personalization) slots in behind the same interface.
// Verification is not the profile's: after sealing, every chip is read as
// an ICAO 9303 eMRTD by Verify.
type Profile interface {
	Name() string
	// Identify finds the chip product by ATR.
	Identify(atr []byte) (Product, error)
	// Inspect selects the application and reports the card's state.
	Inspect(t pcsc.Transport) (CardState, error)
	// Write creates every file of the image at its exact size, writes it
	// and reads it back, comparing byte for byte. Reversible in the sense
	// that nothing is locked: a failure leaves a written, unlocked card.
	Write(t pcsc.Transport, p Product, im *lds.Image) error
	// Seal stores the access key seed and the Active Authentication key,
	// then locks the chip. Irreversible.
	Seal(t pcsc.Transport, p Product, im *lds.Image) error
}

// Errors of the pre-checks: the card is refused and nothing is written.
var (
	ErrUnknownChip = errors.New("chip product not recognized by its ATR")
	ErrNotBlank    = errors.New("card is not blank: it holds data")
	ErrLocked      = errors.New("card is already locked")
	ErrNoApplet    = errors.New("the eMRTD application is not on the card")
	ErrWrongStock  = errors.New("chip product cannot take this chip image")
	// ErrReadBack: a file read back before locking differs from what was
	// written; nothing irreversible has happened.
	ErrReadBack = errors.New("read-back differs from what was written")
)
