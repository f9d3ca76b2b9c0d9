// Package lds encodes and decodes the Logical Data Structure of an eMRTD
// (ICAO Doc 9303 Part 10): BER-TLV, the TD1 MRZ (Part 3, Part 5), EF.COM,
// DG1, DG2, DG3, DG13 (the Vietnam-specific data group), DG15 and the
// Document Security Object EF.SOD (Part 10 §4.6.2, RFC 5652).
//
// It is the station's own code, deliberately independent of the virtual
// chips in pcsc/vcard.
package lds

import (
	"errors"
	"fmt"
)

// ErrTLV is wrapped by every TLV decoding error.
var ErrTLV = errors.New("lds: malformed BER-TLV")

// Tag is a BER-TLV tag of one to three bytes, as its big-endian value
// (0x61, 0x5F1F, 0x7F61).
type Tag uint32

// appendTag writes t in its bytes.
func appendTag(b []byte, t Tag) []byte {
	switch {
	case t > 0xFFFF:
		return append(b, byte(t>>16), byte(t>>8), byte(t))
	case t > 0xFF:
		return append(b, byte(t>>8), byte(t))
	default:
		return append(b, byte(t))
	}
}

// appendLength writes n in the shortest definite form (ISO/IEC 7816-4
// §5.2.2.2; ICAO 9303-10 §4.3: 81 xx from 128, 82 xx xx from 256).
func appendLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xFF:
		return append(b, 0x81, byte(n))
	case n <= 0xFFFF:
		return append(b, 0x82, byte(n>>8), byte(n))
	default:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

// TLV encodes one data object whose value is the concatenation of values.
func TLV(t Tag, values ...[]byte) []byte {
	n := 0
	for _, v := range values {
		n += len(v)
	}
	b := make([]byte, 0, 4+4+n)
	b = appendTag(b, t)
	b = appendLength(b, n)
	for _, v := range values {
		b = append(b, v...)
	}
	return b
}

// Object is one decoded data object.
type Object struct {
	Tag   Tag
	Value []byte // aliases the input
	Raw   []byte // tag, length and value, aliasing the input
}

// Constructed reports whether the tag's first byte has b6 set (ISO/IEC
// 7816-4 §5.2.2.1): the value is itself a sequence of data objects.
func (o Object) Constructed() bool {
	first := o.Tag
	for first > 0xFF {
		first >>= 8
	}
	return first&0x20 != 0
}

// Children decodes the value of a constructed object.
func (o Object) Children() ([]Object, error) { return ParseAll(o.Value) }

// Parse decodes the first data object of b and returns the rest. It never
// reads beyond b and refuses indefinite and overlong lengths.
func Parse(b []byte) (Object, []byte, error) {
	var o Object
	if len(b) == 0 {
		return o, nil, fmt.Errorf("%w: empty input", ErrTLV)
	}
	// Tag: ISO/IEC 7816-4 §5.2.2.1 — low five bits all set means more
	// bytes follow; subsequent bytes with b8 set continue.
	i := 1
	t := Tag(b[0])
	if b[0]&0x1F == 0x1F {
		for {
			if i >= len(b) {
				return o, nil, fmt.Errorf("%w: truncated tag", ErrTLV)
			}
			if i == 3 {
				return o, nil, fmt.Errorf("%w: tag longer than three bytes", ErrTLV)
			}
			t = t<<8 | Tag(b[i])
			i++
			if b[i-1]&0x80 == 0 {
				break
			}
		}
	}
	if i >= len(b) {
		return o, nil, fmt.Errorf("%w: tag %X without length", ErrTLV, uint32(t))
	}
	n := int(b[i])
	i++
	if n >= 0x80 {
		k := n & 0x7F
		switch {
		case k == 0:
			return o, nil, fmt.Errorf("%w: indefinite length in tag %X", ErrTLV, uint32(t))
		case k > 3:
			return o, nil, fmt.Errorf("%w: %d length bytes in tag %X", ErrTLV, k, uint32(t))
		case i+k > len(b):
			return o, nil, fmt.Errorf("%w: truncated length in tag %X", ErrTLV, uint32(t))
		}
		n = 0
		for j := 0; j < k; j++ {
			n = n<<8 | int(b[i+j])
		}
		i += k
	}
	if n > len(b)-i {
		return o, nil, fmt.Errorf("%w: tag %X declares %d bytes, %d present", ErrTLV, uint32(t), n, len(b)-i)
	}
	o.Tag = t
	o.Value = b[i : i+n]
	o.Raw = b[:i+n]
	return o, b[i+n:], nil
}

// ParseOne decodes b as exactly one data object with tag want.
func ParseOne(b []byte, want Tag) (Object, error) {
	o, rest, err := Parse(b)
	if err != nil {
		return o, err
	}
	if o.Tag != want {
		return o, fmt.Errorf("%w: tag %X where %X expected", ErrTLV, uint32(o.Tag), uint32(want))
	}
	if len(rest) != 0 {
		return o, fmt.Errorf("%w: %d bytes after tag %X", ErrTLV, len(rest), uint32(want))
	}
	return o, nil
}

// ParseAll decodes a concatenation of data objects.
func ParseAll(b []byte) ([]Object, error) {
	var out []Object
	for len(b) > 0 {
		o, rest, err := Parse(b)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
		b = rest
	}
	return out, nil
}

// Find returns the first child with tag t.
func Find(objs []Object, t Tag) (Object, bool) {
	for _, o := range objs {
		if o.Tag == t {
			return o, true
		}
	}
	return Object{}, false
}
