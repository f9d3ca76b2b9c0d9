package station

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/signer"
	"github.com/cccd-station/station/queue"
)

// ErrNoReader: no worker runs for that reader name.
var ErrNoReader = errors.New("station: no such reader")

// Observer is told of card outcomes (the daemon's metrics).
type Observer interface {
	CardIssued(reader string, d time.Duration, apdus int)
	CardSpoiled(reader, class string)
}

// Options assemble a station.
type Options struct {
	Store   *queue.Store
	Readers pcsc.Readers
	Signer  signer.Signer
	CSCAs   []*x509.Certificate
	// Stock is the card stock: the products by ATR, each with its profile
	// (default: the JMRTD virtual chip products).
	Stock  *personalization.Stock
	Policy application.Policy
	// FaceBudget: largest face JPEG on the chip (default 20,000 bytes).
	FaceBudget int
	// Ahead: prepared chip images kept ready (default 2 per reader, at
	// least 4).
	Ahead int
	// PrepWorkers: parallel preparations (default GOMAXPROCS−1, at least
	// 1: preparation is CPU-heavy — JPEG re-encoding — and must not starve
	// the reader workers' I/O of the cores; measured).
	PrepWorkers int
	// UseReader chooses the readers to drive (nil: all).
	UseReader func(name string) bool
	// OrphanGrace: after this long, jobs left in progress in readers that
	// have not come back are resolved as if their card were gone (default
	// 2 minutes).
	OrphanGrace time.Duration
	// PurgeEvery: how often acknowledged applications are purged (default
	// 1 minute). SignerCheckEvery: how often the DS token is checked
	// (default 15 s).
	PurgeEvery       time.Duration
	SignerCheckEvery time.Duration
	// MRZ: the CCCD conventions of the MRZ (zero value: real cards').
	MRZ lds.MRZConventions
	// DSExpiryWarning: how long before the DS certificate (or its key's
	// usage period) ends the station warns (default 30 days).
	DSExpiryWarning time.Duration
	// MinFreeBytes: with less free space than this where the store lives,
	// no card is claimed (default 64 MiB): the records a card needs must
	// find room. StoreCheckEvery: how often the store's space and, while
	// it cannot write, a probe write are checked (default 2 s).
	MinFreeBytes    uint64
	StoreCheckEvery time.Duration
	Observer        Observer
	Log             *slog.Logger
	Now             func() time.Time
	// Trace, if set, gets every reader's APDU trace (masked).
	Trace func(reader string) *pcsc.Trace
}

// Station runs the readers, the preparation pipeline and the housekeeping.
type Station struct {
	opt   Options
	store *queue.Store
	eng   *personalization.Engine
	log   *slog.Logger

	mu       sync.Mutex
	workers  map[string]*worker
	paused   map[string]bool // by reader name; kept while a reader comes and goes
	status   map[string]*ReaderStatus
	draining bool
	signerSt SignerStatus
	storeSt  StoreStatus
	// expiryWarned, outlivingWarned: when the last warnings of a DS
	// certificate ending soon and of documents outliving it were logged.
	expiryWarned, outlivingWarned time.Time
	pcscSt                        string
	changed                       chan struct{}
	wakeCh                        chan struct{} // new work or a changed condition: preparer and waiting workers
	started                       time.Time
}

// New checks the options and builds a station; Run starts it.
func New(o Options) (*Station, error) {
	if o.Store == nil || o.Readers == nil || o.Signer == nil {
		return nil, errors.New("station: Store, Readers and Signer are required")
	}
	if len(o.CSCAs) == 0 {
		return nil, errors.New("station: at least one CSCA certificate is required to verify cards")
	}
	if o.Stock == nil {
		st, err := personalization.NewStock(nil, personalization.JMRTD{})
		if err != nil {
			return nil, err
		}
		o.Stock = st
	}
	if o.FaceBudget == 0 {
		o.FaceBudget = 20000
	}
	if o.PrepWorkers <= 0 {
		o.PrepWorkers = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if o.OrphanGrace == 0 {
		o.OrphanGrace = 2 * time.Minute
	}
	if o.PurgeEvery == 0 {
		o.PurgeEvery = time.Minute
	}
	if o.SignerCheckEvery == 0 {
		o.SignerCheckEvery = 15 * time.Second
	}
	if o.DSExpiryWarning == 0 {
		o.DSExpiryWarning = 30 * 24 * time.Hour
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = 64 << 20
	}
	if o.StoreCheckEvery == 0 {
		o.StoreCheckEvery = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Station{
		opt:   o,
		store: o.Store,
		eng: &personalization.Engine{Stock: o.Stock, Signer: o.Signer, DSCert: o.Signer.Certificate(),
			CSCAs: o.CSCAs, Now: o.Now},
		log:      o.Log,
		workers:  map[string]*worker{},
		paused:   map[string]bool{},
		status:   map[string]*ReaderStatus{},
		changed:  make(chan struct{}),
		wakeCh:   make(chan struct{}, 1),
		pcscSt:   "starting",
		storeSt:  StoreStatus{Writable: true},
		signerSt: SignerStatus{Backend: o.Signer.Backend()},
	}
	return s, nil
}

// Run drives the station until ctx is done: the reader manager (one worker
// per reader), the preparation pipeline, the signer check and the purge.
// When ctx is cancelled (SIGTERM), each worker finishes the card in hand;
// Run returns when they all have.
// keysAhead is how many station-made keys of each size are kept ready:
// enough for a burst of cards while key generation keeps up on average.
const keysAhead = 4

func (s *Station) Run(ctx context.Context) error {
	s.started = s.opt.Now()
	// Station-made keys (jmrtd stock) are made ahead, in memory only.
	var bits []int
	for _, p := range s.opt.Stock.Products {
		bits = append(bits, p.AAKey.RSABits())
	}
	s.eng.Keys = personalization.NewKeyPool(ctx, keysAhead, bits...)
	s.checkStore(ctx)
	s.checkSigner(ctx)
	var wg sync.WaitGroup
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	run(s.prepareLoop)
	run(s.signerLoop)
	run(s.storeLoop)
	run(s.purgeLoop)
	run(s.orphanLoop)
	s.manageReaders(ctx) // returns when ctx is done and every worker stopped
	wg.Wait()
	return nil
}

// Snapshot is the station now.
func (s *Station) Snapshot() Snapshot {
	counts, err := s.store.CountByState(context.Background())
	if err != nil {
		counts = map[queue.State]int{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{Signer: s.signerSt, Queue: counts, Draining: s.draining, PCSC: s.pcscSt, Store: s.storeSt, At: s.opt.Now()}
	if c := s.signerSt.Certificate; c != nil {
		cc := *c // the counts move under s.mu
		snap.Signer.Certificate = &cc
	}
	names := make([]string, 0, len(s.status))
	for n := range s.status {
		names = append(names, n)
	}
	sort.Strings(names)
	hourAgo := s.opt.Now().Add(-time.Hour)
	for _, n := range names {
		st := *s.status[n]
		if w := s.workers[n]; w != nil {
			st.IssuedThisHour = w.issuedSince(hourAgo)
		}
		snap.Readers = append(snap.Readers, st)
	}
	return snap
}

// Changed returns a channel closed at the next change of the snapshot.
func (s *Station) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// notifyLocked wakes Changed waiters; s.mu held.
func (s *Station) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Station) notify() {
	s.mu.Lock()
	s.notifyLocked()
	s.mu.Unlock()
}

// wake tells the preparer and waiting workers that something changed
// (new work, resume, the signer back).
func (s *Station) wake() {
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
	s.mu.Lock()
	for _, w := range s.workers {
		w.kick()
	}
	s.notifyLocked()
	s.mu.Unlock()
}

// Pause stops a reader from taking new cards; the card in hand finishes.
func (s *Station) Pause(reader string) error { return s.setPaused(reader, true) }

// Resume lets a paused reader take cards again.
func (s *Station) Resume(reader string) error { return s.setPaused(reader, false) }

func (s *Station) setPaused(reader string, p bool) error {
	s.mu.Lock()
	if _, ok := s.status[reader]; !ok {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNoReader, reader)
	}
	s.paused[reader] = p
	w := s.workers[reader]
	s.mu.Unlock()
	if w != nil {
		w.kick()
	}
	s.notify()
	return nil
}

// Drain stops (on) or restarts (off) the claiming of new work by every
// reader, before maintenance: cards in hand finish, prepared images wait.
func (s *Station) Drain(on bool) {
	s.mu.Lock()
	s.draining = on
	s.mu.Unlock()
	s.wake()
}

func (s *Station) isPaused(reader string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused[reader]
}

// mayClaim reports why a reader may not take new work now ("" if it may).
// Everything the station can know before it touches a card is asked here,
// before every claim: a claim must be followed by records that commit and a
// signature that verifies.
func (s *Station) mayClaim(reader string) string {
	s.mu.Lock()
	why := ""
	switch {
	case s.paused[reader]:
		why = "paused"
	case s.draining:
		why = "draining"
	case !s.storeSt.Writable:
		why = "the store cannot write"
	case s.storeSt.LowSpace:
		why = "low disk space"
	}
	s.mu.Unlock()
	if why != "" {
		return why
	}
	if !s.store.Health().Writable {
		return "the store cannot write"
	}
	if !s.mayClaimSigner() {
		return "signer unavailable"
	}
	return ""
}

// setReader updates a reader's status with f.
func (s *Station) setReader(name string, f func(r *ReaderStatus)) {
	s.mu.Lock()
	r := s.status[name]
	if r == nil {
		r = &ReaderStatus{Name: name, Since: s.opt.Now()}
		s.status[name] = r
	}
	before := r.State
	f(r)
	r.Paused = s.paused[name]
	if r.State != before {
		r.Since = s.opt.Now()
	}
	s.notifyLocked()
	s.mu.Unlock()
}

// every runs f every d until ctx is done.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

func (s *Station) purgeLoop(ctx context.Context) {
	every(ctx, s.opt.PurgeEvery, func() {
		if n, err := s.store.Purge(ctx); err != nil {
			s.log.Error("purge failed", "err", err)
		} else if n > 0 {
			s.log.Info("purged acknowledged applications", "count", n)
		}
	})
}
