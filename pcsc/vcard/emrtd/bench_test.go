package emrtd

import (
	"testing"
	"time"
)

// Benchmarks report the host cost of the virtual chip (ns/op) and, as
// "chip-ms/op", what LatencyRealistic says a real chip would take for the
// same work (from Chip.Usage, without sleeping).

func reportChipTime(b *testing.B, c *Chip, before Usage) {
	b.Helper()
	u := c.Usage()
	u.Commands -= before.Commands
	u.BytesIn -= before.BytesIn
	u.BytesOut -= before.BytesOut
	u.EEPROMBytes -= before.EEPROMBytes
	u.Keys -= before.Keys
	u.ECKeyGens -= before.ECKeyGens
	u.ECOps -= before.ECOps
	for bits, n := range before.RSAOps {
		u.RSAOps[bits] -= n
	}
	d := LatencyRealistic.Cost(u)
	b.ReportMetric(float64(d)/float64(time.Millisecond)/float64(b.N), "chip-ms/op")
}

// BenchmarkProcessReadBinarySM is one protected READ BINARY of 231 bytes
// (short APDUs) or 2023 bytes (extended, ext144), reader wrap and unwrap
// included.
func BenchmarkProcessReadBinarySM(b *testing.B) {
	for _, tc := range []struct {
		name     string
		model    Model
		extended bool
		chunk    int
	}{
		{"short80-231", ModelShort80, false, 231},
		{"ext144-231", ModelExt144, false, 231},
		{"ext144-2023", ModelExt144, true, 2023},
	} {
		b.Run(tc.name, func(b *testing.B) {
			img := testImage(nil)
			c := New(tc.model)
			r := personalize(b, c, img, 255, true)
			r.selectApplet()
			r.mustBAC(img.mrz)
			r.extended = tc.extended
			r.smExpect("SELECT DG2", 0xA4, 0x02, 0x0C, []byte{0x01, 0x02}, 0, swOK)
			size := len(img.files[0x0102])
			before := c.Usage()
			b.SetBytes(int64(tc.chunk))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				off := (i * tc.chunk) % (size - tc.chunk)
				if _, sw, err := r.smSend(0xB0, byte(off>>8), byte(off), nil, tc.chunk); err != nil || sw != swOK {
					b.Fatalf("READ BINARY: %04X %v", sw, err)
				}
			}
			b.StopTimer()
			reportChipTime(b, c, before)
		})
	}
}

// BenchmarkProcessReadBinaryPlain is one plain READ BINARY of 256 bytes
// before lock (the station's read-back).
func BenchmarkProcessReadBinaryPlain(b *testing.B) {
	img := testImage(nil)
	c := New(ModelShort80)
	r := personalize(b, c, img, 255, false)
	r.expect("SELECT DG2", selectFileAPDU(0x0102), swOK)
	apdu := readBinaryAPDU(0x100, 256)
	before := c.Usage()
	b.SetBytes(256)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if resp, err := c.Process(apdu); err != nil || swOf(resp) != swOK {
			b.Fatalf("READ BINARY: %s %v", hx(resp), err)
		}
	}
	b.StopTimer()
	reportChipTime(b, c, before)
}

// BenchmarkProcessUpdateBinaryPlain is one UPDATE BINARY of 255 bytes.
func BenchmarkProcessUpdateBinaryPlain(b *testing.B) {
	c := New(ModelShort80)
	r := newReader(b, c)
	r.selectApplet()
	r.expect("CREATE", createFileAPDU(0x0102, 30000), swOK)
	r.expect("SELECT", selectFileAPDU(0x0102), swOK)
	data := pattern(0x0102, 255)
	before := c.Usage()
	b.SetBytes(255)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := (i * 255) % (30000 - 255)
		if resp, err := c.Process(updateBinaryAPDU(off, data)); err != nil || swOf(resp) != swOK {
			b.Fatalf("UPDATE BINARY: %s %v", hx(resp), err)
		}
	}
	b.StopTimer()
	reportChipTime(b, c, before)
}

// BenchmarkBAC is GET CHALLENGE + EXTERNAL AUTHENTICATE, reader side
// included.
func BenchmarkBAC(b *testing.B) {
	c := New(ModelShort80)
	r := newReader(b, c)
	r.selectApplet()
	r.expect("MRZ", putMRZAPDU(cccdMRZ), swOK)
	r.expect("LOCK", lockAPDU(), swOK)
	before := c.Usage()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.selectApplet()
		r.mustBAC(cccdMRZ)
	}
	b.StopTimer()
	reportChipTime(b, c, before)
}

// BenchmarkInternalAuthenticate is one Active Authentication under SM.
func BenchmarkInternalAuthenticate(b *testing.B) {
	for _, tc := range []struct {
		bits  int
		model Model
	}{{1024, ModelShort80}, {2048, ModelExt144}} {
		b.Run(tc.model.Name+"-"+itoa(tc.bits), func(b *testing.B) {
			img := testImage(testKey(b, tc.bits))
			c := New(tc.model)
			r := personalize(b, c, img, 255, true)
			r.selectApplet()
			r.mustBAC(img.mrz)
			r.extended = tc.model.ExtendedLength
			challenge := []byte("CHALLNGE")
			before := c.Usage()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.smExpect("AA", 0x88, 0, 0, challenge, 256, swOK)
			}
			b.StopTimer()
			reportChipTime(b, c, before)
		})
	}
}

// BenchmarkPersonalizeAndVerify is a whole card: write the test image (≈7.5
// KB) in plain, read it back, MRZ key seed, AA key, lock, reset, BAC, read
// every readable file under SM, Active Authentication.
func BenchmarkPersonalizeAndVerify(b *testing.B) {
	for _, m := range modelsWith(CommandSetJMRTD) { // cccd: BenchmarkPersonalizeAndVerifyCCCD
		b.Run(m.Name, func(b *testing.B) {
			img := testImage(testKey(b, 1024))
			var total Usage
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := New(m)
				r := personalize(b, c, img, 255, false)
				for _, fid := range img.order {
					r.plainReadFile(fid, 256)
				}
				r.expect("LOCK", lockAPDU(), swOK)
				c.Reset()
				r.selectApplet()
				r.mustBAC(img.mrz)
				for _, fid := range img.order {
					if fid != 0x0103 {
						r.smReadFile(fid, 231)
					}
				}
				r.smExpect("AA", 0x88, 0, 0, []byte("CHALLNGE"), 256, swOK)
				total.add(c.Usage())
			}
			b.StopTimer()
			b.ReportMetric(float64(LatencyRealistic.Cost(total))/float64(time.Millisecond)/float64(b.N), "chip-ms/op")
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// BenchmarkPersonalizeAndVerifyCCCD is a whole cccd card: the station's
// SCP03 script (the test image, ≈ 28 KB, DG2 at 20,000 bytes; both keys
// generated on the chip; read back), ACTIVATE FILE, reset, PACE with the
// CAN, every readable file under secure messaging, Active Authentication,
// Chip Authentication. chip-ms/op is dominated by the two key generations
// (PerECKeyGen) and the EC operations (PerECOp).
func BenchmarkPersonalizeAndVerifyCCCD(b *testing.B) {
	var total Usage
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, img, res := personalizedCCCD(b)
		h := newCCCDHost(b, c)
		h.mustPACE(pacePasswordCAN, paceKeyOf(pacePasswordCAN, img.mrz, img.can))
		h.smExpect("SELECT", 0xA4, 0x04, 0x0C, AIDPassport, 0, swOK)
		for _, fid := range []uint16{0x011E, 0x0101, 0x0102, 0x010D, 0x010E, 0x010F, 0x011D} {
			h.smReadFile(fid)
		}
		h.activeAuthentication(res.aaPub, img.aaCurve)
		h.chipAuthentication(res.caPub, img.caCurve, false)
		total.add(c.Usage())
	}
	b.StopTimer()
	b.ReportMetric(float64(LatencyRealistic.Cost(total))/float64(time.Millisecond)/float64(b.N), "chip-ms/op")
}

// BenchmarkPACE is PACE with the CAN (brainpoolP256r1, Generic Mapping),
// both sides: five scalar multiplications on the chip, four on the
// terminal.
func BenchmarkPACE(b *testing.B) {
	c, img, _ := personalizedCCCD(b)
	h := newCCCDHost(b, c)
	kPi := paceKeyOf(pacePasswordCAN, img.mrz, img.can)
	before := c.Usage()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Reset()
		h.mustPACE(pacePasswordCAN, kPi)
	}
	b.StopTimer()
	reportChipTime(b, c, before)
}
