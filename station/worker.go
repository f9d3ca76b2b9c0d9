package station

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/signer"
	"github.com/cccd-station/station/queue"
)

// worker is the one goroutine that owns a reader: nothing else talks to
// its card.
type worker struct {
	s        *Station
	name     string
	cancel   context.CancelFunc
	done     chan struct{}
	kickCh   chan struct{}
	present  atomic.Bool  // a card is in the reader, as the last event said
	removals atomic.Int64 // cards taken out so far (CardRemoved events)

	// held: the card in hand was held while a record could not be written
	// (the worker goroutine's own).
	held bool

	mu     sync.Mutex
	issued []time.Time // issue times of the last hour
}

func newWorker(s *Station, name string, present bool) *worker {
	w := &worker{s: s, name: name, done: make(chan struct{}), kickCh: make(chan struct{}, 1)}
	w.present.Store(present)
	return w
}

// kick wakes the worker if it waits.
func (w *worker) kick() {
	select {
	case w.kickCh <- struct{}{}:
	default:
	}
}

func (w *worker) issuedSince(t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, at := range w.issued {
		if at.After(t) {
			n++
		}
	}
	return n
}

func (w *worker) countIssued(at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	keep := w.issued[:0]
	for _, t := range w.issued {
		if t.After(at.Add(-time.Hour)) {
			keep = append(keep, t)
		}
	}
	w.issued = append(keep, at)
}

func (w *worker) set(state ReaderState, f func(r *ReaderStatus)) {
	w.s.setReader(w.name, func(r *ReaderStatus) {
		r.State = state
		if f != nil {
			f(r)
		}
	})
}

func (w *worker) fail(state ReaderState, err error) {
	now := w.s.opt.Now()
	w.set(state, func(r *ReaderStatus) { r.LastError, r.LastErrorAt = err.Error(), &now })
}

// wait blocks until kicked, ctx is done, or d passes.
func (w *worker) wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-w.kickCh:
	case <-t.C:
	}
}

// disposition says how a card connection ends and whether the worker then
// waits for the card to leave the reader.
type disposition struct {
	d          pcsc.Disposition
	waitRemove bool
}

// handOut powers a card off as the station's own last act on it: a card
// feeder (and the virtual feeders) takes a card out only on a power-off
// that directly follows an APDU, so after a pause (a record held while
// the store could not write) the worker first selects the eMRTD
// application again — harmless in every state of the chip.
func handOut(card *pcsc.Card, paused bool) {
	if paused {
		apdu := append([]byte{0x00, 0xA4, 0x04, 0x0C, byte(len(personalization.AIDeMRTD))}, personalization.AIDeMRTD...)
		_, _ = card.Transmit(apdu)
	}
	card.Close(pcsc.UnpowerCard)
}

// run is the worker's loop: recover what a previous run left in this
// reader, then take blank cards and work, one card at a time.
func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	defer w.set(ReaderStopped, nil)
	w.recover(ctx)
	for ctx.Err() == nil {
		if w.s.isPaused(w.name) {
			w.set(ReaderPaused, nil)
			w.wait(ctx, time.Minute)
			continue
		}
		if !w.present.Load() {
			w.set(ReaderWaitingCard, func(r *ReaderStatus) { r.CardSerial, r.Product, r.ApplicationID = "", "", "" })
			w.wait(ctx, 5*time.Second)
			continue
		}
		card, err := w.connect()
		if err != nil {
			if !errors.Is(err, pcsc.ErrNoCard) && !errors.Is(err, pcsc.ErrCardRemoved) {
				w.fail(ReaderError, err)
			}
			w.wait(ctx, 200*time.Millisecond)
			continue
		}
		w.held = false
		disp := w.handleCard(ctx, card)
		removals := w.removals.Load() // before Close: the card may leave at once
		if disp.d == pcsc.UnpowerCard {
			handOut(card, w.held)
		} else {
			card.Close(disp.d)
		}
		if disp.waitRemove {
			w.waitRemoval(ctx, removals)
		}
	}
}

func (w *worker) connect() (*pcsc.Card, error) {
	conn, err := w.s.opt.Readers.Connect(w.name)
	if err != nil {
		return nil, err
	}
	opts := []pcsc.CardOption{pcsc.WithReaderName(w.name)}
	if w.s.opt.Trace != nil {
		if t := w.s.opt.Trace(w.name); t != nil {
			opts = append(opts, pcsc.WithTrace(t))
		}
	}
	return pcsc.NewCard(conn, opts...), nil
}

// waitRemoval waits for the card to be taken out (the feeder or the
// operator), showing remove_card meanwhile: until a removal after the
// count given, or the reader found empty. A feeder may put the next card in
// at once, so presence alone does not tell.
func (w *worker) waitRemoval(ctx context.Context, removals int64) {
	for ctx.Err() == nil && w.removals.Load() == removals && w.present.Load() {
		if w.state() != ReaderHoldingCard { // an alarm stays until an operator takes the card
			w.set(ReaderRemoveCard, nil)
		}
		w.wait(ctx, 2*time.Second)
		if w.removals.Load() == removals && w.present.Load() && !w.stillPresent() {
			w.present.Store(false)
		}
	}
}

// stillPresent asks the reader service (events may lag).
func (w *worker) stillPresent() bool {
	states, err := w.s.opt.Readers.List()
	if err != nil {
		return true
	}
	for _, st := range states {
		if st.Name == w.name {
			return st.Present
		}
	}
	return false
}

// handleCard identifies the card in the reader, claims work for it if it is
// blank, and personalizes it.
func (w *worker) handleCard(ctx context.Context, card *pcsc.Card) disposition {
	s := w.s
	product, serial, state, err := s.eng.Identify(card)
	if err != nil {
		if pcsc.Gone(err) {
			return disposition{d: pcsc.LeaveCard}
		}
		// Not a card this station can personalize: set it aside.
		w.fail(ReaderRemoveCard, fmt.Errorf("card refused: %w", err))
		s.audit(ctx, "card_refused", w.name, fmt.Sprintf("ATR %X: %v", card.ATR(), err))
		return disposition{d: pcsc.UnpowerCard, waitRemove: true}
	}
	w.set(ReaderWaitingWork, func(r *ReaderStatus) { r.CardSerial, r.Product = serial, product.Name })
	if state != personalization.CardBlank {
		err := fmt.Errorf("card %s refused: it is %s, not blank", serial, state)
		w.fail(ReaderRemoveCard, err)
		s.audit(ctx, "card_refused", serial, fmt.Sprintf("reader %s: %s, not blank", w.name, state))
		return disposition{d: pcsc.UnpowerCard, waitRemove: true}
	}
	if why := s.mayClaim(w.name); why != "" {
		w.set(ReaderWaitingWork, nil)
		w.wait(ctx, 5*time.Second)
		return disposition{d: pcsc.LeaveCard}
	}

	actx := queue.WithActor(ctx, "reader:"+w.name)
	claim, err := s.store.Claim(actx, w.name, serial)
	if errors.Is(err, queue.ErrNoWork) {
		w.wait(ctx, 5*time.Second)
		return disposition{d: pcsc.LeaveCard}
	}
	if err != nil {
		// Nothing was claimed (the transaction rolled back): the card is
		// untouched. A store that cannot write stops every claim until it
		// writes again (mayClaim).
		w.fail(ReaderError, fmt.Errorf("claiming work: %w", err))
		w.wait(ctx, time.Second)
		return disposition{d: pcsc.LeaveCard}
	}
	// From here on the claim is settled whatever happens to ctx (SIGTERM):
	// the records of the card in hand must reach the store.
	actx = context.WithoutCancel(actx)
	content, err := lds.DecodeContent(claim.Image)
	clear(claim.Image)
	if err != nil {
		// A stored content that does not decode (a store written by another
		// version): this card is untouched, the application is prepared
		// again.
		if rerr := w.record(ctx, "release", func() error {
			return s.store.Release(actx, claim, "stored chip content unusable: prepared again")
		}); rerr != nil {
			return w.unrecorded(claim, rerr)
		}
		w.fail(ReaderError, fmt.Errorf("application %s: stored chip content: %w", claim.ApplicationID, err))
		return disposition{d: pcsc.LeaveCard}
	}

	w.set(ReaderPersonalizing, func(r *ReaderStatus) { r.ApplicationID = claim.ApplicationID })
	start := time.Now()
	// Once writing began the card is finished even if the station is
	// stopping (SIGTERM): the engine checks ctx only before the first write.
	res, err := s.eng.Run(ctx, card, product, serial, content, personalization.Hooks{
		BeforeWrite: func() error { return recordErr(s.store.MarkWriting(actx, claim)) },
		AfterSeal: func() error {
			w.set(ReaderVerifying, nil)
			return recordErr(w.record(ctx, "verifying", func() error { return s.store.MarkVerifying(actx, claim) }))
		},
	})
	if err == nil {
		err = w.record(ctx, "issued", func() error {
			return s.store.MarkIssued(actx, claim, queue.Issue{
				SODHash: res.SODHash, DSCert: res.DSCert.Subject.String(), APDUs: res.APDUs, Duration: time.Since(start),
			})
		})
		if err != nil {
			// The card is verified but its record did not commit: the job
			// stays in verifying and the card stays in the reader, where
			// recovery inspects it at the next start.
			return w.unrecorded(claim, err)
		}
		w.countIssued(s.opt.Now())
		s.countSigned(documentExpiry(content.MRZ))
		if s.opt.Observer != nil {
			s.opt.Observer.CardIssued(w.name, time.Since(start), res.APDUs)
		}
		s.log.Info("card issued", "reader", w.name, "application_id", claim.ApplicationID, "serial", serial,
			"apdus", res.APDUs, "took", time.Since(start).Round(time.Millisecond))
		w.set(ReaderRemoveCard, func(r *ReaderStatus) { r.IssuedTotal++; r.ApplicationID = "" })
		return disposition{d: pcsc.UnpowerCard, waitRemove: true}
	}

	var f *personalization.Failure
	if !errors.As(err, &f) {
		f = &personalization.Failure{Step: personalization.StepWrite, Card: personalization.CardUnknown, Serial: serial, Err: err}
	}
	if errors.Is(f.Err, signer.ErrTokenAbsent) || errors.Is(f.Err, personalization.ErrSign) {
		// The Document Signer did not sign (its token pulled out mid-card):
		// issuance pauses until it is back.
		s.checkSigner(ctx)
	}
	if f.Refused() {
		// Nothing written (stopping, the writing mark failed, the signer or
		// the secure channel failed first): the card is blank and the job
		// goes back.
		if rerr := w.record(ctx, "release", func() error { return s.store.Release(actx, claim, f.Error()) }); rerr != nil {
			return w.unrecorded(claim, rerr)
		}
		w.set(ReaderWaitingWork, func(r *ReaderStatus) { r.ApplicationID = "" })
		if f.Step == personalization.StepOpen && !pcsc.Gone(f.Err) {
			// The card refused the personalization session (SCP03 keys
			// that do not open it): set it aside, never tried again — a
			// card counts failed authentications and may lock itself.
			w.fail(ReaderRemoveCard, fmt.Errorf("card %s refused: %w", serial, f.Err))
			s.audit(ctx, "card_refused", serial, fmt.Sprintf("reader %s: %v", w.name, f.Err))
			return disposition{d: pcsc.UnpowerCard, waitRemove: true}
		}
		return disposition{d: pcsc.LeaveCard}
	}
	class := SpoilClass(f)
	next, serr := func() (queue.State, error) {
		var next queue.State
		err := w.record(ctx, "spoiled", func() error {
			var err error
			next, err = s.store.MarkSpoiled(actx, claim, f.Error())
			return err
		})
		return next, err
	}()
	if serr != nil {
		return w.unrecorded(claim, serr)
	}
	s.log.Warn("card spoiled", "reader", w.name, "application_id", claim.ApplicationID, "serial", serial,
		"step", f.Step, "class", class, "application_now", next)
	w.fail(ReaderRemoveCard, fmt.Errorf("card %s spoiled at %s: %v", serial, f.Step, f.Err))
	w.set(ReaderRemoveCard, func(r *ReaderStatus) { r.SpoiledTotal++; r.ApplicationID = "" })
	if s.opt.Observer != nil {
		s.opt.Observer.CardSpoiled(w.name, class)
	}
	if f.Card == personalization.CardUnknown && pcsc.Gone(f.Err) {
		return disposition{d: pcsc.LeaveCard}
	}
	return disposition{d: pcsc.UnpowerCard, waitRemove: true}
}

// errRecord marks a failure of the station's own records during a card
// (the hooks): the card is not at fault.
var errRecord = errors.New("recording the card's state")

func recordErr(err error) error {
	if err != nil {
		return fmt.Errorf("%w: %w", errRecord, err)
	}
	return nil
}

// holdOnStop: once the station is stopping, how long a card whose record
// does not commit is still held retrying before the worker gives up and
// leaves it in the reader for the next start's recovery.
const holdOnStop = 20 * time.Second

// record makes one of a card's records durable, whatever it takes: a card
// whose fate is not durably recorded never leaves the station's hands.
// While the store cannot write (queue.ErrUnavailable) the card stays in the
// reader, the reader shows the alarm (ReaderHoldingCard; logged, on the
// panel and in the metrics), and the record is retried until it commits —
// then the card goes on as if nothing happened. Once the station is stopping
// it is retried for holdOnStop more, then given up (the error is returned
// and the card left in the reader). Other errors are returned at once.
func (w *worker) record(ctx context.Context, what string, f func() error) error {
	err := f()
	if err == nil || !errors.Is(err, queue.ErrUnavailable) {
		return err
	}
	s := w.s
	w.held = true
	began := time.Now()
	s.log.Error("a card's record could not be written: the card is held in the reader, retrying",
		"reader", w.name, "record", what, "err", err)
	prev := w.state()
	w.fail(ReaderHoldingCard, fmt.Errorf("the %s record did not commit (%w): the card is held in the reader until it does", what, err))
	backoff := 250 * time.Millisecond
	var giveUp time.Time
	for {
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			if giveUp.IsZero() {
				giveUp = time.Now().Add(holdOnStop)
			}
			time.Sleep(min(backoff, time.Until(giveUp)))
		}
		backoff = min(2*backoff, 5*time.Second)
		if err = f(); err == nil {
			s.log.Warn("the card's record committed after the store came back", "reader", w.name, "record", what,
				"held", time.Since(began).Round(time.Millisecond))
			w.set(prev, nil)
			return nil
		}
		if !errors.Is(err, queue.ErrUnavailable) {
			return err
		}
		if !giveUp.IsZero() && time.Now().After(giveUp) {
			s.log.Error("stopping with a card whose record did not commit: it stays in the reader for recovery at the next start",
				"reader", w.name, "record", what, "err", err)
			return err
		}
	}
}

// unrecorded ends the handling of a card whose record did not commit: the
// card stays in the reader, unpowered by nobody (the feeder takes only
// cards the station powered off), until the next start's recovery
// inspects it, or an operator takes it out.
func (w *worker) unrecorded(claim *queue.Claim, err error) disposition {
	w.fail(ReaderHoldingCard, fmt.Errorf("application %s, card %s: record not written (%w): the card stays in the reader", claim.ApplicationID, claim.Serial, err))
	return disposition{d: pcsc.LeaveCard, waitRemove: true}
}

// state is the reader's current state.
func (w *worker) state() ReaderState {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if r := w.s.status[w.name]; r != nil {
		return r.State
	}
	return ReaderWaitingCard
}

// SpoilClasses are the reasons a spoiled card is counted under in the
// metrics: a small fixed set, never free text. SpoilClass is the one
// classifier.
var SpoilClasses = []string{
	"card_removed", "reader_gone", "pcsc_unavailable", "memory_failure", "readback_mismatch",
	"keygen_failed", "signer_failed", "seal_failed", "verification_failed", "record_failed", "write_failed",
	"interrupted", "other",
}

// SpoilClass names why a card was spoiled, for the metrics: what failed,
// not where — a store write that failed after sealing is record_failed, a
// lost PC/SC service pcsc_unavailable.
func SpoilClass(f *personalization.Failure) string {
	switch {
	case errors.Is(f.Err, errRecord):
		return "record_failed"
	case f.Step == personalization.StepSign:
		return "signer_failed"
	case f.Step == personalization.StepKeys:
		return "keygen_failed"
	case errors.Is(f.Err, pcsc.ErrNoService):
		return "pcsc_unavailable"
	case errors.Is(f.Err, pcsc.ErrReaderGone):
		return "reader_gone"
	case errors.Is(f.Err, pcsc.ErrCardRemoved):
		return "card_removed"
	case errors.Is(f.Err, pcsc.ErrMemoryFailure):
		return "memory_failure"
	case errors.Is(f.Err, personalization.ErrReadBack):
		return "readback_mismatch"
	case f.Step == personalization.StepSeal:
		return "seal_failed"
	case f.Step == personalization.StepVerify:
		return "verification_failed"
	}
	return "write_failed"
}

func (s *Station) audit(ctx context.Context, action, subject, detail string) {
	if err := s.store.Audit(queue.WithActor(ctx, "station"), action, subject, detail); err != nil {
		s.log.Error("audit log", "action", action, "err", err)
	}
}

// recover settles what a previous run left in progress in this reader by
// inspecting the card still there (docs/architecture.md: nothing is
// guessed): the same card still blank → the job goes back with the card
// free; the same card written or locked → spoiled with its serial; the card
// gone or another card → spoiled if writing had begun, released otherwise.
func (w *worker) recover(ctx context.Context) {
	s := w.s
	actx := queue.WithActor(ctx, "station")
	claims, err := s.store.InFlight(actx, w.name)
	if err != nil || len(claims) == 0 {
		if err != nil {
			w.fail(ReaderError, fmt.Errorf("recovery: %w", err))
		}
		return
	}
	w.set(ReaderRecovering, nil)
	var serial string
	var state personalization.CardState = personalization.CardUnknown
	present := w.stillPresent()
	if present {
		for attempt := 0; attempt < 20 && ctx.Err() == nil; attempt++ {
			card, err := w.connect()
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			_, serial, state, err = s.eng.Identify(card)
			card.Close(pcsc.LeaveCard)
			if err == nil || pcsc.Gone(err) {
				break
			}
		}
	}
	spoiledHere := false
	for _, c := range claims {
		sameCard := present && serial != "" && serial == c.Serial
		var settle func() error
		switch {
		case sameCard && state == personalization.CardBlank:
			settle = func() error {
				return s.store.Release(actx, c, "station restarted before writing; the card is still blank")
			}
		case sameCard:
			settle = func() error {
				_, err := s.store.MarkSpoiled(actx, c, fmt.Sprintf("interrupted: the station stopped during personalization; card found %s", state))
				return err
			}
		case c.WriteStarted || c.State == queue.StateVerifying:
			settle = func() error {
				_, err := s.store.MarkSpoiled(actx, c, "interrupted: the station stopped during personalization; the card is no longer in the reader")
				return err
			}
		default:
			settle = func() error {
				return s.store.Release(actx, c, "station restarted before writing; the card is no longer in the reader")
			}
		}
		// The card found in the reader is held until its fate is recorded.
		if err := w.record(ctx, "recovery", settle); err != nil {
			w.fail(ReaderError, fmt.Errorf("recovery of %s: %w", c.ApplicationID, err))
			continue
		}
		if sameCard && state != personalization.CardBlank {
			spoiledHere = true
		}
		s.log.Warn("recovered a job interrupted by a restart", "reader", w.name, "application_id", c.ApplicationID,
			"serial", c.Serial, "card_found", state, "same_card", sameCard)
		if s.opt.Observer != nil && (sameCard && state != personalization.CardBlank || !sameCard && (c.WriteStarted || c.State == queue.StateVerifying)) {
			s.opt.Observer.CardSpoiled(w.name, "interrupted")
		}
	}
	clear(claims)
	if spoiledHere {
		// The spoiled card is still in the reader: hand it out.
		removals := w.removals.Load()
		if card, err := w.connect(); err == nil {
			handOut(card, true)
		}
		w.waitRemoval(ctx, removals)
	}
}
