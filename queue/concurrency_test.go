package queue

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentReadersNeverDoubleClaimAndTheFeedStaysGapFree runs 8 reader
// workers claiming and finishing cards while intake submits, a preparer
// prepares, and a poller follows the event feed and others read statuses.
// It must hold: no application is ever claimed twice at once, the feed is
// gap-free and in commit order, every application ends in exactly one
// final state with at most one verified card, the audit chain verifies.
func TestConcurrentReadersNeverDoubleClaimAndTheFeedStaysGapFree(t *testing.T) {
	const apps, readers = 160, 8
	s := openTest(t, Options{MaxAttempts: 3})
	var wg sync.WaitGroup
	var finished atomic.Int64 // issued or needs_attention
	var failed atomic.Bool
	fail := func(format string, a ...any) {
		if failed.CompareAndSwap(false, true) {
			t.Errorf(format, a...)
		}
	}
	done := func() bool { return finished.Load() == apps || failed.Load() }

	// Intake: batches of 8.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < apps; i += 8 {
			var subs []Submission
			for j := i; j < i+8; j++ {
				id := fmt.Sprintf("C%04d", j)
				subs = append(subs, subOf(id, rawApp(id, 2000)))
			}
			if _, err := s.Submit(ctx, subs); err != nil {
				fail("submit: %v", err)
				return
			}
		}
	}()
	// Preparation.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done() {
			jobs, err := s.ToPrepare(ctx, 8, nil)
			if err != nil {
				fail("ToPrepare: %v", err)
				return
			}
			for _, j := range jobs {
				if err := s.SetPrepared(ctx, j.ApplicationID, image(j.ApplicationID)); err != nil && !errors.Is(err, ErrTooLate) {
					fail("SetPrepared: %v", err)
					return
				}
			}
			if len(jobs) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	// Readers.
	var holding sync.Map // application id → reader holding it
	var serials atomic.Int64
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reader := fmt.Sprintf("reader:%d", r)
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			wctx := WithActor(ctx, reader)
			for !done() {
				c, err := s.Claim(wctx, reader, fmt.Sprintf("S%06d", serials.Add(1)))
				if errors.Is(err, ErrNoWork) {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					fail("%s: Claim: %v", reader, err)
					return
				}
				if other, dup := holding.LoadOrStore(c.ApplicationID, reader); dup {
					fail("%s claimed %s while %s holds it", reader, c.ApplicationID, other)
					return
				}
				if string(c.Image) != string(image(c.ApplicationID)) {
					fail("%s got the image of another application", c.ApplicationID)
				}
				var st State
				switch p := rng.IntN(10); {
				case p < 7:
					err = s.MarkWriting(wctx, c)
					if err == nil {
						err = s.MarkVerifying(wctx, c)
					}
					if err == nil {
						err = s.MarkIssued(wctx, c, Issue{SODHash: []byte{byte(p)}})
					}
					st = StateIssued
				case p < 9:
					if err = s.MarkWriting(wctx, c); err == nil {
						// Let go just before the commit that makes it
						// claimable again.
						holding.Delete(c.ApplicationID)
						st, err = s.MarkSpoiled(wctx, c, "test: write failed")
					}
				default:
					holding.Delete(c.ApplicationID)
					err = s.Release(wctx, c, "test: card removed")
					st = StateValidated
				}
				holding.Delete(c.ApplicationID)
				if err != nil {
					fail("%s: finishing %s: %v", reader, c.ApplicationID, err)
					return
				}
				if st == StateIssued || st == StateNeedsAttention {
					finished.Add(1)
				}
			}
		}()
	}
	// The event feed, followed as central would, and status readers.
	var feed []Event
	wg.Add(1)
	go func() {
		defer wg.Done()
		var cursor int64
		for {
			stop := done()
			evs, err := s.Events(ctx, cursor, 50)
			if err != nil {
				fail("Events: %v", err)
				return
			}
			for _, e := range evs {
				if e.Seq != cursor+1 {
					fail("event feed: seq %d after %d", e.Seq, cursor)
					return
				}
				cursor = e.Seq
			}
			feed = append(feed, evs...)
			if stop && len(evs) == 0 {
				return
			}
			if len(evs) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !done(); i++ {
			if _, err := s.Status(ctx, fmt.Sprintf("C%04d", i%apps)); err != nil && !errors.Is(err, ErrNotFound) {
				fail("Status: %v", err)
			}
			if _, _, err := s.Search(ctx, SearchFilter{State: StatePrepared, Limit: 5}); err != nil {
				fail("Search: %v", err)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	if t.Failed() {
		return
	}

	// The feed as read live equals the feed as stored.
	stored := allEvents(t, s)
	if len(feed) != len(stored) {
		t.Fatalf("live feed read %d events, %d stored", len(feed), len(stored))
	}
	// Each application's events form a path of the state machine.
	next := map[State][]State{
		"":                  {StateValidated},
		StateValidated:      {StatePrepared},
		StatePrepared:       {StatePersonalizing},
		StatePersonalizing:  {StateVerifying, StateValidated, StateNeedsAttention},
		StateVerifying:      {StateIssued, StateValidated, StateNeedsAttention},
		StateIssued:         {},
		StateNeedsAttention: {},
	}
	cur := map[string]State{}
	for _, e := range stored {
		ok := false
		for _, n := range next[cur[e.ApplicationID]] {
			ok = ok || n == e.State
		}
		if !ok {
			t.Fatalf("event %d: %s %s → %s is not a transition", e.Seq, e.ApplicationID, cur[e.ApplicationID], e.State)
		}
		cur[e.ApplicationID] = e.State
	}
	counts, _ := s.CountByState(ctx)
	if len(cur) != apps || counts[StateIssued]+counts[StateNeedsAttention] != apps {
		t.Fatalf("%d applications seen, counts %v", len(cur), counts)
	}
	for id, st := range cur {
		status, _ := s.Status(ctx, id)
		if status.State != st {
			t.Fatalf("%s: status %s, last event %s", id, status.State, st)
		}
		verified := 0
		for _, c := range status.Cards {
			if c.State == CardVerified {
				verified++
			}
		}
		if (st == StateIssued) != (verified == 1) || verified > 1 {
			t.Fatalf("%s is %s with %d verified cards", id, st, verified)
		}
	}
	if left, _ := s.InFlight(ctx, ""); len(left) != 0 {
		t.Fatalf("%d claims left in flight", len(left))
	}
	mustVerifyAudit(t, s)
}
