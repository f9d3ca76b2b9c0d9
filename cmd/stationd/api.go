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
		ClientCertPins: cfg.TLS.ClientCertSHA256, Config: shownConfig(cfg), Log: log, Version: version,
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

// demoCredentials creates, at each start of the demo, central's token and a
// technician account with a fresh password (a token cannot be shown twice:
// only its hash is stored).
func demoCredentials(auth *api.Auth, path string) error {
	var c DemoCredentials
	auth.RevokeToken("demo-central")
	tok, err := auth.AddToken("demo-central", api.RoleCentral)
	if err != nil {
		return fmt.Errorf("demo central token: %w", err)
	}
	c.CentralToken = tok
	pw := make([]byte, 15)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	c.Technician.User = "technician"
	c.Technician.Password = base64.RawURLEncoding.EncodeToString(pw)
	err = auth.AddUser(c.Technician.User, api.RoleTechnician, c.Technician.Password)
	if errors.Is(err, api.ErrExists) {
		err = auth.SetPassword(c.Technician.User, c.Technician.Password)
	}
	if err != nil {
		return fmt.Errorf("demo technician: %w", err)
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// shownConfig is the configuration as the panel's configuration page
// shows it. It holds no secret in clear (PINs, the data key and tokens come
// from files or the environment; only their paths and variable names are
// here), and the API blanks secret-looking fields once more.
func shownConfig(cfg *Config) any { return *cfg }
