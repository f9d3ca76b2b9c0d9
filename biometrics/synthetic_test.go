package biometrics

import (
	"bytes"
	"testing"
)

func TestSyntheticFaceIsADeterministic480x640JPEGOverTheBudget(t *testing.T) {
	seen := map[string]int64{}
	for _, seed := range []int64{0, 1, 2, 3, -5, 1 << 40} {
		b := SyntheticFace(seed)
		if !bytes.Equal(b, SyntheticFace(seed)) {
			t.Fatalf("seed %d: two calls differ", seed)
		}
		if other, ok := seen[string(b)]; ok {
			t.Errorf("seeds %d and %d give the same picture", seed, other)
		}
		seen[string(b)] = seed
		m := decodeJPEG(t, b)
		if s := m.Bounds().Size(); s.X != 480 || s.Y != 640 {
			t.Fatalf("seed %d: picture is %v", seed, s)
		}
		if len(b) <= DefaultFaceMaxBytes {
			t.Errorf("seed %d: %d bytes fits the %d budget as is; the demo would not re-encode", seed, len(b), DefaultFaceMaxBytes)
		}
		face, err := PrepareFace(b, FaceOptions{})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if face.Quality < 60 {
			t.Errorf("seed %d: re-encoded at quality %d, want ≥ 60 for a presentable demo", seed, face.Quality)
		}
		t.Logf("seed %d: %d bytes → %v", seed, len(b), face)
	}
}

func TestSyntheticFingerMinutiaeParseAndAreDeterministic(t *testing.T) {
	for _, seed := range []int64{0, 1, 99, -7} {
		for finger := -1; finger <= 11; finger++ {
			b := SyntheticFingerMinutiae(seed, finger)
			if !bytes.Equal(b, SyntheticFingerMinutiae(seed, finger)) {
				t.Fatalf("seed %d finger %d: two calls differ", seed, finger)
			}
			r, err := ParseFinger(FormatFingerMinutiae, b)
			if err != nil {
				t.Fatalf("seed %d finger %d: %v", seed, finger, err)
			}
			want := FingerPosition(finger)
			if finger < 1 || finger > 10 {
				want = FingerUnknown
			}
			if r.ShortLengthField || len(r.Views) != 1 || r.Views[0].Position != want {
				t.Fatalf("seed %d finger %d: %v position %v", seed, finger, r, r.Views[0].Position)
			}
			if n := len(r.Views[0].Minutiae); n < 28 || n > 52 {
				t.Errorf("seed %d finger %d: %d minutiae", seed, finger, n)
			}
			for _, m := range r.Views[0].Minutiae {
				if m.Type != 1 && m.Type != 2 {
					t.Errorf("seed %d finger %d: minutia type %d", seed, finger, m.Type)
				}
			}
		}
	}
	if bytes.Equal(SyntheticFingerMinutiae(1, 2), SyntheticFingerMinutiae(2, 2)) || bytes.Equal(SyntheticFingerMinutiae(1, 2), SyntheticFingerMinutiae(1, 7)) {
		t.Error("different seeds or fingers give the same record")
	}
}
