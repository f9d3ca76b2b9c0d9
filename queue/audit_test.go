package queue

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// auditedDB makes a closed station database with a few dozen audit
// entries (states, cards, an operator action) and returns its path.
func auditedDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "station.db")
	s, err := Open(path, testKey(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	reach(t, s, "A", StateIssued, false)
	reach(t, s, "B", StateRejected, false)
	reach(t, s, "C", StateCancelled, false)
	if err := s.Audit(WithActor(ctx, "technician:lan"), "pause", "reader-1", "paused for cleaning"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// tamper changes the database behind the store's back, as an attacker with
// the file would: the append-only triggers first.
func tamper(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range append([]string{"DROP TRIGGER audit_append_only_update", "DROP TRIGGER audit_append_only_delete"}, stmts...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func lastAuditSeq(t *testing.T, path string) int64 {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow("SELECT max(seq) FROM audit").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAuditChainOfAnIntactDatabaseVerifies(t *testing.T) {
	path := auditedDB(t)
	rep, err := VerifyAuditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Entries < 10 || len(rep.Head) != 64 {
		t.Fatalf("report %+v", rep)
	}
	s, err := Open(path, testKey(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	again := mustVerifyAudit(t, s)
	if again.Head != rep.Head || again.Entries != rep.Entries {
		t.Fatalf("reopening changed the log: %+v vs %+v", again, rep)
	}
	log, _ := s.AuditLog(ctx, AuditFilter{Subject: "A", Action: ActionState})
	var details []string
	for _, e := range log {
		details = append(details, e.Detail)
	}
	want := "new → validated|validated → prepared|prepared → personalizing|personalizing → verifying|verifying → issued"
	if strings.Join(details, "|") != want {
		t.Fatalf("audit of A: %q\nwant %q", details, want)
	}
	op, _ := s.AuditLog(ctx, AuditFilter{Actor: "technician:lan"})
	if len(op) != 1 || op[0].Action != "pause" {
		t.Fatalf("operator action: %+v", op)
	}
}

func TestAuditDetectsTampering(t *testing.T) {
	tests := []struct {
		name  string
		do    func(t *testing.T, path string, last int64)
		wants []string // each problem text must mention
	}{
		{"changed detail", func(t *testing.T, path string, last int64) {
			tamper(t, path, "UPDATE audit SET detail = 'validated → cancelled' WHERE seq = 3")
		}, []string{"seq 3: hash does not match"}},
		{"changed detail with its hash recomputed", func(t *testing.T, path string, last int64) {
			db, _ := sql.Open("sqlite3", "file:"+path)
			var e AuditEntry
			var at string
			db.QueryRow("SELECT seq, at, actor, action, subject, detail, prev FROM audit WHERE seq = 4").
				Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &e.Detail, &e.Prev)
			db.Close()
			h := auditHash(e.Seq, at, e.Actor, e.Action, e.Subject, "forged", e.Prev)
			tamper(t, path, "UPDATE audit SET detail = 'forged', hash = '"+h+"' WHERE seq = 4")
		}, []string{"seq 5: prev does not match"}},
		{"removed middle entry", func(t *testing.T, path string, last int64) {
			tamper(t, path, "DELETE FROM audit WHERE seq = 5")
		}, []string{"seq 5: missing", "seq 6: prev does not match"}},
		{"removed last entry, head file kept", func(t *testing.T, path string, last int64) {
			tamper(t, path, "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")
		}, []string{"missing at the end"}},
		{"removed last three entries", func(t *testing.T, path string, last int64) {
			tamper(t, path, "DELETE FROM audit WHERE seq > (SELECT max(seq) - 3 FROM audit)")
		}, []string{"missing at the end"}},
		{"reordered entries", func(t *testing.T, path string, last int64) {
			tamper(t, path, "UPDATE audit SET seq = -1 WHERE seq = 6", "UPDATE audit SET seq = 6 WHERE seq = 7", "UPDATE audit SET seq = 7 WHERE seq = -1")
		}, []string{"seq 6: prev does not match", "seq 6: hash does not match", "seq 7: hash does not match"}},
		{"head anchor removed", func(t *testing.T, path string, last int64) {
			os.Remove(path + ".audit-head")
		}, []string{"head anchor", "missing"}},
		{"last entry replaced", func(t *testing.T, path string, last int64) {
			tamper(t, path, "UPDATE audit SET detail = 'x' WHERE seq = (SELECT max(seq) FROM audit)")
		}, []string{"hash does not match"}},
		{"last entry replaced with its hash recomputed", func(t *testing.T, path string, last int64) {
			db, _ := sql.Open("sqlite3", "file:"+path)
			var e AuditEntry
			var at string
			db.QueryRow("SELECT seq, at, actor, action, subject, detail, prev FROM audit WHERE seq = ?", last).
				Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &e.Detail, &e.Prev)
			db.Close()
			h := auditHash(e.Seq, at, e.Actor, e.Action, e.Subject, "forged", e.Prev)
			tamper(t, path, "UPDATE audit SET detail = 'forged', hash = '"+h+"' WHERE seq = (SELECT max(seq) FROM audit)")
		}, []string{"differs from the head anchor"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := auditedDB(t)
			tc.do(t, path, lastAuditSeq(t, path))
			rep, err := VerifyAuditFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			all := strings.Join(rep.Problems, "\n")
			for _, w := range tc.wants {
				if !strings.Contains(all, w) {
					t.Errorf("problems do not say %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestAuditTailRemovalStaysReportedAfterTheStoreReopens(t *testing.T) {
	path := auditedDB(t)
	tamper(t, path, "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")
	s, err := Open(path, testKey(), Options{})
	if err != nil {
		t.Fatal(err) // the station still starts...
	}
	defer s.Close()
	submit(t, s, "LATER") // ...and keeps appending (the anchor is rewritten)
	rep, err := s.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), "entries removed from the end") {
		t.Fatalf("the removal was forgotten after reopening: %+v", rep)
	}
	if ev, _ := s.AuditLog(ctx, AuditFilter{Action: ActionAnchorMismatch}); len(ev) != 1 {
		t.Fatalf("anchor mismatch entries: %+v", ev)
	}
}

func TestAuditAnchorBehindTheLogIsACrashNotTampering(t *testing.T) {
	path := auditedDB(t)
	// Simulate a crash after a commit, before its anchor: an older anchor.
	db, _ := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	var h string
	db.QueryRow("SELECT hash FROM audit WHERE seq = 5").Scan(&h)
	db.Close()
	if err := writeAnchor(path+".audit-head", anchor{seq: 5, hash: h}); err != nil {
		t.Fatal(err)
	}
	if rep, _ := VerifyAuditFile(path); !rep.OK {
		t.Fatalf("a consistent anchor behind the log was reported: %q", rep.Problems)
	}
	s, err := Open(path, testKey(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustVerifyAudit(t, s)
	a, _, _ := readAnchor(path + ".audit-head")
	if a.seq != lastAuditSeq(t, path) {
		t.Fatalf("anchor not brought up to date at open: seq %d", a.seq)
	}
}

func TestVerifyAuditFileWhileTheStoreWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "station.db")
	s, err := Open(path, testKey(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			id := "W" + string(rune('A'+i%26)) + strings.Repeat("x", i/26)
			s.Submit(ctx, []Submission{subOf(id, rawApp(id, 64))})
		}
	}()
	for {
		rep, err := VerifyAuditFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK {
			t.Fatalf("a live store's log reported broken: %q", rep.Problems)
		}
		select {
		case <-done:
			return
		default:
		}
	}
}

func TestStateChangeAuditEntriesCarryNoPersonalData(t *testing.T) {
	s := openTest(t, Options{})
	reach(t, s, "A", StateIssued, false)
	log, _ := s.AuditLog(ctx, AuditFilter{Limit: 1000})
	for _, e := range log {
		if strings.Contains(e.Detail, "MARKER") || strings.Contains(e.Subject, "MARKER") {
			t.Fatalf("personal data in the audit log: %+v", e)
		}
	}
}
