package queue

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The audit log is a hash chain: entry n's hash is SHA-256 over a canonical
// encoding of (n, at, actor, action, subject, detail, hash of entry n-1),
// so changing, removing or reordering an entry breaks the chain from that
// entry on. Removing entries from the END leaves a shorter but valid chain:
// that is caught by the head anchor, a small file beside the database
// ("<db>.audit-head") holding the last entry's seq and hash, rewritten
// atomically (temp file, fsync, rename, fsync of the directory) after every
// commit that appended to the log, before the call returns.
//
// The chain is not keyed (stationctl verifies it without the station key),
// so someone who can rewrite both the database and the anchor can forge a
// consistent history: the anchor catches mistakes and naive tampering; a
// stronger anchor is one kept off the machine (e.g. the head reported to
// central).

// Audit actions the store writes itself.
const (
	ActionState       = "state"        // an application changed state: subject the id, detail "from → to[: reason]"
	ActionCard        = "card"         // a card changed state (claimed, writing, locked, released...): subject the serial
	ActionCardSpoiled = "card_spoiled" // a card was spoiled: subject the serial, detail the reason
	ActionDestroyed   = "card_destroyed"
	// ActionAnchorMismatch: when the store opened, the head anchor did not
	// match the log (entries removed from the end, or the anchor replaced).
	// VerifyAudit reports every such entry as a problem, for good.
	ActionAnchorMismatch = "audit_anchor_mismatch"
	// ActionAnchorMissing: the store opened a non-empty log without its
	// anchor file (a database copied without it) and anchored it anew.
	ActionAnchorMissing = "audit_anchor_missing"
)

var genesisHash = strings.Repeat("0", 64)

// auditHash is the chain hash of one entry: SHA-256 over a domain string,
// the seq as 8 bytes big-endian, then each text field as an 8-byte
// big-endian length and its bytes (at is RFC 3339 with nanoseconds, UTC,
// exactly as stored; prev is the previous entry's hash in hex).
func auditHash(seq int64, at, actor, action, subject, detail, prev string) string {
	h := sha256.New()
	io.WriteString(h, "cccd-station audit v1\x00")
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seq))
	h.Write(b[:])
	for _, f := range []string{at, actor, action, subject, detail, prev} {
		binary.BigEndian.PutUint64(b[:], uint64(len(f)))
		h.Write(b[:])
		io.WriteString(h, f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// audit appends one entry inside the write transaction.
func (w *wtx) audit(action, subject, detail string) error {
	if !w.auditLoaded {
		seq, head, err := lastAudit(w.tx.QueryRowContext(bg, lastAuditQuery))
		if err != nil {
			return fmt.Errorf("queue: appending to the audit log: %w", err)
		}
		w.auditSeq, w.auditHead, w.auditLoaded = seq, head, true
	}
	seq := w.auditSeq + 1
	at := w.now.Format(time.RFC3339Nano)
	h := auditHash(seq, at, w.actor, action, subject, detail, w.auditHead)
	if _, err := w.exec(`INSERT INTO audit (seq, at, actor, action, subject, detail, prev, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, seq, at, w.actor, action, subject, detail, w.auditHead, h); err != nil {
		return fmt.Errorf("queue: appending to the audit log: %w", err)
	}
	w.auditSeq, w.auditHead, w.audited = seq, h, true
	return nil
}

const lastAuditQuery = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"

func lastAudit(row *sql.Row) (int64, string, error) {
	var seq int64
	var h string
	if err := row.Scan(&seq, &h); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, genesisHash, nil
		}
		return 0, "", err
	}
	return seq, h, nil
}

// anchor is the head anchor: the last entry's seq and hash.
type anchor struct {
	seq  int64
	hash string
}

const anchorMagic = "cccd-station audit head v1"

func readAnchor(path string) (a anchor, exists bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return anchor{}, false, nil
	}
	if err != nil {
		return anchor{}, true, err
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) != 2 || lines[0] != anchorMagic {
		return anchor{}, true, fmt.Errorf("head anchor %s is not in the expected format", path)
	}
	seqText, h, ok := strings.Cut(lines[1], " ")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq < 0 || len(h) != 64 || (seq == 0 && h != genesisHash) {
		return anchor{}, true, fmt.Errorf("head anchor %s is not in the expected format", path)
	}
	return anchor{seq: seq, hash: h}, true, nil
}

// writeAnchor replaces the anchor atomically: a reader sees the old or the
// new file, never a torn one (the content is fsynced before the rename,
// the directory after it). A crash between a commit and its anchor leaves
// an anchor behind the log but consistent with it, which VerifyAudit
// accepts and Open brings up to date.
func writeAnchor(path string, a anchor) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s\n%d %s\n", anchorMagic, a.seq, a.hash)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	return err
}

// anchorAfterCommit rewrites the anchor after a commit that appended to the
// log (under wmu, so in commit order). A failure does not undo the commit,
// which is durable and already true: it is logged and retried after the
// next write; meanwhile VerifyAudit sees an anchor behind the log, which it
// accepts as long as the anchored entry is intact.
func (s *Store) anchorAfterCommit(w *wtx) {
	a := anchor{seq: w.auditSeq, hash: w.auditHead}
	if !w.audited {
		seq, h, err := lastAudit(s.w.QueryRowContext(bg, lastAuditQuery))
		if err != nil || seq == 0 {
			return
		}
		a = anchor{seq: seq, hash: h}
	}
	if err := writeAnchor(s.headPath, a); err != nil {
		s.anchorStale = true
		s.log.Warn("queue: could not write the audit head anchor; will retry", "path", s.headPath, "seq", a.seq, "err", err)
		return
	}
	s.anchorStale = false
}

// reconcileAnchor compares the anchor with the log when the store opens. An
// anchor behind the log (a crash between a commit and the anchor write) is
// brought up to date. An anchor ahead of the log or naming another hash is
// evidence (entries removed from the end, or the file replaced): it is
// recorded in the log itself (ActionAnchorMismatch, reported by VerifyAudit
// from then on) before the log is anchored anew, so the station still
// starts but the evidence stays.
func (s *Store) reconcileAnchor() error {
	a, exists, rerr := readAnchor(s.headPath)
	lastSeq, lastHash, err := lastAudit(s.w.QueryRowContext(bg, lastAuditQuery))
	if err != nil {
		return fmt.Errorf("queue: reading the audit log: %w", err)
	}
	var action, detail string
	switch {
	case rerr != nil:
		action = ActionAnchorMismatch
		detail = fmt.Sprintf("the head anchor could not be read (%v); the log ended at seq %d", rerr, lastSeq)
	case !exists && lastSeq == 0:
		// A new log: anchor it at seq 0 now, so that a verifier never sees
		// entries without an anchor file (it reads the anchor first).
		if err := writeAnchor(s.headPath, anchor{seq: 0, hash: genesisHash}); err != nil {
			return fmt.Errorf("queue: writing the audit head anchor %s: %w", s.headPath, err)
		}
		return nil
	case !exists:
		action = ActionAnchorMissing
		detail = fmt.Sprintf("the head anchor file was missing; the log ended at seq %d; anchored anew", lastSeq)
	case a.seq > lastSeq:
		action = ActionAnchorMismatch
		detail = fmt.Sprintf("the head anchor recorded seq %d (hash %s) but the log ended at seq %d: entries removed from the end", a.seq, a.hash, lastSeq)
	case a.seq == lastSeq && a.hash == lastHash:
		return nil
	default:
		h := genesisHash // an anchor at seq 0 (a new log) is behind any log
		if a.seq > 0 {
			err := s.w.QueryRowContext(bg, "SELECT hash FROM audit WHERE seq = ?", a.seq).Scan(&h)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("queue: reading the audit log: %w", err)
			}
		}
		if h != a.hash {
			action = ActionAnchorMismatch
			detail = fmt.Sprintf("the head anchor recorded seq %d with hash %s but the log holds %q there", a.seq, a.hash, h)
			break
		}
		// Behind but consistent: a crash after a commit, before its anchor.
		if err := writeAnchor(s.headPath, anchor{seq: lastSeq, hash: lastHash}); err != nil {
			return fmt.Errorf("queue: writing the audit head anchor %s: %w", s.headPath, err)
		}
		return nil
	}
	s.log.Warn("queue: audit head anchor does not match the log; recorded in the audit log", "action", action, "detail", detail)
	return s.write(context.Background(), "reconcileAnchor", func(w *wtx) error { return w.audit(action, "audit", detail) })
}

// Audit records an operator action or other event worth keeping (actor from
// ctx). detail must not hold personal data.
func (s *Store) Audit(ctx context.Context, action, subject, detail string) error {
	if action == "" {
		return fmt.Errorf("%w: audit entry without an action", ErrInvalid)
	}
	return s.write(ctx, "Audit", func(w *wtx) error { return w.audit(action, subject, detail) })
}

// AuditLog lists entries after f.After in seq order, filtered by actor,
// action and subject (exact), at most f.Limit (default 100, at most 1000).
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := "SELECT seq, at, actor, action, subject, detail, prev, hash FROM audit WHERE seq > ?"
	args := []any{f.After}
	for _, c := range []struct{ col, v string }{{"actor", f.Actor}, {"action", f.Action}, {"subject", f.Subject}} {
		if c.v != "" {
			q += " AND " + c.col + " = ?"
			args = append(args, c.v)
		}
	}
	q += " ORDER BY seq LIMIT ?"
	args = append(args, clampLimit(f.Limit, 100, 1000))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("queue: reading the audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &e.Detail, &e.Prev, &e.Hash); err != nil {
			return nil, fmt.Errorf("queue: reading the audit log: %w", err)
		}
		e.At, _ = time.Parse(time.RFC3339Nano, at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: reading the audit log: %w", err)
	}
	return out, nil
}

// VerifyAudit walks the whole chain and compares its end with the head
// anchor. Every problem names the seq it concerns.
func (s *Store) VerifyAudit(ctx context.Context) (AuditReport, error) {
	return verifyAudit(ctx, s.r, s.headPath)
}

// VerifyAuditFile verifies the audit log of the database at dbPath opened
// read-only (mode=ro): it works while the daemon runs, since a WAL reader
// does not block the writer. No key is needed: nothing encrypted is read.
func VerifyAuditFile(dbPath string) (AuditReport, error) {
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return AuditReport{}, fmt.Errorf("queue: verifying the audit log of %s: %w", dbPath, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return AuditReport{}, fmt.Errorf("queue: verifying the audit log: %w", err)
	}
	db, err := sql.Open(driverName, readerDSN(abs))
	if err != nil {
		return AuditReport{}, fmt.Errorf("queue: verifying the audit log of %s: %w", abs, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return verifyAudit(context.Background(), db, abs+".audit-head")
}

func verifyAudit(ctx context.Context, db *sql.DB, headPath string) (AuditReport, error) {
	var rep AuditReport
	problem := func(format string, a ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, a...)) }

	// The anchor first, then the log: the anchor is written after its
	// commit, so the log read afterwards is at least as long, even while
	// the daemon writes.
	a, anchored, aerr := readAnchor(headPath)

	rows, err := db.QueryContext(ctx, "SELECT seq, at, actor, action, subject, detail, prev, hash FROM audit ORDER BY seq")
	if err != nil {
		return rep, fmt.Errorf("queue: reading the audit log: %w", err)
	}
	defer rows.Close()
	want, prev := int64(1), genesisHash
	anchorSeen := false
	for rows.Next() {
		var e AuditEntry
		var at string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &e.Detail, &e.Prev, &e.Hash); err != nil {
			return rep, fmt.Errorf("queue: reading the audit log: %w", err)
		}
		rep.Entries++
		if e.Seq != want {
			if e.Seq-1 == want {
				problem("seq %d: missing (entry removed)", want)
			} else {
				problem("seq %d–%d: missing (entries removed)", want, e.Seq-1)
			}
		}
		if e.Prev != prev {
			problem("seq %d: prev does not match the hash of the entry before it (an entry before it was changed, removed or reordered)", e.Seq)
		}
		if _, err := time.Parse(time.RFC3339Nano, at); err != nil {
			problem("seq %d: time %q is not RFC 3339", e.Seq, at)
		}
		if auditHash(e.Seq, at, e.Actor, e.Action, e.Subject, e.Detail, e.Prev) != e.Hash {
			problem("seq %d: hash does not match the entry's content (entry changed)", e.Seq)
		}
		if e.Action == ActionAnchorMismatch {
			problem("seq %d: recorded when the store opened: %s", e.Seq, e.Detail)
		}
		if anchored && aerr == nil && e.Seq == a.seq {
			anchorSeen = true
			if e.Hash != a.hash {
				problem("seq %d: hash %s differs from the head anchor's %s (entry changed or replaced)", e.Seq, e.Hash, a.hash)
			}
		}
		prev, want = e.Hash, e.Seq+1
		rep.Head = e.Hash
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("queue: reading the audit log: %w", err)
	}
	last := want - 1
	switch {
	case aerr != nil:
		problem("head anchor: %v", aerr)
	case !anchored && rep.Entries > 0:
		problem("head anchor %s is missing: entries removed from the end cannot be ruled out (the log ends at seq %d)", headPath, last)
	case anchored && a.seq > last:
		if a.seq == last+1 {
			problem("seq %d: missing at the end (the head anchor records seq %d): entry removed", a.seq, a.seq)
		} else {
			problem("seq %d–%d: missing at the end (the head anchor records seq %d): entries removed", last+1, a.seq, a.seq)
		}
	case anchored && a.seq > 0 && !anchorSeen:
		problem("seq %d: the entry the head anchor records is missing", a.seq)
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// clampLimit applies a default and a maximum to a page size.
func clampLimit(n, def, most int) int {
	if n <= 0 {
		return def
	}
	return min(n, most)
}
