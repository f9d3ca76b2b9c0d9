package biometrics

// A small BER-TLV reader and writer for the CBEFF templates (ISO/IEC 7816-4 §5.2, ISO/IEC 8825-1
// §8.1). It is this package's own: the LDS code of personalization/lds has its own, and the two
// are not to share code.

// tlv is one data object. value aliases the input.
type tlv struct {
	tag         uint32
	constructed bool
	value       []byte
}

// maxTagBytes bounds tags to three bytes, which covers every tag of ISO/IEC 7816-4 and the LDS.
const maxTagBytes = 3

// readTLV reads the data object at the start of b and returns it and the bytes after it. It
// refuses padding bytes 00 and FF where a tag should be, tags longer than three bytes or not in
// their shortest form, the indefinite length 80, length fields over four bytes or not in their
// shortest form (ICAO 9303-10 §4.1 and chip-data.md §1: lengths are in their shortest form), and
// values running past the end of b.
func readTLV(b []byte) (tlv, []byte, error) {
	var t tlv
	if len(b) == 0 {
		return t, nil, malformed("TLV: no data where a tag was expected")
	}
	// Tag (ISO/IEC 7816-4 §5.2.2.1).
	first := b[0]
	if first == 0x00 || first == 0xff {
		return t, nil, malformed("TLV: invalid tag byte %02X", first)
	}
	t.constructed = first&0x20 != 0
	t.tag = uint32(first)
	n := 1
	if first&0x1f == 0x1f {
		for {
			if n >= len(b) {
				return t, nil, malformed("TLV: tag %X truncated", t.tag)
			}
			c := b[n]
			if n == 1 && (c == 0x80 || c < 0x1f) {
				return t, nil, malformed("TLV: tag %X%02X not in shortest form", t.tag, c)
			}
			t.tag = t.tag<<8 | uint32(c)
			n++
			if c&0x80 == 0 {
				break
			}
			if n >= maxTagBytes {
				return t, nil, malformed("TLV: tag %X longer than %d bytes", t.tag, maxTagBytes)
			}
		}
	}
	// Length (ISO/IEC 7816-4 §5.2.2.2).
	if n >= len(b) {
		return t, nil, malformed("TLV: length of tag %X missing", t.tag)
	}
	l := uint64(b[n])
	n++
	if l >= 0x80 {
		k := int(l & 0x7f)
		if k == 0 {
			return t, nil, malformed("TLV: tag %X has the indefinite length form", t.tag)
		}
		if k > 4 {
			return t, nil, malformed("TLV: tag %X has a %d-byte length field", t.tag, k)
		}
		if len(b)-n < k {
			return t, nil, malformed("TLV: length of tag %X truncated", t.tag)
		}
		l = 0
		for _, c := range b[n : n+k] {
			l = l<<8 | uint64(c)
		}
		n += k
		if (k == 1 && l < 0x80) || (k > 1 && l < 1<<(8*(k-1))) {
			return t, nil, malformed("TLV: length %d of tag %X not in its shortest form", l, t.tag)
		}
	}
	if l > uint64(len(b)-n) {
		return t, nil, malformed("TLV: tag %X declares %d bytes, %d left", t.tag, l, len(b)-n)
	}
	t.value = b[n : n+int(l)]
	return t, b[n+int(l):], nil
}

// readOne reads b as exactly one data object with the given tag.
func readOne(b []byte, tag uint32) (tlv, error) {
	t, rest, err := readTLV(b)
	if err != nil {
		return t, err
	}
	if t.tag != tag {
		return t, malformed("TLV: tag %X where %X was expected", t.tag, tag)
	}
	if len(rest) != 0 {
		return t, malformed("TLV: %d bytes after tag %X", len(rest), tag)
	}
	return t, nil
}

// readAll reads the data objects that make up a constructed value.
func readAll(b []byte) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		t, rest, err := readTLV(b)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		b = rest
	}
	return out, nil
}

// appendTLV appends tag, the shortest length and value.
func appendTLV(dst []byte, tag uint32, value []byte) []byte {
	dst = appendTag(dst, tag)
	dst = appendLength(dst, len(value))
	return append(dst, value...)
}

func appendTag(dst []byte, tag uint32) []byte {
	switch {
	case tag > 0xffff:
		return append(dst, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xff:
		return append(dst, byte(tag>>8), byte(tag))
	}
	return append(dst, byte(tag))
}

// appendLength appends a definite length in its shortest form.
func appendLength(dst []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n <= 0xff:
		return append(dst, 0x81, byte(n))
	case n <= 0xffff:
		return append(dst, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}
