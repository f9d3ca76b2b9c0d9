package biometrics

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"

	xdraw "golang.org/x/image/draw"
)

// BenchmarkPrepareFace480x640 re-encodes a 38 KB 480×640 sample face to the 20,000-byte budget:
// decode, transform once, search the quality.
func BenchmarkPrepareFace480x640(b *testing.B) {
	in := readTestdata(b, "face-sample.jpg")
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		f, err := PrepareFace(in, FaceOptions{})
		if err != nil || f.Quality == 0 {
			b.Fatal(f, err)
		}
	}
}

// BenchmarkPrepareFace1200x1600 adds decoding a larger picture and area downscaling.
func BenchmarkPrepareFace1200x1600(b *testing.B) {
	in := encodeStdJPEG(b, texturedImage(1200, 1600, 6, 9), 92)
	for b.Loop() {
		if _, err := PrepareFace(in, FaceOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReencodeNaiveImageJPEG is the approach PrepareFace avoids, for comparison: decode, then
// binary search over qualities 50–100 with a full image/jpeg encode at each step.
func BenchmarkReencodeNaiveImageJPEG(b *testing.B) {
	in := readTestdata(b, "face-sample.jpg")
	var buf bytes.Buffer
	for b.Loop() {
		m, err := jpeg.Decode(bytes.NewReader(in))
		if err != nil {
			b.Fatal(err)
		}
		lo, hi := 49, 101
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			buf.Reset()
			if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: mid}); err != nil {
				b.Fatal(err)
			}
			if buf.Len() <= DefaultFaceMaxBytes {
				lo = mid
			} else {
				hi = mid
			}
		}
	}
}

// BenchmarkDownscale compares 1200×1600 → 480×640 with the package's area resampler and
// x/image/draw's scalers (see TestAreaResampleMatchesCatmullRomAndDoesNotAlias for quality).
func BenchmarkDownscale(b *testing.B) {
	src := decodeJPEG(b, encodeStdJPEG(b, texturedImage(1200, 1600, 6, 9), 92))
	b.Run("area", func(b *testing.B) {
		p := planesFromImage(src)
		for b.Loop() {
			p.resize(480, 640)
		}
	})
	for _, s := range []struct {
		name string
		k    xdraw.Scaler
	}{{"ApproxBiLinear", xdraw.ApproxBiLinear}, {"BiLinear", xdraw.BiLinear}, {"CatmullRom", xdraw.CatmullRom}} {
		b.Run(s.name, func(b *testing.B) {
			dst := image.NewRGBA(image.Rect(0, 0, 480, 640))
			for b.Loop() {
				s.k.Scale(dst, dst.Bounds(), src, src.Bounds(), xdraw.Src, nil)
			}
		})
	}
}

func BenchmarkSyntheticFace(b *testing.B) {
	seed := int64(0)
	for b.Loop() {
		SyntheticFace(seed)
		seed++
	}
}

func BenchmarkSyntheticFingerMinutiae(b *testing.B) {
	seed := int64(0)
	for b.Loop() {
		SyntheticFingerMinutiae(seed, 2)
		seed++
	}
}

// BenchmarkEncodeDG2 builds the DG2 template of a prepared 20 KB face (record validation included).
func BenchmarkEncodeDG2(b *testing.B) {
	face, err := PrepareFace(readTestdata(b, "face-sample.jpg"), FaceOptions{})
	if err != nil {
		b.Fatal(err)
	}
	rec, err := EncodeFaceRecord(face, GenderMale)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if _, err := EncodeDG2(rec); err != nil {
			b.Fatal(err)
		}
	}
}
