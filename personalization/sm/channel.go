package sm

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cccd-station/station/pcsc"
)

// Channel is a secure messaging session as a pcsc.Transport (ICAO 9303-11
// §9.8): Transmit takes a plain command APDU, sends it protected over the
// inner transport, and returns the plain response data ‖ SW1 SW2. Status
// words other than 9000 come back protected and are returned like 9000 is
// (callers use pcsc.Do and its *pcsc.StatusError).
//
// A response that is not properly protected (a MAC that does not verify, a
// status word in plain, a malformed data object) is ErrSM, and so is every
// Transmit after it: the send sequence counters of the terminal and the chip
// no longer agree, and the session is over. A failure of the inner transport
// ends the session the same way. A Channel is not safe for concurrent use.
type Channel struct {
	inner pcsc.Transport
	s     *Session
	err   error // why the session ended; nil while it lives
}

// NewBACChannel makes a Channel of a 3DES session established by BAC. The
// channel takes the session over: s's counter advances with the channel's
// traffic, and s must not be used to wrap other commands.
func NewBACChannel(inner pcsc.Transport, s *Session) *Channel {
	return &Channel{inner: inner, s: s}
}

// NewAESChannel makes a Channel of AES session keys with SSC = 0 (after
// PACE; ICAO 9303-11 §9.8.7).
func NewAESChannel(inner pcsc.Transport, ksEnc, ksMac []byte) (*Channel, error) {
	s, err := NewAESSession(ksEnc, ksMac)
	if err != nil {
		return nil, err
	}
	return &Channel{inner: inner, s: s}, nil
}

// Rekey restarts secure messaging with new AES session keys and SSC = 0, as
// after Chip Authentication (ICAO 9303-11 §6.2, §9.8.7). A 3DES channel
// becomes an AES one. Rekey does not revive a channel that ended.
func (c *Channel) Rekey(ksEnc, ksMac []byte) error {
	if c.err != nil {
		return fmt.Errorf("%w: the session ended earlier: %w", ErrSM, c.err)
	}
	s, err := NewAESSession(ksEnc, ksMac)
	if err != nil {
		return err
	}
	c.s = s
	return nil
}

// Suite names the current cipher suite: "3DES" or "AES".
func (c *Channel) Suite() string { return c.s.Suite() }

// SSC returns the current send sequence counter.
func (c *Channel) SSC() []byte { return c.s.SSC() }

// Err is why the session ended, or nil while it lives.
func (c *Channel) Err() error { return c.err }

// LogValue keeps the session keys out of logs.
func (c *Channel) LogValue() slog.Value {
	return slog.GroupValue(slog.String("suite", c.s.Suite()), slog.Bool("ended", c.err != nil), slog.String("keys", "[redacted]"))
}

// MaxPlainResponse is the most plain data one protected response of this
// channel's suite can carry within maxResponse bytes (the whole response
// APDU, SW included).
func (c *Channel) MaxPlainResponse(maxResponse int) int {
	return maxPlainResponse(maxResponse, c.s.suite.blockSize())
}

// Transmit protects one plain command APDU (short or extended, ISO/IEC
// 7816-4 §5.1 cases 1–4), sends it and returns the plain response APDU.
// A malformed plain APDU is refused (pcsc.ErrBadCommand) before anything is
// sent and leaves the session as it was.
func (c *Channel) Transmit(apdu []byte) ([]byte, error) {
	if c.err != nil {
		return nil, fmt.Errorf("%w: the session ended earlier: %w", ErrSM, c.err)
	}
	cmd, ext, err := pcsc.ParseCommand(apdu)
	if err != nil {
		return nil, err
	}
	wrapped, err := c.s.Wrap(Command{CLA: cmd.CLA, INS: cmd.INS, P1: cmd.P1, P2: cmd.P2, Data: cmd.Data, Ne: cmd.Ne, Extended: ext})
	if err != nil {
		c.err = err
		return nil, err
	}
	resp, err := c.inner.Transmit(wrapped)
	if err != nil {
		c.err = err
		return nil, fmt.Errorf("sm: protected INS %02X: %w", cmd.INS, err)
	}
	data, sw, err := c.s.Unwrap(resp)
	if err != nil {
		c.err = err
		if !errors.Is(err, ErrSM) {
			err = fmt.Errorf("%w: %w", ErrSM, err)
		}
		return nil, fmt.Errorf("protected INS %02X: %w", cmd.INS, err)
	}
	return append(data, byte(sw>>8), byte(sw)), nil
}
