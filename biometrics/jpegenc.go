package biometrics

import (
	"image"
	"image/color"
	"math"
	"math/bits"
	"sync"
)

// This file holds a small baseline JPEG encoder (ITU-T T.81 / ISO/IEC 10918-1, sequential DCT,
// Huffman coding with the example tables of Annex K, 4:2:0 chroma subsampling) built for one job:
// finding the highest quality whose output fits a byte budget.
//
// image/jpeg would do the colour conversion and the forward DCT again at every quality tried. Here
// the DCT coefficients are computed once per picture; trying a quality only quantizes and
// Huffman-codes them, and a trial stops as soon as its output is over the budget. Qualities use the
// IJG scaling of the Annex K tables (the same scale image/jpeg and libjpeg use), so "quality 80" means
// the same quantization tables here as there.

// yccPlanes is a picture as 8-bit planes ready for coding: full-resolution luma and, unless gray,
// chroma at half resolution in both directions (4:2:0, centred siting as in JFIF).
type yccPlanes struct {
	w, h    int
	y       []byte
	yStride int
	gray    bool
	cw, ch  int // (w+1)/2, (h+1)/2
	cb, cr  []byte
	cStride int
}

// planesFromImage converts a decoded picture to planes at its own size. A 4:2:0 *image.YCbCr (what
// image/jpeg returns for almost every colour JPEG) is used in place, without copying.
func planesFromImage(m image.Image) yccPlanes {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	switch m := m.(type) {
	case *image.Gray:
		return yccPlanes{w: w, h: h, y: m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], yStride: m.Stride, gray: true}
	case *image.YCbCr:
		p := yccPlanes{w: w, h: h, y: m.Y[m.YOffset(b.Min.X, b.Min.Y):], yStride: m.YStride, cw: (w + 1) / 2, ch: (h + 1) / 2}
		if m.SubsampleRatio == image.YCbCrSubsampleRatio420 && b.Min.X%2 == 0 && b.Min.Y%2 == 0 {
			off := m.COffset(b.Min.X, b.Min.Y)
			p.cb, p.cr, p.cStride = m.Cb[off:], m.Cr[off:], m.CStride
			return p
		}
		// Other subsamplings: resample the stored chroma planes to 4:2:0.
		sw, sh := chromaSize(m.SubsampleRatio, b)
		off := m.COffset(b.Min.X, b.Min.Y)
		p.cb = resamplePlane(m.Cb[off:], sw, sh, m.CStride, p.cw, p.ch)
		p.cr = resamplePlane(m.Cr[off:], sw, sh, m.CStride, p.cw, p.ch)
		p.cStride = p.cw
		return p
	}
	// Anything else (RGBA from drawing, CMYK from Adobe JPEGs, ...): convert per pixel with the
	// JFIF equations of color.RGBToYCbCr, then average chroma 2×2.
	y := make([]byte, w*h)
	cb := make([]byte, w*h)
	cr := make([]byte, w*h)
	if rgba, ok := m.(*image.RGBA); ok {
		for j := 0; j < h; j++ {
			row := rgba.Pix[rgba.PixOffset(b.Min.X, b.Min.Y+j):]
			for i := 0; i < w; i++ {
				yy, u, v := color.RGBToYCbCr(row[4*i], row[4*i+1], row[4*i+2])
				y[j*w+i], cb[j*w+i], cr[j*w+i] = yy, u, v
			}
		}
	} else {
		for j := 0; j < h; j++ {
			for i := 0; i < w; i++ {
				r, g, bb, _ := m.At(b.Min.X+i, b.Min.Y+j).RGBA()
				yy, u, v := color.RGBToYCbCr(uint8(r>>8), uint8(g>>8), uint8(bb>>8))
				y[j*w+i], cb[j*w+i], cr[j*w+i] = yy, u, v
			}
		}
	}
	p := yccPlanes{w: w, h: h, y: y, yStride: w, cw: (w + 1) / 2, ch: (h + 1) / 2}
	p.cb = resamplePlane(cb, w, h, w, p.cw, p.ch)
	p.cr = resamplePlane(cr, w, h, w, p.cw, p.ch)
	p.cStride = p.cw
	return p
}

// chromaSize is the size of the chroma planes image.YCbCr stores for a subsampling ratio.
func chromaSize(r image.YCbCrSubsampleRatio, b image.Rectangle) (int, int) {
	w, h := b.Dx(), b.Dy()
	switch r {
	case image.YCbCrSubsampleRatio422:
		return (b.Max.X+1)/2 - b.Min.X/2, h
	case image.YCbCrSubsampleRatio420:
		return (b.Max.X+1)/2 - b.Min.X/2, (b.Max.Y+1)/2 - b.Min.Y/2
	case image.YCbCrSubsampleRatio440:
		return w, (b.Max.Y+1)/2 - b.Min.Y/2
	case image.YCbCrSubsampleRatio411:
		return (b.Max.X+3)/4 - b.Min.X/4, h
	case image.YCbCrSubsampleRatio410:
		return (b.Max.X+3)/4 - b.Min.X/4, (b.Max.Y+1)/2 - b.Min.Y/2
	}
	return w, h
}

// resize returns the planes resampled to w×h.
func (p yccPlanes) resize(w, h int) yccPlanes {
	if w == p.w && h == p.h {
		return p
	}
	q := yccPlanes{w: w, h: h, yStride: w, gray: p.gray}
	q.y = resamplePlane(p.y, p.w, p.h, p.yStride, w, h)
	if !p.gray {
		q.cw, q.ch, q.cStride = (w+1)/2, (h+1)/2, (w+1)/2
		q.cb = resamplePlane(p.cb, p.cw, p.ch, p.cStride, q.cw, q.ch)
		q.cr = resamplePlane(p.cr, p.cw, p.ch, p.cStride, q.cw, q.ch)
	}
	return q
}

// resamplePlane resamples one 8-bit plane by area averaging: every destination pixel is the mean
// of the source area it covers, partial pixels weighted by the covered fraction. For shrinking
// this is the anti-aliased "box" (INTER_AREA) filter; it costs one pass over the source, a few
// times less than a Catmull-Rom kernel (see BenchmarkDownscale and TestAreaResampleMatchesCatmullRom).
func resamplePlane(src []byte, sw, sh, stride, dw, dh int) []byte {
	const wb = 12 // weight bits
	xs := areaTaps(sw, dw, wb)
	ys := areaTaps(sh, dh, wb)
	// Horizontal pass into 8.8 fixed point.
	tmp := make([]uint16, dw*sh)
	for j := 0; j < sh; j++ {
		row := src[j*stride : j*stride+sw]
		out := tmp[j*dw : (j+1)*dw]
		for i := range out {
			t := &xs[i]
			var s int32
			for k, wgt := range t.w {
				s += wgt * int32(row[t.first+k])
			}
			out[i] = uint16((s + 1<<(wb-9)) >> (wb - 8))
		}
	}
	// Vertical pass back to 8 bits.
	dst := make([]byte, dw*dh)
	acc := make([]int32, dw)
	for j := 0; j < dh; j++ {
		t := &ys[j]
		clear(acc)
		for k, wgt := range t.w {
			row := tmp[(t.first+k)*dw : (t.first+k+1)*dw]
			for i, v := range row {
				acc[i] += wgt * int32(v)
			}
		}
		out := dst[j*dw : (j+1)*dw]
		for i, s := range acc {
			out[i] = clampByte((s + 1<<(wb+7)) >> (wb + 8))
		}
	}
	return dst
}

type areaTap struct {
	first int
	w     []int32
}

// areaTaps computes, for each of n destination pixels along an axis of m source pixels, the
// source pixels covered by [i·m/n, (i+1)·m/n) and their weights in fixed point (summing to
// 1<<wb exactly).
func areaTaps(m, n, wb int) []areaTap {
	taps := make([]areaTap, n)
	f := float64(m) / float64(n)
	one := int32(1) << wb
	weights := make([]int32, 0, n*(int(math.Ceil(f))+1))
	for i := range taps {
		a, b := float64(i)*f, float64(i+1)*f
		first := int(a)
		last := int(math.Ceil(b)) - 1
		if last >= m {
			last = m - 1
		}
		if last < first {
			last = first
		}
		start := len(weights)
		var sum int32
		big := start
		for k := first; k <= last; k++ {
			lo := math.Max(a, float64(k))
			hi := math.Min(b, float64(k+1))
			w := int32(math.Round((hi - lo) / f * float64(one)))
			weights = append(weights, w)
			sum += w
			if w > weights[big] {
				big = len(weights) - 1
			}
		}
		weights[big] += one - sum // exact normalization
		taps[i] = areaTap{first: first, w: weights[start:len(weights):len(weights)]}
	}
	return taps
}

func clampByte(v int32) byte {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return byte(v)
}

// ---- Forward DCT --------------------------------------------------------------------------------

// zigzag[k] is the natural (row-major) index of the k-th coefficient in zig-zag order
// (ITU-T T.81 Figure 5).
var zigzag = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

// dctPost[k] (zig-zag order) turns the scaled output of fdctAAN into true DCT coefficients as
// defined in T.81 A.3.3: 1/(8·s(u)·s(v)) with s(0)=1, s(k)=√2·cos(kπ/16).
var dctPost = func() (t [64]float32) {
	var s [8]float64
	s[0] = 1
	for k := 1; k < 8; k++ {
		s[k] = math.Sqrt2 * math.Cos(float64(k)*math.Pi/16)
	}
	for k := range 64 {
		n := zigzag[k]
		t[k] = float32(1 / (8 * s[n/8] * s[n%8]))
	}
	return t
}()

// fdctAAN is the Arai-Agui-Nakajima scaled forward DCT (the float DCT of IJG libjpeg, jfdctflt),
// applied to rows then columns of an 8×8 block of level-shifted samples, in place.
func fdctAAN(d *[64]float32) {
	for pass := 0; pass < 2; pass++ {
		step, next := 1, 8 // rows
		if pass == 1 {
			step, next = 8, 1 // columns
		}
		for r := 0; r < 8; r++ {
			b := r * next
			i0, i1, i2, i3 := b, b+step, b+2*step, b+3*step
			i4, i5, i6, i7 := b+4*step, b+5*step, b+6*step, b+7*step
			tmp0, tmp7 := d[i0]+d[i7], d[i0]-d[i7]
			tmp1, tmp6 := d[i1]+d[i6], d[i1]-d[i6]
			tmp2, tmp5 := d[i2]+d[i5], d[i2]-d[i5]
			tmp3, tmp4 := d[i3]+d[i4], d[i3]-d[i4]
			// Even part.
			tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
			tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
			d[i0] = tmp10 + tmp11
			d[i4] = tmp10 - tmp11
			z1 := (tmp12 + tmp13) * 0.707106781
			d[i2] = tmp13 + z1
			d[i6] = tmp13 - z1
			// Odd part.
			tmp10 = tmp4 + tmp5
			tmp11 = tmp5 + tmp6
			tmp12 = tmp6 + tmp7
			z5 := (tmp10 - tmp12) * 0.382683433
			z2 := 0.541196100*tmp10 + z5
			z4 := 1.306562965*tmp12 + z5
			z3 := tmp11 * 0.707106781
			z11, z13 := tmp7+z3, tmp7-z3
			d[i5] = z13 + z2
			d[i3] = z13 - z2
			d[i1] = z11 + z4
			d[i7] = z11 - z4
		}
	}
}

// coefficients holds the DCT coefficients of every block of a picture in coding order, zig-zag
// within a block: per MCU Y00 Y01 Y10 Y11 Cb Cr (colour) or one Y block (gray).
type coefficients struct {
	w, h int
	gray bool
	c    []float32
}

var coeffPool sync.Pool // *[]float32

// transform computes the coefficients of p once.
func transform(p yccPlanes) *coefficients {
	var blocks int
	if p.gray {
		blocks = ((p.w + 7) / 8) * ((p.h + 7) / 8)
	} else {
		blocks = ((p.w + 15) / 16) * ((p.h + 15) / 16) * 6
	}
	var c []float32
	if v, ok := coeffPool.Get().(*[]float32); ok && cap(*v) >= blocks*64 {
		c = (*v)[:blocks*64]
	} else {
		c = make([]float32, blocks*64)
	}
	co := &coefficients{w: p.w, h: p.h, gray: p.gray, c: c}
	var blk [64]float32
	n := 0
	put := func(plane []byte, stride, pw, ph, x0, y0 int) {
		loadBlock(&blk, plane, stride, pw, ph, x0, y0)
		fdctAAN(&blk)
		out := c[n*64 : n*64+64 : n*64+64]
		for k := range out {
			out[k] = blk[zigzag[k]] * dctPost[k]
		}
		n++
	}
	if p.gray {
		for by := 0; by < p.h; by += 8 {
			for bx := 0; bx < p.w; bx += 8 {
				put(p.y, p.yStride, p.w, p.h, bx, by)
			}
		}
		return co
	}
	for my := 0; my < p.h; my += 16 {
		for mx := 0; mx < p.w; mx += 16 {
			put(p.y, p.yStride, p.w, p.h, mx, my)
			put(p.y, p.yStride, p.w, p.h, mx+8, my)
			put(p.y, p.yStride, p.w, p.h, mx, my+8)
			put(p.y, p.yStride, p.w, p.h, mx+8, my+8)
			put(p.cb, p.cStride, p.cw, p.ch, mx/2, my/2)
			put(p.cr, p.cStride, p.cw, p.ch, mx/2, my/2)
		}
	}
	return co
}

func (co *coefficients) release() {
	c := co.c
	co.c = nil
	coeffPool.Put(&c)
}

// loadBlock loads the 8×8 block at (x0, y0) of a plane, level-shifted by 128 (T.81 A.3.1).
// Pixels beyond the right or bottom edge repeat the last column or row.
func loadBlock(blk *[64]float32, plane []byte, stride, w, h, x0, y0 int) {
	if x0+8 <= w && y0+8 <= h {
		for j := 0; j < 8; j++ {
			row := plane[(y0+j)*stride+x0 : (y0+j)*stride+x0+8 : (y0+j)*stride+x0+8]
			for i, v := range row {
				blk[j*8+i] = float32(v) - 128
			}
		}
		return
	}
	for j := 0; j < 8; j++ {
		yy := min(y0+j, h-1)
		for i := 0; i < 8; i++ {
			xx := min(x0+i, w-1)
			blk[j*8+i] = float32(plane[yy*stride+xx]) - 128
		}
	}
}

// ---- Quantization and Huffman coding ------------------------------------------------------------

// Example quantization tables of T.81 Annex K.1 (Table K.1 luminance, Table K.2 chrominance),
// natural order.
var baseQuant = [2][64]uint8{{
	16, 11, 10, 16, 24, 40, 51, 61,
	12, 12, 14, 19, 26, 58, 60, 55,
	14, 13, 16, 24, 40, 57, 69, 56,
	14, 17, 22, 29, 51, 87, 80, 62,
	18, 22, 37, 56, 68, 109, 103, 77,
	24, 35, 55, 64, 81, 104, 113, 92,
	49, 64, 78, 87, 103, 121, 120, 101,
	72, 92, 95, 98, 112, 100, 103, 99,
}, {
	17, 18, 24, 47, 99, 99, 99, 99,
	18, 21, 26, 66, 99, 99, 99, 99,
	24, 26, 56, 99, 99, 99, 99, 99,
	47, 66, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
}}

// quantTables returns the tables for a quality in [1, 100], zig-zag order, scaled as IJG
// libjpeg's jpeg_quality_scaling does (and image/jpeg).
func quantTables(quality int) (q [2][64]uint8) {
	quality = max(1, min(100, quality))
	scale := 200 - 2*quality
	if quality < 50 {
		scale = 5000 / quality
	}
	for t := range q {
		for k := range q[t] {
			v := (int(baseQuant[t][zigzag[k]])*scale + 50) / 100
			q[t][k] = uint8(max(1, min(255, v)))
		}
	}
	return q
}

// huffSpec is a Huffman table as T.81 B.2.4.2 defines it: counts of codes of length 1..16, then
// the symbols in order of increasing code length.
type huffSpec struct {
	counts [16]uint8
	values []uint8
}

// Typical Huffman tables of T.81 Annex K.3 (Tables K.3 to K.6).
var huffSpecs = [4]huffSpec{
	// 0: DC luminance (K.3).
	{[16]uint8{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0},
		[]uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
	// 1: AC luminance (K.5).
	{[16]uint8{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d},
		[]uint8{
			0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
			0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
			0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
			0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
			0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
			0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
			0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
			0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
			0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
			0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
			0xf9, 0xfa,
		}},
	// 2: DC chrominance (K.4).
	{[16]uint8{0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
		[]uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
	// 3: AC chrominance (K.6).
	{[16]uint8{0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77},
		[]uint8{
			0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
			0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
			0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
			0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
			0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
			0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
			0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
			0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
			0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
			0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
			0xf9, 0xfa,
		}},
}

// huffCode is a code word (low bits of code) and its length, by symbol.
type huffCode struct {
	code [256]uint16
	size [256]uint8
}

// huffCodes are the code words of huffSpecs, generated as T.81 Annex C (Figures C.1 to C.3) says.
var huffCodes = func() (t [4]huffCode) {
	for i, s := range huffSpecs {
		code, k := uint16(0), 0
		for l := 1; l <= 16; l++ {
			for n := 0; n < int(s.counts[l-1]); n++ {
				v := s.values[k]
				t[i].code[v], t[i].size[v] = code, uint8(l)
				code++
				k++
			}
			code <<= 1
		}
	}
	return t
}()

// bitWriter accumulates entropy-coded bits, stuffing a 00 after every FF byte (T.81 F.1.2.3).
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint
}

func (w *bitWriter) put(v uint32, size uint) {
	w.acc = w.acc<<size | uint64(v)
	w.n += size
	for w.n >= 8 {
		w.n -= 8
		b := byte(w.acc >> w.n)
		if b == 0xff {
			w.buf = append(w.buf, 0xff, 0x00)
		} else {
			w.buf = append(w.buf, b)
		}
	}
}

// flush pads the last byte with 1 bits (T.81 F.1.2.3).
func (w *bitWriter) flush() {
	if w.n > 0 {
		w.put(1<<(8-w.n)-1, 8-w.n)
	}
}

// encodeQuality appends the complete JPEG file for quality q to dst. It gives up and returns
// ok=false as soon as the file is certain to exceed limit bytes (limit <= 0: no limit).
func (co *coefficients) encodeQuality(dst []byte, q, limit int) (out []byte, ok bool) {
	qt := quantTables(q)
	dst = co.appendHeaders(dst, &qt)
	// Reciprocals of the quantizer steps, so that quantizing is a multiplication.
	var recip [2][64]float32
	for t := range recip {
		for k := range recip[t] {
			recip[t][k] = 1 / float32(qt[t][k])
		}
	}
	w := bitWriter{buf: dst}
	stop := len(dst) + (1 << 62)
	if limit > 0 {
		stop = limit - 2 // room for EOI
	}
	var prevDC [3]int32
	perMCU := 6
	if co.gray {
		perMCU = 1
	}
	c := co.c
	for b := 0; b*64 < len(c); b++ {
		comp := 0
		if m := b % perMCU; m == 4 {
			comp = 1
		} else if m == 5 {
			comp = 2
		}
		t := 0
		if comp > 0 {
			t = 1
		}
		blk := c[b*64 : b*64+64 : b*64+64]
		r := &recip[t]
		dcHuff, acHuff := &huffCodes[2*t], &huffCodes[2*t+1]
		// DC: difference to the previous block of the component (T.81 F.1.2.1).
		dc := quantize(blk[0] * r[0])
		diff := dc - prevDC[comp]
		prevDC[comp] = dc
		size, bitsv := magnitude(diff, 11)
		w.put(uint32(dcHuff.code[size])<<size|bitsv, uint(dcHuff.size[size])+size)
		// AC: run lengths of zeros and magnitudes (T.81 F.1.2.2).
		run := uint32(0)
		for k := 1; k < 64; k++ {
			v := blk[k] * r[k]
			if v > -0.5 && v < 0.5 {
				run++
				continue
			}
			for run > 15 {
				w.put(uint32(acHuff.code[0xf0]), uint(acHuff.size[0xf0])) // ZRL
				run -= 16
			}
			size, bitsv := magnitude(quantize(v), 10)
			sym := run<<4 | uint32(size)
			w.put(uint32(acHuff.code[sym])<<size|bitsv, uint(acHuff.size[sym])+size)
			run = 0
		}
		if run > 0 {
			w.put(uint32(acHuff.code[0x00]), uint(acHuff.size[0x00])) // EOB
		}
		if len(w.buf) > stop {
			return w.buf, false
		}
	}
	w.flush()
	out = append(w.buf, 0xff, 0xd9) // EOI
	return out, limit <= 0 || len(out) <= limit
}

// quantize rounds half away from zero.
func quantize(v float32) int32 {
	if v >= 0 {
		return int32(v + 0.5)
	}
	return -int32(-v + 0.5)
}

// magnitude returns the size category (SSSS) of v and its additional bits (T.81 F.1.2.1/F.1.2.2),
// clamping v to the largest category allowed.
func magnitude(v int32, maxSize uint) (uint, uint32) {
	lim := int32(1)<<maxSize - 1
	v = max(-lim, min(lim, v))
	a := v
	if a < 0 {
		a = -a
		v--
	}
	size := uint(bits.Len32(uint32(a)))
	return size, uint32(v) & (1<<size - 1)
}

// appendHeaders writes SOI, a JFIF APP0, DQT, SOF0, DHT and SOS.
func (co *coefficients) appendHeaders(dst []byte, qt *[2][64]uint8) []byte {
	nComp := 3
	if co.gray {
		nComp = 1
	}
	dst = append(dst, 0xff, 0xd8) // SOI
	// JFIF APP0 (JFIF 1.02): version 1.02, aspect ratio units, density 1:1, no thumbnail. Not
	// required by T.81 but lets strict viewers identify YCbCr.
	dst = append(dst, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x02, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00)
	// DQT (T.81 B.2.4.1): 8-bit tables, zig-zag order.
	nTables := min(nComp, 2)
	dst = append(dst, 0xff, 0xdb)
	dst = appendUint16(dst, 2+65*nTables)
	for t := 0; t < nTables; t++ {
		dst = append(dst, byte(t))
		dst = append(dst, qt[t][:]...)
	}
	// SOF0 (T.81 B.2.2): baseline, 8-bit precision.
	dst = append(dst, 0xff, 0xc0)
	dst = appendUint16(dst, 8+3*nComp)
	dst = append(dst, 8)
	dst = appendUint16(dst, co.h)
	dst = appendUint16(dst, co.w)
	dst = append(dst, byte(nComp))
	if co.gray {
		dst = append(dst, 1, 0x11, 0)
	} else {
		dst = append(dst, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	}
	// DHT (T.81 B.2.4.2).
	specs := []struct {
		class byte
		s     int
	}{{0x00, 0}, {0x10, 1}, {0x01, 2}, {0x11, 3}}
	if co.gray {
		specs = specs[:2]
	}
	n := 2
	for _, s := range specs {
		n += 17 + len(huffSpecs[s.s].values)
	}
	dst = append(dst, 0xff, 0xc4)
	dst = appendUint16(dst, n)
	for _, s := range specs {
		dst = append(dst, s.class)
		dst = append(dst, huffSpecs[s.s].counts[:]...)
		dst = append(dst, huffSpecs[s.s].values...)
	}
	// SOS (T.81 B.2.3): all components interleaved, Ss=0, Se=63, Ah=Al=0.
	dst = append(dst, 0xff, 0xda)
	dst = appendUint16(dst, 6+2*nComp)
	dst = append(dst, byte(nComp))
	if co.gray {
		dst = append(dst, 1, 0x00)
	} else {
		dst = append(dst, 1, 0x00, 2, 0x11, 3, 0x11)
	}
	return append(dst, 0, 63, 0)
}

func appendUint16(dst []byte, v int) []byte {
	return append(dst, byte(v>>8), byte(v))
}

// encodeToBudget finds the highest quality in [minQ, 100] whose encoding fits budget bytes and
// returns that encoding. Binary search over a predicate that is checked, not assumed: on return
// quality q fits and q+1 was encoded and does not fit (or q is 100). ok is false if minQ does not
// fit.
func (co *coefficients) encodeToBudget(budget, minQ int) (jpegBytes []byte, quality int, ok bool) {
	// lo: highest quality known to fit (minQ-1 = none yet); hi: lowest known not to fit.
	lo, hi := minQ-1, 101
	var best, scratch []byte
	best = make([]byte, 0, budget+64)
	scratch = make([]byte, 0, budget+64)
	// Start near where typical photographs land, then bisect.
	next := 80
	for hi-lo > 1 {
		mid := next
		if mid <= lo || mid >= hi {
			mid = (lo + hi) / 2
		}
		out, fits := co.encodeQuality(scratch[:0], mid, budget)
		if fits {
			lo = mid
			best, scratch = out, best
		} else {
			hi = mid
			scratch = out
		}
		next = -1
	}
	if lo < minQ {
		return nil, 0, false
	}
	return best, lo, true
}
