package queue

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestIntakeIsIdempotentByApplicationID(t *testing.T) {
	s := openTest(t, Options{})
	rawA, rawB := rawApp("A", 512), rawApp("B", 512)
	res, err := s.Submit(ctx, []Submission{subOf("A", rawA), subOf("B", rawB)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.Created || r.State != StateValidated || r.Err != nil {
			t.Fatalf("first submission: %+v", r)
		}
	}
	prepare(t, s, "A")
	events, _ := s.LastEvent(ctx)

	other := rawApp("B", 512) // same id, other content
	res, err = s.Submit(ctx, []Submission{
		subOf("A", rawA),  // repeat: the current state
		subOf("B", other), // conflict
		subOf("C", rawApp("C", 512)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Created || r.State != StatePrepared || r.Err != nil {
		t.Errorf("repeat of A: %+v, want Created=false State=prepared", r)
	}
	if r := res[1]; r.Created || !errors.Is(r.Err, ErrConflict) || r.State != StateValidated {
		t.Errorf("conflict on B: %+v, want ErrConflict", r)
	}
	if r := res[2]; !r.Created || r.State != StateValidated || r.Err != nil {
		t.Errorf("C beside a conflict: %+v, want created", r)
	}
	if after, _ := s.LastEvent(ctx); after != events+1 {
		t.Errorf("events %d → %d: want exactly one (C created)", events, after)
	}
	// B kept its first content.
	jobs, _ := s.ToPrepare(ctx, 10, nil)
	for _, j := range jobs {
		if j.ApplicationID == "B" && string(j.Raw) != string(rawB) {
			t.Error("a conflicting submission replaced B's content")
		}
	}
	allEvents(t, s)
	mustVerifyAudit(t, s)
}

func TestIntakeDuplicateInsideOneBatch(t *testing.T) {
	s := openTest(t, Options{})
	raw := rawApp("A", 100)
	res, err := s.Submit(ctx, []Submission{subOf("A", raw), subOf("A", raw), subOf("A", rawApp("A", 100))})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Created || res[1].Created || res[1].Err != nil || !errors.Is(res[2].Err, ErrConflict) {
		t.Fatalf("results %+v", res)
	}
	if evs := allEvents(t, s); len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
}

func TestIntakeOfABatchOf500InOneCall(t *testing.T) {
	s := openTest(t, Options{})
	subs := make([]Submission, 500)
	for i := range subs {
		id := fmt.Sprintf("APP-%04d", i)
		subs[i] = subOf(id, rawApp(id, 200))
	}
	res, err := s.Submit(ctx, subs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Created || r.State != StateValidated || r.ApplicationID != subs[i].ApplicationID {
			t.Fatalf("item %d: %+v", i, r)
		}
	}
	evs := allEvents(t, s)
	if len(evs) != 500 {
		t.Fatalf("%d events, want 500", len(evs))
	}
	for i, e := range evs {
		if e.ApplicationID != subs[i].ApplicationID || e.State != StateValidated {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	counts, _ := s.CountByState(ctx)
	if counts[StateValidated] != 500 || counts[StateIssued] != 0 {
		t.Fatalf("counts %v", counts)
	}
	// FIFO: preparation sees them in intake order, skipping ids in flight.
	jobs, err := s.ToPrepare(ctx, 3, []string{"APP-0001"})
	if err != nil || len(jobs) != 3 || jobs[0].ApplicationID != "APP-0000" || jobs[1].ApplicationID != "APP-0002" || jobs[2].ApplicationID != "APP-0003" {
		t.Fatalf("ToPrepare: %v %v", jobs, err)
	}
	page, total, err := s.Search(ctx, SearchFilter{IDPrefix: "APP-01", Limit: 10, Offset: 5})
	if err != nil || total != 100 || len(page) != 10 || page[0].ApplicationID != "APP-0105" {
		t.Fatalf("Search: total %d, %d items, first %v, %v", total, len(page), page, err)
	}
}

func TestRejectedApplicationKeepsTheReasonAndNoPersonalData(t *testing.T) {
	s := openTest(t, Options{})
	raw := rawApp("R", 300)
	sub := subOf("R", raw)
	sub.Problems = []Problem{{Field: "personal_id", Rule: "province code unknown"}, {Field: "expiry_date", Rule: "before issue_date"}}
	res, err := s.Submit(ctx, []Submission{sub})
	if err != nil {
		t.Fatal(err)
	}
	wantReason := "personal_id: province code unknown; expiry_date: before issue_date"
	if r := res[0]; !r.Created || r.State != StateRejected || r.Reason != wantReason {
		t.Fatalf("result %+v", r)
	}
	st, _ := s.Status(ctx, "R")
	if st.State != StateRejected || st.Reason != wantReason || len(st.Problems) != 2 || st.Problems[1].Field != "expiry_date" {
		t.Fatalf("status %+v", st)
	}
	evs := allEvents(t, s)
	if len(evs) != 1 || evs[0].State != StateRejected || evs[0].Reason != wantReason {
		t.Fatalf("events %+v", evs)
	}
	var n int
	s.r.QueryRow("SELECT count(*) FROM application_raw").Scan(&n)
	if n != 0 {
		t.Fatal("a rejected application's personal data was stored")
	}
	// The same rejected application again: a repeat, reported like any status.
	res, _ = s.Submit(ctx, []Submission{sub})
	if res[0].Created || res[0].State != StateRejected || res[0].Reason != wantReason {
		t.Fatalf("repeat %+v", res[0])
	}
}

func TestIntakeRefusesMalformedItemsAlone(t *testing.T) {
	s := openTest(t, Options{})
	res, err := s.Submit(ctx, []Submission{
		{ApplicationID: "", Raw: []byte("{}")},
		{ApplicationID: "bad id with spaces", Raw: []byte("{}")},
		{ApplicationID: strings.Repeat("x", 65), Raw: []byte("{}")},
		{ApplicationID: "EMPTY"},
		subOf("GOOD", rawApp("GOOD", 10)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if !errors.Is(res[i].Err, ErrInvalid) || res[i].Created {
			t.Errorf("item %d: %+v, want ErrInvalid", i, res[i])
		}
	}
	if !res[4].Created {
		t.Errorf("good item beside bad ones: %+v", res[4])
	}
}

func TestSameContentHashIsARepeatWhateverTheBytes(t *testing.T) {
	// The caller hashes canonical JSON: different bytes, same hash = same.
	s := openTest(t, Options{})
	h := sha256.Sum256([]byte("canonical"))
	s.Submit(ctx, []Submission{{ApplicationID: "A", ContentHash: h, Raw: []byte(`{"a":1, "b":2}`)}})
	res, _ := s.Submit(ctx, []Submission{{ApplicationID: "A", ContentHash: h, Raw: []byte(`{"b":2,"a":1}`)}})
	if res[0].Created || res[0].Err != nil {
		t.Fatalf("%+v", res[0])
	}
}

func TestEventsCursorBeyondTheLastIsRefused(t *testing.T) {
	s := openTest(t, Options{})
	if evs, err := s.Events(ctx, 0, 10); err != nil || len(evs) != 0 {
		t.Fatal(evs, err)
	}
	_, err := s.Events(ctx, 1, 10)
	wantErr(t, "Events beyond an empty feed", err, ErrBadCursor)
	submit(t, s, "A", "B")
	if evs, err := s.Events(ctx, 2, 10); err != nil || len(evs) != 0 {
		t.Fatalf("Events at the end: %v %v", evs, err)
	}
	_, err = s.Events(ctx, 3, 10)
	wantErr(t, "Events beyond the last", err, ErrBadCursor)
	_, err = s.Ack(ctx, 3)
	wantErr(t, "Ack beyond the last", err, ErrBadCursor)
	evs, _ := s.Events(ctx, 1, 10)
	if len(evs) != 1 || evs[0].Seq != 2 || evs[0].ApplicationID != "B" {
		t.Fatalf("Events after 1: %+v", evs)
	}
}

func TestChangedIsClosedAtTheNextCommit(t *testing.T) {
	s := openTest(t, Options{})
	ch := s.Changed()
	select {
	case <-ch:
		t.Fatal("closed before any change")
	default:
	}
	submit(t, s, "A")
	select {
	case <-ch:
	default:
		t.Fatal("not closed after a commit")
	}
	if s.Changed() == ch {
		t.Fatal("no new channel after the change")
	}
}
