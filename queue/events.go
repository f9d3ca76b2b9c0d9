package queue

import (
	"context"
	"fmt"
	"time"
)

// Events returns the events after the cursor, ascending, at most limit
// (default 100, at most 1000). The feed is gap-free: seq 1, 2, 3... A
// cursor beyond the last event is ErrBadCursor: the reader is ahead of this
// database (it was replaced or restored), which central must notice rather
// than wait forever.
func (s *Store) Events(ctx context.Context, after int64, limit int) ([]Event, error) {
	if after < 0 {
		return nil, fmt.Errorf("%w: negative cursor %d", ErrBadCursor, after)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, application_id, state, reason, card_serial, attempt, at
		FROM events WHERE seq > ? ORDER BY seq LIMIT ?`, after, clampLimit(limit, 100, 1000))
	if err != nil {
		return nil, fmt.Errorf("queue: reading events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.Seq, &e.ApplicationID, &e.State, &e.Reason, &e.CardSerial, &e.Attempt, &at); err != nil {
			return nil, fmt.Errorf("queue: reading events: %w", err)
		}
		e.At = fromNanos(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: reading events: %w", err)
	}
	rows.Close()
	if len(out) == 0 && after > 0 {
		last, err := s.LastEvent(ctx)
		if err != nil {
			return nil, err
		}
		if after > last {
			return nil, fmt.Errorf("%w: cursor %d, last event %d", ErrBadCursor, after, last)
		}
	}
	return out, nil
}

// LastEvent is the seq of the last event (0 when there is none).
func (s *Store) LastEvent(ctx context.Context) (int64, error) {
	var last int64
	if err := s.r.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM events").Scan(&last); err != nil {
		return 0, fmt.Errorf("queue: reading the last event: %w", err)
	}
	return last, nil
}

// Ack records central's acknowledgement up to cursor: every application
// whose current state is final (issued, rejected, cancelled) and whose
// latest event is at or before cursor becomes acknowledged (an event
// each), to be purged after Options.Retention. Returns how many. A cursor
// beyond the last event is ErrBadCursor.
//
// Large acknowledgements commit in chunks (chunk applications per
// transaction) so that the readers' commits are not held up for seconds;
// each chunk is atomic, and acknowledging again is harmless.
func (s *Store) Ack(ctx context.Context, cursor int64) (int, error) {
	if cursor < 0 {
		return 0, fmt.Errorf("%w: negative cursor %d", ErrBadCursor, cursor)
	}
	total := 0
	for {
		n := 0
		err := s.write(ctx, "Ack", func(w *wtx) error {
			var last int64
			if err := w.queryRow("SELECT coalesce(max(seq), 0) FROM events").Scan(&last); err != nil {
				return fmt.Errorf("queue: acknowledging: %w", err)
			}
			if cursor > last {
				return fmt.Errorf("%w: cursor %d, last event %d", ErrBadCursor, cursor, last)
			}
			apps, err := w.apps(`SELECT n, id, batch_id, state, attempts FROM applications
				WHERE state IN ('issued', 'rejected', 'cancelled') AND last_seq <= ? ORDER BY last_seq LIMIT ?`, cursor, chunk)
			if err != nil {
				return fmt.Errorf("queue: acknowledging: %w", err)
			}
			purgeAfter := nanos(w.now.Add(s.opt.Retention))
			for _, a := range apps {
				if _, err := w.exec("UPDATE applications SET acked_at = ?, purge_after = ? WHERE n = ?", nanos(w.now), purgeAfter, a.n); err != nil {
					return fmt.Errorf("queue: acknowledging %s: %w", a.id, err)
				}
				if err := w.setState(a, StateAcknowledged, change{}); err != nil {
					return err
				}
			}
			n = len(apps)
			return nil
		})
		total += n
		if err != nil {
			return total, err
		}
		if n < chunk {
			return total, nil
		}
	}
}

// chunk bounds the applications one Ack or Purge transaction handles.
const chunk = 500

// apps reads application rows (n, id, batch_id, state, attempts).
func (w *wtx) apps(q string, args ...any) ([]*app, error) {
	rows, err := w.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*app
	for rows.Next() {
		a := &app{}
		if err := rows.Scan(&a.n, &a.id, &a.batch, &a.state, &a.attempts); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Purge deletes the personal data (the application as sent, any chip
// image) of acknowledged applications whose retention has passed; each
// becomes purged (an event each). What remains is the audit record: ids,
// serials, states, reasons, times.
//
// With secure_delete on, SQLite zeroes the freed pages; a WAL checkpoint in
// TRUNCATE mode then copies them into the database file and truncates the
// WAL, so the deleted ciphertext leaves the -wal file too
// (https://www.sqlite.org/pragma.html#pragma_wal_checkpoint: TRUNCATE
// "works the same way as RESTART with the addition that it also truncates
// the log file to zero bytes"). If readers keep the checkpoint from
// completing, Purge returns the count with an error and checkpoints again
// at the next Purge.
func (s *Store) Purge(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := s.write(ctx, "Purge", func(w *wtx) error {
			apps, err := w.apps(`SELECT n, id, batch_id, state, attempts FROM applications
				WHERE state = 'acknowledged' AND purge_after <= ? ORDER BY n LIMIT ?`, nanos(w.now), chunk)
			if err != nil {
				return fmt.Errorf("queue: purging: %w", err)
			}
			for _, a := range apps {
				for _, table := range []string{"application_raw", "application_image"} {
					if _, err := w.exec("DELETE FROM "+table+" WHERE application_id = ?", a.id); err != nil {
						return fmt.Errorf("queue: purging %s: %w", a.id, err)
					}
				}
				if _, err := w.exec("UPDATE applications SET purged_at = ? WHERE n = ?", nanos(w.now), a.n); err != nil {
					return fmt.Errorf("queue: purging %s: %w", a.id, err)
				}
				if err := w.setState(a, StatePurged, change{}); err != nil {
					return err
				}
			}
			n = len(apps)
			return nil
		})
		total += n
		if err != nil {
			if total > 0 {
				s.markCheckpointOwing()
			}
			return total, err
		}
		if n < chunk {
			break
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed || (total == 0 && !s.checkpointOwing) {
		return total, nil
	}
	if err := s.checkpointTruncate(ctx); err != nil {
		s.checkpointOwing = true
		s.log.Warn("queue: WAL checkpoint after purge incomplete; retried at the next purge", "err", err)
		return total, fmt.Errorf("queue: purged %d applications but %w", total, err)
	}
	s.checkpointOwing = false
	return total, nil
}

func (s *Store) markCheckpointOwing() {
	s.wmu.Lock()
	s.checkpointOwing = true
	s.wmu.Unlock()
}

// Checkpoint copies the WAL into the database file and truncates the WAL
// (PRAGMA wal_checkpoint(TRUNCATE)). Purge does it by itself; the daemon
// may also call it when idle, so that the frames of deleted chip images
// (deleted at claim, encrypted) do not linger in the -wal file.
func (s *Store) Checkpoint(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.checkpointTruncate(ctx); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	s.checkpointOwing = false
	return nil
}

// checkpointTruncate runs PRAGMA wal_checkpoint(TRUNCATE) on the writer
// (under wmu), a few times if readers hold old snapshots.
func (s *Store) checkpointTruncate(ctx context.Context) error {
	var busy, logFrames, done int
	for try := 0; try < 5; try++ {
		if err := s.w.QueryRowContext(bg, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
			return fmt.Errorf("the WAL checkpoint failed: %w", err)
		}
		if busy == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the WAL checkpoint was interrupted: %w", ctx.Err())
		case <-time.After(time.Duration(try+1) * 20 * time.Millisecond):
		}
	}
	return fmt.Errorf("the WAL checkpoint could not complete (readers busy; %d of %d frames)", done, logFrames)
}
