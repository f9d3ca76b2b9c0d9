package chipauth

import "testing"

// FuzzParseResponse: the chip's answer to GENERAL AUTHENTICATE of Chip
// Authentication. Never panics; only 7C 00 is accepted.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte{0x7C, 0x00})
	f.Add([]byte{0x7C, 0x02, 0x80, 0x00})
	f.Add([]byte{0x7C, 0x81, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		if ParseResponse(b) == nil && (len(b) != 2 || b[0] != 0x7C || b[1] != 0) {
			t.Fatalf("accepted %X", b)
		}
	})
}
