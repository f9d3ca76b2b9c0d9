package pcsc

import (
	"errors"
	"sync"
	"time"

	"github.com/ebfe/scard"
)

// System is the Readers implementation over the system's pcscd, through
// github.com/ebfe/scard and libpcsclite.
//
// PC/SC contexts (PC/SC Part 5 §3.1.1 SCardEstablishContext) are per use:
//
//   - List uses one context of the System, behind a mutex, re-established
//     when pcscd was restarted;
//   - Watch subscribes to the process's one status monitor, a goroutine
//     with a context of its own (watch.go);
//   - each Conn has its own context. pcsc-lite serialises all calls made
//     through one context, so separate contexts let readers work in
//     parallel. A Conn must be used from one goroutine: the station's reader
//     worker is that goroutine.
//
// libpcsclite finds pcscd's socket from PCSCLITE_CSOCK_NAME (default
// /run/pcscd/pcscd.comm) the first time it is used and caches it for the
// life of the process: set the variable before the first call.
type System struct {
	mu     sync.Mutex
	ctx    *scard.Context
	closed bool
}

var (
	_ Readers   = (*System)(nil)
	_ Conn      = (*sysConn)(nil)
	_ Transport = (*Card)(nil)
)

// Open connects to pcscd. When pcscd is not running it fails with an error
// wrapping ErrNoService.
func Open() (*System, error) {
	ctx, err := scard.EstablishContext()
	if err != nil {
		return nil, wrapSCard("open", "", err)
	}
	return &System{ctx: ctx}, nil
}

// Close releases the System's own context. Conns and Watches are not
// affected: close or cancel them separately.
func (s *System) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.ctx == nil {
		return nil
	}
	err := s.ctx.Release()
	s.ctx = nil
	if err != nil && !serviceGone(err) {
		return wrapSCard("close", "", err)
	}
	return nil
}

// withContext runs f with the System's context, establishing a new one when
// pcscd was restarted since the last call (old contexts are dead then).
func (s *System) withContext(f func(*scard.Context) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if s.ctx == nil {
			if s.ctx, err = scard.EstablishContext(); err != nil {
				s.ctx = nil
				return err
			}
		}
		if err = f(s.ctx); err == nil || !serviceGone(err) {
			return err
		}
		_ = s.ctx.Release()
		s.ctx = nil
	}
	return err
}

// listReaders is SCardListReaders, with "no readers" as an empty list.
func listReaders(ctx *scard.Context) ([]string, error) {
	names, err := ctx.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return nil, nil
	}
	return names, err
}

// List returns the readers pcscd knows now, with their card state.
func (s *System) List() ([]ReaderState, error) {
	var out []ReaderState
	err := s.withContext(func(ctx *scard.Context) error {
		for try := 0; ; try++ {
			names, err := listReaders(ctx)
			if err != nil || len(names) == 0 {
				out = nil
				return err
			}
			states := make([]scard.ReaderState, len(names))
			for i, n := range names {
				states[i] = scard.ReaderState{Reader: n, CurrentState: scard.StateUnaware}
			}
			// SCARD_STATE_UNAWARE: returns at once with the current state
			// (PC/SC Part 5 §3.1.3 SCardGetStatusChange).
			err = statusNow(ctx, states)
			if (errors.Is(err, scard.ErrUnknownReader) || errors.Is(err, scard.ErrReaderUnavailable)) && try < 3 {
				continue // a reader left between the two calls
			}
			if err != nil && !errors.Is(err, scard.ErrTimeout) {
				return err
			}
			out = make([]ReaderState, len(states))
			for i, st := range states {
				out[i] = readerState(st)
			}
			return nil
		}
	})
	if err != nil {
		return nil, wrapSCard("list readers", "", err)
	}
	return out, nil
}

func readerState(st scard.ReaderState) ReaderState {
	f := st.EventState
	rs := ReaderState{
		Name:    st.Reader,
		Present: f&scard.StatePresent != 0,
		InUse:   f&(scard.StateExclusive|scard.StateInuse) != 0,
		Mute:    f&scard.StateMute != 0,
	}
	if rs.Present && len(st.Atr) > 0 {
		rs.ATR = append([]byte(nil), st.Atr...)
	}
	return rs
}

// Connect connects exclusively to the card in the reader, T=1 or T=0
// (SCardConnect with SCARD_SHARE_EXCLUSIVE), on a PC/SC context of its own.
// Errors wrap ErrNoCard, ErrSharingViolation, ErrReaderGone, ErrCardMute,
// ErrNoService.
func (s *System) Connect(reader string) (Conn, error) {
	ctx, err := scard.EstablishContext()
	if err != nil {
		return nil, wrapSCard("connect", reader, err)
	}
	card, err := ctx.Connect(reader, scard.ShareExclusive, scard.ProtocolT1|scard.ProtocolT0)
	if err != nil {
		_ = ctx.Release()
		return nil, wrapSCard("connect", reader, err)
	}
	st, err := card.Status()
	if err != nil {
		_ = card.Disconnect(scard.LeaveCard)
		_ = ctx.Release()
		return nil, wrapSCard("connect", reader, err)
	}
	return &sysConn{reader: reader, ctx: ctx, card: card, atr: append([]byte(nil), st.Atr...)}, nil
}

// sysConn is a Conn over pcscd. The mutex only keeps misuse from two
// goroutines from reaching libpcsclite at once; it is not a licence to
// share.
type sysConn struct {
	mu     sync.Mutex
	reader string
	ctx    *scard.Context
	card   *scard.Card
	atr    []byte
	closed bool
}

func (c *sysConn) Reader() string { return c.reader }

func (c *sysConn) ATR() []byte { return c.atr }

// Exchange is SCardTransmit (PC/SC Part 5 §3.1.6), one APDU, no status word
// handling.
func (c *sysConn) Exchange(cmd []byte) ([]byte, error) {
	if len(cmd) < 4 {
		return nil, &OpError{Op: "transmit", Reader: c.reader, Err: ErrBadCommand}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, &OpError{Op: "transmit", Reader: c.reader, Err: ErrClosed}
	}
	rsp, err := c.card.Transmit(cmd)
	if err == nil && len(rsp) < 2 {
		err = scard.ErrNotTransacted // the driver returned nothing: the card left mid-command (vpcd)
	}
	if errors.Is(err, scard.ErrNotTransacted) {
		err = c.settle(err)
	}
	if err != nil {
		return nil, wrapSCard("transmit", c.reader, err)
	}
	return rsp, nil
}

// settleWait bounds how long a failed exchange waits for pcscd to notice a
// card that left: readers without card-movement interrupts are polled, vpcd
// every 0.4 s.
const settleWait = 600 * time.Millisecond

// settle tells a card that left (SCARD_W_REMOVED_CARD) from one that does
// not answer, after an exchange failed with SCARD_E_NOT_TRANSACTED: the
// driver knows the exchange broke before pcscd's presence poll knows why. It
// polls SCardStatus (≤ settleWait); a removed card gives
// SCARD_W_REMOVED_CARD, otherwise the original error stands (ErrCardMute).
// (No SCardGetStatusChange here: see gate.)
func (c *sysConn) settle(err error) error {
	deadline := time.Now().Add(settleWait)
	for {
		_, serr := c.card.Status()
		switch {
		case errors.Is(serr, scard.ErrRemovedCard), errors.Is(serr, scard.ErrNoSmartcard):
			return scard.ErrRemovedCard
		case serr != nil && serviceGone(serr):
			return serr
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Reset is SCardReconnect with SCARD_RESET_CARD: a warm reset, the
// connection kept.
func (c *sysConn) Reset() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return &OpError{Op: "reset", Reader: c.reader, Err: ErrClosed}
	}
	if err := c.card.Reconnect(scard.ShareExclusive, scard.ProtocolT1|scard.ProtocolT0, scard.ResetCard); err != nil {
		return wrapSCard("reset", c.reader, err)
	}
	if st, err := c.card.Status(); err == nil {
		c.atr = append([]byte(nil), st.Atr...)
	}
	return nil
}

var dispositions = map[Disposition]scard.Disposition{
	LeaveCard:   scard.LeaveCard,
	ResetCard:   scard.ResetCard,
	UnpowerCard: scard.UnpowerCard,
	EjectCard:   scard.EjectCard,
}

// Close is SCardDisconnect with the disposition, then the context is
// released. Closing twice is a no-op.
func (c *sysConn) Close(d Disposition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	disp, ok := dispositions[d]
	if !ok {
		disp = scard.LeaveCard
	}
	err := c.card.Disconnect(disp)
	_ = c.ctx.Release()
	if err != nil {
		return wrapSCard("disconnect", c.reader, err)
	}
	return nil
}
