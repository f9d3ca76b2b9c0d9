package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cccd-station/station/api"
	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/application/synthetic"
	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/pcsc/vcard/vcardtest"
	"github.com/cccd-station/station/personalization/pki"
	"github.com/cccd-station/station/queue"
)

// The test binary doubles as the daemon: with STATIOND_TEST_ARGS set it runs
// stationd's main with those arguments (no second build, and the daemon is
// race-instrumented like the tests).
func TestMain(m *testing.M) {
	if args := os.Getenv("STATIOND_TEST_ARGS"); args != "" {
		var a []string
		json.Unmarshal([]byte(args), &a)
		os.Exit(run(a, os.Stdout, os.Stderr))
	}
	pcscdtest.Main(m, 4)
}

// daemonRig is a data directory, a configuration for the test pcscd's vpcd
// readers, card feeders in those readers, and a central token.
type daemonRig struct {
	t        testing.TB
	dir      string
	config   string
	listen   string
	token    string
	ejected  map[string]vcard.Ejection
	mu       sync.Mutex
	feeders  []*vcard.Feeder
	stopFeed context.CancelFunc
	feedDone sync.WaitGroup
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newDaemonRig(t *testing.T, readers []int, blank func() vcard.Persistent) *daemonRig {
	return newDaemonRigTB(t, readers, blank)
}

// newDaemonRigTB: readers nil means a configuration that matches no reader
// (nothing is personalized).
func newDaemonRigTB(t testing.TB, readers []int, blank ...func() vcard.Persistent) *daemonRig {
	t.Helper()
	stack := pcscdtest.Require(t)
	dir := t.TempDir()
	r := &daemonRig{t: t, dir: dir, listen: freePort(t), ejected: map[string]vcard.Ejection{}}
	if _, err := queue.GenerateKeyFile(filepath.Join(dir, "data.key")); err != nil {
		t.Fatal(err)
	}
	if err := pki.Init(pki.Options{Dir: filepath.Join(dir, "pki")}); err != nil {
		t.Fatal(err)
	}
	names := []string{`"no reader has this name"`}
	if readers != nil {
		names = nil
	}
	for _, i := range readers {
		names = append(names, fmt.Sprintf("%q", stack.ReaderName(i)))
	}
	cfg := fmt.Sprintf(`station_id: test
data_dir: %s
listen: %s
readers:
  source: pcscd
  use: [%s]
signer:
  backend: file
  key_file: %s/pki/ds-key.pem
  cert_file: %s/pki/ds.pem
csca_file: %s/pki/csca.pem
data_key:
  file: %s/data.key
queue:
  max_attempts: 10
log:
  level: info
`, dir, r.listen, strings.Join(names, ", "), dir, dir, dir, dir)
	r.config = filepath.Join(dir, "station.yaml")
	if err := os.WriteFile(r.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := api.OpenAuth(filepath.Join(dir, "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	r.token, err = auth.AddToken("central-test", api.RoleCentral)
	auth.Close()
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	r.stopFeed = cancel
	for _, i := range readers {
		f := vcard.NewFeeder(vcardtest.Bay(ctx, t, i), func() (vcard.Persistent, error) { return blank[0](), nil },
			vcard.SaveDir(filepath.Join(dir, "cards")),
			vcard.OnEject(func(e vcard.Ejection) {
				r.mu.Lock()
				r.ejected[e.Serial] = e
				r.mu.Unlock()
			}))
		r.feeders = append(r.feeders, f)
		r.feedDone.Add(1)
		go func() { defer r.feedDone.Done(); f.Run(ctx) }()
	}
	t.Cleanup(func() { cancel(); r.feedDone.Wait() })
	return r
}

// start runs the daemon as a child process.
func (r *daemonRig) start(out io.Writer) *exec.Cmd {
	r.t.Helper()
	args, _ := json.Marshal([]string{"--config", r.config})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STATIOND_TEST_ARGS="+string(args))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	return cmd
}

// submit sends applications through the daemon's HTTP API, retrying while
// it starts.
func (r *daemonRig) submit(docs [][]byte) {
	r.t.Helper()
	var batch bytes.Buffer
	batch.WriteString(`{"applications":[`)
	for i, d := range docs {
		if i > 0 {
			batch.WriteByte(',')
		}
		batch.Write(d)
	}
	batch.WriteString(`]}`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest("POST", "http://"+r.listen+"/api/v1/applications", bytes.NewReader(batch.Bytes()))
		req.Header.Set("Authorization", "Bearer "+r.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 201 || resp.StatusCode == 200 {
				return
			}
			r.t.Fatalf("intake: %d %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("daemon not answering: %v", err)
		}
	}
}

// states asks the daemon for each application's state ("" while it does not
// answer).
func (r *daemonRig) states(ids []string) map[string]string {
	out := map[string]string{}
	for _, id := range ids {
		req, _ := http.NewRequest("GET", "http://"+r.listen+"/api/v1/applications/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+r.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil
		}
		var s queue.Status
		json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		out[id] = string(s.State)
	}
	return out
}

func inventApplicants(t testing.TB, seed int64, n int) ([][]byte, []string) {
	var docs [][]byte
	var ids []string
	for i := 0; i < n; i++ {
		d, err := synthetic.Application(seed, i, synthetic.Options{})
		if err != nil {
			t.Fatal(err)
		}
		id, _ := application.PeekID(d)
		docs, ids = append(docs, d), append(ids, id)
	}
	return docs, ids
}

// kill -9 of the daemon at random moments across many runs, then a restart
// that runs to the end. Invariants: no application lost; at most one
// verified card per application; every card that was written is accounted
// for, verified or spoiled with its serial; the event feed gap-free; the
// audit chain intact.
func TestKill9AtRandomMomentsLosesNothing(t *testing.T) {
	const apps = 24
	runs := 12
	if testing.Short() {
		runs = 4
	}
	// Slow chips (3 ms a command: about a second a card) so that the kills
	// land in the middle of cards, not between them.
	slow := emrtd.Latency{PerCommand: 3 * time.Millisecond}
	r := newDaemonRig(t, []int{0, 1, 2}, func() vcard.Persistent { return emrtd.New(emrtd.ModelShort80, emrtd.WithLatency(slow)) })
	docs, ids := inventApplicants(t, 42, apps)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))

	var logs logBuffer
	submitted := false
	for run := 0; run < runs; run++ {
		cmd := r.start(&logs)
		if !submitted {
			r.submit(docs)
			submitted = true
		}
		time.Sleep(time.Duration(200+rng.IntN(2300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}

	// The last run goes to the end.
	cmd := r.start(&logs)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		st := r.states(ids)
		done := st != nil
		for _, id := range ids {
			if s := st[id]; s != string(queue.StateIssued) && s != string(queue.StateNeedsAttention) {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			t.Fatalf("not finished after the last restart: %v\n%s", st, tail(logs.String(), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// SIGTERM: an orderly stop.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("daemon exit after SIGTERM: %v\n%s", err, tail(logs.String(), 2000))
	}
	r.stopFeed()
	r.feedDone.Wait()

	key, err := queue.LoadKey(filepath.Join(r.dir, "data.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	store, err := queue.Open(filepath.Join(r.dir, "station.db"), key, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	verifiedBy := map[string]string{}
	// A serial may have several rows: a blank card released by recovery can
	// be claimed again for another application.
	known := map[string][]queue.CardState{}
	for _, id := range ids {
		s, err := store.Status(ctx, id)
		if err != nil {
			t.Fatalf("application %s lost: %v", id, err)
		}
		v := 0
		for _, c := range s.Cards {
			known[c.Serial] = append(known[c.Serial], c.State)
			if c.State == queue.CardVerified {
				v++
				verifiedBy[c.Serial] = id
			}
		}
		if v > 1 || (s.State == queue.StateIssued && v != 1) {
			t.Errorf("%s: %s with %d verified cards", id, s.State, v)
		}
	}
	// Every written card the feeders took out (each saved as <serial>.json)
	// is in the records as verified or spoiled.
	files, _ := filepath.Glob(filepath.Join(r.dir, "cards", "*.json"))
	for _, f := range files {
		serial := strings.TrimSuffix(filepath.Base(f), ".json")
		if !slices.Contains(known[serial], queue.CardVerified) && !slices.Contains(known[serial], queue.CardSpoiled) {
			t.Errorf("written card %s is not accounted for (states %q)", serial, known[serial])
		}
	}
	for serial, id := range verifiedBy {
		if _, err := os.Stat(filepath.Join(r.dir, "cards", serial+".json")); err != nil {
			t.Errorf("verified card %s of %s was never handed out", serial, id)
		}
	}
	evs, err := store.Events(ctx, 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event feed gap at %d: cursor %d", i+1, e.Seq)
		}
	}
	rep, err := store.VerifyAudit(ctx)
	if err != nil || !rep.OK {
		t.Errorf("audit chain: %+v %v", rep, err)
	}
	spoiled := 0
	for _, states := range known {
		if slices.Contains(states, queue.CardSpoiled) {
			spoiled++
		}
	}
	t.Logf("%d runs killed, %d applications issued, %d cards written (%d spoiled), %d events", runs, len(verifiedBy), len(files), spoiled, len(evs))
}

// logBuffer collects a child process's output; it may be read while the
// process writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// SIGTERM finishes the cards in hand: after an orderly stop no card is left
// half-done (nothing in personalizing or verifying) and the daemon exits 0.
func TestSIGTERMFinishesTheCardsInHand(t *testing.T) {
	slow := emrtd.Latency{PerCommand: 5 * time.Millisecond} // about 1.5 s a card
	r := newDaemonRig(t, []int{3}, func() vcard.Persistent { return emrtd.New(emrtd.ModelShort80, emrtd.WithLatency(slow)) })
	docs, ids := inventApplicants(t, 7, 3)
	var logs logBuffer
	cmd := r.start(&logs)
	r.submit(docs)
	// Wait until a card is being written.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st := r.states(ids)
		busy := false
		for _, s := range st {
			if s == string(queue.StatePersonalizing) || s == string(queue.StateVerifying) {
				busy = true
			}
		}
		if busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no card started: %v", st)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, tail(logs.String(), 3000))
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("did not stop after SIGTERM\n%s", tail(logs.String(), 3000))
	}
	if !strings.Contains(logs.String(), "finishing the cards in hand") {
		t.Errorf("no stopping message:\n%s", tail(logs.String(), 2000))
	}
	key, _ := queue.LoadKey(filepath.Join(r.dir, "data.key"), "")
	store, err := queue.Open(filepath.Join(r.dir, "station.db"), key, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	inflight, err := store.InFlight(context.Background(), "")
	if err != nil || len(inflight) != 0 {
		t.Fatalf("after SIGTERM, %d cards left in progress (%v)", len(inflight), err)
	}
	issued := 0
	for _, id := range ids {
		s, _ := store.Status(context.Background(), id)
		if s.State == queue.StateIssued {
			issued++
		}
	}
	if issued == 0 {
		t.Error("the card in hand was not finished")
	}
}

// BenchmarkDaemonMemory10000Pending: the daemon's resident memory with
// 10,000 applications with their pictures waiting (goal ≤ 300 MB RSS),
// submitted through the HTTP API in batches of 200; no reader takes work.
// With -short, 400 applications.
func BenchmarkDaemonMemory10000Pending(b *testing.B) {
	n := 10000
	if testing.Short() {
		n = 400
	}
	for i := 0; i < b.N; i++ {
		r := newDaemonRigTB(b, nil)
		var logs logBuffer
		cmd := r.start(&logs)
		// A few invented people, reused under new ids and ID numbers.
		base, _ := inventApplicants(b, 5, 40)
		var maps []map[string]any
		for _, d := range base {
			var m map[string]any
			json.Unmarshal(d, &m)
			maps = append(maps, m)
		}
		start := time.Now()
		const batch = 200
		for k := 0; k < n; k += batch {
			var docs [][]byte
			for j := k; j < k+batch; j++ {
				m := maps[j%len(maps)]
				m["application_id"] = fmt.Sprintf("MEM-%07d", j)
				pid := m["personal_id"].(string)
				m["personal_id"] = pid[:6] + fmt.Sprintf("%06d", j)
				d, _ := json.Marshal(m)
				docs = append(docs, d)
			}
			r.submit(docs)
		}
		took := time.Since(start)
		time.Sleep(2 * time.Second)
		rss, hwm := procMemory(b, cmd.Process.Pid)
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		b.ReportMetric(float64(n)/took.Seconds(), "applications/s")
		b.ReportMetric(float64(rss)/1024, "RSS-MB")
		b.ReportMetric(float64(hwm)/1024, "peak-RSS-MB")
	}
}

// procMemory reads VmRSS and VmHWM (kB) of a process.
func procMemory(tb testing.TB, pid int) (rss, hwm int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var v int
		if n, _ := fmt.Sscanf(line, "VmRSS: %d kB", &v); n == 1 {
			rss = v
		}
		if n, _ := fmt.Sscanf(line, "VmHWM: %d kB", &v); n == 1 {
			hwm = v
		}
	}
	return rss, hwm
}

// largestFace is the worst face picture the limits allow for memory: as
// many pixels as biometrics.MaxFaceInputPixels (4608×3456) in as few bytes
// as a JPEG takes, so that a batch carries as many of them as it may.
func largestFace(tb testing.TB) []byte {
	tb.Helper()
	const w, h = 4608, 3456
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Y[y*img.YStride+x] = byte((x + y) >> 5)
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 20}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkDaemonPeakRSSLargestFaces: the daemon's peak resident memory
// while central sends batches of the largest face pictures the limits allow
// (16 megapixels each, as many as a 16 MiB batch holds), four batches at
// once; every picture is decoded at intake and again by the preparation.
func BenchmarkDaemonPeakRSSLargestFaces(b *testing.B) {
	batches, perBatch := 4, 0
	if testing.Short() {
		batches = 1
	}
	face := base64.StdEncoding.EncodeToString(largestFace(b))
	perBatch = min(500, (15<<20)/(len(face)+2000))
	if testing.Short() {
		perBatch = min(perBatch, 6)
	}
	for i := 0; i < b.N; i++ {
		r := newDaemonRigTB(b, nil)
		var logs logBuffer
		cmd := r.start(&logs)
		base, _ := inventApplicants(b, 9, 1)
		var m map[string]any
		json.Unmarshal(base[0], &m)
		m["face_image"] = face
		var wg sync.WaitGroup
		start := time.Now()
		for k := 0; k < batches; k++ {
			var docs [][]byte
			for j := 0; j < perBatch; j++ {
				n := k*perBatch + j
				m["application_id"] = fmt.Sprintf("BIG-%05d", n)
				m["personal_id"] = m["personal_id"].(string)[:6] + fmt.Sprintf("%06d", n)
				d, _ := json.Marshal(m)
				docs = append(docs, d)
			}
			wg.Add(1)
			go func() { defer wg.Done(); r.submit(docs) }()
		}
		wg.Wait()
		took := time.Since(start)
		time.Sleep(3 * time.Second) // preparation decodes them again
		_, hwm := procMemory(b, cmd.Process.Pid)
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		b.ReportMetric(float64(batches*perBatch), "faces")
		b.ReportMetric(float64(batches*perBatch)/took.Seconds(), "faces/s")
		b.ReportMetric(float64(hwm)/1024, "peak-RSS-MB")
	}
}
