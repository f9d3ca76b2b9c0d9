package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/pki"
)

// stationctl runs the command in-process and returns its exit status and
// output.
func stationctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestEncodeEverySampleThenDecodeIt(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	if code, _, e := stationctl(t, "pki", "init", "--dir", pkiDir); code != 0 {
		t.Fatalf("pki init: %d %s", code, e)
	}
	for _, f := range []string{"csca.pem", "ds.pem", "ds-key.pem"} {
		if _, err := os.Stat(filepath.Join(pkiDir, f)); err != nil {
			t.Fatal(err)
		}
	}
	samples, _ := filepath.Glob("../../testdata/samples/*.json")
	if len(samples) == 0 {
		t.Fatal("no samples")
	}
	for _, s := range samples {
		out := filepath.Join(dir, filepath.Base(s))
		code, stdout, stderr := stationctl(t, "encode", "--application", s, "--pki", pkiDir, "--out", out, "--aa-bits", "1024")
		if code != 0 {
			t.Fatalf("encode %s: exit %d\n%s", s, code, stderr)
		}
		if !strings.Contains(stderr, "DEVELOPMENT ONLY") {
			t.Error("the file key was used without the development-only warning")
		}
		for _, f := range []string{"011E.bin", "0101.bin", "0102.bin", "010D.bin", "010F.bin", "011D.bin", "manifest.json"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("%s: %v (stdout %s)", f, err, stdout)
			}
		}
		if _, err := os.Stat(filepath.Join(out, "aa-key.pem")); err == nil {
			t.Error("the AA private key was written without --write-aa-key")
		}
		var m lds.Manifest
		b, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
		if err := json.Unmarshal(b, &m); err != nil || len(m.Files) != 6 || len(m.BAC.DocumentNumber) != 9 || len(m.CAN) != 6 {
			t.Errorf("manifest %+v %v", m, err)
		}
		code, stdout, stderr = stationctl(t, "decode", "--csca", filepath.Join(pkiDir, "csca.pem"), out)
		if code != 0 || !strings.Contains(stdout, "ok   signature") || !strings.Contains(stdout, "ok   Document Signer") {
			t.Errorf("decode %s: exit %d\n%s\n%s", out, code, stdout, stderr)
		}
	}
}

func TestDecodeFailsOnAnAlteredFile(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	stationctl(t, "pki", "init", "--dir", pkiDir)
	out := filepath.Join(dir, "img")
	if code, _, e := stationctl(t, "encode", "--application", "../../testdata/samples/le-dinh-duc.json", "--pki", pkiDir, "--out", out, "--aa-bits", "1024"); code != 0 {
		t.Fatal(e)
	}
	dg13 := filepath.Join(out, "010D.bin")
	b, _ := os.ReadFile(dg13)
	b[len(b)-1] ^= 1
	os.WriteFile(dg13, b, 0o644)
	code, stdout, _ := stationctl(t, "decode", out)
	if code == 0 || !strings.Contains(stdout, "FAIL DG13") {
		t.Errorf("altered DG13 not detected: exit %d\n%s", code, stdout)
	}
}

func TestEncodeRefusesInvalidInputNamingFieldAndRule(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	stationctl(t, "pki", "init", "--dir", pkiDir)
	var m map[string]any
	b, _ := os.ReadFile("../../testdata/samples/nguyen-van-an.json")
	json.Unmarshal(b, &m)
	m["expiry_date"] = "2030-01-01"
	m["personal_id"] = "082303001234"
	bad, _ := json.Marshal(m)
	app := filepath.Join(dir, "bad.json")
	os.WriteFile(app, bad, 0o600)
	out := filepath.Join(dir, "out")
	code, _, stderr := stationctl(t, "encode", "--application", app, "--pki", pkiDir, "--out", out)
	if code != exitRejected {
		t.Errorf("exit %d, want %d", code, exitRejected)
	}
	for _, want := range []string{"expiry_date:", "personal_id:"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("output written for an invalid application")
	}
}

func TestSampleWritesValidApplications(t *testing.T) {
	dir := t.TempDir()
	if code, _, e := stationctl(t, "sample", "--out", dir, "--count", "3"); code != 0 {
		t.Fatal(e)
	}
	pkiDir := filepath.Join(dir, "pki")
	stationctl(t, "pki", "init", "--dir", pkiDir)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 3 {
		t.Fatalf("%d files", len(files))
	}
	for _, f := range files {
		if code, _, e := stationctl(t, "encode", "--application", f, "--pki", pkiDir, "--out", f+".out", "--aa-bits", "1024"); code != 0 {
			t.Errorf("%s: %s", f, e)
		}
	}
}

func TestUnknownCommandIsAUsageError(t *testing.T) {
	if code, _, _ := stationctl(t, "frobnicate"); code != 2 {
		t.Errorf("exit %d", code)
	}
	if code, _, _ := stationctl(t, "encode", "--nope"); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
}

// encode (and personalize, through the same signer loading) refuse a
// Document Signer certificate that verification would refuse: nothing is
// signed with it.
func TestEncodeRefusesAnExpiredDSCertificate(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	if err := pki.Init(pki.Options{Dir: pkiDir, Now: time.Now().AddDate(-2, 0, 0), DSUsage: 24 * time.Hour, DSValidity: 365 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	code, _, stderr := stationctl(t, "encode", "--application", "../../testdata/samples/nguyen-van-an.json", "--pki", pkiDir, "--out", out, "--aa-bits", "1024")
	if code == 0 || !strings.Contains(stderr, "expired") {
		t.Fatalf("encode with an expired DS certificate: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "011D.bin")); err == nil {
		t.Error("an EF.SOD was written")
	}
	code, _, stderr = stationctl(t, "personalize", "--reader", "no such reader", "--application", "../../testdata/samples/nguyen-van-an.json", "--pki", pkiDir)
	if code == 0 || !strings.Contains(stderr, "expired") {
		t.Errorf("personalize with an expired DS certificate: exit %d\n%s", code, stderr)
	}
}
