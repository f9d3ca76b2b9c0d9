// Package vcard holds the project's virtual smart cards and the ways they
// reach a reader: the vpcd bridge (a card plugged into a real pcscd through
// Debian's vsmartcard-vpcd driver) and in-process virtual readers.
//
// The chips themselves live in sub-packages (emrtd: the JMRTD passport applet
// with its card manager; piv: a PIV token for piv-go). They are written
// independently of package personalization and share no protocol or crypto
// code with it: a symmetric bug would otherwise pass unnoticed.
package vcard

import "errors"

// Card is a virtual smart card as a reader sees it.
type Card interface {
	// ATR is the answer-to-reset. It must advertise T=1.
	ATR() []byte
	// PowerOn, PowerOff and Reset are the reader's power events. PowerOff
	// and Reset clear the card's volatile state (selection, secure
	// messaging, verified PINs) and keep its persistent state.
	PowerOn()
	PowerOff()
	Reset()
	// Process handles one command APDU and returns the response APDU (data
	// followed by SW1 SW2). ErrRemoved means the card left the reader while
	// handling the command (pulled out, or power torn mid-write): no
	// response is sent and the slot drops the card.
	Process(cmd []byte) ([]byte, error)
}

// ErrRemoved is returned by Card.Process when the card leaves the reader
// during a command.
var ErrRemoved = errors.New("vcard: card removed from the reader")

// Persistent is a card whose persistent state can be saved and restored (the
// feeder saves each written card as <serial>.json).
type Persistent interface {
	Card
	// Serial is the chip serial the card manager reports (CPLC).
	Serial() string
	// Written reports whether anything was written since the card was blank.
	Written() bool
	// MarshalJSON saves the persistent state.
	MarshalJSON() ([]byte, error)
}
