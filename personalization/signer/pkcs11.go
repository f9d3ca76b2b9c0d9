package signer

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ThalesGroup/crypto11"
)

// pkcs11Signer keeps the DS key in a PKCS#11 token (an HSM; SoftHSM2 in
// tests) through github.com/ThalesGroup/crypto11.
type pkcs11Signer struct {
	mu   sync.Mutex
	ctx  *crypto11.Context
	key  crypto11.Signer
	cert *x509.Certificate
}

func openPKCS11(cfg Config) (Signer, error) {
	if cfg.Module == "" || cfg.TokenLabel == "" || cfg.KeyLabel == "" {
		return nil, errors.New("signer: pkcs11 backend needs module, token_label and key_label")
	}
	pin, err := readPIN(cfg)
	if err != nil {
		return nil, err
	}
	ctx, err := OpenPKCS11Token(cfg.Module, cfg.TokenLabel, pin)
	if err != nil {
		return nil, err
	}
	key, err := ctx.FindKeyPair(nil, []byte(cfg.KeyLabel))
	if err != nil {
		ctx.Close()
		return nil, fmt.Errorf("signer: pkcs11 key %q: %w", cfg.KeyLabel, mapPKCS11(err))
	}
	if key == nil {
		ctx.Close()
		return nil, fmt.Errorf("signer: pkcs11 key %q: %w", cfg.KeyLabel, ErrNoKey)
	}
	var cert *x509.Certificate
	if cfg.CertFile != "" {
		cert, err = LoadCertificate(cfg.CertFile)
	} else {
		cert, err = ctx.FindCertificate(nil, []byte(cfg.KeyLabel), nil)
		if err == nil && cert == nil {
			err = fmt.Errorf("no certificate labelled %q in the token and no cert_file: %w", cfg.KeyLabel, ErrNoKey)
		}
	}
	if err != nil {
		ctx.Close()
		return nil, fmt.Errorf("signer: pkcs11 certificate: %w", err)
	}
	if !samePublicKey(key.Public(), cert.PublicKey) {
		ctx.Close()
		return nil, fmt.Errorf("signer: pkcs11 key %q does not match the DS certificate", cfg.KeyLabel)
	}
	return &pkcs11Signer{ctx: ctx, key: key, cert: cert}, nil
}

// OpenPKCS11Token logs into a token by label. A wrong PIN is ErrWrongPIN;
// nothing is retried.
func OpenPKCS11Token(module, tokenLabel, pin string) (*crypto11.Context, error) {
	ctx, err := crypto11.Configure(&crypto11.Config{Path: module, TokenLabel: tokenLabel, Pin: pin})
	if err != nil {
		return nil, fmt.Errorf("signer: pkcs11 token %q: %w", tokenLabel, mapPKCS11(err))
	}
	return ctx, nil
}

// GeneratePKCS11Key creates an ECDSA DS key inside the token.
func GeneratePKCS11Key(ctx *crypto11.Context, label string, curve elliptic.Curve) (crypto.Signer, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	k, err := ctx.GenerateECDSAKeyPairWithLabel(id, []byte(label), curve)
	if err != nil {
		return nil, fmt.Errorf("signer: pkcs11 generate %q: %w", label, mapPKCS11(err))
	}
	return k, nil
}

// mapPKCS11 turns PKCS#11 return values into the package's errors.
func mapPKCS11(err error) error {
	s := err.Error()
	switch {
	case strings.Contains(s, "CKR_PIN_INCORRECT"):
		return fmt.Errorf("%w (%v)", ErrWrongPIN, err)
	case strings.Contains(s, "CKR_PIN_LOCKED"):
		return fmt.Errorf("%w (%v)", ErrPINBlocked, err)
	case strings.Contains(s, "CKR_TOKEN_NOT_PRESENT"), strings.Contains(s, "CKR_DEVICE_REMOVED"),
		strings.Contains(s, "could not find PKCS#11 token"), strings.Contains(s, "CKR_SLOT_ID_INVALID"):
		return fmt.Errorf("%w (%v)", ErrTokenAbsent, err)
	}
	return err
}

func (s *pkcs11Signer) Public() crypto.PublicKey { return s.key.Public() }

func (s *pkcs11Signer) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := s.key.Sign(r, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("signer: pkcs11 sign: %w", mapPKCS11(err))
	}
	return sig, nil
}

func (s *pkcs11Signer) Certificate() *x509.Certificate { return s.cert }

// Check signs nothing: it asks the token for the key's attributes, which
// needs a live session.
func (s *pkcs11Signer) Check(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.ctx.GetAttribute(s.key, crypto11.CkaLabel); err != nil {
		return fmt.Errorf("signer: pkcs11 token check: %w", mapPKCS11(err))
	}
	return nil
}

func (s *pkcs11Signer) Backend() string { return "pkcs11" }

func (s *pkcs11Signer) Close() error { return s.ctx.Close() }
