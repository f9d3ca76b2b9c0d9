package biometrics

import (
	"encoding/binary"
	"image"
	"math"
	"math/rand/v2"
)

// Synthetic biometrics for the demo station, which makes applications for invented people.
// Nothing here comes from or resembles a real person: faces are cartoons drawn from a few
// geometric shapes, minutiae are random points on an invented ridge flow.

const (
	syntheticFaceWidth   = 480
	syntheticFaceHeight  = 640
	syntheticFaceQuality = 92
)

type rgb struct{ r, g, b float64 }

func (c rgb) scale(f float64) rgb { return rgb{c.r * f, c.g * f, c.b * f} }

func (c rgb) mix(d rgb, t float64) rgb {
	return rgb{c.r + (d.r-c.r)*t, c.g + (d.g-c.g)*t, c.b + (d.b-c.b)*t}
}

var (
	synthBackgrounds = []rgb{{226, 232, 240}, {236, 236, 230}, {218, 228, 244}, {242, 242, 246}, {228, 236, 228}, {238, 232, 226}}
	synthSkins       = []rgb{{241, 204, 172}, {226, 176, 136}, {200, 144, 104}, {164, 110, 74}, {124, 84, 58}, {234, 192, 152}, {214, 160, 118}}
	synthHair        = []rgb{{26, 22, 22}, {44, 32, 26}, {72, 48, 32}, {112, 78, 48}, {150, 148, 146}, {96, 42, 26}, {20, 20, 28}}
	synthEyes        = []rgb{{52, 36, 26}, {32, 26, 22}, {84, 58, 36}, {62, 84, 62}, {72, 94, 124}}
	synthShirts      = []rgb{{236, 236, 236}, {40, 60, 110}, {120, 30, 40}, {30, 90, 70}, {200, 170, 90}, {70, 70, 76}, {150, 190, 220}, {180, 120, 160}}
	synthLips        = []rgb{{170, 80, 80}, {150, 70, 70}, {190, 100, 100}, {130, 66, 60}}
)

// canvas is an RGB picture in float64, painted back to front with anti-aliased shapes.
type canvas struct {
	w, h int
	pix  []rgb
}

// paint blends colour c over the pixels of the bounding box [x0,x1)×[y0,y1) with the coverage
// cov(x, y) in [0, 1] evaluated at pixel centres. tex, if not nil, varies the colour per pixel.
func (cv *canvas) paint(x0, y0, x1, y1 float64, c rgb, cov func(x, y float64) float64, tex func(x, y float64, c rgb) rgb) {
	ix0, iy0 := max(0, int(x0)-1), max(0, int(y0)-1)
	ix1, iy1 := min(cv.w, int(x1)+2), min(cv.h, int(y1)+2)
	for y := iy0; y < iy1; y++ {
		for x := ix0; x < ix1; x++ {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			a := cov(fx, fy)
			if a <= 0 {
				continue
			}
			a = min(a, 1)
			col := c
			if tex != nil {
				col = tex(fx, fy, c)
			}
			p := &cv.pix[y*cv.w+x]
			*p = p.mix(col, a)
		}
	}
}

// ellipseCov is the anti-aliased coverage of a (rotated) ellipse.
func ellipseCov(cx, cy, rx, ry, theta float64) func(x, y float64) float64 {
	s, c := math.Sincos(theta)
	r := math.Min(rx, ry)
	return func(x, y float64) float64 {
		dx, dy := x-cx, y-cy
		u, v := dx*c+dy*s, -dx*s+dy*c
		d := math.Sqrt(u*u/(rx*rx) + v*v/(ry*ry))
		return 0.5 - (d-1)*r
	}
}

// without is the coverage of a minus b.
func without(a, b func(x, y float64) float64) func(x, y float64) float64 {
	return func(x, y float64) float64 { return math.Min(a(x, y), 1-b(x, y)) }
}

// rectCov is the anti-aliased coverage of an axis-aligned rectangle.
func rectCov(x0, y0, x1, y1 float64) func(x, y float64) float64 {
	return func(x, y float64) float64 {
		return min(0.5+x-x0, 0.5+x1-x, 0.5+y-y0, 0.5+y1-y)
	}
}

func (cv *canvas) ellipse(cx, cy, rx, ry, theta float64, c rgb, tex func(x, y float64, c rgb) rgb) {
	e := math.Max(rx, ry)
	cv.paint(cx-e, cy-e, cx+e, cy+e, c, ellipseCov(cx, cy, rx, ry, theta), tex)
}

// mix64 is the splitmix64 finalizer: neighbouring seeds give unrelated values.
func mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// seededRand returns a generator for a seed and a purpose.
func seededRand(seed int64, purpose uint64) *rand.Rand {
	s := mix64(uint64(seed) + 0x9e3779b97f4a7c15*purpose)
	return rand.New(rand.NewPCG(s, mix64(s)))
}

// hash2 is a deterministic per-pixel noise in [-1, 1).
func hash2(x, y int, seed uint64) float64 {
	h := mix64(uint64(x)*0x9e3779b97f4a7c15 ^ uint64(y)*0xc2b2ae3d27d4eb4f ^ seed)
	return float64(h>>11)/float64(1<<52) - 1
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func between(r *rand.Rand, lo, hi float64) float64 { return lo + r.Float64()*(hi-lo) }

// SyntheticFace returns a 480×640 JPEG of an invented cartoon face. The seed decides the
// background, skin, hair (colour and style), clothes, eyes, eyebrows, nose and mouth. The picture
// carries fine grain like a photograph, so that at the quality it is stored (92) it is well over
// the 20,000-byte DG2 budget and the demo exercises PrepareFace's re-encoding. The same seed gives
// the same bytes (on one GOARCH: the drawing uses floating point).
func SyntheticFace(seed int64) []byte {
	r := seededRand(seed, 1)
	noiseSeed := r.Uint64()
	const W, H = syntheticFaceWidth, syntheticFaceHeight
	cv := &canvas{w: W, h: H, pix: make([]rgb, W*H)}

	bg := pick(r, synthBackgrounds)
	skin := pick(r, synthSkins)
	hair := pick(r, synthHair)
	eye := pick(r, synthEyes)
	shirt := pick(r, synthShirts)
	lip := pick(r, synthLips).mix(skin, 0.25)
	hairStyle := r.IntN(4)
	shirtPattern := r.IntN(3)

	cx := float64(W)/2 + between(r, -8, 8)
	cy := between(r, 290, 312)
	frx := between(r, 96, 116)  // face half-width
	fry := between(r, 128, 146) // face half-height

	// Background: a soft vertical gradient.
	bgTop, bgBottom := bg.scale(1.02), bg.scale(0.93)
	for y := 0; y < H; y++ {
		c := bgTop.mix(bgBottom, float64(y)/H)
		for x := 0; x < W; x++ {
			cv.pix[y*W+x] = c
		}
	}

	// Long hair falls behind the head and shoulders.
	hairTex := func(x, y float64, c rgb) rgb {
		strand := math.Sin(x*0.9+math.Sin(y*0.05)*6) * 0.12
		return c.scale(1 + strand + 0.05*hash2(int(x), int(y)/3, noiseSeed^1))
	}
	if hairStyle == 1 {
		top := ellipseCov(cx, cy-10, frx+26, fry+10, 0)
		fall := rectCov(cx-frx-26, cy-10, cx+frx+26, cy+fry+80)
		cv.paint(cx-frx-28, cy-fry-22, cx+frx+28, cy+fry+82, hair, func(x, y float64) float64 {
			return max(top(x, y), fall(x, y))
		}, hairTex)
	}

	// Shoulders and shirt.
	shirtTex := func(x, y float64, c rgb) rgb {
		switch shirtPattern {
		case 1: // stripes
			if int(x/14)%2 == 0 {
				c = c.scale(0.85)
			}
		case 2: // checks
			if (int(x/22)+int(y/22))%2 == 0 {
				c = c.scale(0.88)
			}
		}
		return c.scale(1 + 0.04*hash2(int(x)/2, int(y)/2, noiseSeed^2))
	}
	cv.ellipse(cx, float64(H)+40, 215, 190, 0, shirt, shirtTex)

	// Neck.
	neck := skin.scale(0.88)
	nw := frx * 0.42
	cv.paint(cx-nw, cy+fry*0.6, cx+nw, float64(H)-140, neck, rectCov(cx-nw, cy+fry*0.6, cx+nw, float64(H)-140), nil)
	// Collar shadow over the neck base.
	cv.ellipse(cx, float64(H)-150, nw+6, 14, 0, shirt.scale(0.8), shirtTex)

	// Ears.
	earY := cy + between(r, -6, 10)
	cv.ellipse(cx-frx+4, earY, 16, 28, 0.1, skin.scale(0.93), nil)
	cv.ellipse(cx+frx-4, earY, 16, 28, -0.1, skin.scale(0.93), nil)

	// Head, lit slightly from the upper left.
	skinTex := func(x, y float64, c rgb) rgb {
		light := 1 + 0.06*((cx-x)/frx) - 0.05*((y-cy)/fry)
		return c.scale(light)
	}
	cv.ellipse(cx, cy, frx, fry, 0, skin, skinTex)

	// Hair on top of the head: a cap is the part of a larger ellipse outside the face.
	hairCap := without(ellipseCov(cx, cy-8, frx+8, fry+12, 0), ellipseCov(cx, cy+fry*0.12, frx-4, fry*0.92, 0))
	switch hairStyle {
	case 0, 1: // cap
		cv.paint(cx-frx-10, cy-fry-14, cx+frx+10, cy, hair, hairCap, hairTex)
	case 2: // bun over a tighter cap
		cv.ellipse(cx, cy-fry-18, 38, 30, 0, hair, hairTex)
		tight := without(ellipseCov(cx, cy-4, frx+6, fry+8, 0), ellipseCov(cx, cy+fry*0.2, frx-2, fry*0.9, 0))
		cv.paint(cx-frx-8, cy-fry-10, cx+frx+8, cy, hair, tight, hairTex)
	case 3: // cap with a side-swept fringe
		cv.paint(cx-frx-10, cy-fry-14, cx+frx+10, cy, hair, hairCap, hairTex)
		head := ellipseCov(cx, cy, frx, fry, 0)
		fringe := ellipseCov(cx-frx*0.28, cy-fry*0.62, frx*0.78, fry*0.26, 0.35)
		cv.paint(cx-frx, cy-fry, cx+frx, cy, hair, func(x, y float64) float64 {
			return math.Min(head(x, y), fringe(x, y))
		}, hairTex)
	}

	// Eyes: white, iris, pupil, highlight.
	eyeY := cy + between(r, -14, 2)
	eyeDX := between(r, 38, 48)
	erx, ery := between(r, 17, 22), between(r, 8, 11)
	irisR := between(r, 6.5, 8.5)
	look := between(r, -2, 2)
	for _, side := range []float64{-1, 1} {
		ex := cx + side*eyeDX
		cv.ellipse(ex, eyeY, erx, ery, 0, rgb{246, 244, 240}, nil)
		cv.ellipse(ex+look, eyeY, irisR, irisR, 0, eye, nil)
		cv.ellipse(ex+look, eyeY, irisR*0.45, irisR*0.45, 0, rgb{12, 10, 10}, nil)
		cv.ellipse(ex+look-2, eyeY-2.5, 1.8, 1.8, 0, rgb{255, 255, 255}, nil)
		// Upper lid line.
		lid := without(ellipseCov(ex, eyeY, erx+1.5, ery+2, 0), ellipseCov(ex, eyeY+0.8, erx+0.5, ery+0.5, 0))
		cv.paint(ex-erx-2, eyeY-ery-3, ex+erx+2, eyeY, hair.scale(0.8), lid, nil)
	}

	// Eyebrows.
	browY := eyeY - between(r, 22, 30)
	browTilt := between(r, -0.18, 0.12)
	browW, browH := between(r, 20, 26), between(r, 3, 5.5)
	cv.ellipse(cx-eyeDX, browY, browW, browH, -browTilt, hair.scale(0.9), hairTex)
	cv.ellipse(cx+eyeDX, browY, browW, browH, browTilt, hair.scale(0.9), hairTex)

	// Nose: a soft shadow and nostrils.
	noseY := cy + between(r, 30, 42)
	noseW := between(r, 12, 18)
	cv.paint(cx-noseW, eyeY, cx+noseW, noseY+4, skin.scale(0.82), func(x, y float64) float64 {
		t := (y - eyeY) / (noseY - eyeY)
		half := 2 + t*noseW
		return math.Min(0.5+half-math.Abs(x-cx-t*4), 1) * math.Min(0.5+noseY-y, 1) * 0.55
	}, nil)
	cv.ellipse(cx-noseW*0.45, noseY, 4, 2.5, 0.3, skin.scale(0.55), nil)
	cv.ellipse(cx+noseW*0.45, noseY, 4, 2.5, -0.3, skin.scale(0.55), nil)

	// Mouth: a smile (thick arc) or a closed neutral mouth.
	mouthY := cy + fry*between(r, 0.52, 0.6)
	mouthW := between(r, 30, 46)
	if r.IntN(3) > 0 {
		curve := between(r, 8, 18)
		smile := without(ellipseCov(cx, mouthY-curve, mouthW, curve*2+4, 0),
			ellipseCov(cx, mouthY-curve-3.5, mouthW-2, curve*2+1, 0))
		cv.paint(cx-mouthW-3, mouthY-4, cx+mouthW+3, mouthY+curve+6, lip, func(x, y float64) float64 {
			return math.Min(smile(x, y), 0.5+y-mouthY+curve*0.2)
		}, nil)
	} else {
		cv.ellipse(cx, mouthY, mouthW*0.8, 5, 0, lip, nil)
		cv.ellipse(cx, mouthY, mouthW*0.75, 0.9, 0, lip.scale(0.6), nil)
	}

	// Cheeks.
	if r.IntN(2) == 0 {
		blush := skin.mix(rgb{230, 120, 120}, 0.5)
		for _, side := range []float64{-1, 1} {
			cheek := ellipseCov(cx+side*eyeDX, eyeY+34, 20, 14, 0)
			cv.paint(cx+side*eyeDX-22, eyeY+16, cx+side*eyeDX+22, eyeY+52, blush,
				func(x, y float64) float64 { return cheek(x, y) * 0.25 }, nil)
		}
	}

	// Photographic grain over everything, then to 8-bit RGBA.
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			p := cv.pix[y*W+x]
			g := 3.5 * hash2(x, y, noiseSeed)
			o := img.PixOffset(x, y)
			img.Pix[o+0] = clampByte(int32(math.Round(p.r + g)))
			img.Pix[o+1] = clampByte(int32(math.Round(p.g + g)))
			img.Pix[o+2] = clampByte(int32(math.Round(p.b + g)))
			img.Pix[o+3] = 0xff
		}
	}
	co := transform(planesFromImage(img))
	defer co.release()
	out, _ := co.encodeQuality(nil, syntheticFaceQuality, 0)
	return out
}

// SyntheticFingerMinutiae returns an ISO/IEC 19794-2:2005 finger minutiae record of an invented
// finger: one view at the given finger position (1–10; anything else is written as 0, unknown),
// a 500×600 image at 197 pixels/cm (500 ppi), 28 to 52 ridge endings and bifurcations spread over
// a fingertip-shaped area at least 14 pixels apart, directions following a loop-shaped ridge
// flow, and no extended data. The same seed and finger give the same bytes.
func SyntheticFingerMinutiae(seed int64, finger int) []byte {
	pos := byte(0)
	if finger >= 1 && finger <= 10 {
		pos = byte(finger)
	}
	r := seededRand(seed, 2+uint64(pos))
	const W, H = 500, 600
	coreX, coreY := between(r, 210, 290), between(r, 240, 330)
	n := 28 + r.IntN(25)
	type pt struct{ x, y int }
	pts := make([]pt, 0, n)
	for tries := 0; len(pts) < n && tries < 5000; tries++ {
		x := between(r, 60, W-60)
		y := between(r, 60, H-40)
		// Inside a fingertip: an ellipse, flattened at the bottom.
		dx, dy := (x-W/2)/185, (y-H/2)/250
		if dx*dx+dy*dy > 1 {
			continue
		}
		ok := true
		for _, p := range pts {
			if (p.x-int(x))*(p.x-int(x))+(p.y-int(y))*(p.y-int(y)) < 14*14 {
				ok = false
				break
			}
		}
		if ok {
			pts = append(pts, pt{int(x), int(y)})
		}
	}
	rec := make([]byte, 0, fmrHeaderLen+fmrViewHeaderLen+fmrMinutiaLen*len(pts)+2)
	rec = append(rec, fmrMagic...)
	rec = append(rec, fmrVersion...)
	rec = binary.BigEndian.AppendUint32(rec, uint32(fmrHeaderLen+fmrViewHeaderLen+fmrMinutiaLen*len(pts)+2))
	rec = append(rec, 0x00, 0x00) // capture equipment: no certification, device unreported
	rec = binary.BigEndian.AppendUint16(rec, W)
	rec = binary.BigEndian.AppendUint16(rec, H)
	rec = binary.BigEndian.AppendUint16(rec, 197) // pixels per cm
	rec = binary.BigEndian.AppendUint16(rec, 197)
	rec = append(rec, 1, 0) // one finger view, reserved
	// Finger view header: position, view 0 / live-scan plain impression, quality, count.
	rec = append(rec, pos, 0x00, byte(60+r.IntN(41)), byte(len(pts)))
	for _, p := range pts {
		typ := uint16(1) // ridge ending
		if r.IntN(100) < 45 {
			typ = 2 // bifurcation
		}
		// Ridge flow circling the core, plus noise; angle unit 360/256 degrees.
		a := math.Atan2(float64(p.y)-coreY, float64(p.x)-coreX) + math.Pi/2 + between(r, -0.35, 0.35)
		if r.IntN(2) == 0 {
			a += math.Pi // ending and bifurcation directions point either way along a ridge
		}
		angle := byte(int(math.Round(a/(2*math.Pi)*256)) & 0xff)
		rec = binary.BigEndian.AppendUint16(rec, typ<<14|uint16(p.x))
		rec = binary.BigEndian.AppendUint16(rec, uint16(p.y))
		rec = append(rec, angle, byte(40+r.IntN(61)))
	}
	return append(rec, 0, 0) // no extended data
}
