// Package station is the orchestration of the station daemon: one worker
// goroutine per card reader (started and stopped as readers come and go), the
// preparation pipeline that keeps signed chip images ready ahead of the
// readers, crash recovery of cards that were in progress, and intake. It
// ties pcsc, personalization and queue together so that cmd/stationd stays
// thin and package api holds no business rules.
package station

import (
	"time"

	"github.com/cccd-station/station/queue"
)

// ReaderState is what a reader worker is doing.
type ReaderState string

const (
	ReaderWaitingCard   ReaderState = "waiting_card"  // no card in the reader
	ReaderWaitingWork   ReaderState = "waiting_work"  // a blank card, nothing prepared to write
	ReaderPersonalizing ReaderState = "personalizing" // writing a card
	ReaderVerifying     ReaderState = "verifying"     // verifying a locked card
	ReaderRemoveCard    ReaderState = "remove_card"   // the card must be taken out (issued, spoiled or refused)
	ReaderPaused        ReaderState = "paused"        // paused by a technician
	ReaderError         ReaderState = "error"         // see LastError; retried
	ReaderRecovering    ReaderState = "recovering"    // inspecting a card left from before a restart
	// ReaderHoldingCard is an alarm: a record of the card in the reader
	// did not commit (the store cannot write); the card is held until it
	// does, the reader takes nothing new.
	ReaderHoldingCard ReaderState = "holding_card"
	ReaderStopped     ReaderState = "stopped" // the station is stopping
)

// ReaderStatus is one reader as the panel shows it.
type ReaderStatus struct {
	Name           string      `json:"name"`
	State          ReaderState `json:"state"`
	Paused         bool        `json:"paused"`
	Product        string      `json:"product,omitempty"`        // chip product of the card in it
	CardSerial     string      `json:"card_serial,omitempty"`    // the card in it
	ApplicationID  string      `json:"application_id,omitempty"` // the job in hand (the panel masks it)
	IssuedThisHour int         `json:"issued_this_hour"`
	IssuedTotal    int         `json:"issued_total"`
	SpoiledTotal   int         `json:"spoiled_total"`
	LastError      string      `json:"last_error,omitempty"`
	LastErrorAt    *time.Time  `json:"last_error_at,omitempty"`
	Since          time.Time   `json:"since"` // in this state since
}

// SignerStatus is the Document Signer as the panel shows it: the token
// holding the key, and the certificate.
type SignerStatus struct {
	Backend string `json:"backend"`
	// OK: the token answered and the certificate may sign: issuance runs.
	OK      bool      `json:"ok"`
	TokenOK bool      `json:"token_ok"`
	Error   string    `json:"error,omitempty"`
	Checked time.Time `json:"checked"`
	// Certificate is nil only for a signer without one.
	Certificate *DSCertificate `json:"certificate,omitempty"`
}

// Snapshot is the whole station at one moment.
type Snapshot struct {
	Readers  []ReaderStatus      `json:"readers"`
	Signer   SignerStatus        `json:"signer"`
	Queue    map[queue.State]int `json:"queue"`
	Draining bool                `json:"draining"`
	PCSC     string              `json:"pcsc"` // "ok", or why the reader service is unavailable
	Store    StoreStatus         `json:"store"`
	At       time.Time           `json:"at"`
}

// IntakeResult is the outcome of one submitted application.
type IntakeResult struct {
	ApplicationID string          `json:"application_id,omitempty"`
	State         queue.State     `json:"state,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	Problems      []queue.Problem `json:"problems,omitempty"`
	Created       bool            `json:"created"`
	// Err: ErrConflict (same id, other content), or ErrUnidentifiable (no
	// usable application_id: nothing stored, nothing to report under).
	Err error `json:"-"`
}
