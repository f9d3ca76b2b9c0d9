package emrtd

import "crypto/cipher"

// smSession is an established BAC secure messaging session (ICAO 9303-11
// §9.8, 3DES): session keys KS_enc and KS_mac and the send sequence counter.
type smSession struct {
	enc cipher.Block
	mac retailMAC
	ssc [8]byte
	// the session keys, kept for the known-answer test only
	ksEnc, ksMac []byte
}

func newSMSession(ksEnc, ksMac, ssc []byte) *smSession {
	s := &smSession{enc: newTDES(ksEnc), mac: newRetailMAC(ksMac), ksEnc: ksEnc, ksMac: ksMac}
	copy(s.ssc[:], ssc)
	return s
}

// incSSC increments the send sequence counter, an unsigned 64-bit big-endian
// integer, before each command and each response (ICAO 9303-11 §9.8).
func (s *smSession) incSSC() {
	for i := len(s.ssc) - 1; i >= 0; i-- {
		s.ssc[i]++
		if s.ssc[i] != 0 {
			return
		}
	}
}

// unwrap checks and removes the protection of a command APDU (ICAO 9303-11
// §9.8; ISO/IEC 7816-4 §10): data objects '87' (padding-content indicator 01
// and the 3DES-CBC cryptogram of the padded data), '97' (Le) and '8E' (MAC),
// in that order. The MAC covers SSC ‖ padded header ‖ '87' ‖ '97', padded.
// On failure it returns 6987 (a mandatory object is missing) or 6988 (an
// object is wrong); the caller then ends the session.
func (s *smSession) unwrap(c command) (command, uint16) {
	s.incSSC()
	var do87, do97, do8E, raw87, raw97 []byte
	var have87, have97, have8E bool
	stage := 0
	rest := c.data
	for len(rest) > 0 {
		tag, value, next, ok := readTLV(rest)
		if !ok {
			return command{}, swSMObjectsIncorrect
		}
		raw := rest[:len(rest)-len(next)]
		switch {
		case tag == 0x87 && stage < 1:
			do87, raw87, have87, stage = value, raw, true, 1
		case tag == 0x97 && stage < 2:
			do97, raw97, have97, stage = value, raw, true, 2
		case tag == 0x8E && stage < 3:
			do8E, have8E, stage = value, true, 3
		default: // unknown object, wrong order, or something after the MAC
			return command{}, swSMObjectsIncorrect
		}
		rest = next
	}
	if !have8E {
		return command{}, swSMObjectsMissing
	}
	in := make([]byte, 0, 16+len(raw87)+len(raw97))
	in = append(in, s.ssc[:]...)
	in = append(in, pad([]byte{c.cla, c.ins, c.p1, c.p2})...)
	in = append(in, raw87...)
	in = append(in, raw97...)
	if !s.mac.verify(in, do8E) {
		return command{}, swSMObjectsIncorrect
	}
	inner := command{cla: c.cla &^ 0x0C, ins: c.ins, p1: c.p1, p2: c.p2, extended: c.extended}
	if have87 {
		if len(do87) < 9 || do87[0] != 0x01 || (len(do87)-1)%8 != 0 {
			return command{}, swSMObjectsIncorrect
		}
		data, ok := unpad(cbcDecrypt(s.enc, do87[1:]))
		if !ok {
			return command{}, swSMObjectsIncorrect
		}
		inner.data = data
	}
	if have97 {
		switch len(do97) {
		case 0: // no Le
		case 1:
			inner.hasLe, inner.ne = true, shortNe(do97[0])
		case 2:
			inner.hasLe, inner.ne = true, extendedNe(do97[0], do97[1])
		default:
			return command{}, swSMObjectsIncorrect
		}
	}
	return inner, swOK
}

// wrap protects a response (ICAO 9303-11 §9.8): '87' with the encrypted data
// when there is data, '99' with the status word, '8E' with the MAC over
// SSC ‖ '87' ‖ '99', padded; followed by the same status word in plain.
func (s *smSession) wrap(data []byte, sw uint16) []byte {
	s.incSSC()
	out := make([]byte, 0, wrappedLen(len(data))+2)
	if len(data) > 0 {
		cg := append([]byte{0x01}, cbcEncrypt(s.enc, pad(data))...)
		out = appendTLV(out, 0x87, cg)
	}
	out = appendTLV(out, 0x99, []byte{byte(sw >> 8), byte(sw)})
	in := make([]byte, 0, 8+len(out))
	in = append(in, s.ssc[:]...)
	in = append(in, out...)
	out = appendTLV(out, 0x8E, s.mac.sum(in))
	return append(out, byte(sw>>8), byte(sw))
}

// wrappedLen is the response data length (without SW1 SW2) of a protected
// response carrying n plain bytes.
func wrappedLen(n int) int {
	l := 4 + 10 // '99' 02 SW1 SW2, '8E' 08 MAC
	if n > 0 {
		l += tlvLen(1 + (n/8+1)*8)
	}
	return l
}

// maxPlainFor is the largest plain response that still fits in limit bytes
// once protected: 231 for a short APDU (limit 256).
func maxPlainFor(limit int) int {
	n := limit
	for n > 0 && wrappedLen(n) > limit {
		n--
	}
	return n
}
