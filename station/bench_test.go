package station

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cccd-station/station/application/synthetic"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/personalization/pki"
	"github.com/cccd-station/station/personalization/signer"
	"github.com/cccd-station/station/queue"
)

// applicants makes n distinct applications quickly: the drawn faces of a
// few invented people are reused under new ids and ID numbers (drawing a
// face takes ~25 ms; the pictures' size is what matters here).
func applicants(tb testing.TB, seed int64, n int) [][]byte {
	tb.Helper()
	const people = 40
	var base []map[string]any
	for i := 0; i < min(n, people); i++ {
		d, err := synthetic.Application(seed, i, synthetic.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(d, &m)
		base = append(base, m)
	}
	docs := make([][]byte, n)
	for i := range docs {
		m := base[i%len(base)]
		m["application_id"] = fmt.Sprintf("BENCH-%d-%07d", seed, i)
		pid := m["personal_id"].(string)
		m["personal_id"] = pid[:6] + fmt.Sprintf("%06d", i%1_000_000)
		docs[i], _ = json.Marshal(m)
	}
	return docs
}

// run16 personalizes cards through one pcscd with 16 vpcd readers and
// reports the sustained rate, preparation included (prepared ahead while
// the readers work, as in production).
func run16(b *testing.B, model emrtd.Model, aaBits, perReader int, latency emrtd.Latency) {
	readers := make([]int, 16)
	for i := range readers {
		readers[i] = i
	}
	var modelled time.Duration
	var cards int
	chips := make(chan *emrtd.Chip, 10000)
	var cm *emrtd.SCP03Master
	if model.Name == emrtd.ModelCCCD.Name {
		cm = &emrtd.SCP03Master{}
	}
	r := newRig(b, rigOptions{readers: readers, aaBits: aaBits, cccd: cm, blank: func(_, _ int) vcard.Persistent {
		var opts []emrtd.Option
		if !latency.IsZero() {
			opts = append(opts, emrtd.WithLatency(latency))
		}
		if cm != nil {
			opts = append(opts, emrtd.WithSCP03Master(*cm))
		}
		c := emrtd.New(model, opts...)
		chips <- c
		return c
	}})
	n := 16 * perReader
	docs := applicants(b, time.Now().UnixNano(), n)
	b.ResetTimer()
	start := time.Now()
	res, err := r.st.Intake(context.Background(), docs)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, len(res))
	for i, x := range res {
		ids[i] = x.ApplicationID
	}
	final := r.waitFinal(ids, 30*time.Minute)
	took := time.Since(start)
	b.StopTimer()
	for _, s := range final {
		if s.State != queue.StateIssued {
			b.Fatalf("%s: %s", s.ApplicationID, s.State)
		}
	}
	close(chips)
	for c := range chips {
		if c.Locked() {
			modelled += latency.Cost(c.Usage())
			cards++
		}
	}
	b.ReportMetric(float64(n)/took.Seconds(), "cards/s")
	// Steady: from the moment every reader issued its first card (intake,
	// the first preparations and the first card exchange behind) to the
	// last card.
	if ts := issueTimes(b, r.store); len(ts) > len(readers) {
		steady := ts[len(ts)-1].Sub(ts[len(readers)-1])
		b.ReportMetric(float64(len(ts)-len(readers))/steady.Seconds(), "steady-cards/s")
	}
	if !latency.IsZero() && cards > 0 {
		cardTime := modelled / time.Duration(cards)
		ideal := 16 * 3600 / cardTime.Seconds()
		actual := float64(n) * 3600 / took.Seconds()
		b.ReportMetric(cardTime.Seconds(), "chip-s/card")
		b.ReportMetric(actual, "cards/hour")
		b.ReportMetric(ideal, "ideal-cards/hour")
		b.ReportMetric(100*actual/ideal, "%-of-ideal")
	}
}

// BenchmarkSustained16ReadersPCSCD: 16 virtual readers through one pcscd,
// latency model off, verification included (goal ≥ 15 cards/s): cards/s
// over the whole run from intake, steady-cards/s once every reader works. With
// -short, one card per reader instead of ten (a check that it runs, not a
// measurement).
func BenchmarkSustained16ReadersPCSCD(b *testing.B) {
	perReader := 10
	if testing.Short() {
		perReader = 1
	}
	b.Run("short80-aa1024", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			run16(b, emrtd.ModelShort80, 1024, perReader, emrtd.LatencyOff)
		}
	})
	b.Run("ext144-aa1024", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			run16(b, emrtd.ModelExt144, 1024, perReader, emrtd.LatencyOff)
		}
	})
	b.Run("ext144-aa2048", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			run16(b, emrtd.ModelExt144, 2048, perReader, emrtd.LatencyOff)
		}
	})
	// The cccd chip makes its keys itself: the station's cores only sign,
	// write and verify.
	b.Run("cccd", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			run16(b, emrtd.ModelCCCD, 0, perReader, emrtd.LatencyOff)
		}
	})
}

// issueTimes returns the times of the issued events, in order.
func issueTimes(tb testing.TB, store *queue.Store) []time.Time {
	evs, err := store.Events(context.Background(), 0, 1_000_000)
	if err != nil {
		tb.Fatal(err)
	}
	var out []time.Time
	for _, e := range evs {
		if e.State == queue.StateIssued {
			out = append(out, e.At)
		}
	}
	return out
}

// realistic runs perCard cards on each of the given readers with chips
// that take the time emrtd.LatencyRealistic models, and returns the issue
// times.
func realistic(b *testing.B, readers []int, perReader int) []time.Time {
	r := newRig(b, rigOptions{readers: readers, aaBits: 2048, blank: func(_, _ int) vcard.Persistent {
		return emrtd.New(emrtd.ModelExt144, emrtd.WithLatency(emrtd.LatencyRealistic))
	}})
	docs := applicants(b, time.Now().UnixNano(), len(readers)*perReader)
	res, err := r.st.Intake(context.Background(), docs)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, len(res))
	for i, x := range res {
		ids[i] = x.ApplicationID
	}
	for _, s := range r.waitFinal(ids, 30*time.Minute) {
		if s.State != queue.StateIssued {
			b.Fatalf("%s: %s", s.ApplicationID, s.State)
		}
	}
	times := issueTimes(b, r.store)
	r.stop()
	return times
}

// BenchmarkRealisticChips16ReadersPCSCD: 16 readers through one pcscd with
// chips that take the time emrtd.LatencyRealistic models (contact interface,
// EEPROM writes, RSA: ~9.5 s a card). The ideal is 16 × 3600 / card time,
// where the card time is one reader's steady cycle when it is the only one
// (chip time and the card exchange of the virtual feeder: what the station
// cannot shorten); the actual rate is 16 readers' steady rate, from the
// moment every reader has issued its first card to the last card (goal ≥ 97%).
// With -short, 2 cards on one reader and 2 on each of 4 readers (a check
// that it runs, not a measurement: ~10 s a card cannot be shortened).
func BenchmarkRealisticChips16ReadersPCSCD(b *testing.B) {
	n, oneCards, perReader := 16, 3, 4
	if testing.Short() {
		n, oneCards, perReader = 4, 2, 2
	}
	for i := 0; i < b.N; i++ {
		one := realistic(b, []int{0}, oneCards)
		cycle := one[len(one)-1].Sub(one[0]) / time.Duration(len(one)-1)
		readers := make([]int, n)
		for k := range readers {
			readers[k] = k
		}
		all := realistic(b, readers, perReader)
		steady := all[len(all)-1].Sub(all[n-1])
		rate := float64(len(all)-n) / steady.Seconds() * 3600
		ideal := float64(n) * 3600 / cycle.Seconds()
		b.ReportMetric(cycle.Seconds(), "card-s")
		b.ReportMetric(rate, "cards/hour")
		b.ReportMetric(ideal, "ideal-cards/hour")
		b.ReportMetric(100*rate/ideal, "%-of-ideal")
	}
}

// BenchmarkIntake10000WithPictures: central sends 10,000 applications with
// their pictures in batches of 100; each is validated (JPEG decoded, finger
// records parsed) and stored encrypted. With -short, 200 applications.
func BenchmarkIntake10000WithPictures(b *testing.B) {
	n := 10000
	if testing.Short() {
		n = 200
	}
	docs := applicants(b, 77, n)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		key, err := queue.GenerateKeyFile(filepath.Join(dir, "k"))
		if err != nil {
			b.Fatal(err)
		}
		store, err := queue.Open(filepath.Join(dir, "s.db"), key, queue.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := pki.Init(pki.Options{Dir: filepath.Join(dir, "pki")}); err != nil {
			b.Fatal(err)
		}
		p, err := pki.Load(filepath.Join(dir, "pki"))
		if err != nil {
			b.Fatal(err)
		}
		sgn, err := signer.Open(context.Background(), p.Signer)
		if err != nil {
			b.Fatal(err)
		}
		st, err := New(Options{Store: store, Readers: vcard.NewRack(), Signer: sgn, CSCAs: p.CSCAs})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for k := 0; k < len(docs); k += 100 {
			res, err := st.Intake(context.Background(), docs[k:k+100])
			if err != nil {
				b.Fatal(err)
			}
			if res[0].State != queue.StateValidated {
				b.Fatalf("%+v", res[0])
			}
		}
		b.ReportMetric(float64(len(docs))/time.Since(start).Seconds(), "applications/s")
		b.StopTimer()
		store.Close()
	}
}
