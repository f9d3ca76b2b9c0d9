package biometrics

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"math"
	"testing"

	xdraw "golang.org/x/image/draw"
)

// TestEncoderQualityScaleMatchesImageJPEG: "quality q" means the same here as in image/jpeg
// (same tables, IJG scaling, same Huffman tables): sizes within 8% and the same fidelity. Only
// the DCT differs (float AAN here, integer in image/jpeg), which shows most at quality 100.
func TestEncoderQualityScaleMatchesImageJPEG(t *testing.T) {
	src := decodeJPEG(t, readTestdata(t, "face-sample.jpg"))
	co := transform(planesFromImage(src))
	defer co.release()
	for _, q := range []int{50, 60, 70, 75, 80, 85, 90, 95, 100} {
		mine, _ := co.encodeQuality(nil, q, 0)
		std := encodeStdJPEG(t, src, q)
		ratio := float64(len(mine)) / float64(len(std))
		pm, ps := psnr(src, decodeJPEG(t, mine)), psnr(src, decodeJPEG(t, std))
		t.Logf("quality %3d: %6d bytes (image/jpeg %6d, ratio %.3f), PSNR %.2f dB (image/jpeg %.2f)", q, len(mine), len(std), ratio, pm, ps)
		if ratio < 0.92 || ratio > 1.08 {
			t.Errorf("quality %d: %d bytes, image/jpeg %d", q, len(mine), len(std))
		}
		if pm < ps-0.5 {
			t.Errorf("quality %d: PSNR %.2f dB, image/jpeg %.2f", q, pm, ps)
		}
	}
}

// TestEncoderOutputDecodesForEverySourceKind: colour models, subsamplings, odd sizes and
// offset rectangles all give a JPEG image/jpeg decodes to the same size and close to the source.
func TestEncoderOutputDecodesForEverySourceKind(t *testing.T) {
	base := texturedImage(243, 331, 4, 5)
	toYCbCr := func(r image.YCbCrSubsampleRatio) image.Image {
		m := image.NewYCbCr(base.Bounds(), r)
		for y := 0; y < base.Bounds().Dy(); y++ {
			for x := 0; x < base.Bounds().Dx(); x++ {
				c := base.RGBAAt(x, y)
				yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
				m.Y[m.YOffset(x, y)] = yy
				m.Cb[m.COffset(x, y)] = cb
				m.Cr[m.COffset(x, y)] = cr
			}
		}
		return m
	}
	gray := image.NewGray(base.Bounds())
	draw.Draw(gray, gray.Bounds(), base, image.Point{}, draw.Src)
	cmyk := image.NewCMYK(base.Bounds())
	draw.Draw(cmyk, cmyk.Bounds(), base, image.Point{}, draw.Src)
	nrgba := image.NewNRGBA(base.Bounds())
	draw.Draw(nrgba, nrgba.Bounds(), base, image.Point{}, draw.Src)
	sources := []struct {
		name string
		m    image.Image
		gray bool
	}{
		{"RGBA", base, false},
		{"RGBA sub-image at odd offset", base.SubImage(image.Rect(3, 5, 200, 300)), false},
		{"Gray", gray, true},
		{"CMYK", cmyk, false},
		{"NRGBA", nrgba, false},
		{"YCbCr 4:2:0", toYCbCr(image.YCbCrSubsampleRatio420), false},
		{"YCbCr 4:2:0 sub-image at odd offset", toYCbCr(image.YCbCrSubsampleRatio420).(*image.YCbCr).SubImage(image.Rect(1, 3, 240, 330)), false},
		{"YCbCr 4:4:4", toYCbCr(image.YCbCrSubsampleRatio444), false},
		{"YCbCr 4:2:2", toYCbCr(image.YCbCrSubsampleRatio422), false},
		{"YCbCr 4:4:0", toYCbCr(image.YCbCrSubsampleRatio440), false},
		{"YCbCr 4:1:1", toYCbCr(image.YCbCrSubsampleRatio411), false},
		{"YCbCr 4:1:0", toYCbCr(image.YCbCrSubsampleRatio410), false},
		{"1×1", base.SubImage(image.Rect(0, 0, 1, 1)), false},
		{"17×9", base.SubImage(image.Rect(0, 0, 17, 9)), false},
	}
	for _, s := range sources {
		t.Run(s.name, func(t *testing.T) {
			co := transform(planesFromImage(s.m))
			defer co.release()
			out, ok := co.encodeQuality(nil, 90, 0)
			if !ok {
				t.Fatal("encoding without limit reported not ok")
			}
			got := decodeJPEG(t, out)
			if got.Bounds().Size() != s.m.Bounds().Size() {
				t.Fatalf("decoded %v, source %v", got.Bounds(), s.m.Bounds())
			}
			if _, isGray := got.(*image.Gray); isGray != s.gray {
				t.Errorf("decoded %T", got)
			}
			if p := psnr(s.m, got); p < 30 {
				t.Errorf("PSNR %.2f dB against the source, want ≥ 30", p)
			}
		})
	}
}

func TestEncodeQualityStopsEarlyOverTheLimit(t *testing.T) {
	co := transform(planesFromImage(decodeJPEG(t, readTestdata(t, "face-sample.jpg"))))
	defer co.release()
	full, _ := co.encodeQuality(nil, 95, 0)
	part, ok := co.encodeQuality(nil, 95, 5000)
	if ok {
		t.Fatalf("%d-byte encoding reported as fitting 5000", len(full))
	}
	if len(part) > 5000+1024 {
		t.Errorf("gave up after %d bytes, want soon after the 5000 limit", len(part))
	}
	exact, ok := co.encodeQuality(nil, 95, len(full))
	if !ok || !bytes.Equal(exact, full) {
		t.Errorf("encoding with a limit equal to its size: ok=%v\n%s", ok, hexDiff(exact, full))
	}
}

// TestQuantTablesFollowTheIJGScaling pins the quality scale to T.81 Annex K and libjpeg.
func TestQuantTablesFollowTheIJGScaling(t *testing.T) {
	q50 := quantTables(50)
	for k := range 64 {
		if q50[0][k] != baseQuant[0][zigzag[k]] || q50[1][k] != baseQuant[1][zigzag[k]] {
			t.Fatalf("quality 50 is not the Annex K tables at zig-zag %d", k)
		}
	}
	q100 := quantTables(100)
	for k := range 64 {
		if q100[0][k] != 1 || q100[1][k] != 1 {
			t.Fatalf("quality 100 table entry %d is not 1", k)
		}
	}
	// Quality 75: scale 50, luminance DC 16 → 8, chrominance AC 99 → 50.
	if q := quantTables(75); q[0][0] != 8 || q[1][63] != 50 {
		t.Errorf("quality 75 DC %d, last chroma %d; want 8 and 50", q[0][0], q[1][63])
	}
	// Quality 10: scale 500, luminance DC 16 → 80, chroma 99 → 255 (clamped).
	if q := quantTables(10); q[0][0] != 80 || q[1][63] != 255 {
		t.Errorf("quality 10 DC %d, last chroma %d; want 80 and 255", q[0][0], q[1][63])
	}
}

// TestHuffmanCodesAreThoseOfAnnexK checks code words listed in T.81 Tables K.3 to K.6.
func TestHuffmanCodesAreThoseOfAnnexK(t *testing.T) {
	for i, s := range huffSpecs {
		n := 0
		for _, c := range s.counts {
			n += int(c)
		}
		if n != len(s.values) {
			t.Errorf("table %d: counts add up to %d, %d values", i, n, len(s.values))
		}
	}
	tests := []struct {
		table int
		sym   byte
		size  uint8
		code  uint16
	}{
		{0, 0x00, 2, 0b00},           // K.3 DC luminance category 0
		{0, 0x0b, 9, 0b111111110},    // K.3 category 11
		{2, 0x00, 2, 0b00},           // K.4 DC chrominance category 0
		{2, 0x0b, 11, 0b11111111110}, // K.4 category 11
		{1, 0x00, 4, 0b1010},         // K.5 EOB
		{1, 0x01, 2, 0b00},           // K.5 0/1
		{1, 0xf0, 11, 0b11111111001}, // K.5 ZRL
		{1, 0xfa, 16, 0xfffe},        // K.5 F/A
		{3, 0x00, 2, 0b00},           // K.6 EOB
		{3, 0xf0, 10, 0b1111111010},  // K.6 ZRL
		{3, 0xfa, 16, 0xfffe},        // K.6 F/A
	}
	for _, tc := range tests {
		h := huffCodes[tc.table]
		if h.size[tc.sym] != tc.size || h.code[tc.sym] != tc.code {
			t.Errorf("table %d symbol %02X: code %b (%d bits), want %b (%d bits)", tc.table, tc.sym, h.code[tc.sym], h.size[tc.sym], tc.code, tc.size)
		}
	}
}

// TestAreaResampleMatchesCatmullRomAndDoesNotAlias compares the package's downscaler with
// x/image/draw: close to Catmull-Rom on a photograph-like picture, and unlike ApproxBiLinear it
// turns a one-pixel checkerboard into flat grey instead of aliasing patterns.
func TestAreaResampleMatchesCatmullRomAndDoesNotAlias(t *testing.T) {
	src := decodeJPEG(t, encodeStdJPEG(t, texturedImage(1200, 1600, 3, 11), 95))
	p := planesFromImage(src).resize(480, 640)
	co := transform(p)
	mine := decodeJPEG(t, must(co.encodeQuality(nil, 100, 0)))
	co.release()
	ref := image.NewRGBA(image.Rect(0, 0, 480, 640))
	xdraw.CatmullRom.Scale(ref, ref.Bounds(), src, src.Bounds(), xdraw.Src, nil)
	if got := psnr(ref, mine); got < 35 {
		t.Errorf("area resampling vs Catmull-Rom: PSNR %.2f dB, want ≥ 35", got)
	} else {
		t.Logf("area resampling vs Catmull-Rom: PSNR %.2f dB", got)
	}

	checker := image.NewGray(image.Rect(0, 0, 1200, 1600))
	for y := 0; y < 1600; y++ {
		for x := 0; x < 1200; x++ {
			if (x+y)%2 == 0 {
				checker.Pix[y*checker.Stride+x] = 255
			}
		}
	}
	area := planesFromImage(checker).resize(480, 640)
	approx := image.NewGray(image.Rect(0, 0, 480, 640))
	xdraw.ApproxBiLinear.Scale(approx, approx.Bounds(), checker, checker.Bounds(), xdraw.Src, nil)
	sdArea, sdApprox := stddev(area.y), stddev(approx.Pix)
	t.Logf("checkerboard 1200×1600 → 480×640: standard deviation area %.1f, ApproxBiLinear %.1f", sdArea, sdApprox)
	// A 2.5-pixel box over a one-pixel checkerboard leaves a little beat (partial pixels), far
	// from the aliasing of point sampling.
	if sdArea > 8 || sdArea > sdApprox/4 {
		t.Errorf("area resampling of a checkerboard has standard deviation %.1f (ApproxBiLinear %.1f), want near-flat grey", sdArea, sdApprox)
	}
}

func must(b []byte, _ bool) []byte { return b }

func stddev(v []byte) float64 {
	var s, ss float64
	for _, x := range v {
		s += float64(x)
		ss += float64(x) * float64(x)
	}
	n := float64(len(v))
	return math.Sqrt(ss/n - (s/n)*(s/n))
}
