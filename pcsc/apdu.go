package pcsc

import (
	"errors"
	"fmt"
)

// Command is a command APDU as a value (ISO/IEC 7816-4 §5.1): the header, the
// command data (Nc = len(Data)) and Ne, the maximum number of response data
// bytes expected. Ne = 0 means no Le field; Ne = 256 is short Le 00 and
// Ne = 65536 extended Le 0000.
type Command struct {
	CLA, INS, P1, P2 byte
	Data             []byte
	Ne               int
}

// Limits of the two length encodings (ISO/IEC 7816-4 §5.1, Table 1).
const (
	MaxShortNc    = 255
	MaxShortNe    = 256
	MaxExtendedNc = 65535
	MaxExtendedNe = 65536
)

// NeedsExtended reports whether the command cannot be encoded in short form.
func (c Command) NeedsExtended() bool {
	return len(c.Data) > MaxShortNc || c.Ne > MaxShortNe
}

func (c Command) check() error {
	if len(c.Data) > MaxExtendedNc {
		return fmt.Errorf("%w: Nc = %d exceeds %d", ErrBadCommand, len(c.Data), MaxExtendedNc)
	}
	if c.Ne < 0 || c.Ne > MaxExtendedNe {
		return fmt.Errorf("%w: Ne = %d out of 0..%d", ErrBadCommand, c.Ne, MaxExtendedNe)
	}
	return nil
}

// Encode encodes the command in short form when it fits, in extended form
// otherwise.
func (c Command) Encode() ([]byte, error) {
	if c.NeedsExtended() {
		return c.EncodeExtended()
	}
	return c.EncodeShort()
}

// EncodeShort encodes the command with short Lc and Le fields (ISO/IEC 7816-4
// §5.1: cases 1, 2S, 3S, 4S).
func (c Command) EncodeShort() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if c.NeedsExtended() {
		return nil, fmt.Errorf("%w: Nc = %d, Ne = %d do not fit short form", ErrBadCommand, len(c.Data), c.Ne)
	}
	b := make([]byte, 0, 4+1+len(c.Data)+1)
	b = append(b, c.CLA, c.INS, c.P1, c.P2)
	if len(c.Data) > 0 {
		b = append(b, byte(len(c.Data)))
		b = append(b, c.Data...)
	}
	if c.Ne > 0 {
		b = append(b, byte(c.Ne)) // 256 → 00
	}
	return b, nil
}

// EncodeExtended encodes the command with extended Lc and Le fields (ISO/IEC
// 7816-4 §5.1: cases 2E, 3E, 4E). A case 1 command has no length field and
// is encoded as it is.
func (c Command) EncodeExtended() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 4+3+len(c.Data)+2)
	b = append(b, c.CLA, c.INS, c.P1, c.P2)
	switch {
	case len(c.Data) > 0:
		b = append(b, 0, byte(len(c.Data)>>8), byte(len(c.Data)))
		b = append(b, c.Data...)
		if c.Ne > 0 {
			b = append(b, byte(c.Ne>>8), byte(c.Ne)) // 65536 → 0000
		}
	case c.Ne > 0:
		b = append(b, 0, byte(c.Ne>>8), byte(c.Ne))
	}
	return b, nil
}

// ParseCommand decodes a command APDU in short or extended form (ISO/IEC
// 7816-4 §5.1). extended reports which form the bytes used.
func ParseCommand(apdu []byte) (c Command, extended bool, err error) {
	if len(apdu) < 4 {
		return Command{}, false, fmt.Errorf("%w: %d bytes, a header is 4", ErrBadCommand, len(apdu))
	}
	c = Command{CLA: apdu[0], INS: apdu[1], P1: apdu[2], P2: apdu[3]}
	body := apdu[4:]
	switch {
	case len(body) == 0: // case 1
		return c, false, nil
	case len(body) == 1: // case 2S
		c.Ne = leShort(body[0])
		return c, false, nil
	case body[0] != 0: // case 3S or 4S
		nc := int(body[0])
		switch len(body) {
		case 1 + nc:
			c.Data = body[1:]
		case 1 + nc + 1:
			c.Data = body[1 : 1+nc]
			c.Ne = leShort(body[1+nc])
		default:
			return Command{}, false, fmt.Errorf("%w: Lc = %d but %d bytes follow the header", ErrBadCommand, nc, len(body))
		}
		return c, false, nil
	}
	// body[0] == 0 and more bytes: extended form.
	if len(body) == 3 { // case 2E
		c.Ne = leExtended(body[1], body[2])
		return c, true, nil
	}
	if len(body) < 3 {
		return Command{}, false, fmt.Errorf("%w: truncated extended length", ErrBadCommand)
	}
	nc := int(body[1])<<8 | int(body[2])
	if nc == 0 {
		return Command{}, false, fmt.Errorf("%w: extended Lc = 0", ErrBadCommand)
	}
	switch len(body) {
	case 3 + nc: // case 3E
		c.Data = body[3:]
	case 3 + nc + 2: // case 4E
		c.Data = body[3 : 3+nc]
		c.Ne = leExtended(body[3+nc], body[4+nc])
	default:
		return Command{}, false, fmt.Errorf("%w: extended Lc = %d but %d bytes follow it", ErrBadCommand, nc, len(body)-3)
	}
	return c, true, nil
}

func leShort(b byte) int {
	if b == 0 {
		return 256
	}
	return int(b)
}

func leExtended(hi, lo byte) int {
	n := int(hi)<<8 | int(lo)
	if n == 0 {
		return 65536
	}
	return n
}

// SplitResponse splits a response APDU into its data and the status word.
func SplitResponse(rsp []byte) (data []byte, sw uint16, err error) {
	if len(rsp) < 2 {
		return nil, 0, fmt.Errorf("%w: %d bytes, the status word alone is 2", ErrBadResponse, len(rsp))
	}
	n := len(rsp) - 2
	return rsp[:n], uint16(rsp[n])<<8 | uint16(rsp[n+1]), nil
}

// Do transmits cmd and returns the response data. A status word other than
// 9000 is returned as a *StatusError; the response data, if any, is returned
// with it (a READ BINARY answered 6282 still carries bytes).
func Do(t Transport, cmd []byte) (data []byte, err error) {
	rsp, err := t.Transmit(cmd)
	if err != nil {
		return nil, err
	}
	data, sw, err := SplitResponse(rsp)
	if err != nil {
		return nil, err
	}
	if sw != 0x9000 {
		var ins byte
		if len(cmd) > 1 {
			ins = cmd[1]
		}
		return data, &StatusError{SW: sw, INS: ins}
	}
	return data, nil
}

// Exec encodes c (short form when it fits) and runs it with Do.
func Exec(t Transport, c Command) ([]byte, error) {
	b, err := c.Encode()
	if err != nil {
		return nil, err
	}
	return Do(t, b)
}

// ATRInfo is what the station reads from an answer-to-reset.
type ATRInfo struct {
	// Protocols offered, in the order of the TDi bytes (ISO/IEC 7816-3
	// §8.2.3); T=0 alone when there is no TD1.
	Protocols []int
	// Historical bytes (ISO/IEC 7816-4 §8.1.1).
	Historical []byte
	// Capabilities reports whether the historical bytes carry the card
	// capabilities object (compact-TLV tag 7, ISO/IEC 7816-4 §8.1.1.2.7);
	// CommandChaining and ExtendedLength come from its third software
	// function byte (b8 and b7).
	Capabilities    bool
	CommandChaining bool
	ExtendedLength  bool
}

// HasProtocol reports whether the card offers protocol T=t.
func (a ATRInfo) HasProtocol(t int) bool {
	for _, p := range a.Protocols {
		if p == t {
			return true
		}
	}
	return false
}

// ErrBadATR: the bytes are not a well-formed answer-to-reset.
var ErrBadATR = errors.New("malformed ATR")

// ParseATR decodes the structure of an ATR (ISO/IEC 7816-3 §8.2: TS, T0,
// interface bytes TAi TBi TCi TDi, historical bytes, TCK) and the card
// capabilities in its historical bytes (ISO/IEC 7816-4 §8.1.1.2.7).
func ParseATR(atr []byte) (ATRInfo, error) {
	var info ATRInfo
	if len(atr) < 2 {
		return info, fmt.Errorf("%w: %d bytes", ErrBadATR, len(atr))
	}
	if atr[0] != 0x3B && atr[0] != 0x3F { // TS: direct or inverse convention
		return info, fmt.Errorf("%w: TS = %02X", ErrBadATR, atr[0])
	}
	k := int(atr[1] & 0x0F) // number of historical bytes
	y := atr[1] >> 4        // presence of TA1 TB1 TC1 TD1
	i := 2
	tck := false
	for {
		for bit := byte(1); bit <= 4; bit <<= 1 { // TA, TB, TC
			if y&bit != 0 {
				i++
			}
		}
		if y&8 == 0 { // no TDi
			break
		}
		if i >= len(atr) {
			return info, fmt.Errorf("%w: truncated interface bytes", ErrBadATR)
		}
		td := atr[i]
		i++
		t := int(td & 0x0F)
		if t != 15 { // T=15 qualifies global interface bytes, not a protocol
			if !info.HasProtocol(t) {
				info.Protocols = append(info.Protocols, t)
			}
			if t != 0 {
				tck = true
			}
		} else {
			tck = true
		}
		y = td >> 4
	}
	if len(info.Protocols) == 0 {
		info.Protocols = []int{0}
	}
	if i+k > len(atr) {
		return info, fmt.Errorf("%w: %d historical bytes announced, %d present", ErrBadATR, k, len(atr)-i)
	}
	info.Historical = append([]byte(nil), atr[i:i+k]...)
	i += k
	if tck { // ISO/IEC 7816-3 §8.2.5: TCK present unless only T=0 is indicated
		if i >= len(atr) {
			return info, fmt.Errorf("%w: TCK missing", ErrBadATR)
		}
		var x byte
		for _, b := range atr[1 : i+1] {
			x ^= b
		}
		if x != 0 {
			return info, fmt.Errorf("%w: TCK %02X does not check", ErrBadATR, atr[i])
		}
		i++
	}
	if i != len(atr) {
		return info, fmt.Errorf("%w: %d bytes after the ATR", ErrBadATR, len(atr)-i)
	}
	parseHistorical(&info)
	return info, nil
}

// parseHistorical reads the card capabilities from the historical bytes
// (ISO/IEC 7816-4 §8.1.1: category indicator 00 or 80 followed by
// compact-TLV data objects; with 00 the last three bytes are a status
// indicator outside the objects).
func parseHistorical(info *ATRInfo) {
	h := info.Historical
	if len(h) == 0 {
		return
	}
	var objs []byte
	switch h[0] {
	case 0x80:
		objs = h[1:]
	case 0x00:
		if len(h) < 4 {
			return
		}
		objs = h[1 : len(h)-3]
	default:
		return
	}
	for len(objs) > 0 {
		tag, n := objs[0]>>4, int(objs[0]&0x0F)
		if 1+n > len(objs) {
			return
		}
		v := objs[1 : 1+n]
		if tag == 0x7 { // card capabilities, §8.1.1.2.7, Tables 117-119
			info.Capabilities = true
			if n >= 3 {
				info.CommandChaining = v[2]&0x80 != 0 // b8: command chaining
				info.ExtendedLength = v[2]&0x40 != 0  // b7: extended Lc and Le fields
			}
		}
		objs = objs[1+n:]
	}
}
