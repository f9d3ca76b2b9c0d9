package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/personalization"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/pki"
	"github.com/cccd-station/station/personalization/signer"
)

// loadApplication reads and validates an application file under a renewal
// policy; a refusal is the rejection exit status with every problem printed.
func loadApplication(file, policy string, stderr io.Writer) (*application.Application, error) {
	pol, err := application.ParsePolicy(policy)
	if err != nil {
		return nil, usageError("--policy: %v", err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	app, err := application.Parse(data, application.Rules{Policy: pol})
	if err != nil {
		return nil, rejected(stderr, err)
	}
	return app, nil
}

// openSigner loads a PKI directory and opens its Document Signer, warning
// on stderr when the key is a file (development only).
func openSigner(pkiDir string, stderr io.Writer) (*pki.PKI, signer.Signer, error) {
	p, err := pki.Load(pkiDir)
	if err != nil {
		return nil, nil, err
	}
	s, err := signer.Open(context.Background(), p.Signer)
	if err != nil {
		return nil, nil, err
	}
	if s.Backend() == "file" {
		fmt.Fprintln(stderr, signer.DevelopmentOnlyWarning)
	}
	// Nothing is signed (and no card touched) with a DS certificate that
	// verification would refuse.
	if err := pki.CheckSigner(s.Certificate(), s.Public(), p.CSCAs, time.Now()); err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("the Document Signer may not sign: %w", err)
	}
	return p, s, nil
}

// mrzFlags adds the MRZ conventions (lds.MRZConventions) to a command: the
// defaults are what real cards carry; a station configured otherwise
// (stationd's mrz key) is matched with these.
func mrzFlags(fs *flag.FlagSet) func() (lds.MRZConventions, error) {
	opt := fs.String("mrz-optional-data", lds.MRZIDWithCheck, "line 1 optional data: id-check (the 12-digit ID, <<, its check digit) or id")
	noExp := fs.String("mrz-no-expiry", lds.MRZNoExpiryDate, "MRZ expiry of a card without expiry: 991231 or <<<<<<")
	return func() (lds.MRZConventions, error) {
		c := lds.MRZConventions{OptionalData1: *opt, NoExpiry: *noExp}
		if err := c.Check(); err != nil {
			return c, usageError("--mrz-optional-data/--mrz-no-expiry: %v", err)
		}
		return c, nil
	}
}

// stockOptions choose the card stock stationctl recognizes: the products of
// a station's configuration file (--config: its profile, products and
// scp03 keys; the rest of the file is stationd's), or the virtual chips of
// a profile (--profile), or every virtual chip.
type stockOptions struct {
	profile, config *string
}

func stockFlags(fs *flag.FlagSet) *stockOptions {
	return &stockOptions{
		profile: fs.String("profile", "", "chip profile of the virtual chips to recognize: jmrtd or cccd (default: both)"),
		config:  fs.String("config", "", "a station configuration file: take its card stock (profile, products, scp03)"),
	}
}

// stationStock is what stationctl reads of a station configuration file.
type stationStock struct {
	Profile  string                    `yaml:"profile"`
	Products []personalization.Product `yaml:"products"`
	SCP03    signer.SCP03Config        `yaml:"scp03"`
}

// open builds the stock; scp03 is where the SCP03 master keys are unless
// the configuration says. The cccd profile is there without keys when none
// are known: it then identifies and verifies, and refuses to personalize.
func (o *stockOptions) open(scp03 signer.SCP03Config) (*personalization.Stock, func(), error) {
	var products []personalization.Product
	switch {
	case *o.config != "":
		b, err := os.ReadFile(*o.config)
		if err != nil {
			return nil, nil, err
		}
		var cfg stationStock
		if err := yaml.Unmarshal(b, &cfg); err != nil {
			return nil, nil, fmt.Errorf("--config %s: %w", *o.config, err)
		}
		if cfg.Profile == "" {
			cfg.Profile = "jmrtd"
		}
		products = cfg.Products
		for i := range products {
			if products[i].Profile == "" {
				products[i].Profile = cfg.Profile
			}
		}
		if len(products) == 0 {
			products = personalization.VirtualProductsOf(cfg.Profile)
		}
		if cfg.SCP03.Backend != "" {
			scp03 = cfg.SCP03
		}
	case *o.profile != "":
		if *o.profile != "jmrtd" && *o.profile != "cccd" {
			return nil, nil, usageError("--profile: jmrtd or cccd")
		}
		products = personalization.VirtualProductsOf(*o.profile)
	default:
		products = personalization.VirtualProducts
	}
	cccd := personalization.CCCD{}
	closer := func() {}
	for _, p := range products {
		if p.ProfileName() == "cccd" && scp03.Backend != "" && cccd.Masters == nil {
			m, err := signer.OpenSCP03(scp03)
			if err != nil {
				return nil, nil, fmt.Errorf("SCP03 master keys: %w", err)
			}
			cccd.Masters, closer = m, func() { m.Close() }
		}
	}
	st, err := personalization.NewStock(products, personalization.JMRTD{}, cccd)
	if err != nil {
		closer()
		return nil, nil, err
	}
	return st, closer, nil
}
