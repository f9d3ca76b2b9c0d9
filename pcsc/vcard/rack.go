package vcard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cccd-station/station/pcsc"
)

// Rack is a set of in-process virtual readers implementing pcsc.Readers,
// for unit tests and the demo without pcscd. It behaves as pcscd with vpcd
// readers does, as far as the station can see (the conformance tests run the
// same suite over both):
//
//   - Watch starts with ReaderAdded and CardInserted for the current state,
//     then reports changes;
//   - Connect is exclusive: a second Connect fails with
//     pcsc.ErrSharingViolation until the first connection is closed; an
//     empty reader gives pcsc.ErrNoCard, an unknown one pcsc.ErrReaderGone;
//     a card that is not powered is powered on;
//   - a card removed (Remove, or its Process returning ErrRemoved) makes the
//     connection's calls fail with pcsc.ErrCardRemoved, also after another
//     card is inserted;
//   - Conn.Reset calls card.Reset; Close(ResetCard) too; Close(UnpowerCard)
//     calls card.PowerOff; Close(LeaveCard) and Close(EjectCard) leave the
//     card as it is (pcscd with vpcd cannot eject).
//
// Not modelled: pcscd's own power-off of an idle card (≈0.4 s after the last
// connection ends) and the ≈0.4 s presence polling delay.
type Rack struct {
	mu       sync.Mutex
	readers  map[string]*rackSlot
	order    []string
	watchers map[*rackWatch]struct{}
}

var (
	_ pcsc.Readers = (*Rack)(nil)
	_ pcsc.Conn    = (*rackConn)(nil)
	_ Bay          = (*rackBay)(nil)
	_ Bay          = (*vpcdBay)(nil)
)

type rackSlot struct {
	name    string
	io      sync.Mutex // serialises calls into the card
	card    Card
	gen     uint64 // changes at every insertion and removal
	powered bool
	held    *rackConn
	gone    chan struct{} // closed when the card leaves by itself
}

// NewRack returns a rack with the named readers, all empty.
func NewRack(names ...string) *Rack {
	r := &Rack{readers: map[string]*rackSlot{}, watchers: map[*rackWatch]struct{}{}}
	for _, n := range names {
		r.AddReader(n)
	}
	return r
}

// AddReader plugs a reader in (ReaderAdded). Adding a name twice is a no-op.
func (r *Rack) AddReader(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.readers[name]; ok {
		return
	}
	r.readers[name] = &rackSlot{name: name}
	r.order = append(r.order, name)
	r.broadcast(pcsc.Event{Kind: pcsc.ReaderAdded, Reader: name})
}

// RemoveReader unplugs a reader with whatever card it holds (CardRemoved,
// ReaderRemoved).
func (r *Rack) RemoveReader(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.readers[name]
	if !ok {
		return
	}
	if s.card != nil {
		r.takeOut(s, false)
	}
	delete(r.readers, name)
	for i, n := range r.order {
		if n == name {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
	r.broadcast(pcsc.Event{Kind: pcsc.ReaderRemoved, Reader: name})
}

// Insert puts card into the reader (CardInserted).
func (r *Rack) Insert(reader string, card Card) error {
	_, err := r.insert(reader, card)
	return err
}

func (r *Rack) insert(reader string, card Card) (<-chan struct{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.readers[reader]
	if !ok {
		return nil, &pcsc.OpError{Op: "insert", Reader: reader, Err: pcsc.ErrReaderGone}
	}
	if s.card != nil {
		return nil, &pcsc.OpError{Op: "insert", Reader: reader, Err: errors.New("reader already holds a card")}
	}
	s.card, s.gen, s.powered, s.gone = card, s.gen+1, false, make(chan struct{})
	r.broadcast(pcsc.Event{Kind: pcsc.CardInserted, Reader: reader, ATR: append([]byte(nil), card.ATR()...)})
	return s.gone, nil
}

// Remove takes the card out of the reader (CardRemoved) and returns it.
func (r *Rack) Remove(reader string) (Card, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.readers[reader]
	if !ok {
		return nil, &pcsc.OpError{Op: "remove", Reader: reader, Err: pcsc.ErrReaderGone}
	}
	if s.card == nil {
		return nil, &pcsc.OpError{Op: "remove", Reader: reader, Err: pcsc.ErrNoCard}
	}
	return r.takeOut(s, false), nil
}

// takeOut empties the slot; r.mu is held.
func (r *Rack) takeOut(s *rackSlot, byItself bool) Card {
	c := s.card
	s.card, s.gen, s.powered = nil, s.gen+1, false
	if byItself {
		close(s.gone)
	}
	r.broadcast(pcsc.Event{Kind: pcsc.CardRemoved, Reader: s.name})
	return c
}

// List returns the readers in the order they were added.
func (r *Rack) List() ([]pcsc.ReaderState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]pcsc.ReaderState, 0, len(r.order))
	for _, n := range r.order {
		out = append(out, r.readers[n].state())
	}
	return out, nil
}

func (s *rackSlot) state() pcsc.ReaderState {
	st := pcsc.ReaderState{Name: s.name, Present: s.card != nil, InUse: s.held != nil}
	if s.card != nil {
		st.ATR = append([]byte(nil), s.card.ATR()...)
	}
	return st
}

// Connect connects exclusively to the card in the reader.
func (r *Rack) Connect(reader string) (pcsc.Conn, error) {
	r.mu.Lock()
	s, ok := r.readers[reader]
	switch {
	case !ok:
		r.mu.Unlock()
		return nil, &pcsc.OpError{Op: "connect", Reader: reader, Err: pcsc.ErrReaderGone}
	case s.card == nil:
		r.mu.Unlock()
		return nil, &pcsc.OpError{Op: "connect", Reader: reader, Err: pcsc.ErrNoCard}
	case s.held != nil:
		r.mu.Unlock()
		return nil, &pcsc.OpError{Op: "connect", Reader: reader, Err: pcsc.ErrSharingViolation}
	}
	c := &rackConn{rack: r, slot: s, card: s.card, gen: s.gen, atr: append([]byte(nil), s.card.ATR()...)}
	s.held = c
	powerOn := !s.powered
	s.powered = true
	r.mu.Unlock()
	if powerOn {
		s.io.Lock()
		c.card.PowerOn()
		s.io.Unlock()
	}
	return c, nil
}

// rackConn is a connection to a card in a Rack.
type rackConn struct {
	rack   *Rack
	slot   *rackSlot
	card   Card
	gen    uint64
	atr    []byte
	closed bool
}

func (c *rackConn) Reader() string { return c.slot.name }

func (c *rackConn) ATR() []byte { return c.atr }

// check reports why the connection cannot be used; r.mu is held.
func (c *rackConn) check(op string) error {
	switch {
	case c.closed:
		return &pcsc.OpError{Op: op, Reader: c.slot.name, Err: pcsc.ErrClosed}
	case c.slot.gen != c.gen:
		return &pcsc.OpError{Op: op, Reader: c.slot.name, Err: pcsc.ErrCardRemoved}
	}
	return nil
}

func (c *rackConn) Exchange(cmd []byte) ([]byte, error) {
	if len(cmd) < 4 {
		return nil, &pcsc.OpError{Op: "transmit", Reader: c.slot.name, Err: pcsc.ErrBadCommand}
	}
	r := c.rack
	r.mu.Lock()
	err := c.check("transmit")
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	c.slot.io.Lock()
	rsp, perr := c.card.Process(cmd)
	c.slot.io.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if errors.Is(perr, ErrRemoved) {
		if c.slot.gen == c.gen {
			r.takeOut(c.slot, true)
		}
		return nil, &pcsc.OpError{Op: "transmit", Reader: c.slot.name, Err: pcsc.ErrCardRemoved}
	}
	if err := c.check("transmit"); err != nil {
		return nil, err
	}
	if perr != nil || len(rsp) < 2 {
		return []byte{0x6F, 0x00}, nil // what the vpcd bridge answers for a card's error
	}
	return append([]byte(nil), rsp...), nil
}

func (c *rackConn) Reset() error {
	r := c.rack
	r.mu.Lock()
	err := c.check("reset")
	r.mu.Unlock()
	if err != nil {
		return err
	}
	c.slot.io.Lock()
	c.card.Reset()
	c.slot.io.Unlock()
	return nil
}

func (c *rackConn) Close(d pcsc.Disposition) error {
	r := c.rack
	r.mu.Lock()
	if c.closed {
		r.mu.Unlock()
		return nil
	}
	c.closed = true
	if c.slot.held == c {
		c.slot.held = nil
	}
	same := c.slot.gen == c.gen
	if same && d == pcsc.UnpowerCard {
		c.slot.powered = false
	}
	r.mu.Unlock()
	if !same {
		return nil // the card is gone; pcscd's SCardDisconnect succeeds then too
	}
	c.slot.io.Lock()
	defer c.slot.io.Unlock()
	switch d {
	case pcsc.ResetCard:
		c.card.Reset()
	case pcsc.UnpowerCard:
		c.card.PowerOff()
	}
	return nil
}

// Watch reports changes until ctx is done.
func (r *Rack) Watch(ctx context.Context) (<-chan pcsc.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &rackWatch{wake: make(chan struct{}, 1)}
	out := make(chan pcsc.Event)
	r.mu.Lock()
	for _, n := range r.order {
		s := r.readers[n]
		w.push(pcsc.Event{Kind: pcsc.ReaderAdded, Reader: n, At: time.Now()})
		if s.card != nil {
			w.push(pcsc.Event{Kind: pcsc.CardInserted, Reader: n, ATR: append([]byte(nil), s.card.ATR()...), At: time.Now()})
		}
	}
	r.watchers[w] = struct{}{}
	r.mu.Unlock()
	go func() {
		defer close(out)
		defer func() {
			r.mu.Lock()
			delete(r.watchers, w)
			r.mu.Unlock()
		}()
		for {
			for _, e := range w.take() {
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-w.wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// rackWatch queues events without bound so that the rack never blocks on a
// slow watcher.
type rackWatch struct {
	mu    sync.Mutex
	queue []pcsc.Event
	wake  chan struct{}
}

func (w *rackWatch) push(e pcsc.Event) {
	w.mu.Lock()
	w.queue = append(w.queue, e)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *rackWatch) take() []pcsc.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue
	w.queue = nil
	return q
}

// broadcast queues e for every watcher; r.mu is held.
func (r *Rack) broadcast(e pcsc.Event) {
	e.At = time.Now()
	for w := range r.watchers {
		w.push(e)
	}
}

// Bay is the rack's reader as a feeder bay.
func (r *Rack) Bay(reader string) Bay { return &rackBay{rack: r, reader: reader} }

type rackBay struct {
	rack   *Rack
	reader string
}

func (b *rackBay) Insert(card Card) (<-chan struct{}, error) { return b.rack.insert(b.reader, card) }

func (b *rackBay) Remove() error {
	_, err := b.rack.Remove(b.reader)
	if errors.Is(err, pcsc.ErrNoCard) {
		return nil
	}
	return err
}

func (b *rackBay) String() string { return fmt.Sprintf("rack reader %q", b.reader) }
