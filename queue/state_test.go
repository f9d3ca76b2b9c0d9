package queue

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
)

var serialN atomic.Int64

func newSerial() string { return fmt.Sprintf("SN%08d", serialN.Add(1)) }

// reach brings a new application id to state st the way the station does,
// returning its claim when it has one in flight. writing: in personalizing,
// also mark the card writing.
func reach(t *testing.T, s *Store, id string, st State, writing bool) *Claim {
	t.Helper()
	if st == StateRejected {
		res, err := s.Submit(ctx, []Submission{{ApplicationID: id, ContentHash: [32]byte{1}, Raw: []byte("{}"),
			Problems: []Problem{{Field: "personal_id", Rule: "province code"}}}})
		if err != nil || res[0].State != StateRejected {
			t.Fatalf("reject %s: %+v %v", id, res, err)
		}
		return nil
	}
	submit(t, s, id)
	var c *Claim
	step := func(to State) {
		var err error
		switch to {
		case StatePrepared:
			err = s.SetPrepared(ctx, id, image(id))
		case StatePersonalizing:
			c, err = s.Claim(ctx, "reader-"+id, newSerial())
			if err == nil && c.ApplicationID != id {
				t.Fatalf("claimed %s, want %s", c.ApplicationID, id)
			}
		case StateVerifying:
			if err = s.MarkWriting(ctx, c); err == nil {
				err = s.MarkVerifying(ctx, c)
			}
		case StateIssued:
			err = s.MarkIssued(ctx, c, Issue{SODHash: []byte{0xAB, 0xCD}, DSCert: "CN=DS test", APDUs: 40})
		case StateCancelled:
			_, err = s.Cancel(ctx, id)
		case StateAcknowledged:
			var last int64
			if last, err = s.LastEvent(ctx); err == nil {
				_, err = s.Ack(ctx, last)
			}
		case StatePurged:
			_, err = s.Purge(ctx)
		}
		if err != nil {
			t.Fatalf("bringing %s to %s: %v", id, to, err)
		}
	}
	var path []State
	switch st {
	case StateValidated:
	case StatePrepared, StatePersonalizing, StateVerifying, StateIssued:
		for _, p := range []State{StatePrepared, StatePersonalizing, StateVerifying, StateIssued} {
			path = append(path, p)
			if p == st {
				break
			}
		}
	case StateCancelled:
		path = []State{StateCancelled}
	case StateAcknowledged, StatePurged:
		path = []State{StatePrepared, StatePersonalizing, StateVerifying, StateIssued, StateAcknowledged}
		if st == StatePurged {
			path = append(path, StatePurged)
		}
	case StateNeedsAttention:
		for {
			step(StatePrepared)
			step(StatePersonalizing)
			ns, err := s.MarkSpoiled(ctx, c, "test: spoiled")
			if err != nil {
				t.Fatal(err)
			}
			if ns == StateNeedsAttention {
				return nil
			}
		}
	default:
		t.Fatalf("reach: %s not handled", st)
	}
	for _, p := range path {
		step(p)
	}
	if st == StatePersonalizing && writing {
		if err := s.MarkWriting(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	mustState(t, s, id, st)
	return c
}

// TestStateMachineAllowsExactlyTheDocumentedTransitions drives an
// application to each state and tries every operation on it: the allowed
// ones reach the documented state, the others are refused with the
// documented error and change nothing.
func TestStateMachineAllowsExactlyTheDocumentedTransitions(t *testing.T) {
	type op func(s *Store, id string, c *Claim) error
	cancel := func(s *Store, id string, _ *Claim) error { _, err := s.Cancel(ctx, id); return err }
	retry := func(s *Store, id string, _ *Claim) error { _, err := s.Retry(ctx, id); return err }
	setPrepared := func(s *Store, id string, _ *Claim) error { return s.SetPrepared(ctx, id, image(id)) }
	rejectPrepared := func(s *Store, id string, _ *Claim) error {
		return s.RejectPrepared(ctx, id, []Problem{{Field: "face_image", Rule: "does not fit the budget"}})
	}
	claim := func(s *Store, id string, _ *Claim) error {
		c, err := s.Claim(ctx, "other-reader", newSerial())
		if err == nil && c.ApplicationID != id {
			return fmt.Errorf("claimed %s", c.ApplicationID)
		}
		return err
	}
	writing := func(s *Store, _ string, c *Claim) error { return s.MarkWriting(ctx, c) }
	verifying := func(s *Store, _ string, c *Claim) error { return s.MarkVerifying(ctx, c) }
	issued := func(s *Store, _ string, c *Claim) error {
		return s.MarkIssued(ctx, c, Issue{SODHash: []byte{1}})
	}
	spoiled := func(s *Store, _ string, c *Claim) error { _, err := s.MarkSpoiled(ctx, c, "test"); return err }
	release := func(s *Store, _ string, c *Claim) error { return s.Release(ctx, c, "card removed before writing") }
	ack := func(s *Store, _ string, _ *Claim) error {
		last, _ := s.LastEvent(ctx)
		n, err := s.Ack(ctx, last)
		if err == nil && n == 0 {
			return ErrTooLate // nothing final to acknowledge
		}
		return err
	}

	tests := []struct {
		name    string
		from    State
		writing bool // personalizing with the card already writing
		op      op
		err     error
		want    State
	}{
		{"validated is cancelled", StateValidated, false, cancel, nil, StateCancelled},
		{"prepared is cancelled", StatePrepared, false, cancel, nil, StateCancelled},
		{"needs_attention is cancelled", StateNeedsAttention, false, cancel, nil, StateCancelled},
		{"cancel again is a no-op", StateCancelled, false, cancel, nil, StateCancelled},
		{"cancel after claim is too late", StatePersonalizing, false, cancel, ErrTooLate, StatePersonalizing},
		{"cancel while writing is too late", StatePersonalizing, true, cancel, ErrTooLate, StatePersonalizing},
		{"cancel while verifying is too late", StateVerifying, false, cancel, ErrTooLate, StateVerifying},
		{"cancel after issue is too late", StateIssued, false, cancel, ErrTooLate, StateIssued},
		{"cancel of rejected is too late", StateRejected, false, cancel, ErrTooLate, StateRejected},
		{"cancel after ack is too late", StateAcknowledged, false, cancel, ErrTooLate, StateAcknowledged},
		{"cancel after purge is too late", StatePurged, false, cancel, ErrTooLate, StatePurged},

		{"retry of needs_attention validates", StateNeedsAttention, false, retry, nil, StateValidated},
		{"retry of validated is refused", StateValidated, false, retry, ErrTooLate, StateValidated},
		{"retry of issued is refused", StateIssued, false, retry, ErrTooLate, StateIssued},

		{"validated is prepared", StateValidated, false, setPrepared, nil, StatePrepared},
		{"prepared twice is refused", StatePrepared, false, setPrepared, ErrTooLate, StatePrepared},
		{"cancelled is not prepared", StateCancelled, false, setPrepared, ErrTooLate, StateCancelled},
		{"validated is rejected by preparation", StateValidated, false, rejectPrepared, nil, StateRejected},
		{"prepared is not rejected", StatePrepared, false, rejectPrepared, ErrTooLate, StatePrepared},

		{"prepared is claimed", StatePrepared, false, claim, nil, StatePersonalizing},
		{"validated is not claimable", StateValidated, false, claim, ErrNoWork, StateValidated},
		{"cancelled is not claimable", StateCancelled, false, claim, ErrNoWork, StateCancelled},

		{"claimed card starts writing", StatePersonalizing, false, writing, nil, StatePersonalizing},
		{"writing twice is refused", StatePersonalizing, true, writing, ErrTooLate, StatePersonalizing},
		{"verifying without writing is refused", StatePersonalizing, false, verifying, ErrTooLate, StatePersonalizing},
		{"written card is locked and verified", StatePersonalizing, true, verifying, nil, StateVerifying},
		{"verifying twice is refused", StateVerifying, false, verifying, ErrTooLate, StateVerifying},
		{"verifying is issued", StateVerifying, false, issued, nil, StateIssued},
		{"issued twice is refused", StateIssued, false, issued, ErrTooLate, StateIssued},
		{"personalizing is not issued", StatePersonalizing, true, issued, ErrTooLate, StatePersonalizing},

		{"spoiled while claimed goes back", StatePersonalizing, false, spoiled, nil, StateValidated},
		{"spoiled while writing goes back", StatePersonalizing, true, spoiled, nil, StateValidated},
		{"spoiled while verifying goes back", StateVerifying, false, spoiled, nil, StateValidated},
		{"issued card is not spoiled", StateIssued, false, spoiled, ErrTooLate, StateIssued},
		{"blank card is released", StatePersonalizing, false, release, nil, StateValidated},
		{"checked-blank writing card is released", StatePersonalizing, true, release, nil, StateValidated},
		{"locked card is not released", StateVerifying, false, release, ErrTooLate, StateVerifying},

		{"issued is acknowledged", StateIssued, false, ack, nil, StateAcknowledged},
		{"rejected is acknowledged", StateRejected, false, ack, nil, StateAcknowledged},
		{"cancelled is acknowledged", StateCancelled, false, ack, nil, StateAcknowledged},
		{"needs_attention is not acknowledged", StateNeedsAttention, false, ack, ErrTooLate, StateNeedsAttention},
		{"prepared is not acknowledged", StatePrepared, false, ack, ErrTooLate, StatePrepared},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, Options{})
			c := reach(t, s, "APP-1", tc.from, tc.writing)
			events, _ := s.LastEvent(ctx)
			err := tc.op(s, "APP-1", c)
			wantErr(t, tc.name, err, tc.err)
			mustState(t, s, "APP-1", tc.want)
			if tc.err != nil {
				if after, _ := s.LastEvent(ctx); after != events {
					t.Errorf("a refused operation appended events %d..%d", events+1, after)
				}
			}
			allEvents(t, s)
			mustVerifyAudit(t, s)
		})
	}
}

func TestUnknownApplicationIsNotFound(t *testing.T) {
	s := openTest(t, Options{})
	_, err := s.Cancel(ctx, "NOPE")
	wantErr(t, "Cancel", err, ErrNotFound)
	_, err = s.Retry(ctx, "NOPE")
	wantErr(t, "Retry", err, ErrNotFound)
	wantErr(t, "SetPrepared", s.SetPrepared(ctx, "NOPE", []byte{1}), ErrNotFound)
	_, err = s.Status(ctx, "NOPE")
	wantErr(t, "Status", err, ErrNotFound)
	_, err = s.Claim(ctx, "r", "S1")
	wantErr(t, "Claim", err, ErrNoWork)
}

func TestClaimDeletesTheImageInTheSameTransactionAndReturnsIt(t *testing.T) {
	s := openTest(t, Options{})
	reach(t, s, "APP-1", StatePrepared, false)
	c, err := s.Claim(ctx, "r1", "SERIAL-1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Image, image("APP-1")) {
		t.Fatalf("claim image %x, want %x", c.Image, image("APP-1"))
	}
	if c.Attempt != 1 || c.State != StatePersonalizing {
		t.Fatalf("claim %+v", c)
	}
	var n int
	if err := s.r.QueryRow("SELECT count(*) FROM application_image").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d chip images left after the claim (%v)", n, err)
	}
	st, _ := s.Status(ctx, "APP-1")
	if len(st.Cards) != 1 || st.Cards[0].Serial != "SERIAL-1" || st.Cards[0].State != CardClaimed || st.Cards[0].Reader != "r1" {
		t.Fatalf("cards %+v", st.Cards)
	}
}

func TestCancelDeletesThePreparedImage(t *testing.T) {
	s := openTest(t, Options{})
	reach(t, s, "APP-1", StatePrepared, false)
	if st, err := s.Cancel(ctx, "APP-1"); err != nil || st != StateCancelled {
		t.Fatal(st, err)
	}
	var n int
	if err := s.r.QueryRow("SELECT count(*) FROM application_image").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d chip images left after cancel (%v)", n, err)
	}
	if _, err := s.Claim(ctx, "r", "S"); !errors.Is(err, ErrNoWork) {
		t.Fatalf("claim after cancel: %v", err)
	}
}

func TestSetPreparedAfterCancelDropsTheImage(t *testing.T) {
	s := openTest(t, Options{})
	submit(t, s, "APP-1")
	jobs, err := s.ToPrepare(ctx, 10, nil)
	if err != nil || len(jobs) != 1 {
		t.Fatal(jobs, err)
	}
	if _, err := s.Cancel(ctx, "APP-1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "SetPrepared after cancel", s.SetPrepared(ctx, "APP-1", image("APP-1")), ErrTooLate)
	var n int
	s.r.QueryRow("SELECT count(*) FROM application_image").Scan(&n)
	if n != 0 {
		t.Fatalf("the image of a cancelled application was stored")
	}
}

func TestASecondVerifiedCardIsRefusedByThePartialUniqueIndex(t *testing.T) {
	s := openTest(t, Options{})
	reach(t, s, "APP-1", StateIssued, false)
	_, err := s.w.Exec(`INSERT INTO cards (serial, application_id, reader, state, attempt, claimed_at)
		VALUES ('OTHER', 'APP-1', 'r9', 'verified', 2, 0)`)
	if !isUnique(err) {
		t.Fatalf("a second verified card was accepted: %v", err)
	}
	_, err = s.w.Exec(`INSERT INTO cards (serial, application_id, reader, state, attempt, claimed_at)
		VALUES ('X1', 'APP-1', 'r9', 'writing', 2, 0), ('X2', 'APP-1', 'r8', 'locked', 2, 0)`)
	if !isUnique(err) {
		t.Fatalf("two cards in the works for one application were accepted: %v", err)
	}
}

func TestClaimRefusesAUsedSerialAndABusyReader(t *testing.T) {
	s := openTest(t, Options{})
	submit(t, s, "A", "B", "C")
	for _, id := range []string{"A", "B", "C"} {
		prepare(t, s, id)
	}
	c, err := s.Claim(ctx, "r1", "S1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Claim(ctx, "r1", "S2")
	wantErr(t, "second claim in one reader", err, ErrReaderBusy)
	_, err = s.Claim(ctx, "r2", "S1")
	wantErr(t, "claim of a card in use", err, ErrCardUsed)
	if err := s.MarkWriting(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkSpoiled(ctx, c, "write failed"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Claim(ctx, "r2", "S1")
	wantErr(t, "claim of a spoiled card", err, ErrCardUsed)

	// A released (blank) card may be claimed again.
	c2, err := s.Claim(ctx, "r2", "S3")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, c2, "reader reset"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "r3", "S3"); err != nil {
		t.Fatalf("a released blank card could not be claimed again: %v", err)
	}
	// A claim marked through another reader is refused.
	bad := *c2
	bad.Reader = "r-other"
	wantErr(t, "mark through another reader", s.MarkWriting(ctx, &bad), ErrInvalid)
}

func TestAttemptsSpoiledCardsUntilMaxAttemptsThenNeedsAttentionAndRetryResets(t *testing.T) {
	for _, max := range []int{1, 3} {
		t.Run(fmt.Sprint("MaxAttempts=", max), func(t *testing.T) {
			s := openTest(t, Options{MaxAttempts: max})
			submit(t, s, "APP-1")
			// A release in between does not count.
			prepare(t, s, "APP-1")
			c, _ := s.Claim(ctx, "r1", newSerial())
			if err := s.Release(ctx, c, "blank card pulled"); err != nil {
				t.Fatal(err)
			}
			for attempt := 1; attempt <= max; attempt++ {
				prepare(t, s, "APP-1")
				c, err := s.Claim(ctx, "r1", newSerial())
				if err != nil {
					t.Fatal(err)
				}
				if c.Attempt != attempt {
					t.Fatalf("attempt %d, want %d", c.Attempt, attempt)
				}
				s.MarkWriting(ctx, c)
				st, err := s.MarkSpoiled(ctx, c, "verify: active authentication failed")
				if err != nil {
					t.Fatal(err)
				}
				want := StateValidated
				if attempt == max {
					want = StateNeedsAttention
				}
				if st != want {
					t.Fatalf("after spoiled attempt %d: %s, want %s", attempt, st, want)
				}
				mustState(t, s, "APP-1", want)
			}
			status, _ := s.Status(ctx, "APP-1")
			if status.Attempts != max || len(status.Cards) != max+1 {
				t.Fatalf("status %+v", status)
			}
			spoiled, _ := s.Cards(ctx, CardFilter{State: CardSpoiled})
			if len(spoiled) != max {
				t.Fatalf("%d spoiled cards listed, want %d", len(spoiled), max)
			}
			if st, err := s.Retry(ctx, "APP-1"); err != nil || st != StateValidated {
				t.Fatal(st, err)
			}
			prepare(t, s, "APP-1")
			c, err := s.Claim(ctx, "r1", newSerial())
			if err != nil || c.Attempt != 1 {
				t.Fatalf("after retry: attempt %v, %v", c, err)
			}
			audit, _ := s.AuditLog(ctx, AuditFilter{Action: ActionCardSpoiled, Limit: 100})
			if len(audit) != max {
				t.Fatalf("%d card_spoiled audit entries, want %d", len(audit), max)
			}
		})
	}
}

func TestInFlightReturnsClaimsForRecovery(t *testing.T) {
	s := openTest(t, Options{})
	submit(t, s, "A", "B", "C")
	for _, id := range []string{"A", "B", "C"} {
		prepare(t, s, id)
	}
	ca, _ := s.Claim(ctx, "r1", "S-A")
	cb, _ := s.Claim(ctx, "r2", "S-B")
	s.MarkWriting(ctx, cb)
	s.MarkVerifying(ctx, cb)
	all, err := s.InFlight(ctx, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("InFlight: %d claims, %v", len(all), err)
	}
	if a := all[0]; a.ApplicationID != "A" || a.Reader != "r1" || a.Serial != "S-A" || a.WriteStarted || a.State != StatePersonalizing ||
		a.Image != nil || a.Attempt != 1 {
		t.Fatalf("in flight A: %+v", a)
	}
	if b := all[1]; b.ApplicationID != "B" || !b.WriteStarted || b.State != StateVerifying {
		t.Fatalf("in flight B: %+v", b)
	}
	r2, _ := s.InFlight(ctx, "r2")
	if len(r2) != 1 || r2[0].ApplicationID != "B" {
		t.Fatalf("InFlight(r2): %+v", r2)
	}
	// Recovery resolves them with the returned claims.
	if err := s.Release(ctx, all[0], "recovery: card blank"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkIssued(ctx, all[1], Issue{SODHash: []byte{9}}); err != nil {
		t.Fatal(err)
	}
	if left, _ := s.InFlight(ctx, ""); len(left) != 0 {
		t.Fatalf("still in flight: %+v", left)
	}
	_ = ca
}

func TestMarkDestroyedOnlyForSpoiledCardsAndAudited(t *testing.T) {
	s := openTest(t, Options{})
	reach(t, s, "A", StateIssued, false)
	submit(t, s, "B")
	prepare(t, s, "B")
	c, _ := s.Claim(ctx, "r", "S-B")
	s.MarkSpoiled(ctx, c, "card pulled during write")
	st, _ := s.Status(ctx, "A")
	wantErr(t, "destroy a verified card", s.MarkDestroyed(ctx, st.Cards[0].Serial, "op1"), ErrNotSpoiled)
	wantErr(t, "destroy an unknown card", s.MarkDestroyed(ctx, "NOPE", "op1"), ErrNoCard)
	if err := s.MarkDestroyed(WithActor(ctx, "op1"), "S-B", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDestroyed(ctx, "S-B", "op2"); err != nil {
		t.Fatal(err)
	}
	cards, _ := s.Cards(ctx, CardFilter{State: CardSpoiled})
	if len(cards) != 1 || cards[0].Destroyed == nil || cards[0].DestroyedBy != "op1" || cards[0].Reason != "card pulled during write" {
		t.Fatalf("cards %+v", cards)
	}
	log, _ := s.AuditLog(ctx, AuditFilter{Action: ActionDestroyed})
	if len(log) != 1 || log[0].Actor != "op1" || log[0].Subject != "S-B" {
		t.Fatalf("audit %+v", log)
	}
}

func TestReopenKeepsEverythingAndMigrationIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/station.db"
	s, err := Open(path, testKey(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	submit(t, s, "A")
	s.Close()
	s, err = Open(path, testKey(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustState(t, s, "A", StateValidated)
	var v int
	s.r.QueryRow("PRAGMA user_version").Scan(&v)
	if v != len(migrations) {
		t.Fatalf("user_version %d", v)
	}
	for _, p := range []struct{ pragma, want string }{{"journal_mode", "wal"}, {"synchronous", "2"}, {"secure_delete", "1"}, {"foreign_keys", "1"}} {
		var got string
		s.w.QueryRow("PRAGMA " + p.pragma).Scan(&got)
		if got != p.want {
			t.Errorf("writer PRAGMA %s = %s, want %s", p.pragma, got, p.want)
		}
	}
	if _, err := s.r.Exec("DELETE FROM events"); err == nil {
		t.Error("the read pool could write")
	}
	mustVerifyAudit(t, s)
}
