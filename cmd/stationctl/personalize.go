package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/pki"
)

// Exit status of a card that failed personalization or verification.
const exitCardFailed = 4

func init() {
	register(command{
		name:    "personalize",
		summary: "personalize one card in a reader, start to verified",
		run:     runPersonalize,
	})
	register(command{
		name:    "verify",
		summary: "verify a card as a border terminal would (BAC, passive and active authentication)",
		run:     runVerify,
	})
}

// connectCard connects exclusively to the card in the named reader through
// pcscd.
func connectCard(reader string) (*pcsc.Card, *pcsc.System, error) {
	sys, err := pcsc.Open()
	if err != nil {
		return nil, nil, err
	}
	conn, err := sys.Connect(reader)
	if err != nil {
		sys.Close()
		return nil, nil, err
	}
	return pcsc.NewCard(conn, pcsc.WithReaderName(reader)), sys, nil
}

func runPersonalize(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("personalize", stderr)
	reader := fs.String("reader", "", "PC/SC reader name (see 'stationctl readers')")
	appFile := fs.String("application", "", "application JSON")
	pkiDir := fs.String("pki", "", "PKI directory written by 'stationctl pki init'")
	policy := fs.String("policy", string(application.PolicyCCCD2014), "renewal-age policy")
	budget := fs.Int("face-budget", 20000, "largest face JPEG on the chip, bytes")
	mrz := mrzFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	conv, err := mrz()
	if err != nil {
		return err
	}
	if *reader == "" || *appFile == "" || *pkiDir == "" {
		return usageError("--reader, --application and --pki are required")
	}
	app, err := loadApplication(*appFile, *policy, stderr)
	if err != nil {
		return err
	}
	p, s, err := openSigner(*pkiDir, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	prof, err := personalization.NewJMRTD(nil)
	if err != nil {
		return err
	}

	card, sys, err := connectCard(*reader)
	if err != nil {
		return err
	}
	defer sys.Close()
	disposition := pcsc.UnpowerCard // the feeder takes the card
	defer func() { card.Close(disposition) }()

	product, err := prof.Identify(card.ATR())
	if err != nil {
		disposition = pcsc.LeaveCard
		return &exitError{code: exitCardFailed, err: fmt.Errorf("precheck: %w", err)}
	}
	fmt.Fprintf(stdout, "card     %s in %s, ATR %X\n", product.Name, *reader, card.ATR())
	started := time.Now()
	im, err := personalization.Prepare(app, personalization.PrepareOptions{
		Signer: s, DSCert: s.Certificate(), FaceBudget: *budget, AAKeyBits: product.MaxAAKeyBits, MRZ: conv,
	})
	if err != nil {
		disposition = pcsc.LeaveCard
		return rejected(stderr, err)
	}
	defer im.WipeAAKey()
	fmt.Fprintf(stdout, "prepared %d files, signed, in %v\n", len(im.Files), time.Since(started).Round(time.Millisecond))

	// Ctrl-C before writing begins leaves the card blank; afterwards the
	// card is finished.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	eng := &personalization.Engine{Profile: prof, CSCAs: p.CSCAs, Progress: func(s personalization.Step, what string) {
		fmt.Fprintf(stdout, "%-8s %s\n", s, what)
	}}
	res, err := eng.Personalize(ctx, card, im)
	if err != nil {
		var f *personalization.Failure
		if errors.As(err, &f) {
			if f.Report != nil {
				printChecks(stdout, f.Report)
			}
			verdict := "card refused, nothing written: take it out"
			switch {
			case f.Spoiled():
				verdict = fmt.Sprintf("card SPOILED (serial %s): set it aside for destruction", orUnknown(f.Serial))
			case f.Card == personalization.CardBlank:
				verdict = "card still blank: it can be used again"
			}
			fmt.Fprintf(stdout, "FAILED   %s: %v\n         %s\n", f.Step, f.Err, verdict)
			if f.Refused() {
				disposition = pcsc.LeaveCard
			}
			return &exitError{code: exitCardFailed, err: fmt.Errorf("%s: %w", f.Step, f.Err)}
		}
		return err
	}
	printChecks(stdout, res.Report)
	for _, st := range res.Steps {
		fmt.Fprintf(stdout, "  %-8s %8v %4d APDUs\n", st.Step, st.Duration.Round(time.Microsecond), st.APDUs)
	}
	fmt.Fprintf(stdout, "VERIFIED serial %s, %d APDUs, %v, EF.SOD sha256 %X\n         DS %s\n",
		res.Serial, res.APDUs, time.Since(started).Round(time.Millisecond), res.SODHash, res.DSCert.Subject)
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func printChecks(w io.Writer, r *personalization.Report) {
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %s", mark, c.Name)
		if c.Detail != "" {
			fmt.Fprintf(w, ": %s", c.Detail)
		}
		fmt.Fprintln(w)
	}
}

func runVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", stderr)
	reader := fs.String("reader", "", "PC/SC reader name")
	appFile := fs.String("application", "", "the card's application JSON (for the MRZ keys)")
	doc := fs.String("doc", "", "document number (9 characters, as in the MRZ)")
	dob := fs.String("dob", "", "date of birth YYMMDD (as in the MRZ, < for unknown parts)")
	exp := fs.String("exp", "", "date of expiry YYMMDD (as in the MRZ: 991231 on a card without expiry)")
	csca := fs.String("csca", "", "CSCA certificate(s), PEM (required)")
	mrz := mrzFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	conv, err := mrz()
	if err != nil {
		return err
	}
	if *reader == "" || *csca == "" {
		return usageError("--reader and --csca are required")
	}
	var bac lds.BACInputs
	switch {
	case *appFile != "" && (*doc != "" || *dob != "" || *exp != ""):
		return usageError("--application or --doc/--dob/--exp, not both")
	case *appFile != "":
		app, err := loadApplication(*appFile, "", stderr)
		if err != nil {
			return err
		}
		m, err := lds.NewMRZ(app, conv)
		if err != nil {
			return err
		}
		bac = lds.BACInputs{DocumentNumber: m.DocumentNumber, DateOfBirth: m.DateOfBirth, DateOfExpiry: m.DateOfExpiry}
	case *doc != "" && *dob != "" && *exp != "":
		bac = lds.BACInputs{DocumentNumber: strings.ToUpper(*doc), DateOfBirth: *dob, DateOfExpiry: *exp}
		for len(bac.DocumentNumber) < 9 {
			bac.DocumentNumber += "<"
		}
	default:
		return usageError("the MRZ keys are required: --application, or --doc, --dob and --exp")
	}
	cscas, err := pki.LoadCSCAs(*csca)
	if err != nil {
		return err
	}
	prof, err := personalization.NewJMRTD(nil)
	if err != nil {
		return err
	}
	card, sys, err := connectCard(*reader)
	if err != nil {
		return err
	}
	defer sys.Close()
	defer card.Close(pcsc.LeaveCard)
	o := personalization.VerifyOptions{CSCAs: cscas, ExpectLocked: true}
	if product, err := prof.Identify(card.ATR()); err == nil {
		o.MaxResponseData, o.ExtendedLength = product.MaxResponseData, product.ExtendedLength
		fmt.Fprintf(stdout, "card     %s, ATR %X\n", product.Name, card.ATR())
	} else {
		fmt.Fprintf(stdout, "card     unknown product (ATR %X): reading with short APDUs\n", card.ATR())
	}
	if serial, err := pcsc.ReadSerial(card); err == nil {
		fmt.Fprintf(stdout, "serial   %s\n", serial)
	}
	rep, err := personalization.Verify(card, bac, o)
	printChecks(stdout, rep)
	if rep.SODHash != nil {
		fmt.Fprintf(stdout, "EF.SOD   sha256 %X\n", rep.SODHash)
	}
	if err != nil {
		return &exitError{code: exitCardFailed, err: err}
	}
	fmt.Fprintln(stdout, "VERIFIED")
	return nil
}
