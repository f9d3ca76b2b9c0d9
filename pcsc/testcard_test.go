package pcsc_test

import (
	"crypto/sha256"
	"sync"

	"github.com/cccd-station/station/pcsc/vcard"
)

// testCard is a small card for the transmit rules. Its instructions:
//
//	00 10 HH LL        answers 61xx, then gives HHLL pattern bytes by GET RESPONSE
//	00 12 00 LL Le     answers 6C LL unless Le = LL, then LL pattern bytes
//	00 14 00 00 data   echoes data (extended lengths when the ATR says so)
//	x0/x1 16 00 00     command chaining (CLA b5): answers SHA-256 of all links' data
//	00 18 00 00        answers how many APDUs it processed before this one (2 bytes)
//	00 A4 04 00 AID    SELECT: the card manager A000000151000000 when cplc is set
//	80 CA 9F 7F        GET DATA CPLC when cplc is set
//	FF CA 00 00        the UID when uid is set
//
// After removeAfter APDUs (when > 0) Process returns vcard.ErrRemoved.
type testCard struct {
	atr         []byte
	removeAfter int
	cplc        []byte
	uid         []byte

	mu       sync.Mutex
	apdus    int
	pending  []byte
	chain    []byte
	powerOns int
	offs     int
	resets   int
}

// ATRs: T=1 (3B 8x 80 01), historical bytes 80 (compact-TLV) and the card
// capabilities 73 xx xx yy: yy b8 command chaining, b7 extended Lc/Le
// (ISO/IEC 7816-4 §8.1.1.2.7).
func testATR(extended bool) []byte {
	caps := byte(0x80) // chaining
	if extended {
		caps |= 0x40
	}
	atr := []byte{0x3B, 0x85, 0x80, 0x01, 0x80, 0x73, 0x00, 0x00, caps}
	var x byte
	for _, b := range atr[1:] {
		x ^= b
	}
	return append(atr, x)
}

func newTestCard(extended bool) *testCard { return &testCard{atr: testATR(extended)} }

func (c *testCard) ATR() []byte { return c.atr }

func (c *testCard) PowerOn() {
	c.mu.Lock()
	c.powerOns++
	c.mu.Unlock()
}

func (c *testCard) PowerOff() {
	c.mu.Lock()
	c.offs++
	c.pending, c.chain = nil, nil
	c.mu.Unlock()
}

func (c *testCard) Reset() {
	c.mu.Lock()
	c.resets++
	c.pending, c.chain = nil, nil
	c.mu.Unlock()
}

func (c *testCard) counts() (apdus, offs, resets int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.apdus, c.offs, c.resets
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

func sw(data []byte, sw uint16) []byte {
	return append(append([]byte(nil), data...), byte(sw>>8), byte(sw))
}

func (c *testCard) Process(apdu []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removeAfter > 0 && c.apdus >= c.removeAfter {
		return nil, vcard.ErrRemoved
	}
	n := c.apdus
	c.apdus++
	cla, ins, p1, p2 := apdu[0], apdu[1], apdu[2], apdu[3]
	body := apdu[4:]
	// Lengths, enough for this card: short Lc/Le, or extended.
	var data []byte
	le := -1
	switch {
	case len(body) == 1:
		le = int(body[0])
	case len(body) > 1 && body[0] != 0:
		data = body[1 : 1+int(body[0])]
		if len(body) == 2+int(body[0]) {
			le = int(body[len(body)-1])
		}
	case len(body) == 3:
		le = int(body[1])<<8 | int(body[2])
	case len(body) > 3:
		nc := int(body[1])<<8 | int(body[2])
		data = body[3 : 3+nc]
	}
	switch {
	case ins == 0xC0: // GET RESPONSE
		if len(c.pending) == 0 {
			return sw(nil, 0x6985), nil
		}
		if le == 0 {
			le = 256
		}
		k := min(le, len(c.pending))
		out := c.pending[:k]
		c.pending = c.pending[k:]
		if r := len(c.pending); r > 0 {
			return sw(out, 0x6100|uint16(min(r, 256)&0xFF)), nil
		}
		return sw(out, 0x9000), nil
	case ins == 0x10:
		total := int(p1)<<8 | int(p2)
		c.pending = pattern(total)
		return sw(nil, 0x6100|uint16(min(total, 256)&0xFF)), nil
	case ins == 0x12:
		if le != int(p2) {
			return sw(nil, 0x6C00|uint16(p2)), nil
		}
		return sw(pattern(int(p2)), 0x9000), nil
	case ins == 0x14:
		return sw(data, 0x9000), nil
	case ins == 0x16:
		c.chain = append(c.chain, data...)
		if cla&0x10 != 0 {
			return sw(nil, 0x9000), nil
		}
		h := sha256.Sum256(c.chain)
		c.chain = nil
		return sw(h[:], 0x9000), nil
	case ins == 0x18:
		return sw([]byte{byte(n >> 8), byte(n)}, 0x9000), nil
	case ins == 0xA4 && p1 == 0x04:
		if c.cplc != nil && string(data) == "\xA0\x00\x00\x01\x51\x00\x00\x00" {
			return sw(nil, 0x9000), nil
		}
		return sw(nil, 0x6A82), nil
	case cla == 0x80 && ins == 0xCA && p1 == 0x9F && p2 == 0x7F:
		if c.cplc == nil {
			return sw(nil, 0x6A88), nil
		}
		return sw(append([]byte{0x9F, 0x7F, byte(len(c.cplc))}, c.cplc...), 0x9000), nil
	case cla == 0xFF && ins == 0xCA:
		if c.uid == nil {
			return sw(nil, 0x6A81), nil
		}
		return sw(c.uid, 0x9000), nil
	}
	return sw(nil, 0x6D00), nil
}
