package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/personalization"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/signer"
)

// Config is the station's configuration file (YAML). Every field is
// documented in docs/configuration.md; Check explains what is wrong with a
// bad one.
type Config struct {
	StationID string `yaml:"station_id"`
	DataDir   string `yaml:"data_dir"`
	Listen    string `yaml:"listen"`

	TLS struct {
		CertFile string `yaml:"cert_file"`
		KeyFile  string `yaml:"key_file"`
		// ClientCertSHA256: pinned client certificates (mutual TLS),
		// hex SHA-256 of each DER certificate.
		ClientCertSHA256 []string `yaml:"client_cert_sha256"`
		// CentralCertOnly: central authenticates only with a pinned
		// client certificate; tokens of role central are refused.
		CentralCertOnly bool `yaml:"central_cert_only"`
	} `yaml:"tls"`

	Readers struct {
		// Source: "pcscd" (the system's PC/SC service) or "inprocess"
		// (virtual readers, the demo).
		Source string `yaml:"source"`
		// Use and Ignore are reader-name patterns (path.Match syntax,
		// e.g. "Virtual PCD*"); Ignore wins. Empty Use: every reader.
		Use    []string `yaml:"use"`
		Ignore []string `yaml:"ignore"`
		// InProcess: how many virtual readers with card feeders (source
		// inprocess).
		InProcess int `yaml:"inprocess"`
	} `yaml:"readers"`

	// MRZ: the MRZ conventions (line 1's optional data, the expiry of a
	// card without one); default what real cards carry.
	MRZ lds.MRZConventions `yaml:"mrz"`
	// DSExpiryWarning: warn this long before the DS certificate (or its
	// key usage period) ends; default 30 days.
	DSExpiryWarning time.Duration `yaml:"ds_expiry_warning"`

	// Profile is the profile of the products that name none, and, without
	// products, which virtual chips the station takes: "jmrtd" or "cccd".
	Profile string `yaml:"profile"`
	// Products are the card stock, each with its profile, recognized by
	// ATR; default: the virtual chips of the profile.
	Products []personalization.Product `yaml:"products"`
	// SCP03: the master keys of the cccd profile's personalization keys
	// (required with cccd products).
	SCP03      signer.SCP03Config `yaml:"scp03"`
	FaceBudget int                `yaml:"face_budget"`
	Policy     string             `yaml:"policy"`

	Signer signer.Config `yaml:"signer"`
	// CSCAFile: the CSCA certificate(s) verification trusts (PEM).
	CSCAFile string `yaml:"csca_file"`

	// DataKey: the AES-256 key of personal data at rest: a file (mode
	// 0600) or an environment variable, never here in clear.
	DataKey struct {
		File string `yaml:"file"`
		Env  string `yaml:"env"`
	} `yaml:"data_key"`

	Queue struct {
		MaxAttempts int           `yaml:"max_attempts"`
		Retention   time.Duration `yaml:"retention"`
		Ahead       int           `yaml:"ahead"`
		// MinFreeBytes: below this much free space on the data
		// directory's file system no card is claimed (default 64 MiB).
		MinFreeBytes uint64 `yaml:"min_free_bytes"`
	} `yaml:"queue"`

	Webhook struct {
		URL       string `yaml:"url"`
		TokenFile string `yaml:"token_file"`
	} `yaml:"webhook"`

	// demo: stationd --demo (not a configuration key).
	demo bool

	Log struct {
		Level  string `yaml:"level"`  // debug, info, warn, error
		Format string `yaml:"format"` // text, json
		// APDUTrace: log every APDU (masked) at debug level.
		APDUTrace bool `yaml:"apdu_trace"`
	} `yaml:"log"`
}

// defaults fills what a configuration may leave out.
func (c *Config) defaults() {
	if c.StationID == "" {
		c.StationID = "station"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Readers.Source == "" {
		c.Readers.Source = "pcscd"
	}
	if c.Readers.InProcess == 0 {
		c.Readers.InProcess = 4
	}
	if c.Profile == "" {
		c.Profile = "jmrtd"
	}
	for i := range c.Products {
		if c.Products[i].Profile == "" {
			c.Products[i].Profile = c.Profile
		}
	}
	if c.FaceBudget == 0 {
		c.FaceBudget = 20000
	}
	if c.Policy == "" {
		c.Policy = string(application.PolicyCCCD2014)
	}
	if c.Queue.MaxAttempts == 0 {
		c.Queue.MaxAttempts = 3
	}
	if c.Queue.MinFreeBytes == 0 {
		c.Queue.MinFreeBytes = 64 << 20
	}
	if c.DSExpiryWarning == 0 {
		c.DSExpiryWarning = 30 * 24 * time.Hour
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
}

// loadConfig reads a YAML configuration strictly: an unknown key is an
// error (a misspelt key must not silently fall back to a default).
func loadConfig(path string) (*Config, error) {
	var c Config
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	return &c, nil
}

// Check validates the configuration, naming each wrong key and why.
func (c *Config) Check() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if c.DataDir == "" {
		bad("data_dir", "required (or --data-dir)")
	}
	if host, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "must be HOST:PORT (%v)", err)
	} else if c.TLS.CertFile == "" && !isLoopback(host) {
		bad("listen", "plain HTTP only on a loopback address (127.0.0.0/8, ::1, localhost; an empty host or 0.0.0.0 is every interface): "+
			"set tls.cert_file and tls.key_file, or listen on 127.0.0.1")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file go together")
	}
	if len(c.TLS.ClientCertSHA256) > 0 && c.TLS.CertFile == "" {
		bad("tls.client_cert_sha256", "pinned client certificates need TLS (cert_file, key_file)")
	}
	for i, fp := range c.TLS.ClientCertSHA256 {
		if len(strings.ReplaceAll(fp, ":", "")) != 64 {
			bad(fmt.Sprintf("tls.client_cert_sha256[%d]", i), "must be the 64 hex digits of a SHA-256")
		}
	}
	if c.TLS.CentralCertOnly && (c.TLS.CertFile == "" || len(c.TLS.ClientCertSHA256) == 0) {
		bad("tls.central_cert_only", "needs TLS (cert_file, key_file) and at least one pinned client certificate (client_cert_sha256)")
	}
	c.checkWebhook(bad)
	switch c.Readers.Source {
	case "pcscd":
	case "inprocess":
		// In-process virtual chips are saved as files holding the chip's
		// personal data and private keys, outside the encrypted store and
		// its purge: the demo's invented people only.
		if !c.demo {
			bad("readers.source", "inprocess (virtual readers) is for the demo only (stationd --demo): its saved chips hold personal data and keys")
		}
	default:
		bad("readers.source", "must be pcscd or inprocess")
	}
	for _, p := range append(append([]string{}, c.Readers.Use...), c.Readers.Ignore...) {
		if _, err := filepath.Match(p, ""); err != nil {
			bad("readers.use/ignore", "pattern %q: %v", p, err)
		}
	}
	if c.Readers.InProcess < 1 || c.Readers.InProcess > 64 {
		bad("readers.inprocess", "must be 1–64")
	}
	if c.Profile != "jmrtd" && c.Profile != "cccd" {
		bad("profile", "must be jmrtd or cccd")
	}
	for i, p := range c.Products {
		if err := p.Check(); err != nil {
			bad(fmt.Sprintf("products[%d]", i), "%v", err)
		}
	}
	if c.needsSCP03() {
		switch c.SCP03.Backend {
		case "file":
			if c.SCP03.File == "" {
				bad("scp03", "backend file needs file")
			}
		case "pkcs11":
			if c.SCP03.Module == "" || c.SCP03.TokenLabel == "" || c.SCP03.KeyLabel == "" || c.SCP03.KVN == 0 {
				bad("scp03", "backend pkcs11 needs module, token_label, key_label and kvn")
			}
			if c.SCP03.PINFile == "" && c.SCP03.PINEnv == "" {
				bad("scp03", "backend pkcs11 needs pin_file or pin_env")
			}
		default:
			bad("scp03.backend", "cccd products need the SCP03 master keys: backend file or pkcs11")
		}
	}
	if c.FaceBudget < 5000 || c.FaceBudget > 32000 {
		bad("face_budget", "must be 5000–32000 bytes (a file on the chip holds at most 32767)")
	}
	if _, err := application.ParsePolicy(c.Policy); err != nil {
		bad("policy", "%v", err)
	}
	switch c.Signer.Backend {
	case "file":
		if c.Signer.KeyFile == "" || c.Signer.CertFile == "" {
			bad("signer", "backend file needs key_file and cert_file")
		}
	case "pkcs11":
		if c.Signer.Module == "" || c.Signer.TokenLabel == "" || c.Signer.KeyLabel == "" {
			bad("signer", "backend pkcs11 needs module, token_label and key_label")
		}
	case "piv":
	default:
		bad("signer.backend", "must be file, pkcs11 or piv")
	}
	if c.Signer.Backend != "file" && c.Signer.PINFile == "" && c.Signer.PINEnv == "" {
		bad("signer", "backend %s needs pin_file or pin_env (a PIN is never written in the configuration)", c.Signer.Backend)
	}
	if c.CSCAFile == "" {
		bad("csca_file", "required: the CSCA certificate(s) that verification trusts")
	}
	if (c.DataKey.File == "") == (c.DataKey.Env == "") {
		bad("data_key", "exactly one of file or env")
	}
	if c.Queue.MaxAttempts < 1 || c.Queue.MaxAttempts > 10 {
		bad("queue.max_attempts", "must be 1–10")
	}
	if c.Queue.Retention < 0 {
		bad("queue.retention", "must not be negative")
	}
	if c.Queue.MinFreeBytes < 1<<20 {
		bad("queue.min_free_bytes", "must be at least 1 MiB (1048576): the records of the cards in hand need room")
	}
	if c.DSExpiryWarning < 0 {
		bad("ds_expiry_warning", "must not be negative")
	}
	if err := c.MRZ.Check(); err != nil {
		bad("mrz", "%s", strings.TrimPrefix(err.Error(), lds.ErrMRZ.Error()+": "))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "must be text or json")
	}
	return errors.Join(errs...)
}

// checkWebhook: an http(s) URL with a host and no credentials in it; a token
// is sent only over https or to a loopback address.
func (c *Config) checkWebhook(bad func(key, format string, a ...any)) {
	if c.Webhook.URL == "" {
		return
	}
	u, err := url.Parse(c.Webhook.URL)
	switch {
	case err != nil:
		bad("webhook.url", "not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		bad("webhook.url", "must be an https:// (or, to a loopback address, http://) URL")
	case u.Hostname() == "":
		bad("webhook.url", "must name a host")
	case u.User != nil:
		bad("webhook.url", "must not carry credentials (the token comes from webhook.token_file)")
	case u.Scheme == "http" && c.Webhook.TokenFile != "" && !isLoopback(u.Hostname()):
		bad("webhook.url", "a token is sent only over https or to a loopback address: use https://")
	}
}

// isLoopback: a host that is a loopback address (127.0.0.0/8, ::1) or
// "localhost". An empty host, 0.0.0.0 and :: are every interface.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// stock is the card stock the configuration names: its products, or the
// virtual chips of its profile.
func (c *Config) stock() []personalization.Product {
	if len(c.Products) > 0 {
		return c.Products
	}
	return personalization.VirtualProductsOf(c.Profile)
}

// needsSCP03: some product of the stock is personalized over SCP03.
func (c *Config) needsSCP03() bool {
	for _, p := range c.stock() {
		if p.ProfileName() == "cccd" {
			return true
		}
	}
	return false
}

// useReader returns the reader filter of the configuration.
func (c *Config) useReader() func(string) bool {
	return func(name string) bool {
		for _, p := range c.Readers.Ignore {
			if ok, _ := filepath.Match(p, name); ok {
				return false
			}
		}
		if len(c.Readers.Use) == 0 {
			return true
		}
		for _, p := range c.Readers.Use {
			if ok, _ := filepath.Match(p, name); ok {
				return true
			}
		}
		return false
	}
}
