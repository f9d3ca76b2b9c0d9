package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server timeouts. WriteTimeout bounds ordinary responses; the long poll
// (at most MaxWait) fits in it, and the live stream moves its own deadline
// forward at every write.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 60 * time.Second // a 16 MiB batch over a slow link
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// NewServer returns an http.Server for h with every timeout set. tlsConf
// may be nil (plain HTTP: the panel on localhost, tests). When h is the
// *API, the server's Shutdown ends its live streams and long polls.
func NewServer(addr string, h http.Handler, tlsConf *tls.Config, logger *slog.Logger) *http.Server {
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
	if a, ok := h.(*API); ok {
		srv.RegisterOnShutdown(a.Close)
	}
	if logger != nil {
		// TLS handshake errors and the like: the server's own log lines
		// carry addresses, not request contents.
		srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	} else {
		srv.ErrorLog = log.New(discard{}, "", 0)
	}
	return srv
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TLSConfig is the server side of TLS for the station: the station's
// certificate, TLS 1.2 at least, and client certificates requested but not
// required — the API admits central by the SHA-256 pin of the certificate
// it presents (Options.ClientCertPins), the panel's browsers present none.
// The handshake proves the client holds the certificate's key
// (CertificateVerify, RFC 8446 §4.4.3); the pin replaces chain validation.
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load the station's TLS certificate: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.RequestClientCert,
	}, nil
}

// Listen serves srv on its address (TLS when it has a TLS configuration)
// until ctx is done, then shuts down gracefully, giving requests in flight
// up to grace to finish.
func Listen(ctx context.Context, srv *http.Server, grace time.Duration) error {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", srv.Addr, err)
	}
	return Serve(ctx, srv, ln, grace)
}

// Serve is Listen on a listener the caller made.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	if srv.TLSConfig != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
