package main

import (
	"fmt"
	"io"

	"github.com/cccd-station/station/personalization/pki"
)

func init() {
	register(command{
		name:    "pki init",
		summary: "create a TEST CSCA and Document Signer (csca.pem, ds.pem, ds-key.pem)",
		run:     runPKIInit,
	})
}

func runPKIInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki init", stderr)
	dir := fs.String("dir", "", "directory to write the PKI into (required)")
	station := fs.String("station", "station", "station name for the DS certificate")
	module := fs.String("pkcs11-module", "", "PKCS#11 module: generate the DS key inside this token")
	token := fs.String("token-label", "", "PKCS#11 token label")
	pin := fs.String("pin", "", "PKCS#11 user PIN, for this login only (the station later reads it from --pin-env or --pin-file)")
	pinEnv := fs.String("pin-env", "", "environment variable the station will read the PIN from (default STATION_DS_PIN)")
	pinFile := fs.String("pin-file", "", "file the station will read the PIN from")
	keyLabel := fs.String("key-label", "station-ds", "PKCS#11 label of the DS key")
	force := fs.Bool("force", false, "replace an existing PKI in the directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError("--dir is required")
	}
	if *module != "" && (*token == "" || *pin == "") {
		return usageError("--pkcs11-module needs --token-label and --pin")
	}
	err := pki.Init(pki.Options{
		Dir: *dir, Station: *station, PKCS11Module: *module, TokenLabel: *token, PIN: *pin,
		PINEnv: *pinEnv, PINFile: *pinFile, KeyLabel: *keyLabel, Force: *force,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "TEST PKI written to %s: %s, %s, ", *dir, pki.CSCAFile, pki.DSFile)
	if *module != "" {
		fmt.Fprintf(stdout, "%s (DS key %q in token %q)\n", pki.SignerConfFile, *keyLabel, *token)
	} else {
		fmt.Fprintf(stdout, "%s (development only: the DS key is a file)\n", pki.DSKeyFile)
	}
	return nil
}
