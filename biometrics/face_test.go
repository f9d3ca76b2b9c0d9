package biometrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"log/slog"
	"strconv"
	"testing"
	"unicode"
)

// paddedJPEG returns a valid JPEG of at least n bytes: the picture with COM segments after SOI.
func paddedJPEG(pic []byte, n int) []byte {
	out := append([]byte{}, pic[:2]...)
	seg := make([]byte, 65533)
	for len(out) < n {
		out = append(out, 0xff, 0xfe, 0xff, 0xff)
		out = append(out, seg...)
	}
	return append(out, pic[2:]...)
}

// withDimensions returns a copy of a baseline JPEG whose SOF0 declares w×h.
func withDimensions(t *testing.T, pic []byte, w, h int) []byte {
	t.Helper()
	out := bytes.Clone(pic)
	i := bytes.Index(out, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 in test picture")
	}
	out[i+5], out[i+6] = byte(h>>8), byte(h)
	out[i+7], out[i+8] = byte(w>>8), byte(w)
	return out
}

func TestPrepareFaceRejectsEachRule(t *testing.T) {
	sample := readTestdata(t, "face-sample.jpg")
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, texturedImage(480, 640, 10, 1)); err != nil {
		t.Fatal(err)
	}
	tenMB := paddedJPEG(sample, 10<<20)
	if _, err := jpeg.Decode(bytes.NewReader(tenMB)); err != nil {
		t.Fatalf("the 10 MB test picture should be a valid JPEG: %v", err)
	}
	tiny := encodeStdJPEG(t, texturedImage(16, 16, 0, 1), 90)

	tests := []struct {
		name     string
		in       []byte
		opts     FaceOptions
		rule     FaceRule
		sentinel error
	}{
		{"PNG is not a JPEG", pngBuf.Bytes(), FaceOptions{}, FaceRuleNotJPEG, ErrFaceNotJPEG},
		{"empty input is not a JPEG", nil, FaceOptions{}, FaceRuleNotJPEG, ErrFaceNotJPEG},
		{"truncated JPEG is undecodable", sample[:len(sample)/2], FaceOptions{}, FaceRuleUndecodable, ErrFaceUndecodable},
		{"SOI then garbage is undecodable", append([]byte{0xff, 0xd8, 0xff}, bytes.Repeat([]byte{0x42}, 100)...), FaceOptions{}, FaceRuleUndecodable, ErrFaceUndecodable},
		{"200×300 picture is too small", encodeStdJPEG(t, texturedImage(200, 300, 30, 2), 95), FaceOptions{}, FaceRuleTooSmall, ErrFaceTooSmall},
		{"480×319 picture is too small", encodeStdJPEG(t, texturedImage(480, 319, 30, 2), 95), FaceOptions{}, FaceRuleTooSmall, ErrFaceTooSmall},
		{"2400×400 picture would shrink below the minimum", encodeStdJPEG(t, texturedImage(2400, 400, 30, 3), 95), FaceOptions{}, FaceRuleTooSmall, ErrFaceTooSmall},
		{"picture that cannot fit a tiny budget even at quality 50", sample, FaceOptions{MaxBytes: 3000}, FaceRuleOverBudget, ErrFaceOverBudget},
		{"10 MB picture is too large", tenMB, FaceOptions{}, FaceRuleTooLarge, ErrFaceTooLarge},
		{"picture declaring 10000×10000 is too large", withDimensions(t, tiny, 10000, 10000), FaceOptions{}, FaceRuleTooLarge, ErrFaceTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			face, err := PrepareFace(tc.in, tc.opts)
			if err == nil {
				t.Fatalf("accepted: %v", face)
			}
			var fe *FaceError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *FaceError", err, err)
			}
			if fe.Rule != tc.rule {
				t.Errorf("rule %q, want %q (%v)", fe.Rule, tc.rule, err)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) is false", err, tc.sentinel)
			}
			assertSafeErrorText(t, err)
		})
	}
}

// assertSafeErrorText checks that an error string is short printable text: no picture bytes.
func assertSafeErrorText(t *testing.T, err error) {
	t.Helper()
	s := err.Error()
	if len(s) > 300 {
		t.Errorf("error text is %d characters long: %.80q...", len(s), s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			t.Errorf("error text has the non-printable %U: %q", r, s)
			return
		}
	}
}

func TestPrepareFaceKeepsAFittingJPEGByteForByte(t *testing.T) {
	in := encodeStdJPEG(t, texturedImage(480, 640, 0, 4), 75)
	if len(in) > DefaultFaceMaxBytes {
		t.Fatalf("test picture is %d bytes, want it within the budget", len(in))
	}
	face, err := PrepareFace(in, FaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(face.JPEG, in) {
		t.Fatalf("JPEG changed:\n%s", hexDiff(face.JPEG, in))
	}
	if face.Quality != 0 || face.Width != 480 || face.Height != 640 {
		t.Errorf("face %v, want 480×640 quality 0", face)
	}
	in[100] ^= 0xff
	if bytes.Equal(face.JPEG, in) {
		t.Error("Face.JPEG aliases the caller's buffer")
	}
}

func TestPrepareFaceDownscalesKeepingAspectRatioWithin480x640NeverUp(t *testing.T) {
	sizes := []struct{ w, h, wantW, wantH int }{
		{960, 1280, 480, 640},
		{1200, 1600, 480, 640},
		{600, 800, 480, 640},
		{481, 641, 480, 640},
		{482, 640, 480, 637},
		{1000, 1000, 480, 480},
		{500, 700, 457, 640},
		{720, 1080, 427, 640},
		{640, 480, 480, 360},
		{400, 560, 400, 560}, // within 480×640: re-encoded, not scaled
		{241, 321, 241, 321},
	}
	for _, s := range sizes {
		t.Run(sizeName(s.w, s.h), func(t *testing.T) {
			in := encodeStdJPEG(t, texturedImage(s.w, s.h, 24, uint64(s.w)), 95)
			budget := len(in) / 2
			face, err := PrepareFace(in, FaceOptions{MaxBytes: budget})
			if err != nil {
				t.Fatal(err)
			}
			if face.Quality == 0 {
				t.Fatalf("%d-byte input over a %d-byte budget was kept as is", len(in), budget)
			}
			if face.Width != s.wantW || face.Height != s.wantH {
				t.Errorf("%d×%d became %d×%d, want %d×%d", s.w, s.h, face.Width, face.Height, s.wantW, s.wantH)
			}
			if face.Width > MaxFaceWidth || face.Height > MaxFaceHeight || face.Width > s.w || face.Height > s.h {
				t.Errorf("%d×%d became %d×%d: over 480×640 or scaled up", s.w, s.h, face.Width, face.Height)
			}
			// Aspect ratio: the dependent side is within half a pixel of the exact ratio.
			if d := face.Height*s.w - s.h*face.Width; 2*abs(d) > max(s.w, s.h) {
				t.Errorf("%d×%d became %d×%d: aspect ratio off by %d/%d", s.w, s.h, face.Width, face.Height, d, s.w)
			}
			out := decodeJPEG(t, face.JPEG)
			if b := out.Bounds(); b.Dx() != face.Width || b.Dy() != face.Height {
				t.Errorf("JPEG is %v, Face says %d×%d", b, face.Width, face.Height)
			}
			if len(face.JPEG) > budget {
				t.Errorf("JPEG is %d bytes, budget %d", len(face.JPEG), budget)
			}
		})
	}
}

func sizeName(w, h int) string { return fmt.Sprintf("%dx%d", w, h) }

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// TestPrepareFaceChoosesTheHighestQualityThatFits proves the search: the result fits, the same
// picture at quality+1 does not (unless the result is 100), and no quality from 50 to 100 above
// the result fits either (checked by encoding every one).
func TestPrepareFaceChoosesTheHighestQualityThatFits(t *testing.T) {
	pictures := []struct {
		name string
		in   []byte
	}{
		{"sample face", readTestdata(t, "face-sample.jpg")},
		{"synthetic face 7", SyntheticFace(7)},
		{"synthetic face 42", SyntheticFace(42)},
		{"textured 1200x1600", encodeStdJPEG(t, texturedImage(1200, 1600, 6, 9), 92)},
	}
	for _, pic := range pictures {
		// Size at every quality of the picture PrepareFace codes (all inputs scale to 480×640).
		co := transform(planesFromImage(decodeJPEG(t, pic.in)).resize(480, 640))
		var size [101]int
		for q := MinFaceQuality; q <= 100; q++ {
			out, _ := co.encodeQuality(nil, q, 0)
			size[q] = len(out)
		}
		for _, budget := range []int{12000, 20000, 30000} {
			t.Run(pic.name+"/"+strconv.Itoa(budget), func(t *testing.T) {
				face, err := PrepareFace(pic.in, FaceOptions{MaxBytes: budget})
				if err != nil {
					t.Fatal(err)
				}
				if face.Width != 480 || face.Height != 640 {
					t.Fatalf("face is %d×%d", face.Width, face.Height)
				}
				q := face.Quality
				if q < MinFaceQuality || q > 100 {
					t.Fatalf("quality %d", q)
				}
				if len(face.JPEG) > budget || len(face.JPEG) != size[q] {
					t.Fatalf("quality %d: %d bytes; encoding at %d gives %d; budget %d", q, len(face.JPEG), q, size[q], budget)
				}
				again, _ := co.encodeQuality(nil, q, 0)
				if !bytes.Equal(again, face.JPEG) {
					t.Fatalf("re-encoding at quality %d does not reproduce the output:\n%s", q, hexDiff(again, face.JPEG))
				}
				if q < 100 && size[q+1] <= budget {
					t.Errorf("quality %d+1 gives %d bytes, which also fits %d", q, size[q+1], budget)
				}
				for above := q + 1; above <= 100; above++ {
					if size[above] <= budget {
						t.Errorf("quality %d gives %d bytes and fits %d, above the chosen %d", above, size[above], budget, q)
					}
				}
				t.Logf("quality %d: %d bytes (budget %d; quality %d: %d bytes)", q, len(face.JPEG), budget, min(q+1, 100), size[min(q+1, 100)])
			})
		}
		co.release()
	}
}

func TestFaceLogValueAndStringShowOnlySizes(t *testing.T) {
	face, err := PrepareFace(readTestdata(t, "face-sample.jpg"), FaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("prepared", "face", face)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	got, _ := rec["face"].(map[string]any)
	want := map[string]float64{"bytes": float64(len(face.JPEG)), "width": 480, "height": 640, "quality": float64(face.Quality)}
	if len(got) != len(want) {
		t.Errorf("logged %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("logged %s=%v, want %v", k, got[k], v)
		}
	}
	for _, s := range []string{buf.String(), face.String(), fmt.Sprintf("%v", face), fmt.Sprintf("%+v", *face)} {
		if len(s) > 300 {
			t.Errorf("log or string output is %d bytes long: picture bytes leaked? %.100q", len(s), s)
		}
	}
}

// TestLoggedTypesNeverShowBiometricData logs every exported type that holds a picture, a record
// or minutiae, with slog and fmt, and checks no content comes out.
func TestLoggedTypesNeverShowBiometricData(t *testing.T) {
	face, err := PrepareFace(readTestdata(t, "face-sample.jpg"), FaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := EncodeFaceRecord(face, GenderFemale)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := DecodeFaceRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	finger, err := ParseFinger(FormatFingerMinutiae, readTestdata(t, "fmr-sample-left-index.bin"))
	if err != nil {
		t.Fatal(err)
	}
	dg2, err := EncodeDG2(rec)
	if err != nil {
		t.Fatal(err)
	}
	bits, err := DecodeCBEFF(dg2)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{
		"Face": face, "FaceRecord": fr, "FaceImage": fr.Images[0], "FingerRecord": finger,
		"FingerView": finger.Views[0], "BiometricInfo": bits[0],
	}
	for name, v := range values {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
		for _, out := range []string{buf.String(), fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%s", v)} {
			if len(out) > 300 {
				t.Errorf("%s: %d characters of output: %.120q", name, len(out), out)
			}
		}
	}
}

func TestKeptFaceLosesItsMetadata(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 300, 400))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 30}); err != nil {
		t.Fatal(err)
	}
	plain := buf.Bytes()
	// An EXIF segment carrying a "GPS" marker, and a comment, after SOI.
	exif := append([]byte{0xFF, 0xE1, 0x00, 0x0D}, []byte("Exif\x00\x00GPS!!")...)
	com := append([]byte{0xFF, 0xFE, 0x00, 0x08}, []byte("serial")...)
	tagged := append(append(append([]byte{0xFF, 0xD8}, exif...), com...), plain[2:]...)
	f, err := PrepareFace(tagged, FaceOptions{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if f.Quality != 0 {
		t.Fatalf("re-encoded (quality %d) although it fits", f.Quality)
	}
	if bytes.Contains(f.JPEG, []byte("GPS!!")) || bytes.Contains(f.JPEG, []byte("serial")) {
		t.Error("metadata kept")
	}
	if !bytes.Equal(f.JPEG, plain) {
		t.Errorf("stripping changed more than the metadata: %d bytes, %d expected", len(f.JPEG), len(plain))
	}
}
