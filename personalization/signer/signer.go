// Package signer holds the Document Signer (DS) key behind one small
// interface, whatever keeps it: a key file (development only), a PKCS#11 HSM,
// or a PIV token (slot 9C) through github.com/go-piv/piv-go.
//
// ICAO 9303-12 §5: the DS key signs each chip's Document Security Object; it
// must live in a token on a production station.
package signer

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
)

// Signer is a Document Signer key and its certificate.
type Signer interface {
	crypto.Signer
	// Certificate is the DS certificate that goes into each EF.SOD.
	Certificate() *x509.Certificate
	// Check reports whether the key can sign now (token present, logged
	// in). The station pauses issuance while it fails.
	Check(ctx context.Context) error
	// Backend names the kind of key store ("file", "pkcs11", "piv").
	Backend() string
	Close() error
}

// Errors callers decide on.
var (
	// ErrTokenAbsent: the token holding the key is not there (pulled out,
	// HSM unreachable). Issuance must pause until it is back.
	ErrTokenAbsent = errors.New("signer: token not present")
	// ErrWrongPIN: the token refused the PIN. The backend does not try again
	// (retries are not burnt): fix the PIN source and reopen.
	ErrWrongPIN = errors.New("signer: wrong PIN")
	// ErrPINBlocked: the token's PIN is blocked.
	ErrPINBlocked = errors.New("signer: PIN blocked")
	// ErrNoKey: the configured key or certificate is not in the token.
	ErrNoKey = errors.New("signer: key not found")
)

// Config chooses and configures a backend. PINs are never part of it in
// clear: they come from a file or an environment variable.
type Config struct {
	Backend string `yaml:"backend" json:"backend"` // "file" | "pkcs11" | "piv"

	// file
	KeyFile  string `yaml:"key_file,omitempty" json:"key_file,omitempty"`
	CertFile string `yaml:"cert_file,omitempty" json:"cert_file,omitempty"` // all backends may take the certificate from a file

	// pkcs11
	Module     string `yaml:"module,omitempty" json:"module,omitempty"`
	TokenLabel string `yaml:"token_label,omitempty" json:"token_label,omitempty"`
	KeyLabel   string `yaml:"key_label,omitempty" json:"key_label,omitempty"`

	// piv
	Serial uint32 `yaml:"serial,omitempty" json:"serial,omitempty"` // token chosen by serial; 0: the only one present
	Slot   string `yaml:"slot,omitempty" json:"slot,omitempty"`     // "9c" (default)

	// PIN source for pkcs11 and piv.
	PINFile string `yaml:"pin_file,omitempty" json:"pin_file,omitempty"`
	PINEnv  string `yaml:"pin_env,omitempty" json:"pin_env,omitempty"`
}

// Open opens the configured backend.
func Open(ctx context.Context, cfg Config) (Signer, error) {
	switch cfg.Backend {
	case "file":
		return openFile(cfg)
	case "pkcs11":
		return openPKCS11(cfg)
	case "piv":
		return openPIV(ctx, cfg)
	case "":
		return nil, fmt.Errorf("signer: backend: must be one of file, pkcs11, piv")
	default:
		return nil, fmt.Errorf("signer: backend %q: must be one of file, pkcs11, piv", cfg.Backend)
	}
}
