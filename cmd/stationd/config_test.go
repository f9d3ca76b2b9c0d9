package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "station.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodConfig = `
data_dir: /tmp/x
signer: {backend: pkcs11, module: /usr/lib/softhsm/libsofthsm2.so, token_label: t, key_label: k, pin_env: PIN}
csca_file: /etc/csca.pem
data_key: {file: /etc/data.key}
`

func TestAValidConfigurationPassesCheck(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--config", writeConfig(t, goodConfig), "--check-config"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

// Each mistake is refused with the key that is wrong and why.
func TestBadConfigurationsNameTheKey(t *testing.T) {
	cases := map[string]struct {
		text string
		want string
	}{
		"unknown key":        {goodConfig + "readrs: {}\n", "readrs"},
		"listen":             {goodConfig + "listen: nowhere\n", "listen:"},
		"reader source":      {goodConfig + "readers: {source: usb}\n", "readers.source"},
		"bad pattern":        {goodConfig + "readers: {use: ['[']}\n", "readers.use/ignore"},
		"aa bits":            {goodConfig + "aa_key_bits: 4096\n", "aa_key_bits"},
		"face budget":        {goodConfig + "face_budget: 100000\n", "face_budget"},
		"policy":             {goodConfig + "policy: cmnd-1999\n", "policy"},
		"max attempts":       {goodConfig + "queue: {max_attempts: 0}\n", ""},
		"signer backend":     {strings.Replace(goodConfig, "backend: pkcs11", "backend: usb", 1), "signer.backend"},
		"pin in no source":   {strings.Replace(goodConfig, ", pin_env: PIN", "", 1), "pin_file or pin_env"},
		"two key sources":    {strings.Replace(goodConfig, "{file: /etc/data.key}", "{file: /etc/data.key, env: K}", 1), "data_key"},
		"no csca":            {strings.Replace(goodConfig, "csca_file: /etc/csca.pem", "", 1), "csca_file"},
		"tls half":           {goodConfig + "tls: {cert_file: /a}\n", "tls:"},
		"pins without tls":   {goodConfig + "tls: {client_cert_sha256: [abcd]}\n", "client_cert_sha256"},
		"log level":          {goodConfig + "log: {level: loud}\n", "log.level"},
		"product":            {goodConfig + "products: [{name: x, atr: zz}]\n", "products[0]"},
		"pin in config file": {goodConfig + "signer_pin: 1234\n", "signer_pin"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run([]string{"--config", writeConfig(t, c.text), "--check-config"}, &out, &errb)
			if name == "max attempts" {
				// 0 means the default: accepted.
				if code != 0 {
					t.Errorf("exit %d: %s", code, errb.String())
				}
				return
			}
			if code != 2 || !strings.Contains(errb.String(), c.want) {
				t.Errorf("exit %d, stderr %q; want a refusal naming %q", code, errb.String(), c.want)
			}
		})
	}
}

func TestUnknownFlagIsAUsageError(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--nope"}, &out, &errb); code != 2 {
		t.Errorf("exit %d", code)
	}
}
