package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cccd-station/station/api"
	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station"
)

func newMetrics() *api.Metrics { return api.NewMetrics() }

// apiServer is the running HTTP side: central API, panel, metrics.
type apiServer struct {
	srv  *http.Server
	auth *api.Auth
	done chan error
}

// Shutdown drains the server and closes the account store.
func (a *apiServer) Shutdown(ctx context.Context) {
	a.srv.Shutdown(ctx)
	<-a.done
	a.auth.Close()
}

// DemoCredentials is what the demo writes to DATA/demo-credentials.json.
type DemoCredentials struct {
	CentralToken string `json:"central_token"`
	Technician   struct {
		User     string `json:"user"`
		Password string `json:"password"`
	} `json:"technician"`
}

func startAPI(cfg *Config, st *station.Station, store *queue.Store, metrics *api.Metrics, demoMode bool, log *slog.Logger, stdout io.Writer) (*apiServer, error) {
	auth, err := api.OpenAuth(filepath.Join(cfg.DataDir, "auth.db"))
	if err != nil {
		return nil, err
	}
	var credsPath string
	if demoMode {
		credsPath = filepath.Join(cfg.DataDir, "demo-credentials.json")
		if err := demoCredentials(auth, credsPath); err != nil {
			auth.Close()
			return nil, err
		}
	}
	h, err := api.New(api.Options{
		Store: store, Control: st, Auth: auth, Metrics: metrics,
		ClientCertPins: cfg.TLS.ClientCertSHA256, CentralCertOnly: cfg.TLS.CentralCertOnly,
		Config: shownConfig(cfg), Log: log, Version: version,
	})
	if err != nil {
		auth.Close()
		return nil, err
	}
	var tc *tls.Config
	scheme := "http"
	if cfg.TLS.CertFile != "" {
		c, err := api.TLSConfig(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			auth.Close()
			return nil, err
		}
		tc, scheme = c, "https"
	}
	srv := api.NewServer(cfg.Listen, h, tc, log)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		auth.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	a := &apiServer{srv: srv, auth: auth, done: make(chan error, 1)}
	go func() {
		// The server stops when Shutdown is called, after the station.
		a.done <- api.Serve(context.Background(), srv, ln, 10*time.Second)
	}()
	fmt.Fprintf(stdout, "station panel:  %s://%s/panel/\ncentral API:    %s://%s/api/v1/ (OpenAPI at /api/v1/openapi.yaml)\n", scheme, ln.Addr(), scheme, ln.Addr())
	if credsPath != "" {
		fmt.Fprintf(stdout, "demo credentials (central token, technician login): %s\n", credsPath)
	}
	return a, nil
}

// demoCredentials makes sure central's token and a technician account
// exist and are what DATA/demo-credentials.json says, so that the demo
// starts again on its data directory (after Ctrl-C, SIGTERM or kill -9) with
// the credentials a user already has. Only what is missing or no longer
// works is made anew (a token's secret cannot be read back: only its hash is
// stored, so a lost file means a new secret under the same name), and the
// file is then rewritten.
func demoCredentials(auth *api.Auth, path string) error {
	const tokenName, techName = "demo-central", "technician"
	var c DemoCredentials
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &c); err != nil {
			c = DemoCredentials{} // unreadable: start over
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("demo credentials: %w", err)
	}
	changed := false
	ok, err := auth.TokenIs(context.Background(), c.CentralToken, tokenName, api.RoleCentral)
	if err != nil {
		return fmt.Errorf("demo central token: %w", err)
	}
	if !ok {
		tok, err := auth.AddToken(tokenName, api.RoleCentral)
		if errors.Is(err, api.ErrExists) {
			tok, err = auth.RotateToken(tokenName, api.RoleCentral)
		}
		if err != nil {
			return fmt.Errorf("demo central token: %w", err)
		}
		c.CentralToken, changed = tok, true
	}
	if c.Technician.User != techName || len(c.Technician.Password) < 12 {
		pw := make([]byte, 15)
		if _, err := rand.Read(pw); err != nil {
			return err
		}
		c.Technician.User, c.Technician.Password, changed = techName, base64.RawURLEncoding.EncodeToString(pw), true
	}
	err = auth.AddUser(techName, api.RoleTechnician, c.Technician.Password)
	if errors.Is(err, api.ErrExists) {
		var same bool
		if same, err = auth.PasswordIs(techName, c.Technician.Password); err == nil && !same {
			if err = auth.SetPassword(techName, c.Technician.Password); err == nil {
				err = auth.EnableUser(techName)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("demo technician: %w", err)
	}
	if !changed {
		return nil
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// shownConfig is the configuration as the panel's configuration page
// shows it. It holds no secret in clear (PINs, the data key and tokens come
// from files or the environment; only their paths and variable names are
// here), and the API blanks secret-looking fields once more.
func shownConfig(cfg *Config) any { return *cfg }
