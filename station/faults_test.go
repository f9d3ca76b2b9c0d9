package station

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/pki"
	"github.com/cccd-station/station/queue"
)

// noEjection fails if a card leaves a reader within d.
func (r *rig) noEjection(d time.Duration) {
	r.t.Helper()
	select {
	case e := <-r.ejected:
		r.t.Fatalf("card %s left the reader (%+v)", e.Serial, e)
	case <-time.After(d):
	}
}

// An expired Document Signer certificate burns no card: nothing is
// prepared, nothing claimed, the blank card stays in the reader, and the
// station says why.
func TestExpiredDSCertificateBurnsNoCard(t *testing.T) {
	now := time.Now()
	r := newRig(t, rigOptions{readers: []int{8}, pki: pki.Options{Now: now.AddDate(-2, 0, 0), DSUsage: 24 * time.Hour, DSValidity: 365 * 24 * time.Hour}})
	ids := r.submit(21, 0, 2)
	r.noEjection(1500 * time.Millisecond)
	for _, id := range ids {
		s, _ := r.store.Status(context.Background(), id)
		if s.State != queue.StateValidated || len(s.Cards) != 0 {
			t.Fatalf("work went on with an expired DS certificate: %+v", s)
		}
	}
	snap := r.st.Snapshot()
	if snap.Signer.OK || !snap.Signer.TokenOK || snap.Signer.Certificate == nil || snap.Signer.Certificate.Problem != lds.DSExpired {
		t.Errorf("snapshot signer %+v (certificate %+v)", snap.Signer, snap.Signer.Certificate)
	}
	if cards, _ := r.store.Cards(context.Background(), queue.CardFilter{}); len(cards) != 0 {
		t.Errorf("cards claimed: %+v", cards)
	}
}

// A certificate that ends before the next periodic check is caught by the
// check made before every claim: the card is not claimed.
func TestCertificateEndingBeforeTheCardIsVerifiedIsCaughtAtTheClaim(t *testing.T) {
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	r := newRig(t, rigOptions{readers: []int{9}, now: clock, signerEvery: time.Hour,
		pki: pki.Options{DSUsage: 48 * time.Hour, DSValidity: 30 * 24 * time.Hour}})
	r.st.Pause(r.readers[0])
	ids := r.submit(22, 0, 1)
	// Prepared while the certificate is good.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if s, _ := r.store.Status(context.Background(), ids[0]); s.State == queue.StatePrepared {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not prepared")
		}
	}
	// The key's usage period ends in two minutes: less than a card needs
	// to be verified with margin.
	_, until, _ := pki.UsagePeriod(r.st.opt.Signer.Certificate())
	offset.Store(int64(time.Until(until) - 2*time.Minute))
	r.st.Resume(r.readers[0])
	r.noEjection(1500 * time.Millisecond)
	s, _ := r.store.Status(context.Background(), ids[0])
	if len(s.Cards) != 0 || s.State != queue.StatePrepared {
		t.Fatalf("claimed with a certificate about to end: %+v", s)
	}
	if c := r.st.Snapshot().Signer.Certificate; c == nil || c.Problem != lds.DSUsageOver {
		t.Errorf("certificate status %+v", c)
	}
}

// diskFull is a store whose writes all fail with SQLITE_FULL from the first
// time op is written until cleared: the disk filling up in the middle of a
// card.
type diskFull struct {
	op   string
	mu   sync.Mutex
	full bool
	hits int
}

func (d *diskFull) fault(op string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if op == d.op && d.op != "" {
		d.full, d.op = true, ""
	}
	if d.full {
		d.hits++
		return sqlite3.Error{Code: sqlite3.ErrFull}
	}
	return nil
}

func (d *diskFull) clear() {
	d.mu.Lock()
	d.full = false
	d.mu.Unlock()
}

func (d *diskFull) isFull() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.full
}

// A card whose outcome cannot be recorded (the disk full) never leaves the
// station's hands: the reader holds it with an alarm, takes nothing new, and
// when the store writes again the record is made and the card goes on —
// for each record of a card's life.
func TestCardWhoseRecordCannotBeWrittenIsHeldUntilItIs(t *testing.T) {
	for _, c := range []struct {
		op        string
		failFirst bool // the first card fails at writing (to reach MarkSpoiled)
		final     queue.State
		cards     int
	}{
		{"MarkIssued", false, queue.StateIssued, 1},
		{"MarkVerifying", false, queue.StateIssued, 1},
		{"MarkSpoiled", true, queue.StateIssued, 2},
	} {
		t.Run(c.op, func(t *testing.T) {
			df := &diskFull{op: c.op}
			r := newRig(t, rigOptions{readers: []int{10}, writeFault: df.fault, blank: func(_, n int) vcard.Persistent {
				if c.failFirst && n == 1 {
					return emrtd.New(emrtd.ModelShort80, emrtd.WithFaults(emrtd.Faults{MemoryFailure: emrtd.AnyFile(5)}))
				}
				return emrtd.New(emrtd.ModelShort80)
			}})
			ids := r.submit(23, 0, 1)
			// The disk fills at the record: the reader holds the card.
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				snap := r.st.Snapshot()
				if len(snap.Readers) == 1 && snap.Readers[0].State == ReaderHoldingCard {
					if snap.Readers[0].LastError == "" {
						t.Error("no alarm text")
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the reader never held the card: %+v", snap)
				}
			}
			if !df.isFull() {
				t.Fatal("the fault never fired")
			}
			r.noEjection(1500 * time.Millisecond)
			snap := r.st.Snapshot()
			if snap.Store.Writable || snap.Store.Reason != "database or disk is full" {
				t.Errorf("store status %+v", snap.Store)
			}
			if why := r.st.mayClaim("another reader"); why == "" {
				t.Error("the station would claim work while the store cannot write")
			}
			// The store writes again: the record is made, the card goes on.
			df.clear()
			s := r.waitFinal(ids, 60*time.Second)[ids[0]]
			if s.State != c.final || len(s.Cards) != c.cards {
				t.Fatalf("after the store came back: %+v", s)
			}
			select {
			case <-r.ejected:
			case <-time.After(10 * time.Second):
				t.Fatal("the card was never handed out after its record was made")
			}
			for deadline := time.Now().Add(5 * time.Second); !r.st.Snapshot().Store.Writable; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the store status never recovered: %+v", r.st.Snapshot().Store)
				}
			}
			r.checkEvents()
		})
	}
}

// A DS certificate that ends within the warning window still signs, but
// says so; documents signed that expire after it are counted (ICAO 9303-12:
// DS validity = key usage period + document validity).
func TestDSCertificateEndingSoonWarnsAndOutlivingDocumentsAreCounted(t *testing.T) {
	r := newRig(t, rigOptions{readers: []int{11}, pki: pki.Options{DSUsage: 10 * 24 * time.Hour, DSValidity: 365 * 24 * time.Hour}})
	r.st.Pause(r.readers[0])
	ids := r.submit(24, 0, 1)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if s, _ := r.store.Status(context.Background(), ids[0]); s.State == queue.StatePrepared {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not prepared")
		}
	}
	snap := r.st.Snapshot()
	c := snap.Signer.Certificate
	if !snap.Signer.OK || c == nil || c.Problem != "" || !c.ExpiresSoon || c.UsageEnds == nil || !c.Ends.Equal(*c.UsageEnds) {
		t.Fatalf("signer %+v certificate %+v", snap.Signer, c)
	}
	// Documents are signed on the card's path: counted once issued.
	r.st.Resume(r.readers[0])
	if s := r.waitFinal(ids, 60*time.Second)[ids[0]]; s.State != queue.StateIssued {
		t.Fatalf("not issued: %+v", s)
	}
	if c := r.st.Snapshot().Signer.Certificate; c.Outliving != 1 {
		t.Errorf("documents outliving the certificate: %d, want 1", c.Outliving)
	}
}
