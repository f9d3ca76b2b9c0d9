package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// serverCert writes a self-signed server certificate for 127.0.0.1.
func serverCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "station"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls-key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServeAdmitsPinnedCertificatesAndStopsPromptly: the daemon's path —
// TLSConfig, NewServer, Serve — takes central's pinned certificate, and a
// stop with a live stream open does not wait for the stream.
func TestServeAdmitsPinnedCertificatesAndStopsPromptly(t *testing.T) {
	e := newEnv(t, envOptions{})
	certFile, keyFile, pool := serverCert(t, t.TempDir())
	tc, err := TLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ln.Addr().String(), e.api, tc, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln, 30*time.Second) }()
	base := "https://" + ln.Addr().String()

	get := func(c *http.Client, path string) int {
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}, Timeout: 10 * time.Second}
	}
	if s := get(client(e.pinned), "/api/v1/events"); s != 200 {
		t.Errorf("pinned certificate: %d", s)
	}
	if s := get(client(e.other), "/api/v1/events"); s != 401 {
		t.Errorf("unpinned certificate: %d", s)
	}
	if s := get(client(), "/api/v1/events"); s != 401 {
		t.Errorf("no certificate: %d", s)
	}

	// A panel session with its live stream open.
	e.auth.AddUser("op", RoleOperator, "a long password for op")
	jarClient := client()
	jarClient.Jar = newJar()
	jarClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := jarClient.Get(base + "/panel/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp, err = jarClient.PostForm(base+"/panel/login", url.Values{"csrf": {formValue(t, page, "csrf")}, "user": {"op"}, "password": {"a long password for op"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()
	jarClient.Timeout = 0
	stream, err := jarClient.Get(base + "/panel/events")
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("stream: %v %v", stream, err)
	}
	defer stream.Body.Close()
	buf := make([]byte, 64)
	if _, err := stream.Body.Read(buf); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return 10 s after the stop, with a live stream open")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopping took %v", d)
	}
}
