package vcard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// The vpcd wire protocol (vsmartcard's virtual PCD, as Debian's
// vsmartcard-vpcd 0.8 driver speaks it; see test-stack.md): the card side
// connects to the reader's TCP port; every message either way is a 2-byte
// big-endian length and that many bytes. From the reader, a 1-byte message
// is a control code, anything longer a command APDU answered by the
// response APDU.
const (
	vpcdPowerOff = 0x00
	vpcdPowerOn  = 0x01
	vpcdReset    = 0x02
	vpcdGetATR   = 0x04 // answered with the ATR; also the reader's presence poll (every ~0.4 s)
)

// Slot is one card plugged into a vpcd reader. The connection is the card's
// presence: connecting inserts it, closing removes it.
//
// When the reader closes the connection (pcscd stopped or restarted), the
// card is reset — its volatile state is lost, as at a power loss — and the
// slot dials again with backoff until the reader is back: the card is
// inserted again. The bridge resets rather than powers the card off on link
// loss so that a Feeder never mistakes pcscd going away for the station
// powering a finished card off.
type Slot struct {
	addr   string
	card   Card
	cancel context.CancelFunc
	ctx    context.Context
	done   chan struct{}

	mu   sync.Mutex
	conn *net.TCPConn
	err  error
	gone chan struct{} // closed when the card leaves by itself (ErrRemoved)
}

// ErrSlotClosed is the slot's Err after Remove.
var ErrSlotClosed = errors.New("vcard: card removed from the slot")

const (
	dialTimeout      = 2 * time.Second
	redialBackoffMin = 20 * time.Millisecond
	redialBackoffMax = 500 * time.Millisecond
)

// Plug connects card to the vpcd reader listening on addr (host:port) and
// serves it until Remove, ctx is done, or the card's Process returns
// ErrRemoved. It returns once the connection is made; vpcd notices the card
// at its next presence poll (≤ 0.4 s).
func Plug(ctx context.Context, addr string, card Card) (*Slot, error) {
	conn, err := dialVPCD(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("vcard: plug into vpcd %s: %w", addr, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &Slot{addr: addr, card: card, ctx: sctx, cancel: cancel, done: make(chan struct{}), conn: conn, gone: make(chan struct{})}
	context.AfterFunc(sctx, func() { // unblock the serving goroutine's read
		s.mu.Lock()
		if s.conn != nil {
			_ = s.conn.Close()
		}
		s.mu.Unlock()
	})
	go s.run(conn)
	return s, nil
}

func dialVPCD(ctx context.Context, addr string) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	// Nagle off and delayed ACKs off: vpcd 0.8 writes a message in two
	// pieces; with Nagle and delayed ACK every APDU stalls 40+ ms
	// (test-stack.md).
	_ = tc.SetNoDelay(true)
	quickAck(tc)
	return tc, nil
}

// Addr is the reader's host:port.
func (s *Slot) Addr() string { return s.addr }

// Card is the card in the slot.
func (s *Slot) Card() Card { return s.card }

// Done is closed when the slot has ended.
func (s *Slot) Done() <-chan struct{} { return s.done }

// Gone is closed when the card left the reader by itself (Process returned
// ErrRemoved), not by Remove.
func (s *Slot) Gone() <-chan struct{} { return s.gone }

// Err says why the slot ended: ErrRemoved (the card left by itself),
// ErrSlotClosed (Remove), or the context's error. Nil while it runs.
func (s *Slot) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Remove takes the card out: the connection is closed and the slot ends.
// It waits for the serving goroutine.
func (s *Slot) Remove() {
	s.end(ErrSlotClosed)
	<-s.done
}

func (s *Slot) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		if errors.Is(err, ErrRemoved) {
			close(s.gone)
		}
	}
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.mu.Unlock()
	s.cancel()
}

func (s *Slot) run(conn *net.TCPConn) {
	defer close(s.done)
	backoff := redialBackoffMin
	for {
		err := serveVPCD(conn, s.card)
		_ = conn.Close()
		if errors.Is(err, ErrRemoved) {
			s.end(ErrRemoved)
			return
		}
		if s.ctx.Err() != nil {
			s.end(s.ctx.Err())
			return
		}
		// The reader closed the link: pcscd stopped. The card loses its
		// volatile state; dial again until the reader is back.
		s.card.Reset()
		for {
			t := time.NewTimer(backoff)
			select {
			case <-s.ctx.Done():
				t.Stop()
				s.end(s.ctx.Err())
				return
			case <-t.C:
			}
			c, derr := dialVPCD(s.ctx, s.addr)
			if derr == nil {
				conn, backoff = c, redialBackoffMin
				break
			}
			backoff = min(2*backoff, redialBackoffMax)
		}
		s.mu.Lock()
		if s.err != nil { // removed meanwhile
			s.mu.Unlock()
			_ = conn.Close()
			return
		}
		s.conn = conn
		s.mu.Unlock()
	}
}

// serveVPCD answers the reader until the connection ends (io.EOF or a net
// error) or the card leaves (ErrRemoved).
func serveVPCD(conn *net.TCPConn, card Card) error {
	var hdr [2]byte
	buf := make([]byte, 0, 512)
	out := make([]byte, 0, 512)
	for {
		quickAck(conn)
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return err
		}
		quickAck(conn) // vpcd sends length and body separately: ACK the length now
		n := int(binary.BigEndian.Uint16(hdr[:]))
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		msg := buf[:n]
		if _, err := io.ReadFull(conn, msg); err != nil {
			return err
		}
		quickAck(conn)
		var rsp []byte
		switch {
		case n == 0:
			continue
		case n == 1:
			switch msg[0] {
			case vpcdPowerOff:
				card.PowerOff()
			case vpcdPowerOn:
				card.PowerOn()
			case vpcdReset:
				card.Reset()
			case vpcdGetATR:
				rsp = card.ATR()
			}
			if rsp == nil {
				continue // control messages other than GET ATR get no answer
			}
		default:
			r, err := card.Process(msg)
			if errors.Is(err, ErrRemoved) {
				return ErrRemoved // no answer: the reader sees the card gone
			}
			if err != nil || len(r) < 2 {
				r = []byte{0x6F, 0x00} // ISO/IEC 7816-4 §5.6: no precise diagnosis
			}
			rsp = r
		}
		out = binary.BigEndian.AppendUint16(out[:0], uint16(len(rsp)))
		out = append(out, rsp...)
		if _, err := conn.Write(out); err != nil {
			return err
		}
	}
}
