package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cccd-station/station/application"
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
