package pcsc

import (
	"bytes"
	"testing"
)

// ParseCommand faces whatever a caller hands to Transmit: it must never
// panic, and what it accepts must encode back to the same bytes.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"00A4040C07A0000002471001", "00B0000000", "00D60000000003010203", "00B00000000000", "0084000008"} {
		f.Add(unhex(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ext, err := ParseCommand(b)
		if err != nil {
			return
		}
		var again []byte
		if ext {
			again, err = c.EncodeExtended()
		} else {
			again, err = c.EncodeShort()
		}
		if err != nil {
			t.Fatalf("ParseCommand(%X) = %+v ext=%v, which does not encode: %v", b, c, ext, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("ParseCommand(%X) encodes back to %X", b, again)
		}
	})
}

// ParseATR faces the card: it must never panic.
func FuzzParseATR(f *testing.F) {
	for _, s := range []string{"3B8B80018073C821C056435831343400", "3B021415", "3B888001 8073C82140000000 00"} {
		f.Add(unhex(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseATR(b)
		if err == nil && len(info.Historical) > 15 {
			t.Fatalf("ParseATR(%X): %d historical bytes", b, len(info.Historical))
		}
	})
}

// serialFromCPLC faces the card's GET DATA answer.
func FuzzSerialFromCPLC(f *testing.F) {
	f.Add(append([]byte{0x9F, 0x7F, 0x2A}, make([]byte, 42)...))
	f.Add([]byte{0x9F, 0x7F, 0xFF, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := serialFromCPLC(b); err == nil && len(s) != 20 {
			t.Fatalf("serial %q from %X", s, b)
		}
	})
}
