package queue

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var ctx = context.Background()

// testKey is a fixed key for tests.
func testKey() Key {
	var k Key
	for i := range k {
		k[i] = byte(0xA0 + i)
	}
	return k
}

// clock is a settable time source (Options.Now).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Microsecond) // strictly increasing, like a real clock
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openTest opens a store in a fresh directory, closed at the end of the
// test.
func openTest(t testing.TB, o Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "station.db"), testKey(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// marker is the distinctive plaintext put in every test application's Raw:
// it must never appear in the database files.
func marker(id string) string { return "PLAINTEXT-MARKER-NGUYEN-VAN-AN-" + id }

// rawApp is an application document of about size bytes holding marker(id)
// and random (incompressible, like a JPEG) base64 "face".
func rawApp(id string, size int) []byte {
	face := make([]byte, max(size*3/4, 16))
	rand.Read(face)
	return fmt.Appendf(nil, `{"application_id":%q,"full_name":%q,"face_image":%q}`, id, marker(id), base64.StdEncoding.EncodeToString(face))
}

func subOf(id string, raw []byte) Submission {
	return Submission{ApplicationID: id, BatchID: "B-1", ContentHash: sha256.Sum256(raw), Raw: raw}
}

func submit(t testing.TB, s *Store, ids ...string) {
	t.Helper()
	subs := make([]Submission, len(ids))
	for i, id := range ids {
		subs[i] = subOf(id, rawApp(id, 256))
	}
	res, err := s.Submit(ctx, subs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil || !r.Created || r.State != StateValidated {
			t.Fatalf("submit %s: %+v", r.ApplicationID, r)
		}
	}
}

func image(id string) []byte { return []byte("CHIP-IMAGE-MARKER-" + id + "-AA-PRIVATE-KEY") }

func prepare(t testing.TB, s *Store, id string) {
	t.Helper()
	if err := s.SetPrepared(ctx, id, image(id)); err != nil {
		t.Fatalf("SetPrepared %s: %v", id, err)
	}
}

func stateOf(t testing.TB, s *Store, id string) State {
	t.Helper()
	st, err := s.Status(ctx, id)
	if err != nil {
		t.Fatalf("Status %s: %v", id, err)
	}
	return st.State
}

func mustState(t testing.TB, s *Store, id string, want State) {
	t.Helper()
	if got := stateOf(t, s, id); got != want {
		t.Fatalf("%s is %s, want %s", id, got, want)
	}
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// allEvents reads the whole feed and checks it is gap-free: seq 1..n.
func allEvents(t testing.TB, s *Store) []Event {
	t.Helper()
	var out []Event
	var cursor int64
	for {
		evs, err := s.Events(ctx, cursor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Seq != cursor+1 {
				t.Fatalf("event feed: seq %d after %d (gap or disorder)", e.Seq, cursor)
			}
			cursor = e.Seq
			out = append(out, e)
		}
	}
	last, err := s.LastEvent(ctx)
	if err != nil || last != cursor {
		t.Fatalf("LastEvent %d (%v), feed ends at %d", last, err, cursor)
	}
	return out
}

func mustVerifyAudit(t testing.TB, s *Store) AuditReport {
	t.Helper()
	rep, err := s.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("audit chain broken: %q", rep.Problems)
	}
	return rep
}
