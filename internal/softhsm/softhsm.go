// Package softhsm starts a private SoftHSM2 token for tests: a PKCS#11 HSM
// with its own token directory, so tests never touch a system token.
package softhsm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Module is Debian's SoftHSM2 PKCS#11 module.
const Module = "/usr/lib/softhsm/libsofthsm2.so"

// Token is an initialized SoftHSM2 token.
type Token struct {
	Module string
	Label  string
	PIN    string
	SOPIN  string
}

// New initializes a fresh token in a temporary directory and points
// SOFTHSM2_CONF at it for the rest of the test. Without SoftHSM2 the test is
// skipped, unless CI is set: there it must be installed.
func New(t testing.TB, label string) *Token {
	t.Helper()
	if _, err := os.Stat(Module); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("SoftHSM2 is required under CI (apt-get install softhsm2): %v", err)
		}
		t.Skipf("SoftHSM2 not installed (%s): apt-get install softhsm2", Module)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	text := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	tok := &Token{Module: Module, Label: label, PIN: "123456", SOPIN: "12345678"}
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label,
		"--so-pin", tok.SOPIN, "--pin", tok.PIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v: %s", err, out)
	}
	return tok
}
