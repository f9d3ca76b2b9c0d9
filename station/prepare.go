package station

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/personalization"
	"github.com/cccd-station/station/queue"
)

// ahead is how many prepared images the pipeline keeps ready.
func (s *Station) ahead() int {
	if s.opt.Ahead > 0 {
		return s.opt.Ahead
	}
	s.mu.Lock()
	n := 2 * len(s.workers)
	s.mu.Unlock()
	return max(n, 4)
}

// prepareLoop keeps up to ahead() chip images prepared, ahead of the
// readers, so that a reader with a blank card never waits for data
// preparation while work is queued. Preparation is bounded: images hold a
// fresh Active Authentication private key each, which should not wait long.
func (s *Station) prepareLoop(ctx context.Context) {
	jobs := make(chan queue.PrepJob)
	done := make(chan string, s.opt.PrepWorkers)
	var wg sync.WaitGroup
	for i := 0; i < s.opt.PrepWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				s.prepareOne(ctx, j)
				select {
				case done <- j.ApplicationID:
				case <-ctx.Done():
				}
			}
		}()
	}
	defer func() {
		close(jobs)
		wg.Wait()
	}()

	inflight := map[string]bool{}
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		// Collect finished preparations.
		for drained := false; !drained; {
			select {
			case id := <-done:
				delete(inflight, id)
			default:
				drained = true
			}
		}
		var batch []queue.PrepJob
		if s.signerOK() && s.storeOK() {
			counts, err := s.store.CountByState(ctx)
			if err != nil {
				s.log.Error("preparation: counting the queue", "err", err)
			} else if want := s.ahead() - counts[queue.StatePrepared] - len(inflight); want > 0 {
				skip := make([]string, 0, len(inflight))
				for id := range inflight {
					skip = append(skip, id)
				}
				batch, err = s.store.ToPrepare(ctx, want, skip)
				if err != nil {
					s.log.Error("preparation: fetching work", "err", err)
				}
			}
		}
		for _, j := range batch {
			inflight[j.ApplicationID] = true
			// Hand the job over, collecting finished ones meanwhile: a
			// preparer blocked on done must never wait for this loop.
			for sent := false; !sent; {
				select {
				case jobs <- j:
					sent = true
				case id := <-done:
					delete(inflight, id)
				case <-ctx.Done():
					return
				}
			}
		}
		if len(batch) > 0 {
			continue
		}
		wait := time.Second
		if backoff > 0 {
			wait = backoff
		}
		select {
		case <-ctx.Done():
			return
		case id := <-done:
			delete(inflight, id)
		case <-s.wakeCh:
		case <-s.store.Changed():
		case <-time.After(wait):
		}
	}
}

func (s *Station) signerOK() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signerSt.OK
}

// prepareOne turns one validated application into a signed chip image.
// Data the chip cannot take rejects the application with the reason; a
// station failure (the signer) leaves it validated for later.
func (s *Station) prepareOne(ctx context.Context, j queue.PrepJob) {
	start := time.Now()
	// The picture and the finger records were checked at intake and are
	// decoded again by Prepare (whose errors reject the application): the
	// validator need not decode them a second time.
	pass := func([]byte) error { return nil }
	app, err := application.Parse(j.Raw, application.Rules{Policy: s.opt.Policy, Now: s.opt.Now,
		CheckFace: pass, CheckFinger: func(string, []byte) error { return nil }})
	if err != nil {
		var ve *application.ValidationError
		if errors.As(err, &ve) {
			problems := make([]queue.Problem, len(ve.Problems))
			for i, p := range ve.Problems {
				problems[i] = queue.Problem{Field: p.Field, Rule: p.Rule}
			}
			s.reject(ctx, j.ApplicationID, problems)
			return
		}
		s.log.Error("preparation: parsing a stored application", "application_id", j.ApplicationID, "err", err)
		return
	}
	content, err := personalization.PrepareContent(app, personalization.ContentOptions{FaceBudget: s.opt.FaceBudget, MRZ: s.opt.MRZ})
	if err != nil {
		var re *personalization.RejectError
		if errors.As(err, &re) {
			s.reject(ctx, j.ApplicationID, []queue.Problem{{Field: re.Field, Rule: re.Rule}})
			return
		}
		// Another part of the station failed: not the application's fault.
		s.log.Error("preparation failed; will retry", "application_id", j.ApplicationID, "err", err)
		return
	}
	b, err := content.Encode()
	if err != nil {
		s.log.Error("preparation: serializing the chip content", "application_id", j.ApplicationID, "err", err)
		return
	}
	// The work is done: store it even if the station is stopping.
	err = s.store.SetPrepared(queue.WithActor(context.WithoutCancel(ctx), "station"), j.ApplicationID, b)
	clear(b)
	switch {
	case errors.Is(err, queue.ErrTooLate):
		// cancelled meanwhile: the image is dropped
	case err != nil:
		s.log.Error("preparation: storing the image", "application_id", j.ApplicationID, "err", err)
	default:
		s.log.Debug("prepared", "application_id", j.ApplicationID, "took", time.Since(start))
		s.wake()
	}
}

func (s *Station) reject(ctx context.Context, id string, problems []queue.Problem) {
	if err := s.store.RejectPrepared(queue.WithActor(ctx, "station"), id, problems); err != nil && !errors.Is(err, queue.ErrTooLate) {
		s.log.Error("preparation: rejecting", "application_id", id, "err", err)
		return
	}
	s.log.Info("application rejected at preparation", "application_id", id, "field", problems[0].Field)
}
