package queue

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// procStatusMB reads a VmRSS/VmHWM-style line of /proc/self/status in MB.
func procStatusMB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkSubmit10000WithPictures: intake of 10,000 applications of 50 KB
// (a face picture and fingerprints, incompressible) in batches of 100 into
// a new store; reports applications/s, and the process's memory with the
// 10,000 pending (rss-MB after intake, peak-rss-MB over the run). With
// -short, 1,000 applications.
func BenchmarkSubmit10000WithPictures(b *testing.B) {
	const batch, size = 100, 50 << 10
	n := 10000
	if testing.Short() {
		n = 1000
	}
	pic := make([]byte, size*3/4)
	rand.Read(pic)
	face := base64.StdEncoding.EncodeToString(pic)
	var rss float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "station.db")
		s, err := Open(path, testKey(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for j := 0; j < n; j += batch {
			// The documents as the API hands them over (built untimed).
			b.StopTimer()
			subs := make([]Submission, batch)
			for k := range subs {
				id := fmt.Sprintf("APP-%06d", j+k)
				raw := []byte(`{"application_id":"` + id + `","face_image":"` + face + `"}`)
				subs[k] = Submission{ApplicationID: id, BatchID: "B", ContentHash: sha256.Sum256(raw), Raw: raw}
			}
			b.StartTimer()
			res, err := s.Submit(ctx, subs)
			if err != nil || !res[batch-1].Created {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		counts, _ := s.CountByState(ctx)
		if counts[StateValidated] != n {
			b.Fatalf("counts %v", counts)
		}
		runtime.GC()
		rss = procStatusMB("VmRSS")
		if i == 0 {
			fi, _ := os.Stat(path)
			b.ReportMetric(float64(fi.Size())/(1<<20), "db-MB")
		}
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "applications/s")
	b.ReportMetric(rss, "rss-MB")
	b.ReportMetric(procStatusMB("VmHWM"), "peak-rss-MB")
}

// BenchmarkEventsUnderLoad: central's polls of the feed (after its cursor,
// 100 at most) paced at 200 per second while a writer commits state
// changes as fast as it can; reports the poll latency p50/p99/max and the
// writer's commits/s. One op = one poll.
func BenchmarkEventsUnderLoad(b *testing.B) {
	s := openTest(b, Options{})
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	var commits atomic.Int64
	go func() {
		defer close(writerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("E%07d", i)
			if _, err := s.Submit(ctx, []Submission{subOf(id, rawApp(id, 2048))}); err != nil {
				panic(err)
			}
			if err := s.SetPrepared(ctx, id, image(id)); err != nil {
				panic(err)
			}
			commits.Add(2)
		}
	}()
	time.Sleep(50 * time.Millisecond) // some events first
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	lat := make([]time.Duration, 0, b.N)
	var cursor int64
	b.ResetTimer()
	start := time.Now()
	c0 := commits.Load()
	for i := 0; i < b.N; i++ {
		<-tick.C
		t0 := time.Now()
		evs, err := s.Events(ctx, cursor, 100)
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if len(evs) > 0 {
			cursor = evs[len(evs)-1].Seq
		}
	}
	b.StopTimer()
	rate := float64(commits.Load()-c0) / time.Since(start).Seconds()
	close(stop)
	<-writerDone
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	b.ReportMetric(rate, "writer-commits/s")
}

// BenchmarkClaimCycle: claim → writing → verifying → issued of prepared
// applications (a 30 KB chip image each), one reader; four durable
// commits per op.
func BenchmarkClaimCycle(b *testing.B) {
	s := openTest(b, Options{})
	img := make([]byte, 30<<10)
	rand.Read(img)
	for i := 0; i < b.N; i += 100 {
		var subs []Submission
		for j := i; j < min(i+100, b.N); j++ {
			id := fmt.Sprintf("CC%07d", j)
			subs = append(subs, subOf(id, rawApp(id, 4096)))
		}
		if _, err := s.Submit(ctx, subs); err != nil {
			b.Fatal(err)
		}
		for _, sub := range subs {
			if err := s.SetPrepared(ctx, sub.ApplicationID, img); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := s.Claim(ctx, "reader-1", fmt.Sprintf("S%08d", i))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.MarkWriting(ctx, c); err != nil {
			b.Fatal(err)
		}
		if err := s.MarkVerifying(ctx, c); err != nil {
			b.Fatal(err)
		}
		if err := s.MarkIssued(ctx, c, Issue{SODHash: []byte{1}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
}
