package biometrics

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// tinyFaceRecordHex is a 19794-5 record computed by hand: one female full-frontal 480×640 RGB
// JPEG from a static photograph whose "image" is the 4 bytes FFD8FFD9.
const tinyFaceRecordHex = "" +
	"46414300" + "30313000" + "00000032" + "0001" + // §5.4: FAC\0, 010\0, length 50, 1 image
	"00000024" + "0000" + "02" + "00" + "00" + "000000" + "0000" + "000000" + "000000" + // §5.5: block 36, 0 points, female, eye/hair/mask/expression/pose unspecified
	"01" + "00" + "01e0" + "0280" + "01" + "01" + "0000" + "0000" + // §5.7: full frontal, JPEG, 480, 640, RGB24, static photo, device, quality
	"ffd8ffd9" // §5.8

func tinyFaceImage() FaceImage {
	return FaceImage{
		Gender: GenderFemale, ImageType: FaceImageTypeFullFrontal, ImageDataType: FaceImageDataJPEG,
		Width: 480, Height: 640, ColourSpace: FaceColourSpaceRGB24, SourceType: FaceSourceStaticPhoto,
		Data: []byte{0xff, 0xd8, 0xff, 0xd9},
	}
}

func TestFaceRecordEncodesToKnownBytes(t *testing.T) {
	want := mustHex(t, tinyFaceRecordHex)
	got, err := appendFaceRecord(nil, []FaceImage{tinyFaceImage()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("record differs:\n%s", hexDiff(got, want))
	}
	rec, err := DecodeFaceRecord(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rec.Images, []FaceImage{tinyFaceImage()}) {
		t.Errorf("decoded %+v", rec.Images)
	}
}

func TestFaceRecordRoundTripsAPreparedFace(t *testing.T) {
	face, err := PrepareFace(readTestdata(t, "face-sample.jpg"), FaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []Gender{GenderMale, GenderFemale, GenderUnspecified} {
		rec, err := EncodeFaceRecord(face, g)
		if err != nil {
			t.Fatal(err)
		}
		// Header: FAC\0 010\0, length, one image; block length = record - 14.
		wantHead := append([]byte("FAC\x00010\x00"), byte(len(rec)>>24), byte(len(rec)>>16), byte(len(rec)>>8), byte(len(rec)), 0, 1)
		if !bytes.HasPrefix(rec, wantHead) {
			t.Fatalf("header:\n%s", hexDiff(rec[:14], wantHead))
		}
		got, err := DecodeFaceRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		want := FaceImage{
			Gender: g, ImageType: FaceImageTypeFullFrontal, ImageDataType: FaceImageDataJPEG,
			Width: 480, Height: 640, ColourSpace: FaceColourSpaceRGB24, SourceType: FaceSourceStaticPhoto,
			Data: face.JPEG,
		}
		if len(got.Images) != 1 || !reflect.DeepEqual(got.Images[0], want) {
			t.Errorf("gender %d: decoded %v, want %v", g, got, FaceRecord{Images: []FaceImage{want}})
		}
	}
}

func TestEncodeFaceRecordWritesGrayForAGrayJPEG(t *testing.T) {
	gray := decodeJPEG(t, readTestdata(t, "face-sample.jpg"))
	p := planesFromImage(gray)
	p.gray = true
	co := transform(p)
	defer co.release()
	jpg, _ := co.encodeQuality(nil, 80, 0)
	rec, err := EncodeFaceRecord(&Face{JPEG: jpg, Width: 480, Height: 640, Quality: 80}, GenderMale)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeFaceRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if cs := got.Images[0].ColourSpace; cs != FaceColourSpaceGray8 {
		t.Errorf("colour space %d, want %d (8-bit grey)", cs, FaceColourSpaceGray8)
	}
}

func TestEncodeFaceRecordRefusesAnInconsistentFace(t *testing.T) {
	jpg := readTestdata(t, "face-sample.jpg")
	for _, f := range []*Face{nil, {}, {JPEG: jpg, Width: 481, Height: 640}, {JPEG: []byte("not a jpeg"), Width: 1, Height: 1}} {
		if _, err := EncodeFaceRecord(f, GenderMale); err == nil {
			t.Errorf("accepted %v", f)
		}
	}
}

func TestDecodeFaceRecordRejectsMalformedRecords(t *testing.T) {
	good := mustHex(t, tinyFaceRecordHex)
	patch := func(off int, b ...byte) []byte {
		out := bytes.Clone(good)
		copy(out[off:], b)
		return out
	}
	withPoint, err := appendFaceRecord(nil, []FaceImage{func() FaceImage {
		im := tinyFaceImage()
		im.FeaturePoints = []FeaturePoint{{Type: 1, Code: 0x31, X: 200, Y: 300}}
		return im
	}()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"shorter than the header", good[:13]},
		{"wrong format identifier", patch(0, 'F', 'I', 'R')},
		{"wrong version", patch(4, '0', '2', '0')},
		{"record length larger than the data", patch(8, 0, 0, 0, 0x33)},
		{"record length smaller than the data", patch(8, 0, 0, 0, 0x31)},
		{"truncated with a matching length", append(patch(8, 0, 0, 0, 0x31), []byte{}...)[:49]},
		{"no images", patch(12, 0, 0)},
		{"two images declared, one present", patch(12, 0, 2)},
		{"block length past the end", patch(14, 0, 0, 0, 0x25)},
		{"block length below the minimum", patch(14, 0, 0, 0, 0x05)},
		{"block without image data", func() []byte {
			b := bytes.Clone(good[:46])
			b[11], b[17] = 46, 32
			return b
		}()},
		{"feature points past the block", patch(18, 0, 9)},
		{"byte after the last image", func() []byte {
			b := append(bytes.Clone(good), 0)
			b[11] = 51
			return b
		}()},
		{"feature point record truncated", withPoint[:len(withPoint)-1]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := DecodeFaceRecord(tc.in)
			if err == nil {
				t.Fatalf("accepted: %v", rec)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			assertSafeErrorText(t, err)
		})
	}
	if _, err := DecodeFaceRecord(withPoint); err != nil {
		t.Errorf("record with a feature point: %v", err)
	}
}

func TestGenderFromSex(t *testing.T) {
	for in, want := range map[string]Gender{"M": GenderMale, "F": GenderFemale, "m": GenderMale, "": GenderUnspecified, "<": GenderUnspecified, "X": GenderUnspecified} {
		if got := GenderFromSex(in); got != want {
			t.Errorf("GenderFromSex(%q) = %d, want %d", in, got, want)
		}
	}
}
