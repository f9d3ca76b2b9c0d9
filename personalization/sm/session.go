package sm

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
)

// Session is an established secure messaging session with 3DES keys (BAC).
// It is not safe for concurrent use: commands and responses alternate.
type Session struct {
	enc, mac []byte
	ssc      [8]byte
}

// NewSession starts secure messaging with session keys and a send sequence
// counter.
func NewSession(ksEnc, ksMac, ssc []byte) *Session {
	s := &Session{enc: ksEnc, mac: ksMac}
	copy(s.ssc[:], ssc)
	return s
}

// SSC returns the current send sequence counter.
func (s *Session) SSC() []byte { return append([]byte(nil), s.ssc[:]...) }

func (s *Session) increment() {
	for i := len(s.ssc) - 1; i >= 0; i-- {
		s.ssc[i]++
		if s.ssc[i] != 0 {
			return
		}
	}
}

// ErrSM: a protected response is malformed or its MAC does not verify. The
// session is over; a new BAC is needed.
var ErrSM = errors.New("sm: secure messaging response rejected")

// Command is a plain command APDU to protect.
type Command struct {
	CLA, INS, P1, P2 byte
	Data             []byte
	Ne               int  // expected response length; 0 for none, 256 (short) or 65536 (extended) for "all"
	Extended         bool // use extended length fields (the card must support them)
}

func tlv(tag byte, v []byte) []byte {
	n := len(v)
	var b []byte
	switch {
	case n < 0x80:
		b = []byte{tag, byte(n)}
	case n <= 0xFF:
		b = []byte{tag, 0x81, byte(n)}
	default:
		b = []byte{tag, 0x82, byte(n >> 8), byte(n)}
	}
	return append(b, v...)
}

// Wrap protects a command (ICAO 9303-11 §9.8.4, §9.8.5): CLA with b4 b3 set
// (0C), the data encrypted in DO'87' (padding-content indicator 01), Le in
// DO'97', and DO'8E' the retail MAC over the send sequence counter, the
// padded header and the data objects.
func (s *Session) Wrap(c Command) ([]byte, error) {
	s.increment()
	cla := c.CLA | 0x0C
	header := Pad([]byte{cla, c.INS, c.P1, c.P2})
	var do87, do97 []byte
	if len(c.Data) > 0 {
		enc, err := Encrypt3DES(s.enc, Pad(c.Data))
		if err != nil {
			return nil, err
		}
		do87 = tlv(0x87, append([]byte{0x01}, enc...))
	}
	extended := c.Extended || c.Ne > 256
	if c.Ne > 0 {
		switch {
		case !extended && c.Ne == 256:
			do97 = []byte{0x97, 0x01, 0x00}
		case !extended:
			do97 = []byte{0x97, 0x01, byte(c.Ne)}
		case c.Ne == 65536:
			do97 = []byte{0x97, 0x02, 0x00, 0x00}
		default:
			do97 = []byte{0x97, 0x02, byte(c.Ne >> 8), byte(c.Ne)}
		}
	}
	m := make([]byte, 0, 8+len(header)+len(do87)+len(do97))
	m = append(append(append(append(m, s.ssc[:]...), header...), do87...), do97...)
	cc, err := RetailMAC(s.mac, m)
	if err != nil {
		return nil, err
	}
	body := append(append(append([]byte{}, do87...), do97...), 0x8E, 0x08)
	body = append(body, cc...)
	if len(body) > 255 {
		extended = true
	}
	apdu := []byte{cla, c.INS, c.P1, c.P2}
	if extended {
		apdu = append(apdu, 0x00, byte(len(body)>>8), byte(len(body)))
		apdu = append(apdu, body...)
		return append(apdu, 0x00, 0x00), nil
	}
	apdu = append(apdu, byte(len(body)))
	apdu = append(apdu, body...)
	return append(apdu, 0x00), nil
}

// Unwrap checks and decrypts a protected response (ICAO 9303-11 §9.8.6):
// DO'87' (optional), DO'99' (the status word), DO'8E' (the MAC over the SSC
// and both). It returns the plain data and the protected status word. A
// response carried in plain (the chip ended the session, e.g. 6987/6988) is
// ErrSM with that status word.
func (s *Session) Unwrap(resp []byte) ([]byte, uint16, error) {
	s.increment()
	if len(resp) < 2 {
		return nil, 0, fmt.Errorf("%w: %d bytes", ErrSM, len(resp))
	}
	outer := uint16(resp[len(resp)-2])<<8 | uint16(resp[len(resp)-1])
	body := resp[:len(resp)-2]
	if len(body) == 0 {
		return nil, outer, fmt.Errorf("%w: status %04X in plain (the chip ended secure messaging)", ErrSM, outer)
	}
	var do87, do99, mac []byte
	var macInput []byte
	for len(body) > 0 {
		if len(body) < 2 {
			return nil, outer, fmt.Errorf("%w: truncated data object", ErrSM)
		}
		tag := body[0]
		n, hl := int(body[1]), 2
		switch body[1] {
		case 0x81:
			if len(body) < 3 {
				return nil, outer, fmt.Errorf("%w: truncated length", ErrSM)
			}
			n, hl = int(body[2]), 3
		case 0x82:
			if len(body) < 4 {
				return nil, outer, fmt.Errorf("%w: truncated length", ErrSM)
			}
			n, hl = int(body[2])<<8|int(body[3]), 4
		default:
			if body[1] >= 0x80 {
				return nil, outer, fmt.Errorf("%w: unsupported length form %02X", ErrSM, body[1])
			}
		}
		if hl+n > len(body) {
			return nil, outer, fmt.Errorf("%w: data object %02X overruns the response", ErrSM, tag)
		}
		obj, v := body[:hl+n], body[hl:hl+n]
		switch tag {
		case 0x87:
			if do87 != nil || do99 != nil || mac != nil {
				return nil, outer, fmt.Errorf("%w: data objects out of order", ErrSM)
			}
			do87 = v
			macInput = append(macInput, obj...)
		case 0x99:
			if do99 != nil || mac != nil {
				return nil, outer, fmt.Errorf("%w: data objects out of order", ErrSM)
			}
			do99 = v
			macInput = append(macInput, obj...)
		case 0x8E:
			if mac != nil {
				return nil, outer, fmt.Errorf("%w: two MACs", ErrSM)
			}
			mac = v
		default:
			return nil, outer, fmt.Errorf("%w: unexpected data object %02X", ErrSM, tag)
		}
		body = body[hl+n:]
	}
	if mac == nil || len(mac) != 8 {
		return nil, outer, fmt.Errorf("%w: no DO'8E' MAC", ErrSM)
	}
	if len(do99) != 2 {
		return nil, outer, fmt.Errorf("%w: no DO'99' status word", ErrSM)
	}
	want, err := RetailMAC(s.mac, append(append([]byte{}, s.ssc[:]...), macInput...))
	if err != nil {
		return nil, outer, err
	}
	if subtle.ConstantTimeCompare(want, mac) != 1 {
		return nil, outer, fmt.Errorf("%w: MAC does not verify", ErrSM)
	}
	sw := uint16(do99[0])<<8 | uint16(do99[1])
	if do87 == nil {
		return nil, sw, nil
	}
	if len(do87) < 9 || do87[0] != 0x01 {
		return nil, sw, fmt.Errorf("%w: DO'87' without padding indicator 01", ErrSM)
	}
	plain, err := Decrypt3DES(s.enc, do87[1:])
	if err != nil {
		return nil, sw, fmt.Errorf("%w: %w", ErrSM, err)
	}
	data, err := Unpad(plain)
	if err != nil {
		return nil, sw, fmt.Errorf("%w: %w", ErrSM, err)
	}
	return bytes.Clone(data), sw, nil
}

// MaxPlainResponse is the most plain data one protected response can carry
// within maxResponse bytes (the whole response APDU, SW included): DO'87'
// with its indicator and padding, DO'99', DO'8E' and the SW.
func MaxPlainResponse(maxResponse int) int {
	for n := maxResponse; n > 0; n-- {
		p := (n/8 + 1) * 8 // padded length
		l := p + 1         // with the indicator byte
		hdr := 2
		switch {
		case l > 0xFF:
			hdr = 4
		case l >= 0x80:
			hdr = 3
		}
		if hdr+l+4+10+2 <= maxResponse {
			return n
		}
	}
	return 0
}
