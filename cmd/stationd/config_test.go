package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cccd-station/station/personalization/signer"
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

// cccdProduct is one cccd product, with override (a "key: value" of YAML
// flow style) replacing its default.
func cccdProduct(override string) string {
	fields := map[string]string{"aa_key": "ecdsa-p256", "ca_key": "ecdh-brainpoolp256r1", "pace": "true", "scp03_kvn": "48", "eac": "false"}
	if k, v, ok := strings.Cut(override, ": "); ok {
		fields[k] = v
	}
	return "products: [{name: c, profile: cccd, atr: 3B8B80018073C821C0564343434431B0, extended_length: true, " +
		"max_command_data: 2048, max_response_data: 2048, aa_key: " + fields["aa_key"] + ", ca_key: " + fields["ca_key"] +
		", pace: " + fields["pace"] + ", scp03_kvn: " + fields["scp03_kvn"] + ", eac: " + fields["eac"] + "}]\n"
}

const scp03File = "scp03: {backend: file, file: /etc/scp03.json}\n"

func TestAValidCCCDConfigurationPassesCheck(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--config", writeConfig(t, goodConfig+cccdProduct("")+scp03File), "--check-config"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

// SCP03 master keys of another version than the stock's would refuse every
// card's session: the station does not start.
func TestSCP03KeysOfAnotherVersionStopTheStart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "scp03.json")
	if err := signer.WriteSCP03File(file, 0x31, 16); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(writeConfig(t, goodConfig+cccdProduct("")+"scp03: {backend: file, file: "+file+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.defaults()
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	_, _, err = newStock(cfg)
	if err == nil || !strings.Contains(err.Error(), "scp03_kvn 30, the SCP03 master keys are version 31") {
		t.Fatalf("newStock: %v; want the versions named", err)
	}
}

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
		// In-process virtual chips are saved as files with personal data
		// and keys: the demo only.
		"inprocess outside the demo": {goodConfig + "readers: {source: inprocess}\n", "for the demo only"},
		"mrz optional data":          {goodConfig + "mrz: {optional_data: full}\n", "mrz: "},
		"mrz no expiry":              {goodConfig + "mrz: {no_expiry: '000000'}\n", "no_expiry"},
		"min free space":             {goodConfig + "queue: {min_free_bytes: 1000}\n", "queue.min_free_bytes"},
		"ds expiry warning":          {goodConfig + "ds_expiry_warning: -1h\n", "ds_expiry_warning"},
		"profile":                    {goodConfig + "profile: jcop\n", "profile"},
		"cccd without scp03":         {goodConfig + "profile: cccd\n", "scp03"},
		"cccd product with rsa aa":   {goodConfig + cccdProduct("aa_key: rsa-2048") + scp03File, "aa_key must be ecdsa"},
		"cccd product without pace":  {goodConfig + cccdProduct("pace: false") + scp03File, "pace"},
		"cccd product with eac":      {goodConfig + cccdProduct("eac: true") + scp03File, "eac"},
		"cccd product without kvn":   {goodConfig + cccdProduct("scp03_kvn: 0") + scp03File, "scp03_kvn"},
		"jmrtd product with pace":    {goodConfig + "products: [{name: j, atr: 3B00, max_command_data: 255, max_response_data: 256, aa_key: rsa-2048, pace: true}]\n", "BAC only"},
		"scp03 pkcs11 without kvn":   {goodConfig + cccdProduct("") + "scp03: {backend: pkcs11, module: /m.so, token_label: t, key_label: k, pin_env: P}\n", "kvn"},
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

// The MRZ conventions of real cards are the default; the old ones can be
// configured.
func TestMRZConventionsAreConfigurable(t *testing.T) {
	var out, errb bytes.Buffer
	text := goodConfig + "mrz: {optional_data: id, no_expiry: '<<<<<<'}\n"
	if code := run([]string{"--config", writeConfig(t, text), "--check-config"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var errb2 bytes.Buffer
	if code := run([]string{"--config", writeConfig(t, goodConfig), "--readers", "inprocess", "--check-config"}, &out, &errb2); code != 2 {
		t.Errorf("--readers inprocess without --demo: exit %d", code)
	}
}

func TestUnknownFlagIsAUsageError(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--nope"}, &out, &errb); code != 2 {
		t.Errorf("exit %d", code)
	}
}

// TestPlainHTTPOnlyOnLoopbackAndTokensOnlyOverHTTPS: a listen address off
// the machine needs TLS (from the file or --listen), a webhook token goes
// only over https or to the machine itself, central_cert_only needs TLS and
// a pin.
func TestPlainHTTPOnlyOnLoopbackAndTokensOnlyOverHTTPS(t *testing.T) {
	const tlsOn = "tls: {cert_file: /etc/s.crt, key_file: /etc/s.key}\n"
	const pinned = "tls: {cert_file: /etc/s.crt, key_file: /etc/s.key, client_cert_sha256: [" +
		"3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a], central_cert_only: true}\n"
	refused := map[string]struct {
		text  string
		flags []string
		want  string
	}{
		"every interface":        {goodConfig + "listen: 0.0.0.0:8080\n", nil, "listen: plain HTTP only on a loopback address"},
		"every interface, IPv6":  {goodConfig + "listen: '[::]:8080'\n", nil, "listen: plain HTTP only on a loopback address"},
		"empty host":             {goodConfig + "listen: ':8080'\n", nil, "listen: plain HTTP only on a loopback address"},
		"a LAN address":          {goodConfig + "listen: 192.168.1.20:8080\n", nil, "listen: plain HTTP only on a loopback address"},
		"a host name":            {goodConfig + "listen: station.local:8080\n", nil, "listen: plain HTTP only on a loopback address"},
		"--listen flag":          {goodConfig, []string{"--listen", "0.0.0.0:8080"}, "listen: plain HTTP only on a loopback address"},
		"token over plain http":  {goodConfig + "webhook: {url: 'http://cms.example/events', token_file: /etc/w.token}\n", nil, "webhook.url: a token is sent only over https or to a loopback address"},
		"not http":               {goodConfig + "webhook: {url: 'ftp://cms.example/events'}\n", nil, "webhook.url: must be an https://"},
		"no host":                {goodConfig + "webhook: {url: 'https:///events'}\n", nil, "webhook.url: must name a host"},
		"credentials in the url": {goodConfig + "webhook: {url: 'https://u:p@cms.example/events'}\n", nil, "webhook.url: must not carry credentials"},
		"cert only without tls":  {goodConfig + "tls: {central_cert_only: true}\n", nil, "tls.central_cert_only: needs TLS"},
		"cert only without pins": {goodConfig + "tls: {cert_file: /etc/s.crt, key_file: /etc/s.key, central_cert_only: true}\n", nil, "tls.central_cert_only"},
	}
	for name, c := range refused {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"--config", writeConfig(t, c.text), "--check-config"}, c.flags...)
			if code := run(args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
				t.Errorf("exit %d, stderr %q; want a refusal saying %q", code, errb.String(), c.want)
			}
		})
	}
	accepted := map[string]struct {
		text  string
		flags []string
	}{
		"default (127.0.0.1)":      {goodConfig, nil},
		"127.0.0.2":                {goodConfig + "listen: 127.0.0.2:8080\n", nil},
		"::1":                      {goodConfig + "listen: '[::1]:8080'\n", nil},
		"localhost":                {goodConfig + "listen: localhost:8080\n", nil},
		"every interface over TLS": {goodConfig + "listen: 0.0.0.0:8443\n" + tlsOn, nil},
		"--listen on loopback":     {goodConfig, []string{"--listen", "127.0.0.1:9999"}},
		"token over https":         {goodConfig + "webhook: {url: 'https://cms.example/events', token_file: /etc/w.token}\n", nil},
		"token to loopback":        {goodConfig + "webhook: {url: 'http://127.0.0.1:9000/events', token_file: /etc/w.token}\n", nil},
		"plain http without token": {goodConfig + "webhook: {url: 'http://cms.example/events'}\n", nil},
		"cert only":                {goodConfig + "listen: 0.0.0.0:8443\n" + pinned, nil},
	}
	for name, c := range accepted {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"--config", writeConfig(t, c.text), "--check-config"}, c.flags...)
			if code := run(args, &out, &errb); code != 0 {
				t.Errorf("exit %d: %s", code, errb.String())
			}
		})
	}
}

// TestTheDemoListensOnLoopbackAndPassesTheCheck: the demo's configuration
// (plain HTTP) is valid as it is.
func TestTheDemoListensOnLoopbackAndPassesTheCheck(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--demo", "--data-dir", t.TempDir(), "--check-config"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}
