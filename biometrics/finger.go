package biometrics

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
)

// Finger records: ISO/IEC 19794-2:2005 (finger minutiae, "FMR") and ISO/IEC 19794-4:2005 (finger
// image, "FIR"), as the application's fingerprints[] carry them and DG3 embeds them.

// Values of the application's fingerprints[].format.
const (
	FormatFingerMinutiae = "iso19794-2"
	FormatFingerImage    = "iso19794-4"
)

// FingerPosition is a finger position code: ISO/IEC 19794-2:2005 clause 7, finger view header
// (codes 0–10, the finger codes of ANSI/NIST-ITL 1), and ISO/IEC 19794-4:2005 §7.2 (adds plain
// multi-finger codes 11–15 and palm codes 20–36).
type FingerPosition byte

// Finger position codes.
const (
	FingerUnknown     FingerPosition = 0
	FingerRightThumb  FingerPosition = 1
	FingerRightIndex  FingerPosition = 2
	FingerRightMiddle FingerPosition = 3
	FingerRightRing   FingerPosition = 4
	FingerRightLittle FingerPosition = 5
	FingerLeftThumb   FingerPosition = 6
	FingerLeftIndex   FingerPosition = 7
	FingerLeftMiddle  FingerPosition = 8
	FingerLeftRing    FingerPosition = 9
	FingerLeftLittle  FingerPosition = 10
	// 19794-4 only: plain impressions of several fingers.
	FingerPlainRightThumb FingerPosition = 11
	FingerPlainLeftThumb  FingerPosition = 12
	FingerPlainRightFour  FingerPosition = 13
	FingerPlainLeftFour   FingerPosition = 14
	FingerPlainThumbs     FingerPosition = 15
)

// fingerNames are the application's fingerprints[].finger values for codes 0–10.
var fingerNames = [...]string{
	"unknown",
	"right_thumb", "right_index", "right_middle", "right_ring", "right_little",
	"left_thumb", "left_index", "left_middle", "left_ring", "left_little",
}

// FingerPositionFromName maps an application finger name ("right_index", "left_thumb", ...,
// "unknown") to its position code.
func FingerPositionFromName(name string) (FingerPosition, bool) {
	for i, n := range fingerNames {
		if n == name {
			return FingerPosition(i), true
		}
	}
	return 0, false
}

// String returns the application's name of the finger, or the code.
func (p FingerPosition) String() string {
	if int(p) < len(fingerNames) {
		return fingerNames[p]
	}
	return fmt.Sprintf("position_%d", byte(p))
}

// CBEFFSubtype returns the CBEFF biometric subtype of the position (ISO/IEC 19785-1 §6.5.7,
// ICAO 9303-10 Table 36, tag 82): bit 0 right, bit 1 left, bits 2–4 thumb 1, index 2, middle 3,
// ring 4, little 5. Unknown positions and palms give 0 (no information).
func (p FingerPosition) CBEFFSubtype() byte {
	const right, left = 0x01, 0x02
	switch {
	case p >= FingerRightThumb && p <= FingerRightLittle:
		return right | byte(p)<<2
	case p >= FingerLeftThumb && p <= FingerLeftLittle:
		return left | byte(p-5)<<2
	case p == FingerPlainRightThumb:
		return right | 1<<2
	case p == FingerPlainLeftThumb:
		return left | 1<<2
	case p == FingerPlainRightFour:
		return right
	case p == FingerPlainLeftFour:
		return left
	case p == FingerPlainThumbs:
		return 1 << 2
	}
	return 0
}

// FingerRecord is a parsed finger record. It holds biometric data: log it only through LogValue
// (or String), which show its format, size and dimensions.
type FingerRecord struct {
	Format string // FormatFingerMinutiae or FormatFingerImage
	// Record is the record as it goes into DG3: the input bytes, except that a 19794-2 record
	// with a 2-byte length field (ShortLengthField) is rewritten with the 4-byte field of
	// ISO/IEC 19794-2:2005 (clause 7, record header). It aliases the input when not rewritten.
	Record []byte
	// ShortLengthField reports a 19794-2 input whose record length took 2 bytes (a 22-byte
	// header) instead of the 4 bytes of ISO/IEC 19794-2:2005 (a 24-byte header).
	ShortLengthField bool
	// Width and Height: 19794-2 image size from the record header; 19794-4 line lengths of
	// the first image.
	Width, Height int
	// ResolutionX, ResolutionY: 19794-2 pixels per centimetre; 19794-4 image resolution in
	// ScaleUnits.
	ResolutionX, ResolutionY int
	ScaleUnits               int // 19794-4: 1 pixels per inch, 2 per centimetre
	Compression              int // 19794-4 §7.1.13: 0 raw, 1 bit-packed, 2 WSQ, 3 JPEG, 4 JPEG 2000, 5 PNG
	Views                    []FingerView
}

// FingerView is a finger view (19794-2 clause 7: finger view header, minutiae, extended data) or a
// finger image (19794-4 §7.2). Its minutiae are biometric data: log it only through LogValue.
type FingerView struct {
	Position       FingerPosition
	ViewNumber     int
	ImpressionType int
	Quality        int
	Minutiae       []Minutia // 19794-2
	ExtendedBytes  int       // 19794-2: length of the extended data block
	Width, Height  int       // 19794-4: horizontal and vertical line lengths
	ImageBytes     int       // 19794-4: length of the image data
}

// LogValue implements slog.LogValuer: position and counts, not the minutiae.
func (v FingerView) LogValue() slog.Value {
	return slog.GroupValue(slog.String("position", v.Position.String()), slog.Int("minutiae", len(v.Minutiae)),
		slog.Int("width", v.Width), slog.Int("height", v.Height), slog.Int("image_bytes", v.ImageBytes))
}

// String describes the view without its minutiae.
func (v FingerView) String() string {
	return fmt.Sprintf("%v view, %d minutiae, %d×%d image of %d bytes", v.Position, len(v.Minutiae), v.Width, v.Height, v.ImageBytes)
}

// Minutia is a 19794-2 finger minutia data item (clause 7): type 0 other, 1 ridge ending, 2 ridge bifurcation;
// position in pixels; angle in units of 360/256 degrees; quality 0–100.
type Minutia struct {
	Type, X, Y, Angle, Quality int
}

// CBEFFSubtype is the subtype of the record's fingers: that of its position when all views share
// one; otherwise only the hand when they share it (the finger bits are a number, not flags); 0
// (no information) if not even that.
func (r *FingerRecord) CBEFFSubtype() byte {
	if len(r.Views) == 0 {
		return 0
	}
	s := r.Views[0].Position.CBEFFSubtype()
	for _, v := range r.Views[1:] {
		o := v.Position.CBEFFSubtype()
		if o != s {
			s &= 0x03 // hand bits
			if o&0x03 != s {
				return 0
			}
		}
	}
	return s
}

// LogValue implements slog.LogValuer: format, size and dimensions only.
func (r FingerRecord) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("format", r.Format),
		slog.Int("bytes", len(r.Record)),
		slog.Int("views", len(r.Views)),
		slog.Int("width", r.Width),
		slog.Int("height", r.Height),
	)
}

// String describes the record without its content.
func (r FingerRecord) String() string {
	return fmt.Sprintf("%s record %d bytes, %d view(s), %d×%d", r.Format, len(r.Record), len(r.Views), r.Width, r.Height)
}

// FingerRule names the rule a finger record broke.
type FingerRule string

// The rules of ParseFinger.
const (
	FingerRuleFormat  FingerRule = "format"        // format is not iso19794-2 or iso19794-4
	FingerRuleMagic   FingerRule = "magic"         // format identifier is not FMR\0 / FIR\0
	FingerRuleVersion FingerRule = "version"       // version is not " 20\0" / "010\0"
	FingerRuleLength  FingerRule = "record_length" // declared record length differs from the data length, or bytes left over
	FingerRuleBounds  FingerRule = "bounds"        // a header, view, minutiae, extended data or image block runs past the record
	FingerRuleHeader  FingerRule = "header"        // a record header field out of range
	FingerRuleView    FingerRule = "view"          // a view / image header field out of range
	FingerRuleMinutia FingerRule = "minutia"       // a minutia out of range
)

// FingerError is the error of ParseFinger. Detail names offsets, counts and field values of the
// record structure only, never biometric content.
type FingerError struct {
	Format string
	Rule   FingerRule
	Offset int // byte offset in the record where the problem was found
	Detail string
}

func (e *FingerError) Error() string {
	return fmt.Sprintf("finger record %s: %s at offset %d: %s", e.Format, e.Rule, e.Offset, e.Detail)
}

func fingerErr(format string, rule FingerRule, off int, detail string, args ...any) *FingerError {
	return &FingerError{Format: format, Rule: rule, Offset: off, Detail: fmt.Sprintf(detail, args...)}
}

// ParseFinger parses and validates a finger record of the given format (FormatFingerMinutiae or
// FormatFingerImage): header magic and version, that the declared record length equals the data
// length, that every view, minutiae, extended data and image block lies inside the record and
// that together they fill it exactly, and the ranges of finger positions, qualities and minutiae.
// Errors are *FingerError.
//
// A 19794-2 record whose length field is 2 bytes (22-byte header) is accepted when that field
// equals the data length: see FingerRecord.ShortLengthField.
func ParseFinger(format string, record []byte) (*FingerRecord, error) {
	switch format {
	case FormatFingerMinutiae:
		return parseFMR(record)
	case FormatFingerImage:
		return parseFIR(record)
	}
	return nil, fingerErr(format, FingerRuleFormat, 0, "unknown format, want %s or %s", FormatFingerMinutiae, FormatFingerImage)
}

var (
	fmrMagic   = []byte("FMR\x00") // 19794-2:2005 clause 7, record header: format identifier
	fmrVersion = []byte(" 20\x00") // version number
	firMagic   = []byte("FIR\x00") // 19794-4:2005 §7.1.1
	firVersion = []byte("010\x00") // §7.1.2
)

const (
	fmrHeaderLen      = 24 // 19794-2:2005 clause 7, record header
	fmrShortHeaderLen = 22 // the same with a 2-byte record length
	fmrViewHeaderLen  = 4  // finger view header: position, view/impression, quality, number of minutiae
	fmrMinutiaLen     = 6  // finger minutia data: type+x, reserved+y, angle, quality
	firHeaderLen      = 32 // 19794-4:2005 §7.1 (Table 2)
	firImageHeaderLen = 14 // §7.2 (Table 4)
)

// parseFMR parses an ISO/IEC 19794-2:2005 finger minutiae record (clause 7).
func parseFMR(b []byte) (*FingerRecord, error) {
	const f = FormatFingerMinutiae
	if len(b) < 4 || !bytes.Equal(b[:4], fmrMagic) {
		return nil, fingerErr(f, FingerRuleMagic, 0, "format identifier is not FMR\\0")
	}
	if len(b) < 8 || !bytes.Equal(b[4:8], fmrVersion) {
		return nil, fingerErr(f, FingerRuleVersion, 4, "version is not \" 20\\0\"")
	}
	if len(b) < 12 {
		return nil, fingerErr(f, FingerRuleBounds, 8, "record of %d bytes ends inside the %d-byte header", len(b), fmrHeaderLen)
	}
	// Record length: 4 bytes in 19794-2:2005. Some producers write 2 bytes (the short form of ANSI
	// INCITS 378-2004, without its CBEFF product identifier); there the first two bytes are the
	// length itself instead of 0000, and the two forms cannot be confused.
	r := &FingerRecord{Format: f, Record: b}
	hdr := fmrHeaderLen
	if n := binary.BigEndian.Uint32(b[8:12]); uint64(n) != uint64(len(b)) {
		if n16 := binary.BigEndian.Uint16(b[8:10]); int(n16) == len(b) {
			r.ShortLengthField = true
			hdr = fmrShortHeaderLen
		} else {
			return nil, fingerErr(f, FingerRuleLength, 8, "record length field says %d (%d as a 2-byte field), data has %d bytes", n, n16, len(b))
		}
	}
	if len(b) < hdr {
		return nil, fingerErr(f, FingerRuleBounds, 8, "record of %d bytes ends inside the %d-byte header", len(b), hdr)
	}
	h := b[hdr-12 : hdr] // capture equipment 2, width 2, height 2, x res 2, y res 2, views 1, reserved 1
	r.Width = int(binary.BigEndian.Uint16(h[2:4]))
	r.Height = int(binary.BigEndian.Uint16(h[4:6]))
	r.ResolutionX = int(binary.BigEndian.Uint16(h[6:8]))
	r.ResolutionY = int(binary.BigEndian.Uint16(h[8:10]))
	nViews := int(h[10])
	switch {
	case r.Width == 0 || r.Height == 0:
		return nil, fingerErr(f, FingerRuleHeader, hdr-10, "image size %d×%d", r.Width, r.Height)
	case r.ResolutionX == 0 || r.ResolutionY == 0:
		return nil, fingerErr(f, FingerRuleHeader, hdr-6, "resolution %d×%d pixels/cm", r.ResolutionX, r.ResolutionY)
	case nViews == 0:
		return nil, fingerErr(f, FingerRuleHeader, hdr-2, "no finger views")
	}
	r.Views = make([]FingerView, 0, nViews)
	off := hdr
	for i := 0; i < nViews; i++ {
		// Finger view header.
		if len(b)-off < fmrViewHeaderLen {
			return nil, fingerErr(f, FingerRuleBounds, off, "view %d header runs past the record", i)
		}
		v := FingerView{
			Position:       FingerPosition(b[off]),
			ViewNumber:     int(b[off+1] >> 4),
			ImpressionType: int(b[off+1] & 0x0f),
			Quality:        int(b[off+2]),
		}
		nMin := int(b[off+3])
		if v.Position > FingerLeftLittle {
			return nil, fingerErr(f, FingerRuleView, off, "view %d finger position %d, want 0–10", i, v.Position)
		}
		if v.Quality > 100 {
			return nil, fingerErr(f, FingerRuleView, off+2, "view %d finger quality %d, want 0–100", i, v.Quality)
		}
		off += fmrViewHeaderLen
		// Finger minutiae data.
		if (len(b)-off)/fmrMinutiaLen < nMin {
			return nil, fingerErr(f, FingerRuleBounds, off, "view %d: %d minutiae run past the record", i, nMin)
		}
		v.Minutiae = make([]Minutia, nMin)
		for k := range v.Minutiae {
			m := b[off : off+fmrMinutiaLen]
			mi := Minutia{
				Type:    int(m[0] >> 6),
				X:       int(binary.BigEndian.Uint16(m[0:2]) & 0x3fff),
				Y:       int(binary.BigEndian.Uint16(m[2:4]) & 0x3fff),
				Angle:   int(m[4]),
				Quality: int(m[5]),
			}
			switch {
			case mi.Type == 3:
				return nil, fingerErr(f, FingerRuleMinutia, off, "view %d minutia %d has the reserved type 3", i, k)
			case mi.X >= r.Width || mi.Y >= r.Height:
				return nil, fingerErr(f, FingerRuleMinutia, off, "view %d minutia %d at (%d,%d) outside the %d×%d image", i, k, mi.X, mi.Y, r.Width, r.Height)
			case mi.Quality > 100:
				return nil, fingerErr(f, FingerRuleMinutia, off+5, "view %d minutia %d quality %d, want 0–100", i, k, mi.Quality)
			}
			v.Minutiae[k] = mi
			off += fmrMinutiaLen
		}
		// Extended data: block length, then the block.
		if len(b)-off < 2 {
			return nil, fingerErr(f, FingerRuleBounds, off, "view %d extended data length runs past the record", i)
		}
		v.ExtendedBytes = int(binary.BigEndian.Uint16(b[off : off+2]))
		off += 2
		if len(b)-off < v.ExtendedBytes {
			return nil, fingerErr(f, FingerRuleBounds, off, "view %d extended data of %d bytes runs past the record", i, v.ExtendedBytes)
		}
		off += v.ExtendedBytes
		r.Views = append(r.Views, v)
	}
	if off != len(b) {
		return nil, fingerErr(f, FingerRuleLength, off, "%d bytes after the last view", len(b)-off)
	}
	if r.ShortLengthField {
		// Rewrite as ISO/IEC 19794-2:2005: 4-byte record length.
		std := make([]byte, 0, len(b)+2)
		std = append(std, b[:8]...)
		std = binary.BigEndian.AppendUint32(std, uint32(len(b)+2))
		r.Record = append(std, b[10:]...)
	}
	return r, nil
}

// parseFIR parses an ISO/IEC 19794-4:2005 finger image record (clause 7).
func parseFIR(b []byte) (*FingerRecord, error) {
	const f = FormatFingerImage
	if len(b) < 4 || !bytes.Equal(b[:4], firMagic) {
		return nil, fingerErr(f, FingerRuleMagic, 0, "format identifier is not FIR\\0")
	}
	if len(b) < 8 || !bytes.Equal(b[4:8], firVersion) {
		return nil, fingerErr(f, FingerRuleVersion, 4, "version is not \"010\\0\"")
	}
	if len(b) < firHeaderLen {
		return nil, fingerErr(f, FingerRuleBounds, 8, "record of %d bytes ends inside the %d-byte header", len(b), firHeaderLen)
	}
	// §7.1.3: record length, 6 bytes.
	var n uint64
	for _, c := range b[8:14] {
		n = n<<8 | uint64(c)
	}
	if n != uint64(len(b)) {
		return nil, fingerErr(f, FingerRuleLength, 8, "record length field says %d, data has %d bytes", n, len(b))
	}
	r := &FingerRecord{Format: f, Record: b}
	// §7.1.4–7.1.15: capture device 2, acquisition level 2, number of images 1, scale units 1,
	// scan resolution 2+2, image resolution 2+2, pixel depth 1, compression 1, reserved 2.
	nImages := int(b[18])
	r.ScaleUnits = int(b[19])
	r.ResolutionX = int(binary.BigEndian.Uint16(b[24:26]))
	r.ResolutionY = int(binary.BigEndian.Uint16(b[26:28]))
	depth := int(b[28])
	r.Compression = int(b[29])
	switch {
	case nImages == 0:
		return nil, fingerErr(f, FingerRuleHeader, 18, "no finger images")
	case r.ScaleUnits != 1 && r.ScaleUnits != 2:
		return nil, fingerErr(f, FingerRuleHeader, 19, "scale units %d, want 1 (inch) or 2 (cm)", r.ScaleUnits)
	case depth < 1 || depth > 16:
		return nil, fingerErr(f, FingerRuleHeader, 28, "pixel depth %d, want 1–16", depth)
	case r.Compression > 5:
		return nil, fingerErr(f, FingerRuleHeader, 29, "compression algorithm %d, want 0–5", r.Compression)
	}
	r.Views = make([]FingerView, 0, min(nImages, len(b)/firImageHeaderLen))
	off := firHeaderLen
	for i := 0; i < nImages; i++ {
		// §7.2 finger image header.
		if len(b)-off < firImageHeaderLen {
			return nil, fingerErr(f, FingerRuleBounds, off, "image %d header runs past the record", i)
		}
		h := b[off : off+firImageHeaderLen]
		blockLen := uint64(binary.BigEndian.Uint32(h[0:4]))
		if blockLen <= firImageHeaderLen {
			return nil, fingerErr(f, FingerRuleView, off, "image %d block length %d leaves no image data", i, blockLen)
		}
		if blockLen > uint64(len(b)-off) {
			return nil, fingerErr(f, FingerRuleBounds, off, "image %d block of %d bytes runs past the record (%d left)", i, blockLen, len(b)-off)
		}
		v := FingerView{
			Position:       FingerPosition(h[4]),
			ViewNumber:     int(h[6]),
			Quality:        int(h[7]),
			ImpressionType: int(h[8]),
			Width:          int(binary.BigEndian.Uint16(h[9:11])),
			Height:         int(binary.BigEndian.Uint16(h[11:13])),
			ImageBytes:     int(blockLen) - firImageHeaderLen,
		}
		if v.Position > FingerPlainThumbs && (v.Position < 20 || v.Position > 36) {
			return nil, fingerErr(f, FingerRuleView, off+4, "image %d position %d, want 0–15 or palm 20–36", i, v.Position)
		}
		if v.Width == 0 || v.Height == 0 {
			return nil, fingerErr(f, FingerRuleView, off+9, "image %d is %d×%d", i, v.Width, v.Height)
		}
		if i == 0 {
			r.Width, r.Height = v.Width, v.Height
		}
		r.Views = append(r.Views, v)
		off += int(blockLen)
	}
	if off != len(b) {
		return nil, fingerErr(f, FingerRuleLength, off, "%d bytes after the last image", len(b)-off)
	}
	return r, nil
}
