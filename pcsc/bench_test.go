package pcsc_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cccd-station/station/pcsc"
)

// reportLatencies adds the median and the 99th percentile of per-operation
// durations: the mean hides the tail.
func reportLatencies(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, "median-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// One APDU (a 5-byte command, 20 bytes of answer) from a Conn through
// libpcsclite, pcscd, the vpcd driver and the vpcd bridge to a virtual card
// and back. Goal: median ≤ 150 µs.
func BenchmarkAPDURoundTripPCSCD(b *testing.B) {
	st, sys := system(b)
	i := takeReaders(b, 1)[0]
	plug(b, st, i, newTestCard(false))
	conn := connect(b, sys, st.ReaderName(i))
	cmd := []byte{0x00, 0x12, 0x00, 0x14, 0x14} // 20 bytes answered
	if _, err := conn.Exchange(cmd); err != nil {
		b.Fatal(err)
	}
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		t0 := time.Now()
		if _, err := conn.Exchange(cmd); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	reportLatencies(b, d)
}

// The same through pcsc.Card (the transmit rules and counters on top).
func BenchmarkAPDURoundTripPCSCDCard(b *testing.B) {
	st, sys := system(b)
	i := takeReaders(b, 1)[0]
	plug(b, st, i, newTestCard(false))
	c := pcsc.NewCard(connect(b, sys, st.ReaderName(i)))
	cmd := []byte{0x00, 0x12, 0x00, 0x14, 0x14}
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		t0 := time.Now()
		if _, err := c.Transmit(cmd); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	reportLatencies(b, d)
}

// APDUs per second across 16 readers, one goroutine (and card) each.
func BenchmarkAPDUs16Readers(b *testing.B) {
	st, sys := system(b)
	idx := takeReaders(b, st.N())
	conns := make([]pcsc.Conn, len(idx))
	for _, i := range idx {
		plug(b, st, i, newTestCard(false))
	}
	for k, i := range idx {
		conns[k] = connect(b, sys, st.ReaderName(i))
	}
	cmd := []byte{0x00, 0x12, 0x00, 0x14, 0x14}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := c.Exchange(cmd); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "APDU/s")
}
