package station

import (
	"context"
	"fmt"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/queue"
)

// manageReaders starts a worker for each reader that arrives (and that the
// configuration lets the station use) and stops it when the reader goes,
// following pcsc.Readers.Watch; it survives the reader service going away.
// It returns when ctx is done and every worker has finished its card.
func (s *Station) manageReaders(ctx context.Context) {
	defer s.stopWorkers()
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		events, err := s.opt.Readers.Watch(ctx)
		if err != nil {
			s.setPCSC(err.Error())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		s.setPCSC("ok")
		for ev := range events {
			s.handleEvent(ctx, ev)
		}
	}
}

func (s *Station) handleEvent(ctx context.Context, ev pcsc.Event) {
	switch ev.Kind {
	case pcsc.ReaderAdded:
		if s.opt.UseReader != nil && !s.opt.UseReader(ev.Reader) {
			return
		}
		s.startWorker(ctx, ev.Reader)
	case pcsc.ReaderRemoved:
		s.stopWorker(ev.Reader)
	case pcsc.CardInserted, pcsc.CardRemoved:
		s.mu.Lock()
		w := s.workers[ev.Reader]
		s.mu.Unlock()
		if w != nil {
			if ev.Kind == pcsc.CardRemoved {
				w.removals.Add(1)
			}
			w.present.Store(ev.Kind == pcsc.CardInserted)
			w.kick()
		}
	case pcsc.ServiceLost:
		s.setPCSC("the PC/SC service (pcscd) is not available; waiting for it")
	case pcsc.ServiceRestored:
		s.setPCSC("ok")
	}
}

func (s *Station) setPCSC(state string) {
	s.mu.Lock()
	changed := s.pcscSt != state
	s.pcscSt = state
	if changed {
		s.notifyLocked()
	}
	s.mu.Unlock()
	if changed && state != "ok" {
		s.log.Error("card readers unavailable", "reason", state)
	}
}

func (s *Station) startWorker(ctx context.Context, name string) {
	s.mu.Lock()
	if _, running := s.workers[name]; running {
		s.mu.Unlock()
		return
	}
	present := false
	if states, err := s.opt.Readers.List(); err == nil {
		for _, st := range states {
			if st.Name == name {
				present = st.Present
			}
		}
	}
	w := newWorker(s, name, present)
	wctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	s.workers[name] = w
	if _, ok := s.status[name]; !ok {
		s.status[name] = &ReaderStatus{Name: name, State: ReaderWaitingCard, Since: s.opt.Now()}
	}
	s.notifyLocked()
	s.mu.Unlock()
	s.log.Info("reader up", "reader", name)
	s.audit(ctx, "reader_up", name, "")
	go w.run(wctx)
}

// stopWorker ends a reader's worker (the reader went away).
func (s *Station) stopWorker(name string) {
	s.mu.Lock()
	w := s.workers[name]
	delete(s.workers, name)
	s.mu.Unlock()
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
	s.mu.Lock()
	delete(s.status, name)
	s.notifyLocked()
	s.mu.Unlock()
	s.log.Warn("reader gone", "reader", name)
	s.audit(context.Background(), "reader_down", name, "")
}

// stopWorkers waits for every worker to finish (ctx done: cards in hand
// are finished first).
func (s *Station) stopWorkers() {
	s.mu.Lock()
	ws := make([]*worker, 0, len(s.workers))
	for _, w := range s.workers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	for _, w := range ws {
		w.cancel()
		<-w.done
	}
}

// orphanLoop settles, after OrphanGrace, jobs left in progress by a
// previous run in readers that have not come back: their cards cannot be
// inspected, so a job whose writing had begun counts its card as spoiled
// (with the recorded serial) and one that had not is released.
func (s *Station) orphanLoop(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(s.opt.OrphanGrace):
	}
	actx := queue.WithActor(ctx, "station")
	claims, err := s.store.InFlight(actx, "")
	if err != nil {
		s.log.Error("orphan recovery", "err", err)
		return
	}
	for _, c := range claims {
		s.mu.Lock()
		_, running := s.workers[c.Reader]
		s.mu.Unlock()
		if running {
			continue // its worker recovers it
		}
		if c.WriteStarted || c.State == queue.StateVerifying {
			_, err = s.store.MarkSpoiled(actx, c, fmt.Sprintf("interrupted: reader %s did not come back after a restart", c.Reader))
		} else {
			err = s.store.Release(actx, c, fmt.Sprintf("reader %s did not come back after a restart; nothing had been written", c.Reader))
		}
		if err != nil {
			s.log.Error("orphan recovery", "application_id", c.ApplicationID, "err", err)
		}
	}
}
