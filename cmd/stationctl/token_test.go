package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cccd-station/station/api"
)

func TestTokenAddListRevoke(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := stationctl(t, "token", "add", "--data-dir", dir, "--name", "central-1", "--role", "central")
	if code != 0 {
		t.Fatalf("token add: %d %s", code, errOut)
	}
	tok := strings.TrimSpace(out)
	if !strings.HasPrefix(tok, "cst_") || !strings.Contains(errOut, "shown once") {
		t.Fatalf("token add printed %q / %q", out, errOut)
	}
	if code, _, _ := stationctl(t, "token", "add", "--data-dir", dir, "--name", "central-1"); code != 1 {
		t.Errorf("a second token of the same name: exit %d", code)
	}
	if code, _, _ := stationctl(t, "token", "add", "--data-dir", dir, "--name", "x", "--role", "root"); code != 2 {
		t.Errorf("an unknown role: exit %d", code)
	}
	if code, _, _ := stationctl(t, "token", "add", "--name", "x"); code != 2 {
		t.Errorf("no --data-dir: exit %d", code)
	}
	code, out, _ = stationctl(t, "token", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "central-1") || !strings.Contains(out, "active") || strings.Contains(out, tok) {
		t.Fatalf("token list: %d\n%s", code, out)
	}
	if code, _, e := stationctl(t, "token", "revoke", "--data-dir", dir, "central-1"); code != 0 {
		t.Fatalf("token revoke: %d %s", code, e)
	}
	if code, _, _ := stationctl(t, "token", "revoke", "--data-dir", dir, "nobody"); code != 1 {
		t.Errorf("revoking an unknown token: exit %d", code)
	}
	_, out, _ = stationctl(t, "token", "list", "--data-dir", dir)
	if !strings.Contains(out, "revoked") {
		t.Errorf("list after revoke:\n%s", out)
	}
}

func TestUserAddPasswdDisableList(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("mật khẩu đủ dài 2026\n"), 0o600)
	code, _, errOut := stationctl(t, "user", "add", "--data-dir", dir, "--name", "lan", "--role", "operator", "--password-file", pwFile)
	if code != 0 {
		t.Fatalf("user add: %d %s", code, errOut)
	}
	if code, _, _ := stationctl(t, "user", "add", "--data-dir", dir, "--name", "x", "--role", "central", "--password-file", pwFile); code != 2 {
		t.Errorf("a panel user with role central: exit %d", code)
	}
	// From standard input.
	stdin = strings.NewReader("another long password\n")
	defer func() { stdin = os.Stdin }()
	if code, _, e := stationctl(t, "user", "passwd", "--data-dir", dir, "lan"); code != 0 {
		t.Fatalf("user passwd: %d %s", code, e)
	}
	stdin = strings.NewReader("short\n")
	if code, _, _ := stationctl(t, "user", "add", "--data-dir", dir, "--name", "minh", "--role", "admin"); code != 2 {
		t.Errorf("a weak password: exit %d", code)
	}
	a, err := api.OpenAuth(filepath.Join(dir, "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Login(context.Background(), "lan", "another long password", "192.0.2.1"); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	a.Close()
	if code, _, e := stationctl(t, "user", "disable", "--data-dir", dir, "--name", "lan"); code != 0 {
		t.Fatalf("user disable: %d %s", code, e)
	}
	code, out, _ := stationctl(t, "user", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "lan") || !strings.Contains(out, "disabled") || !strings.Contains(out, "operator") {
		t.Fatalf("user list: %d\n%s", code, out)
	}
	if code, _, e := stationctl(t, "user", "enable", "--data-dir", dir, "lan"); code != 0 {
		t.Fatalf("user enable: %d %s", code, e)
	}
	if code, _, _ := stationctl(t, "user", "disable", "--data-dir", dir, "ghost"); code != 1 {
		t.Errorf("disabling an unknown user: exit %d", code)
	}
}
