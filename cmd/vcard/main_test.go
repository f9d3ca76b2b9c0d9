package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/cccd-station/station/pcsc/vcard/emrtd"
)

func TestWriteFaultFlagsParseOffsetAndFID(t *testing.T) {
	tests := []struct {
		in   string
		want *emrtd.WriteFault
		bad  bool
	}{
		{"", nil, false},
		{"100", emrtd.AnyFile(100), false},
		{"0:0101", emrtd.InFile(0x0101, 0), false},
		{"2000:011e", emrtd.InFile(0x011E, 2000), false},
		{"-1", nil, true},
		{"x", nil, true},
		{"5:101", nil, true},
		{"5:0000", nil, true},
		{"5:GGGG", nil, true},
	}
	for _, tt := range tests {
		got, err := parseWriteFault("--tear-at", tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("%q: err = %v, want error %v", tt.in, err, tt.bad)
			continue
		}
		if tt.want == nil && got != nil || tt.want != nil && (got == nil || *got != *tt.want) {
			t.Errorf("%q: got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestBadFlagsExitWithStatus2(t *testing.T) {
	for _, args := range [][]string{
		{"--model", "ext999"},
		{"--model", "cccd", "--scp03-master", "/nonexistent"},
		{"--latency", "slow"},
		{"--feeder", "--piv"},
		{"--tear-at", "x"},
		{"stack", "-n", "17"},
		{"extra"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("vcard %s: exit %d, want 2 (%s)", strings.Join(args, " "), code, errb.String())
		}
	}
}
