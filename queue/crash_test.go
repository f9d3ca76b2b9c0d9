package queue

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test re-executes this test binary as a child that works the
// store in a loop and prints each result after the call returned; the
// parent kills it with SIGKILL at a random moment. (SIGKILL tests a
// process crash: what the kernel had accepted survives. Power loss is what
// synchronous=FULL is for, and cannot be simulated here.)
const (
	crashChildDB  = "QUEUE_CRASH_CHILD_DB"
	crashChildRun = "QUEUE_CRASH_CHILD_RUN"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildDB); path != "" {
		crashChild(path, os.Getenv(crashChildRun))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild prints "STATE ID" for every state change the store confirmed
// and "writing SERIAL" for every card marked writing, until killed.
func crashChild(path, run string) {
	die := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "crash child: %s: %v\n", what, err)
		os.Exit(2)
	}
	s, err := Open(path, testKey(), Options{MaxAttempts: 3})
	if err != nil {
		die("open", err)
	}
	say := func(format string, a ...any) { fmt.Fprintf(os.Stdout, format+"\n", a...) }
	// Recovery as the station does it: here every card in flight is
	// declared spoiled.
	claims, err := s.InFlight(ctx, "")
	if err != nil {
		die("in flight", err)
	}
	for _, c := range claims {
		st, err := s.MarkSpoiled(ctx, c, "crash recovery")
		if err != nil {
			die("recovery", err)
		}
		say("%s %s", st, c.ApplicationID)
	}
	say("READY")
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%05d", run, i)
		res, err := s.Submit(ctx, []Submission{subOf(id, rawApp(id, 4096))})
		if err != nil {
			die("submit", err)
		}
		say("%s %s", res[0].State, id)
		jobs, err := s.ToPrepare(ctx, 4, nil)
		if err != nil {
			die("to prepare", err)
		}
		for _, j := range jobs {
			if err := s.SetPrepared(ctx, j.ApplicationID, image(j.ApplicationID)); err != nil {
				die("prepare", err)
			}
			say("%s %s", StatePrepared, j.ApplicationID)
		}
		c, err := s.Claim(ctx, "reader-1", fmt.Sprintf("%s-S%05d", run, i))
		if err != nil {
			die("claim", err)
		}
		say("%s %s", StatePersonalizing, c.ApplicationID)
		if err := s.MarkWriting(ctx, c); err != nil {
			die("writing", err)
		}
		say("writing %s", c.Serial)
		if i%5 == 4 {
			st, err := s.MarkSpoiled(ctx, c, "test: spoiled")
			if err != nil {
				die("spoil", err)
			}
			say("%s %s", st, c.ApplicationID)
			continue
		}
		if err := s.MarkVerifying(ctx, c); err != nil {
			die("verifying", err)
		}
		say("%s %s", StateVerifying, c.ApplicationID)
		if err := s.MarkIssued(ctx, c, Issue{SODHash: []byte{1}}); err != nil {
			die("issue", err)
		}
		say("%s %s", StateIssued, c.ApplicationID)
		if i%10 == 9 {
			last, _ := s.LastEvent(ctx)
			if _, err := s.Ack(ctx, last); err != nil {
				die("ack", err)
			}
			if _, err := s.Purge(ctx); err != nil {
				die("purge", err)
			}
		}
	}
}

// crashRun starts a child, lets it work for a random while after it is
// ready, kills it with SIGKILL and returns the complete lines it printed.
func crashRun(t *testing.T, path, run string, rng *rand.Rand) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildDB+"="+path, crashChildRun+"="+run)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	ready := make(chan struct{})
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil { // EOF: a line cut by the kill is not a promise
				io.Copy(io.Discard, r)
				return
			}
			line = strings.TrimSuffix(line, "\n")
			if line == "READY" {
				close(ready)
				continue
			}
			mu.Lock()
			lines = append(lines, line)
			mu.Unlock()
		}
	}()
	select {
	case <-ready:
	case <-eof:
		cmd.Wait()
		t.Fatalf("child %s ended before it was ready: %s", run, stderr.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("child %s not ready", run)
	}
	time.Sleep(time.Duration(5+rng.IntN(150)) * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-eof
	cmd.Wait()
	if strings.Contains(stderr.String(), "crash child:") {
		t.Fatalf("child %s failed: %s", run, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	return lines
}

func TestEveryConfirmedChangeSurvivesKill9(t *testing.T) {
	runs := 20
	if testing.Short() {
		runs = 5
	}
	path := filepath.Join(t.TempDir(), "station.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var promised []string
	total := 0
	for run := 0; run < runs; run++ {
		lines := crashRun(t, path, fmt.Sprintf("R%02d", run), rng)
		promised = append(promised, lines...)
		total += len(lines)

		s, err := Open(path, testKey(), Options{MaxAttempts: 3})
		if err != nil {
			t.Fatalf("reopening after kill %d: %v", run, err)
		}
		events := map[string]bool{}
		for _, e := range allEvents(t, s) { // gap-free
			events[string(e.State)+" "+e.ApplicationID] = true
		}
		for _, p := range promised {
			if serial, ok := strings.CutPrefix(p, "writing "); ok {
				var started *int64
				if err := s.r.QueryRow("SELECT write_started_at FROM cards WHERE serial = ?", serial).Scan(&started); err != nil || started == nil {
					t.Fatalf("after kill %d: card %s was confirmed writing, the store lost it (%v)", run, serial, err)
				}
				continue
			}
			if !events[p] {
				t.Fatalf("after kill %d: the child was told %q, the store lost it", run, p)
			}
		}
		mustVerifyAudit(t, s)
		s.Close()
	}
	t.Logf("%d kills, %d confirmed results checked", runs, total)
}
