package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Health is whether the store can write: what the station decides on
// before it touches a card (a claim must be followed by records that
// commit), what /readyz and the panel report, and what makes intake answer
// 503 rather than 500.
type Health struct {
	Writable bool      `json:"writable"`
	Since    time.Time `json:"since"`            // in this condition since
	Op       string    `json:"op,omitempty"`     // the operation that failed
	Reason   string    `json:"reason,omitempty"` // SQLite's words ("database or disk is full"); never data
	// Failures counts writes that failed for the store's reasons since the
	// store was opened.
	Failures int64 `json:"failures"`
}

// health tracks Health; the writer updates it under wmu.
type health struct {
	mu sync.Mutex
	h  Health
}

func (h *health) failed(s *Store, op string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.h.Failures++
	reason := sqliteReason(err)
	if h.h.Writable || h.h.Reason != reason {
		s.log.Error("queue: the store cannot write", "op", op, "reason", reason, "db", s.path)
		h.h = Health{Writable: false, Since: s.opt.Now(), Op: op, Reason: reason, Failures: h.h.Failures}
	}
}

func (h *health) wrote(s *Store) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.h.Writable {
		s.log.Warn("queue: the store writes again", "after", s.opt.Now().Sub(h.h.Since).Round(time.Millisecond), "db", s.path)
		h.h = Health{Writable: true, Since: s.opt.Now(), Failures: h.h.Failures}
	}
}

// Health reports whether the last write committed, and since when.
func (s *Store) Health() Health {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	return s.health.h
}

// Probe makes a small real write (a row of meta) to learn whether the store
// writes again after ErrUnavailable; Health follows.
func (s *Store) Probe(ctx context.Context) error {
	return s.write(ctx, "Probe", func(w *wtx) error {
		_, err := w.exec("INSERT INTO meta (name, value) VALUES ('probe', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", nanos(w.now))
		return err
	})
}

// FreeBytes is the space left for the database on its file system (what
// an unprivileged process may use).
func (s *Store) FreeBytes() (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.path, &st); err != nil {
		return 0, fmt.Errorf("queue: free space of %s: %w", s.path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// unavailable is the one classifier of write failures: true when the
// failure is the store's (SQLite result codes, https://www.sqlite.org/rescode.html:
// SQLITE_FULL, SQLITE_IOERR and its extended codes, SQLITE_READONLY,
// SQLITE_CANTOPEN, SQLITE_BUSY/LOCKED past the busy timeout, SQLITE_NOMEM)
// or the operating system's (ENOSPC, EIO, EROFS, EDQUOT), not the data's.
func unavailable(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrFull, sqlite3.ErrIoErr, sqlite3.ErrReadonly, sqlite3.ErrCantOpen,
			sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrNomem:
			return true
		}
		return false
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EDQUOT)
}

// sqliteReason is SQLite's (or the system's) short text for a failure:
// fixed words, no data.
func sqliteReason(err error) string {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code.Error()
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return "write failed"
}
