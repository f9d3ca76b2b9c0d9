package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/personalization"
)

// Exit status of a command refused because the application is invalid: the
// caller should fix the data, not retry.
const exitRejected = 3

func init() {
	register(command{
		name:    "encode",
		summary: "validate an application and write its signed chip image (one file per EF)",
		run:     runEncode,
	})
}

func runEncode(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("encode", stderr)
	appFile := fs.String("application", "", "application JSON as central sends it (required)")
	pkiDir := fs.String("pki", "", "PKI directory written by 'stationctl pki init' (required)")
	out := fs.String("out", "", "output directory (required)")
	policy := fs.String("policy", string(application.PolicyCCCD2014), "renewal-age policy: cccd-2014 or identity-2023")
	budget := fs.Int("face-budget", 20000, "largest face JPEG on the chip, bytes")
	aaBits := fs.Int("aa-bits", 2048, "Active Authentication RSA key size: 2048, or 1024 for chips that take no more")
	writeAAKey := fs.Bool("write-aa-key", false, "also write the AA private key in clear (aa-key.pem): for QA only")
	mrz := mrzFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	conv, err := mrz()
	if err != nil {
		return err
	}
	if *appFile == "" || *pkiDir == "" || *out == "" {
		return usageError("--application, --pki and --out are required")
	}
	app, err := loadApplication(*appFile, *policy, stderr)
	if err != nil {
		return err
	}
	_, s, err := openSigner(*pkiDir, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	im, err := personalization.Prepare(app, personalization.PrepareOptions{
		Signer: s, DSCert: s.Certificate(), AAKeyBits: *aaBits,
		ContentOptions: personalization.ContentOptions{FaceBudget: *budget, MRZ: conv},
	})
	if err != nil {
		return rejected(stderr, err)
	}
	defer im.WipeAAKey()
	m, err := im.WriteDir(*out, *writeAAKey)
	if err != nil {
		return err
	}
	for _, f := range m.Files {
		fmt.Fprintf(stdout, "%-7s %s  %6d bytes  sha256 %s\n", f.Name, f.File, f.Size, f.SHA256)
	}
	fmt.Fprintf(stdout, "manifest: %s/manifest.json\n", *out)
	return nil
}

// rejected prints the fields and rules an application broke, one per line,
// and returns the rejection exit status; other errors pass through.
func rejected(stderr io.Writer, err error) error {
	var ve *application.ValidationError
	var re *personalization.RejectError
	switch {
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			fmt.Fprintf(stderr, "%s: %s\n", p.Field, p.Rule)
		}
		return &exitError{code: exitRejected, err: fmt.Errorf("application rejected: %d problem(s)", len(ve.Problems))}
	case errors.As(err, &re):
		fmt.Fprintf(stderr, "%s: %s\n", re.Field, re.Rule)
		return &exitError{code: exitRejected, err: errors.New("application rejected")}
	}
	return err
}
