package vcard_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cccd-station/station/pcsc/vcard"
)

// recCard records the reader's calls. Its instructions:
//
//	00 14 00 00 data   echo
//	00 22 00 00        sets a volatile flag (like a verified PIN)
//	00 24 00 00 01     answers the flag (01 set, 00 not)
//	00 D6 ...          UPDATE BINARY: the card is written from then on
//
// After removeAfter APDUs (when > 0) Process returns vcard.ErrRemoved.
type recCard struct {
	serial      string
	removeAfter int

	mu       sync.Mutex
	apdus    int
	ons      int
	offs     int
	resets   int
	volatile bool
	written  bool
	data     []byte
}

var serials atomic.Int64

func newRecCard() *recCard {
	return &recCard{serial: fmt.Sprintf("4790%04X000000%06X", 0x5555, serials.Add(1))}
}

// T=1, historical bytes 80 73 00 00 80 (chaining), TCK.
var recATR = func() []byte {
	atr := []byte{0x3B, 0x85, 0x80, 0x01, 0x80, 0x73, 0x00, 0x00, 0x80}
	var x byte
	for _, b := range atr[1:] {
		x ^= b
	}
	return append(atr, x)
}()

func (c *recCard) ATR() []byte { return recATR }

func (c *recCard) PowerOn() {
	c.mu.Lock()
	c.ons++
	c.mu.Unlock()
}

func (c *recCard) PowerOff() {
	c.mu.Lock()
	c.offs++
	c.volatile = false
	c.mu.Unlock()
}

func (c *recCard) Reset() {
	c.mu.Lock()
	c.resets++
	c.volatile = false
	c.mu.Unlock()
}

type recCounts struct{ apdus, ons, offs, resets int }

func (c *recCard) counts() recCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return recCounts{c.apdus, c.ons, c.offs, c.resets}
}

func (c *recCard) Process(apdu []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removeAfter > 0 && c.apdus >= c.removeAfter {
		return nil, vcard.ErrRemoved
	}
	c.apdus++
	switch apdu[1] {
	case 0x14:
		if len(apdu) > 5 {
			return append(append([]byte(nil), apdu[5:5+int(apdu[4])]...), 0x90, 0x00), nil
		}
		return []byte{0x90, 0x00}, nil
	case 0x22:
		c.volatile = true
		return []byte{0x90, 0x00}, nil
	case 0x24:
		if c.volatile {
			return []byte{0x01, 0x90, 0x00}, nil
		}
		return []byte{0x00, 0x90, 0x00}, nil
	case 0xD6:
		c.written = true
		if len(apdu) > 5 {
			c.data = append(c.data, apdu[5:]...)
		}
		return []byte{0x90, 0x00}, nil
	}
	return []byte{0x6D, 0x00}, nil
}

// vcard.Persistent

func (c *recCard) Serial() string { return c.serial }

func (c *recCard) Written() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written
}

func (c *recCard) MarshalJSON() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return json.Marshal(struct {
		Serial string `json:"serial"`
		Data   []byte `json:"data"`
	}{c.serial, c.data})
}
