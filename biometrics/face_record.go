package biometrics

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image/color"
	"image/jpeg"
	"log/slog"
)

// ISO/IEC 19794-5:2005 facial record (the BDB of DG2).

// Gender of the facial information block, ISO/IEC 19794-5:2005 §5.5.3.
type Gender byte

// Gender codes of ISO/IEC 19794-5:2005 §5.5.3.
const (
	GenderUnspecified Gender = 0x00
	GenderMale        Gender = 0x01
	GenderFemale      Gender = 0x02
	GenderUnknown     Gender = 0xff
)

// GenderFromSex maps the MRZ / application sex ("M", "F", anything else) to a 19794-5 gender.
func GenderFromSex(sex string) Gender {
	switch sex {
	case "M", "m":
		return GenderMale
	case "F", "f":
		return GenderFemale
	}
	return GenderUnspecified
}

// Codes of the image information block (ISO/IEC 19794-5:2005 §5.7) that EncodeFaceRecord writes.
const (
	FaceImageTypeBasic       = 0x00 // §5.7.1
	FaceImageTypeFullFrontal = 0x01 // §5.7.1
	FaceImageDataJPEG        = 0x00 // §5.7.2
	FaceImageDataJPEG2000    = 0x01 // §5.7.2
	FaceColourSpaceRGB24     = 0x01 // §5.7.4
	FaceColourSpaceGray8     = 0x03 // §5.7.4
	FaceColourSpaceOther     = 0x04 // §5.7.4
	FaceSourceStaticPhoto    = 0x01 // §5.7.6: static photograph from an unknown source
)

var (
	faceFormatID = []byte("FAC\x00") // §5.4, Format Identifier
	faceVersion  = []byte("010\x00") // §5.4, Version Number
)

const (
	faceHeaderLen    = 14 // §5.4: format 4, version 4, record length 4, number of images 2
	faceInfoLen      = 20 // §5.5: block length 4, feature points 2, gender, eye, hair, mask 3, expression 2, pose 3, uncertainty 3
	featurePointLen  = 8  // §5.6: type, code, x 2, y 2, reserved 2
	faceImageInfoLen = 12 // §5.7: type, data type, width 2, height 2, colour space, source, device 2, quality 2
)

// ErrMalformed is wrapped by the errors of DecodeFaceRecord and of the CBEFF decoders.
var ErrMalformed = errors.New("biometrics: malformed data")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// EncodeFaceRecord returns the ISO/IEC 19794-5:2005 facial record of one face: the facial
// record header (§5.4), a facial information block (§5.5) with the given gender, no feature
// points and everything else unspecified (eye and hair colour, feature mask, expression, pose
// angles and their uncertainty), the image information (§5.7: full frontal, JPEG, the picture's
// size and colour space, static photograph, device and quality unspecified) and the JPEG (§5.8).
func EncodeFaceRecord(f *Face, gender Gender) ([]byte, error) {
	if f == nil || len(f.JPEG) == 0 {
		return nil, errors.New("encoding 19794-5 face record: no face")
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(f.JPEG))
	if err != nil {
		return nil, fmt.Errorf("encoding 19794-5 face record: reading JPEG header: %w", err)
	}
	if cfg.Width != f.Width || cfg.Height != f.Height {
		return nil, fmt.Errorf("encoding 19794-5 face record: face says %d×%d, JPEG is %d×%d", f.Width, f.Height, cfg.Width, cfg.Height)
	}
	if cfg.Width > 0xffff || cfg.Height > 0xffff {
		return nil, fmt.Errorf("encoding 19794-5 face record: %d×%d does not fit 16-bit width and height", cfg.Width, cfg.Height)
	}
	colourSpace := byte(FaceColourSpaceOther)
	switch cfg.ColorModel {
	case color.YCbCrModel:
		colourSpace = FaceColourSpaceRGB24
	case color.GrayModel:
		colourSpace = FaceColourSpaceGray8
	}
	img := FaceImage{
		Gender:        gender,
		ImageType:     FaceImageTypeFullFrontal,
		ImageDataType: FaceImageDataJPEG,
		Width:         cfg.Width,
		Height:        cfg.Height,
		ColourSpace:   colourSpace,
		SourceType:    FaceSourceStaticPhoto,
		Data:          f.JPEG,
	}
	return appendFaceRecord(nil, []FaceImage{img})
}

// appendFaceRecord writes a record of one or more images.
func appendFaceRecord(dst []byte, images []FaceImage) ([]byte, error) {
	total := faceHeaderLen
	for _, im := range images {
		total += faceInfoLen + featurePointLen*len(im.FeaturePoints) + faceImageInfoLen + len(im.Data)
	}
	if total > 0xffffffff || len(images) > 0xffff {
		return nil, errors.New("encoding 19794-5 face record: record too large")
	}
	// §5.4 Facial Record Header.
	dst = append(dst, faceFormatID...)
	dst = append(dst, faceVersion...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(images)))
	for _, im := range images {
		// §5.5 Facial Information.
		blockLen := faceInfoLen + featurePointLen*len(im.FeaturePoints) + faceImageInfoLen + len(im.Data)
		dst = binary.BigEndian.AppendUint32(dst, uint32(blockLen))
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(im.FeaturePoints)))
		dst = append(dst, byte(im.Gender), im.EyeColour, im.HairColour,
			byte(im.FeatureMask>>16), byte(im.FeatureMask>>8), byte(im.FeatureMask))
		dst = binary.BigEndian.AppendUint16(dst, im.Expression)
		dst = append(dst, im.PoseAngle[:]...)
		dst = append(dst, im.PoseAngleUncertainty[:]...)
		// §5.6 Feature Points.
		for _, p := range im.FeaturePoints {
			dst = append(dst, p.Type, p.Code)
			dst = binary.BigEndian.AppendUint16(dst, p.X)
			dst = binary.BigEndian.AppendUint16(dst, p.Y)
			dst = append(dst, 0, 0)
		}
		// §5.7 Image Information.
		dst = append(dst, im.ImageType, im.ImageDataType)
		dst = binary.BigEndian.AppendUint16(dst, uint16(im.Width))
		dst = binary.BigEndian.AppendUint16(dst, uint16(im.Height))
		dst = append(dst, im.ColourSpace, im.SourceType)
		dst = binary.BigEndian.AppendUint16(dst, im.DeviceType)
		dst = binary.BigEndian.AppendUint16(dst, im.Quality)
		// §5.8 Image Data.
		dst = append(dst, im.Data...)
	}
	return dst, nil
}

// FaceRecord is a decoded ISO/IEC 19794-5:2005 facial record. It holds pictures: log it only
// through LogValue.
type FaceRecord struct {
	Images []FaceImage
}

// FaceImage is one facial record data block: facial information, feature points, image
// information and the image. It holds a picture: log it only through LogValue (or String).
type FaceImage struct {
	// Facial information, §5.5.
	Gender               Gender
	EyeColour            byte    // §5.5.4, 0 = unspecified
	HairColour           byte    // §5.5.5, 0 = unspecified
	FeatureMask          uint32  // §5.5.6, 24 bits
	Expression           uint16  // §5.5.7, 0 = unspecified
	PoseAngle            [3]byte // §5.5.8 yaw, pitch, roll; 0 = unspecified
	PoseAngleUncertainty [3]byte // §5.5.9
	FeaturePoints        []FeaturePoint
	// Image information, §5.7.
	ImageType     byte
	ImageDataType byte
	Width, Height int
	ColourSpace   byte
	SourceType    byte
	DeviceType    uint16
	Quality       uint16
	// Data is the image (§5.8).
	Data []byte
}

// FeaturePoint is a facial feature point, §5.6.
type FeaturePoint struct {
	Type byte   // 1 = 2D feature point (MPEG-4 facial definition point)
	Code byte   // major code (high nibble) and minor code (low nibble)
	X, Y uint16 // pixels
}

// LogValue implements slog.LogValuer: counts, dimensions and sizes only.
func (r FaceRecord) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Int("images", len(r.Images))}
	for i, im := range r.Images {
		attrs = append(attrs, slog.Group(fmt.Sprintf("image%d", i),
			slog.Int("width", im.Width), slog.Int("height", im.Height), slog.Int("bytes", len(im.Data))))
	}
	return slog.GroupValue(attrs...)
}

// String describes the record without its pictures.
func (r FaceRecord) String() string {
	s := fmt.Sprintf("19794-5 face record, %d image(s)", len(r.Images))
	for _, im := range r.Images {
		s += "; " + im.String()
	}
	return s
}

// LogValue implements slog.LogValuer: dimensions and size only.
func (im FaceImage) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("width", im.Width), slog.Int("height", im.Height), slog.Int("bytes", len(im.Data)))
}

// String describes the image without its content.
func (im FaceImage) String() string {
	return fmt.Sprintf("%d×%d %d bytes", im.Width, im.Height, len(im.Data))
}

// DecodeFaceRecord parses an ISO/IEC 19794-5:2005 facial record. It checks the format identifier
// and version, that the record length equals the data length, that each facial record data block
// lies inside the record and holds its facial information, feature points and image information,
// and that the blocks fill the record exactly. Errors wrap ErrMalformed.
func DecodeFaceRecord(rec []byte) (*FaceRecord, error) {
	if len(rec) < faceHeaderLen {
		return nil, malformed("19794-5 record of %d bytes is shorter than its %d-byte header", len(rec), faceHeaderLen)
	}
	if !bytes.Equal(rec[0:4], faceFormatID) {
		return nil, malformed("19794-5 record: format identifier is %x, want %x (FAC\\0)", rec[0:4], faceFormatID)
	}
	if !bytes.Equal(rec[4:8], faceVersion) {
		return nil, malformed("19794-5 record: version is %x, want %x (010\\0)", rec[4:8], faceVersion)
	}
	if n := binary.BigEndian.Uint32(rec[8:12]); uint64(n) != uint64(len(rec)) {
		return nil, malformed("19794-5 record: record length field says %d, data has %d bytes", n, len(rec))
	}
	count := int(binary.BigEndian.Uint16(rec[12:14]))
	if count == 0 {
		return nil, malformed("19794-5 record: no facial images")
	}
	r := &FaceRecord{Images: make([]FaceImage, 0, min(count, len(rec)/(faceInfoLen+faceImageInfoLen)+1))}
	off := faceHeaderLen
	for i := 0; i < count; i++ {
		if len(rec)-off < faceInfoLen {
			return nil, malformed("19794-5 record: facial information of image %d at offset %d runs past the end", i, off)
		}
		b := rec[off:]
		blockLen := binary.BigEndian.Uint32(b[0:4])
		if uint64(blockLen) > uint64(len(b)) {
			return nil, malformed("19794-5 record: image %d block of %d bytes at offset %d runs past the end (%d left)", i, blockLen, off, len(b))
		}
		if blockLen < faceInfoLen+faceImageInfoLen {
			return nil, malformed("19794-5 record: image %d block length %d at offset %d is below the %d-byte minimum", i, blockLen, off, faceInfoLen+faceImageInfoLen)
		}
		b = b[:blockLen]
		nPoints := int(binary.BigEndian.Uint16(b[4:6]))
		fixed := faceInfoLen + featurePointLen*nPoints + faceImageInfoLen
		if len(b) < fixed {
			return nil, malformed("19794-5 record: image %d block of %d bytes at offset %d is shorter than its %d feature points and image information", i, len(b), off, nPoints)
		}
		im := FaceImage{
			Gender:      Gender(b[6]),
			EyeColour:   b[7],
			HairColour:  b[8],
			FeatureMask: uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11]),
			Expression:  binary.BigEndian.Uint16(b[12:14]),
		}
		copy(im.PoseAngle[:], b[14:17])
		copy(im.PoseAngleUncertainty[:], b[17:20])
		p := faceInfoLen
		if nPoints > 0 {
			im.FeaturePoints = make([]FeaturePoint, nPoints)
			for k := range im.FeaturePoints {
				fp := b[p : p+featurePointLen]
				im.FeaturePoints[k] = FeaturePoint{Type: fp[0], Code: fp[1],
					X: binary.BigEndian.Uint16(fp[2:4]), Y: binary.BigEndian.Uint16(fp[4:6])}
				p += featurePointLen
			}
		}
		ii := b[p : p+faceImageInfoLen]
		im.ImageType, im.ImageDataType = ii[0], ii[1]
		im.Width = int(binary.BigEndian.Uint16(ii[2:4]))
		im.Height = int(binary.BigEndian.Uint16(ii[4:6]))
		im.ColourSpace, im.SourceType = ii[6], ii[7]
		im.DeviceType = binary.BigEndian.Uint16(ii[8:10])
		im.Quality = binary.BigEndian.Uint16(ii[10:12])
		im.Data = b[fixed:]
		if len(im.Data) == 0 {
			return nil, malformed("19794-5 record: image %d at offset %d has no image data", i, off)
		}
		r.Images = append(r.Images, im)
		off += int(blockLen)
	}
	if off != len(rec) {
		return nil, malformed("19794-5 record: %d bytes after the last image", len(rec)-off)
	}
	return r, nil
}
