// Command stationd is the CCCD card personalization station daemon: it takes
// approved applications from the central system, keeps every card reader
// busy personalizing and verifying chips, and reports issuance status back.
//
//	stationd --config /etc/cccd-station/station.yaml
//	stationd --demo [--data-dir DIR] [--listen HOST:PORT] [--readers pcscd]
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
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// flags are the command line; they override the configuration file.
type flags struct {
	config      string
	demo        bool
	dataDir     string
	listen      string
	readers     string
	profile     string
	inprocess   int
	logLevel    string
	checkConfig bool
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	var f flags
	fs := flag.NewFlagSet("stationd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "configuration file (YAML; see docs/configuration.md)")
	fs.BoolVar(&f.demo, "demo", false, "run the demo: TEST PKI, virtual readers with card feeders, invented applicants")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory (database, keys; demo: PKI, saved cards, credentials)")
	fs.StringVar(&f.listen, "listen", "", "HTTP listen address HOST:PORT (API and panel)")
	fs.StringVar(&f.readers, "readers", "", "where the readers are: pcscd (the system's PC/SC service) or inprocess (virtual)")
	fs.IntVar(&f.inprocess, "inprocess-readers", 0, "number of in-process virtual readers (readers=inprocess)")
	fs.StringVar(&f.profile, "profile", "", "chip profile of the products that name none (and of the demo's virtual chips): jmrtd or cccd")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	fs.BoolVar(&f.checkConfig, "check-config", false, "validate the configuration and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return &f, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	f, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "stationd:", err)
		return 2
	}
	cfg, err := loadConfig(f.config)
	if err != nil {
		fmt.Fprintln(stderr, "stationd:", err)
		return 2
	}
	if f.demo {
		if err := demoConfig(cfg, f); err != nil {
			fmt.Fprintln(stderr, "stationd: demo:", err)
			return 1
		}
	}
	applyFlags(cfg, f)
	cfg.demo = f.demo
	cfg.defaults()
	if err := cfg.Check(); err != nil {
		fmt.Fprintf(stderr, "stationd: configuration is not valid:\n%v\n", err)
		return 2
	}
	if f.checkConfig {
		fmt.Fprintln(stdout, "configuration ok")
		return 0
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, cfg, f.demo, log, stdout); err != nil {
		log.Error("stationd stopped", "err", err)
		return 1
	}
	return 0
}

func applyFlags(cfg *Config, f *flags) {
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	if f.readers != "" {
		cfg.Readers.Source = f.readers
	}
	if f.profile != "" {
		cfg.Profile = f.profile
	}
	if f.inprocess > 0 {
		cfg.Readers.InProcess = f.inprocess
	}
	if f.logLevel != "" {
		cfg.Log.Level = f.logLevel
	}
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
