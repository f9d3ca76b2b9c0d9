package personalization

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/pcsc/vcard/vcardtest"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/sm"
)

func TestMain(m *testing.M) { pcscdtest.Main(m, 4) }

// plugged puts chip into vpcd reader i of the test pcscd and returns the
// connected card, through the real PC/SC stack (libpcsclite, pcscd, vpcd).
func plugged(t testing.TB, i int, chip vcard.Card) (*pcsc.Card, *vcard.Slot) {
	t.Helper()
	reader, slot := vcardtest.Plug(t, i, chip)
	sys, err := pcsc.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })
	conn, err := sys.Connect(reader)
	if err != nil {
		t.Fatal(err)
	}
	card := pcsc.NewCard(conn, pcsc.WithReaderName(reader))
	t.Cleanup(func() { card.Close(pcsc.LeaveCard) })
	return card, slot
}

func TestPersonalizeThroughPCSCD(t *testing.T) {
	for i, model := range []emrtd.Model{emrtd.ModelExt144, emrtd.ModelShort80} {
		t.Run(model.Name, func(t *testing.T) {
			im, eng := prepared(t, "ton-nu-thi-phuong-thao.json", 1024)
			chip := emrtd.New(model)
			card, _ := plugged(t, i, chip)
			res, err := eng.Personalize(context.Background(), card, im)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Report.Verified || res.Serial != chip.Serial() || !chip.Locked() {
				t.Fatalf("verified %v serial %s/%s locked %v", res.Report.Verified, res.Serial, chip.Serial(), chip.Locked())
			}
			if min := minimumAPDUs(im, productOf(t, model)); res.APDUs != min {
				t.Errorf("%d APDUs, the profile's minimum is %d", res.APDUs, min)
			}
		})
	}
}

func TestCardPulledMidWriteThroughPCSCD(t *testing.T) {
	im, eng := prepared(t, "nguyen-van-an.json", 1024)
	chip := emrtd.New(emrtd.ModelShort80, emrtd.WithFaults(emrtd.Faults{RemoveAfter: 40}))
	card, _ := plugged(t, 2, chip)
	_, err := eng.Personalize(context.Background(), card, im)
	var f *Failure
	if !errors.As(err, &f) || f.Step != StepWrite || !f.Spoiled() || !errors.Is(err, pcsc.ErrCardRemoved) || f.Serial != chip.Serial() {
		t.Fatalf("want a spoiled write failure with the card removed, got %v", err)
	}
}

func TestMemoryFailureThroughPCSCD(t *testing.T) {
	im, eng := prepared(t, "hoang-thi-my.json", 1024)
	chip := emrtd.New(emrtd.ModelExt144, emrtd.WithFaults(emrtd.Faults{MemoryFailure: emrtd.AnyFile(10)}))
	card, _ := plugged(t, 3, chip)
	_, err := eng.Personalize(context.Background(), card, im)
	var f *Failure
	if !errors.As(err, &f) || f.Step != StepWrite || !errors.Is(err, pcsc.ErrMemoryFailure) {
		t.Fatalf("want a memory failure, got %v", err)
	}
}

func productOf(t testing.TB, m emrtd.Model) Product {
	prof, _ := NewJMRTD(nil)
	p, err := prof.Identify(m.ATR)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// minimumAPDUs is the fewest commands the JMRTD profile allows for an image
// on a product, counted from the protocol, not from the engine:
//
//	pre-checks: SELECT card manager, GET DATA CPLC, SELECT applet, SELECT EF.COM
//	per file: CREATE, SELECT, ⌈n/maxCmd⌉ UPDATE, ⌈n/maxResp⌉ READ (read-back)
//	seal: PUT DATA seed, modulus, exponent, LOCK
//	verify: SELECT applet, plain SELECT (refused), GET CHALLENGE, EXTERNAL AUTHENTICATE,
//	        per file: SELECT + ⌈n/smChunk⌉ READ; INTERNAL AUTHENTICATE
func minimumAPDUs(im *lds.Image, p Product) int {
	ceil := func(a, b int) int { return (a + b - 1) / b }
	smChunk := p.MaxResponseData
	if !p.ExtendedLength {
		smChunk = 256
	}
	smChunk = sm.MaxPlainResponse(smChunk)
	n := 4 + 4 + 4 + 1
	for _, f := range im.Files {
		n += 2 + ceil(len(f.Data), p.MaxCommandData) + ceil(len(f.Data), p.MaxResponseData)
		n += 1 + ceil(len(f.Data), smChunk)
	}
	return n
}

// BenchmarkPersoAndVerifyThroughPCSCD reports, per sample and chip model,
// with the latency model off: APDUs per card against the profile's minimum,
// and the wall time of perso + verify per card.
func BenchmarkPersoAndVerifyThroughPCSCD(b *testing.B) {
	apps := loadSamples(b)
	names := make([]string, 0, len(apps))
	for n := range apps {
		names = append(names, n)
	}
	sort.Strings(names)
	for mi, model := range []emrtd.Model{emrtd.ModelExt144, emrtd.ModelShort80} {
		for _, name := range names {
			b.Run(fmt.Sprintf("%s/%s", model.Name, name), func(b *testing.B) {
				p, s := newTestPKI(b)
				prof, _ := NewJMRTD(nil)
				eng := &Engine{Profile: prof, CSCAs: p.CSCAs}
				product := productOf(b, model)
				// The images are prepared outside the timed loop: the
				// station prepares ahead of the readers.
				images := make([]*lds.Image, b.N)
				for i := range images {
					im, err := Prepare(apps[name], PrepareOptions{Signer: s, DSCert: s.Certificate(), AAKeyBits: product.MaxAAKeyBits})
					if err != nil {
						b.Fatal(err)
					}
					images[i] = im
				}
				minimum := minimumAPDUs(images[0], product)
				var apdus int
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					card, slot := plugged(b, mi, emrtd.New(model))
					b.StartTimer()
					res, err := eng.Personalize(context.Background(), card, images[i])
					if err != nil {
						b.Fatal(err)
					}
					apdus = res.APDUs
					b.StopTimer()
					card.Close(pcsc.UnpowerCard)
					slot.Remove()
					b.StartTimer()
				}
				b.ReportMetric(float64(apdus), "APDUs/card")
				b.ReportMetric(float64(minimum), "min-APDUs")
				b.ReportMetric(float64(apdus)/float64(minimum), "x-minimum")
			})
		}
	}
}

// BenchmarkStationShareRealisticChip runs perso + verify through pcscd on a
// chip that sleeps per emrtd.LatencyRealistic, and reports the share of the
// card's wall time that is not the chip's own (the station, libpcsclite,
// pcscd and vpcd).
func BenchmarkStationShareRealisticChip(b *testing.B) {
	app := loadSamples(b)["nguyen-van-an.json"]
	for mi, model := range []emrtd.Model{emrtd.ModelExt144, emrtd.ModelShort80} {
		b.Run(model.Name, func(b *testing.B) {
			p, s := newTestPKI(b)
			prof, _ := NewJMRTD(nil)
			eng := &Engine{Profile: prof, CSCAs: p.CSCAs}
			product := productOf(b, model)
			var wall, chipTime time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				im, err := Prepare(app, PrepareOptions{Signer: s, DSCert: s.Certificate(), AAKeyBits: product.MaxAAKeyBits})
				if err != nil {
					b.Fatal(err)
				}
				chip := emrtd.New(model, emrtd.WithLatency(emrtd.LatencyRealistic))
				card, slot := plugged(b, mi, chip)
				before := emrtd.LatencyRealistic.Cost(chip.Usage())
				b.StartTimer()
				start := time.Now()
				if _, err := eng.Personalize(context.Background(), card, im); err != nil {
					b.Fatal(err)
				}
				wall += time.Since(start)
				b.StopTimer()
				chipTime += emrtd.LatencyRealistic.Cost(chip.Usage()) - before
				card.Close(pcsc.UnpowerCard)
				slot.Remove()
				b.StartTimer()
			}
			b.ReportMetric(float64(chipTime.Milliseconds())/float64(b.N), "chip-ms/card")
			b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "wall-ms/card")
			b.ReportMetric(100*float64(wall-chipTime)/float64(wall), "station-%")
		})
	}
}
