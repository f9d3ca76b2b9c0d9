// Package queue is the station's durable job store: one SQLite file (through
// github.com/mattn/go-sqlite3) holding every application from intake to
// purge, the cards each consumed, the ordered status events central polls,
// the webhook outbox, and the hash-chained audit log.
//
// Every state change is one transaction, committed with WAL and
// synchronous=FULL before anyone hears of it. Personal data (the application
// as central sent it, the prepared chip image) is encrypted with
// AES-256-GCM; what stays after purge is the audit record: ids, serials,
// states, times.
package queue

import (
	"errors"
	"log/slog"
	"time"
)

// State of an application (docs/architecture.md "States"). The first durable
// state is validated or rejected: intake validates before it answers.
type State string

const (
	StateValidated      State = "validated"       // accepted, waiting for its chip image
	StatePrepared       State = "prepared"        // chip image signed, waiting for a card
	StatePersonalizing  State = "personalizing"   // a reader is writing a card
	StateVerifying      State = "verifying"       // the card is locked and being verified
	StateIssued         State = "issued"          // a verified card exists (final)
	StateAcknowledged   State = "acknowledged"    // central acknowledged the final state
	StatePurged         State = "purged"          // personal data deleted; audit record kept
	StateRejected       State = "rejected"        // bad data (final), with the reason
	StateCancelled      State = "cancelled"       // central withdrew it before perso (final)
	StateNeedsAttention State = "needs_attention" // retries exhausted; a technician decides
)

// Final reports whether central may acknowledge the state.
func (s State) Final() bool {
	return s == StateIssued || s == StateRejected || s == StateCancelled
}

// CardState of one physical card an application consumed.
type CardState string

const (
	CardClaimed  CardState = "claimed"  // blank, bound to the job, nothing written yet
	CardWriting  CardState = "writing"  // writing began (durably marked before the first write)
	CardLocked   CardState = "locked"   // sealed, being verified
	CardVerified CardState = "verified" // the application's card
	CardSpoiled  CardState = "spoiled"  // void: set aside for destruction, with the reason
	CardReleased CardState = "released" // still blank, the job went back (nothing written)
)

// Errors callers decide on.
var (
	ErrNotFound  = errors.New("queue: no such application")
	ErrConflict  = errors.New("queue: application id already used with different content")
	ErrNoWork    = errors.New("queue: no prepared application waiting")
	ErrTooLate   = errors.New("queue: the application is past the point where this is allowed")
	ErrBadCursor = errors.New("queue: cursor beyond the last event")
	ErrKey       = errors.New("queue: encryption key")

	// Added beside the brief's set.
	ErrInvalid    = errors.New("queue: invalid argument")                     // a malformed id, serial, reader name...
	ErrCardUsed   = errors.New("queue: card serial already used")             // a card once written (spoiled, verified) is never claimed again
	ErrReaderBusy = errors.New("queue: the reader already holds a card")      // resolve its in-flight claim first (InFlight)
	ErrNoCard     = errors.New("queue: no such card")                         // MarkDestroyed of an unknown serial; a Claim whose card is gone
	ErrNotSpoiled = errors.New("queue: only a spoiled card can be destroyed") // MarkDestroyed
	ErrClosed     = errors.New("queue: store closed")
	ErrLocked     = errors.New("queue: the database is open in another process")
	// ErrUnavailable: the store cannot write now for a reason outside the
	// data — the disk is full, an I/O error, a read-only file system, the
	// database locked past the busy timeout. Nothing of the failed write
	// was kept; the same call may succeed later (Health says when).
	ErrUnavailable = errors.New("queue: the store cannot write now")
)

// Problem is one broken validation rule (application.Problem, copied so the
// store does not depend on the validator).
type Problem struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
	// FromInput: Field is a name taken from the document (an unknown key,
	// in its short safe form): told to central in the intake answer, never
	// stored (the application's row, events and audit entries outlive the
	// purge): there it reads "(unknown field)".
	FromInput bool `json:"-"`
}

// Submission is one application at intake, validated by the caller.
type Submission struct {
	ApplicationID string
	BatchID       string
	// ContentHash identifies the content (application.ContentHash): the
	// same id with the same hash is a repeat, with another hash a conflict.
	ContentHash [32]byte
	// Raw is the application JSON as central sent it: personal data,
	// stored encrypted.
	Raw []byte
	// Problems, when not empty, make the application rejected with them
	// as the reason.
	Problems []Problem
}

// SubmitResult is the outcome of one submission.
type SubmitResult struct {
	ApplicationID string
	State         State
	Reason        string
	Created       bool  // false: it was already there (same content)
	Err           error // ErrConflict for the same id with different content
}

// Status is what may be said of an application to central or a
// technician: no personal data.
type Status struct {
	ApplicationID string     `json:"application_id"`
	BatchID       string     `json:"batch_id"`
	State         State      `json:"state"`
	Reason        string     `json:"reason,omitempty"`
	Problems      []Problem  `json:"problems,omitempty"`
	Attempts      int        `json:"attempts"`
	Cards         []Card     `json:"cards,omitempty"`
	ReceivedAt    time.Time  `json:"received_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	PurgeAfter    *time.Time `json:"purge_after,omitempty"`
}

// Card is one physical card and what became of it.
type Card struct {
	Serial        string     `json:"serial"`
	ApplicationID string     `json:"application_id"`
	Reader        string     `json:"reader"`
	State         CardState  `json:"state"`
	Reason        string     `json:"reason,omitempty"`
	Attempt       int        `json:"attempt"`
	ClaimedAt     time.Time  `json:"claimed_at"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	SODHash       string     `json:"sod_sha256,omitempty"` // hex, verified cards
	Destroyed     *time.Time `json:"destroyed_at,omitempty"`
	DestroyedBy   string     `json:"destroyed_by,omitempty"`
}

// Event is one status change, in the order central must see them.
type Event struct {
	Seq           int64     `json:"cursor"`
	ApplicationID string    `json:"application_id"`
	State         State     `json:"state"`
	Reason        string    `json:"reason,omitempty"`
	CardSerial    string    `json:"card_serial,omitempty"`
	Attempt       int       `json:"attempt,omitempty"`
	At            time.Time `json:"at"`
}

// PrepJob is a validated application to prepare, decrypted.
type PrepJob struct {
	ApplicationID string
	Raw           []byte
}

// Claim is a prepared application bound to a blank card in a reader.
type Claim struct {
	ApplicationID string
	Reader        string
	Serial        string
	Attempt       int    // 1 for the first card
	Image         []byte // the chip image (decrypted; wipe it once decoded); deleted from storage by the claim
	WriteStarted  bool   // recovery: writing began on the card
	State         State  // personalizing or verifying (recovery)
}

// Issue describes a verified card.
type Issue struct {
	SODHash  []byte
	DSCert   string // subject
	APDUs    int
	Duration time.Duration
}

// AuditEntry is one line of the hash-chained audit log.
type AuditEntry struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`   // "station", "central", "reader:NAME", a user name
	Action  string    `json:"action"`  // "state", "login", "pause", "card_spoiled", ...
	Subject string    `json:"subject"` // application id, serial, reader, user
	Detail  string    `json:"detail"`  // no personal data
	Prev    string    `json:"prev"`    // hex hash of the previous entry
	Hash    string    `json:"hash"`    // hex SHA-256 over seq, at, actor, action, subject, detail, prev
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	After   int64
	Limit   int
	Actor   string
	Action  string
	Subject string
}

// Options of a store.
type Options struct {
	// MaxAttempts is how many cards an application may consume before it
	// needs attention (default 3).
	MaxAttempts int
	// Retention: how long acknowledged applications keep their personal
	// data before Purge deletes it (default 0: at the next purge).
	Retention time.Duration
	// Now for tests (default time.Now).
	Now func() time.Time
	// Log receives operational warnings (an audit anchor that could not be
	// written, an incomplete WAL checkpoint, writes failing). Never personal
	// data. Default: discarded.
	Log *slog.Logger
	// WriteFault is fault injection for tests: called before every write
	// transaction with the operation's name (Claim, MarkIssued, ...); an
	// error it returns is taken as if SQLite had returned it (return
	// sqlite3.Error{Code: sqlite3.ErrFull} for a full disk). Nil in
	// production.
	WriteFault func(op string) error
}

// CardFilter selects cards (Store.Cards). Zero fields select everything.
type CardFilter struct {
	State  CardState
	Reader string
	Since  time.Time // claimed at or after
	Limit  int       // default 100, at most 1000
}

// SearchFilter selects applications (Store.Search). Zero fields select
// everything.
type SearchFilter struct {
	IDPrefix string
	State    State
	Limit    int // default 50, at most 1000
	Offset   int
}

// AuditReport is the outcome of walking the audit chain.
type AuditReport struct {
	Entries  int64    `json:"entries"`  // entries checked
	Head     string   `json:"head"`     // hex hash of the last entry ("" when the log is empty)
	OK       bool     `json:"ok"`       // no problem found
	Problems []string `json:"problems"` // each names the seq it concerns
}
