package queue

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeKeyFile(t *testing.T, content []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "station.key")
	if err := os.WriteFile(p, content, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return p
}

func TestLoadKeyAcceptsRawHexAndBase64(t *testing.T) {
	k := testKey()
	hexText := hex.EncodeToString(k[:])
	b64 := base64.StdEncoding.EncodeToString(k[:])
	tests := []struct {
		name    string
		content []byte
	}{
		{"32 raw bytes", k[:]},
		{"hex", []byte(hexText)},
		{"hex with newline", []byte(hexText + "\n")},
		{"upper-case hex", []byte(strings.ToUpper(hexText) + "\r\n")},
		{"base64", []byte(b64)},
		{"base64 with newline", []byte(b64 + "\n")},
		{"unpadded base64", []byte(base64.RawStdEncoding.EncodeToString(k[:]) + "\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadKey(writeKeyFile(t, tc.content, 0o600), "")
			if err != nil {
				t.Fatal(err)
			}
			if got != k {
				t.Fatalf("key differs:\n got %x\nwant %x", got[:], k[:])
			}
		})
	}
	t.Run("environment hex", func(t *testing.T) {
		t.Setenv("QUEUE_TEST_KEY", hexText)
		if got, err := LoadKey("", "QUEUE_TEST_KEY"); err != nil || got != k {
			t.Fatalf("%v", err)
		}
	})
	t.Run("environment base64", func(t *testing.T) {
		t.Setenv("QUEUE_TEST_KEY", b64+"\n")
		if got, err := LoadKey("", "QUEUE_TEST_KEY"); err != nil || got != k {
			t.Fatalf("%v", err)
		}
	})
}

func TestLoadKeyRefusesWithAClearErrorAndNoKeyMaterial(t *testing.T) {
	k := testKey()
	hexText := hex.EncodeToString(k[:])
	secretish := "g" + hexText[1:] // one bad digit: the error must not show it
	tests := []struct {
		name  string
		setup func(t *testing.T) (file, env string)
		says  []string
	}{
		{"group/world-readable file", func(t *testing.T) (string, string) {
			return writeKeyFile(t, []byte(hexText), 0o644), ""
		}, []string{"station.key", "0644", "group or others"}},
		{"group-readable file", func(t *testing.T) (string, string) {
			return writeKeyFile(t, []byte(hexText), 0o640), ""
		}, []string{"0640"}},
		{"missing file", func(t *testing.T) (string, string) {
			return filepath.Join(t.TempDir(), "nope.key"), ""
		}, []string{"nope.key"}},
		{"malformed file", func(t *testing.T) (string, string) {
			return writeKeyFile(t, []byte(secretish), 0o600), ""
		}, []string{"64 hex digits"}},
		{"short key", func(t *testing.T) (string, string) {
			return writeKeyFile(t, []byte(hexText[:62]), 0o600), ""
		}, []string{"62 characters"}},
		{"all-zero key", func(t *testing.T) (string, string) {
			return writeKeyFile(t, []byte(strings.Repeat("0", 64)), 0o600), ""
		}, []string{"all-zero"}},
		{"both sources", func(t *testing.T) (string, string) { return "f", "E" }, []string{"not both"}},
		{"no source", func(t *testing.T) (string, string) { return "", "" }, []string{"no key source"}},
		{"unset variable", func(t *testing.T) (string, string) { return "", "QUEUE_TEST_UNSET_KEY" }, []string{"QUEUE_TEST_UNSET_KEY", "not set"}},
		{"malformed variable", func(t *testing.T) (string, string) {
			t.Setenv("QUEUE_TEST_KEY", secretish)
			return "", "QUEUE_TEST_KEY"
		}, []string{"QUEUE_TEST_KEY"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file, env := tc.setup(t)
			_, err := LoadKey(file, env)
			if !errors.Is(err, ErrKey) {
				t.Fatalf("got %v, want ErrKey", err)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if strings.Contains(err.Error(), hexText[8:24]) || strings.Contains(err.Error(), "'g'") {
				t.Errorf("error shows key material: %q", err)
			}
		})
	}
}

func TestGenerateKeyFileWrites0600AndRefusesToOverwrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new.key")
	k, err := GenerateKeyFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	got, err := LoadKey(p, "")
	if err != nil || got != k {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := GenerateKeyFile(p); !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("overwrite: %v", err)
	}
	if again, _ := LoadKey(p, ""); again != k {
		t.Fatal("the key file was overwritten")
	}
}

func TestKeyNeverPrints(t *testing.T) {
	k := testKey()
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "key", k)
	out := fmt.Sprintf("%v %s %x %X %#v %+v %d", k, k, k, k, k, k, k) + buf.String()
	for _, leak := range []string{hex.EncodeToString(k[:4]), strings.ToUpper(hex.EncodeToString(k[:4])), "[160 161"} {
		if strings.Contains(out, leak) {
			t.Fatalf("key material %q printed: %s", leak, out)
		}
	}
}

func TestWrongKeyFailsToOpenWithErrKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "station.db")
	s, err := Open(path, testKey(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	submit(t, s, "A")
	s.Close()
	wrong := testKey()
	wrong[0] ^= 1
	if _, err := Open(path, wrong, Options{}); !errors.Is(err, ErrKey) {
		t.Fatalf("open with a wrong key: %v, want ErrKey", err)
	}
	if _, err := Open(path, Key{}, Options{}); !errors.Is(err, ErrKey) {
		t.Fatalf("open with a zero key: %v, want ErrKey", err)
	}
}

func TestCiphertextIsBoundToItsRow(t *testing.T) {
	s := openTest(t, Options{})
	submit(t, s, "A", "B")
	// Move A's sealed application into B's row: it must not open as B.
	if _, err := s.w.Exec(`UPDATE application_raw SET sealed = (SELECT sealed FROM application_raw WHERE application_id = 'A')
		WHERE application_id = 'B'`); err != nil {
		t.Fatal(err)
	}
	jobs, err := s.ToPrepare(ctx, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].ApplicationID != "A" {
		t.Fatalf("jobs %v", jobs)
	}
	st, _ := s.Status(ctx, "B")
	if st.State != StateNeedsAttention || !strings.Contains(st.Reason, "authentication") {
		t.Fatalf("B with A's ciphertext: %+v", st)
	}
	// And directly: the error wraps ErrKey, never garbage.
	var sealed []byte
	s.r.QueryRow("SELECT sealed FROM application_raw WHERE application_id = 'A'").Scan(&sealed)
	if _, err := s.seal.open(adRaw("B"), sealed); !errors.Is(err, ErrKey) {
		t.Fatalf("moved ciphertext: %v", err)
	}
	if _, err := s.seal.open(adImage("A"), sealed); !errors.Is(err, ErrKey) {
		t.Fatalf("ciphertext in another column: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := s.seal.open(adRaw("A"), sealed); !errors.Is(err, ErrKey) {
		t.Fatalf("changed ciphertext: %v", err)
	}
}

func TestEachValueGetsAFreshNonce(t *testing.T) {
	s := openTest(t, Options{})
	a, b := s.seal.seal("x", []byte("same")), s.seal.seal("x", []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatalf("two seals of the same value are equal: %x", a)
	}
}

func TestPersonalDataNeverPrintsOrLogs(t *testing.T) {
	raw := []byte(marker("A"))
	img := image("A")
	c := &Claim{ApplicationID: "A", Reader: "r", Serial: "S", Image: img}
	sub := Submission{ApplicationID: "A", Raw: raw}
	job := PrepJob{ApplicationID: "A", Raw: raw}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "claim", c, "claim2", *c, "sub", sub, "job", job)
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %v", c, *c, c, c, sub, sub, job) + buf.String()
	for _, leak := range []string{"MARKER", "PRIVATE-KEY", "80 76 65"} {
		if strings.Contains(out, leak) {
			t.Fatalf("personal data printed (%s): %s", leak, out)
		}
	}
	if !strings.Contains(out, `"application_id":"A"`) {
		t.Fatalf("the log lost the ids: %s", buf.String())
	}
}
