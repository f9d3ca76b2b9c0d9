package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// webhook is central's side: it fails the first `failFirst` POSTs with 503,
// then records what it accepts.
type webhook struct {
	mu        sync.Mutex
	failFirst int
	posts     int
	got       []int64
	badAuth   int
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.posts++
	if r.Header.Get("Authorization") != "Bearer T0KEN" {
		h.badAuth++
	}
	if h.posts <= h.failFirst {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var body struct {
		Events []Event `json:"events"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, e := range body.Events {
		h.got = append(h.got, e.Seq)
	}
}

func (h *webhook) received() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int64(nil), h.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// runPusher starts a pusher; the returned stop waits for it to return.
func runPusher(s *Store, url string, sleeps *[]time.Duration, mu *sync.Mutex) (stop func()) {
	c, cancel := context.WithCancel(ctx)
	p := &Pusher{Store: s, URL: url, Token: "T0KEN", Batch: 7, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
		sleep: func(ctx context.Context, d time.Duration) {
			mu.Lock()
			*sleeps = append(*sleeps, d)
			mu.Unlock()
			time.Sleep(time.Millisecond) // count, do not wait
		}}
	done := make(chan struct{})
	go func() { p.Run(c); close(done) }()
	return func() { cancel(); <-done }
}

func TestPusherDeliversEveryEventInOrderThroughAnOutage(t *testing.T) {
	s := openTest(t, Options{})
	hook := &webhook{failFirst: 6}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	var sleeps []time.Duration
	var mu sync.Mutex

	for i := 0; i < 20; i++ {
		submit(t, s, fmt.Sprintf("A%02d", i))
	}
	stop := runPusher(s, srv.URL, &sleeps, &mu)
	waitFor(t, "20 events delivered", func() bool { return len(hook.received()) >= 20 })
	// More events while it runs: it wakes on Changed.
	for i := 20; i < 30; i++ {
		submit(t, s, fmt.Sprintf("A%02d", i))
	}
	waitFor(t, "30 events delivered", func() bool { return len(hook.received()) >= 30 })
	stop()

	got := hook.received()
	for i, seq := range got {
		if seq != int64(i+1) {
			t.Fatalf("delivered %v: want 1..30 exactly once, in order", got)
		}
	}
	if len(got) != 30 {
		t.Fatalf("delivered %d events, want 30", len(got))
	}
	if hook.badAuth != 0 {
		t.Errorf("%d posts without the bearer token", hook.badAuth)
	}
	// Backoff: one wait per failure, doubling from MinBackoff, capped.
	mu.Lock()
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	if len(sleeps) != len(want) {
		t.Fatalf("waits %v, want %d (one per failure)", sleeps, len(want))
	}
	for i, w := range want {
		if sleeps[i] != w*time.Millisecond {
			t.Fatalf("waits %v, want %v ms", sleeps, want)
		}
	}
	mu.Unlock()
	if c, _ := s.OutboxCursor(ctx); c != 30 {
		t.Fatalf("outbox cursor %d, want 30", c)
	}

	// A restarted pusher resumes at the durable cursor: nothing twice.
	for i := 30; i < 35; i++ {
		submit(t, s, fmt.Sprintf("A%02d", i))
	}
	stop = runPusher(s, srv.URL, &sleeps, &mu)
	waitFor(t, "35 events delivered", func() bool { return len(hook.received()) >= 35 })
	stop()
	got = hook.received()
	if len(got) != 35 || got[30] != 31 || got[34] != 35 {
		t.Fatalf("after restart delivered %v", got[30:])
	}
}

func TestPusherCursorSurvivesReopening(t *testing.T) {
	path := t.TempDir() + "/station.db"
	s, err := Open(path, testKey(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	submit(t, s, "A", "B", "C")
	if err := s.setOutboxCursor(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.setOutboxCursor(ctx, 1); err != nil { // never backwards
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, testKey(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, _ := s.OutboxCursor(ctx); c != 2 {
		t.Fatalf("cursor %d after reopening, want 2", c)
	}
}
