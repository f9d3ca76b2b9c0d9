package sm

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
)

// Session is an established secure messaging session: session keys, a send
// sequence counter, and a cipher suite — 3DES (BAC, NewSession) or AES
// (PACE and Chip Authentication, NewAESSession). It is not safe for
// concurrent use: commands and responses alternate.
type Session struct {
	enc, mac []byte
	ssc      []byte // 8 bytes (3DES) or 16 (AES)
	suite    suite
}

// NewSession starts 3DES secure messaging with session keys and a send
// sequence counter (BAC: ICAO 9303-11 §9.8.6, SSC of §9.8.6.3).
func NewSession(ksEnc, ksMac, ssc []byte) *Session {
	s := &Session{enc: ksEnc, mac: ksMac, ssc: make([]byte, 8), suite: tdesSuite{encKey: ksEnc, macKey: ksMac}}
	copy(s.ssc, ssc)
	return s
}

// NewAESSession starts AES secure messaging with session keys of 16, 24 or
// 32 bytes and the send sequence counter 0 (16 bytes), as after PACE and
// after Chip Authentication (ICAO 9303-11 §9.8.7).
func NewAESSession(ksEnc, ksMac []byte) (*Session, error) {
	st, err := newAESSuite(ksEnc, ksMac)
	if err != nil {
		return nil, err
	}
	return &Session{
		enc:   bytes.Clone(ksEnc),
		mac:   bytes.Clone(ksMac),
		ssc:   make([]byte, st.sscLen()),
		suite: st,
	}, nil
}

// SSC returns the current send sequence counter.
func (s *Session) SSC() []byte { return bytes.Clone(s.ssc) }

// Suite names the cipher suite: "3DES" or "AES".
func (s *Session) Suite() string { return s.suite.name() }

// LogValue keeps the session keys out of logs.
func (s *Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("suite", s.suite.name()), slog.String("keys", "[redacted]"))
}

func (s *Session) increment() {
	for i := len(s.ssc) - 1; i >= 0; i-- {
		s.ssc[i]++
		if s.ssc[i] != 0 {
			return
		}
	}
}

// ErrSM: a protected response is malformed or its MAC does not verify. The
// session is over; a new BAC or PACE is needed.
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
// (0C); the data padded to the suite's block and encrypted, in DO'87' with
// the padding-content indicator 01 for an even INS, in DO'85' without it for
// an odd INS, whose data are BER-TLV (ISO/IEC 7816-4 §10.2: secure messaging
// data objects); Le in DO'97' (one byte, or two for extended length); and DO'8E' the MAC over the send sequence counter, the padded
// header and the data objects. The protected APDU is extended when the plain
// one asks for it (Extended, Ne > 256) or when its data no longer fit a
// short Lc; its Le is 00 (0000 extended): all protected response data.
func (s *Session) Wrap(c Command) ([]byte, error) {
	if c.Ne < 0 || c.Ne > 65536 || len(c.Data) > 0xFFFF {
		return nil, fmt.Errorf("sm: command with Nc = %d, Ne = %d", len(c.Data), c.Ne)
	}
	s.increment()
	bs := s.suite.blockSize()
	cla := c.CLA | 0x0C
	header := PadBlock([]byte{cla, c.INS, c.P1, c.P2}, bs)
	var doData, do97 []byte
	if len(c.Data) > 0 {
		enc, err := s.suite.encrypt(s.ssc, PadBlock(c.Data, bs))
		if err != nil {
			return nil, err
		}
		if c.INS&1 == 1 {
			doData = tlv(0x85, enc)
		} else {
			doData = tlv(0x87, append([]byte{0x01}, enc...))
		}
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
	m := make([]byte, 0, len(header)+len(doData)+len(do97))
	m = append(append(append(m, header...), doData...), do97...)
	cc, err := s.suite.mac(s.ssc, m)
	if err != nil {
		return nil, err
	}
	body := append(append(append([]byte{}, doData...), do97...), 0x8E, 0x08)
	body = append(body, cc...)
	if len(body) > 255 {
		extended = true
	}
	if len(body) > 0xFFFF {
		return nil, fmt.Errorf("sm: protected command of %d bytes", len(body))
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
// DO'87' (or DO'85', optional), DO'99' (the status word), DO'8E' (the MAC
// over the SSC and both). It returns the plain data and the protected status
// word — an error status word comes back protected too, and is returned with
// a nil error. A response carried in plain (the chip ended the session, e.g.
// 6987/6988) is ErrSM with that status word.
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
	var cryptogram, do99, mac []byte
	var padIndicator bool
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
		case 0x87, 0x85:
			if cryptogram != nil || do99 != nil || mac != nil {
				return nil, outer, fmt.Errorf("%w: data objects out of order", ErrSM)
			}
			cryptogram, padIndicator = v, tag == 0x87
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
	want, err := s.suite.mac(s.ssc, macInput)
	if err != nil {
		return nil, outer, err
	}
	if !macEqual(want, mac) {
		return nil, outer, fmt.Errorf("%w: MAC does not verify", ErrSM)
	}
	sw := uint16(do99[0])<<8 | uint16(do99[1])
	if cryptogram == nil {
		return nil, sw, nil
	}
	if padIndicator {
		if len(cryptogram) < 1 || cryptogram[0] != 0x01 {
			return nil, sw, fmt.Errorf("%w: DO'87' without padding indicator 01", ErrSM)
		}
		cryptogram = cryptogram[1:]
	}
	bs := s.suite.blockSize()
	if len(cryptogram) == 0 || len(cryptogram)%bs != 0 {
		return nil, sw, fmt.Errorf("%w: cryptogram of %d bytes is not whole %s blocks", ErrSM, len(cryptogram), s.suite.name())
	}
	plain, err := s.suite.decrypt(s.ssc, cryptogram)
	if err != nil {
		return nil, sw, fmt.Errorf("%w: %w", ErrSM, err)
	}
	data, err := UnpadBlock(plain, bs)
	if err != nil {
		return nil, sw, fmt.Errorf("%w: %w", ErrSM, err)
	}
	return bytes.Clone(data), sw, nil
}

// MaxPlainResponse is the most plain data one protected 3DES response can
// carry within maxResponse bytes (the whole response APDU, SW included):
// DO'87' with its indicator and padding, DO'99', DO'8E' and the SW. For a
// Channel of either suite, see (*Channel).MaxPlainResponse.
func MaxPlainResponse(maxResponse int) int { return maxPlainResponse(maxResponse, 8) }

func maxPlainResponse(maxResponse, blockSize int) int {
	for n := maxResponse; n > 0; n-- {
		p := (n/blockSize + 1) * blockSize // padded length
		l := p + 1                         // with the indicator byte
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
