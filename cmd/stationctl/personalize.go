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
	"github.com/cccd-station/station/personalization/signer"
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
	pkiDir := fs.String("pki", "", "PKI directory written by 'stationctl pki init' (DS key, CSCA, SCP03 master keys)")
	policy := fs.String("policy", string(application.PolicyCCCD2014), "renewal-age policy")
	budget := fs.Int("face-budget", 20000, "largest face JPEG on the chip, bytes")
	stockFlags := stockFlags(fs)
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
	stock, closeStock, err := stockFlags.open(p.SCP03)
	if err != nil {
		return err
	}
	defer closeStock()

	card, sys, err := connectCard(*reader)
	if err != nil {
		return err
	}
	defer sys.Close()
	disposition := pcsc.UnpowerCard // the feeder takes the card
	defer func() { card.Close(disposition) }()

	product, _, err := stock.Identify(card.ATR())
	if err != nil {
		disposition = pcsc.LeaveCard
		return &exitError{code: exitCardFailed, err: fmt.Errorf("precheck: %w", err)}
	}
	fmt.Fprintf(stdout, "card     %s (profile %s) in %s, ATR %X\n", product.Name, product.ProfileName(), *reader, card.ATR())
	started := time.Now()
	content, err := personalization.PrepareContent(app, personalization.ContentOptions{FaceBudget: *budget, MRZ: conv})
	if err != nil {
		disposition = pcsc.LeaveCard
		return rejected(stderr, err)
	}
	fmt.Fprintf(stdout, "prepared %d data groups in %v\n", len(content.Files), time.Since(started).Round(time.Millisecond))

	// Ctrl-C before writing begins leaves the card blank; afterwards the
	// card is finished.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	eng := &personalization.Engine{Stock: stock, Signer: s, DSCert: s.Certificate(), CSCAs: p.CSCAs,
		Progress: func(s personalization.Step, what string) { fmt.Fprintf(stdout, "%-8s %s\n", s, what) }}
	res, err := eng.Personalize(ctx, card, content)
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
	appFile := fs.String("application", "", "the card's application JSON (for the MRZ keys and the CAN)")
	can := fs.String("can", "", "card access number: PACE with the CAN (the last 6 digits of the personal ID)")
	doc := fs.String("doc", "", "document number (9 characters, as in the MRZ): PACE with the MRZ, or BAC")
	dob := fs.String("dob", "", "date of birth YYMMDD (as in the MRZ, < for unknown parts)")
	exp := fs.String("exp", "", "date of expiry YYMMDD (as in the MRZ: 991231 on a card without expiry)")
	noPACE := fs.Bool("bac", false, "use BAC even where the chip offers PACE (as a BAC-only reader)")
	csca := fs.String("csca", "", "CSCA certificate(s), PEM (required)")
	stockFlags := stockFlags(fs)
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
	var keys personalization.AccessKeys
	haveMRZ := *doc != "" || *dob != "" || *exp != ""
	switch {
	case *appFile != "" && (haveMRZ || *can != ""):
		return usageError("--application, or --can and/or --doc/--dob/--exp, not both")
	case *appFile != "":
		app, err := loadApplication(*appFile, "", stderr)
		if err != nil {
			return err
		}
		m, err := lds.NewMRZ(app, conv)
		if err != nil {
			return err
		}
		keys.BAC = lds.BACInputs{DocumentNumber: m.DocumentNumber, DateOfBirth: m.DateOfBirth, DateOfExpiry: m.DateOfExpiry}
		keys.CAN = app.CAN()
	case haveMRZ && (*doc == "" || *dob == "" || *exp == ""):
		return usageError("the MRZ keys are --doc, --dob and --exp together")
	case haveMRZ || *can != "":
		keys.BAC = lds.BACInputs{DocumentNumber: strings.ToUpper(*doc), DateOfBirth: *dob, DateOfExpiry: *exp}
		if haveMRZ {
			for len(keys.BAC.DocumentNumber) < 9 {
				keys.BAC.DocumentNumber += "<"
			}
		}
		keys.CAN = *can
		if keys.CAN != "" && (len(keys.CAN) != 6 || strings.Trim(keys.CAN, "0123456789") != "") {
			return usageError("--can: 6 digits")
		}
	default:
		return usageError("the access keys are required: --application, --can, or --doc, --dob and --exp")
	}
	if *noPACE && !haveMRZ && *appFile == "" {
		return usageError("--bac needs the MRZ keys (--doc, --dob, --exp or --application)")
	}
	if *noPACE {
		keys.CAN = ""
	}
	cscas, err := pki.LoadCSCAs(*csca)
	if err != nil {
		return err
	}
	stock, closeStock, err := stockFlags.open(signer.SCP03Config{})
	if err != nil {
		return err
	}
	defer closeStock()
	card, sys, err := connectCard(*reader)
	if err != nil {
		return err
	}
	defer sys.Close()
	defer card.Close(pcsc.LeaveCard)
	v := &personalization.Verifier{}
	if product, _, err := stock.Identify(card.ATR()); err == nil {
		v = personalization.VerifierFor(product)
		fmt.Fprintf(stdout, "card     %s, ATR %X\n", product.Name, card.ATR())
	} else {
		fmt.Fprintf(stdout, "card     unknown product (ATR %X): reading with short APDUs\n", card.ATR())
	}
	v.CSCAs, v.ExpectLocked, v.NoPACE = cscas, true, *noPACE
	if serial, err := pcsc.ReadSerial(card); err == nil {
		fmt.Fprintf(stdout, "serial   %s\n", serial)
	}
	rep, err := v.Verify(card, keys)
	if rep.Access != "" {
		fmt.Fprintf(stdout, "access   %s\n", rep.Access)
	}
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
