package pcsc

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Card is a connection with the ISO/IEC 7816-4 transmit rules, applied once,
// here, for every caller:
//
//   - 61xx: GET RESPONSE (00 C0 00 00 xx) repeated, the data concatenated
//     (§5.3.4, §11.4.2 [7816-4:2020]);
//   - 6Cxx: the command re-sent once with Le = xx (§5.6, Table 6);
//   - extended Lc/Le only when the card declares them (ATR card
//     capabilities §8.1.1.2.7, or WithExtendedLength): a command that needs
//     them on a card that does not is refused with ErrExtendedLength and
//     never sent;
//   - command chaining (CLA b5, §5.4.1) when asked for (TransmitChained).
//
// Card implements Transport. Like the Conn under it, a Card must be used by
// one goroutine at a time: the station's reader worker owns it. Counters may
// be read from any goroutine.
type Card struct {
	conn     Conn
	reader   string
	atr      []byte
	info     ATRInfo
	extended bool
	trace    *Trace

	apdus    atomic.Uint64
	bytesOut atomic.Uint64
	bytesIn  atomic.Uint64
	nanos    atomic.Int64
}

// CardOption configures a Card.
type CardOption func(*Card)

// WithExtendedLength overrides what the ATR declares about extended Lc/Le.
func WithExtendedLength(ok bool) CardOption {
	return func(c *Card) { c.extended = ok }
}

// WithTrace records every exchange in t.
func WithTrace(t *Trace) CardOption { return func(c *Card) { c.trace = t } }

// WithReaderName names the reader in traces (the default is the Conn's
// Reader(), when it has one).
func WithReaderName(name string) CardOption { return func(c *Card) { c.reader = name } }

// NewCard wraps a connection. Extended length is taken from the ATR's card
// capabilities unless WithExtendedLength says otherwise; an ATR that does not
// parse declares nothing.
func NewCard(conn Conn, opts ...CardOption) *Card {
	c := &Card{conn: conn, atr: conn.ATR()}
	if r, ok := conn.(interface{ Reader() string }); ok {
		c.reader = r.Reader()
	}
	if info, err := ParseATR(c.atr); err == nil {
		c.info = info
		c.extended = info.ExtendedLength
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// ATR is the card's answer-to-reset.
func (c *Card) ATR() []byte { return c.atr }

// ATRInfo is the parsed ATR (zero when it did not parse).
func (c *Card) ATRInfo() ATRInfo { return c.info }

// ExtendedLength reports whether extended Lc/Le are used with this card.
func (c *Card) ExtendedLength() bool { return c.extended }

// Reader is the reader's name, when known.
func (c *Card) Reader() string { return c.reader }

// Conn is the raw connection under the card.
func (c *Card) Conn() Conn { return c.conn }

// Counters are a Card's totals since NewCard: raw exchanges (GET RESPONSE
// and re-sends count), bytes each way on the wire, time spent in Exchange.
type Counters struct {
	APDUs    uint64
	BytesOut uint64
	BytesIn  uint64
	Time     time.Duration
}

// Counters returns the totals so far; safe from any goroutine.
func (c *Card) Counters() Counters {
	return Counters{
		APDUs:    c.apdus.Load(),
		BytesOut: c.bytesOut.Load(),
		BytesIn:  c.bytesIn.Load(),
		Time:     time.Duration(c.nanos.Load()),
	}
}

// Reset warm-resets the card (Conn.Reset).
func (c *Card) Reset() error { return c.conn.Reset() }

// Close ends the connection (Conn.Close).
func (c *Card) Close(d Disposition) error { return c.conn.Close(d) }

// maxGetResponse bounds a 61xx chain: 65536 bytes in 256-byte pieces, and a
// little more.
const maxGetResponse = 300

// Transmit sends one command APDU and returns the complete response APDU
// (data ‖ SW1 SW2) after the transmit rules. A status word other than 9000
// is not an error here (see Do).
func (c *Card) Transmit(apdu []byte) ([]byte, error) {
	cmd, ext, err := ParseCommand(apdu)
	if err != nil {
		return nil, err
	}
	wire := apdu
	switch {
	case ext && !c.extended && !cmd.NeedsExtended():
		// Extended encoding of a command that fits short form: re-encode.
		if wire, err = cmd.EncodeShort(); err != nil {
			return nil, err
		}
	case ext && !c.extended, !ext && cmd.NeedsExtended():
		return nil, c.refuse(cmd)
	}
	return c.transmit(cmd, wire, ext)
}

// Send encodes cmd (short form when it fits, extended form when the card
// declares it) and transmits it.
func (c *Card) Send(cmd Command) ([]byte, error) {
	if err := cmd.check(); err != nil {
		return nil, err
	}
	if cmd.NeedsExtended() {
		if !c.extended {
			return nil, c.refuse(cmd)
		}
		wire, err := cmd.EncodeExtended()
		if err != nil {
			return nil, err
		}
		return c.transmit(cmd, wire, true)
	}
	wire, err := cmd.EncodeShort()
	if err != nil {
		return nil, err
	}
	return c.transmit(cmd, wire, false)
}

func (c *Card) refuse(cmd Command) error {
	return &OpError{Op: "transmit", Reader: c.reader, Err: fmt.Errorf("INS %02X Nc=%d Ne=%d: %w", cmd.INS, len(cmd.Data), cmd.Ne, ErrExtendedLength)}
}

// TransmitChained sends a command whose data may exceed 255 bytes as a chain
// of short commands (ISO/IEC 7816-4 §5.4.1: CLA b5 = 1 on every link but the
// last): links of at most 255 data bytes, Le only on the last. A link
// answered with anything but 9000 ends the chain and that response is
// returned. Commands that fit one link are sent as they are.
func (c *Card) TransmitChained(apdu []byte) ([]byte, error) {
	cmd, _, err := ParseCommand(apdu)
	if err != nil {
		return nil, err
	}
	if len(cmd.Data) <= MaxShortNc {
		return c.Send(cmd)
	}
	if cmd.CLA&0x80 == 0 && cmd.CLA&0x40 != 0 {
		// Further interindustry class: b5 is part of the channel number
		// there; chaining uses the same bit only in the first class and
		// in proprietary classes that follow it.
		return nil, fmt.Errorf("%w: CLA %02X cannot carry the chaining bit", ErrBadCommand, cmd.CLA)
	}
	data := cmd.Data
	for len(data) > MaxShortNc {
		link := Command{CLA: cmd.CLA | 0x10, INS: cmd.INS, P1: cmd.P1, P2: cmd.P2, Data: data[:MaxShortNc]}
		wire, err := link.EncodeShort()
		if err != nil {
			return nil, err
		}
		rsp, err := c.transmit(link, wire, false)
		if err != nil {
			return nil, err
		}
		if _, sw, err := SplitResponse(rsp); err != nil || sw != 0x9000 {
			return rsp, err
		}
		data = data[MaxShortNc:]
	}
	last := Command{CLA: cmd.CLA, INS: cmd.INS, P1: cmd.P1, P2: cmd.P2, Data: data, Ne: cmd.Ne}
	if last.NeedsExtended() && !c.extended {
		return nil, c.refuse(last)
	}
	return c.Send(last)
}

// transmit applies 6Cxx and 61xx to one command.
func (c *Card) transmit(cmd Command, wire []byte, ext bool) ([]byte, error) {
	origin := wire
	rsp, err := c.exchange(origin, wire)
	if err != nil {
		return nil, err
	}
	data, sw, err := SplitResponse(rsp)
	if err != nil {
		return nil, c.badResponse(err)
	}
	// 6Cxx: wrong Le; re-send once with Le = xx (ISO/IEC 7816-4 §5.6).
	if sw>>8 == 0x6C && !ext {
		again := cmd
		again.Ne = leShort(byte(sw))
		if wire, err = again.EncodeShort(); err != nil {
			return nil, err
		}
		if rsp, err = c.exchange(origin, wire); err != nil {
			return nil, err
		}
		if data, sw, err = SplitResponse(rsp); err != nil {
			return nil, c.badResponse(err)
		}
	}
	if sw>>8 != 0x61 {
		return rsp, nil
	}
	// 61xx: xx more bytes (00: 256 or more); GET RESPONSE until done
	// (ISO/IEC 7816-4 §5.3.4 [2005] / §11.4.2 GET RESPONSE). The class keeps
	// the logical channel of the command (b2-b1).
	out := append([]byte(nil), data...)
	for n := 0; sw>>8 == 0x61; n++ {
		if n == maxGetResponse {
			return nil, c.badResponse(fmt.Errorf("%w: more than %d GET RESPONSE", ErrBadResponse, maxGetResponse))
		}
		gr := Command{CLA: cmd.CLA & 0x03, INS: 0xC0, Ne: leShort(byte(sw))}
		wire, _ := gr.EncodeShort()
		if rsp, err = c.exchange(origin, wire); err != nil {
			return nil, err
		}
		if data, sw, err = SplitResponse(rsp); err != nil {
			return nil, c.badResponse(err)
		}
		if sw>>8 == 0x6C { // GET RESPONSE with the wrong Le: ask again with the exact one
			gr.Ne = leShort(byte(sw))
			wire, _ = gr.EncodeShort()
			if rsp, err = c.exchange(origin, wire); err != nil {
				return nil, err
			}
			if data, sw, err = SplitResponse(rsp); err != nil {
				return nil, c.badResponse(err)
			}
		}
		out = append(out, data...)
	}
	return append(out, byte(sw>>8), byte(sw)), nil
}

func (c *Card) badResponse(err error) error {
	return &OpError{Op: "transmit", Reader: c.reader, Err: err}
}

// exchange is one raw APDU on the wire, counted and traced.
func (c *Card) exchange(origin, wire []byte) ([]byte, error) {
	start := time.Now()
	rsp, err := c.conn.Exchange(wire)
	d := time.Since(start)
	c.apdus.Add(1)
	c.bytesOut.Add(uint64(len(wire)))
	c.bytesIn.Add(uint64(len(rsp)))
	c.nanos.Add(int64(d))
	if c.trace != nil {
		c.trace.Record(c.reader, origin, wire, rsp, start, d, err)
	}
	return rsp, err
}
