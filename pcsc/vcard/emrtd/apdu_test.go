package emrtd

import (
	"bytes"
	"testing"
)

func TestParseCommandDecodesEveryISOCase(t *testing.T) {
	long := bytes.Repeat([]byte{0xAB}, 300)
	for _, tc := range []struct {
		name     string
		apdu     string
		ok       bool
		nc, ne   int
		hasLe    bool
		extended bool
	}{
		{"case 1", "00A40000", true, 0, 0, false, false},
		{"case 2S Le=08", "0084000008", true, 0, 8, true, false},
		{"case 2S Le=00 is 256", "00B0000000", true, 0, 256, true, false},
		{"case 3S", "00A4020C02011E", true, 2, 0, false, false},
		{"case 4S", "00A4020C02011E00", true, 2, 256, true, false},
		{"case 2E Le=0000 is 65536", "00B00000000000", true, 0, 65536, true, true},
		{"case 2E Le=0100", "00B00000000100", true, 0, 256, true, true},
		{"case 3E", "00DA006000000301020" + "3", true, 3, 0, false, true},
		{"case 4E", "00880000000008" + "0102030405060708" + "0000", true, 8, 65536, true, true},
		{"3 bytes", "00A400", false, 0, 0, false, false},
		{"Lc longer than the data", "00A4020C03011E", false, 0, 0, false, false},
		{"Lc shorter than the data", "00A4020C01011E00", false, 0, 0, false, false},
		{"extended Lc 0000 with data", "00D60000000000AA", false, 0, 0, false, false},
		{"extended, one byte after 00", "00D600000001", false, 0, 0, false, false},
		{"extended Lc larger than the data", "00D6000000000501", false, 0, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := parseCommand(unhex(t, tc.apdu))
			if ok != tc.ok {
				t.Fatalf("parseCommand(%s) ok = %t, want %t", tc.apdu, ok, tc.ok)
			}
			if !ok {
				return
			}
			if len(c.data) != tc.nc || c.ne != tc.ne || c.hasLe != tc.hasLe || c.extended != tc.extended {
				t.Errorf("parseCommand(%s) = Nc %d Ne %d hasLe %t ext %t; want %d %d %t %t", tc.apdu,
					len(c.data), c.ne, c.hasLe, c.extended, tc.nc, tc.ne, tc.hasLe, tc.extended)
			}
		})
	}
	// Round trip of the test reader's encoder.
	for _, ne := range []int{0, 1, 256, 257, 65536} {
		for _, data := range [][]byte{nil, {1}, long} {
			a := buildAPDU(0x00, 0xDA, 0x00, 0x60, data, ne, false)
			c, ok := parseCommand(a)
			if !ok || !bytes.Equal(c.data, data) || c.ne != ne {
				t.Errorf("round trip Nc=%d Ne=%d: got ok=%t Nc=%d Ne=%d (%s)", len(data), ne, ok, len(c.data), c.ne, hx(a))
			}
		}
	}
}

func TestTLVReadsWhatItWritesAndRejectsTruncation(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 65535, 65536} {
		for _, tag := range []uint32{0x04, 0x5F1F, 0x7F4E, 0x9F7F} {
			v := bytes.Repeat([]byte{0x5A}, n)
			enc := appendTLV(nil, tag, v)
			gotTag, gotV, rest, ok := readTLV(append(enc, 0xFF))
			if !ok || gotTag != tag || !bytes.Equal(gotV, v) || !bytes.Equal(rest, []byte{0xFF}) {
				t.Fatalf("tag %X len %d: read back tag %X len %d rest %s ok %t", tag, n, gotTag, len(gotV), hx(rest), ok)
			}
			if n > 0 {
				if _, _, _, ok := readTLV(enc[:len(enc)-1]); ok {
					t.Fatalf("tag %X len %d: truncated object accepted", tag, n)
				}
			}
		}
	}
	for _, bad := range []string{"", "04", "0480", "0485000000000000", "1F", "1FFF", "1F8181", "048201"} {
		if _, _, _, ok := readTLV(unhex(t, bad)); ok {
			t.Errorf("readTLV(%s) accepted a malformed object", bad)
		}
	}
}

func TestPaddingMethod2RoundTripsAndRejectsGarbage(t *testing.T) {
	for n := 0; n <= 17; n++ {
		b := bytes.Repeat([]byte{0x80}, n)
		p := pad(b)
		if len(p)%8 != 0 || len(p) <= n || len(p) > n+8 {
			t.Fatalf("pad(%d bytes) = %d bytes", n, len(p))
		}
		u, ok := unpad(p)
		if !ok || !bytes.Equal(u, b) {
			t.Fatalf("unpad(pad(%d bytes)) = %s, %t", n, hx(u), ok)
		}
	}
	for _, bad := range []string{"", "0000000000000000", "0102030405060701", "8000000000000001"} {
		if _, ok := unpad(unhex(t, bad)); ok {
			t.Errorf("unpad(%s) accepted", bad)
		}
	}
}

// TestSMResponseRoomIsWhatTheStationCanAskFor pins the secure messaging read
// limits: 231 plain bytes fit a short response (256), 2023 an extended one on
// ext144 (2048).
func TestSMResponseRoomIsWhatTheStationCanAskFor(t *testing.T) {
	for _, tc := range []struct{ limit, want int }{{256, 231}, {2048, 2023}, {14, 0}} {
		got := maxPlainFor(tc.limit)
		if got != tc.want {
			t.Errorf("maxPlainFor(%d) = %d, want %d", tc.limit, got, tc.want)
		}
		if got > 0 && wrappedLen(got) > tc.limit {
			t.Errorf("wrappedLen(%d) = %d > %d", got, wrappedLen(got), tc.limit)
		}
		if wrappedLen(got+1) <= tc.limit {
			t.Errorf("maxPlainFor(%d) = %d but %d also fits", tc.limit, got, got+1)
		}
	}
	s := newSMSession(make([]byte, 16), make([]byte, 16), make([]byte, 8))
	for _, n := range []int{0, 1, 7, 8, 231, 232, 2023} {
		if got := len(s.wrap(make([]byte, n), swOK)) - 2; got != wrappedLen(n) {
			t.Errorf("wrap(%d bytes) = %d bytes, wrappedLen says %d", n, got, wrappedLen(n))
		}
	}
}
