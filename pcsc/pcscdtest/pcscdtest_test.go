package pcscdtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebfe/scard"
)

// These tests start stacks of their own, one at a time (one per process).

const childEnv = "PCSCDTEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child starts a stack, prints pcscd's pid and waits to be killed.
func child() int {
	s, err := Start(2)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("pid", s.PID())
	time.Sleep(time.Minute)
	return 0
}

func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

func TestStartListsEveryReaderAndCloseCleansUp(t *testing.T) {
	s := StartT(t, 3)
	if s.N() != 3 || len(s.ReaderNames()) != 3 {
		t.Fatalf("N %d, names %q", s.N(), s.ReaderNames())
	}
	if got := os.Getenv(SocketEnv); got != s.Socket() {
		t.Fatalf("%s = %q, want %q", SocketEnv, got, s.Socket())
	}
	ctx, err := scard.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	names, err := ctx.ListReaders()
	ctx.Release()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 4 { // two per driver entry
		t.Errorf("pcscd lists %q, want 4 readers", names)
	}
	for i := 0; i < 3; i++ {
		if !strings.HasPrefix(s.ReaderName(i), "CCCD vpcd ") {
			t.Errorf("reader %d: %q", i, s.ReaderName(i))
		}
		// vpcd listens on the reader's port.
		c, err := net.DialTimeout("tcp", s.Addr(i), time.Second)
		if err != nil {
			t.Errorf("reader %d port %s: %v", i, s.Addr(i), err)
		} else {
			c.Close()
		}
	}
	pid, dir := s.PID(), s.dir
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("pcscd %d still running after Close", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("stack directory %s left behind", dir)
	}
	// The port block is free again.
	f, err := os.OpenFile(fmt.Sprintf("%s/cccd-pcscd-ports-%d.lock", os.TempDir(), (s.base-portBase())/PortBlock), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Errorf("port block still locked after Close: %v", err)
	}
}

func TestOneStackPerProcess(t *testing.T) {
	StartT(t, 1)
	if s, err := Start(1); err == nil {
		s.Close()
		t.Fatal("a second stack started in the same process")
	}
}

func TestPortBlocksNeverOverlap(t *testing.T) {
	// Hold block k's lock as another test binary would: the stack must take
	// another block.
	base := portBase()
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	for k := 0; k < 2; k++ {
		f, err := os.OpenFile(fmt.Sprintf("%s/cccd-pcscd-ports-%d.lock", os.TempDir(), k), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			t.Fatal(err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			held = append(held, f)
		} else {
			f.Close()
		}
	}
	s := StartT(t, 2)
	if s.base == base || s.base == base+PortBlock {
		t.Fatalf("stack took block at %d, which is locked", s.base)
	}
	if (s.base-base)%PortBlock != 0 {
		t.Fatalf("base %d not on a block boundary", s.base)
	}
}

func TestRestartKeepsReadersAndPorts(t *testing.T) {
	s := StartT(t, 2)
	names, pid := s.ReaderNames(), s.PID()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := scard.EstablishContext(); err != scard.ErrNoService {
		t.Fatalf("EstablishContext with pcscd stopped: %v, want SCARD_E_NO_SERVICE", err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.PID() == pid {
		t.Fatal("same pcscd after Restart")
	}
	if got := s.ReaderNames(); strings.Join(got, "|") != strings.Join(names, "|") {
		t.Fatalf("readers %q after restart, were %q", got, names)
	}
}

// A test binary killed with SIGKILL takes its pcscd with it.
func TestPcscdDiesWithTheTestBinary(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "pid ") {
		t.Fatalf("child: %q, %v", line, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "pid ")))
	if !alive(pid) {
		t.Fatalf("pcscd %d not running", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(3 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("pcscd %d survived its test binary", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Its files go at the next Start (or sweep).
	sweepStale()
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "cccd-pcscd-*"))
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join(d, ownerFile)); err == nil && string(b) == strconv.Itoa(cmd.Process.Pid) {
			t.Errorf("directory %s of the killed binary left behind", d)
		}
	}
}
