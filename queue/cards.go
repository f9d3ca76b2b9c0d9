package queue

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// A claim is the lease of an application by a card in a reader: the card
// row (claimed, writing or locked) binds them until the reader worker
// records the outcome (MarkIssued, MarkSpoiled, Release). It never expires
// by time: only someone who has looked at the card can say whether it was
// written, so after a crash InFlight hands the claims back for inspection.

// Claim binds the oldest prepared application (intake order) to the blank
// card serial in reader: the application becomes personalizing (its
// attempts count one more), a card row is created (claimed), and the chip
// image is deleted from storage in the same transaction (it holds the
// Active Authentication private key, which must not outlive its injection)
// and returned decrypted: the caller wipes Claim.Image once decoded. ErrNoWork when nothing is prepared;
// ErrCardUsed for a serial already written to; ErrReaderBusy while the
// reader still holds a card. One writer at a time and the cards_one_active
// index: never two claims of one application.
func (s *Store) Claim(ctx context.Context, reader, serial string) (*Claim, error) {
	if !validName(reader) || !validName(serial) {
		return nil, fmt.Errorf("%w: reader name or card serial empty or not printable", ErrInvalid)
	}
	ctx = WithActor(ctx, actorOr(ctx, "reader:"+reader))
	var c *Claim
	err := s.write(ctx, "Claim", func(w *wtx) error {
		var st, appID string
		err := w.queryRow("SELECT state, application_id FROM cards WHERE serial = ? AND state <> 'released'", serial).Scan(&st, &appID)
		if err == nil {
			return fmt.Errorf("%w: card %s is %s (application %s)", ErrCardUsed, serial, st, appID)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("queue: claiming: %w", err)
		}
		var held string
		err = w.queryRow("SELECT serial, application_id FROM cards WHERE reader = ? AND state IN ('claimed', 'writing', 'locked')", reader).Scan(&held, &appID)
		if err == nil {
			return fmt.Errorf("%w: reader %s holds card %s of application %s", ErrReaderBusy, reader, held, appID)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("queue: claiming: %w", err)
		}
		for {
			a := &app{}
			err := w.queryRow("SELECT n, id, batch_id, state, attempts FROM applications WHERE state = 'prepared' ORDER BY n LIMIT 1").
				Scan(&a.n, &a.id, &a.batch, &a.state, &a.attempts)
			if errors.Is(err, sql.ErrNoRows) {
				return nil // ErrNoWork after the commit: keep what the loop set aside
			}
			if err != nil {
				return fmt.Errorf("queue: claiming: %w", err)
			}
			// Only the image is decrypted: the application as sent is not
			// needed to write the card (its keys are in the image).
			var sealedImage []byte
			if err := w.queryRow(`SELECT i.sealed FROM applications a
				LEFT JOIN application_image i ON i.application_id = a.id WHERE a.n = ?`, a.n).Scan(&sealedImage); err != nil {
				return fmt.Errorf("queue: claiming %s: %w", a.id, err)
			}
			if _, err := w.exec("DELETE FROM application_image WHERE application_id = ?", a.id); err != nil {
				return fmt.Errorf("queue: claiming %s: %w", a.id, err)
			}
			image, ierr := s.seal.open(adImage(a.id), sealedImage)
			if ierr != nil {
				s.log.Warn("queue: stored chip image unreadable; preparing again", "application_id", a.id)
				if err := w.setState(a, StateValidated, change{reason: reasonImageUnreadable}); err != nil {
					return err
				}
				continue
			}
			a.attempts++
			if _, err := w.exec(`INSERT INTO cards (serial, application_id, reader, state, attempt, claimed_at)
				VALUES (?, ?, ?, 'claimed', ?, ?)`, serial, a.id, reader, a.attempts, nanos(w.now)); err != nil {
				if isUnique(err) {
					return fmt.Errorf("%w: card %s or reader %s already in use: %v", ErrCardUsed, serial, reader, err)
				}
				return fmt.Errorf("queue: claiming %s: %w", a.id, err)
			}
			if err := w.audit(ActionCard, serial, fmt.Sprintf("claimed by reader %s for application %s, attempt %d", reader, a.id, a.attempts)); err != nil {
				return err
			}
			if err := w.setState(a, StatePersonalizing, change{serial: serial, attempt: a.attempts}); err != nil {
				return err
			}
			c = &Claim{ApplicationID: a.id, Reader: reader, Serial: serial, Attempt: a.attempts,
				Image: image, State: StatePersonalizing}
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, ErrNoWork
	}
	return c, nil
}

// cardRow is the card of a claim.
type cardRow struct {
	id      int64
	reader  string
	state   CardState
	attempt int
}

// claimed loads the card and the application of a claim.
func (w *wtx) claimed(c *Claim) (*cardRow, *app, error) {
	if c == nil || c.ApplicationID == "" || c.Serial == "" {
		return nil, nil, fmt.Errorf("%w: empty claim", ErrInvalid)
	}
	cr := &cardRow{}
	err := w.queryRow("SELECT id, reader, state, attempt FROM cards WHERE application_id = ? AND serial = ? ORDER BY id DESC LIMIT 1",
		c.ApplicationID, c.Serial).Scan(&cr.id, &cr.reader, &cr.state, &cr.attempt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("%w: card %s of application %s", ErrNoCard, c.Serial, c.ApplicationID)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("queue: reading card %s: %w", c.Serial, err)
	}
	if c.Reader != "" && c.Reader != cr.reader {
		return nil, nil, fmt.Errorf("%w: card %s was claimed by reader %s, not %s", ErrInvalid, c.Serial, cr.reader, c.Reader)
	}
	a, err := w.loadApp(c.ApplicationID)
	if err != nil {
		return nil, nil, err
	}
	return cr, a, nil
}

// readerActor makes "reader:NAME" the audited actor of a card operation
// when the caller set none.
func readerActor(ctx context.Context, c *Claim) context.Context {
	if c == nil || c.Reader == "" {
		return ctx
	}
	return WithActor(ctx, actorOr(ctx, "reader:"+c.Reader))
}

func cardTooLate(serial string, st CardState, what string) error {
	return fmt.Errorf("%w: card %s is %s: cannot %s", ErrTooLate, serial, st, what)
}

// cardState moves a card to state to (with its audit entry); finished sets
// finished_at.
func (w *wtx) cardState(c *Claim, cr *cardRow, to CardState, reason string, finished bool) error {
	q := "UPDATE cards SET state = ?, reason = ?"
	args := []any{to, reason}
	if finished {
		q += ", finished_at = ?"
		args = append(args, nanos(w.now))
	}
	if to == CardWriting {
		q += ", write_started_at = ?"
		args = append(args, nanos(w.now))
	}
	q += " WHERE id = ?"
	args = append(args, cr.id)
	if _, err := w.exec(q, args...); err != nil {
		if isUnique(err) {
			return fmt.Errorf("%w: card %s → %s refused by a uniqueness rule: %v", ErrTooLate, c.Serial, to, err)
		}
		return fmt.Errorf("queue: card %s %s → %s: %w", c.Serial, cr.state, to, err)
	}
	action := ActionCard
	if to == CardSpoiled {
		action = ActionCardSpoiled
	}
	detail := fmt.Sprintf("%s → %s (application %s, reader %s, attempt %d)", cr.state, to, c.ApplicationID, cr.reader, cr.attempt)
	if reason != "" {
		detail += ": " + reason
	}
	if err := w.audit(action, c.Serial, detail); err != nil {
		return err
	}
	cr.state = to
	return nil
}

// MarkWriting records, durably, that writing is about to begin: call it
// before the first write to the card. Card claimed → writing.
func (s *Store) MarkWriting(ctx context.Context, c *Claim) error {
	ctx = readerActor(ctx, c)
	err := s.write(ctx, "MarkWriting", func(w *wtx) error {
		cr, a, err := w.claimed(c)
		if err != nil {
			return err
		}
		if cr.state != CardClaimed {
			return cardTooLate(c.Serial, cr.state, "start writing")
		}
		if a.state != StatePersonalizing {
			return tooLate(a.id, a.state, "start writing")
		}
		return w.cardState(c, cr, CardWriting, "", false)
	})
	if err == nil {
		c.WriteStarted = true
	}
	return err
}

// MarkVerifying records that the card is locked: application personalizing
// → verifying, card writing → locked.
func (s *Store) MarkVerifying(ctx context.Context, c *Claim) error {
	ctx = readerActor(ctx, c)
	err := s.write(ctx, "MarkVerifying", func(w *wtx) error {
		cr, a, err := w.claimed(c)
		if err != nil {
			return err
		}
		if cr.state != CardWriting {
			return cardTooLate(c.Serial, cr.state, "lock")
		}
		if a.state != StatePersonalizing {
			return tooLate(a.id, a.state, "verify")
		}
		if err := w.cardState(c, cr, CardLocked, "", false); err != nil {
			return err
		}
		return w.setState(a, StateVerifying, change{serial: c.Serial, attempt: cr.attempt})
	})
	if err == nil {
		c.State = StateVerifying
		c.WriteStarted = true
	}
	return err
}

// MarkIssued records the verified card: application verifying → issued,
// card locked → verified with its EF.SOD hash. At most one verified card
// per application (cards_one_verified): a second is ErrTooLate.
func (s *Store) MarkIssued(ctx context.Context, c *Claim, is Issue) error {
	ctx = readerActor(ctx, c)
	err := s.write(ctx, "MarkIssued", func(w *wtx) error {
		cr, a, err := w.claimed(c)
		if err != nil {
			return err
		}
		if cr.state != CardLocked {
			return cardTooLate(c.Serial, cr.state, "be issued")
		}
		if a.state != StateVerifying {
			return tooLate(a.id, a.state, "be issued")
		}
		if err := w.cardState(c, cr, CardVerified, "", true); err != nil {
			return err
		}
		if _, err := w.exec("UPDATE cards SET sod_sha256 = ?, ds_cert = ?, apdus = ?, duration_ns = ? WHERE id = ?",
			hex.EncodeToString(is.SODHash), is.DSCert, is.APDUs, int64(is.Duration), cr.id); err != nil {
			return fmt.Errorf("queue: issuing %s: %w", a.id, err)
		}
		return w.setState(a, StateIssued, change{serial: c.Serial, attempt: cr.attempt})
	})
	if err == nil {
		c.State = StateIssued
	}
	return err
}

// MarkSpoiled voids the card (claimed, writing or locked → spoiled, with
// the reason; audited as card_spoiled) and sends the application back to
// be prepared again with a new AA key (validated), or to needs_attention
// when its attempts reached MaxAttempts. Returns the application's new
// state. reason must not hold personal data.
func (s *Store) MarkSpoiled(ctx context.Context, c *Claim, reason string) (State, error) {
	ctx = readerActor(ctx, c)
	var st State
	err := s.write(ctx, "MarkSpoiled", func(w *wtx) error {
		cr, a, err := w.claimed(c)
		if err != nil {
			return err
		}
		switch cr.state {
		case CardClaimed, CardWriting, CardLocked:
		default:
			return cardTooLate(c.Serial, cr.state, "be spoiled")
		}
		if a.state != StatePersonalizing && a.state != StateVerifying {
			return tooLate(a.id, a.state, "spoil its card")
		}
		if reason == "" {
			reason = "unspecified"
		}
		if err := w.cardState(c, cr, CardSpoiled, reason, true); err != nil {
			return err
		}
		to := StateValidated
		if a.attempts >= s.opt.MaxAttempts {
			to = StateNeedsAttention
		}
		st = to
		return w.setState(a, to, change{reason: "card " + c.Serial + " spoiled: " + reason, serial: c.Serial, attempt: cr.attempt})
	})
	return st, err
}

// Release gives back a claim on which nothing was written (the card is
// still blank: claimed, or writing when the caller has checked the card):
// card → released, application → validated (its image was deleted by the
// claim, so it is prepared again); the attempt does not count. A locked
// card was written: spoil it.
func (s *Store) Release(ctx context.Context, c *Claim, reason string) error {
	ctx = readerActor(ctx, c)
	return s.write(ctx, "Release", func(w *wtx) error {
		cr, a, err := w.claimed(c)
		if err != nil {
			return err
		}
		if cr.state != CardClaimed && cr.state != CardWriting {
			return cardTooLate(c.Serial, cr.state, "be released")
		}
		if a.state != StatePersonalizing {
			return tooLate(a.id, a.state, "release its card")
		}
		if err := w.cardState(c, cr, CardReleased, reason, true); err != nil {
			return err
		}
		a.attempts = max(a.attempts-1, 0)
		r := "card " + c.Serial + " released"
		if reason != "" {
			r += ": " + reason
		}
		return w.setState(a, StateValidated, change{reason: r, serial: c.Serial, attempt: cr.attempt})
	})
}

// InFlight lists, for crash recovery, the applications being personalized
// or verified with their card (reader "" = every reader), in intake order:
// Reader, Serial, Attempt, WriteStarted (the card is writing or locked) and
// State (the Image is gone: deleted by the claim). Inspect each card, then
// MarkSpoiled, Release, or MarkVerifying/MarkIssued. A reader's claims must
// be resolved before it claims again (ErrReaderBusy).
func (s *Store) InFlight(ctx context.Context, reader string) ([]*Claim, error) {
	q := `SELECT a.id, a.state, c.reader, c.serial, c.attempt, c.state
		FROM applications a JOIN cards c ON c.application_id = a.id AND c.state IN ('claimed', 'writing', 'locked')
		WHERE a.state IN ('personalizing', 'verifying')`
	var args []any
	if reader != "" {
		q += " AND c.reader = ?"
		args = append(args, reader)
	}
	rows, err := s.r.QueryContext(ctx, q+" ORDER BY a.n", args...)
	if err != nil {
		return nil, fmt.Errorf("queue: listing claims in flight: %w", err)
	}
	defer rows.Close()
	var out []*Claim
	for rows.Next() {
		c := &Claim{}
		var cs CardState
		if err := rows.Scan(&c.ApplicationID, &c.State, &c.Reader, &c.Serial, &c.Attempt, &cs); err != nil {
			return nil, fmt.Errorf("queue: listing claims in flight: %w", err)
		}
		c.WriteStarted = cs == CardWriting || cs == CardLocked
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: listing claims in flight: %w", err)
	}
	return out, nil
}

const cardCols = `serial, application_id, reader, state, reason, attempt, claimed_at, finished_at,
	coalesce(sod_sha256, ''), destroyed_at, coalesce(destroyed_by, '')`

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func queryCards(ctx context.Context, q queryer, tail string, args ...any) ([]Card, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+cardCols+" FROM cards "+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("queue: listing cards: %w", err)
	}
	defer rows.Close()
	var out []Card
	for rows.Next() {
		var c Card
		var claimed int64
		var finished, destroyed sql.NullInt64
		if err := rows.Scan(&c.Serial, &c.ApplicationID, &c.Reader, &c.State, &c.Reason, &c.Attempt,
			&claimed, &finished, &c.SODHash, &destroyed, &c.DestroyedBy); err != nil {
			return nil, fmt.Errorf("queue: listing cards: %w", err)
		}
		c.ClaimedAt, c.FinishedAt, c.Destroyed = fromNanos(claimed), fromNullNanos(finished), fromNullNanos(destroyed)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: listing cards: %w", err)
	}
	return out, nil
}

// Cards lists cards, most recent claim first, filtered by state, reader
// and claim time (Limit default 100, at most 1000): the operators' list of
// spoiled cards to set aside, for instance.
func (s *Store) Cards(ctx context.Context, f CardFilter) ([]Card, error) {
	var where []string
	var args []any
	if f.State != "" {
		where = append(where, "state = ?")
		args = append(args, f.State)
	}
	if f.Reader != "" {
		where = append(where, "reader = ?")
		args = append(args, f.Reader)
	}
	if !f.Since.IsZero() {
		where = append(where, "claimed_at >= ?")
		args = append(args, nanos(f.Since))
	}
	tail := ""
	if len(where) > 0 {
		tail = "WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, clampLimit(f.Limit, 100, 1000))
	return queryCards(ctx, s.r, tail+" ORDER BY claimed_at DESC, id DESC LIMIT ?", args...)
}

// MarkDestroyed records that an operator (by; default the actor in ctx)
// destroyed a spoiled card. Audited. ErrNoCard for an unknown serial,
// ErrNotSpoiled for any other card; a second confirmation changes nothing.
func (s *Store) MarkDestroyed(ctx context.Context, serial, by string) error {
	if by == "" {
		by = actorOf(ctx)
	}
	if !validName(by) {
		return fmt.Errorf("%w: operator name not printable", ErrInvalid)
	}
	return s.write(ctx, "MarkDestroyed", func(w *wtx) error {
		var id int64
		var st CardState
		var app string
		var destroyed sql.NullInt64
		err := w.queryRow("SELECT id, state, application_id, destroyed_at FROM cards WHERE serial = ? AND state <> 'released'", serial).
			Scan(&id, &st, &app, &destroyed)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNoCard, serial)
		}
		if err != nil {
			return fmt.Errorf("queue: card %s: %w", serial, err)
		}
		if st != CardSpoiled {
			return fmt.Errorf("%w: card %s is %s", ErrNotSpoiled, serial, st)
		}
		if destroyed.Valid {
			return nil
		}
		if _, err := w.exec("UPDATE cards SET destroyed_at = ?, destroyed_by = ? WHERE id = ?", nanos(w.now), by, id); err != nil {
			return fmt.Errorf("queue: card %s: %w", serial, err)
		}
		return w.audit(ActionDestroyed, serial, fmt.Sprintf("spoiled card of application %s destroyed, confirmed by %s", app, by))
	})
}
