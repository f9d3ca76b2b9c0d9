package biometrics

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseFingerAcceptsTheSampleRecordsAndRewritesTheirLengthField(t *testing.T) {
	for _, tc := range []struct {
		file     string
		pos      FingerPosition
		minutiae int
	}{
		{"fmr-sample-right-index.bin", FingerRightIndex, 33},
		{"fmr-sample-left-index.bin", FingerLeftIndex, 40},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in := readTestdata(t, tc.file)
			r, err := ParseFinger(FormatFingerMinutiae, in)
			if err != nil {
				t.Fatal(err)
			}
			if !r.ShortLengthField {
				t.Error("the samples' 2-byte length field was not reported")
			}
			if len(r.Views) != 1 || r.Views[0].Position != tc.pos || len(r.Views[0].Minutiae) != tc.minutiae {
				t.Fatalf("parsed %v: views %+v", r, r.Views)
			}
			if r.Width != 500 || r.Height != 600 || r.ResolutionX != 197 || r.ResolutionY != 197 {
				t.Errorf("header %d×%d at %d×%d px/cm", r.Width, r.Height, r.ResolutionX, r.ResolutionY)
			}
			// Record: the same bytes with a 4-byte length field.
			want := append(append(bytes.Clone(in[:8]), binary.BigEndian.AppendUint32(nil, uint32(len(in)+2))...), in[10:]...)
			if !bytes.Equal(r.Record, want) {
				t.Fatalf("rewritten record:\n%s", hexDiff(r.Record, want))
			}
			again, err := ParseFinger(FormatFingerMinutiae, r.Record)
			if err != nil {
				t.Fatal(err)
			}
			if again.ShortLengthField || !bytes.Equal(again.Record, r.Record) || !reflect.DeepEqual(again.Views, r.Views) {
				t.Errorf("the rewritten record parses differently: %v", again)
			}
		})
	}
}

// TestSharedSampleApplicationsParse checks every fingerprint of the shared sample applications
// (when ../shared is present) and that its finger name matches the record's position.
func TestSharedSampleApplicationsParse(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sharedSamples, "applications", "*.json"))
	if len(files) == 0 {
		t.Skip("no shared sample applications at " + sharedSamples)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var app struct {
				Sex          string `json:"sex"`
				FaceImage    []byte `json:"face_image"` // base64 in JSON
				Fingerprints []struct {
					Finger string `json:"finger"`
					Format string `json:"format"`
					Data   []byte `json:"data"`
				} `json:"fingerprints"`
			}
			if err := json.Unmarshal(raw, &app); err != nil {
				t.Fatal(err)
			}
			if len(app.Fingerprints) == 0 {
				t.Fatal("no fingerprints")
			}
			short := 0
			for _, fp := range app.Fingerprints {
				r, err := ParseFinger(fp.Format, fp.Data)
				if err != nil {
					t.Fatalf("%s: %v", fp.Finger, err)
				}
				pos, ok := FingerPositionFromName(fp.Finger)
				if !ok || r.Views[0].Position != pos {
					t.Errorf("%s: record position %v", fp.Finger, r.Views[0].Position)
				}
				if _, err := EncodeDG3(r); err != nil {
					t.Error(err)
				}
				if r.ShortLengthField {
					short++
				}
			}
			face, err := PrepareFace(app.FaceImage, FaceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("face %d bytes → %v; %d fingerprints, %d with a 2-byte record length field", len(app.FaceImage), face, len(app.Fingerprints), short)
		})
	}
}

func TestParseFingerRejectsEachRule(t *testing.T) {
	fmr := mustHex(t, tinyFMRHex)
	fir := fabricateFIR(FingerRightThumb, 4, 4, bytes.Repeat([]byte{1}, 16))
	if _, err := ParseFinger(FormatFingerImage, fir); err != nil {
		t.Fatalf("fabricated 19794-4 record: %v", err)
	}
	patch := func(b []byte, off int, v ...byte) []byte {
		out := bytes.Clone(b)
		copy(out[off:], v)
		return out
	}
	// withLen rewrites the 4-byte FMR or 6-byte FIR length to the data length.
	fmrLen := func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:12], uint32(len(b))); return b }
	firLen := func(b []byte) []byte {
		n := len(b)
		copy(b[8:14], []byte{0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		return b
	}
	tests := []struct {
		name   string
		format string
		in     []byte
		rule   FingerRule
	}{
		{"unknown format", "iso19794-3", fmr, FingerRuleFormat},
		{"FMR: empty", FormatFingerMinutiae, nil, FingerRuleMagic},
		{"FMR: a finger image record", FormatFingerMinutiae, fir, FingerRuleMagic},
		{"FMR: ANSI 378 version", FormatFingerMinutiae, patch(fmr, 4, '0', '3', '0'), FingerRuleVersion},
		{"FMR: length field larger", FormatFingerMinutiae, patch(fmr, 11, 0x25), FingerRuleLength},
		{"FMR: length field smaller", FormatFingerMinutiae, patch(fmr, 11, 0x23), FingerRuleLength},
		{"FMR: truncated", FormatFingerMinutiae, fmr[:30], FingerRuleLength},
		{"FMR: header cut", FormatFingerMinutiae, fmr[:10], FingerRuleBounds},
		{"FMR: header cut with matching length", FormatFingerMinutiae, fmrLen(bytes.Clone(fmr[:20])), FingerRuleBounds},
		{"FMR: no views", FormatFingerMinutiae, patch(fmr, 22, 0), FingerRuleHeader},
		{"FMR: zero resolution", FormatFingerMinutiae, patch(fmr, 18, 0, 0), FingerRuleHeader},
		{"FMR: zero width", FormatFingerMinutiae, patch(fmr, 14, 0, 0), FingerRuleHeader},
		{"FMR: two views, one present", FormatFingerMinutiae, patch(fmr, 22, 2), FingerRuleBounds},
		{"FMR: finger position 11", FormatFingerMinutiae, patch(fmr, 24, 11), FingerRuleView},
		{"FMR: finger quality 101", FormatFingerMinutiae, patch(fmr, 26, 101), FingerRuleView},
		{"FMR: minutiae past the record", FormatFingerMinutiae, patch(fmr, 27, 2), FingerRuleBounds},
		{"FMR: minutia type 3", FormatFingerMinutiae, patch(fmr, 28, 0xc0), FingerRuleMinutia},
		{"FMR: minutia outside the image", FormatFingerMinutiae, patch(fmr, 28, 0x41, 0xf4), FingerRuleMinutia},
		{"FMR: minutia quality 200", FormatFingerMinutiae, patch(fmr, 33, 200), FingerRuleMinutia},
		{"FMR: extended data past the record", FormatFingerMinutiae, patch(fmr, 34, 0, 1), FingerRuleBounds},
		{"FMR: extended length cut", FormatFingerMinutiae, fmrLen(bytes.Clone(fmr[:35])), FingerRuleBounds},
		{"FMR: byte after the last view", FormatFingerMinutiae, fmrLen(append(bytes.Clone(fmr), 0)), FingerRuleLength},
		{"FIR: a minutiae record", FormatFingerImage, fmr, FingerRuleMagic},
		{"FIR: version 020", FormatFingerImage, patch(fir, 4, '0', '2', '0'), FingerRuleVersion},
		{"FIR: header cut", FormatFingerImage, fir[:20], FingerRuleBounds},
		{"FIR: length field differs", FormatFingerImage, patch(fir, 13, byte(len(fir)+1)), FingerRuleLength},
		{"FIR: no images", FormatFingerImage, patch(fir, 18, 0), FingerRuleHeader},
		{"FIR: scale units 3", FormatFingerImage, patch(fir, 19, 3), FingerRuleHeader},
		{"FIR: pixel depth 0", FormatFingerImage, patch(fir, 28, 0), FingerRuleHeader},
		{"FIR: compression 6", FormatFingerImage, patch(fir, 29, 6), FingerRuleHeader},
		{"FIR: image block past the record", FormatFingerImage, patch(fir, 35, 31), FingerRuleBounds},
		{"FIR: image block without data", FormatFingerImage, patch(fir, 35, 14), FingerRuleView},
		{"FIR: two images, one present", FormatFingerImage, patch(fir, 18, 2), FingerRuleBounds},
		{"FIR: position 16", FormatFingerImage, patch(fir, 36, 16), FingerRuleView},
		{"FIR: zero width", FormatFingerImage, patch(fir, 41, 0, 0), FingerRuleView},
		{"FIR: byte after the last image", FormatFingerImage, firLen(append(bytes.Clone(fir), 0)), FingerRuleLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseFinger(tc.format, tc.in)
			if err == nil {
				t.Fatalf("accepted: %v", r)
			}
			var fe *FingerError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *FingerError", err, err)
			}
			if fe.Rule != tc.rule {
				t.Errorf("rule %q, want %q: %v", fe.Rule, tc.rule, err)
			}
			assertSafeErrorText(t, err)
		})
	}
}

func TestParseFingerReadsAFingerImageRecord(t *testing.T) {
	img := bytes.Repeat([]byte{0x5a}, 100)
	r, err := ParseFinger(FormatFingerImage, fabricateFIR(FingerPlainLeftFour, 800, 750, img))
	if err != nil {
		t.Fatal(err)
	}
	want := FingerView{Position: FingerPlainLeftFour, ViewNumber: 1, Quality: 80, Width: 800, Height: 750, ImageBytes: 100}
	if len(r.Views) != 1 || !reflect.DeepEqual(r.Views[0], want) {
		t.Errorf("views %+v, want %+v", r.Views, want)
	}
	if r.Width != 800 || r.Height != 750 || r.ScaleUnits != 1 || r.ResolutionX != 500 || r.Compression != 2 || r.ShortLengthField {
		t.Errorf("record %+v", *r)
	}
	if r.CBEFFSubtype() != 0x02 {
		t.Errorf("subtype %02X, want 02 (left hand)", r.CBEFFSubtype())
	}
}

func TestFingerNamesPositionsAndCBEFFSubtypes(t *testing.T) {
	// ISO/IEC 19794-2 finger positions and ICAO 9303-10 / ISO/IEC 19785-1 subtypes.
	tests := []struct {
		name    string
		pos     FingerPosition
		subtype byte
	}{
		{"unknown", 0, 0x00},
		{"right_thumb", 1, 0x05},
		{"right_index", 2, 0x09},
		{"right_middle", 3, 0x0d},
		{"right_ring", 4, 0x11},
		{"right_little", 5, 0x15},
		{"left_thumb", 6, 0x06},
		{"left_index", 7, 0x0a},
		{"left_middle", 8, 0x0e},
		{"left_ring", 9, 0x12},
		{"left_little", 10, 0x16},
	}
	for _, tc := range tests {
		pos, ok := FingerPositionFromName(tc.name)
		if !ok || pos != tc.pos {
			t.Errorf("FingerPositionFromName(%q) = %d %v, want %d", tc.name, pos, ok, tc.pos)
		}
		if s := tc.pos.String(); s != tc.name {
			t.Errorf("%d.String() = %q, want %q", tc.pos, s, tc.name)
		}
		if s := tc.pos.CBEFFSubtype(); s != tc.subtype {
			t.Errorf("%s subtype %02X, want %02X", tc.name, s, tc.subtype)
		}
	}
	if _, ok := FingerPositionFromName("right_pinky"); ok {
		t.Error("accepted an unknown finger name")
	}
	// A record of two views of different right-hand fingers: only "right" is common.
	r := &FingerRecord{Views: []FingerView{{Position: FingerRightIndex}, {Position: FingerRightMiddle}}}
	if s := r.CBEFFSubtype(); s != 0x01 {
		t.Errorf("right index + right middle subtype %02X, want 01", s)
	}
	for _, tc := range []struct {
		views []FingerPosition
		want  byte
	}{
		{[]FingerPosition{FingerLeftRing, FingerLeftRing}, 0x12},
		{[]FingerPosition{FingerRightIndex, FingerLeftIndex}, 0x00},
		{[]FingerPosition{FingerLeftIndex, FingerLeftThumb, FingerLeftLittle}, 0x02},
		{[]FingerPosition{FingerLeftIndex, FingerUnknown}, 0x00},
		{nil, 0x00},
	} {
		r := &FingerRecord{}
		for _, p := range tc.views {
			r.Views = append(r.Views, FingerView{Position: p})
		}
		if s := r.CBEFFSubtype(); s != tc.want {
			t.Errorf("views %v: subtype %02X, want %02X", tc.views, s, tc.want)
		}
	}
}

func TestFingerRecordLogValueShowsOnlyFormatAndSizes(t *testing.T) {
	r, err := ParseFinger(FormatFingerMinutiae, readTestdata(t, "fmr-sample-right-index.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("finger", "record", r)
	line := buf.String()
	for _, want := range []string{"record.format=iso19794-2", "record.bytes=228", "record.views=1", "record.width=500", "record.height=600"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %q: %s", want, line)
		}
	}
	if strings.Contains(line, "inutia") || len(line) > 200 {
		t.Errorf("log line shows more than sizes: %s", line)
	}
	if s := r.String(); len(s) > 100 {
		t.Errorf("String() is %d characters: %s", len(s), s)
	}
}
