package vcard_test

import (
	"os"
	"testing"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/pcscdtest"
)

const stackReaders = 12

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// A child process of a test (see crashingStation): it uses the
		// parent's pcscd and must not start one.
		os.Exit(helperMain())
	}
	pcscdtest.Main(m, stackReaders)
}

var pool = func() chan int {
	c := make(chan int, stackReaders)
	for i := 0; i < stackReaders; i++ {
		c <- i
	}
	return c
}()

// takeReader reserves one reader of the shared stack for the test; the
// test's own cleanups (registered later, run earlier) empty it first.
func takeReader(t *testing.T) int {
	t.Helper()
	select {
	case i := <-pool:
		t.Cleanup(func() { pool <- i })
		return i
	case <-time.After(20 * time.Second):
		t.Fatal("no free reader in 20 s")
		return -1
	}
}

// waitPresent waits until List shows the reader with (or without) a card.
func waitPresent(t testing.TB, r pcsc.Readers, reader string, present bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		states, err := r.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if s.Name == reader && s.Present == present {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("reader %q: present = %v not seen within 5 s", reader, present)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
