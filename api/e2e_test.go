package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station"
	"github.com/cccd-station/station/station/demo"

	"github.com/cccd-station/station/personalization/signer"
)

// ci reports whether the CI variable is set: a missing browser is then a
// failure, not a skip.
func ci() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// chromium finds Debian's Chromium, skipping (saying why) when it is absent
// and CI is unset.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if ci() {
		t.Fatal("chromium is not installed (apt-get install chromium) and CI is set: the panel's browser test must run")
	}
	t.Skip("chromium is not installed (apt-get install chromium); CI is unset, so the panel's browser test is skipped")
	return ""
}

// artifacts is where screenshots go: $ARTIFACTS_DIR, or artifacts/ at the
// repository root.
func artifacts(t *testing.T) string {
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "artifacts")
	}
	dir = filepath.Join(dir, "api-panel")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runningStation is the demo assembly: a station running on a real store
// with in-process virtual readers fed with blank chips, and a stand-in
// for central sending applications of invented people.
type runningStation struct {
	st    *station.Station
	store *queue.Store
	rack  *demo.Rack
}

func startStation(t *testing.T, ctx context.Context, readers int, metrics *Metrics) *runningStation {
	t.Helper()
	dir := t.TempDir()
	store, err := queue.Open(filepath.Join(dir, "station.db"), testKey(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := sharedPKI(t)
	sgn, err := signer.Open(ctx, p.Signer)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelError}))
	runCtx, stop := context.WithCancel(ctx)
	rack := demo.NewRack(runCtx, demo.RackOptions{Readers: readers, Log: log})
	st, err := station.New(station.Options{Store: store, Readers: rack, Signer: sgn, CSCAs: p.CSCAs,
		Observer: metrics, Log: log, SignerCheckEvery: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Run(runCtx)
	}()
	central := &demo.Central{Station: st, Store: store, Backlog: 6, Seed: 7, Log: log}
	centralDone := make(chan struct{})
	go func() {
		defer close(centralDone)
		central.Run(runCtx)
	}()
	t.Cleanup(func() {
		stop()
		<-done
		<-centralDone
		rack.Wait()
		sgn.Close()
		store.Close()
	})
	return &runningStation{st: st, store: store, rack: rack}
}

// TestPanelInABrowser drives the panel in headless Chromium against a
// running station: log in, see the readers, pause one and see it change
// without a reload, see cards being issued, survive a dropped connection.
func TestPanelInABrowser(t *testing.T) {
	exe := chromium(t)
	if testing.Short() {
		t.Skip("-short: the browser test runs a station and Chromium")
	}
	out := artifacts(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	m := NewMetrics()
	rs := startStation(t, ctx, 2, m)
	auth := openTestAuth(t, filepath.Join(t.TempDir(), "auth.db"))
	if err := auth.AddUser("hoa", RoleTechnician, "mật khẩu của Hoa 2026"); err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Store: storeFor(rs.store, rs.st), Control: rs.st, Auth: auth, Metrics: m, LiveDebounce: 100 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn})), Version: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("accept-lang", "vi-VN,vi"), // a browser on the floor

		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	step := func(name string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, c := context.WithTimeout(bctx, timeout)
		defer c()
		if err := chromedp.Do(sctx, steps...); err != nil {
			shot(t, bctx, out, "failed-"+strings.ReplaceAll(name, " ", "-"))
			t.Fatalf("%s: %v", name, err)
		}
	}
	reader0, reader1 := demo.ReaderName(0), demo.ReaderName(1)
	row := func(r string) string { return fmt.Sprintf(`tr[data-reader=%q]`, r) }

	// The first Run starts the browser: no timeout on it.
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/panel/")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	step("login page", 20*time.Second, chromedp.WaitVisible(chromedp.CSS("#login-user")))
	if title, _ := chromedp.Run(bctx, chromedp.Title()); !strings.HasPrefix(title, "Đăng nhập") {
		t.Errorf("login page title %q: not Vietnamese for a Vietnamese browser", title)
	}
	shot(t, bctx, out, "01-login")
	step("log in", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#login-user"), "hoa"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "mật khẩu của Hoa 2026"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS(row(reader0))),
		chromedp.WaitVisible(chromedp.CSS(row(reader1))),
		chromedp.WaitVisible(chromedp.CSS(`#live-status[data-state="on"]`)),
	)
	title, _ := chromedp.Run(bctx, chromedp.Title())
	if !strings.Contains(title, "Tổng quan trạm") {
		t.Errorf("overview title %q: not the Vietnamese overview", title)
	}
	shot(t, bctx, out, "02-overview")

	// A mark on the page: a reload would wipe it.
	step("mark the page", 5*time.Second, chromedp.Evaluate[chromedp.Void](`window.__sameDocument = 4242`))
	sameDocument := func(what string) {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.__sameDocument || 0`))
		if err != nil || v != 4242 {
			t.Fatalf("%s: the page was reloaded (mark %d, %v)", what, v, err)
		}
	}

	step("pause a reader", 30*time.Second,
		chromedp.Click(chromedp.CSS(row(reader0)+` button.pause`)),
		chromedp.WaitVisible(chromedp.CSS(row(reader0)+`[data-paused="true"] button.resume`)),
	)
	sameDocument("after the pause")
	if !rs.st.Snapshot().Readers[0].Paused {
		t.Fatal("the station's reader is not paused")
	}
	shot(t, bctx, out, "03-paused")

	// Cards are issued by the other reader; the count appears by itself.
	step("a card issued", 3*time.Minute,
		chromedp.Poll[chromedp.Void](`Number(document.getElementById('issued-hour').textContent) > 0`, chromedp.WithPollingTimeout(0)),
	)
	sameDocument("after a card was issued")
	shot(t, bctx, out, "04-issued")

	// The connection drops (a restart of a proxy, a cable): the stream
	// reconnects and shows what changed meanwhile.
	srv.CloseClientConnections()
	if err := rs.st.Pause(reader1); err != nil {
		t.Fatal(err)
	}
	step("reconnect", 30*time.Second,
		chromedp.WaitVisible(chromedp.CSS(row(reader1)+`[data-paused="true"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#live-status[data-state="on"]`)),
	)
	sameDocument("after the reconnection")
	shot(t, bctx, out, "05-reconnected")

	// Resume from the page; the audit log has the user's actions.
	step("resume", 30*time.Second,
		chromedp.Click(chromedp.CSS(row(reader0)+` button.resume`)),
		chromedp.WaitVisible(chromedp.CSS(row(reader0)+`[data-paused="false"]`)),
	)
	for _, action := range []string{"reader_pause", "reader_resume"} {
		entries, err := rs.store.AuditLog(ctx, queue.AuditFilter{Actor: "hoa", Action: action, Subject: reader0, Limit: 10})
		if err != nil || len(entries) == 0 {
			t.Errorf("no audit entry %s by hoa: %v", action, err)
		}
	}
	step("switch to English", 20*time.Second,
		chromedp.Click(chromedp.CSS("#lang-switch")),
		chromedp.WaitReady(chromedp.CSS(`body[data-lang="en"]`)),
		chromedp.WaitVisible(chromedp.CSS(row(reader0))),
		chromedp.WaitVisible(chromedp.CSS(`#live-status[data-state="on"]`)),
	)
	if title, _ := chromedp.Run(bctx, chromedp.Title()); !strings.Contains(title, "Station overview") {
		t.Errorf("after switching: title %q", title)
	}
	shot(t, bctx, out, "06-english")
	t.Logf("screenshots in %s", out)
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	ext := ".png"
	if len(png) > 2 && png[0] == 0xFF && png[1] == 0xD8 {
		ext = ".jpg"
	}
	if err := os.WriteFile(filepath.Join(dir, name+ext), png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}
