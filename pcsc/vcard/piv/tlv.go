package piv

import "errors"

// BER-TLV as PIV uses it (SP 800-73-4 Part 2 §3 and Part 1 §3: tags of one
// to three bytes, definite lengths of up to three bytes). The token keeps its
// own small codec: it shares no protocol code with the host side.

var errTLV = errors.New("piv: malformed BER-TLV")

type tlv struct {
	tag   uint32
	value []byte
}

// parseTLV splits b into its top-level data objects.
func parseTLV(b []byte) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		// ISO/IEC 7816-4 §5.2.2.1: low five bits all set => more tag bytes,
		// each with b8 set while another follows.
		tag := uint32(b[0])
		i := 1
		if b[0]&0x1f == 0x1f {
			for {
				if i >= len(b) || i > 3 {
					return nil, errTLV
				}
				tag = tag<<8 | uint32(b[i])
				i++
				if b[i-1]&0x80 == 0 {
					break
				}
			}
		}
		if i >= len(b) {
			return nil, errTLV
		}
		// ISO/IEC 7816-4 §5.2.2.2: short form below 0x80, else 0x81..0x83
		// followed by that many length bytes.
		n := int(b[i])
		i++
		if n >= 0x80 {
			k := n & 0x7f
			if k == 0 || k > 3 || i+k > len(b) {
				return nil, errTLV
			}
			n = 0
			for _, c := range b[i : i+k] {
				n = n<<8 | int(c)
			}
			i += k
		}
		if n > len(b)-i {
			return nil, errTLV
		}
		out = append(out, tlv{tag: tag, value: b[i : i+n]})
		b = b[i+n:]
	}
	return out, nil
}

// find returns the value of the first object with the tag.
func find(objs []tlv, tag uint32) ([]byte, bool) {
	for _, o := range objs {
		if o.tag == tag {
			return o.value, true
		}
	}
	return nil, false
}

// encodeTLV encodes one data object with a definite length in its shortest form.
func encodeTLV(tag uint32, value []byte) []byte {
	var out []byte
	switch {
	case tag > 0xffff:
		out = append(out, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xff:
		out = append(out, byte(tag>>8), byte(tag))
	default:
		out = append(out, byte(tag))
	}
	switch n := len(value); {
	case n < 0x80:
		out = append(out, byte(n))
	case n <= 0xff:
		out = append(out, 0x81, byte(n))
	case n <= 0xffff:
		out = append(out, 0x82, byte(n>>8), byte(n))
	default:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, value...)
}
