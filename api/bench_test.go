package api

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cccd-station/station/queue"
)

// The figures:
//
//	go test -run XXX -bench BenchmarkPanelOverview ./api/
//	go test -run XXX -bench BenchmarkAPIAt200rps -benchtime 2000x ./api/
//
// (2000x: ten seconds at 200 requests/s per case, enough for a p99.)

// fill submits n applications straight into the store (small documents:
// the store does not validate, the benchmarks read).
func fill(b *testing.B, s *queue.Store, n int) []string {
	b.Helper()
	ids := make([]string, 0, n)
	for start := 0; start < n; start += 500 {
		var subs []queue.Submission
		for i := start; i < min(n, start+500); i++ {
			id := fmt.Sprintf("BENCH-%07d", i)
			raw := fmt.Appendf(nil, `{"application_id":%q,"full_name":"Nguyễn Văn An","personal_id":"001099012345"}`, id)
			subs = append(subs, queue.Submission{ApplicationID: id, BatchID: "B", ContentHash: sha256.Sum256(raw), Raw: raw})
			ids = append(ids, id)
		}
		if _, err := s.Submit(bg, subs); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// rawClient is a plain client (no OpenAPI check: it would be what is
// measured).
func (e *env) rawClient() *http.Client {
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(b *testing.B, c *http.Client, u, bearer string) {
	req, _ := http.NewRequest("GET", u, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("GET %s: %d", u, resp.StatusCode)
	}
}

// BenchmarkPanelOverview: the overview page, logged in, with 16 readers
// and 10,000 applications waiting (queue counts read from the store at
// each load, as the station's Snapshot does). With -short, 1,000.
func BenchmarkPanelOverview(b *testing.B) {
	var names []string
	for i := 0; i < 16; i++ {
		names = append(names, fmt.Sprintf("Reader %02d", i))
	}
	e := newEnv(b, envOptions{readers: names})
	waiting := 10000
	if testing.Short() {
		waiting = 1000
	}
	fill(b, e.store, waiting)
	if err := e.auth.AddUser("tech", RoleTechnician, "a long password for tech"); err != nil {
		b.Fatal(err)
	}
	c := e.rawClient()
	resp, err := c.Get(e.srv.URL + "/panel/login")
	if err != nil {
		b.Fatal(err)
	}
	login, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp, err = c.PostForm(e.srv.URL+"/panel/login", url.Values{"csrf": {formValue(b, login, "csrf")}, "user": {"tech"}, "password": {"a long password for tech"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()
	if snap := e.ctrl.Snapshot(); len(snap.Readers) != 16 || snap.Queue[queue.StateValidated] != waiting {
		b.Fatalf("setup: %d readers, %d validated", len(snap.Readers), snap.Queue[queue.StateValidated])
	}
	b.Run("page", func(b *testing.B) {
		for b.Loop() {
			get(b, c, e.srv.URL+"/panel/", "")
		}
	})
	b.Run("live-render", func(b *testing.B) {
		pg := &page{Lang: LangVI, Role: RoleTechnician, User: "tech", CSRF: "x"}
		for b.Loop() {
			if _, err := e.api.panel.renderLive(bg, pg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAPIAt200rps: a paced, open-loop load of 200 requests/s (each
// request starts on its schedule whether or not the previous ones have
// finished; latency counts from the scheduled start, so queueing shows) on
// the event feed and the application lookup, with 10,000 applications and
// their events in the store (with -short, 1,000). Reports p50 and p99 in
// milliseconds.
func BenchmarkAPIAt200rps(b *testing.B) {
	// The default rate limit per client, as deployed.
	e := newEnv(b, envOptions{mutate: func(o *Options) { o.RateLimit, o.RateBurst = 0, 0 }})
	stored := 10000
	if testing.Short() {
		stored = 1000
	}
	ids := fill(b, e.store, stored)
	last, err := e.store.LastEvent(bg)
	if err != nil || last < int64(stored) {
		b.Fatalf("events: %d %v", last, err)
	}
	tok := e.tokens[RoleCentral]
	c := e.rawClient()
	base := e.srv.URL
	cases := []struct {
		name string
		url  func(r *rand.Rand) string
	}{
		{"events", func(r *rand.Rand) string {
			return fmt.Sprintf("%s/api/v1/events?after=%d&limit=100", base, r.Int64N(last-100))
		}},
		{"lookup", func(r *rand.Rand) string { return base + "/api/v1/applications/" + ids[r.IntN(len(ids))] }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			get(b, c, tc.url(rand.New(rand.NewPCG(0, 0))), tok) // warm the connection
			const rate = 200
			interval := time.Second / rate
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			r := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				at := start.Add(time.Duration(i) * interval)
				time.Sleep(time.Until(at))
				u := tc.url(r)
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					get(b, c, u, tok)
					lat[i] = time.Since(at)
				}(i)
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
		})
	}
}
