package signer

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// readPIN returns the token PIN from the configured file or environment
// variable. A PIN is never taken from the configuration file itself, and a
// PIN file readable by group or others is refused.
func readPIN(cfg Config) (string, error) {
	switch {
	case cfg.PINFile != "" && cfg.PINEnv != "":
		return "", errors.New("signer: pin_file and pin_env: set only one")
	case cfg.PINFile != "":
		st, err := os.Stat(cfg.PINFile)
		if err != nil {
			return "", fmt.Errorf("signer: pin_file: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("signer: pin_file %s: mode %04o lets others read it; chmod 600", cfg.PINFile, st.Mode().Perm())
		}
		b, err := os.ReadFile(cfg.PINFile)
		if err != nil {
			return "", fmt.Errorf("signer: pin_file: %w", err)
		}
		pin := strings.TrimRight(string(b), "\r\n")
		if pin == "" {
			return "", fmt.Errorf("signer: pin_file %s: empty", cfg.PINFile)
		}
		return pin, nil
	case cfg.PINEnv != "":
		pin, ok := os.LookupEnv(cfg.PINEnv)
		if !ok || pin == "" {
			return "", fmt.Errorf("signer: pin_env: environment variable %s is not set", cfg.PINEnv)
		}
		return pin, nil
	default:
		return "", errors.New("signer: a PIN source is required: pin_file or pin_env")
	}
}
