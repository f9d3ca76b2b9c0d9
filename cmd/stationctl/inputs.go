package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/cccd-station/station/application"
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
	return p, s, nil
}
