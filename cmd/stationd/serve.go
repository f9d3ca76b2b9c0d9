package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization"
	"github.com/cccd-station/station/personalization/pki"
	"github.com/cccd-station/station/personalization/signer"
	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station"
	"github.com/cccd-station/station/station/demo"
)

// serve wires the daemon together and runs it until ctx is done (SIGTERM):
// then the readers finish the cards in hand, the HTTP server drains, and the
// store closes.
func serve(ctx context.Context, cfg *Config, demoMode bool, log *slog.Logger, stdout io.Writer) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	key, err := queue.LoadKey(cfg.DataKey.File, cfg.DataKey.Env)
	if err != nil {
		return err
	}
	store, err := queue.Open(filepath.Join(cfg.DataDir, "station.db"), key, queue.Options{
		MaxAttempts: cfg.Queue.MaxAttempts, Retention: cfg.Queue.Retention, Log: log,
	})
	if err != nil {
		return err
	}
	defer store.Close()

	sgn, err := signer.Open(ctx, cfg.Signer)
	if err != nil {
		return fmt.Errorf("Document Signer: %w", err)
	}
	defer sgn.Close()
	if sgn.Backend() == "file" {
		log.Warn(signer.DevelopmentOnlyWarning)
		fmt.Fprintln(os.Stderr, signer.DevelopmentOnlyWarning)
	}
	cscas, err := pki.LoadCSCAs(cfg.CSCAFile)
	if err != nil {
		return err
	}
	stock, closeStock, err := newStock(cfg)
	if err != nil {
		return err
	}
	defer closeStock()
	policy, _ := application.ParsePolicy(cfg.Policy)

	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	var readers pcsc.Readers
	var rack *demo.Rack
	switch cfg.Readers.Source {
	case "inprocess":
		ro := demo.RackOptions{Readers: cfg.Readers.InProcess, SaveDir: filepath.Join(cfg.DataDir, "cards"), Log: log}
		if cfg.Profile == "cccd" {
			p, err := pki.Load(filepath.Join(cfg.DataDir, "pki"))
			if err != nil {
				return err
			}
			if err := demo.ChipsFor(cfg.Profile, p, &ro); err != nil {
				return err
			}
		}
		rack = demo.NewRack(runCtx, ro)
		readers = rack
	default:
		sys, err := pcsc.Open()
		if err != nil {
			if !errors.Is(err, pcsc.ErrNoService) {
				return err
			}
			log.Error("pcscd is not running: waiting for it", "err", err)
		}
		if sys != nil {
			defer sys.Close()
			readers = sys
		} else {
			readers = &lazySystem{}
		}
	}

	metrics := newMetrics()
	st, err := station.New(station.Options{
		Store: store, Readers: readers, Signer: sgn, CSCAs: cscas, Stock: stock, Policy: policy,
		FaceBudget: cfg.FaceBudget, Ahead: cfg.Queue.Ahead, MRZ: cfg.MRZ,
		DSExpiryWarning: cfg.DSExpiryWarning, MinFreeBytes: cfg.Queue.MinFreeBytes,
		UseReader: cfg.useReader(), Observer: metrics, Log: log,
		Trace: traceFor(cfg, log),
	})
	if err != nil {
		return err
	}

	srv, err := startAPI(cfg, st, store, metrics, demoMode, log, stdout)
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	if cfg.Webhook.URL != "" {
		token := ""
		if cfg.Webhook.TokenFile != "" {
			b, err := os.ReadFile(cfg.Webhook.TokenFile)
			if err != nil {
				return fmt.Errorf("webhook.token_file: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
		p := &queue.Pusher{Store: store, URL: cfg.Webhook.URL, Token: token, Client: &http.Client{Timeout: 30 * time.Second}, Log: log}
		wg.Add(1)
		go func() { defer wg.Done(); p.Run(ctx) }()
	}
	if demoMode {
		c := &demo.Central{Station: st, Store: store, Log: log, StateFile: filepath.Join(cfg.DataDir, "demo-central.json")}
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(ctx) }()
	}

	log.Info("station running", "station", cfg.StationID, "listen", cfg.Listen, "readers", cfg.Readers.Source,
		"signer", sgn.Backend(), "data_dir", cfg.DataDir)
	stationDone := make(chan error, 1)
	go func() { stationDone <- st.Run(ctx) }()

	<-ctx.Done()
	log.Info("stopping: finishing the cards in hand")
	err = <-stationDone
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	cancelRun()
	if rack != nil {
		rack.Wait()
	}
	wg.Wait()
	log.Info("stopped")
	return err
}

// newStock builds the card stock: the products with their profiles, and for
// cccd products the SCP03 master keys (a file, or an HSM).
func newStock(cfg *Config) (*personalization.Stock, func(), error) {
	profiles := []personalization.Profile{personalization.JMRTD{}}
	closer := func() {}
	if cfg.needsSCP03() {
		m, err := signer.OpenSCP03(cfg.SCP03)
		if err != nil {
			return nil, nil, fmt.Errorf("SCP03 master keys: %w", err)
		}
		// A product whose keys are another version would refuse every
		// session: say so now rather than on a card.
		for _, p := range cfg.stock() {
			if p.ProfileName() == "cccd" && p.SCP03KVN != int(m.KVN) {
				m.Close()
				return nil, nil, fmt.Errorf("product %s: scp03_kvn %02X, the SCP03 master keys are version %02X", p.Name, p.SCP03KVN, m.KVN)
			}
		}
		profiles = append(profiles, personalization.CCCD{Masters: m})
		closer = func() { m.Close() }
	}
	st, err := personalization.NewStock(cfg.stock(), profiles...)
	if err != nil {
		closer()
		return nil, nil, err
	}
	return st, closer, nil
}

// lazySystem is the pcscd reader source when pcscd was not running at
// start: it keeps trying to open it.
type lazySystem struct {
	mu  sync.Mutex
	sys *pcsc.System
}

func (l *lazySystem) get() (*pcsc.System, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sys != nil {
		return l.sys, nil
	}
	s, err := pcsc.Open()
	if err != nil {
		return nil, err
	}
	l.sys = s
	return s, nil
}

func (l *lazySystem) List() ([]pcsc.ReaderState, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.List()
}

func (l *lazySystem) Watch(ctx context.Context) (<-chan pcsc.Event, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Watch(ctx)
}

func (l *lazySystem) Connect(reader string) (pcsc.Conn, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Connect(reader)
}

// traceFor gives each reader a masked APDU trace logged at debug level when
// configured.
func traceFor(cfg *Config, log *slog.Logger) func(string) *pcsc.Trace {
	if !cfg.Log.APDUTrace {
		return nil
	}
	var mu sync.Mutex
	traces := map[string]*pcsc.Trace{}
	return func(reader string) *pcsc.Trace {
		mu.Lock()
		defer mu.Unlock()
		t := traces[reader]
		if t == nil {
			t = pcsc.NewTrace(256, pcsc.TraceLog(log.With("reader", reader)))
			traces[reader] = t
		}
		return t
	}
}
