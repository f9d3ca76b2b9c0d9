package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// ToPrepare returns up to limit validated applications (default 16, at
// most 1000) in intake order, skipping the ids in skip (in flight in the
// pipeline), with Raw decrypted. An application whose stored data fails
// authentication (changed on disk) is moved to needs_attention instead of
// blocking the queue.
func (s *Store) ToPrepare(ctx context.Context, limit int, skip []string) ([]PrepJob, error) {
	limit = clampLimit(limit, 16, 1000)
	skipped := make(map[string]bool, len(skip))
	for _, id := range skip {
		skipped[id] = true
	}
	var jobs []PrepJob
	var bad []string
	err := func() error {
		tx, err := s.r.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		// Ids first (the state index), then only the raws wanted.
		rows, err := tx.QueryContext(ctx, "SELECT id FROM applications WHERE state = 'validated' ORDER BY n LIMIT ?", limit+len(skipped))
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() && len(ids) < limit {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			if !skipped[id] {
				ids = append(ids, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			var sealed []byte
			err := tx.QueryRowContext(ctx, "SELECT sealed FROM application_raw WHERE application_id = ?", id).Scan(&sealed)
			if errors.Is(err, sql.ErrNoRows) {
				bad = append(bad, id)
				continue
			}
			if err != nil {
				return err
			}
			raw, err := s.seal.open(adRaw(id), sealed)
			if err != nil {
				bad = append(bad, id)
				continue
			}
			jobs = append(jobs, PrepJob{ApplicationID: id, Raw: raw})
		}
		return nil
	}()
	if err != nil {
		return nil, fmt.Errorf("queue: listing applications to prepare: %w", err)
	}
	if len(bad) > 0 {
		if err := s.quarantine(ctx, bad, StateValidated); err != nil {
			return nil, err
		}
	}
	return jobs, nil
}

// quarantine moves applications (still in state from) whose stored
// application is missing or fails authentication to needs_attention.
func (s *Store) quarantine(ctx context.Context, ids []string, from State) error {
	return s.write(ctx, "quarantine", func(w *wtx) error {
		for _, id := range ids {
			a, err := w.loadApp(id)
			if err != nil {
				return err
			}
			if a.state != from {
				continue
			}
			s.log.Warn("queue: stored application unreadable; needs attention", "application_id", id)
			if err := w.setState(a, StateNeedsAttention, change{reason: reasonRawUnreadable}); err != nil {
				return err
			}
		}
		return nil
	})
}

const (
	reasonRawUnreadable   = "stored application missing or failed authentication"
	reasonImageUnreadable = "stored chip image failed authentication: to be prepared again"
)

// SetPrepared stores the chip image of a validated application (sealed)
// and moves it to prepared. If the application is no longer validated
// (cancelled meanwhile), the image is dropped and the error is ErrTooLate.
func (s *Store) SetPrepared(ctx context.Context, id string, image []byte) error {
	if len(image) == 0 {
		return fmt.Errorf("%w: %s: empty chip image", ErrInvalid, id)
	}
	sealed := s.seal.seal(adImage(id), image)
	return s.write(ctx, "SetPrepared", func(w *wtx) error {
		a, err := w.loadApp(id)
		if err != nil {
			return err
		}
		if a.state != StateValidated {
			return tooLate(id, a.state, "store a chip image")
		}
		if _, err := w.exec(`INSERT INTO application_image (application_id, sealed, prepared_at) VALUES (?, ?, ?)
			ON CONFLICT (application_id) DO UPDATE SET sealed = excluded.sealed, prepared_at = excluded.prepared_at`,
			id, sealed, nanos(w.now)); err != nil {
			return fmt.Errorf("queue: storing the chip image of %s: %w", id, err)
		}
		return w.setState(a, StatePrepared, change{})
	})
}

// RejectPrepared rejects a validated application that preparation found
// unusable (e.g. the face cannot fit the budget), with the problems as the
// reason. ErrTooLate if it is no longer validated.
func (s *Store) RejectPrepared(ctx context.Context, id string, problems []Problem) error {
	if len(problems) == 0 {
		return fmt.Errorf("%w: %s: rejection without a problem", ErrInvalid, id)
	}
	b, err := json.Marshal(storedProblems(problems))
	if err != nil {
		return fmt.Errorf("queue: encoding problems of %s: %w", id, err)
	}
	return s.write(ctx, "RejectPrepared", func(w *wtx) error {
		a, err := w.loadApp(id)
		if err != nil {
			return err
		}
		if a.state != StateValidated {
			return tooLate(id, a.state, "reject")
		}
		if _, err := w.exec("UPDATE applications SET problems = ? WHERE n = ?", string(b), a.n); err != nil {
			return fmt.Errorf("queue: rejecting %s: %w", id, err)
		}
		return w.setState(a, StateRejected, change{reason: problemsReason(problems)})
	})
}
