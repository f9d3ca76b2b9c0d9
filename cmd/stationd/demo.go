package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station/demo"
)

// demoConfig makes a configuration that needs nothing but this machine: a
// data directory (./demo-data unless --data-dir), a data key and a TEST PKI
// created in it, the Document Signer key as a file (development only),
// in-process virtual readers unless --readers pcscd.
func demoConfig(cfg *Config, f *flags) error {
	if f.dataDir == "" && cfg.DataDir == "" {
		cfg.DataDir = "demo-data"
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	cfg.DataDir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if cfg.DataKey.File == "" && cfg.DataKey.Env == "" {
		cfg.DataKey.File = filepath.Join(dir, "data.key")
		if _, err := os.Stat(cfg.DataKey.File); errors.Is(err, os.ErrNotExist) {
			if _, err := queue.GenerateKeyFile(cfg.DataKey.File); err != nil {
				return err
			}
		}
	}
	p, err := demo.EnsurePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return err
	}
	if cfg.Signer.Backend == "" {
		cfg.Signer = p.Signer
	}
	if cfg.CSCAFile == "" {
		cfg.CSCAFile = filepath.Join(p.Dir, "csca.pem")
	}
	if cfg.SCP03.Backend == "" {
		cfg.SCP03 = p.SCP03
	}
	if f.readers == "" && cfg.Readers.Source == "" {
		cfg.Readers.Source = "inprocess"
	}
	if cfg.StationID == "" {
		cfg.StationID = "demo"
	}
	return nil
}
