package emrtd

import (
	"crypto/cipher"
	"crypto/subtle"
)

// smSession is an established secure messaging session (ICAO 9303-11 §9.8):
// session keys KS_enc and KS_mac and the send sequence counter, with 3DES
// (after BAC: 8-byte SSC, IV 0, retail MAC) or AES (after PACE or Chip
// Authentication, §9.8.4-§9.8.6: 16-byte SSC from 0, IV = E(KS_enc, SSC),
// CMAC truncated to 8 bytes).
type smSession struct {
	suite smSuite
	ssc   []byte
	// the session keys, kept for the known-answer tests only
	ksEnc, ksMac []byte
}

// smSuite is the cipher of a secure messaging session.
type smSuite interface {
	// block is the cipher's block size: padding and the SSC's length.
	block() int
	// encrypt and decrypt the padded data field for the current SSC.
	encrypt(ssc, data []byte) []byte
	decrypt(ssc, data []byte) []byte
	// mac pads msg (ISO/IEC 9797-1 method 2, the block size) and returns
	// its 8-byte MAC.
	mac(msg []byte) []byte
}

// tdesSuite: 3DES-CBC with IV 0, ISO/IEC 9797-1 MAC algorithm 3 (§9.8.6.1).
type tdesSuite struct {
	enc  cipher.Block
	mac3 retailMAC
}

func (s tdesSuite) block() int                 { return 8 }
func (s tdesSuite) encrypt(_, d []byte) []byte { return cbcEncrypt(s.enc, d) }
func (s tdesSuite) decrypt(_, d []byte) []byte { return cbcDecrypt(s.enc, d) }
func (s tdesSuite) mac(msg []byte) []byte      { return s.mac3.sum(msg) }

// aesSuite: AES-CBC with IV = E(KS_enc, SSC) (§9.8.6.2), AES-CMAC over the
// padded input, truncated to 8 bytes (§9.8.6.2, §9.8.5).
type aesSuite struct {
	enc cipher.Block
	cm  *cmac
}

func (s aesSuite) block() int { return aesBlock }

func (s aesSuite) iv(ssc []byte) []byte {
	iv := make([]byte, aesBlock)
	s.enc.Encrypt(iv, ssc)
	return iv
}

func (s aesSuite) encrypt(ssc, d []byte) []byte { return aesCBCEncrypt(s.enc, s.iv(ssc), d) }
func (s aesSuite) decrypt(ssc, d []byte) []byte { return aesCBCDecrypt(s.enc, s.iv(ssc), d) }
func (s aesSuite) mac(msg []byte) []byte        { return s.cm.sum(padBlock(msg, aesBlock))[:8] }

// newSMSession starts 3DES secure messaging after BAC with the given SSC.
func newSMSession(ksEnc, ksMac, ssc []byte) *smSession {
	return &smSession{
		suite: tdesSuite{enc: newTDES(ksEnc), mac3: newRetailMAC(ksMac)},
		ssc:   append([]byte(nil), ssc[:8]...),
		ksEnc: ksEnc, ksMac: ksMac,
	}
}

// newAESSMSession starts AES secure messaging with SSC = 0 (16 bytes), as
// after PACE (ICAO 9303-11 §4.4) and after Chip Authentication (§6.2), §9.8.
func newAESSMSession(ksEnc, ksMac []byte) *smSession {
	return &smSession{
		suite: aesSuite{enc: newAES(ksEnc), cm: newCMAC(ksMac)},
		ssc:   make([]byte, aesBlock),
		ksEnc: ksEnc, ksMac: ksMac,
	}
}

// incSSC increments the send sequence counter, an unsigned big-endian
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
// and the cryptogram of the padded data), '97' (Le) and '8E' (MAC), in that
// order. The MAC covers SSC ‖ padded header ‖ '87' ‖ '97', padded.
// On failure it returns 6987 (a mandatory object is missing) or 6988 (an
// object is wrong); the caller then ends the session.
func (s *smSession) unwrap(c command) (command, uint16) {
	s.incSSC()
	bs := s.suite.block()
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
	in := make([]byte, 0, 2*bs+len(raw87)+len(raw97))
	in = append(in, s.ssc...)
	in = append(in, padBlock([]byte{c.cla, c.ins, c.p1, c.p2}, bs)...)
	in = append(in, raw87...)
	in = append(in, raw97...)
	if len(do8E) != 8 || subtle.ConstantTimeCompare(s.suite.mac(in), do8E) != 1 {
		return command{}, swSMObjectsIncorrect
	}
	inner := command{cla: c.cla &^ 0x0C, ins: c.ins, p1: c.p1, p2: c.p2, extended: c.extended}
	if have87 {
		if len(do87) < 1+bs || do87[0] != 0x01 || (len(do87)-1)%bs != 0 {
			return command{}, swSMObjectsIncorrect
		}
		data, ok := unpadBlock(s.suite.decrypt(s.ssc, do87[1:]), bs)
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
	bs := s.suite.block()
	out := make([]byte, 0, wrappedLenBlock(len(data), bs)+2)
	if len(data) > 0 {
		cg := append([]byte{0x01}, s.suite.encrypt(s.ssc, padBlock(data, bs))...)
		out = appendTLV(out, 0x87, cg)
	}
	out = appendTLV(out, 0x99, []byte{byte(sw >> 8), byte(sw)})
	in := make([]byte, 0, bs+len(out))
	in = append(in, s.ssc...)
	in = append(in, out...)
	out = appendTLV(out, 0x8E, s.suite.mac(in))
	return append(out, byte(sw>>8), byte(sw))
}

// maxPlain is the largest plain response that fits in limit bytes once
// protected by this session.
func (s *smSession) maxPlain(limit int) int { return maxPlainForBlock(limit, s.suite.block()) }

// wrappedLen is the response data length (without SW1 SW2) of a protected
// 3DES response carrying n plain bytes.
func wrappedLen(n int) int { return wrappedLenBlock(n, 8) }

func wrappedLenBlock(n, bs int) int {
	l := 4 + 10 // '99' 02 SW1 SW2, '8E' 08 MAC
	if n > 0 {
		l += tlvLen(1 + (n/bs+1)*bs)
	}
	return l
}

// maxPlainFor is the largest plain response that still fits in limit bytes
// once protected with 3DES: 231 for a short APDU (limit 256).
func maxPlainFor(limit int) int { return maxPlainForBlock(limit, 8) }

func maxPlainForBlock(limit, bs int) int {
	n := limit
	for n > 0 && wrappedLenBlock(n, bs) > limit {
		n--
	}
	return n
}
