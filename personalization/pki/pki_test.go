package pki

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cccd-station/station/internal/softhsm"
	"github.com/cccd-station/station/personalization/signer"
)

func checkChain(t *testing.T, p *PKI, s signer.Signer) {
	t.Helper()
	ds := s.Certificate()
	if err := ds.CheckSignatureFrom(p.CSCAs[0]); err != nil {
		t.Fatalf("DS not issued by the CSCA: %v", err)
	}
	if ds.Subject.Country[0] != "VN" || p.CSCAs[0].Subject.Country[0] != "VN" {
		t.Errorf("countries: DS %v CSCA %v", ds.Subject.Country, p.CSCAs[0].Subject.Country)
	}
	if ds.KeyUsage != x509.KeyUsageDigitalSignature || !p.CSCAs[0].IsCA {
		t.Errorf("key usage %v, CSCA is CA %v", ds.KeyUsage, p.CSCAs[0].IsCA)
	}
	digest := sha256.Sum256([]byte("payload"))
	sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.CheckSignature(x509.ECDSAWithSHA256, []byte("payload"), sig); err != nil {
		t.Fatalf("signature does not verify with the DS certificate: %v", err)
	}
}

func TestInitWritesAFileBackedPKI(t *testing.T) {
	dir := t.TempDir()
	if err := Init(Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, DSKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("ds-key.pem: %v mode %v", err, st.Mode())
	}
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.Open(context.Background(), p.Signer)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Backend() != "file" {
		t.Errorf("backend %s", s.Backend())
	}
	checkChain(t, p, s)

	if err := Init(Options{Dir: dir}); err == nil {
		t.Error("an existing PKI was overwritten without --force")
	}
	if err := Init(Options{Dir: dir, Force: true}); err != nil {
		t.Errorf("--force: %v", err)
	}
}

func TestFileSignerRefusesAWorldReadableKey(t *testing.T) {
	dir := t.TempDir()
	if err := Init(Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, DSKeyFile), 0o644)
	p, _ := Load(dir)
	if _, err := signer.Open(context.Background(), p.Signer); err == nil {
		t.Error("a key readable by others was accepted")
	}
}

func TestInitGeneratesTheDSKeyInAPKCS11Token(t *testing.T) {
	tok := softhsm.New(t, "station")
	dir := t.TempDir()
	err := Init(Options{Dir: dir, PKCS11Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN, PINEnv: "TEST_DS_PIN"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, DSKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a key file was written although the key is in the token")
	}
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Signer.Backend != "pkcs11" || p.Signer.PINEnv != "TEST_DS_PIN" {
		t.Fatalf("signer config %+v", p.Signer)
	}

	// Without the PIN in the environment: a clear error.
	if _, err := signer.Open(context.Background(), p.Signer); err == nil {
		t.Fatal("opened without a PIN")
	}
	// A wrong PIN: ErrWrongPIN, not retried.
	t.Setenv("TEST_DS_PIN", "000000")
	if _, err := signer.Open(context.Background(), p.Signer); !errors.Is(err, signer.ErrWrongPIN) {
		t.Fatalf("wrong PIN: %v", err)
	}
	t.Setenv("TEST_DS_PIN", tok.PIN)
	s, err := signer.Open(context.Background(), p.Signer)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(context.Background()); err != nil {
		t.Errorf("Check: %v", err)
	}
	checkChain(t, p, s)
}

// BenchmarkPKCS11Sign: one ECDSA P-256 signature of a SHA-256 digest by the
// DS key inside a SoftHSM2 token, through crypto11.
func BenchmarkPKCS11Sign(b *testing.B) {
	tok := softhsm.New(b, "bench")
	dir := b.TempDir()
	if err := Init(Options{Dir: dir, PKCS11Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN, PINEnv: "BENCH_DS_PIN"}); err != nil {
		b.Fatal(err)
	}
	b.Setenv("BENCH_DS_PIN", tok.PIN)
	p, _ := Load(dir)
	s, err := signer.Open(context.Background(), p.Signer)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	digest := sha256.Sum256([]byte("signed attributes"))
	for b.Loop() {
		if _, err := s.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}
