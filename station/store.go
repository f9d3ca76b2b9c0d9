package station

import (
	"context"
	"time"
)

// StoreStatus is the job store as the panel, /readyz and the metrics show
// it. While it cannot write, or has less free space than
// Options.MinFreeBytes, no card is claimed and intake answers 503.
type StoreStatus struct {
	Writable  bool      `json:"writable"`
	Reason    string    `json:"reason,omitempty"` // SQLite's words, e.g. "database or disk is full"
	Since     time.Time `json:"since"`
	Failures  int64     `json:"write_failures"` // writes that failed for the store's reasons since start
	FreeBytes uint64    `json:"free_bytes"`
	LowSpace  bool      `json:"low_space"`
}

func (s *Station) storeLoop(ctx context.Context) {
	every(ctx, s.opt.StoreCheckEvery, func() { s.checkStore(ctx) })
}

// checkStore reads the store's health and free space; while it cannot
// write it probes with a real write, so that the station resumes by itself
// when the store writes again.
func (s *Station) checkStore(ctx context.Context) {
	h := s.store.Health()
	if !h.Writable {
		if err := s.store.Probe(ctx); err == nil {
			h = s.store.Health()
		}
	}
	free, ferr := s.store.FreeBytes()
	st := StoreStatus{Writable: h.Writable, Reason: h.Reason, Since: h.Since, Failures: h.Failures,
		FreeBytes: free, LowSpace: ferr == nil && free < s.opt.MinFreeBytes}
	s.mu.Lock()
	was := s.storeSt
	s.storeSt = st
	s.notifyLocked()
	s.mu.Unlock()
	switch {
	case st.LowSpace && !was.LowSpace:
		s.log.Error("low disk space where the store lives: no card is claimed", "free_bytes", free, "min_free_bytes", s.opt.MinFreeBytes)
	case !st.LowSpace && was.LowSpace:
		s.log.Info("disk space available again", "free_bytes", free)
	}
	if (st.Writable && !st.LowSpace) && (!was.Writable || was.LowSpace) {
		s.wake()
	}
}

// storeOK: preparation and claims may write.
func (s *Station) storeOK() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeSt.Writable && !s.storeSt.LowSpace
}
