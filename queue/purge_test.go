package queue

import (
	"bytes"
	"encoding/hex"
	"os"
	"testing"
	"time"
)

// storeFiles reads the database, its WAL and shared-memory index, and the
// audit anchor, as they are on disk now.
func storeFiles(t *testing.T, s *Store) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, suffix := range []string{"", "-wal", "-shm", ".audit-head"} {
		b, err := os.ReadFile(s.path + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		out["station.db"+suffix] = b
	}
	return out
}

// chunkHits counts the 32-byte chunks of secret (at 32-byte steps) found
// anywhere in data. A large value is split over overflow pages, so it is
// looked for piecewise; any chunk found is a copy of it.
func chunkHits(secret, data []byte) (hits int, first string) {
	const n = 32
	chunks := map[string]bool{}
	for i := 0; i+n <= len(secret); i += n {
		chunks[string(secret[i:i+n])] = true
	}
	seen := map[string]bool{}
	for i := 0; i+n <= len(data); i++ {
		if c := data[i : i+n]; chunks[string(c)] && !seen[string(c)] {
			seen[string(c)] = true
			if hits == 0 {
				first = hex.EncodeToString(c)
			}
			hits++
		}
	}
	return hits, first
}

func sealedOf(t *testing.T, s *Store, table, id string) []byte {
	t.Helper()
	var b []byte
	if err := s.r.QueryRow("SELECT sealed FROM "+table+" WHERE application_id = ?", id).Scan(&b); err != nil {
		t.Fatalf("%s of %s: %v", table, id, err)
	}
	return b
}

// TestPurgeAfterAckLeavesNoPersonalDataInTheFiles checks the bytes of the
// database and WAL files: the plaintext never appears (it is encrypted),
// and after ack + retention + purge not even the ciphertext of the purged
// application remains, while another application's does (so the scan
// would have seen it).
func TestPurgeAfterAckLeavesNoPersonalDataInTheFiles(t *testing.T) {
	clk := newClock()
	s := openTest(t, Options{Now: clk.Now, Retention: time.Hour})
	const size = 50 << 10 // a real application's size, pictures included
	rawA, rawB := rawApp("APP-A", size), rawApp("APP-B", size)
	if _, err := s.Submit(ctx, []Submission{subOf("APP-A", rawA), subOf("APP-B", rawB)}); err != nil {
		t.Fatal(err)
	}
	cipherA, cipherB := sealedOf(t, s, "application_raw", "APP-A"), sealedOf(t, s, "application_raw", "APP-B")
	prepare(t, s, "APP-A")
	imageA := sealedOf(t, s, "application_image", "APP-A")
	c, err := s.Claim(ctx, "r1", "CARD-A")
	if err != nil || c.ApplicationID != "APP-A" {
		t.Fatal(c, err)
	}
	s.MarkWriting(ctx, c)
	s.MarkVerifying(ctx, c)
	if err := s.MarkIssued(ctx, c, Issue{SODHash: []byte{0xAA}}); err != nil {
		t.Fatal(err)
	}

	plain := [][]byte{[]byte(marker("APP-A")), []byte(marker("APP-B")), []byte("CHIP-IMAGE-MARKER"), rawA[len(rawA)-200 : len(rawA)-100]}
	checkNoPlaintext := func(when string) {
		t.Helper()
		for name, data := range storeFiles(t, s) {
			for _, p := range plain {
				if i := bytes.Index(data, p); i >= 0 {
					t.Fatalf("%s: plaintext %q in %s at offset %d", when, p[:min(len(p), 40)], name, i)
				}
			}
		}
	}
	hits := func(secret []byte) (int, string) {
		total, where := 0, ""
		for name, data := range storeFiles(t, s) {
			if n, first := chunkHits(secret, data); n > 0 {
				total += n
				where += name + " (" + first + ") "
			}
		}
		return total, where
	}
	checkNoPlaintext("before purge")
	if n, _ := hits(cipherA); n == 0 {
		t.Fatal("control: the stored ciphertext of APP-A is not found in the files before purge: the scan is blind")
	}

	last, _ := s.LastEvent(ctx)
	if n, err := s.Ack(WithActor(ctx, "central"), last); err != nil || n != 1 {
		t.Fatalf("Ack: %d %v", n, err)
	}
	st, _ := s.Status(ctx, "APP-A")
	if st.State != StateAcknowledged || st.PurgeAfter == nil || !st.PurgeAfter.After(clk.Now().Add(59*time.Minute)) {
		t.Fatalf("after ack: %+v", st)
	}
	// Retention: not yet.
	if n, err := s.Purge(ctx); err != nil || n != 0 {
		t.Fatalf("Purge within retention: %d %v", n, err)
	}
	if n, _ := hits(cipherA); n == 0 {
		t.Fatal("purged within the retention")
	}
	clk.Advance(time.Hour + time.Minute)
	if n, err := s.Purge(ctx); err != nil || n != 1 {
		t.Fatalf("Purge: %d %v", n, err)
	}

	checkNoPlaintext("after purge")
	for name, secret := range map[string][]byte{"application": cipherA, "chip image": imageA} {
		if n, where := hits(secret); n > 0 {
			t.Errorf("after purge, %d chunks of APP-A's %s ciphertext remain in %s", n, name, where)
		}
	}
	if n, _ := hits(cipherB); n == 0 {
		t.Error("control: APP-B (not acknowledged) lost its ciphertext too")
	}
	if wal := storeFiles(t, s)["station.db-wal"]; len(wal) != 0 {
		t.Errorf("the WAL holds %d bytes after the TRUNCATE checkpoint", len(wal))
	}

	// What remains: ids, serials, states, times.
	st, err = s.Status(ctx, "APP-A")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StatePurged || len(st.Cards) != 1 || st.Cards[0].Serial != "CARD-A" || st.Cards[0].State != CardVerified ||
		st.Cards[0].SODHash != "aa" || st.Cards[0].FinishedAt == nil || st.ReceivedAt.IsZero() {
		t.Fatalf("status after purge: %+v", st)
	}
	var rows int
	s.r.QueryRow("SELECT count(*) FROM application_raw WHERE application_id = 'APP-A'").Scan(&rows)
	if rows != 0 {
		t.Fatal("APP-A's application row survived the purge")
	}
	// B is intact and still decrypts.
	jobs, err := s.ToPrepare(ctx, 10, nil)
	if err != nil || len(jobs) != 1 || !bytes.Equal(jobs[0].Raw, rawB) {
		t.Fatalf("APP-B after the purge: %v", err)
	}
	evs := allEvents(t, s)
	if e := evs[len(evs)-1]; e.ApplicationID != "APP-A" || e.State != StatePurged {
		t.Fatalf("last event %+v", e)
	}
	mustVerifyAudit(t, s)

	// Acknowledging again changes nothing; a new ack only takes new finals.
	last, _ = s.LastEvent(ctx)
	if n, _ := s.Ack(ctx, last); n != 0 {
		t.Fatalf("a second ack acknowledged %d", n)
	}
}

func TestAckTakesOnlyFinalStatesUpToTheCursor(t *testing.T) {
	s := openTest(t, Options{})
	reach(t, s, "A", StateIssued, false)
	cursor, _ := s.LastEvent(ctx)
	reach(t, s, "B", StateRejected, false) // after the cursor
	reach(t, s, "C", StatePrepared, false) // not final
	n, err := s.Ack(ctx, cursor)
	if err != nil || n != 1 {
		t.Fatalf("Ack: %d %v", n, err)
	}
	mustState(t, s, "A", StateAcknowledged)
	mustState(t, s, "B", StateRejected)
	mustState(t, s, "C", StatePrepared)
	// Retention 0: purged at the next purge.
	if n, err := s.Purge(ctx); err != nil || n != 1 {
		t.Fatalf("Purge: %d %v", n, err)
	}
	mustState(t, s, "A", StatePurged)

	// The final reason survives ack and purge.
	last, _ := s.LastEvent(ctx)
	s.Ack(ctx, last)
	s.Purge(ctx)
	st, _ := s.Status(ctx, "B")
	if st.State != StatePurged || st.Reason != "personal_id: province code" || len(st.Problems) != 1 {
		t.Fatalf("rejected then purged: %+v", st)
	}
}
