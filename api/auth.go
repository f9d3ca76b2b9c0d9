package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/crypto/argon2"
)

// Auth is the station's own small store of API tokens, panel users and panel
// sessions: one SQLite file (DATA/auth.db) beside the job store, written by
// the daemon (logins, sessions) and by stationctl (token and user
// management). Every request looks its token or session up here, so a token
// revoked with stationctl is refused at once.
//
// Secrets are never stored: tokens as their SHA-256 (they carry 256 bits of
// randomness, so a fast hash is enough), passwords as argon2id, session ids
// as their SHA-256.
type Auth struct {
	db  *sql.DB
	now func() time.Time
	// argon is the cost of new password hashes; verification uses the
	// parameters stored with each hash.
	argon argonParams
	// hashing bounds the argon2id computations running at once: each takes
	// argon.memory KiB, and logins must not be a way to exhaust memory.
	hashing chan struct{}
	// dummy is a hash to verify against when the user does not exist, so
	// that a login takes as long whether or not the name is known.
	dummyOnce sync.Once
	dummy     string
	// verifications counts argon2id verifications (the tests hold every
	// login path to exactly one).
	verifications atomic.Int64

	// ended is closed (and replaced) whenever this process ends sessions
	// (logout, a user disabled or changed): live streams re-read theirs at
	// once. Changes made by stationctl are seen by their periodic check.
	endedMu sync.Mutex
	ended   chan struct{}
}

// Errors callers decide on. None of them carries a secret.
var (
	ErrExists       = errors.New("api: name already used")
	ErrUnknown      = errors.New("api: no such token or user")
	ErrBadName      = errors.New("api: a name is 1-32 characters: lower-case letters, digits, '.', '_', '-'")
	ErrBadRole      = errors.New("api: unknown role")
	ErrWeakPassword = errors.New("api: a password has 12 to 256 characters")
	// ErrBadLogin is every failed login: a wrong password, an unknown,
	// disabled or locked account look the same to the person trying
	// (LoginResult tells the audit log which).
	ErrBadLogin = errors.New("api: wrong user name or password")
)

// Lockout policy (OWASP ASVS 2.2.1): LockAfter consecutive failures from
// one client address lock that address out of the account for LockFor.
// Keyed by account and address, so that a stranger who knows an
// administrator's name locks out only their own address, never the
// administrator. Failures older than LockFor are forgotten.
const (
	LockAfter = 5
	LockFor   = 15 * time.Minute
)

// Session lifetimes: a session ends SessionIdle after its last request (the
// live overview keeps it alive) and at the latest SessionMax after login (a
// shift).
const (
	SessionIdle = time.Hour
	SessionMax  = 12 * time.Hour
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// argonParams of argon2id (RFC 9106 §4; OWASP: m ≥ 19 MiB, t ≥ 2).
type argonParams struct {
	time    uint32
	memory  uint32 // KiB
	threads uint8
}

var defaultArgon = argonParams{time: 2, memory: 64 * 1024, threads: 2}

// migrations of auth.db, applied in order; PRAGMA user_version counts them.
var migrations = []string{
	`CREATE TABLE tokens (
		name         TEXT PRIMARY KEY,
		role         TEXT NOT NULL,
		hash         BLOB NOT NULL UNIQUE,
		created_at   INTEGER NOT NULL,
		revoked_at   INTEGER,
		last_used_at INTEGER
	);
	CREATE TABLE users (
		name                TEXT PRIMARY KEY,
		role                TEXT NOT NULL,
		password            TEXT NOT NULL,
		lang                TEXT NOT NULL DEFAULT 'vi',
		disabled            INTEGER NOT NULL DEFAULT 0,
		failures            INTEGER NOT NULL DEFAULT 0,
		locked_until        INTEGER,
		created_at          INTEGER NOT NULL,
		password_changed_at INTEGER NOT NULL
	);
	CREATE TABLE sessions (
		id         BLOB PRIMARY KEY,
		user       TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
		csrf       TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		seen_at    INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	);
	CREATE INDEX sessions_user ON sessions(user);`,
	// 2: failures and lockouts per account and client address (see
	// LockAfter); users.failures and users.locked_until are no longer used.
	`CREATE TABLE login_failures (
		user         TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
		addr         TEXT NOT NULL,
		failures     INTEGER NOT NULL,
		locked_until INTEGER,
		updated_at   INTEGER NOT NULL,
		PRIMARY KEY (user, addr)
	);
	UPDATE users SET failures = 0, locked_until = NULL;`,
}

// OpenAuth opens (creating it, mode 0600, if needed) the auth store at path
// and brings its schema up to date.
func OpenAuth(path string) (*Auth, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open auth store: %w", err)
	}
	// Created here so that it is 0600 from the start (SQLite gives -wal and
	// -shm the database's mode).
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open auth store: %w", err)
	}
	f.Close()
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs),
		RawQuery: "_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_foreign_keys=on&_txlock=immediate"}
	dsn := u.String()
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open auth store: %w", err)
	}
	a := &Auth{db: db, now: time.Now, argon: defaultArgon, hashing: make(chan struct{}, 2)}
	if err := a.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

// Close closes the store.
func (a *Auth) Close() error { return a.db.Close() }

func (a *Auth) migrate() error {
	var v int
	if err := a.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read auth schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("auth store schema %d is newer than this program (%d)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		tx, err := a.db.Begin()
		if err != nil {
			return fmt.Errorf("migrate auth store to %d: %w", i+1, err)
		}
		if _, err := tx.Exec(migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate auth store to %d: %w", i+1, err)
		}
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate auth store to %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate auth store to %d: %w", i+1, err)
		}
	}
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMilli(v.Int64)
	return &t
}

// ---- tokens ----

// tokenPrefix marks station tokens so that a leaked one is recognizable
// (secret scanners) and a panel password pasted by mistake is not looked up.
const tokenPrefix = "cst_"

// TokenInfo describes a token; the token itself is never kept.
type TokenInfo struct {
	Name     string     `json:"name"`
	Role     Role       `json:"role"`
	Created  time.Time  `json:"created"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	LastUsed *time.Time `json:"last_used,omitempty"`
}

// AddToken creates a token with a name and a role (central, or a panel role
// for API scripts) and returns it: it is shown once and stored only as its
// hash.
func (a *Auth) AddToken(name string, role Role) (string, error) {
	if !namePattern.MatchString(name) {
		return "", ErrBadName
	}
	if !role.valid() {
		return "", ErrBadRole
	}
	token, sum, err := newTokenSecret()
	if err != nil {
		return "", fmt.Errorf("add token: %w", err)
	}
	_, err = a.db.Exec(`INSERT INTO tokens(name, role, hash, created_at) VALUES (?, ?, ?, ?)`,
		name, string(role), sum[:], ms(a.now()))
	if isUnique(err) {
		return "", ErrExists
	}
	if err != nil {
		return "", fmt.Errorf("add token: %w", err)
	}
	return token, nil
}

// newTokenSecret makes a token and its stored hash.
func newTokenSecret() (string, [sha256.Size]byte, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", [sha256.Size]byte{}, err
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	return token, sha256.Sum256([]byte(token)), nil
}

// RotateToken gives an existing token (revoked or not) a new secret and
// makes it live again with role: a deliberate replacement under the same
// name — the old secret stops working at once. ErrUnknown when there is no
// token of that name.
func (a *Auth) RotateToken(name string, role Role) (string, error) {
	if !role.valid() {
		return "", ErrBadRole
	}
	token, sum, err := newTokenSecret()
	if err != nil {
		return "", fmt.Errorf("rotate token: %w", err)
	}
	res, err := a.db.Exec(`UPDATE tokens SET hash = ?, role = ?, revoked_at = NULL, created_at = ?, last_used_at = NULL WHERE name = ?`,
		sum[:], string(role), ms(a.now()), name)
	if err != nil {
		return "", fmt.Errorf("rotate token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", ErrUnknown
	}
	return token, nil
}

// TokenIs reports whether token is the live secret of the token name with
// role (the demo keeps central's token across its restarts).
func (a *Auth) TokenIs(ctx context.Context, token, name string, role Role) (bool, error) {
	n, r, ok, err := a.lookupToken(ctx, token)
	if err != nil {
		return false, err
	}
	return ok && n == name && r == role, nil
}

// PasswordIs reports whether user's password is password, without counting
// a failed login or looking at lockouts (the demo checks the credentials it
// wrote itself). False for an unknown or disabled user.
func (a *Auth) PasswordIs(user, password string) (bool, error) {
	var hash string
	var disabled bool
	err := a.db.QueryRow(`SELECT password, disabled FROM users WHERE name = ?`, user).Scan(&hash, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check password: %w", err)
	}
	return !disabled && a.verifyPassword(hash, password), nil
}

// RevokeToken revokes a token by name; its row stays, so that the name is
// not reused by mistake and the list shows when it was revoked.
func (a *Auth) RevokeToken(name string) error {
	res, err := a.db.Exec(`UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL`, ms(a.now()), name)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		if err := a.db.QueryRow(`SELECT 1 FROM tokens WHERE name = ?`, name).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return ErrUnknown
		}
	}
	return nil
}

// Tokens lists every token, revoked ones included.
func (a *Auth) Tokens() ([]TokenInfo, error) {
	rows, err := a.db.Query(`SELECT name, role, created_at, revoked_at, last_used_at FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []TokenInfo
	for rows.Next() {
		var t TokenInfo
		var role string
		var created int64
		var revoked, used sql.NullInt64
		if err := rows.Scan(&t.Name, &role, &created, &revoked, &used); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.Role, t.Created, t.Revoked, t.LastUsed = Role(role), time.UnixMilli(created), fromMS(revoked), fromMS(used)
		out = append(out, t)
	}
	return out, rows.Err()
}

// lookupToken returns the live token matching a presented bearer token.
func (a *Auth) lookupToken(ctx context.Context, token string) (name string, role Role, ok bool, err error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return "", "", false, nil
	}
	sum := sha256.Sum256([]byte(token))
	var r string
	var revoked, used sql.NullInt64
	err = a.db.QueryRowContext(ctx, `SELECT name, role, revoked_at, last_used_at FROM tokens WHERE hash = ?`, sum[:]).
		Scan(&name, &r, &revoked, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("look up token: %w", err)
	}
	if revoked.Valid {
		return "", "", false, nil
	}
	// Last use, at most once a minute per token: a write per request would
	// make every request take the database's write lock.
	if now := ms(a.now()); !used.Valid || used.Int64 < now-60_000 {
		_, _ = a.db.ExecContext(ctx, `UPDATE tokens SET last_used_at = ? WHERE name = ?`, now, name)
	}
	return name, Role(r), true, nil
}

// ---- users ----

// UserInfo describes a panel account; the password hash stays inside.
type UserInfo struct {
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Lang     Lang   `json:"lang"`
	Disabled bool   `json:"disabled"`
	// Failures: the most consecutive failed logins from any one client
	// address; LockedUntil: the latest end of a lockout of an address.
	Failures    int        `json:"failures"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	Created     time.Time  `json:"created"`
}

// Locked reports whether some address is locked out of the account at t.
func (u UserInfo) Locked(t time.Time) bool { return u.LockedUntil != nil && t.Before(*u.LockedUntil) }

func checkPassword(pw string) error {
	if n := len([]rune(pw)); n < 12 || len(pw) > 256 {
		return ErrWeakPassword
	}
	return nil
}

// AddUser creates a panel account with a panel role (not central: central
// authenticates with a certificate or a token).
func (a *Auth) AddUser(name string, role Role, password string) error {
	if !namePattern.MatchString(name) {
		return ErrBadName
	}
	if !role.valid() || role == RoleCentral {
		return ErrBadRole
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	h, err := a.hashPassword(password)
	if err != nil {
		return err
	}
	now := ms(a.now())
	_, err = a.db.Exec(`INSERT INTO users(name, role, password, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?)`,
		name, string(role), h, now, now)
	if isUnique(err) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	return nil
}

// SetPassword replaces a user's password, clears its lockouts, and ends the
// user's sessions.
func (a *Auth) SetPassword(name, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	h, err := a.hashPassword(password)
	if err != nil {
		return err
	}
	return a.updateUser(name, true, `UPDATE users SET password = ?, password_changed_at = ? WHERE name = ?`,
		h, ms(a.now()), name)
}

// DisableUser disables an account and ends its sessions; EnableUser undoes
// it.
func (a *Auth) DisableUser(name string) error {
	return a.updateUser(name, false, `UPDATE users SET disabled = 1 WHERE name = ?`, name)
}

// EnableUser re-enables a disabled account and clears its lockouts.
func (a *Auth) EnableUser(name string) error {
	return a.updateUser(name, true, `UPDATE users SET disabled = 0 WHERE name = ?`, name)
}

// SetLang stores a user's language preference for the panel.
func (a *Auth) SetLang(name string, lang Lang) error {
	if !lang.valid() {
		return fmt.Errorf("set language: unknown language")
	}
	res, err := a.db.Exec(`UPDATE users SET lang = ? WHERE name = ?`, string(lang), name)
	if err != nil {
		return fmt.Errorf("set language: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrUnknown
	}
	return nil
}

// updateUser runs a change to one user and ends that user's sessions (and
// with unlock, clears its lockouts), in one transaction; the user's live
// streams hear of it at once.
func (a *Auth) updateUser(name string, unlock bool, query string, args ...any) error {
	tx, err := a.db.Begin()
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.Exec(query, args...)
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrUnknown
	}
	if _, err := tx.Exec(`DELETE FROM sessions WHERE user = ?`, name); err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	if unlock {
		if _, err := tx.Exec(`DELETE FROM login_failures WHERE user = ?`, name); err != nil {
			return fmt.Errorf("update user: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	a.sessionsEnded()
	return nil
}

// Users lists every panel account.
func (a *Auth) Users() ([]UserInfo, error) {
	rows, err := a.db.Query(`SELECT u.name, u.role, u.lang, u.disabled, COALESCE(MAX(f.failures), 0), MAX(f.locked_until), u.created_at
		FROM users u LEFT JOIN login_failures f ON f.user = u.name GROUP BY u.name ORDER BY u.name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []UserInfo
	for rows.Next() {
		var u UserInfo
		var role, lang string
		var created int64
		var locked sql.NullInt64
		if err := rows.Scan(&u.Name, &role, &lang, &u.Disabled, &u.Failures, &locked, &created); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.Role, u.Lang, u.LockedUntil, u.Created = Role(role), Lang(lang), fromMS(locked), time.UnixMilli(created)
		out = append(out, u)
	}
	return out, rows.Err()
}

// LoginResult says how a login attempt ended, for the audit log.
type LoginResult string

const (
	LoginOK          LoginResult = "ok"
	LoginBadPassword LoginResult = "bad_password"
	LoginUnknownUser LoginResult = "unknown_user"
	LoginDisabled    LoginResult = "disabled"
	LoginLocked      LoginResult = "locked"       // refused: the account was locked
	LoginLockedNow   LoginResult = "locked_now"   // this failure locked it
	LoginThrottled   LoginResult = "rate_limited" // too many attempts from this address
)

// Login checks a user name and password presented from a client address
// (LoginAddr of the remote address). It returns the account on success;
// every failure is ErrBadLogin, and the result says why (for the audit log;
// the person at the keyboard is told no more). Every path — unknown name,
// disabled or locked account, wrong or right password — verifies exactly
// one argon2id hash (the account's, or a dummy), so that none answers
// faster than another.
//
// Failures count per account and address: LockAfter in a row from one
// address lock that address out of the account for LockFor (the right
// password is refused too); other addresses are not affected.
func (a *Auth) Login(ctx context.Context, name, password, addr string) (UserInfo, LoginResult, error) {
	var u UserInfo
	var hash, role, lang string
	var failures, locked sql.NullInt64
	err := a.db.QueryRowContext(ctx, `SELECT u.name, u.role, u.password, u.lang, u.disabled, f.failures, f.locked_until
		FROM users u LEFT JOIN login_failures f ON f.user = u.name AND f.addr = ? WHERE u.name = ?`, addr, name).
		Scan(&u.Name, &role, &hash, &lang, &u.Disabled, &failures, &locked)
	known := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return UserInfo{}, "", fmt.Errorf("login: %w", err)
	}
	if !known {
		hash = a.dummyHash()
	}
	ok := a.verifyPassword(hash, password) // the one verification, on every path
	now := a.now()
	switch {
	case !known:
		return UserInfo{}, LoginUnknownUser, ErrBadLogin
	case locked.Valid && now.UnixMilli() < locked.Int64:
		return UserInfo{}, LoginLocked, ErrBadLogin
	case u.Disabled:
		return UserInfo{}, LoginDisabled, ErrBadLogin
	case ok:
		if failures.Valid {
			if _, err := a.db.ExecContext(ctx, `DELETE FROM login_failures WHERE user = ? AND addr = ?`, name, addr); err != nil {
				return UserInfo{}, "", fmt.Errorf("login: %w", err)
			}
		}
		u.Role, u.Lang = Role(role), Lang(lang)
		return u, LoginOK, nil
	}
	// Counted in one statement: guesses sent in parallel from one address
	// are all counted.
	var n int
	if err := a.db.QueryRowContext(ctx, `INSERT INTO login_failures(user, addr, failures, updated_at) VALUES (?, ?, 1, ?)
		ON CONFLICT(user, addr) DO UPDATE SET failures = CASE WHEN updated_at >= ? THEN failures + 1 ELSE 1 END, updated_at = excluded.updated_at
		RETURNING failures`, name, addr, ms(now), ms(now.Add(-LockFor))).Scan(&n); err != nil {
		return UserInfo{}, "", fmt.Errorf("login: %w", err)
	}
	result := LoginBadPassword
	if n >= LockAfter {
		result = LoginLockedNow
		if _, err := a.db.ExecContext(ctx, `UPDATE login_failures SET failures = 0, locked_until = ? WHERE user = ? AND addr = ?`,
			ms(now.Add(LockFor)), name, addr); err != nil {
			return UserInfo{}, "", fmt.Errorf("login: %w", err)
		}
	}
	// Forget what is old (rows of addresses long gone).
	if _, err := a.db.ExecContext(ctx, `DELETE FROM login_failures WHERE updated_at < ? AND (locked_until IS NULL OR locked_until < ?)`,
		ms(now.Add(-LockFor)), ms(now)); err != nil {
		return UserInfo{}, "", fmt.Errorf("login: %w", err)
	}
	return UserInfo{}, result, ErrBadLogin
}

// LoginAddr is the key of a client address for login failures and the
// login rate: the IPv4 address, or the /64 of an IPv6 address (one
// machine's interface may take any address in its /64).
func LoginAddr(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// hashPassword returns an argon2id hash in the PHC string format.
func (a *Auth) hashPassword(password string) (string, error) {
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	p := a.argon
	a.hashing <- struct{}{}
	key := argon2.IDKey([]byte(password), salt[:], p.time, p.memory, p.threads, 32)
	<-a.hashing
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		b64.EncodeToString(salt[:]), b64.EncodeToString(key)), nil
}

// verifyPassword checks a password against a PHC argon2id string, with the
// parameters stored in it.
func (a *Auth) verifyPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	var p argonParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return false
	}
	if p.memory > 1<<20 || p.time > 16 || p.threads == 0 { // a sane ceiling on what a row may ask of us
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	a.verifications.Add(1)
	a.hashing <- struct{}{}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(want)))
	<-a.hashing
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is a hash with the cost of new hashes and a random key that no
// password matches; made without running argon2id, so that the first
// unknown name costs no more than the next.
func (a *Auth) dummyHash() string {
	a.dummyOnce.Do(func() {
		var salt [16]byte
		var key [32]byte
		_, _ = rand.Read(salt[:])
		_, _ = rand.Read(key[:])
		p, b64 := a.argon, base64.RawStdEncoding
		a.dummy = fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
			b64.EncodeToString(salt[:]), b64.EncodeToString(key[:]))
	})
	return a.dummy
}

// ---- sessions ----

// Session is a logged-in panel user.
type Session struct {
	User    string
	Role    Role
	Lang    Lang
	CSRF    string // the token every state-changing panel request carries
	Expires time.Time
	id      []byte // hash of the cookie value
}

func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// newSession starts a session for a user; it returns the cookie value (the
// store keeps its hash).
func (a *Auth) newSession(ctx context.Context, user string) (cookie string, s *Session, err error) {
	cookie, err = randomToken()
	if err != nil {
		return "", nil, fmt.Errorf("new session: %w", err)
	}
	csrf, err := randomToken()
	if err != nil {
		return "", nil, fmt.Errorf("new session: %w", err)
	}
	now := a.now()
	sum := sha256.Sum256([]byte(cookie))
	if _, err := a.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ? OR seen_at < ?`, ms(now), ms(now.Add(-SessionIdle))); err != nil {
		return "", nil, fmt.Errorf("new session: %w", err)
	}
	if _, err := a.db.ExecContext(ctx, `INSERT INTO sessions(id, user, csrf, created_at, seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		sum[:], user, csrf, ms(now), ms(now), ms(now.Add(SessionMax))); err != nil {
		return "", nil, fmt.Errorf("new session: %w", err)
	}
	s, err = a.session(ctx, cookie)
	if err != nil || s == nil {
		return "", nil, fmt.Errorf("new session: not readable back (%v)", err)
	}
	return cookie, s, nil
}

// session returns the live session for a cookie value, or nil.
func (a *Auth) session(ctx context.Context, cookie string) (*Session, error) {
	if cookie == "" || len(cookie) > 64 {
		return nil, nil
	}
	sum := sha256.Sum256([]byte(cookie))
	now := a.now()
	var s Session
	var role, lang string
	var seen, expires int64
	err := a.db.QueryRowContext(ctx, `SELECT s.user, u.role, u.lang, s.csrf, s.seen_at, s.expires_at
		FROM sessions s JOIN users u ON u.name = s.user WHERE s.id = ? AND u.disabled = 0`, sum[:]).
		Scan(&s.User, &role, &lang, &s.CSRF, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up session: %w", err)
	}
	if now.UnixMilli() >= expires || now.Sub(time.UnixMilli(seen)) >= SessionIdle {
		_, _ = a.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, sum[:])
		return nil, nil
	}
	if now.Sub(time.UnixMilli(seen)) > time.Minute {
		if _, err := a.db.ExecContext(ctx, `UPDATE sessions SET seen_at = ? WHERE id = ?`, ms(now), sum[:]); err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
	}
	s.Role, s.Lang, s.id = Role(role), Lang(lang), sum[:]
	s.Expires = time.UnixMilli(expires)
	return &s, nil
}

// endSession deletes a session (logout); its live streams hear of it at
// once.
func (a *Auth) endSession(ctx context.Context, s *Session) error {
	if _, err := a.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, s.id); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	a.sessionsEnded()
	return nil
}

// sessionEnds returns a channel closed the next time this process ends
// sessions (then ask again).
func (a *Auth) sessionEnds() <-chan struct{} {
	a.endedMu.Lock()
	defer a.endedMu.Unlock()
	if a.ended == nil {
		a.ended = make(chan struct{})
	}
	return a.ended
}

func (a *Auth) sessionsEnded() {
	a.endedMu.Lock()
	if a.ended != nil {
		close(a.ended)
	}
	a.ended = make(chan struct{})
	a.endedMu.Unlock()
}

func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}
