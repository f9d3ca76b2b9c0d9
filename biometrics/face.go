package biometrics

import (
	"bytes"
	"errors"
	"fmt"
	"image/jpeg"
	"log/slog"
	"runtime"
)

// Limits of PrepareFace.
const (
	// DefaultFaceMaxBytes is the default size budget of the face JPEG on the chip.
	DefaultFaceMaxBytes = 20000
	// DefaultFaceMaxInputBytes is the default limit on the size of the JPEG given to PrepareFace.
	DefaultFaceMaxInputBytes = 5 << 20
	// MaxFaceInputPixels bounds width×height of an input picture, checked from the JPEG header
	// before anything is decoded: 16 megapixels (a 4608×3456 camera frame) is far more than a
	// face photograph needs (the chip keeps at most 480×640), and bounds what one decode takes
	// (up to 7 bytes a pixel for a 4-component JPEG and its conversion: ≈112 MB).
	MaxFaceInputPixels = 16_000_000

	MinFaceWidth  = 240 // narrower pictures are refused
	MinFaceHeight = 320 // lower pictures are refused
	MaxFaceWidth  = 480 // re-encoded pictures are scaled to fit MaxFaceWidth×MaxFaceHeight
	MaxFaceHeight = 640
	// MinFaceQuality is the lowest JPEG quality (IJG scale, 1–100) PrepareFace accepts.
	MinFaceQuality = 50
)

// FaceOptions configures PrepareFace. The zero value uses the defaults.
type FaceOptions struct {
	// MaxBytes is the size budget of the resulting JPEG; 0 means DefaultFaceMaxBytes.
	MaxBytes int
	// MaxInputBytes refuses larger input files; 0 means DefaultFaceMaxInputBytes.
	MaxInputBytes int
}

// Face is a face picture ready for the ISO/IEC 19794-5 record: a JPEG within the size budget.
// It holds a picture of a person: log it only through LogValue (or String), which show its
// size and dimensions.
type Face struct {
	JPEG   []byte // the JPEG file
	Width  int    // pixels
	Height int    // pixels
	// Quality is the JPEG quality (IJG scale) the picture was re-encoded at, 0 when the input
	// already fitted the budget and was kept byte for byte.
	Quality int
}

// LogValue implements slog.LogValuer: sizes and dimensions only, never the picture.
func (f Face) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("bytes", len(f.JPEG)),
		slog.Int("width", f.Width),
		slog.Int("height", f.Height),
		slog.Int("quality", f.Quality),
	)
}

// String describes the face without its picture, so that %v never prints image bytes.
func (f Face) String() string {
	return fmt.Sprintf("face JPEG %d bytes %d×%d quality %d", len(f.JPEG), f.Width, f.Height, f.Quality)
}

// FaceRule names the rule a face picture broke.
type FaceRule string

// The rules of PrepareFace.
const (
	FaceRuleNotJPEG     FaceRule = "not_jpeg"    // no JPEG SOI marker
	FaceRuleUndecodable FaceRule = "undecodable" // a JPEG image/jpeg cannot decode (truncated, corrupt)
	FaceRuleTooSmall    FaceRule = "too_small"   // below MinFaceWidth×MinFaceHeight
	FaceRuleTooLarge    FaceRule = "too_large"   // input file or picture above the input limits
	FaceRuleOverBudget  FaceRule = "over_budget" // does not fit MaxBytes even at MinFaceQuality
)

// Sentinels for errors.Is, one per rule.
var (
	ErrFaceNotJPEG     = errors.New("face image is not a JPEG")
	ErrFaceUndecodable = errors.New("face image cannot be decoded")
	ErrFaceTooSmall    = errors.New("face image is too small")
	ErrFaceTooLarge    = errors.New("face image is too large")
	ErrFaceOverBudget  = errors.New("face image does not fit the size budget")
)

// FaceError is the error of PrepareFace. Detail holds only sizes and dimensions, never
// image content; Err is the decoder's error for FaceRuleUndecodable.
type FaceError struct {
	Rule   FaceRule
	Detail string
	Err    error
}

func (e *FaceError) Error() string {
	s := "face image " + string(e.Rule)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the rule's sentinel and the cause, so that both errors.Is(err, ErrFaceTooSmall)
// and errors.As(err, &faceErr) work.
func (e *FaceError) Unwrap() []error {
	var sentinel error
	switch e.Rule {
	case FaceRuleNotJPEG:
		sentinel = ErrFaceNotJPEG
	case FaceRuleUndecodable:
		sentinel = ErrFaceUndecodable
	case FaceRuleTooSmall:
		sentinel = ErrFaceTooSmall
	case FaceRuleTooLarge:
		sentinel = ErrFaceTooLarge
	case FaceRuleOverBudget:
		sentinel = ErrFaceOverBudget
	}
	errs := make([]error, 0, 2)
	if sentinel != nil {
		errs = append(errs, sentinel)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func faceErr(rule FaceRule, err error, format string, args ...any) *FaceError {
	return &FaceError{Rule: rule, Detail: fmt.Sprintf(format, args...), Err: err}
}

// PrepareFace checks a face JPEG and brings it within the size budget.
//
// The input must start with the JPEG SOI marker (T.81 B.1.1.3) and decode with image/jpeg, and be
// at least MinFaceWidth×MinFaceHeight. A JPEG that already fits opts.MaxBytes and
// MaxFaceWidth×MaxFaceHeight is kept as it is, without its metadata segments (StripJPEGMetadata).
// Any other is scaled down, keeping its aspect ratio and never up, to fit within
// MaxFaceWidth×MaxFaceHeight, and re-encoded as a baseline JFIF JPEG at the highest quality from
// MinFaceQuality to 100 that fits the budget. Errors are *FaceError.
func PrepareFace(jpegBytes []byte, opts FaceOptions) (*Face, error) {
	budget := opts.MaxBytes
	if budget <= 0 {
		budget = DefaultFaceMaxBytes
	}
	maxIn := opts.MaxInputBytes
	if maxIn <= 0 {
		maxIn = DefaultFaceMaxInputBytes
	}
	w, h, err := checkFaceHeader(jpegBytes)
	if err != nil {
		return nil, err
	}
	if len(jpegBytes) > maxIn {
		return nil, faceErr(FaceRuleTooLarge, nil, "file is %d bytes, limit %d", len(jpegBytes), maxIn)
	}
	release := acquireDecode()
	defer release() // the decoded picture and its planes live until the re-encoding is done
	img, err := jpeg.Decode(bytes.NewReader(jpegBytes))
	if err != nil {
		return nil, faceErr(FaceRuleUndecodable, err, "decoding the %d×%d picture", w, h)
	}
	if len(jpegBytes) <= budget && w <= MaxFaceWidth && h <= MaxFaceHeight {
		// Kept as it is, minus metadata: EXIF and XMP can carry a camera
		// serial, a place and a time that have no business on an ID chip.
		kept, err := StripJPEGMetadata(jpegBytes)
		if err != nil {
			return nil, faceErr(FaceRuleUndecodable, err, "reading the JPEG segments")
		}
		return &Face{JPEG: kept, Width: w, Height: h}, nil
	}
	nw, nh := fitWithin(w, h, MaxFaceWidth, MaxFaceHeight)
	if nw < MinFaceWidth || nh < MinFaceHeight {
		return nil, faceErr(FaceRuleTooSmall, nil, "picture is %d×%d; within %d×%d it would be %d×%d, minimum %d×%d",
			w, h, MaxFaceWidth, MaxFaceHeight, nw, nh, MinFaceWidth, MinFaceHeight)
	}
	co := transform(planesFromImage(img).resize(nw, nh))
	defer co.release()
	out, q, ok := co.encodeToBudget(budget, MinFaceQuality)
	if !ok {
		return nil, faceErr(FaceRuleOverBudget, nil, "%d×%d picture is over %d bytes even at quality %d", nw, nh, budget, MinFaceQuality)
	}
	return &Face{JPEG: out, Width: nw, Height: nh, Quality: q}, nil
}

// checkFaceHeader reads the picture's size from its JPEG header and applies
// the size rules, before anything is decoded.
func checkFaceHeader(b []byte) (w, h int, err error) {
	// T.81 B.1.1.3: a JPEG file starts with SOI (FFD8) followed by another marker.
	if len(b) < 3 || b[0] != 0xff || b[1] != 0xd8 || b[2] != 0xff {
		return 0, 0, faceErr(FaceRuleNotJPEG, nil, "no JPEG SOI marker at the start of %d bytes", len(b))
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return 0, 0, faceErr(FaceRuleUndecodable, err, "reading the JPEG header")
	}
	w, h = cfg.Width, cfg.Height
	if w < MinFaceWidth || h < MinFaceHeight {
		return w, h, faceErr(FaceRuleTooSmall, nil, "picture is %d×%d, minimum %d×%d", w, h, MinFaceWidth, MinFaceHeight)
	}
	if int64(w)*int64(h) > MaxFaceInputPixels {
		return w, h, faceErr(FaceRuleTooLarge, nil, "picture is %d×%d, more than %d megapixels", w, h, MaxFaceInputPixels/1_000_000)
	}
	return w, h, nil
}

// decodeSlots bounds the full decodes of face pictures running at once, in
// the whole process (intake checks and preparation alike), to the cores:
// more would not finish sooner, and each holds up to MaxFaceInputPixels of
// decoded picture. A batch of large pictures waits its turn instead of
// taking the daemon's memory.
var decodeSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

func acquireDecode() (release func()) {
	decodeSlots <- struct{}{}
	return func() { <-decodeSlots }
}

// CheckFace is the intake check of a face picture: a JPEG whose header
// passes the size rules and that decodes (under the same bound on
// concurrent decodes as PrepareFace). Errors are *FaceError.
func CheckFace(b []byte) error {
	w, h, err := checkFaceHeader(b)
	if err != nil {
		return err
	}
	release := acquireDecode()
	defer release()
	if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
		return faceErr(FaceRuleUndecodable, err, "decoding the %d×%d picture", w, h)
	}
	return nil
}

// fitWithin returns w×h scaled down (never up) to fit within maxW×maxH, keeping the aspect
// ratio up to rounding to whole pixels.
func fitWithin(w, h, maxW, maxH int) (int, int) {
	if w <= maxW && h <= maxH {
		return w, h
	}
	// Compare maxW/w with maxH/h without floating point.
	if int64(maxW)*int64(h) <= int64(maxH)*int64(w) {
		// Width is the binding side.
		return maxW, max(1, int((int64(h)*int64(maxW)+int64(w)/2)/int64(w)))
	}
	return max(1, int((int64(w)*int64(maxH)+int64(h)/2)/int64(h))), maxH
}

// StripJPEGMetadata returns a copy of a JPEG without its metadata segments
// (ITU-T T.81 B.2.4.5–B.2.4.6): APP1 to APP13 and APP15 (EXIF, XMP, ICC,
// vendor data) and COM. APP0 (JFIF) and APP14 (Adobe, which says how the
// colour components are coded) are kept. The entropy-coded data after SOS
// is copied untouched.
func StripJPEGMetadata(b []byte) ([]byte, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil, errors.New("no SOI marker")
	}
	out := make([]byte, 0, len(b))
	out = append(out, 0xFF, 0xD8)
	i := 2
	for {
		if i+4 > len(b) || b[i] != 0xFF {
			return nil, fmt.Errorf("no marker at offset %d", i)
		}
		m := b[i+1]
		if m == 0xFF { // fill byte (T.81 B.1.1.2)
			i++
			continue
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if n < 2 || i+2+n > len(b) {
			return nil, fmt.Errorf("segment %02X at offset %d overruns the file", m, i)
		}
		seg := b[i : i+2+n]
		strip := (m >= 0xE1 && m <= 0xED) || m == 0xEF || m == 0xFE
		if !strip {
			out = append(out, seg...)
		}
		i += 2 + n
		if m == 0xDA { // SOS: the rest is scan data and later markers
			return append(out, b[i:]...), nil
		}
	}
}
