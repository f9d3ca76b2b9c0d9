package personalization

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
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

// chipCase is one kind of chip the end-to-end suite runs on: a model of
// the virtual chip and the profile that personalizes it.
type chipCase struct {
	name    string
	profile string
	model   emrtd.Model
	opts    []emrtd.Option
}

func (c chipCase) chip(extra ...emrtd.Option) *emrtd.Chip {
	return emrtd.New(c.model, append(append([]emrtd.Option(nil), c.opts...), extra...)...)
}

// suite is every chip kind with an engine that personalizes each: the JMRTD
// applet on both its models, and the cccd chip (its SCP03 master keys the
// station's).
func suite(t testing.TB, sample string) ([]chipCase, *lds.Content, *Engine) {
	c, eng, cm := preparedCCCD(t, sample)
	return []chipCase{
		{"jmrtd-ext144", "jmrtd", emrtd.ModelExt144, nil},
		{"jmrtd-short80", "jmrtd", emrtd.ModelShort80, nil},
		{"cccd", "cccd", emrtd.ModelCCCD, []emrtd.Option{emrtd.WithSCP03Master(cm)}},
	}, c, eng
}

// The same end-to-end tests for both profiles, through the real PC/SC
// stack (libpcsclite, pcscd, vpcd): personalized, verified as a reader
// would, in exactly the profile's minimum of APDUs.
func TestPersonalizeThroughPCSCD(t *testing.T) {
	cases, c, eng := suite(t, "ton-nu-thi-phuong-thao.json")
	for i, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			chip := cc.chip()
			card, _ := plugged(t, i, chip)
			res, err := eng.Personalize(context.Background(), card, c)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Report.Verified || res.Serial != chip.Serial() || !chip.Locked() {
				t.Fatalf("verified %v serial %s/%s locked %v", res.Report.Verified, res.Serial, chip.Serial(), chip.Locked())
			}
			if min := minimumAPDUs(res.Image, productOf(t, cc.model)); res.APDUs != min {
				t.Errorf("%d APDUs, the profile's minimum is %d (%v)", res.APDUs, min, res.Steps)
			}
			if cc.profile == "cccd" && (res.Report.Access != "PACE-CAN" || !res.Report.ChipAuthenticated) {
				t.Errorf("read with %s, chip authenticated %v", res.Report.Access, res.Report.ChipAuthenticated)
			}
		})
	}
}

func TestCardPulledMidWriteThroughPCSCD(t *testing.T) {
	cases, c, eng := suite(t, "nguyen-van-an.json")
	for i, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			chip := cc.chip(emrtd.WithFaults(emrtd.Faults{RemoveAfter: 25}))
			card, _ := plugged(t, i, chip)
			_, err := eng.Personalize(context.Background(), card, c)
			var f *Failure
			if !errors.As(err, &f) || f.Step != StepWrite || !f.Spoiled() || !errors.Is(err, pcsc.ErrCardRemoved) || f.Serial != chip.Serial() {
				t.Fatalf("want a spoiled write failure with the card removed, got %v", err)
			}
		})
	}
}

func TestMemoryFailureThroughPCSCD(t *testing.T) {
	cases, c, eng := suite(t, "hoang-thi-my.json")
	for i, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			chip := cc.chip(emrtd.WithFaults(emrtd.Faults{MemoryFailure: emrtd.AnyFile(10)}))
			card, _ := plugged(t, i, chip)
			_, err := eng.Personalize(context.Background(), card, c)
			var f *Failure
			if !errors.As(err, &f) || f.Step != StepWrite || !errors.Is(err, pcsc.ErrMemoryFailure) || !f.Spoiled() {
				t.Fatalf("want a memory failure, got %v", err)
			}
		})
	}
}

func productOf(t testing.TB, m emrtd.Model) Product {
	p, _, err := testStock(t, 2048, JMRTD{}, CCCD{}).Identify(m.ATR)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// smPlain is the most plain data one protected response carries within max
// bytes of response data (ICAO 9303-11 §9.8: DO'87' with the padded data
// and its indicator byte, DO'99' and DO'8E'), for a cipher of block bytes.
func smPlain(max, block int) int {
	for n := max; n > 0; n-- {
		l := (n/block+1)*block + 1
		hdr := 2
		switch {
		case l > 0xFF:
			hdr = 4
		case l >= 0x80:
			hdr = 3
		}
		if hdr+l+4+10 <= max {
			return n
		}
	}
	return 0
}

// minimumAPDUs is the fewest commands a profile allows for an image on a
// product, counted from the protocol (chip-data.md §8; cccd.md), not from
// the engine.
//
// JMRTD:
//
//	pre-checks: SELECT card manager, GET DATA CPLC, SELECT applet, SELECT DG1
//	open: SELECT applet
//	per file: CREATE, SELECT, ⌈n/maxCmd⌉ UPDATE, ⌈n/maxResp⌉ READ (read-back)
//	seal: PUT DATA seed, modulus, exponent, LOCK
//	verify: SELECT EF.CardAccess (absent), SELECT applet, plain SELECT (refused), GET CHALLENGE,
//	        EXTERNAL AUTHENTICATE, per file: SELECT + ⌈n/smChunk⌉ READ; INTERNAL AUTHENTICATE
//
// cccd:
//
//	pre-checks: SELECT card manager, GET DATA CPLC, SELECT EF.CardAccess, SELECT applet, SELECT DG1
//	open: SELECT applet, INITIALIZE UPDATE, EXTERNAL AUTHENTICATE
//	per file: CREATE, SELECT, ⌈n/w⌉ UPDATE, ⌈n/r⌉ READ, w and r the plain data of one SCP03
//	        command and response at level 33 (padded to 16 bytes, ≥ 1 of padding, 8 of MAC)
//	keys: 2 GENERATE ASYMMETRIC KEY PAIR; seal: PUT DATA MRZ, PUT DATA CAN, ACTIVATE FILE
//	verify: SELECT + READ EF.CardAccess, SELECT applet, plain SELECT (refused), MSE:Set AT + 4
//	        GENERAL AUTHENTICATE (PACE), SELECT applet; per file but EF.CardAccess: SELECT +
//	        ⌈n/smChunk⌉ READ (AES); MSE:Set AT + GENERAL AUTHENTICATE (CA), SELECT + READ EF.COM
//	        again; INTERNAL AUTHENTICATE
func minimumAPDUs(im *lds.Image, p Product) int {
	ceil := func(a, b int) int { return (a + b - 1) / b }
	if p.ProfileName() == "cccd" {
		scp := func(max int) int { return (max-8)/16*16 - 1 }
		w, r := scp(p.MaxCommandData), scp(p.MaxResponseData)
		smChunk := smPlain(p.MaxResponseData, 16)
		n := 5 + 3 + 2 + 3
		for _, f := range im.Files {
			n += 2 + ceil(len(f.Data), w) + ceil(len(f.Data), r)
		}
		n += 2 + 1 + 1 + 5 + 1
		com := 0
		for _, f := range im.Files {
			if f.FID != lds.FIDCardAccess {
				n += 1 + ceil(len(f.Data), smChunk)
			}
			if f.FID == lds.FIDCOM {
				com = len(f.Data)
			}
		}
		return n + 2 + 1 + ceil(com, smChunk) + 1
	}
	smChunk := p.MaxResponseData
	if !p.ExtendedLength {
		smChunk = 256
	}
	smChunk = smPlain(smChunk, 8)
	n := 4 + 1 + 4 + 5 + 1
	for _, f := range im.Files {
		n += 2 + ceil(len(f.Data), p.MaxCommandData) + ceil(len(f.Data), p.MaxResponseData)
		n += 1 + ceil(len(f.Data), smChunk)
	}
	return n
}

// keysReady gives eng a pool of station-made keys and returns a function
// that puts one key of the size a product takes in it: the station makes
// them ahead of the cards, so benchmarks make each outside the timer (and
// not beside the timed card, which the sustained benchmarks measure).
func keysReady(b *testing.B, eng *Engine) func(Product) {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	eng.Keys = NewKeyPool(ctx, 0) // depth 0: it makes none itself
	return func(p Product) {
		bits := p.AAKey.RSABits()
		if bits == 0 || eng.Keys.Ready(bits) > 0 {
			return
		}
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			b.Fatal(err)
		}
		eng.Keys.mu.Lock()
		eng.Keys.ready[bits] = append(eng.Keys.ready[bits], k)
		eng.Keys.mu.Unlock()
	}
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
	cases, _, _ := suite(b, names[0])
	for mi, cc := range cases {
		for _, name := range names {
			b.Run(fmt.Sprintf("%s/%s", cc.name, name), func(b *testing.B) {
				_, eng, cm := preparedCCCD(b, name)
				eng.Stock = testStock(b, 2048, JMRTD{}, eng.cccdProfile(b))
				if cc.profile == "cccd" {
					cc.opts = []emrtd.Option{emrtd.WithSCP03Master(cm)}
				}
				product := productOf(b, cc.model)
				// The content is prepared outside the timed loop: the
				// station prepares ahead of the readers. The signature is
				// the card's; a JMRTD key is the station's, made ahead in
				// memory (KeyPool), as the station does.
				ready := keysReady(b, eng)
				c, err := PrepareContent(apps[name], ContentOptions{})
				if err != nil {
					b.Fatal(err)
				}
				var apdus, minimum int
				var signWait time.Duration
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					card, _, release := plugCard(b, mi, cc.chip())
					ready(product)
					b.StartTimer()
					res, err := eng.Personalize(context.Background(), card, c)
					if err != nil {
						b.Fatal(err)
					}
					apdus, minimum = res.APDUs, minimumAPDUs(res.Image, product)
					signWait += res.SignWait
					b.StopTimer()
					release(pcsc.UnpowerCard)
					b.StartTimer()
				}
				b.ReportMetric(float64(signWait.Microseconds())/1000/float64(b.N), "sign-wait-ms")
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
	cases, _, eng := suite(b, "nguyen-van-an.json")
	eng.Stock = testStock(b, 2048, JMRTD{}, eng.cccdProfile(b))
	ready := keysReady(b, eng)
	for mi, cc := range cases {
		b.Run(cc.name, func(b *testing.B) {
			var wall, chipTime time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				im, err := PrepareContent(app, ContentOptions{})
				if err != nil {
					b.Fatal(err)
				}
				chip := cc.chip(emrtd.WithLatency(emrtd.LatencyRealistic))
				card, _, release := plugCard(b, mi, chip)
				ready(productOf(b, cc.model))
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
