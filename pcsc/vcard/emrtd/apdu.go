package emrtd

import "fmt"

// Status words used by the chip (ISO/IEC 7816-4:2020 §5.6, Tables 5-6: the
// interindustry values and their meaning).
const (
	swOK                  uint16 = 0x9000
	swEndOfFile           uint16 = 0x6282 // end of file reached before reading Ne bytes
	swVerificationFailed  uint16 = 0x6300 // BAC: wrong MAC or cryptogram
	swMemoryFailure       uint16 = 0x6581
	swWrongLength         uint16 = 0x6700 // wrong length (Lc, or an APDU of no valid case)
	swChannelUnsupported  uint16 = 0x6881 // logical channel not supported (only the basic channel is open)
	swSMNotSupported      uint16 = 0x6882 // a protected APDU without a BAC session, or an SM format the chip lacks
	swLastCommandExpected uint16 = 0x6883 // a chained command where the last of the chain was expected
	swChainingUnsupported uint16 = 0x6884 // command chaining for an INS other than PUT DATA (cccd: GENERAL AUTHENTICATE)
	swSecurityStatus      uint16 = 0x6982
	swConditionsOfUse     uint16 = 0x6985
	swNoCurrentEF         uint16 = 0x6986
	swSMObjectsMissing    uint16 = 0x6987
	swSMObjectsIncorrect  uint16 = 0x6988
	swWrongData           uint16 = 0x6A80
	swFileNotFound        uint16 = 0x6A82 // file or application not found
	swNotEnoughMemory     uint16 = 0x6A84
	swNcInconsistentTLV   uint16 = 0x6A85 // Nc inconsistent with the TLV structure of the data field
	swIncorrectP1P2       uint16 = 0x6A86 // P1-P2 values this chip does not support
	swRefDataNotFound     uint16 = 0x6A88
	swFileExists          uint16 = 0x6A89
	swWrongP1P2           uint16 = 0x6B00 // READ/UPDATE BINARY: offset beyond the end of the EF
	swINSNotSupported     uint16 = 0x6D00
	swCLANotSupported     uint16 = 0x6E00
	swNoPreciseDiagnosis  uint16 = 0x6F00
)

// swWrongLe is 6CXX (ISO/IEC 7816-4 §5.6, Table 6: wrong Le field; SW2
// encodes the exact number of available data bytes), for a response of
// fixed length n that Ne does not match; SW2 = 00 means 256.
func swWrongLe(n int) uint16 { return 0x6C00 | uint16(n&0xFF) }

// unsupportedCLA is the answer to a class byte an application does not
// take (ISO/IEC 7816-4 §5.4.1 codes CLA; §5.6 Table 6 the answers): a
// logical channel other than the basic one 6881 — the Java Card runtime
// answers so for a channel that is not open, before any applet sees the
// command —, a secure messaging indication 6882, command chaining 6884,
// any other class (proprietary, or invalid) 6E00.
func unsupportedCLA(cla byte) uint16 {
	switch {
	case cla&0xE0 == 0x00 && cla&0x03 != 0, cla&0xC0 == 0x40: // channels 1-3; further interindustry classes: channels 4-19
		return swChannelUnsupported
	case cla&0xE0 == 0x00 && cla&0x0C != 0:
		return swSMNotSupported
	case cla&0xE0 == 0x00 && cla&0x10 != 0:
		return swChainingUnsupported
	}
	return swCLANotSupported
}

// command is a parsed command APDU (ISO/IEC 7816-4 §5.1).
type command struct {
	cla, ins, p1, p2 byte
	data             []byte // Nc bytes
	ne               int    // Ne: 1..256 short, 1..65536 extended; 0 when there is no Le field
	hasLe            bool
	extended         bool
}

func (c command) p1p2() uint16 { return uint16(c.p1)<<8 | uint16(c.p2) }

// neOrDefault is Ne, or 256 when the command has no Le field — what a Java
// Card applet gets from APDU.setOutgoing() in that case.
func (c command) neOrDefault() int {
	if !c.hasLe {
		return 256
	}
	return c.ne
}

func (c command) header() string {
	return fmt.Sprintf("%02X%02X%02X%02X", c.cla, c.ins, c.p1, c.p2)
}

// parseCommand decodes the four cases of ISO/IEC 7816-4 §5.1 in short and
// extended form:
//
//	case 1   CLA INS P1 P2
//	case 2S  … Le                      case 2E  … 00 Le1 Le2
//	case 3S  … Lc Data                 case 3E  … 00 Lc1 Lc2 Data
//	case 4S  … Lc Data Le              case 4E  … 00 Lc1 Lc2 Data Le1 Le2
//
// Short Le 00 means Ne = 256, extended Le 0000 means Ne = 65536. It reports
// false for any other length (the chip answers 6700).
func parseCommand(b []byte) (command, bool) {
	if len(b) < 4 {
		return command{}, false
	}
	c := command{cla: b[0], ins: b[1], p1: b[2], p2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
		return c, true
	case len(body) == 1: // case 2S
		c.hasLe, c.ne = true, shortNe(body[0])
		return c, true
	case body[0] != 0: // case 3S or 4S
		lc := int(body[0])
		switch len(body) {
		case 1 + lc:
			c.data = body[1:]
			return c, true
		case 2 + lc:
			c.data = body[1 : 1+lc]
			c.hasLe, c.ne = true, shortNe(body[1+lc])
			return c, true
		}
		return command{}, false
	}
	// body[0] == 00 and more bytes follow: extended length.
	c.extended = true
	if len(body) == 3 { // case 2E
		c.hasLe, c.ne = true, extendedNe(body[1], body[2])
		return c, true
	}
	if len(body) < 3 {
		return command{}, false
	}
	lc := int(body[1])<<8 | int(body[2])
	rest := body[3:]
	switch {
	case lc == 0:
		return command{}, false
	case len(rest) == lc: // case 3E
		c.data = rest
		return c, true
	case len(rest) == lc+2: // case 4E
		c.data = rest[:lc]
		c.hasLe, c.ne = true, extendedNe(rest[lc], rest[lc+1])
		return c, true
	}
	return command{}, false
}

func shortNe(le byte) int {
	if le == 0 {
		return 256
	}
	return int(le)
}

func extendedNe(hi, lo byte) int {
	n := int(hi)<<8 | int(lo)
	if n == 0 {
		return 65536
	}
	return n
}

// respond builds a response APDU: data then SW1 SW2.
func respond(data []byte, sw uint16) []byte {
	out := make([]byte, len(data)+2)
	copy(out, data)
	out[len(data)] = byte(sw >> 8)
	out[len(data)+1] = byte(sw)
	return out
}

func status(sw uint16) []byte { return respond(nil, sw) }
