package piv

import (
	"bytes"
	"testing"
)

func TestTLVRoundTripsMultiByteTagsAndLongLengths(t *testing.T) {
	for _, tc := range []struct {
		tag uint32
		n   int
	}{{0x53, 0}, {0x7c, 0x7f}, {0x7f49, 0x80}, {0x5fc10a, 0x100}, {0x5fc10a, 0x10000}} {
		v := bytes.Repeat([]byte{0xa5}, tc.n)
		objs, err := parseTLV(encodeTLV(tc.tag, v))
		if err != nil || len(objs) != 1 || objs[0].tag != tc.tag || !bytes.Equal(objs[0].value, v) {
			t.Fatalf("tag %X, %d bytes: parse(encode) = %+v, %v", tc.tag, tc.n, objs, err)
		}
	}
}

// FuzzParseTLV: the parser faces the host's command data. It must not
// panic, and what it accepts must encode back to the same bytes when the
// input used shortest lengths.
func FuzzParseTLV(f *testing.F) {
	f.Add([]byte{0x5c, 0x03, 0x5f, 0xc1, 0x0a, 0x53, 0x81, 0x01, 0x00})
	f.Add([]byte{0x7c, 0x04, 0x82, 0x00, 0x81, 0x00})
	f.Add([]byte{0x7f, 0x49, 0x03, 0x86, 0x01, 0x04})
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := parseTLV(b)
		if err != nil {
			return
		}
		var out []byte
		for _, o := range objs {
			out = append(out, encodeTLV(o.tag, o.value)...)
		}
		if len(out) > len(b) {
			t.Fatalf("%X re-encodes longer: %X", b, out)
		}
	})
}
