package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/pcsc/vcard/vcardtest"
	"github.com/cccd-station/station/personalization/pki"
	"github.com/cccd-station/station/personalization/signer"
)

func TestMain(m *testing.M) { pcscdtest.Main(m, 3) }

// plug puts a virtual chip into reader i of the test pcscd.
func plug(t *testing.T, i int, card vcard.Card) string {
	t.Helper()
	name, _ := vcardtest.Plug(t, i, card)
	return name
}

func TestPersonalizeThenVerifyAsAReader(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	if code, _, e := stationctl(t, "pki", "init", "--dir", pkiDir); code != 0 {
		t.Fatal(e)
	}
	chip := emrtd.New(emrtd.ModelExt144)
	reader := plug(t, 0, chip)
	app := "../../testdata/samples/tran-thi-ngoc-anh.json"
	code, out, errs := stationctl(t, "personalize", "--reader", reader, "--application", app, "--pki", pkiDir)
	if code != 0 || !strings.Contains(out, "VERIFIED serial "+chip.Serial()) {
		t.Fatalf("personalize: exit %d\n%s\n%s", code, out, errs)
	}
	for _, step := range []string{"precheck", "write", "seal", "verify", "ok   Active Authentication", "ok   SOD signature"} {
		if !strings.Contains(out, step) {
			t.Errorf("output lacks %q:\n%s", step, out)
		}
	}
	if !chip.Locked() {
		t.Error("chip not locked")
	}

	csca := filepath.Join(pkiDir, "csca.pem")
	code, out, errs = stationctl(t, "verify", "--reader", reader, "--application", app, "--csca", csca)
	if code != 0 || !strings.Contains(out, "VERIFIED") {
		t.Fatalf("verify --application: exit %d\n%s\n%s", code, out, errs)
	}
	// The MRZ keys by hand, as printed on the card: document number 190012345,
	// born 1990-02-28, expires 2030-02-28.
	code, out, _ = stationctl(t, "verify", "--reader", reader, "--doc", "190012345", "--dob", "900228", "--exp", "300228", "--csca", csca)
	if code != 0 {
		t.Fatalf("verify --doc: exit %d\n%s", code, out)
	}
	code, out, _ = stationctl(t, "verify", "--reader", reader, "--doc", "190012345", "--dob", "900301", "--exp", "300228", "--csca", csca)
	if code != exitCardFailed || !strings.Contains(out, "FAIL BAC") {
		t.Errorf("wrong date of birth: exit %d\n%s", code, out)
	}
}

func TestPersonalizeFailureSaysStepAndReason(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	stationctl(t, "pki", "init", "--dir", pkiDir)
	chip := emrtd.New(emrtd.ModelShort80, emrtd.WithFaults(emrtd.Faults{MemoryFailure: emrtd.AnyFile(40)}))
	reader := plug(t, 1, chip)
	code, out, _ := stationctl(t, "personalize", "--reader", reader, "--application", "../../testdata/samples/le-dinh-duc.json", "--pki", pkiDir)
	if code != exitCardFailed || !strings.Contains(out, "FAILED   write") || !strings.Contains(out, "SPOILED (serial "+chip.Serial()) {
		t.Errorf("exit %d\n%s", code, out)
	}
	// A locked card is refused, and nothing is written.
	good := emrtd.New(emrtd.ModelShort80)
	reader = plug(t, 2, good)
	if code, out, _ := stationctl(t, "personalize", "--reader", reader, "--application", "../../testdata/samples/le-dinh-duc.json", "--pki", pkiDir); code != 0 {
		t.Fatalf("first perso: %d %s", code, out)
	}
	code, out, _ = stationctl(t, "personalize", "--reader", reader, "--application", "../../testdata/samples/le-dinh-duc.json", "--pki", pkiDir)
	if code != exitCardFailed || !strings.Contains(out, "FAILED   precheck") || !strings.Contains(out, "refused") {
		t.Errorf("locked card: exit %d\n%s", code, out)
	}
}

// The cccd profile from the command line: pki init makes the TEST SCP03
// master keys beside the DS key; personalize --profile cccd makes a card end
// to end; verify reads it by PACE with the CAN, by PACE with the MRZ, and by
// BAC as an older reader would, naming every check.
func TestPersonalizeACCCDCardThenVerifyByCANMRZAndBAC(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	if code, _, e := stationctl(t, "pki", "init", "--dir", pkiDir); code != 0 {
		t.Fatal(e)
	}
	kvn, enc, mac, dek, err := signer.SCP03FileKeys(filepath.Join(pkiDir, pki.SCP03File))
	if err != nil {
		t.Fatal(err)
	}
	m, err := emrtd.NewSCP03Master(kvn, enc, mac, dek)
	if err != nil {
		t.Fatal(err)
	}
	chip := emrtd.New(emrtd.ModelCCCD, emrtd.WithSCP03Master(m))
	reader := plug(t, 0, chip)
	app := "../../testdata/samples/nguyen-van-an.json"
	code, out, errs := stationctl(t, "personalize", "--profile", "cccd", "--reader", reader, "--application", app, "--pki", pkiDir)
	if code != 0 || !strings.Contains(out, "VERIFIED serial "+chip.Serial()) {
		t.Fatalf("personalize: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"profile cccd", "open", "keys", "sign", "ok   PACE-CAN", "ok   Chip Authentication", "ok   Active Authentication"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	csca := filepath.Join(pkiDir, "csca.pem")
	for _, c := range []struct {
		args   []string
		access string
	}{
		{[]string{"--can", "001234"}, "PACE-CAN"},
		{[]string{"--doc", "203001234", "--dob", "030514", "--exp", "430514"}, "PACE-MRZ"},
		{[]string{"--doc", "203001234", "--dob", "030514", "--exp", "430514", "--bac"}, "BAC"},
	} {
		args := append([]string{"verify", "--reader", reader, "--csca", csca}, c.args...)
		code, out, errs := stationctl(t, args...)
		if code != 0 || !strings.Contains(out, "VERIFIED") || !strings.Contains(out, "access   "+c.access) || !strings.Contains(out, "ok   Chip Authentication") {
			t.Errorf("verify %v: exit %d\n%s\n%s", c.args, code, out, errs)
		}
	}
	code, out, _ = stationctl(t, "verify", "--reader", reader, "--csca", csca, "--can", "999999")
	if code != exitCardFailed || !strings.Contains(out, "FAIL PACE-CAN") {
		t.Errorf("wrong CAN: exit %d\n%s", code, out)
	}
}
