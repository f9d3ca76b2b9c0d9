package biometrics

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// hexDiff describes how got differs from want: lengths, the first differing offset and the bytes
// around it in hex.
func hexDiff(got, want []byte) string {
	if bytes.Equal(got, want) {
		return "equal"
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-8)
	window := func(b []byte) string {
		hi := min(len(b), i+24)
		if lo >= hi {
			return "(end)"
		}
		return hex.EncodeToString(b[lo:hi])
	}
	return fmt.Sprintf("got %d bytes, want %d; first difference at offset %d\n got[%d:]  %s\nwant[%d:]  %s",
		len(got), len(want), i, lo, window(got), lo, window(want))
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sharedSamples is the shared sample directory beside the project, when present.
const sharedSamples = "../../shared/samples"

// texturedImage draws a w×h colour picture: smooth gradients plus blocky noise of the given
// amplitude, so that its JPEG size can be steered.
func texturedImage(w, h int, amp float64, seed uint64) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			n := amp * hash2(x/3, y/3, seed)
			r := 120 + 80*math.Sin(fx*5) + n
			g := 110 + 70*math.Cos(fy*4+fx) + n
			b := 140 + 60*math.Sin(fx*fy*9) + n
			m.SetRGBA(x, y, color.RGBA{clampByte(int32(r)), clampByte(int32(g)), clampByte(int32(b)), 255})
		}
	}
	return m
}

func encodeStdJPEG(t testing.TB, m image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decodeJPEG(t testing.TB, b []byte) image.Image {
	t.Helper()
	m, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("output does not decode with image/jpeg: %v", err)
	}
	return m
}

// psnr compares two pictures of the same size in RGB.
func psnr(a, b image.Image) float64 {
	var se float64
	n := 0
	bb := a.Bounds()
	for y := bb.Min.Y; y < bb.Max.Y; y++ {
		for x := bb.Min.X; x < bb.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x-bb.Min.X+b.Bounds().Min.X, y-bb.Min.Y+b.Bounds().Min.Y).RGBA()
			for _, d := range [3]float64{float64(r1>>8) - float64(r2>>8), float64(g1>>8) - float64(g2>>8), float64(b1>>8) - float64(b2>>8)} {
				se += d * d
			}
			n += 3
		}
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/(se/float64(n)))
}

// fabricateFIR builds an ISO/IEC 19794-4:2005 finger image record with one image of the given
// position whose "image data" is the bytes given (structure only).
func fabricateFIR(pos FingerPosition, w, h int, img []byte) []byte {
	total := 32 + 14 + len(img)
	b := []byte("FIR\x00010\x00")
	b = append(b, 0, 0, byte(total>>24), byte(total>>16), byte(total>>8), byte(total)) // 6-byte length
	b = append(b, 0x00, 0x00)                                                          // capture device
	b = append(b, 0x00, 31)                                                            // acquisition level 31
	b = append(b, 1, 1)                                                                // one image, pixels per inch
	b = append(b, 0x01, 0xf4, 0x01, 0xf4, 0x01, 0xf4, 0x01, 0xf4)                      // 500 ppi scan and image
	b = append(b, 8, 2, 0, 0)                                                          // 8-bit, WSQ, reserved
	bl := 14 + len(img)
	b = append(b, byte(bl>>24), byte(bl>>16), byte(bl>>8), byte(bl))
	b = append(b, byte(pos), 1, 1, 80, 0, byte(w>>8), byte(w), byte(h>>8), byte(h), 0)
	return append(b, img...)
}
