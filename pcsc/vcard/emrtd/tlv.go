package emrtd

// The chip's own BER-TLV code (ISO/IEC 7816-4 §5.2 / ISO/IEC 8825-1 §8.1): tags
// of up to three bytes, definite lengths of up to three length bytes. Nothing
// here is shared with package personalization.

// readTLV splits the first data object off b. ok is false when b does not
// start with a complete, well-formed object.
func readTLV(b []byte) (tag uint32, value, rest []byte, ok bool) {
	if len(b) == 0 {
		return 0, nil, nil, false
	}
	i := 1
	tag = uint32(b[0])
	if b[0]&0x1F == 0x1F { // subsequent tag bytes, b8 = more follow
		for {
			if i >= len(b) || i >= 3 {
				return 0, nil, nil, false
			}
			tag = tag<<8 | uint32(b[i])
			i++
			if b[i-1]&0x80 == 0 {
				break
			}
		}
	}
	if i >= len(b) {
		return 0, nil, nil, false
	}
	l := int(b[i])
	i++
	if l&0x80 != 0 {
		n := l & 0x7F
		if n == 0 || n > 3 || i+n > len(b) { // indefinite or too long a length
			return 0, nil, nil, false
		}
		l = 0
		for j := 0; j < n; j++ {
			l = l<<8 | int(b[i])
			i++
		}
	}
	if l > len(b)-i {
		return 0, nil, nil, false
	}
	return tag, b[i : i+l], b[i+l:], true
}

// appendTLV appends a data object with the shortest definite length.
func appendTLV(dst []byte, tag uint32, value []byte) []byte {
	switch {
	case tag > 0xFFFF:
		dst = append(dst, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xFF:
		dst = append(dst, byte(tag>>8), byte(tag))
	default:
		dst = append(dst, byte(tag))
	}
	dst = appendLength(dst, len(value))
	return append(dst, value...)
}

func appendLength(dst []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n <= 0xFF:
		return append(dst, 0x81, byte(n))
	case n <= 0xFFFF:
		return append(dst, 0x82, byte(n>>8), byte(n))
	default:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

// tlvLen is the encoded size of a one-byte-tag object with n value bytes.
func tlvLen(n int) int {
	return len(appendLength(nil, n)) + 1 + n
}
