// Package pcscdtest starts an isolated pcscd with N virtual readers (Debian's
// vsmartcard-vpcd driver) for tests, benchmarks and manual work.
//
// The pcscd runs in a private mount namespace with its own /run/pcscd
// (test-stack.md):
//
//	unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /run/pcscd && exec pcscd -f -c DIR'
//
// with one reader.conf entry per pair of readers, each entry with its own
// copy of the vpcd driver (entries sharing one LIBPATH overwrite each
// other). Reader i listens for its card on TCP port Port(i) (0.0.0.0 — test
// machines only); a virtual card connects there (package pcsc/vcard, Plug).
//
// Port ranges are reserved with lock files, /tmp/cccd-pcscd-ports-K.lock
// (flock), each K a block of 32 ports from 20000 (below Linux's ephemeral
// range), so that the test binaries of several packages running at once
// never collide.
//
// libpcsclite reads PCSCLITE_CSOCK_NAME once per process and caches it.
// Start therefore points the variable, once, at a symbolic link owned by
// the process, and points the link at the running pcscd's socket
// (/proc/<pid>/root/run/pcscd/pcscd.comm): Restart and later stacks in the
// same process re-point it. Only one stack runs in a process at a time.
// Start must come before any other PC/SC call of the process (TestMain:
// Main).
//
// pcscd and its driver copies are torn down by Close, and by the kernel when
// the test binary dies (parent-death signal).
package pcscdtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ebfe/scard"
)

// Limits and defaults.
const (
	MaxReaders = 16 // pcsc-lite's PCSCLITE_MAX_READERS_CONTEXTS
	PortBlock  = 32 // ports reserved per lock file
	maxBlocks  = 64
	// DefaultPortBase is the first port of block 0; override with
	// CCCD_PCSCD_PORT_BASE.
	DefaultPortBase = 20000
	startTimeout    = 10 * time.Second
	stopTimeout     = 3 * time.Second
)

// ErrUnavailable: pcscd, unshare or the vpcd driver is not installed.
var ErrUnavailable = errors.New("pcscdtest: PC/SC test stack not installed")

// tools are the programs and files a stack needs.
type tools struct {
	pcscd, unshare, driver string
}

func findTools() (tools, error) {
	var t tools
	var missing []string
	if p, err := exec.LookPath("pcscd"); err == nil {
		t.pcscd = p
	} else if _, err := os.Stat("/usr/sbin/pcscd"); err == nil {
		t.pcscd = "/usr/sbin/pcscd"
	} else {
		missing = append(missing, "pcscd (apt-get install pcscd)")
	}
	if p, err := exec.LookPath("unshare"); err == nil {
		t.unshare = p
	} else {
		missing = append(missing, "unshare (util-linux)")
	}
	drv := os.Getenv("CCCD_VPCD_DRIVER")
	if drv == "" {
		matches, _ := filepath.Glob("/usr/lib/pcsc/drivers/serial/libifdvpcd.so*")
		sort.Strings(matches)
		if len(matches) > 0 {
			drv = matches[0]
		}
	}
	if drv != "" {
		if _, err := os.Stat(drv); err == nil {
			t.driver = drv
		}
	}
	if t.driver == "" {
		missing = append(missing, "the vpcd driver libifdvpcd.so (apt-get install vsmartcard-vpcd)")
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("%w: missing %s", ErrUnavailable, strings.Join(missing, ", "))
	}
	if os.Geteuid() != 0 {
		return t, fmt.Errorf("%w: unshare -m and mount need root", ErrUnavailable)
	}
	return t, nil
}

// Available reports whether a stack can be started here (nil), or what is
// missing.
func Available() error {
	_, err := findTools()
	return err
}

// CI reports whether the CI variable is set (true, 1, yes...): a missing
// stack is then a failure, not a skip.
func CI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "0" && v != "false" && v != "no"
}

// Stack is one isolated pcscd with its vpcd readers.
type Stack struct {
	n     int
	base  int
	tools tools
	dir   string
	lock  *os.File
	names []string

	mu     sync.Mutex
	proc   *process
	closed bool
}

type process struct {
	pid    int
	exited chan struct{}
	log    *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The process-wide socket link (see the package comment).
var (
	procMu      sync.Mutex
	procRunning *Stack
	procLinkDir string
)

// SocketEnv is the environment variable libpcsclite reads.
const SocketEnv = "PCSCLITE_CSOCK_NAME"

// Start starts a pcscd with n vpcd readers (1..16), points this process's
// PC/SC clients at it and returns when pcscd lists them all. pcscd itself
// always has an even number of readers (two per driver entry); the stack
// exposes the first n.
func Start(n int) (*Stack, error) {
	if n < 1 || n > MaxReaders {
		return nil, fmt.Errorf("pcscdtest: %d readers: must be 1..%d", n, MaxReaders)
	}
	t, err := findTools()
	if err != nil {
		return nil, err
	}
	procMu.Lock()
	defer procMu.Unlock()
	if procRunning != nil {
		return nil, errors.New("pcscdtest: a stack is already running in this process (libpcsclite talks to one pcscd per process): Close it first")
	}
	sweepStale()
	s := &Stack{n: n, tools: t}
	entries := (n + 1) / 2
	if s.base, s.lock, err = reservePorts(2 * entries); err != nil {
		return nil, err
	}
	if s.dir, err = makeOwnedDir("cccd-pcscd-"); err != nil {
		s.lock.Close()
		return nil, fmt.Errorf("pcscdtest: %w", err)
	}
	if err := s.writeConfig(entries); err != nil {
		s.cleanup()
		return nil, err
	}
	if err := pointSocket(""); err != nil {
		s.cleanup()
		return nil, err
	}
	if err := s.start(); err != nil {
		s.cleanup()
		return nil, err
	}
	procRunning = s
	return s, nil
}

// portBase is the first port of block 0.
func portBase() int {
	if v, err := strconv.Atoi(os.Getenv("CCCD_PCSCD_PORT_BASE")); err == nil && v > 0 && v < 65536-PortBlock*maxBlocks {
		return v
	}
	return DefaultPortBase
}

// reservePorts takes the first free block: its lock file locked (flock,
// released when the file is closed or the process dies) and its ports free.
func reservePorts(n int) (int, *os.File, error) {
	base0 := portBase()
	for k := 0; k < maxBlocks; k++ {
		path := fmt.Sprintf("%s/cccd-pcscd-ports-%d.lock", os.TempDir(), k)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			continue
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		base := base0 + k*PortBlock
		if portsFree(base, n) {
			fmt.Fprintf(f, "%d\n", os.Getpid())
			return base, f, nil
		}
		f.Close()
	}
	return 0, nil, fmt.Errorf("pcscdtest: no free block of %d ports from %d (lock files %s/cccd-pcscd-ports-*.lock)", PortBlock, base0, os.TempDir())
}

func portsFree(base, n int) bool {
	for p := base; p < base+n; p++ {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// friendlyName names reader.conf entry j; pcscd appends " 00 00" and
// " 00 01" for its two readers.
func (s *Stack) friendlyName(j int) string {
	return fmt.Sprintf("CCCD vpcd %d", s.base+2*j)
}

func (s *Stack) writeConfig(entries int) error {
	conf := filepath.Join(s.dir, "reader.conf.d")
	if err := os.Mkdir(conf, 0o755); err != nil {
		return fmt.Errorf("pcscdtest: %w", err)
	}
	drv, err := os.ReadFile(s.tools.driver)
	if err != nil {
		return fmt.Errorf("pcscdtest: read vpcd driver: %w", err)
	}
	var b strings.Builder
	for j := 0; j < entries; j++ {
		lib := filepath.Join(s.dir, fmt.Sprintf("libifdvpcd-%d.so", j))
		if err := os.WriteFile(lib, drv, 0o644); err != nil {
			return fmt.Errorf("pcscdtest: copy vpcd driver: %w", err)
		}
		port := s.base + 2*j
		fmt.Fprintf(&b, "FRIENDLYNAME \"%s\"\nDEVICENAME   /dev/null:%d\nLIBPATH      %s\nCHANNELID    %d\n\n",
			s.friendlyName(j), port, lib, port)
	}
	if err := os.WriteFile(filepath.Join(conf, "vpcd"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("pcscdtest: write reader.conf: %w", err)
	}
	return nil
}

// pointSocket makes the process's socket link point at target ("" removes
// it) and sets PCSCLITE_CSOCK_NAME to the link, once.
func pointSocket(target string) error {
	if procLinkDir == "" {
		d, err := makeOwnedDir("cccd-pcscd-sock-")
		if err != nil {
			return fmt.Errorf("pcscdtest: %w", err)
		}
		procLinkDir = d
		os.Setenv(SocketEnv, filepath.Join(d, "pcscd.comm"))
	} else if _, err := os.Stat(procLinkDir); err != nil {
		if err := os.Mkdir(procLinkDir, 0o700); err != nil {
			return fmt.Errorf("pcscdtest: %w", err)
		}
		writeOwner(procLinkDir)
	}
	link := filepath.Join(procLinkDir, "pcscd.comm")
	if target == "" {
		if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pcscdtest: %w", err)
		}
		return nil
	}
	tmp := link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("pcscdtest: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("pcscdtest: %w", err)
	}
	return nil
}

// start runs pcscd and waits until it lists every reader.
func (s *Stack) start() error {
	script := `mkdir -p /run/pcscd && mount -t tmpfs -o mode=0755 tmpfs /run/pcscd && exec "$0" -f -c "$1"`
	cmd := exec.Command(s.tools.unshare, "-m", "--propagation", "private", "sh", "-c", script,
		s.tools.pcscd, filepath.Join(s.dir, "reader.conf.d"))
	p := &process{exited: make(chan struct{}), log: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.Stdin = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // Stop kills the group
		Pdeathsig: syscall.SIGKILL, // and the kernel does when we die
	}
	// The parent-death signal fires when the thread that forked the child
	// exits: fork from a locked thread that lives exactly as long as the
	// child (a goroutine that exits locked takes its thread with it).
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(p.exited)
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pcscdtest: start pcscd: %w", err)
	}
	p.pid = cmd.Process.Pid
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	sock := fmt.Sprintf("/proc/%d/root/run/pcscd/pcscd.comm", p.pid)
	deadline := time.Now().Add(startTimeout)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case <-p.exited:
			return fmt.Errorf("pcscdtest: pcscd exited at start:\n%s", p.log.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stopProcess()
			return fmt.Errorf("pcscdtest: pcscd socket %s did not appear in %s:\n%s", sock, startTimeout, p.log.String())
		}
	}
	if err := pointSocket(sock); err != nil {
		s.stopProcess()
		return err
	}
	if err := s.waitReaders(deadline); err != nil {
		s.stopProcess()
		return fmt.Errorf("%w\npcscd log:\n%s", err, p.log.String())
	}
	return nil
}

// waitReaders polls SCardListReaders until every reader of the stack is
// there, and records their names.
func (s *Stack) waitReaders(deadline time.Time) error {
	entries := (s.n + 1) / 2
	var last []string
	var lastErr error
	for time.Now().Before(deadline) {
		names, err := listReaders()
		last, lastErr = names, err
		if err == nil {
			if got, ok := s.match(names, entries); ok {
				if s.names == nil { // a restart finds the same names: keep the slice readers use
					s.names = got[:s.n]
				}
				return nil
			}
			if len(names) > 0 && !s.ours(names) {
				return fmt.Errorf("pcscdtest: PC/SC clients of this process reach another pcscd (readers %q): libpcsclite reads %s once per process — start the stack before any other PC/SC call", names, SocketEnv)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("pcscdtest: readers not all listed within %s: have %q (%v)", startTimeout, last, lastErr)
}

func listReaders() ([]string, error) {
	ctx, err := scard.EstablishContext()
	if err != nil {
		return nil, err
	}
	defer ctx.Release()
	return ctx.ListReaders()
}

// ours reports whether any listed reader belongs to this stack.
func (s *Stack) ours(names []string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, fmt.Sprintf("CCCD vpcd %d", s.base)) {
			return true
		}
	}
	return false
}

// match maps reader i (entry i/2, slot i%2) to its pcscd name.
func (s *Stack) match(names []string, entries int) ([]string, bool) {
	out := make([]string, 2*entries)
	for i := range out {
		prefix := s.friendlyName(i/2) + " "
		suffix := fmt.Sprintf(" %02X", i%2)
		for _, n := range names {
			if strings.HasPrefix(n, prefix) && strings.HasSuffix(n, suffix) {
				out[i] = n
				break
			}
		}
		if out[i] == "" {
			return nil, false
		}
	}
	return out, true
}

// N is the number of readers.
func (s *Stack) N() int { return s.n }

// Port is the TCP port where reader i waits for its card.
func (s *Stack) Port(i int) int { return s.base + i }

// Addr is the host:port where reader i waits for its card (vcard.Plug).
func (s *Stack) Addr(i int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port(i))) }

// ReaderName is reader i's name as pcscd lists it.
func (s *Stack) ReaderName(i int) string { return s.names[i] }

// ReaderNames lists the stack's readers, reader i at index i.
func (s *Stack) ReaderNames() []string { return append([]string(nil), s.names...) }

// Socket is the value of PCSCLITE_CSOCK_NAME for this process: a link that
// follows the running pcscd across Restart.
func (s *Stack) Socket() string { return filepath.Join(procLinkDir, "pcscd.comm") }

// PID is the running pcscd's process id (0 when stopped).
func (s *Stack) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.pid
}

// ProcSocket is the running pcscd's socket seen from outside its mount
// namespace, /proc/<pid>/root/run/pcscd/pcscd.comm (for other processes).
func (s *Stack) ProcSocket() string {
	return fmt.Sprintf("/proc/%d/root/run/pcscd/pcscd.comm", s.PID())
}

// Log is what pcscd printed so far.
func (s *Stack) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.proc.log.String()
}

// Stop stops pcscd and leaves the stack stopped: PC/SC calls fail with
// SCARD_E_NO_SERVICE until Restart. Cards plugged into the readers see
// their connection closed.
func (s *Stack) Stop() error {
	procMu.Lock()
	defer procMu.Unlock()
	if s.closed {
		return errors.New("pcscdtest: stack closed")
	}
	s.stopProcess()
	return pointSocket("")
}

// Restart stops pcscd (if running) and starts a new one with the same
// readers and ports; it returns when the readers are listed again.
func (s *Stack) Restart() error {
	procMu.Lock()
	defer procMu.Unlock()
	if s.closed {
		return errors.New("pcscdtest: stack closed")
	}
	s.stopProcess()
	return s.start()
}

// stopProcess kills pcscd's process group: SIGTERM, then SIGKILL.
func (s *Stack) stopProcess() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		<-p.exited
	}
}

// Close stops pcscd and removes the stack's files; the port block is
// released.
func (s *Stack) Close() error {
	procMu.Lock()
	defer procMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.stopProcess()
	s.cleanup()
	if procRunning == s {
		procRunning = nil
	}
	_ = pointSocket("")
	if procLinkDir != "" {
		_ = os.RemoveAll(procLinkDir) // re-created with the same name by a later Start
	}
	return nil
}

func (s *Stack) cleanup() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
	if s.lock != nil {
		_ = s.lock.Close()
	}
}

// Describe writes the stack's readers and ports, for humans.
func (s *Stack) Describe(w io.Writer) {
	for i := 0; i < s.n; i++ {
		fmt.Fprintf(w, "reader %2d  %-28q card port %s\n", i, s.names[i], s.Addr(i))
	}
}

// ownerFile names the process that made a stack directory, so that a later
// Start can remove the directories of test binaries that were killed.
const ownerFile = "owner.pid"

func makeOwnedDir(prefix string) (string, error) {
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	writeOwner(d)
	return d, nil
}

func writeOwner(dir string) {
	_ = os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// sweepStale removes stack directories whose owner process is gone.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "cccd-pcscd-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // not ours, or still being made
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}
