package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/queue"
)

// startOnSmallDisk runs the daemon with its data directory on a tmpfs of
// size bytes mounted in a private mount namespace (as pcscdtest does for
// /run/pcscd): a real file system that fills. The test reaches it through
// /proc/PID/root. Root only.
func (r *daemonRig) startOnSmallDisk(out io.Writer, small string, size int) *exec.Cmd {
	r.t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			r.t.Fatalf("a small file system needs root and unshare (util-linux): %v", err)
		}
		r.t.Skip("a small file system needs root and unshare (util-linux)")
	}
	args, _ := json.Marshal([]string{"--config", r.config})
	script := `mount -t tmpfs -o size=` + fmt.Sprint(size) + ` tmpfs "$SMALL" && cp "$AUTH" "$SMALL/auth.db" && exec "$@"`
	cmd := exec.Command(unshare, "-m", "--propagation", "private", "sh", "-c", script, "sh", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STATIOND_TEST_ARGS="+string(args), "SMALL="+small, "AUTH="+filepath.Join(r.dir, "auth.db"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	return cmd
}

func (r *daemonRig) get(path string) (int, []byte) {
	req, _ := http.NewRequest("GET", "http://"+r.listen+path, nil)
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// fill writes a file until the file system is full (ENOSPC).
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// Then byte by byte what is left of the last block.
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	f.Sync()
}

// The disk under the job store fills up while cards are in flight (a real
// tmpfs, filled by a file): no card leaves the station before its fate is
// durably recorded, the station is not ready and says why, and once space
// is freed it resumes by itself and finishes every application.
func TestFullDiskKeepsCardsUntilTheirFateIsRecorded(t *testing.T) {
	slow := emrtd.Latency{PerCommand: 4 * time.Millisecond}
	r := newDaemonRig(t, []int{0, 1}, func() vcard.Persistent { return emrtd.New(emrtd.ModelShort80, emrtd.WithLatency(slow)) })
	small := filepath.Join(r.dir, "small")
	if err := os.Mkdir(small, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(r.config)
	cfg = bytes.Replace(cfg, []byte("data_dir: "+r.dir), []byte("data_dir: "+small), 1)
	cfg = bytes.Replace(cfg, []byte("  max_attempts: 10\n"), []byte("  max_attempts: 10\n  min_free_bytes: 1048576\n"), 1)
	os.WriteFile(r.config, cfg, 0o600)

	var logs logBuffer
	cmd := r.startOnSmallDisk(&logs, small, 24<<20)
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}()
	docs, ids := inventApplicants(t, 77, 8)
	r.submit(docs)
	inside := fmt.Sprintf("/proc/%d/root%s", cmd.Process.Pid, small)

	// Fill the disk while a card is being written.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		busy := false
		for _, s := range r.states(ids) {
			busy = busy || s == string(queue.StatePersonalizing)
		}
		if busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no card started\n%s", tail(logs.String(), 3000))
		}
	}
	fill(t, filepath.Join(inside, "filler"))

	// Not ready, and says why.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, body := r.get("/readyz")
		if code == http.StatusServiceUnavailable && (bytes.Contains(body, []byte("store_unwritable")) || bytes.Contains(body, []byte("store_low_space"))) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz with a full disk: %d %s\n%s", code, body, tail(logs.String(), 3000))
		}
	}
	// Every card that left the readers meanwhile is recorded.
	time.Sleep(3 * time.Second)
	r.checkEjectedAreRecorded(ids)
	_, metrics := r.get("/metrics")
	if !bytes.Contains(metrics, []byte("station_store_low_space 1")) && !bytes.Contains(metrics, []byte("station_store_writable 0")) {
		t.Errorf("the metrics do not tell the store's trouble")
	}

	// Space comes back: the station resumes by itself and finishes.
	if err := os.Remove(filepath.Join(inside, "filler")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		st := r.states(ids)
		done := st != nil
		for _, id := range ids {
			done = done && st[id] == string(queue.StateIssued)
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not finished after the disk was freed: %v\n%s", st, tail(logs.String(), 4000))
		}
	}
	r.checkEjectedAreRecorded(ids)
	t.Logf("daemon log mentions the store failing to write: %v", strings.Contains(logs.String(), "the store cannot write"))
}

// checkEjectedAreRecorded: every written card the feeders took out of the
// readers is recorded, verified or spoiled, under one of the applications.
func (r *daemonRig) checkEjectedAreRecorded(ids []string) {
	r.t.Helper()
	recorded := map[string]queue.CardState{}
	for _, id := range ids {
		code, body := r.get("/api/v1/applications/" + id)
		if code != http.StatusOK {
			r.t.Fatalf("status of %s: %d", id, code)
		}
		var s queue.Status
		json.Unmarshal(body, &s)
		for _, c := range s.Cards {
			recorded[c.Serial] = c.State
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for serial := range r.ejected {
		if st := recorded[serial]; !slices.Contains([]queue.CardState{queue.CardVerified, queue.CardSpoiled}, st) {
			r.t.Errorf("card %s left the reader while recorded as %q", serial, st)
		}
	}
}
