package queue

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The application state machine (docs/architecture.md "States"), as the
// store enforces it:
//
//	(intake)        → validated | rejected
//	validated       → prepared (SetPrepared) | rejected (RejectPrepared) | cancelled | needs_attention (stored data unreadable)
//	prepared        → personalizing (Claim) | cancelled | validated (stored image unreadable)
//	personalizing   → verifying (MarkVerifying) | validated (Release, MarkSpoiled) | needs_attention (MarkSpoiled, attempts exhausted)
//	verifying       → issued (MarkIssued) | validated | needs_attention (MarkSpoiled)
//	needs_attention → validated (Retry) | cancelled
//	issued, rejected, cancelled → acknowledged (Ack) → purged (Purge)
//
// Cards: claimed → writing → locked → verified; claimed|writing|locked →
// spoiled; claimed|writing → released.

// app is the part of an application row a transition needs.
type app struct {
	n        int64
	id       string
	batch    string
	state    State
	attempts int
}

func (w *wtx) loadApp(id string) (*app, error) {
	a := &app{id: id}
	err := w.queryRow("SELECT n, batch_id, state, attempts FROM applications WHERE id = ?", id).
		Scan(&a.n, &a.batch, &a.state, &a.attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: reading application %s: %w", id, err)
	}
	return a, nil
}

// change is what an event says beside the new state.
type change struct {
	reason  string
	serial  string
	attempt int
}

// eventSeq assigns the next event seq. Inside the single writer's
// transaction, so seqs are gap-free: a rolled-back transaction takes its
// seqs with it.
func (w *wtx) eventSeq() (int64, error) {
	if w.nextEvent == 0 {
		var last int64
		if err := w.queryRow("SELECT coalesce(max(seq), 0) FROM events").Scan(&last); err != nil {
			return 0, fmt.Errorf("queue: reading the last event: %w", err)
		}
		w.nextEvent = last + 1
	}
	seq := w.nextEvent
	w.nextEvent++
	return seq, nil
}

func (w *wtx) event(seq int64, id string, st State, ch change) error {
	if _, err := w.exec(`INSERT INTO events (seq, application_id, state, reason, card_serial, attempt, at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, seq, id, st, ch.reason, ch.serial, ch.attempt, nanos(w.now)); err != nil {
		return fmt.Errorf("queue: appending event %d: %w", seq, err)
	}
	return nil
}

// setState moves a to state to: the row (with a.attempts), its event and
// its audit entry, in the caller's transaction.
func (w *wtx) setState(a *app, to State, ch change) error {
	seq, err := w.eventSeq()
	if err != nil {
		return err
	}
	// Acknowledged and purged keep the final state's reason (why it was
	// rejected, the last spoiled card): Status still says it after purge.
	keep := to == StateAcknowledged || to == StatePurged
	if _, err := w.exec(`UPDATE applications SET state = ?, reason = CASE WHEN ? THEN reason ELSE ? END,
		attempts = ?, updated_at = ?, last_seq = ? WHERE n = ?`, to, keep, ch.reason, a.attempts, nanos(w.now), seq, a.n); err != nil {
		return fmt.Errorf("queue: application %s %s → %s: %w", a.id, a.state, to, err)
	}
	if err := w.event(seq, a.id, to, ch); err != nil {
		return err
	}
	if err := w.audit(ActionState, a.id, transitionDetail(a.state, to, ch.reason)); err != nil {
		return err
	}
	a.state = to
	return nil
}

func transitionDetail(from, to State, reason string) string {
	f := string(from)
	if f == "" {
		f = "new"
	}
	d := f + " → " + string(to)
	if reason != "" {
		d += ": " + reason
	}
	return d
}

func tooLate(id string, st State, what string) error {
	return fmt.Errorf("%w: %s is %s: cannot %s", ErrTooLate, id, st, what)
}

// storedProblems is what the store keeps of a rejection's problems: a name
// taken from the document (an unknown key) is told to central in the intake
// answer only, and kept as "(unknown field)": the application row, its
// events and the audit log outlive the purge, and nothing central sent may.
func storedProblems(ps []Problem) []Problem {
	out := make([]Problem, len(ps))
	for i, p := range ps {
		if p.FromInput {
			p.Field, p.FromInput = "(unknown field)", false
		}
		out[i] = p
	}
	return out
}

// problemsReason is the reason of a rejection: "field: rule; field: rule"
// (fields and rules only, as the validator names them).
// It outlives purge (events, audit log): no name taken from the document is
// in it.
func problemsReason(ps []Problem) string {
	parts := make([]string, len(ps))
	for i, p := range storedProblems(ps) {
		parts[i] = p.Field + ": " + p.Rule
	}
	return strings.Join(parts, "; ")
}

// validID is the application/batch id syntax central uses (application
// package): [A-Za-z0-9][A-Za-z0-9._:-]*, at most 64 characters.
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// validName checks a reader name, card serial or operator name: printable
// UTF-8, 1 to 200 bytes.
func validName(s string) bool {
	if s == "" || len(s) > 200 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
