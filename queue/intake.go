package queue

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Submit stores a batch of applications in one transaction: each new one
// becomes validated, or rejected with its Problems as the reason, with an
// event and an audit entry. An id already stored with the same content
// hash is a repeat (Created false, its current state); with another hash,
// that item's Err is ErrConflict and the rest of the batch is stored. A
// malformed id or an empty application is that item's ErrInvalid. The
// returned error is for the batch as a whole (nothing stored).
//
// Raw is kept only for validated applications: a rejected one is never
// prepared, so its personal data is not stored at all.
func (s *Store) Submit(ctx context.Context, subs []Submission) ([]SubmitResult, error) {
	if len(subs) == 0 {
		return nil, nil
	}
	res := make([]SubmitResult, len(subs))
	sealed := make([][]byte, len(subs))
	macs := make([][]byte, len(subs))
	// Seal before taking the writer: AES-GCM over a batch of pictures
	// need not hold it.
	for i, sub := range subs {
		res[i].ApplicationID = sub.ApplicationID
		switch {
		case !validID(sub.ApplicationID):
			res[i].Err = fmt.Errorf("%w: application id missing or malformed (item %d)", ErrInvalid, i)
			continue
		case sub.BatchID != "" && !validID(sub.BatchID):
			res[i].Err = fmt.Errorf("%w: %s: batch id malformed", ErrInvalid, sub.ApplicationID)
			continue
		case len(sub.Problems) == 0 && len(sub.Raw) == 0:
			res[i].Err = fmt.Errorf("%w: %s: empty application", ErrInvalid, sub.ApplicationID)
			continue
		}
		macs[i] = s.seal.contentMAC(sub.ApplicationID, sub.ContentHash)
		if len(sub.Problems) == 0 {
			sealed[i] = s.seal.seal(adRaw(sub.ApplicationID), sub.Raw)
		}
	}
	err := s.write(ctx, "Submit", func(w *wtx) error {
		for i, sub := range subs {
			if res[i].Err != nil {
				continue
			}
			r, err := w.submitOne(sub, macs[i], sealed[i])
			if err != nil {
				return err
			}
			res[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue: submitting %d applications: %w", len(subs), err)
	}
	return res, nil
}

func (w *wtx) submitOne(sub Submission, mac, sealed []byte) (SubmitResult, error) {
	r := SubmitResult{ApplicationID: sub.ApplicationID}
	var st State
	var reason string
	var have []byte
	err := w.queryRow("SELECT state, reason, content_mac FROM applications WHERE id = ?", sub.ApplicationID).
		Scan(&st, &reason, &have)
	switch {
	case err == nil:
		r.State, r.Reason = st, reason
		if !hmac.Equal(have, mac) {
			r.Err = fmt.Errorf("%w: %s", ErrConflict, sub.ApplicationID)
		}
		return r, nil
	case !errors.Is(err, sql.ErrNoRows):
		return r, fmt.Errorf("queue: looking up %s: %w", sub.ApplicationID, err)
	}

	st = StateValidated
	var problems any // NULL
	if len(sub.Problems) > 0 {
		st = StateRejected
		reason = problemsReason(sub.Problems)
		b, err := json.Marshal(storedProblems(sub.Problems))
		if err != nil {
			return r, fmt.Errorf("queue: encoding problems of %s: %w", sub.ApplicationID, err)
		}
		problems = string(b)
	}
	seq, err := w.eventSeq()
	if err != nil {
		return r, err
	}
	now := nanos(w.now)
	if _, err := w.exec(`INSERT INTO applications
		(id, batch_id, content_mac, state, reason, problems, attempts, received_at, updated_at, last_seq)
		VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
		sub.ApplicationID, sub.BatchID, mac, st, reason, problems, now, now, seq); err != nil {
		return r, fmt.Errorf("queue: storing %s: %w", sub.ApplicationID, err)
	}
	if st == StateValidated {
		if _, err := w.exec("INSERT INTO application_raw (application_id, sealed) VALUES (?, ?)", sub.ApplicationID, sealed); err != nil {
			return r, fmt.Errorf("queue: storing %s: %w", sub.ApplicationID, err)
		}
	}
	if err := w.event(seq, sub.ApplicationID, st, change{reason: reason}); err != nil {
		return r, err
	}
	if err := w.audit(ActionState, sub.ApplicationID, transitionDetail("", st, reason)); err != nil {
		return r, err
	}
	r.State, r.Reason, r.Created = st, reason, true
	return r, nil
}

// Cancel withdraws an application before perso: validated, prepared or
// needs_attention → cancelled, deleting its prepared image. Cancelling a
// cancelled application again returns cancelled. Once a card is being
// written or later: ErrTooLate, with the current state.
func (s *Store) Cancel(ctx context.Context, id string) (State, error) {
	var st State
	err := s.write(ctx, "Cancel", func(w *wtx) error {
		a, err := w.loadApp(id)
		if err != nil {
			return err
		}
		st = a.state
		switch a.state {
		case StateCancelled:
			return nil
		case StateValidated, StatePrepared, StateNeedsAttention:
		default:
			return tooLate(id, a.state, "cancel")
		}
		if _, err := w.exec("DELETE FROM application_image WHERE application_id = ?", id); err != nil {
			return fmt.Errorf("queue: cancelling %s: %w", id, err)
		}
		if err := w.setState(a, StateCancelled, change{}); err != nil {
			return err
		}
		st = StateCancelled
		return nil
	})
	return st, err
}

// Retry sends an application that needs attention back to be prepared
// again, its attempts reset (a technician's decision: the actor in ctx is
// audited). ErrTooLate in any other state.
func (s *Store) Retry(ctx context.Context, id string) (State, error) {
	var st State
	err := s.write(ctx, "Retry", func(w *wtx) error {
		a, err := w.loadApp(id)
		if err != nil {
			return err
		}
		st = a.state
		if a.state != StateNeedsAttention {
			return tooLate(id, a.state, "retry")
		}
		a.attempts = 0
		if err := w.setState(a, StateValidated, change{reason: "retry"}); err != nil {
			return err
		}
		st = StateValidated
		return nil
	})
	return st, err
}

const statusCols = "id, batch_id, state, reason, problems, attempts, received_at, updated_at, purge_after"

func scanStatus(sc interface{ Scan(...any) error }) (Status, error) {
	var st Status
	var problems sql.NullString
	var received, updated int64
	var purgeAfter sql.NullInt64
	if err := sc.Scan(&st.ApplicationID, &st.BatchID, &st.State, &st.Reason, &problems, &st.Attempts,
		&received, &updated, &purgeAfter); err != nil {
		return st, err
	}
	if problems.Valid {
		if err := json.Unmarshal([]byte(problems.String), &st.Problems); err != nil {
			return st, fmt.Errorf("queue: problems of %s: %w", st.ApplicationID, err)
		}
	}
	st.ReceivedAt, st.UpdatedAt, st.PurgeAfter = fromNanos(received), fromNanos(updated), fromNullNanos(purgeAfter)
	return st, nil
}

// Status is what may be said of one application: state, reason, attempts,
// its cards (serials, readers, outcomes, times). No personal data; still
// complete after purge.
func (s *Store) Status(ctx context.Context, id string) (*Status, error) {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("queue: status of %s: %w", id, err)
	}
	defer tx.Rollback()
	st, err := scanStatus(tx.QueryRowContext(ctx, "SELECT "+statusCols+" FROM applications WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: status of %s: %w", id, err)
	}
	cards, err := queryCards(ctx, tx, "WHERE application_id = ? ORDER BY id", id)
	if err != nil {
		return nil, err
	}
	st.Cards = cards
	return &st, nil
}

// Search lists applications in intake order, filtered by id prefix and
// state, a page at a time (Limit default 50, at most 1000), with each
// page's cards, and the total number matching.
func (s *Store) Search(ctx context.Context, f SearchFilter) ([]Status, int, error) {
	var where []string
	var args []any
	if f.IDPrefix != "" {
		// A range on the unique index: every string starting with the
		// prefix sorts between it and prefix+0xFF (UTF-8 never has 0xFF).
		where = append(where, "id >= ? AND id < ?")
		args = append(args, f.IDPrefix, f.IDPrefix+"\xff")
	}
	if f.State != "" {
		where = append(where, "state = ?")
		args = append(args, f.State)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("queue: searching: %w", err)
	}
	defer tx.Rollback()
	var total int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM applications"+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("queue: searching: %w", err)
	}
	page := append(args, clampLimit(f.Limit, 50, 1000), max(f.Offset, 0))
	rows, err := tx.QueryContext(ctx, "SELECT "+statusCols+" FROM applications"+cond+" ORDER BY n LIMIT ? OFFSET ?", page...)
	if err != nil {
		return nil, 0, fmt.Errorf("queue: searching: %w", err)
	}
	var out []Status
	idx := map[string]int{}
	for rows.Next() {
		st, err := scanStatus(rows)
		if err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("queue: searching: %w", err)
		}
		idx[st.ApplicationID] = len(out)
		out = append(out, st)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("queue: searching: %w", err)
	}
	if len(out) > 0 {
		ids := make([]any, len(out))
		for i, st := range out {
			ids[i] = st.ApplicationID
		}
		cards, err := queryCards(ctx, tx, "WHERE application_id IN (?"+strings.Repeat(", ?", len(ids)-1)+") ORDER BY id", ids...)
		if err != nil {
			return nil, 0, err
		}
		for _, c := range cards {
			i := idx[c.ApplicationID]
			out[i].Cards = append(out[i].Cards, c)
		}
	}
	return out, total, nil
}

// CountByState counts applications in each state (every state present,
// zero included).
func (s *Store) CountByState(ctx context.Context) (map[State]int, error) {
	out := map[State]int{}
	for _, st := range allStates {
		out[st] = 0
	}
	rows, err := s.r.QueryContext(ctx, "SELECT state, count(*) FROM applications GROUP BY state")
	if err != nil {
		return nil, fmt.Errorf("queue: counting: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st State
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("queue: counting: %w", err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: counting: %w", err)
	}
	return out, nil
}

var allStates = []State{StateValidated, StatePrepared, StatePersonalizing, StateVerifying, StateIssued,
	StateAcknowledged, StatePurged, StateRejected, StateCancelled, StateNeedsAttention}
