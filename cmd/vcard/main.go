// Command vcard presents the project's virtual smart cards to a PC/SC reader
// through vsmartcard's vpcd driver, for tests, the demo and QA. It is never
// part of the station's production path.
//
//	vcard --vpcd HOST:PORT                     one blank eMRTD chip (model ext144)
//	vcard --vpcd HOST:PORT --feeder --save-dir DIR
//	                                           blank chips one after another; each
//	                                           written chip the station powers off is
//	                                           saved as DIR/<serial>.json and replaced
//	vcard --vpcd HOST:PORT --load FILE         a saved chip again
//	vcard --vpcd HOST:PORT --piv               the virtual PIV token (Document Signer key)
//	vcard stack [-n N] [--feed --save-dir DIR] an isolated pcscd with N vpcd readers
//
// Chip options: --model ext144|short80|cccd, --latency off|realistic, and
// faults: --remove-after N (the chip leaves the reader after N APDUs),
// --fail-write-at OFFSET[:FID] (UPDATE BINARY over that byte answers 6581),
// --tear-at OFFSET[:FID] (power torn during the UPDATE BINARY over that
// byte). OFFSET is decimal, FID four hex digits (any file when omitted).
//
// The cccd model (personalization/cccd.md) is personalized under SCP03 with
// static keys each chip diversifies from master keys: --scp03-master FILE
// names them (default: the TEST master, KVN 30, ENC = MAC = DEK = 40 41 …
// 4F). FILE is JSON
//
//	{"kvn": "30", "enc": "<hex>", "mac": "<hex>", "dek": "<hex>"}
//
// or four whitespace-separated hex words, KVN ENC MAC DEK (lines starting
// with # are comments); the keys are AES-128, -192 or -256, all of one
// length. A saved chip (--load) keeps its own keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/pcsc/vcard/piv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	if len(args) > 0 && args[0] == "stack" {
		err = runStack(ctx, args[1:], stdout, stderr)
	} else {
		err = runCard(ctx, args, stdout, stderr)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "vcard: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "vcard: %v\n", err)
		return 1
	}
}

var errUsage = errors.New("usage")

func usagef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

// chipFlags are the options of a virtual eMRTD chip.
type chipFlags struct {
	model       string
	latency     string
	removeAfter int
	failWriteAt string
	tearAt      string
	scp03Master string
	// scp03Note says which master new cccd chips use (set by options).
	scp03Note string
}

func (c *chipFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.model, "model", "ext144", "eMRTD chip model: "+strings.Join(modelNames(), " | "))
	fs.StringVar(&c.latency, "latency", "off", "chip timing: off | realistic")
	fs.IntVar(&c.removeAfter, "remove-after", 0, "fault: the chip leaves the reader after `N` APDUs")
	fs.StringVar(&c.failWriteAt, "fail-write-at", "", "fault: UPDATE BINARY over `OFFSET[:FID]` answers 6581")
	fs.StringVar(&c.tearAt, "tear-at", "", "fault: power torn during the UPDATE BINARY over `OFFSET[:FID]`")
	fs.StringVar(&c.scp03Master, "scp03-master", "", "cccd model: SCP03 master keys from `FILE` (JSON {\"kvn\",\"enc\",\"mac\",\"dek\"} in hex,\n"+
		"or the hex words KVN ENC MAC DEK); default the TEST master: KVN 30, 404142…4F")
}

func modelNames() []string {
	names := make([]string, len(emrtd.Models))
	for i, m := range emrtd.Models {
		names[i] = m.Name
	}
	return names
}

// options turns the flags into emrtd options.
func (c *chipFlags) options() (emrtd.Model, []emrtd.Option, error) {
	m, ok := emrtd.ModelByName(c.model)
	if !ok {
		return m, nil, usagef("--model %q: one of %s", c.model, strings.Join(modelNames(), ", "))
	}
	var opts []emrtd.Option
	if c.scp03Master != "" {
		if m.CommandSet != emrtd.CommandSetCCCD {
			return m, nil, usagef("--scp03-master: only the cccd model is personalized under SCP03")
		}
		master, err := readSCP03Master(c.scp03Master)
		if err != nil {
			return m, nil, err
		}
		opts = append(opts, emrtd.WithSCP03Master(master))
		c.scp03Note = fmt.Sprintf("cccd chips: %s from %s", master, c.scp03Master)
	} else if m.CommandSet == emrtd.CommandSetCCCD {
		c.scp03Note = fmt.Sprintf("cccd chips: the TEST %s (40 41 … 4F)", emrtd.TestSCP03Master)
	}
	switch c.latency {
	case "off":
	case "realistic":
		opts = append(opts, emrtd.WithLatency(m.Latency))
	default:
		return m, nil, usagef("--latency %q: off or realistic", c.latency)
	}
	if c.removeAfter < 0 {
		return m, nil, usagef("--remove-after %d: must be ≥ 0", c.removeAfter)
	}
	f := emrtd.Faults{RemoveAfter: c.removeAfter}
	var err error
	if f.MemoryFailure, err = parseWriteFault("--fail-write-at", c.failWriteAt); err != nil {
		return m, nil, err
	}
	if f.Tear, err = parseWriteFault("--tear-at", c.tearAt); err != nil {
		return m, nil, err
	}
	if f != (emrtd.Faults{}) {
		opts = append(opts, emrtd.WithFaults(f))
	}
	return m, opts, nil
}

// describe prints which SCP03 master new cccd chips use.
func (c *chipFlags) describe(w io.Writer) {
	if c.scp03Note != "" {
		fmt.Fprintln(w, c.scp03Note)
	}
}

// parseWriteFault reads OFFSET[:FID]: a decimal offset, a 4-hex-digit FID.
func parseWriteFault(name, s string) (*emrtd.WriteFault, error) {
	if s == "" {
		return nil, nil
	}
	off, fid, hasFID := strings.Cut(s, ":")
	n, err := strconv.Atoi(off)
	if err != nil || n < 0 {
		return nil, usagef("%s %q: OFFSET must be a decimal number ≥ 0", name, s)
	}
	if !hasFID {
		return emrtd.AnyFile(n), nil
	}
	v, err := strconv.ParseUint(fid, 16, 16)
	if err != nil || len(fid) != 4 || v == 0 {
		return nil, usagef("%s %q: FID must be four hex digits, e.g. 0101", name, s)
	}
	return emrtd.InFile(uint16(v), n), nil
}

func runCard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vcard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr     = fs.String("vpcd", "127.0.0.1:35963", "the vpcd reader's `HOST:PORT` (Debian's first reader: 35963)")
		feeder   = fs.Bool("feeder", false, "present blank chips one after another (see --save-dir)")
		saveDir  = fs.String("save-dir", "", "save written chips as `DIR`/<serial>.json")
		load     = fs.String("load", "", "present the chip saved in `FILE`")
		usePIV   = fs.Bool("piv", false, "present the virtual PIV token instead of an eMRTD chip")
		pivSer   = fs.Uint("piv-serial", 0, "the PIV token's serial number (default: the package's)")
		verbose  = fs.Bool("v", false, "log insertions and removals")
		chipOpts chipFlags
	)
	chipOpts.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vcard --vpcd HOST:PORT [--feeder --save-dir DIR | --load FILE | --piv] [chip options]")
		fmt.Fprintln(stderr, "       vcard stack [-n N] [--feed --save-dir DIR] [chip options]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	modes := 0
	for _, on := range []bool{*feeder, *load != "", *usePIV} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return usagef("--feeder, --load and --piv exclude each other")
	}
	if *load != "" && chipOpts.scp03Master != "" {
		return usagef("--scp03-master with --load: a saved chip keeps its own SCP03 keys")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	switch {
	case *usePIV:
		var opts []piv.Option
		if *pivSer != 0 {
			opts = append(opts, piv.WithSerial(uint32(*pivSer)))
		}
		tok := piv.New(opts...)
		fmt.Fprintf(stdout, "PIV token in %s\n", *addr)
		return present(ctx, *addr, tok, log)
	case *feeder:
		m, opts, err := chipOpts.options()
		if err != nil {
			return err
		}
		if *saveDir == "" {
			log.Warn("no --save-dir: written chips are discarded")
		}
		chipOpts.describe(stdout)
		return feed(ctx, vcard.VPCDBay(ctx, *addr), *addr, m, opts, *saveDir, stdout, log)
	}

	var chip *emrtd.Chip
	if *load != "" {
		_, opts, err := chipOpts.options()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(*load)
		if err != nil {
			return err
		}
		if chip, err = emrtd.Load(b, opts...); err != nil {
			return fmt.Errorf("load %s: %w", *load, err)
		}
	} else {
		m, opts, err := chipOpts.options()
		if err != nil {
			return err
		}
		chip = emrtd.New(m, opts...)
		chipOpts.describe(stdout)
	}
	fmt.Fprintf(stdout, "eMRTD chip %s (%s) in %s\n", chip.Serial(), chip.Model().Name, *addr)
	err := present(ctx, *addr, chip, log)
	if *saveDir != "" && chip.Written() {
		path, serr := save(*saveDir, chip)
		if serr != nil {
			return errors.Join(err, serr)
		}
		fmt.Fprintf(stdout, "saved %s\n", path)
	}
	return err
}

// present plugs card into the vpcd reader (waiting for the reader to
// listen) and serves it until ctx is done or the card leaves by itself.
func present(ctx context.Context, addr string, card vcard.Card, log *slog.Logger) error {
	var slot *vcard.Slot
	for warned := false; ; {
		s, err := vcard.Plug(ctx, addr, card)
		if err == nil {
			slot = s
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if !warned {
			log.Warn("waiting for the vpcd reader (is pcscd running with vpcd?)", "addr", addr, "err", err)
			warned = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
	log.Info("card inserted", "addr", addr)
	select {
	case <-ctx.Done():
		slot.Remove()
		return nil
	case <-slot.Gone():
		slot.Remove()
		return errors.New("the card left the reader (fault)")
	}
}

// feed runs a feeder of blank chips until ctx is done.
func feed(ctx context.Context, bay vcard.Bay, where string, m emrtd.Model, opts []emrtd.Option, saveDir string, stdout io.Writer, log *slog.Logger) error {
	blank := func() (vcard.Persistent, error) {
		c := emrtd.New(m, opts...)
		fmt.Fprintf(stdout, "%s: blank chip %s (%s) inserted\n", where, c.Serial(), m.Name)
		return c, nil
	}
	fopts := []vcard.FeederOption{vcard.FeederLog(log), vcard.OnEject(func(e vcard.Ejection) {
		switch {
		case e.Err != nil:
			fmt.Fprintf(stdout, "%s: chip %s out (%s): saving failed: %v\n", where, e.Serial, e.Reason, e.Err)
		case e.Path != "":
			fmt.Fprintf(stdout, "%s: chip %s out (%s), saved %s\n", where, e.Serial, e.Reason, e.Path)
		default:
			fmt.Fprintf(stdout, "%s: chip %s out (%s)\n", where, e.Serial, e.Reason)
		}
	})}
	if saveDir != "" {
		fopts = append(fopts, vcard.SaveDir(saveDir))
	}
	return vcard.NewFeeder(bay, blank, fopts...).Run(ctx)
}

func save(dir string, chip *emrtd.Chip) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	b, err := chip.MarshalJSON()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, chip.Serial()+".json")
	return path, os.WriteFile(path, b, 0o600)
}

// runStack starts an isolated pcscd with vpcd readers for manual work and
// waits for Ctrl-C.
func runStack(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vcard stack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 2, "number of readers (1-16)")
	feedAll := fs.Bool("feed", false, "run a feeder of blank eMRTD chips in every reader")
	saveDir := fs.String("save-dir", "", "with --feed: save written chips as `DIR`/<serial>.json")
	var chipOpts chipFlags
	chipOpts.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if *n < 1 || *n > pcscdtest.MaxReaders {
		return usagef("-n %d: 1 to %d readers", *n, pcscdtest.MaxReaders)
	}
	m, opts, err := chipOpts.options()
	if err != nil {
		return err
	}
	if *feedAll {
		chipOpts.describe(stdout)
	}
	if err := pcscdtest.Available(); err != nil {
		return err
	}
	st, err := pcscdtest.Start(*n)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(stdout, "pcscd (pid %d) with %d vpcd readers. In another shell:\n\n", st.PID(), *n)
	fmt.Fprintf(stdout, "  export %s=%s\n\n", pcscdtest.SocketEnv, st.ProcSocket())
	st.Describe(stdout)
	fmt.Fprintln(stdout, "\nA card connects to a reader's port: vcard --vpcd 127.0.0.1:PORT. Ctrl-C stops everything.")
	if !*feedAll {
		<-ctx.Done()
		return nil
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	errs := make(chan error, *n)
	for i := 0; i < *n; i++ {
		name := st.ReaderName(i)
		go func() {
			errs <- feed(ctx, vcard.VPCDBay(ctx, st.Addr(i)), name, m, opts, *saveDir, stdout, log)
		}()
	}
	var all error
	for i := 0; i < *n; i++ {
		all = errors.Join(all, <-errs)
	}
	return all
}
