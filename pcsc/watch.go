package pcsc

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ebfe/scard"
)

// SCardGetStatusChange in one process: the gate.
//
// github.com/ebfe/scard keeps the C strings of the reader names it passes to
// SCardGetStatusChange alive in a package map keyed by the name. Two calls
// at once with the same reader name replace each other's entry; the first
// call's string can then be collected while libpcsclite still reads it
// (it compares the names again at every wake-up of a blocking wait). So
// the package never has two calls in flight: all go through gscGate. The one
// long, blocking wait (the status monitor's) is cancelled (SCardCancel) when
// a short call (List) needs the gate, and resumes after it.
//
// pcsc-lite also limits one call to PCSCLITE_MAX_READERS_CONTEXTS (16)
// entries, the \\?PnP?\Notification pseudo reader included: with 16 readers
// the monitor leaves the pseudo reader out and notices reader changes at its
// periodic wake-up (watchWait).
type gate struct {
	mu      sync.Mutex
	cond    *sync.Cond
	busy    bool
	holder  *scard.Context // the long call in flight
	yielded bool           // it was cancelled for a short call
	pending int            // short calls waiting
}

var gscGate = func() *gate {
	g := &gate{}
	g.cond = sync.NewCond(&g.mu)
	return g
}()

// short runs a non-blocking SCardGetStatusChange (timeout 0), cancelling
// the monitor's wait if it holds the gate.
func (g *gate) short(ctx *scard.Context, states []scard.ReaderState) error {
	g.mu.Lock()
	g.pending++
	for g.busy {
		if g.holder != nil && !g.yielded {
			g.yielded = true
			_ = g.holder.Cancel()
		}
		g.cond.Wait()
	}
	g.pending--
	g.busy = true
	g.mu.Unlock()
	err := ctx.GetStatusChange(states, 0)
	g.mu.Lock()
	g.busy = false
	g.cond.Broadcast()
	g.mu.Unlock()
	return err
}

// long runs a blocking SCardGetStatusChange once no short call waits.
// yielded reports that it ended early (SCARD_E_CANCELLED) for a short call.
func (g *gate) long(ctx *scard.Context, states []scard.ReaderState, timeout time.Duration) (err error, yielded bool) {
	g.mu.Lock()
	for g.busy || g.pending > 0 {
		g.cond.Wait()
	}
	g.busy, g.holder, g.yielded = true, ctx, false
	g.mu.Unlock()
	err = ctx.GetStatusChange(states, timeout)
	g.mu.Lock()
	y := g.yielded
	g.busy, g.holder, g.yielded = false, nil, false
	g.cond.Broadcast()
	g.mu.Unlock()
	return err, y && errors.Is(err, scard.ErrCancelled)
}

// statusNow reads the readers' current state (SCARD_STATE_UNAWARE returns at
// once, PC/SC Part 5 §3.1.3 SCardGetStatusChange).
func statusNow(ctx *scard.Context, states []scard.ReaderState) error {
	return gscGate.short(ctx, states)
}

// pnpNotification is pcsc-lite's pseudo reader whose state changes when a
// reader is added or removed.
const pnpNotification = `\\?PnP?\Notification`

// maxStates is pcsc-lite's PCSCLITE_MAX_READERS_CONTEXTS: the most entries
// one SCardGetStatusChange takes.
const maxStates = 16

// Watch timing: the longest single wait (reader changes are noticed by then
// when the PnP pseudo reader cannot be watched, and a stop requested just
// before a wait starts), and the backoff while pcscd is away.
const (
	watchWait       = time.Second
	watchBackoffMin = 50 * time.Millisecond
	watchBackoffMax = 2 * time.Second
)

// Watch reports reader and card changes until ctx is done, then closes the
// channel. It starts with the current state (ReaderAdded, then CardInserted
// for each reader with a card).
//
// All Watch calls of the process share one status monitor: a goroutine with
// its own PC/SC context, started by the first Watch and stopped after the
// last one ends. Events are queued per watcher without bound: a slow reader
// of the channel delays nobody.
//
// It survives pcscd restarts: when pcscd goes away it sends ServiceLost,
// then CardRemoved and ReaderRemoved for every reader it had announced; it
// establishes a new context with backoff (50 ms doubling to 2 s), and when
// pcscd is back it sends ServiceRestored and announces the readers again.
// When pcscd is not running at the start, the first event is ServiceLost.
// Connections made before a restart are dead: their calls fail with
// ErrNoService; close them and connect again.
func (s *System) Watch(ctx context.Context) (<-chan Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sub := &subscription{wake: make(chan struct{}, 1)}
	theMonitor.subscribe(sub)
	out := make(chan Event)
	go func() {
		defer close(out)
		defer theMonitor.unsubscribe(sub)
		for {
			for _, e := range sub.take() {
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-sub.wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

type subscription struct {
	mu    sync.Mutex
	queue []Event
	wake  chan struct{}
}

func (s *subscription) push(e Event) {
	s.mu.Lock()
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscription) take() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

// monitor is the process's status monitor and the state it has announced
// (what a new watcher is told first).
type monitor struct {
	mu   sync.Mutex
	subs map[*subscription]struct{}
	gen  int // of the running monitor goroutine; 0: none
	stop context.CancelFunc

	lost  bool
	order []string
	known map[string]*watched
}

var theMonitor = &monitor{subs: map[*subscription]struct{}{}}

type watched struct {
	flags   scard.StateFlag // last event state, CHANGED cleared: the next current state
	seen    bool            // its state was read once
	present bool
	atr     []byte
}

func (m *monitor) subscribe(sub *subscription) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen == 0 || m.stop == nil {
		m.start()
	}
	now := time.Now()
	if m.lost {
		sub.push(Event{Kind: ServiceLost, At: now})
	}
	for _, n := range m.order {
		sub.push(Event{Kind: ReaderAdded, Reader: n, At: now})
		if k := m.known[n]; k.present {
			sub.push(Event{Kind: CardInserted, Reader: n, ATR: append([]byte(nil), k.atr...), At: now})
		}
	}
	m.subs[sub] = struct{}{}
}

func (m *monitor) unsubscribe(sub *subscription) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.subs, sub)
	if len(m.subs) == 0 && m.stop != nil {
		m.stop()
		m.stop = nil
	}
}

// start launches a monitor goroutine; m.mu is held. A previous one still
// stopping no longer touches the state (its generation is old).
func (m *monitor) start() {
	m.gen++
	m.lost, m.order, m.known = false, nil, map[string]*watched{}
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	r := &monitorRun{m: m, gen: m.gen, ctx: ctx}
	go r.run()
}

// monitorRun is one monitor goroutine.
type monitorRun struct {
	m   *monitor
	gen int
	ctx context.Context
	pnp scard.StateFlag
}

// update applies f to the announced state and sends the events it returns,
// unless this run was superseded. False: stop.
func (r *monitorRun) update(f func(m *monitor) []Event) bool {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen != r.gen || r.ctx.Err() != nil {
		return false
	}
	now := time.Now()
	for _, e := range f(m) {
		e.At = now
		for s := range m.subs {
			s.push(e)
		}
	}
	return true
}

func (r *monitorRun) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}

func (r *monitorRun) run() {
	backoff := watchBackoffMin
	for r.ctx.Err() == nil {
		sc, err := scard.EstablishContext()
		if err != nil {
			if !r.serviceLost() || !r.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, watchBackoffMax)
			continue
		}
		backoff = watchBackoffMin
		ok := r.update(func(m *monitor) []Event {
			if !m.lost {
				return nil
			}
			m.lost = false
			return []Event{{Kind: ServiceRestored}}
		})
		r.pnp = 0
		if ok {
			err = r.loop(sc)
		}
		_ = sc.Release()
		if r.ctx.Err() != nil || !ok {
			return
		}
		if serviceGone(err) && !r.serviceLost() {
			return
		}
		if !r.sleep(backoff) { // any other failure: a fresh context after a pause
			return
		}
	}
}

// serviceLost reports ServiceLost (once) and forgets every reader.
func (r *monitorRun) serviceLost() bool {
	return r.update(func(m *monitor) []Event {
		if m.lost {
			return nil
		}
		m.lost = true
		evs := []Event{{Kind: ServiceLost}}
		for _, n := range m.order {
			evs = append(evs, m.drop(n)...)
		}
		m.order = nil
		return evs
	})
}

// drop forgets a reader; m.mu is held.
func (m *monitor) drop(name string) []Event {
	k := m.known[name]
	delete(m.known, name)
	var evs []Event
	if k != nil && k.present {
		evs = append(evs, Event{Kind: CardRemoved, Reader: name})
	}
	return append(evs, Event{Kind: ReaderRemoved, Reader: name})
}

// sync announces readers that appeared and retires those that left.
func (r *monitorRun) sync(names []string) bool {
	return r.update(func(m *monitor) []Event {
		now := make(map[string]bool, len(names))
		for _, n := range names {
			now[n] = true
		}
		var evs []Event
		kept := m.order[:0]
		for _, n := range m.order {
			if now[n] {
				kept = append(kept, n)
			} else {
				evs = append(evs, m.drop(n)...)
			}
		}
		m.order = kept
		for _, n := range names {
			if _, ok := m.known[n]; !ok {
				m.known[n] = &watched{}
				m.order = append(m.order, n)
				evs = append(evs, Event{Kind: ReaderAdded, Reader: n})
			}
		}
		return evs
	})
}

// loop waits for changes on one context until it fails or the run stops.
func (r *monitorRun) loop(sc *scard.Context) error {
	for {
		names, err := listReaders(sc)
		if err != nil {
			return err
		}
		if !r.sync(names) {
			return r.ctx.Err()
		}
		states := make([]scard.ReaderState, 0, len(names)+1)
		r.m.mu.Lock()
		for _, n := range names {
			states = append(states, scard.ReaderState{Reader: n, CurrentState: r.m.known[n].flags})
		}
		r.m.mu.Unlock()
		if len(states) < maxStates {
			states = append(states, scard.ReaderState{Reader: pnpNotification, CurrentState: r.pnp})
		}
		if len(states) > maxStates {
			states = states[:maxStates] // pcscd itself never has more
		}

		cancelled := make(chan struct{})
		stop := context.AfterFunc(r.ctx, func() {
			_ = sc.Cancel() // SCardCancel ends the wait (PC/SC Part 5 §3.1.3)
			close(cancelled)
		})
		err, yielded := gscGate.long(sc, states, watchWait)
		if !stop() {
			<-cancelled
		}
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		switch {
		case yielded, err == nil:
		case errors.Is(err, scard.ErrTimeout), errors.Is(err, scard.ErrCancelled):
			continue
		case errors.Is(err, scard.ErrUnknownReader), errors.Is(err, scard.ErrReaderUnavailable):
			continue // the reader list changed under us: list again
		default:
			return err
		}
		if yielded {
			continue
		}
		for _, st := range states {
			if st.Reader == pnpNotification {
				r.pnp = st.EventState &^ scard.StateChanged
				continue
			}
			if !r.update(func(m *monitor) []Event { return m.cardEvents(st) }) {
				return r.ctx.Err()
			}
		}
	}
}

// cardEvents turns one reader's new state into card events; m.mu is held.
// pcsc-lite keeps an event counter in the upper 16 bits of the state: a
// counter that moved by two or more while a card is present both times
// means it was removed and another inserted in between.
func (m *monitor) cardEvents(st scard.ReaderState) []Event {
	k := m.known[st.Reader]
	if k == nil || st.EventState&scard.StateChanged == 0 && k.seen {
		return nil
	}
	f := st.EventState &^ scard.StateChanged
	present := f&scard.StatePresent != 0
	count := uint16(f >> 16)
	swapped := k.seen && k.present && present && count-uint16(k.flags>>16) >= 2
	wasPresent := k.present
	k.flags, k.seen, k.present = f, true, present
	if present {
		k.atr = append([]byte(nil), st.Atr...)
	} else {
		k.atr = nil
	}
	atr := append([]byte(nil), k.atr...)
	switch {
	case swapped:
		return []Event{{Kind: CardRemoved, Reader: st.Reader}, {Kind: CardInserted, Reader: st.Reader, ATR: atr}}
	case present && !wasPresent:
		return []Event{{Kind: CardInserted, Reader: st.Reader, ATR: atr}}
	case !present && wasPresent:
		return []Event{{Kind: CardRemoved, Reader: st.Reader}}
	}
	return nil
}
