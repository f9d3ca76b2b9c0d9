package pcsc

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The trace's masking table, pinned: what may be shown of each kind of
// command. A secret or personal byte in a trace is a defect.
func TestTraceVisibilityTable(t *testing.T) {
	tests := []struct {
		name               string
		cmd                string
		showData, showResp bool
	}{
		{"SELECT by AID", "00A4040C07A0000002471001", true, true},
		{"SELECT by FID", "00A4020C020101", true, true},
		{"GET DATA CPLC", "80CA9F7F00", true, true},
		{"GET DATA CPLC CB", "00CB9F7F00", true, true},
		{"PC/SC GET UID", "FFCA000000", true, true},
		{"GET CHALLENGE", "0084000008", true, true},
		{"CREATE FILE", "00E00000" + "0A" + "620883020101800200FF", true, true},
		{"READ BINARY: offset shown, content hidden", "00B0000000", true, false},
		{"READ BINARY odd INS", "00B100000453020000", true, false},
		{"VERIFY PIN", "002000800831323334FFFFFFFF", false, false},
		{"CHANGE REFERENCE DATA", "0024008010", false, false},
		{"RESET RETRY COUNTER", "002C008010", false, false},
		{"EXTERNAL AUTHENTICATE (BAC)", "008200002811223344", false, false},
		{"GENERAL AUTHENTICATE (PIV)", "00879A9B04", false, false},
		{"PUT DATA (MRZ key seed, AA key)", "00DA006210", false, false},
		{"PUT DATA odd", "00DB3FFF10", false, false},
		{"UPDATE BINARY", "00D6000010", false, false},
		{"UPDATE BINARY odd", "00D7000010", false, false},
		{"WRITE BINARY", "00D0000010", false, false},
		{"SM READ BINARY", "0CB000000D970100", false, false},
		{"SM SELECT", "0CA4020C15870901", false, false},
		{"SM further interindustry class", "60B0000000", false, false},
		{"GP secure channel", "84E6000010", false, false},
		{"GET DATA other object", "80CA006600", false, false},
		{"INTERNAL AUTHENTICATE", "0088000008", false, false},
		{"unknown instruction", "00FD000000", false, false},
		{"GET RESPONSE by itself", "00C0000010", false, false},
		{"too short", "00A4", false, false},
	}
	for _, tt := range tests {
		d, r := Visibility(unhex(tt.cmd))
		if d != tt.showData || r != tt.showResp {
			t.Errorf("%s (%s): show data %v, response %v; want %v, %v", tt.name, tt.cmd, d, r, tt.showData, tt.showResp)
		}
	}
}

func TestTraceNeverHoldsMaskedBytes(t *testing.T) {
	var sink bytes.Buffer
	var logged bytes.Buffer
	tr := NewTrace(4, TraceTo(&sink), TraceLog(slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	secret := "0102030405060708090A0B0C0D0E0F10"
	// PUT DATA with a key seed, UPDATE BINARY with a name, READ BINARY
	// answering personal data, and GET RESPONSE continuing that READ.
	readCmd := unhex("00B0000000")
	tr.Record("R", unhex("00DA0062 10"+secret), unhex("00DA006210"+secret), unhex("9000"), time.Now(), time.Microsecond, nil)
	tr.Record("R", unhex("00D60000 10"+secret), unhex("00D6000010"+secret), unhex("9000"), time.Now(), time.Microsecond, nil)
	tr.Record("R", readCmd, readCmd, unhex(secret+"6110"), time.Now(), time.Microsecond, nil)
	tr.Record("R", readCmd, unhex("00C0000010"), unhex(secret+"9000"), time.Now(), time.Microsecond, nil)
	for _, e := range tr.Entries() {
		if e.Data != nil || e.Resp != nil {
			t.Errorf("entry %s keeps data %X / %X", e, e.Data, e.Resp)
		}
	}
	for what, s := range map[string]string{"writer": sink.String(), "slog": logged.String()} {
		if strings.Contains(strings.ToUpper(s), secret) {
			t.Errorf("the %s sink shows masked bytes:\n%s", what, s)
		}
		if !strings.Contains(s, "00DA0062") || !strings.Contains(s, "9000") {
			t.Errorf("the %s sink lacks header or SW:\n%s", what, s)
		}
	}
	// Visible commands are shown.
	tr.Record("R", unhex("00A4040C07A0000002471001"), unhex("00A4040C07A0000002471001"), unhex("9000"), time.Now(), time.Microsecond, nil)
	es := tr.Entries()
	if last := es[len(es)-1]; !bytes.Equal(last.Data, unhex("A0000002471001")) {
		t.Errorf("SELECT data not shown: %s", last)
	}
	if len(es) != 4 {
		t.Errorf("ring of 4 holds %d entries", len(es))
	}
}
