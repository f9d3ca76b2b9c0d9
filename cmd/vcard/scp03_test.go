package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/pcsc/vcard/vcardtest"
	"github.com/cccd-station/station/personalization/signer"
)

const (
	key16 = "A1A2A3A4A5A6A7A8A9AAABACADAEAFB0"
	key32 = key16 + key16
)

func TestSCP03MasterFileForms(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		kvn        byte
		bits       int
		bad        bool
	}{
		{"JSON", `{"kvn": "31", "enc": "` + key16 + `", "mac": "` + key16 + `", "dek": "` + key16 + `"}`, 0x31, 128, false},
		{"JSON AES-256", `{"kvn":"32","enc":"` + key32 + `","mac":"` + key32 + `","dek":"` + key32 + `"}`, 0x32, 256, false},
		{"hex words", "# station TEST keys\n30 " + key16 + "\n" + key16 + " " + key16 + "\n", 0x30, 128, false},
		{"JSON, unknown field", `{"kvn": "31", "enc": "` + key16 + `", "mac": "` + key16 + `", "dek": "` + key16 + `", "x": 1}`, 0, 0, true},
		{"JSON, two objects", `{"kvn": "31", "enc": "` + key16 + `", "mac": "` + key16 + `", "dek": "` + key16 + `"} {}`, 0, 0, true},
		{"three words", "30 " + key16 + " " + key16, 0, 0, true},
		{"KVN of two bytes", "3030 " + key16 + " " + key16 + " " + key16, 0, 0, true},
		{"key not hex", "30 " + key16 + " " + key16 + " " + strings.Replace(key16, "A", "G", 1), 0, 0, true},
		{"keys of two lengths", "30 " + key16 + " " + key32 + " " + key16, 0, 0, true},
		{"15-byte keys", "30 " + key16[2:] + " " + key16[2:] + " " + key16[2:], 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseSCP03Master([]byte(tc.file))
			if tc.bad {
				if err == nil {
					t.Fatal("accepted")
				}
				if strings.Contains(err.Error(), "A1A2") || strings.Contains(err.Error(), "a1a2") {
					t.Errorf("the error quotes a key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.KVN() != tc.kvn || m.KeyBits() != tc.bits {
				t.Errorf("KVN %02X, %d bits; want %02X, %d", m.KVN(), m.KeyBits(), tc.kvn, tc.bits)
			}
		})
	}
}

func TestSCP03MasterFlagRules(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "master.json")
	os.WriteFile(good, []byte(`{"kvn":"31","enc":"`+key16+`","mac":"`+key16+`","dek":"`+key16+`"}`), 0o600)
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("30"), 0o600)
	for _, args := range [][]string{
		{"--scp03-master", good},                                          // ext144 has no SCP03
		{"--model", "cccd", "--scp03-master", bad},                        // malformed
		{"--model", "cccd", "--scp03-master", filepath.Join(dir, "none")}, // missing
		{"--model", "cccd", "--load", good, "--scp03-master", good},       // a saved chip keeps its keys
		{"stack", "--model", "short80", "--scp03-master", good},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("vcard %s: exit %d, want 2 (%s)", strings.Join(args, " "), code, errb.String())
		}
		if strings.Contains(errb.String(), "A1A2") {
			t.Errorf("vcard %s printed a key: %s", strings.Join(args, " "), errb.String())
		}
	}
}

// TestCCCDChipThroughPCSCD: vcard --model cccd --scp03-master FILE presents a
// blank cccd chip to a real pcscd: its ATR, SELECT of the eMRTD
// application, GET DATA CPLC, EF.CardAccess not found (6A82), and
// INITIALIZE UPDATE answering with the file's key version.
func TestCCCDChipThroughPCSCD(t *testing.T) {
	st := pcscdtest.StartT(t, 1)
	master := filepath.Join(t.TempDir(), "master.txt")
	os.WriteFile(master, []byte("31 "+key16+" "+key16+" "+key16+"\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--vpcd", st.Addr(0), "--model", "cccd", "--scp03-master", master}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("vcard did not stop")
		}
	}()
	reader := st.ReaderName(0)
	vcardtest.WaitPresent(t, reader, true)
	sys, err := pcsc.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	conn, err := sys.Connect(reader)
	if err != nil {
		t.Fatal(err)
	}
	card := pcsc.NewCard(conn)
	defer card.Close(pcsc.LeaveCard)
	if !bytes.Equal(card.ATR(), emrtd.ModelCCCD.ATR) {
		t.Fatalf("ATR %X, want %X", card.ATR(), emrtd.ModelCCCD.ATR)
	}
	serial, err := pcsc.ReadSerial(card)
	if err != nil || len(serial) != 20 || !strings.HasPrefix(serial, "5643CCCD") {
		t.Fatalf("serial %q, %v", serial, err)
	}
	if !strings.Contains(stdout.String(), serial) || !strings.Contains(stdout.String(), "KVN 31") {
		t.Errorf("vcard's output lacks the serial or the key version:\n%s", stdout.String())
	}
	sw := func(apdu []byte) (uint16, []byte) {
		t.Helper()
		resp, err := card.Transmit(apdu)
		if err != nil || len(resp) < 2 {
			t.Fatalf("%X: %X, %v", apdu, resp, err)
		}
		return uint16(resp[len(resp)-2])<<8 | uint16(resp[len(resp)-1]), resp[:len(resp)-2]
	}
	if s, _ := sw([]byte{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x01, 0x1C}); s != 0x6A82 {
		t.Errorf("SELECT EF.CardAccess on a blank chip: %04X, want 6A82", s)
	}
	if s, _ := sw([]byte{0x00, 0xA4, 0x04, 0x0C, 0x07, 0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01}); s != 0x9000 {
		t.Errorf("SELECT eMRTD application: %04X", s)
	}
	if s, d := sw([]byte{0x80, 0xCA, 0x9F, 0x7F, 0x00}); s != 0x9000 || len(d) != 45 {
		t.Errorf("GET DATA CPLC: %04X with %d bytes", s, len(d))
	}
	if s, _ := sw([]byte{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x01, 0x1C}); s != 0x6A82 {
		t.Errorf("SELECT EF.CardAccess from the application: %04X, want 6A82", s)
	}
	s, d := sw([]byte{0x80, 0x50, 0x00, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x00})
	if s != 0x9000 || len(d) != 32 || d[10] != 0x31 || d[11] != 0x03 || d[12] != 0x70 {
		t.Errorf("INITIALIZE UPDATE: %04X %X; want KVN 31, SCP 03, i 70", s, d)
	}
}

// The station's TEST master key file (stationctl pki init) is what the demo
// hands vcard: it reads it as it is.
func TestSCP03MasterReadsTheStationsKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scp03-master.json")
	if err := signer.WriteSCP03File(path, 0x30, 16); err != nil {
		t.Fatal(err)
	}
	if _, err := readSCP03Master(path); err != nil {
		t.Fatalf("the station's key file: %v", err)
	}
}
