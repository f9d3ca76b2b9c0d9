package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/cccd-station/station/api"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/personalization/pki"
	"github.com/cccd-station/station/personalization/signer"
	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station"
)

// selfSigned makes a certificate and its key (a server certificate for
// 127.0.0.1, or a client certificate).
func selfSigned(t *testing.T, cn string, server bool) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c, certPEM, keyPEM
}

// TestCentralCertOnlyFromTheConfigurationRefusesCentralTokens runs the
// daemon's HTTP side as startAPI wires it from a configuration with
// tls.central_cert_only, over real TLS: central's token is refused, the
// pinned client certificate admitted, another certificate refused.
func TestCentralCertOnlyFromTheConfigurationRefusesCentralTokens(t *testing.T) {
	dir := t.TempDir()
	_, srvCert, srvKey := selfSigned(t, "station", true)
	pinned, _, _ := selfSigned(t, "central", false)
	stranger, _, _ := selfSigned(t, "somebody", false)
	for name, b := range map[string][]byte{"tls.crt": srvCert, "tls.key": srvKey} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	text := goodConfig + "listen: 127.0.0.1:0\ntls:\n  cert_file: " + filepath.Join(dir, "tls.crt") +
		"\n  key_file: " + filepath.Join(dir, "tls.key") +
		"\n  client_cert_sha256: [" + api.Fingerprint(pinned.Certificate[0]) + "]\n  central_cert_only: true\n"
	cfg, err := loadConfig(writeConfig(t, text))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	cfg.defaults()
	if err := cfg.Check(); err != nil {
		t.Fatalf("the configuration is refused: %v", err)
	}

	auth, err := api.OpenAuth(filepath.Join(dir, "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	centralToken, err := auth.AddToken("cms", api.RoleCentral)
	if err != nil {
		t.Fatal(err)
	}
	techToken, err := auth.AddToken("script", api.RoleTechnician)
	if err != nil {
		t.Fatal(err)
	}
	auth.Close()

	store, err := queue.Open(filepath.Join(dir, "station.db"), queue.Key{1, 2, 3}, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := pki.Init(pki.Options{Dir: filepath.Join(dir, "pki")}); err != nil {
		t.Fatal(err)
	}
	p, err := pki.Load(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	sgn, err := signer.Open(context.Background(), p.Signer)
	if err != nil {
		t.Fatal(err)
	}
	defer sgn.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := station.New(station.Options{Store: store, Readers: vcard.NewRack(), Signer: sgn, CSCAs: p.CSCAs, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	srv, err := startAPI(cfg, st, store, newMetrics(), false, log, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	m := regexp.MustCompile(`central API: +(https://[0-9.:]+)/api/v1/`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no https address printed:\n%s", stdout.String())
	}
	base := m[1]

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(srvCert)
	call := func(cert *tls.Certificate, token, path string) (int, string) {
		t.Helper()
		tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 30 * time.Second}
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		var b api.ErrorBody
		json.NewDecoder(resp.Body).Decode(&b)
		return resp.StatusCode, b.Error.Code
	}
	if status, code := call(nil, centralToken, "/api/v1/events"); status != http.StatusUnauthorized || code != api.CodeUnauthenticated {
		t.Errorf("central's token: %d %q, want 401 %s", status, code, api.CodeUnauthenticated)
	}
	if status, _ := call(&pinned, "", "/api/v1/events"); status != http.StatusOK {
		t.Errorf("the pinned certificate: %d", status)
	}
	if status, code := call(&stranger, "", "/api/v1/events"); status != http.StatusUnauthorized || code != api.CodeUnauthenticated {
		t.Errorf("a certificate not pinned: %d %q", status, code)
	}
	if status, code := call(&stranger, centralToken, "/api/v1/events"); status != http.StatusUnauthorized {
		t.Errorf("a certificate not pinned with central's token: %d %q", status, code)
	}
	// Scripts' tokens (panel roles) still work.
	if status, _ := call(nil, techToken, "/api/v1/station"); status != http.StatusOK {
		t.Errorf("a technician's token: %d", status)
	}
}
