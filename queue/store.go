package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Store is the station's durable job store: one SQLite database file, one
// writer connection (every change goes through it, one transaction at a
// time) and a pool of read-only connections that WAL lets read while the
// writer writes. Safe for concurrent use.
type Store struct {
	path     string
	headPath string   // the audit head anchor, beside the database
	lock     *os.File // flock on <db>.lock (lock_unix.go)
	w        *sql.DB
	r        *sql.DB
	seal     *sealer
	opt      Options
	log      *slog.Logger

	// wmu serializes write transactions and what follows their commit (the
	// audit anchor), so that the anchor file is written in commit order.
	wmu             sync.Mutex
	closed          bool
	anchorStale     bool // the last anchor write failed: retry at the next append
	checkpointOwing bool // a purge's TRUNCATE checkpoint did not complete

	chMu    sync.Mutex
	changed chan struct{}

	health health // whether writes commit (health.go)
}

// Connection settings. SQLite documentation, https://www.sqlite.org/:
//
//   - wal.html: in write-ahead-log mode readers do not block the writer and
//     the writer does not block readers; the read pool relies on it.
//   - pragma.html#pragma_synchronous: "With synchronous=FULL in WAL mode, an
//     additional sync operation of the WAL file happens after each
//     transaction commit ... to ensure that transactions are durable across
//     a power loss." NORMAL (the driver's default) may lose the last
//     commits on power loss: not acceptable when a commit is what we tell
//     central or a reader.
//   - pragma.html#pragma_secure_delete: "When secure_delete is on, SQLite
//     overwrites deleted content with zeros": a purged application's
//     ciphertext does not linger in free pages (secure_delete is per
//     connection, so it is set on the writer, the only connection that
//     deletes).
//   - pragma.html#pragma_foreign_keys: off by default, per connection.
//   - lang_transaction.html: BEGIN IMMEDIATE takes the write lock at once,
//     so a write transaction never fails half-way on a lock upgrade.
const busyTimeoutMS = "10000"

// driverName is mattn/go-sqlite3 with a connect hook for the settings its
// DSN cannot carry.
const driverName = "sqlite3-cccd-queue"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		// pragma.html#pragma_journal_size_limit: a WAL that grew (a long
		// reader held checkpoints back) is truncated back to 64 MiB when
		// it is reset, instead of keeping its size and old frames.
		_, err := c.Exec("PRAGMA journal_size_limit = 67108864", nil)
		return err
	}})
}

func writerDSN(path string) string {
	return fileURI(path) + "?" + url.Values{
		"_journal_mode":    {"WAL"},
		"_synchronous":     {"FULL"},
		"_foreign_keys":    {"1"},
		"_secure_delete":   {"on"},
		"_busy_timeout":    {busyTimeoutMS},
		"_txlock":          {"immediate"},
		"_stmt_cache_size": {"64"},
	}.Encode()
}

// readerDSN opens read-only (uri.html: mode=ro): the pool can never write,
// even by mistake.
func readerDSN(path string) string {
	return fileURI(path) + "?" + url.Values{
		"mode":             {"ro"},
		"_busy_timeout":    {busyTimeoutMS},
		"_stmt_cache_size": {"64"},
	}.Encode()
}

func fileURI(path string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	return u.String()
}

// Open opens the store at path, creating the database (mode 0600) or
// migrating it to the current schema. The key must be the one the database
// was created with: a wrong key fails here with ErrKey.
func Open(path string, key Key, o Options) (*Store, error) {
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.Retention < 0 {
		o.Retention = 0
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("queue: opening %s: %w", path, err)
	}
	// Create the file ourselves so that it is 0600 from the start (SQLite
	// would create it 0644; it gives -wal and -shm the database's mode).
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: opening %s: %w", abs, err)
	}
	f.Close()
	lock, err := lockDB(abs)
	if err != nil {
		return nil, err
	}

	s := &Store{
		lock:     lock,
		path:     abs,
		headPath: abs + ".audit-head",
		seal:     seal,
		opt:      o,
		log:      o.Log,
		changed:  make(chan struct{}),
	}
	s.health.h = Health{Writable: true, Since: o.Now()}
	if s.w, err = sql.Open(driverName, writerDSN(abs)); err != nil {
		s.unlock()
		return nil, fmt.Errorf("queue: opening %s: %w", abs, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.init(); err != nil {
		s.w.Close()
		s.unlock()
		return nil, err
	}
	if s.r, err = sql.Open(driverName, readerDSN(abs)); err != nil {
		s.w.Close()
		s.unlock()
		return nil, fmt.Errorf("queue: opening %s for reading: %w", abs, err)
	}
	s.r.SetMaxOpenConns(8)
	s.r.SetMaxIdleConns(8)
	if err := s.r.Ping(); err != nil {
		s.Close()
		return nil, fmt.Errorf("queue: opening %s for reading: %w", abs, err)
	}
	if err := s.reconcileAnchor(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// init checks the connection settings took, migrates and checks the key.
func (s *Store) init() error {
	ctx := context.Background()
	for _, p := range []struct {
		pragma, want string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"},
		{"secure_delete", "1"},
		{"foreign_keys", "1"},
	} {
		var got string
		if err := s.w.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
			return fmt.Errorf("queue: opening %s: reading PRAGMA %s: %w", s.path, p.pragma, err)
		}
		if got != p.want {
			return fmt.Errorf("queue: opening %s: PRAGMA %s is %q, want %q", s.path, p.pragma, got, p.want)
		}
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	return s.checkKey(ctx)
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("queue: migrating %s: %w", s.path, err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("queue: migrating %s: %w", s.path, err)
	}
	if v > len(migrations) {
		return fmt.Errorf("queue: %s has schema version %d, newer than this program's %d: refusing to touch it", s.path, v, len(migrations))
	}
	if v == len(migrations) {
		return nil
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("queue: migrating %s to version %d: %w", s.path, i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return fmt.Errorf("queue: migrating %s: %w", s.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue: migrating %s: %w", s.path, err)
	}
	return nil
}

// checkKey opens the key check sealed when the database was created, or
// seals one into a new database.
func (s *Store) checkKey(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("queue: checking the key: %w", err)
	}
	defer tx.Rollback()
	var sealed []byte
	err = tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE name = 'key_check'").Scan(&sealed)
	switch {
	case err == nil:
		return s.seal.checkKey(sealed)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("queue: checking the key: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM applications").Scan(&n); err != nil {
		return fmt.Errorf("queue: checking the key: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%w: %s holds applications but no key check: refusing to guess the key", ErrKey, s.path)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO meta (name, value) VALUES ('key_check', ?)",
		s.seal.seal(adKeyCheck, keyCheckPlain)); err != nil {
		return fmt.Errorf("queue: storing the key check: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue: storing the key check: %w", err)
	}
	return nil
}

// Close waits for a write in progress and closes the database. The read
// pool closes first, so that the writer, the last connection, checkpoints
// the WAL.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	s.unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("queue: closing %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) unlock() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

type actorKey struct{}

// WithActor says who is acting, for the audit log: "central", "station",
// "reader:NAME", a user name. Default "station".
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

func actorOf(ctx context.Context) string { return actorOr(ctx, "station") }

// actorOr is the actor in ctx, or def when none was set.
func actorOr(ctx context.Context, def string) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return def
}

// Changed returns a channel closed at the next committed change (then a
// new one is made): for long polls, SSE and the pusher. Take the channel
// before reading, then wait on it, and no change is missed.
func (s *Store) Changed() <-chan struct{} {
	s.chMu.Lock()
	defer s.chMu.Unlock()
	return s.changed
}

func (s *Store) notify() {
	s.chMu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.chMu.Unlock()
}

// wtx is one write transaction: its clock, its actor, and the event and
// audit sequence numbers it assigns.
type wtx struct {
	s     *Store
	tx    *sql.Tx
	now   time.Time
	actor string

	nextEvent int64 // 0: not read yet

	auditLoaded bool
	auditSeq    int64
	auditHead   string
	audited     bool
}

// bg is the context of statements inside a write transaction. Cancelling
// the caller's context must not interrupt a transaction half-way or,
// worse, make COMMIT report failure after it succeeded (the driver turns an
// interrupt into ctx.Err()): a write either commits and returns nil, or
// rolls back and returns an error. Writes are short; the caller's context
// is checked before one starts.
var bg = context.Background()

// write runs fn in one IMMEDIATE transaction on the writer, commits it
// (synchronous=FULL: durable on return), rewrites the audit anchor if fn
// appended to the log, and wakes Changed. op names the operation (logs,
// fault injection). A failure that is the store's and not the data's —
// the disk full, an I/O error — is ErrUnavailable, and Health reports the
// store unwritable until a write commits again.
func (s *Store) write(ctx context.Context, op string, fn func(w *wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	err := s.writeLocked(op, actorOf(ctx), fn)
	if err != nil && unavailable(err) {
		s.health.failed(s, op, err)
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	if err == nil {
		s.health.wrote(s)
	}
	return err
}

func (s *Store) writeLocked(op, actor string, fn func(w *wtx) error) error {
	if s.opt.WriteFault != nil {
		if err := s.opt.WriteFault(op); err != nil {
			return fmt.Errorf("queue: beginning a transaction: %w", err)
		}
	}
	tx, err := s.w.BeginTx(bg, nil)
	if err != nil {
		return fmt.Errorf("queue: beginning a transaction: %w", err)
	}
	done := false
	defer func() {
		if !done { // fn failed or panicked: never leave the writer in a transaction
			tx.Rollback()
		}
	}()
	w := &wtx{s: s, tx: tx, now: s.opt.Now().UTC(), actor: actor}
	if err := fn(w); err != nil {
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue: committing: %w", err)
	}
	if w.audited || s.anchorStale {
		s.anchorAfterCommit(w)
	}
	s.notify()
	return nil
}

func (w *wtx) exec(q string, args ...any) (sql.Result, error) {
	return w.tx.ExecContext(bg, q, args...)
}

func (w *wtx) queryRow(q string, args ...any) *sql.Row {
	return w.tx.QueryRowContext(bg, q, args...)
}

func (w *wtx) query(q string, args ...any) (*sql.Rows, error) {
	return w.tx.QueryContext(bg, q, args...)
}

// isUnique reports a UNIQUE constraint failure (a partial unique index).
func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}
