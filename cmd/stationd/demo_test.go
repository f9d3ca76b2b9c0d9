package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cccd-station/station/api"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/personalization/pki"
	"github.com/cccd-station/station/personalization/signer"
	"github.com/cccd-station/station/queue"
)

// demoRun is `stationd --demo` on a data directory, as a child process.
type demoRun struct {
	t       *testing.T
	dir     string
	listen  string
	profile string
	logs    logBuffer
	cmd     *exec.Cmd
}

func (d *demoRun) start() {
	d.t.Helper()
	a := []string{"--demo", "--data-dir", d.dir, "--listen", d.listen, "--inprocess-readers", "2"}
	if d.profile != "" {
		a = append(a, "--profile", d.profile)
	}
	args, _ := json.Marshal(a)
	d.cmd = exec.Command(os.Args[0], "-test.run=^$")
	d.cmd.Env = append(os.Environ(), "STATIOND_TEST_ARGS="+string(args))
	d.cmd.Stdout, d.cmd.Stderr = &d.logs, &d.logs
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
}

func (d *demoRun) credentials() DemoCredentials {
	d.t.Helper()
	var c DemoCredentials
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(d.dir, "demo-credentials.json"))
		if err == nil && json.Unmarshal(b, &c) == nil && c.CentralToken != "" {
			return c
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("no demo credentials: %v\n%s", err, tail(d.logs.String(), 3000))
		}
	}
}

// events reads the whole event feed with central's token (nil while the
// daemon does not answer).
func (d *demoRun) events(token string) []queue.Event {
	var all []queue.Event
	after := int64(0)
	for {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/api/v1/events?after=%d&limit=1000", d.listen, after), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			d.t.Fatalf("events: %d %s", resp.StatusCode, body)
		}
		var page api.EventPage
		json.Unmarshal(body, &page)
		all = append(all, page.Events...)
		if len(page.Events) == 0 {
			return all
		}
		after = page.NextCursor
	}
}

func count(evs []queue.Event, st queue.State) int {
	n := 0
	for _, e := range evs {
		if e.State == st {
			n++
		}
	}
	return n
}

// waitIssued waits until the feed holds more than n issued events.
func (d *demoRun) waitIssued(token string, n int) int {
	d.t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if got := count(d.events(token), queue.StateIssued); got > n {
			return got
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("no card issued beyond %d\n%s", n, tail(d.logs.String(), 4000))
		}
	}
}

func (d *demoRun) stop(sig syscall.Signal) {
	d.t.Helper()
	d.cmd.Process.Signal(sig)
	err := d.cmd.Wait()
	if sig == syscall.SIGTERM && err != nil {
		d.t.Fatalf("demo exit after SIGTERM: %v\n%s", err, tail(d.logs.String(), 3000))
	}
}

// The README's main command works more than once: the demo starts again on
// its data directory after SIGTERM and after kill -9 in the middle of a
// card, with the same credentials and its queue, recovers the card that was
// in flight, and keeps issuing.
func TestDemoStartsAgainAfterSIGTERMAndAfterKill9(t *testing.T) {
	d := &demoRun{t: t, dir: filepath.Join(t.TempDir(), "demo-data"), listen: freePort(t)}
	d.start()
	creds := d.credentials()
	issued := d.waitIssued(creds.CentralToken, 0)
	d.stop(syscall.SIGTERM)

	// Again after SIGTERM: the same credentials, and more cards.
	d.start()
	issued = d.waitIssued(creds.CentralToken, issued)
	if again := d.credentials(); again != creds {
		t.Errorf("the credentials changed across a restart")
	}

	// kill -9 while a card is being written.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		evs := d.events(creds.CentralToken)
		if len(evs) > 0 && evs[len(evs)-1].State == queue.StatePersonalizing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never caught a card in the middle\n%s", tail(d.logs.String(), 3000))
		}
	}
	d.stop(syscall.SIGKILL)
	d.start()
	d.waitIssued(creds.CentralToken, issued)
	d.stop(syscall.SIGTERM)

	// Nothing is left in flight, and the credentials file still opens the
	// station.
	key, err := queue.LoadKey(filepath.Join(d.dir, "data.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	store, err := queue.Open(filepath.Join(d.dir, "station.db"), key, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inflight, err := store.InFlight(context.Background(), "")
	store.Close()
	if err != nil || len(inflight) != 0 {
		t.Errorf("%d cards left in flight after the last SIGTERM (%v)", len(inflight), err)
	}
	auth, err := api.OpenAuth(filepath.Join(d.dir, "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	if ok, err := auth.PasswordIs(creds.Technician.User, creds.Technician.Password); !ok || err != nil {
		t.Errorf("the technician login of demo-credentials.json no longer works (%v)", err)
	}
	if ok, err := auth.TokenIs(context.Background(), creds.CentralToken, "demo-central", api.RoleCentral); !ok || err != nil {
		t.Errorf("central's token of demo-credentials.json no longer works (%v)", err)
	}
}

// A production configuration names the profile (here for every product by
// default) and the SCP03 master keys; the daemon then issues cccd cards
// through pcscd like JMRTD ones.
func TestDaemonIssuesCCCDCardsThroughPCSCD(t *testing.T) {
	// The feeders start before the rig's PKI holds the SCP03 master keys:
	// their first blank chips wait for them.
	var chipMaster emrtd.SCP03Master
	masterReady := make(chan struct{})
	r := newDaemonRig(t, []int{1, 2}, func() vcard.Persistent {
		<-masterReady
		return emrtd.New(emrtd.ModelCCCD, emrtd.WithSCP03Master(chipMaster))
	})
	var ready sync.Once
	release := func() { ready.Do(func() { close(masterReady) }) }
	t.Cleanup(release) // before the rig's own cleanup waits for its feeders
	kvn, enc, mac, dek, err := signer.SCP03FileKeys(filepath.Join(r.dir, "pki", pki.SCP03File))
	if err != nil {
		t.Fatal(err)
	}
	if chipMaster, err = emrtd.NewSCP03Master(kvn, enc, mac, dek); err != nil {
		t.Fatal(err)
	}
	release()
	cfg, _ := os.ReadFile(r.config)
	cfg = append(cfg, []byte(fmt.Sprintf("profile: cccd\nscp03:\n  backend: file\n  file: %s\n", filepath.Join(r.dir, "pki", pki.SCP03File)))...)
	os.WriteFile(r.config, cfg, 0o600)
	var logs logBuffer
	cmd := r.start(&logs)
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	docs, ids := inventApplicants(t, 88, 4)
	r.submit(docs)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		st := r.states(ids)
		done := st != nil
		for _, id := range ids {
			done = done && st[id] == string(queue.StateIssued)
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not issued: %v\n%s", st, tail(logs.String(), 4000))
		}
	}
}

// `stationd --demo --profile cccd` issues cccd chips (PACE, Chip
// Authentication, keys made on the chip) with the TEST SCP03 keys of its
// PKI.
func TestDemoWithTheCCCDProfile(t *testing.T) {
	d := &demoRun{t: t, dir: filepath.Join(t.TempDir(), "demo-data"), listen: freePort(t), profile: "cccd"}
	d.start()
	creds := d.credentials()
	d.waitIssued(creds.CentralToken, 2)
	d.stop(syscall.SIGTERM)
	if !strings.Contains(d.logs.String(), "card issued") {
		t.Errorf("no card issued:\n%s", tail(d.logs.String(), 3000))
	}
}
