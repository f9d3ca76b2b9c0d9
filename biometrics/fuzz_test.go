package biometrics

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// Seed corpora are checked in under testdata/fuzz/<FuzzName>/; f.Add adds the hand-computed
// records of the other tests.

func FuzzParseFinger(f *testing.F) {
	f.Add(false, mustHex(f, tinyFMRHex))
	f.Add(true, fabricateFIR(FingerRightThumb, 4, 4, bytes.Repeat([]byte{1}, 16)))
	f.Fuzz(func(t *testing.T, image bool, data []byte) {
		format := FormatFingerMinutiae
		if image {
			format = FormatFingerImage
		}
		r, err := ParseFinger(format, data)
		if err != nil {
			var fe *FingerError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FingerError: %v", err, err)
			}
			return
		}
		// Record is a conformant record with the same content.
		again, err := ParseFinger(format, r.Record)
		if err != nil {
			t.Fatalf("Record does not parse: %v", err)
		}
		if again.ShortLengthField || !reflect.DeepEqual(again.Views, r.Views) {
			t.Fatalf("Record parses differently: %v vs %v", again, r)
		}
		// And it survives DG3.
		dg3, err := EncodeDG3(r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeDG3(dg3)
		if err != nil {
			t.Fatalf("DG3 of a parsed record does not decode: %v", err)
		}
		if !bytes.Equal(back[0].Record, r.Record) {
			t.Fatalf("DG3 round trip:\n%s", hexDiff(back[0].Record, r.Record))
		}
	})
}

func FuzzDecodeCBEFF(f *testing.F) {
	if dg2, err := EncodeDG2(mustHex(f, tinyFaceRecordHex)); err == nil {
		f.Add(dg2)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The typed decoders must not panic either.
		_, _ = DecodeDG2(data)
		_, _ = DecodeDG3(data)
		bits, err := DecodeCBEFF(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// Re-encoding what was decoded gives a template that decodes to the same.
		again, err := DecodeCBEFF(encodeBITGroup(bits))
		if err != nil {
			t.Fatalf("re-encoded template does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, bits) {
			t.Fatalf("re-encoded template decodes to %+v, want %+v", again, bits)
		}
	})
}

func FuzzDecodeFaceRecord(f *testing.F) {
	f.Add(mustHex(f, tinyFaceRecordHex))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := DecodeFaceRecord(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		enc, err := appendFaceRecord(nil, rec.Images)
		if err != nil {
			t.Fatal(err)
		}
		if len(enc) != len(data) {
			t.Fatalf("re-encoded record is %d bytes, input %d", len(enc), len(data))
		}
		again, err := DecodeFaceRecord(enc)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, rec) {
			t.Fatalf("re-encoded record decodes differently")
		}
	})
}

// FuzzStripJPEGMetadata: never panics, and what it returns is never longer
// than its input and still starts with SOI.
func FuzzStripJPEGMetadata(f *testing.F) {
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xDA, 0x00, 0x02, 0x01})
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xFF, 0xFE, 0x00, 0x02, 0xFF, 0xDA, 0x00, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := StripJPEGMetadata(b)
		if err != nil {
			return
		}
		if len(out) > len(b) || len(out) < 2 || out[0] != 0xFF || out[1] != 0xD8 {
			t.Fatalf("output %X from %X", out, b)
		}
	})
}
