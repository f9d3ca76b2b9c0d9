package signer

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// fileSigner keeps the DS key in a PEM file: development and tests only. A
// production station keeps it in a token (PKCS#11 or PIV); the daemon says
// so loudly when this backend is in use.
type fileSigner struct {
	key  crypto.Signer
	cert *x509.Certificate
}

// DevelopmentOnlyWarning is what the station prints (and logs) at start
// when the DS key is a file.
const DevelopmentOnlyWarning = "WARNING: the Document Signer key is a FILE on disk (backend \"file\"): DEVELOPMENT ONLY — a production station keeps it in a PKCS#11 HSM or a PIV token"

func openFile(cfg Config) (Signer, error) {
	if cfg.KeyFile == "" || cfg.CertFile == "" {
		return nil, errors.New("signer: file backend needs key_file and cert_file")
	}
	st, err := os.Stat(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("signer: key_file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signer: key_file %s: mode %04o lets others read the key; chmod 600", cfg.KeyFile, st.Mode().Perm())
	}
	key, err := LoadKeyFile(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	cert, err := LoadCertificate(cfg.CertFile)
	if err != nil {
		return nil, err
	}
	if !samePublicKey(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("signer: key_file does not hold the key of cert_file %s", cfg.CertFile)
	}
	return &fileSigner{key: key, cert: cert}, nil
}

// LoadKeyFile reads a PKCS#8 (or SEC 1 EC, or PKCS#1 RSA) private key in PEM.
func LoadKeyFile(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signer: key file: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("signer: key file %s: no PEM block", path)
	}
	var k any
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("signer: key file %s: PEM type %q is not a private key", path, blk.Type)
	}
	if err != nil {
		// The parse error does not carry key material.
		return nil, fmt.Errorf("signer: key file %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signer: key file %s: key type %T cannot sign", path, k)
	}
	return s, nil
}

// LoadCertificate reads one PEM certificate.
func LoadCertificate(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signer: certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("signer: certificate %s: no PEM CERTIFICATE block", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signer: certificate %s: %w", path, err)
	}
	return c, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

func (s *fileSigner) Public() crypto.PublicKey { return s.key.Public() }
func (s *fileSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.key.Sign(r, digest, opts)
}
func (s *fileSigner) Certificate() *x509.Certificate { return s.cert }
func (s *fileSigner) Check(context.Context) error    { return nil }
func (s *fileSigner) Backend() string                { return "file" }
func (s *fileSigner) Close() error                   { return nil }
