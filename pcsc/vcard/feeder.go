package vcard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Bay is one reader slot a Feeder fills: a vpcd reader (VPCDBay) or a rack
// reader (Rack.Bay).
type Bay interface {
	// Insert puts card into the reader. The channel is closed if the card
	// later leaves by itself (its Process returned ErrRemoved).
	Insert(card Card) (gone <-chan struct{}, err error)
	// Remove takes the current card out (no card: no-op).
	Remove() error
}

// VPCDBay is a vpcd reader at addr as a feeder bay (cards go in with Plug).
//
// A card plugged into a vpcd port within one presence poll of the previous
// card's removal can go unnoticed by pcscd (vpcd accepts the new connection
// in the same poll that drops the old one, and the reader seems never to
// have changed), so Insert waits until VPCDSwapGap has passed since the last
// Remove — and, with WhenFree, until the reader is known to be empty.
//
// When the reader's port refuses the card (pcscd is not running), Insert
// fails with an error wrapping ErrBayUnavailable; a Feeder then waits and
// tries again.
func VPCDBay(ctx context.Context, addr string, opts ...VPCDBayOption) Bay {
	b := &vpcdBay{ctx: ctx, addr: addr}
	for _, o := range opts {
		o(b)
	}
	return b
}

// VPCDBayOption configures a VPCDBay.
type VPCDBayOption func(*vpcdBay)

// WhenFree makes Insert wait, after VPCDSwapGap, until free returns: free
// returns nil once the reader is known to be empty — pcscd has seen the
// previous card leave (tests ask pcscd: package vcardtest). The swap gap
// alone is a guess at pcscd's polling; on a loaded machine pcscd can be
// later than that. An error from free ends the Insert with it (wrap
// ErrBayUnavailable for the Feeder to try again).
func WhenFree(free func(ctx context.Context) error) VPCDBayOption {
	return func(b *vpcdBay) { b.free = free }
}

// ErrBayUnavailable means that the bay's reader does not take a card now: a
// vpcd reader whose pcscd is not running (its port refuses connections).
// The Feeder waits and tries again (see Feeder).
var ErrBayUnavailable = errors.New("vcard: the reader does not take cards now (is pcscd running?)")

// VPCDSwapGap is the least time between taking a card out of a vpcd reader
// and putting another in: longer than vpcd's presence poll (0.4 s).
const VPCDSwapGap = 500 * time.Millisecond

type vpcdBay struct {
	ctx       context.Context
	addr      string
	free      func(context.Context) error
	mu        sync.Mutex
	slot      *Slot
	removedAt time.Time
}

func (b *vpcdBay) Insert(card Card) (<-chan struct{}, error) {
	b.mu.Lock()
	wait := time.Until(b.removedAt.Add(VPCDSwapGap))
	b.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-b.ctx.Done():
			t.Stop()
			return nil, b.ctx.Err()
		}
	}
	if b.free != nil {
		if err := b.free(b.ctx); err != nil {
			return nil, err
		}
	}
	s, err := Plug(b.ctx, b.addr, card)
	if err != nil {
		if b.ctx.Err() != nil {
			return nil, b.ctx.Err()
		}
		if dialRetryable(err) {
			return nil, fmt.Errorf("%w: %w", ErrBayUnavailable, err)
		}
		return nil, err
	}
	b.mu.Lock()
	b.slot = s
	b.mu.Unlock()
	return s.Gone(), nil
}

// dialRetryable tells a reader that is not there now (connection refused,
// reset, unreachable, timed out: pcscd stopped or restarting) from an
// address that can never work (no port, unknown host).
func dialRetryable(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTemporary || dnsErr.IsTimeout
	}
	var addrErr *net.AddrError
	if errors.As(err, &addrErr) {
		return false
	}
	var opErr *net.OpError
	return errors.As(err, &opErr)
}

func (b *vpcdBay) Remove() error {
	b.mu.Lock()
	s := b.slot
	b.slot = nil
	b.mu.Unlock()
	if s != nil {
		s.Remove()
		b.mu.Lock()
		b.removedAt = time.Now()
		b.mu.Unlock()
	}
	return nil
}

func (b *vpcdBay) String() string { return "vpcd reader " + b.addr }

// DefaultEjectGuard is the longest pause between a card's last APDU and a
// power-off that the Feeder takes as the station's own Close(UnpowerCard).
// pcscd powers an unused card off by itself no sooner than ≈0.4 s after the
// last connection ends (measured with pcsc-lite 1.9.9 and vpcd 0.8; see
// docs/pcsc.md), and after a client crash it resets the card first.
const DefaultEjectGuard = 200 * time.Millisecond

// Feeder presents blank cards in one bay, one after another, as a card
// feeder in front of a reader does. When the station is done with a written
// card and powers it off, the feeder saves it (as DIR/<serial>.json when a
// save directory is set), takes it out and inserts a new blank card.
//
// pcscd also powers cards off by itself: ≈0.4 s after the last client
// connection ends (LEAVE_CARD), and after a client dies (it resets the card
// first, then powers it off when idle). A half-written card left in the
// reader by a crashed station must not be carried away, so the feeder ejects
// only on a power-off that
//
//  1. follows an APDU directly — no power-on or reset in between — and
//  2. comes within the eject guard (DefaultEjectGuard) of that APDU's
//     answer, and
//  3. finds the card written (Persistent.Written).
//
// The station's Close(UnpowerCard) after its last APDU meets all three
// (SCardDisconnect with SCARD_UNPOWER_CARD powers off at once). pcscd's own
// power-offs meet neither of the first two: after a crash there is a reset
// in between, after an orderly LEAVE_CARD the pause is ≥ 0.4 s. A blank card
// is never ejected. The vpcd bridge resets (not powers off) a card whose
// link pcscd closed, for the same reason.
//
// A card that leaves by itself (a fault card whose Process returned
// ErrRemoved) is saved if written and replaced too. When Run ends, the card
// in the bay is taken out and saved if written: nothing written is lost.
//
// When the bay does not take a card (ErrBayUnavailable: pcscd is down, the
// vpcd port refuses connections), the feeder keeps the card, waits —
// InsertBackoffMin, doubling up to InsertBackoffMax — and tries again until
// the reader is back or Run's context ends; it logs a warning once per
// outage. A card already in a vpcd reader when pcscd goes away stays in:
// its Slot dials again by itself.
type Feeder struct {
	bay     Bay
	blank   func() (Persistent, error)
	saveDir string
	guard   time.Duration
	onEject func(Ejection)
	log     *slog.Logger

	mu      sync.Mutex
	current *fedCard
	count   int
}

// Ejection is one card the feeder took out.
type Ejection struct {
	Card   Persistent
	Serial string
	Path   string // where it was saved, "" without a save directory
	Reason string // "powered off", "left the reader", "feeder stopped"
	Err    error  // saving failed
}

// FeederOption configures a Feeder.
type FeederOption func(*Feeder)

// SaveDir saves each written card as DIR/<serial>.json (mode 0600: a
// personalized chip holds personal data).
func SaveDir(dir string) FeederOption { return func(f *Feeder) { f.saveDir = dir } }

// EjectGuard replaces DefaultEjectGuard.
func EjectGuard(d time.Duration) FeederOption { return func(f *Feeder) { f.guard = d } }

// OnEject is called, from the feeder's goroutine, after each card is taken
// out.
func OnEject(fn func(Ejection)) FeederOption { return func(f *Feeder) { f.onEject = fn } }

// FeederLog logs insertions and ejections (serials only).
func FeederLog(l *slog.Logger) FeederOption { return func(f *Feeder) { f.log = l } }

// NewFeeder returns a feeder for bay that takes blank cards from blank.
func NewFeeder(bay Bay, blank func() (Persistent, error), opts ...FeederOption) *Feeder {
	f := &Feeder{bay: bay, blank: blank, guard: DefaultEjectGuard}
	for _, o := range opts {
		o(f)
	}
	return f
}

// Current is the card in the bay now (nil between cards).
func (f *Feeder) Current() Persistent {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.current == nil {
		return nil
	}
	return f.current.Persistent
}

// Inserted counts the cards inserted so far.
func (f *Feeder) Inserted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

// Run feeds cards until ctx is done, then takes the last card out (saving
// it if written) and returns nil; it returns an error when a card cannot be
// made, or inserted for another reason than ErrBayUnavailable.
func (f *Feeder) Run(ctx context.Context) error {
	if f.saveDir != "" {
		if err := os.MkdirAll(f.saveDir, 0o700); err != nil {
			return fmt.Errorf("vcard: feeder: %w", err)
		}
	}
	for {
		p, err := f.blank()
		if err != nil {
			return fmt.Errorf("vcard: feeder: new blank card: %w", err)
		}
		c := &fedCard{Persistent: p, guard: f.guard, eject: make(chan struct{})}
		gone, err := f.insert(ctx, c)
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped before the card went in: a blank card, nothing to save
			}
			return fmt.Errorf("vcard: feeder: insert into %v: %w", f.bay, err)
		}
		f.mu.Lock()
		f.current = c
		f.count++
		f.mu.Unlock()
		f.logf("card inserted", "serial", p.Serial())
		var reason string
		select {
		case <-c.eject:
			reason = "powered off"
		case <-gone:
			reason = "left the reader"
		case <-ctx.Done():
			reason = "feeder stopped"
		}
		rerr := f.bay.Remove()
		f.mu.Lock()
		f.current = nil
		f.mu.Unlock()
		e := Ejection{Card: p, Serial: p.Serial(), Reason: reason}
		if p.Written() {
			e.Path, e.Err = f.save(p)
		}
		f.logf("card out", "serial", e.Serial, "reason", reason, "saved", e.Path)
		if f.onEject != nil {
			f.onEject(e)
		}
		if reason == "feeder stopped" {
			return errors.Join(rerr, e.Err)
		}
		if rerr != nil {
			return fmt.Errorf("vcard: feeder: remove from %v: %w", f.bay, rerr)
		}
	}
}

// Retry pace of an insertion the bay refused with ErrBayUnavailable.
const (
	InsertBackoffMin = 100 * time.Millisecond
	InsertBackoffMax = 2 * time.Second
)

// insert puts c into the bay. While the bay is unavailable it waits and
// tries again (InsertBackoffMin doubling to InsertBackoffMax), warning once
// per outage; it gives up only when ctx ends or the bay fails otherwise.
func (f *Feeder) insert(ctx context.Context, c *fedCard) (<-chan struct{}, error) {
	backoff := InsertBackoffMin
	var since time.Time
	for {
		gone, err := f.bay.Insert(c)
		if err == nil {
			if !since.IsZero() {
				f.logf("reader back", "bay", fmt.Sprint(f.bay), "after", time.Since(since).Round(time.Millisecond))
			}
			return gone, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, ErrBayUnavailable) {
			return nil, err
		}
		if since.IsZero() {
			since = time.Now()
			if f.log != nil {
				f.log.Warn("feeder: the reader does not take cards; retrying until it does", "bay", fmt.Sprint(f.bay), "err", err)
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, InsertBackoffMax)
	}
}

func (f *Feeder) logf(msg string, args ...any) {
	if f.log != nil {
		f.log.Info("feeder: "+msg, args...)
	}
}

// save writes the card's persistent state to DIR/<serial>.json, atomically.
func (f *Feeder) save(p Persistent) (string, error) {
	if f.saveDir == "" {
		return "", nil
	}
	b, err := p.MarshalJSON()
	if err != nil {
		return "", fmt.Errorf("vcard: feeder: save card %s: %w", p.Serial(), err)
	}
	path := filepath.Join(f.saveDir, p.Serial()+".json")
	tmp, err := os.CreateTemp(f.saveDir, ".card-*.json")
	if err != nil {
		return "", fmt.Errorf("vcard: feeder: save card %s: %w", p.Serial(), err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("vcard: feeder: save card %s: %w", p.Serial(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("vcard: feeder: save card %s: %w", p.Serial(), err)
	}
	return path, nil
}

// fedCard watches the reader's calls into one card for the eject rule.
type fedCard struct {
	Persistent
	guard time.Duration

	mu       sync.Mutex
	lastAPDU time.Time // when the last Process returned
	afterAPD bool      // no power-on or reset since that APDU
	eject    chan struct{}
	ejected  bool
}

func (c *fedCard) Process(cmd []byte) ([]byte, error) {
	rsp, err := c.Persistent.Process(cmd)
	c.mu.Lock()
	c.lastAPDU, c.afterAPD = time.Now(), true
	c.mu.Unlock()
	return rsp, err
}

func (c *fedCard) PowerOn() {
	c.Persistent.PowerOn()
	c.mu.Lock()
	c.afterAPD = false
	c.mu.Unlock()
}

func (c *fedCard) Reset() {
	c.Persistent.Reset()
	c.mu.Lock()
	c.afterAPD = false
	c.mu.Unlock()
}

func (c *fedCard) PowerOff() {
	c.Persistent.PowerOff()
	c.mu.Lock()
	defer c.mu.Unlock()
	station := c.afterAPD && time.Since(c.lastAPDU) <= c.guard
	c.afterAPD = false
	if station && !c.ejected && c.Persistent.Written() {
		c.ejected = true
		close(c.eject)
	}
}
