// Package pcsc is the station's reader layer: PC/SC readers through pcscd
// (github.com/ebfe/scard), hot-plug, exclusive connections, and the APDU
// transmit path (ISO/IEC 7816-4 §5: short and extended length, 61xx GET
// RESPONSE, 6Cxx re-send, command chaining) with typed errors.
//
// It knows nothing about passports. The personalization code talks to a card
// through the small Transport interface defined here, so the same code runs
// over pcscd or over an in-process virtual chip.
package pcsc

import (
	"context"
	"time"
)

// Transport sends one command APDU and returns the complete response APDU:
// the response data followed by SW1 SW2. An error means the exchange itself
// failed (card removed, reader gone, pcscd stopped); a status word other than
// 9000 is not an error at this level — see Do and StatusError.
type Transport interface {
	Transmit(cmd []byte) ([]byte, error)
}

// Conn is one raw, exclusive connection to a card: one exchange per call and
// no status-word handling. The scard-backed connection and the in-process
// virtual reader (package pcsc/vcard) both implement it; Card adds the
// ISO/IEC 7816-4 transmit rules on top.
type Conn interface {
	// Exchange sends one command APDU and returns the raw response APDU.
	Exchange(cmd []byte) ([]byte, error)
	// ATR is the card's answer-to-reset as seen when connecting.
	ATR() []byte
	// Reset warm-resets the card (SCardReconnect with SCARD_RESET_CARD): the
	// card's volatile state (selected application and file, secure messaging,
	// verified PINs) is lost, its persistent state kept.
	Reset() error
	// Close ends the connection, leaving the card as the disposition says.
	Close(d Disposition) error
}

// Disposition is what happens to the card when a connection ends
// (PC/SC Part 5, SCardDisconnect dwDisposition).
type Disposition int

const (
	LeaveCard   Disposition = iota // leave it powered as it is
	ResetCard                      // warm reset
	UnpowerCard                    // power it off (the feeder takes written cards away)
	EjectCard                      // ask the reader to eject it, where it can
)

// ReaderState is what is known of one reader at one moment.
type ReaderState struct {
	Name    string
	Present bool   // a card is in the reader
	InUse   bool   // another context holds the card exclusively
	Mute    bool   // a card is present but does not answer
	ATR     []byte // when Present
}

// EventKind says what changed.
type EventKind int

const (
	ReaderAdded EventKind = iota + 1
	ReaderRemoved
	CardInserted
	CardRemoved
	ServiceLost     // pcscd went away; readers will be re-announced when it is back
	ServiceRestored // pcscd is back
)

// Event is one change seen by Readers.Watch.
type Event struct {
	Kind   EventKind
	Reader string
	ATR    []byte // CardInserted
	At     time.Time
}

// Readers is where the station finds readers and cards: the system's pcscd
// (System), or in-process virtual readers (vcard.NewRack) for unit tests and
// the demo.
type Readers interface {
	// List returns the readers present now.
	List() ([]ReaderState, error)
	// Watch reports reader arrival and removal and card insertion and removal
	// until ctx is done; the channel is closed then. It first reports the
	// current state as ReaderAdded / CardInserted events.
	Watch(ctx context.Context) (<-chan Event, error)
	// Connect connects exclusively to the card in the named reader.
	Connect(reader string) (Conn, error)
}
