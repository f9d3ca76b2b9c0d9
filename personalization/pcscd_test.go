package personalization

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
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
// connected card, through the real PC/SC stack (libpcsclite, pcscd, vpcd);
// the card is released at the end of the test.
func plugged(t testing.TB, i int, chip vcard.Card) (*pcsc.Card, *vcard.Slot) {
	t.Helper()
	card, slot, release := plugCard(t, i, chip)
	t.Cleanup(func() { release(pcsc.LeaveCard) })
	return card, slot
}

// plugCard is plugged for loops: release closes the connection with the
// disposition, the PC/SC context, and takes the card out. The next plugCard
// into the same reader waits until pcscd has seen this card leave
// (vcardtest.Plug), so a benchmark may plug its next card at once.
func plugCard(t testing.TB, i int, chip vcard.Card) (*pcsc.Card, *vcard.Slot, func(pcsc.Disposition)) {
	t.Helper()
	reader, slot := vcardtest.Plug(t, i, chip)
	sys, err := pcsc.Open()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sys.Connect(reader)
	if err != nil {
		sys.Close()
		t.Fatal(err)
	}
	card := pcsc.NewCard(conn, pcsc.WithReaderName(reader))
	return card, slot, func(d pcsc.Disposition) {
		card.Close(d)
		sys.Close()
		slot.Remove()
	}
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
					card, _, release := plugCard(b, mi, emrtd.New(model))
					b.StartTimer()
					res, err := eng.Personalize(context.Background(), card, images[i])
					if err != nil {
						b.Fatal(err)
					}
					apdus = res.APDUs
					b.StopTimer()
					release(pcsc.UnpowerCard)
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
				card, _, release := plugCard(b, mi, chip)
				before := emrtd.LatencyRealistic.Cost(chip.Usage())
				b.StartTimer()
				start := time.Now()
				if _, err := eng.Personalize(context.Background(), card, im); err != nil {
					b.Fatal(err)
				}
				wall += time.Since(start)
				b.StopTimer()
				chipTime += emrtd.LatencyRealistic.Cost(chip.Usage()) - before
				release(pcsc.UnpowerCard)
				b.StartTimer()
			}
			b.ReportMetric(float64(chipTime.Milliseconds())/float64(b.N), "chip-ms/card")
			b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "wall-ms/card")
			b.ReportMetric(100*float64(wall-chipTime)/float64(wall), "station-%")
		})
	}
}

// Through the whole PC/SC stack (libpcsclite, pcscd, vpcd), the station's
// BAC and secure messaging and the virtual chip's — written independently —
// produce ICAO 9303-11 Appendix D's worked example byte for byte, both
// sides' random numbers forced to the example's.
func TestICAOWorkedExampleThroughPCSCD(t *testing.T) {
	b, err := os.ReadFile("../testdata/icao/icao9303-bac.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		DocumentNumber  string `json:"document_number"`
		DateOfBirth     string `json:"date_of_birth"`
		DateOfExpiry    string `json:"date_of_expiry"`
		MRZInformation  string `json:"mrz_information"`
		GetChallengeRsp string `json:"get_challenge_response"`
		RndIC           string `json:"rnd_ic"`
		RndIFD          string `json:"rnd_ifd"`
		KIFD            string `json:"k_ifd"`
		KICC            string `json:"k_icc"`
		EIFD            string `json:"e_ifd"`
		MIFD            string `json:"m_ifd"`
		ExtAuthResponse string `json:"external_authenticate_response_data"`
		ProtectedSelect struct {
			Command  string `json:"command"`
			Response string `json:"response"`
		} `json:"protected_select_ef_com"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	h := func(s string) []byte {
		x, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	chip := emrtd.New(emrtd.ModelExt144, emrtd.WithRand(bytes.NewReader(append(h(v.RndIC), h(v.KICC)...))))
	card, _ := plugged(t, 1, chip)
	exec := func(what string, c pcsc.Command) []byte {
		t.Helper()
		data, err := pcsc.Exec(card, c)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return data
	}
	// Personalize the minimum: EF.COM and the example's MRZ, then lock.
	exec("SELECT applet", pcsc.Command{INS: 0xA4, P1: 4, P2: 0x0C, Data: AIDeMRTD})
	com := lds.EncodeCOM([]lds.Tag{lds.TagDG1})
	exec("CREATE EF.COM", pcsc.Command{INS: 0xE0, Data: []byte{0x63, 4, 0, byte(len(com)), 0x01, 0x1E}})
	exec("SELECT EF.COM", selectEF(lds.FIDCOM))
	exec("UPDATE EF.COM", pcsc.Command{INS: 0xD6, Data: com})
	seed := lds.TLV(0x62, lds.TLV(0x04, []byte(v.DocumentNumber)), lds.TLV(0x04, []byte(v.DateOfBirth)), lds.TLV(0x04, []byte(v.DateOfExpiry)))
	exec("PUT DATA MRZ", pcsc.Command{INS: 0xDA, P2: 0x62, Data: seed})
	exec("LOCK", pcsc.Command{INS: 0xDA, P1: 0xDE, P2: 0xAD})
	if err := card.Reset(); err != nil {
		t.Fatal(err)
	}

	exec("SELECT applet", pcsc.Command{INS: 0xA4, P1: 4, P2: 0x0C, Data: AIDeMRTD})
	rndIC := exec("GET CHALLENGE", pcsc.Command{INS: 0x84, Ne: 8})
	if !bytes.Equal(append(rndIC, 0x90, 0x00), h(v.GetChallengeRsp)) {
		t.Fatalf("GET CHALLENGE %X, example %s", rndIC, v.GetChallengeRsp)
	}
	ch, data, err := sm.NewBACChallenge(sm.NewBACKeys(v.MRZInformation), rndIC, bytes.NewReader(append(h(v.RndIFD), h(v.KIFD)...)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, append(h(v.EIFD), h(v.MIFD)...)) {
		t.Fatalf("E.IFD ‖ M.IFD:\n got %X\nwant %s%s", data, v.EIFD, v.MIFD)
	}
	resp := exec("EXTERNAL AUTHENTICATE", pcsc.Command{INS: 0x82, Data: data, Ne: 40})
	if !bytes.Equal(resp, h(v.ExtAuthResponse)) {
		t.Fatalf("EXTERNAL AUTHENTICATE:\n got %X\nwant %s", resp, v.ExtAuthResponse)
	}
	s, err := ch.Finish(resp)
	if err != nil {
		t.Fatal(err)
	}
	apdu, err := s.Wrap(sm.Command{INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{0x01, 0x1E}})
	if err != nil || !bytes.Equal(apdu, h(v.ProtectedSelect.Command)) {
		t.Fatalf("protected SELECT:\n got %X\nwant %s", apdu, v.ProtectedSelect.Command)
	}
	rsp, err := card.Transmit(apdu)
	if err != nil || !bytes.Equal(rsp, h(v.ProtectedSelect.Response)) {
		t.Fatalf("protected SELECT response:\n got %X\nwant %s (%v)", rsp, v.ProtectedSelect.Response, err)
	}
	if _, sw, err := s.Unwrap(rsp); err != nil || sw != 0x9000 {
		t.Fatalf("Unwrap: %04X %v", sw, err)
	}
}
