package biometrics

import (
	"encoding/binary"
	"fmt"
	"log/slog"
)

// CBEFF biometric information templates of the LDS: ICAO Doc 9303-10 §4.7.2 (DG2) and §4.7.3
// (DG3), the ISO/IEC 7816-11 / ISO/IEC 19785-3 "simple BIT" patron format:
//
//	7F61 biometric information group template
//	  02   number of instances
//	  7F60 biometric information template, one per instance
//	    A1   biometric header template
//	      80 patron header version   81 biometric type   82 biometric subtype
//	      87 BDB format owner        88 BDB format type
//	    5F2E biometric data block (the ISO/IEC 19794 record)

// BER-TLV tags of ICAO 9303-10 §4.7.2.1 (Tables 34–36).
const (
	tagDG2         = 0x75
	tagDG3         = 0x63
	tagBITGroup    = 0x7f61
	tagBIT         = 0x7f60
	tagCount       = 0x02
	tagBHT         = 0xa1
	tagBDB         = 0x5f2e
	tagBDBEnc      = 0x7f2e
	tagHdrVersion  = 0x80
	tagBioType     = 0x81
	tagBioSubtype  = 0x82
	tagFormatOwner = 0x87
	tagFormatType  = 0x88
)

// CBEFF values written in the biometric header templates.
const (
	// CBEFFPatronHeaderVersion is the patron header version 1.1 (tag 80), ICAO 9303-10 Table 36.
	CBEFFPatronHeaderVersion = 0x0101

	// Biometric types (tag 81), ISO/IEC 19785-1 §6.5.6 (CBEFF_BDB_biometric_type) as used by
	// ICAO 9303-10 Table 36 in one byte.
	CBEFFTypeFace   = 0x02 // facial features
	CBEFFTypeFinger = 0x08 // finger

	// CBEFFFormatOwnerSC37 is the BDB format owner ISO/IEC JTC 1/SC 37 (tag 87), registered by
	// IBIA (https://www.ibia.org/cbeff/iso/biometric-organizations).
	CBEFFFormatOwnerSC37 = 0x0101

	// BDB format types of format owner SC 37 (tag 88), from the IBIA register of SC 37 BDB
	// format identifiers (https://www.ibia.org/cbeff/iso/bdb-format-identifiers). The same
	// values appear in JMRTD (StandardBiometricHeader / FingerInfo / FaceInfo: 0x0007 finger
	// image, 0x0008 face image; ICAO Doc 9303 supplement R3-p1_v2_sII_0001 for the face) and in
	// MOSIP's CBEFF constants (2 = finger minutiae record format, 7 = finger image, 8 = face).
	CBEFFFormatFingerMinutiae = 0x0002 // ISO/IEC 19794-2 finger minutiae record format
	CBEFFFormatFingerImage    = 0x0007 // ISO/IEC 19794-4 finger image
	CBEFFFormatFaceImage      = 0x0008 // ISO/IEC 19794-5 face image
)

// BiometricHeader is the biometric header template (tag A1) of a BIT.
type BiometricHeader struct {
	PatronHeaderVersion uint16 // tag 80, 0 when absent
	BiometricType       uint32 // tag 81, 0 when absent
	BiometricSubtype    byte   // tag 82, 0 when absent (which also means "no information")
	FormatOwner         uint16 // tag 87 (mandatory)
	FormatType          uint16 // tag 88 (mandatory)
}

// BiometricInfo is one biometric information template (tag 7F60): its header and its biometric
// data block. Data holds biometric data: log it only through LogValue (or String).
type BiometricInfo struct {
	Header BiometricHeader
	Data   []byte
}

// LogValue implements slog.LogValuer: the header and the size of the data block.
func (b BiometricInfo) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("type", int(b.Header.BiometricType)),
		slog.Int("subtype", int(b.Header.BiometricSubtype)),
		slog.String("format", fmt.Sprintf("%04X/%04X", b.Header.FormatOwner, b.Header.FormatType)),
		slog.Int("bytes", len(b.Data)),
	)
}

// String describes the template without its data block.
func (b BiometricInfo) String() string {
	return fmt.Sprintf("BIT type %02X subtype %02X format %04X/%04X, %d-byte BDB",
		b.Header.BiometricType, b.Header.BiometricSubtype, b.Header.FormatOwner, b.Header.FormatType, len(b.Data))
}

// EncodeDG2 returns the biometric information group template (tag 7F61) of DG2 (ICAO 9303-10
// §4.7.2): the number of instances, then one BIT per ISO/IEC 19794-5 facial record with header
// 80 0101, 81 02 (face), 87 0101, 88 0008. The caller wraps it in the DG2 tag 75.
func EncodeDG2(faceRecords ...[]byte) ([]byte, error) {
	if len(faceRecords) == 0 || len(faceRecords) > 255 {
		return nil, fmt.Errorf("encoding DG2: %d face records, want 1 to 255", len(faceRecords))
	}
	bits := make([]BiometricInfo, len(faceRecords))
	for i, rec := range faceRecords {
		if _, err := DecodeFaceRecord(rec); err != nil {
			return nil, fmt.Errorf("encoding DG2: face record %d: %w", i, err)
		}
		bits[i] = BiometricInfo{
			Header: BiometricHeader{
				PatronHeaderVersion: CBEFFPatronHeaderVersion,
				BiometricType:       CBEFFTypeFace,
				FormatOwner:         CBEFFFormatOwnerSC37,
				FormatType:          CBEFFFormatFaceImage,
			},
			Data: rec,
		}
	}
	return encodeBITGroup(bits), nil
}

// EncodeDG3 returns the biometric information group template (tag 7F61) of DG3 (ICAO 9303-10
// §4.7.3): one BIT per finger record with header 80 0101, 81 08 (finger), 82 the finger's
// biometric subtype (omitted when unknown), 87 0101 and 88 0002 (19794-2 minutiae) or 0007
// (19794-4 image). The records are embedded as FingerRecord.Record. The caller wraps it in tag 63.
func EncodeDG3(fingers ...*FingerRecord) ([]byte, error) {
	if len(fingers) == 0 || len(fingers) > 255 {
		return nil, fmt.Errorf("encoding DG3: %d finger records, want 1 to 255", len(fingers))
	}
	bits := make([]BiometricInfo, len(fingers))
	for i, f := range fingers {
		if f == nil || len(f.Record) == 0 {
			return nil, fmt.Errorf("encoding DG3: finger record %d is empty", i)
		}
		ft, err := cbeffFormatType(f.Format)
		if err != nil {
			return nil, fmt.Errorf("encoding DG3: finger record %d: %w", i, err)
		}
		bits[i] = BiometricInfo{
			Header: BiometricHeader{
				PatronHeaderVersion: CBEFFPatronHeaderVersion,
				BiometricType:       CBEFFTypeFinger,
				BiometricSubtype:    f.CBEFFSubtype(),
				FormatOwner:         CBEFFFormatOwnerSC37,
				FormatType:          ft,
			},
			Data: f.Record,
		}
	}
	return encodeBITGroup(bits), nil
}

func cbeffFormatType(format string) (uint16, error) {
	switch format {
	case FormatFingerMinutiae:
		return CBEFFFormatFingerMinutiae, nil
	case FormatFingerImage:
		return CBEFFFormatFingerImage, nil
	}
	return 0, fmt.Errorf("unknown finger record format %q", format)
}

func encodeBITGroup(bits []BiometricInfo) []byte {
	size := 3
	for _, b := range bits {
		size += len(b.Data) + 64
	}
	group := make([]byte, 0, size)
	group = appendTLV(group, tagCount, []byte{byte(len(bits))})
	for _, b := range bits {
		var hdr []byte
		hdr = appendTLV(hdr, tagHdrVersion, binary.BigEndian.AppendUint16(nil, b.Header.PatronHeaderVersion))
		typ := binary.BigEndian.AppendUint32(nil, b.Header.BiometricType)
		for len(typ) > 1 && typ[0] == 0 { // 1 to 3 bytes, ICAO writes one
			typ = typ[1:]
		}
		hdr = appendTLV(hdr, tagBioType, typ)
		if b.Header.BiometricSubtype != 0 {
			hdr = appendTLV(hdr, tagBioSubtype, []byte{b.Header.BiometricSubtype})
		}
		hdr = appendTLV(hdr, tagFormatOwner, binary.BigEndian.AppendUint16(nil, b.Header.FormatOwner))
		hdr = appendTLV(hdr, tagFormatType, binary.BigEndian.AppendUint16(nil, b.Header.FormatType))
		bit := appendTLV(nil, tagBHT, hdr)
		bit = appendTLV(bit, tagBDB, b.Data)
		group = appendTLV(group, tagBIT, bit)
	}
	return appendTLV(make([]byte, 0, len(group)+8), tagBITGroup, group)
}

// DecodeCBEFF parses a biometric information group template (tag 7F61), alone or inside its
// DG2 (75) or DG3 (63) wrapper, and returns its BITs in order. It checks that the number of
// instances (tag 02) matches the BITs present, that each BIT is exactly a header template A1 and
// a BDB 5F2E, that every header has a format owner (87) and type (88) and no element twice, and
// refuses truncated data, bytes after the template and enciphered BDBs (7F2E). Errors wrap
// ErrMalformed; Data aliases b.
func DecodeCBEFF(b []byte) ([]BiometricInfo, error) {
	outer, rest, err := readTLV(b)
	if err != nil {
		return nil, fmt.Errorf("decoding CBEFF: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("decoding CBEFF: %w", malformed("%d bytes after tag %X", len(rest), outer.tag))
	}
	if outer.tag == tagDG2 || outer.tag == tagDG3 {
		if outer, err = readOne(outer.value, tagBITGroup); err != nil {
			return nil, fmt.Errorf("decoding CBEFF inside DG tag: %w", err)
		}
	}
	if outer.tag != tagBITGroup {
		return nil, fmt.Errorf("decoding CBEFF: %w", malformed("tag %X, want 7F61 (or 75/63 around it)", outer.tag))
	}
	elems, err := readAll(outer.value)
	if err != nil {
		return nil, fmt.Errorf("decoding CBEFF group: %w", err)
	}
	if len(elems) == 0 || elems[0].tag != tagCount {
		return nil, fmt.Errorf("decoding CBEFF group: %w", malformed("group does not start with the number of instances (tag 02)"))
	}
	if len(elems[0].value) != 1 || elems[0].value[0] == 0 {
		return nil, fmt.Errorf("decoding CBEFF group: %w", malformed("number of instances is %X, want one byte 01–FF", elems[0].value))
	}
	count := int(elems[0].value[0])
	if len(elems)-1 != count {
		return nil, fmt.Errorf("decoding CBEFF group: %w", malformed("number of instances says %d, %d elements follow", count, len(elems)-1))
	}
	out := make([]BiometricInfo, count)
	for i, e := range elems[1:] {
		if e.tag != tagBIT {
			return nil, fmt.Errorf("decoding CBEFF group: %w", malformed("element %d has tag %X, want 7F60", i+1, e.tag))
		}
		bi, err := decodeBIT(e.value)
		if err != nil {
			return nil, fmt.Errorf("decoding CBEFF BIT %d: %w", i, err)
		}
		out[i] = bi
	}
	return out, nil
}

func decodeBIT(b []byte) (BiometricInfo, error) {
	var bi BiometricInfo
	elems, err := readAll(b)
	if err != nil {
		return bi, err
	}
	if len(elems) != 2 || elems[0].tag != tagBHT {
		return bi, malformed("BIT is not a header template A1 followed by a BDB")
	}
	switch elems[1].tag {
	case tagBDB:
	case tagBDBEnc:
		return bi, malformed("enciphered BDB (7F2E) is not supported")
	default:
		return bi, malformed("BIT has tag %X after the header, want 5F2E", elems[1].tag)
	}
	hdr, err := readAll(elems[0].value)
	if err != nil {
		return bi, err
	}
	seen := map[uint32]bool{}
	for _, h := range hdr {
		if seen[h.tag] {
			return bi, malformed("header element %X appears twice", h.tag)
		}
		seen[h.tag] = true
		v := h.value
		switch h.tag {
		case tagHdrVersion:
			if len(v) != 2 {
				return bi, malformed("patron header version (80) is %d bytes, want 2", len(v))
			}
			bi.Header.PatronHeaderVersion = binary.BigEndian.Uint16(v)
		case tagBioType:
			if len(v) < 1 || len(v) > 3 {
				return bi, malformed("biometric type (81) is %d bytes, want 1 to 3", len(v))
			}
			for _, c := range v {
				bi.Header.BiometricType = bi.Header.BiometricType<<8 | uint32(c)
			}
		case tagBioSubtype:
			if len(v) != 1 {
				return bi, malformed("biometric subtype (82) is %d bytes, want 1", len(v))
			}
			bi.Header.BiometricSubtype = v[0]
		case tagFormatOwner:
			if len(v) != 2 {
				return bi, malformed("format owner (87) is %d bytes, want 2", len(v))
			}
			bi.Header.FormatOwner = binary.BigEndian.Uint16(v)
		case tagFormatType:
			if len(v) != 2 {
				return bi, malformed("format type (88) is %d bytes, want 2", len(v))
			}
			bi.Header.FormatType = binary.BigEndian.Uint16(v)
		default:
			// Optional elements this station does not write: 83 creation date, 85 validity
			// period, 86 creator, and others. Parsed for structure, otherwise ignored.
		}
	}
	if !seen[tagFormatOwner] || !seen[tagFormatType] {
		return bi, malformed("header lacks the format owner (87) or format type (88)")
	}
	bi.Data = elems[1].value
	return bi, nil
}

// DecodeDG2 decodes the CBEFF template of DG2 (see DecodeCBEFF) and the ISO/IEC 19794-5 record
// of each BIT, checking that every header says face (when it has a type) and format 0101/0008.
func DecodeDG2(b []byte) ([]*FaceRecord, error) {
	bits, err := DecodeCBEFF(b)
	if err != nil {
		return nil, fmt.Errorf("decoding DG2: %w", err)
	}
	out := make([]*FaceRecord, len(bits))
	for i, bi := range bits {
		h := bi.Header
		if (h.BiometricType != 0 && h.BiometricType != CBEFFTypeFace) || h.FormatOwner != CBEFFFormatOwnerSC37 || h.FormatType != CBEFFFormatFaceImage {
			return nil, fmt.Errorf("decoding DG2 BIT %d: %w", i, malformed("header type %X format %04X/%04X is not a 19794-5 face", h.BiometricType, h.FormatOwner, h.FormatType))
		}
		if out[i], err = DecodeFaceRecord(bi.Data); err != nil {
			return nil, fmt.Errorf("decoding DG2 BIT %d: %w", i, err)
		}
	}
	return out, nil
}

// DecodeDG3 decodes the CBEFF template of DG3 (see DecodeCBEFF) and parses each BIT's finger
// record with ParseFinger, checking that every header says finger (when it has a type), that the
// format owner is SC 37 with a 19794-2 or 19794-4 format type, and that a subtype, when present,
// is the one of the record's finger positions. Errors from records are *FingerError.
func DecodeDG3(b []byte) ([]*FingerRecord, error) {
	bits, err := DecodeCBEFF(b)
	if err != nil {
		return nil, fmt.Errorf("decoding DG3: %w", err)
	}
	out := make([]*FingerRecord, len(bits))
	for i, bi := range bits {
		h := bi.Header
		if (h.BiometricType != 0 && h.BiometricType != CBEFFTypeFinger) || h.FormatOwner != CBEFFFormatOwnerSC37 {
			return nil, fmt.Errorf("decoding DG3 BIT %d: %w", i, malformed("header type %X format owner %04X is not an SC 37 finger", h.BiometricType, h.FormatOwner))
		}
		var format string
		switch h.FormatType {
		case CBEFFFormatFingerMinutiae:
			format = FormatFingerMinutiae
		case CBEFFFormatFingerImage:
			format = FormatFingerImage
		default:
			return nil, fmt.Errorf("decoding DG3 BIT %d: %w", i, malformed("format type %04X is not 19794-2 (0002) or 19794-4 (0007)", h.FormatType))
		}
		rec, err := ParseFinger(format, bi.Data)
		if err != nil {
			return nil, fmt.Errorf("decoding DG3 BIT %d: %w", i, err)
		}
		if h.BiometricSubtype != 0 && h.BiometricSubtype != rec.CBEFFSubtype() {
			return nil, fmt.Errorf("decoding DG3 BIT %d: %w", i, malformed("header subtype %02X, record's fingers give %02X", h.BiometricSubtype, rec.CBEFFSubtype()))
		}
		out[i] = rec
	}
	return out, nil
}
