package pcscdtest

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

var (
	shared     *Stack
	sharedErr  error // why there is no shared stack
	mainCalled bool
)

// Main is for TestMain: it starts a stack of n readers shared by the
// package's tests (Require), runs them, and tears the stack down.
//
//	func TestMain(m *testing.M) { pcscdtest.Main(m, 4) }
//
// It also raises -test.parallel to n when not given: such tests mostly wait.
//
// When the stack cannot start, the tests still run: those that call Require
// skip (pcscd or vpcd not installed, CI unset) or fail (CI set, or any other
// start failure).
func Main(m *testing.M, n int) {
	os.Exit(run(m, n))
}

func run(m *testing.M, n int) int {
	mainCalled = true
	widenParallel(n)
	s, err := Start(n)
	if err != nil {
		sharedErr = err
		return m.Run()
	}
	shared = s
	defer s.Close()
	return m.Run()
}

// widenParallel raises -test.parallel (default GOMAXPROCS) to the number of
// readers unless it was given: tests through vpcd spend most of their time
// waiting for pcscd's presence poll (0.4 s), not on a CPU.
func widenParallel(n int) {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.parallel") || strings.HasPrefix(a, "--test.parallel") {
			return
		}
	}
	f := flag.Lookup("test.parallel")
	if f == nil {
		return
	}
	if cur, err := strconv.Atoi(f.Value.String()); err == nil && cur < n {
		_ = f.Value.Set(strconv.Itoa(n))
	}
}

// Require returns the stack started by Main, or ends the test: a skip when
// pcscd or vpcd is not installed and CI is unset, a failure otherwise.
func Require(tb testing.TB) *Stack {
	tb.Helper()
	if shared != nil {
		return shared
	}
	if !mainCalled {
		tb.Fatal("pcscdtest: call pcscdtest.Main from TestMain to use Require")
	}
	skipOrFail(tb, sharedErr)
	return nil
}

// StartT starts a stack of its own for one test (no stack may be running in
// the process: packages that use Main cannot use StartT) and closes it at the
// test's end; the skip rules are Require's.
func StartT(tb testing.TB, n int) *Stack {
	tb.Helper()
	s, err := Start(n)
	if err != nil {
		skipOrFail(tb, err)
		return nil
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func skipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if isUnavailable(err) && !CI() {
		tb.Skipf("PC/SC test stack not available, skipping (set CI=true to make this a failure): %v", err)
	}
	if isUnavailable(err) {
		tb.Fatalf("CI is set and the PC/SC test stack is not available: %v\n(apt-get install -y pcscd libpcsclite-dev vsmartcard-vpcd)", err)
	}
	tb.Fatalf("PC/SC test stack did not start: %v", err)
}

func isUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// String describes the stack.
func (s *Stack) String() string {
	return fmt.Sprintf("pcscd pid %d, %d vpcd readers on ports %d-%d", s.PID(), s.n, s.base, s.base+s.n-1)
}
