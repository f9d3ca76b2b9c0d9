package biometrics

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// tinyFMRHex is a 19794-2:2005 record computed by hand: 500×600 at 197 px/cm, one view of the
// right index finger (quality 80) with one ridge ending at (100,150), angle 0x80, quality 60.
const tinyFMRHex = "" +
	"464d5200" + "20323000" + "00000024" + // FMR\0, " 20\0", length 36
	"0000" + "01f4" + "0258" + "00c5" + "00c5" + "01" + "00" + // equipment, 500, 600, 197, 197, 1 view, reserved
	"02" + "00" + "50" + "01" + // right index, view 0 / live-scan plain, quality 80, 1 minutia
	"4064" + "0096" + "80" + "3c" + // type 1 | x 100, y 150, angle, quality 60
	"0000" // no extended data

func TestEncodeDG2GivesTheKnownTemplate(t *testing.T) {
	rec := mustHex(t, tinyFaceRecordHex)
	want := mustHex(t, ""+
		"7f61"+"4c"+ // biometric information group template, 76 bytes
		"020101"+ // one instance
		"7f60"+"46"+ // biometric information template, 70 bytes
		"a1"+"0f"+"80020101"+"810102"+"87020101"+"88020008"+ // header: version 1.1, face, SC 37, face image
		"5f2e"+"32"+tinyFaceRecordHex) // BDB, 50 bytes
	got, err := EncodeDG2(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("DG2 template differs:\n%s", hexDiff(got, want))
	}
	bits, err := DecodeCBEFF(got)
	if err != nil {
		t.Fatal(err)
	}
	wantBITs := []BiometricInfo{{Header: BiometricHeader{PatronHeaderVersion: 0x0101, BiometricType: 0x02, FormatOwner: 0x0101, FormatType: 0x0008}, Data: rec}}
	if !reflect.DeepEqual(bits, wantBITs) {
		t.Errorf("decoded %+v", bits)
	}
}

func TestEncodeDG3GivesTheKnownTemplate(t *testing.T) {
	rec, err := ParseFinger(FormatFingerMinutiae, mustHex(t, tinyFMRHex))
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, ""+
		"7f61"+"41"+
		"020101"+
		"7f60"+"3b"+
		"a1"+"12"+"80020101"+"810108"+"820109"+"87020101"+"88020002"+ // finger, right index (01|2<<2), SC 37, minutiae
		"5f2e"+"24"+tinyFMRHex)
	got, err := EncodeDG3(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("DG3 template differs:\n%s", hexDiff(got, want))
	}
}

func TestDG2RoundTripsWithLongFormLengths(t *testing.T) {
	face, err := PrepareFace(readTestdata(t, "face-sample.jpg"), FaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := EncodeFaceRecord(face, GenderMale)
	if err != nil {
		t.Fatal(err)
	}
	big := tinyFaceImage()
	big.Data = bytes.Repeat([]byte{0x55}, 70000) // 83-form lengths
	bigRec, err := appendFaceRecord(nil, []FaceImage{big})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		records  [][]byte
		wantHead string
	}{
		{"one 20 KB record (82 lengths)", [][]byte{rec}, "7f6182"},
		{"two records", [][]byte{rec, mustHex(t, tinyFaceRecordHex)}, "7f6182"},
		{"one 70 KB record (83 lengths)", [][]byte{bigRec}, "7f6183"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dg2, err := EncodeDG2(tc.records...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(dg2, mustHex(t, tc.wantHead)) {
				t.Errorf("template starts %x, want %s", dg2[:4], tc.wantHead)
			}
			wrapped := appendTLV(nil, 0x75, dg2)
			for _, in := range [][]byte{dg2, wrapped} {
				faces, err := DecodeDG2(in)
				if err != nil {
					t.Fatal(err)
				}
				if len(faces) != len(tc.records) {
					t.Fatalf("%d faces, want %d", len(faces), len(tc.records))
				}
				for i, f := range faces {
					again, err := appendFaceRecord(nil, f.Images)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(again, tc.records[i]) {
						t.Errorf("record %d:\n%s", i, hexDiff(again, tc.records[i]))
					}
				}
			}
		})
	}
}

func TestDG3RoundTripsMinutiaeAndImages(t *testing.T) {
	var recs []*FingerRecord
	for _, name := range []string{"fmr-sample-right-index.bin", "fmr-sample-left-index.bin"} {
		r, err := ParseFinger(FormatFingerMinutiae, readTestdata(t, name))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	syn, err := ParseFinger(FormatFingerMinutiae, SyntheticFingerMinutiae(3, int(FingerLeftThumb)))
	if err != nil {
		t.Fatal(err)
	}
	fir, err := ParseFinger(FormatFingerImage, fabricateFIR(FingerRightLittle, 300, 400, bytes.Repeat([]byte{0xa5}, 300)))
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, syn, fir)
	dg3, err := EncodeDG3(recs...)
	if err != nil {
		t.Fatal(err)
	}
	bits, err := DecodeCBEFF(appendTLV(nil, 0x63, dg3))
	if err != nil {
		t.Fatal(err)
	}
	wantSub := []byte{0x09, 0x0a, 0x06, 0x15}
	wantType := []uint16{0x0002, 0x0002, 0x0002, 0x0007}
	for i, b := range bits {
		h := b.Header
		if h.BiometricType != CBEFFTypeFinger || h.BiometricSubtype != wantSub[i] || h.FormatOwner != 0x0101 || h.FormatType != wantType[i] || h.PatronHeaderVersion != 0x0101 {
			t.Errorf("BIT %d header %+v, want finger subtype %02X format %04X", i, h, wantSub[i], wantType[i])
		}
		if !bytes.Equal(b.Data, recs[i].Record) {
			t.Errorf("BIT %d data:\n%s", i, hexDiff(b.Data, recs[i].Record))
		}
	}
	fingers, err := DecodeDG3(dg3)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range fingers {
		if !reflect.DeepEqual(f.Views, recs[i].Views) || f.Format != recs[i].Format {
			t.Errorf("finger %d: %v, want %v", i, f, recs[i])
		}
	}
}

func TestEncodeDGRefusesBadInput(t *testing.T) {
	if _, err := EncodeDG2(); err == nil {
		t.Error("EncodeDG2 with no record")
	}
	if _, err := EncodeDG2([]byte("FAC\x00 but nothing else")); err == nil {
		t.Error("EncodeDG2 with a malformed record")
	}
	if _, err := EncodeDG3(); err == nil {
		t.Error("EncodeDG3 with no record")
	}
	if _, err := EncodeDG3(nil); err == nil {
		t.Error("EncodeDG3 with a nil record")
	}
	if _, err := EncodeDG3(&FingerRecord{Format: "wsq", Record: []byte{1}}); err == nil {
		t.Error("EncodeDG3 with an unknown format")
	}
}

func TestReadTLVHandlesLongFormsAndRefusesBadEncodings(t *testing.T) {
	val := func(n int) string { return string(bytes.Repeat([]byte{0xab}, n)) }
	tests := []struct {
		name    string
		in      []byte
		tag     uint32
		valLen  int
		wantErr bool
	}{
		{"short form", append(mustHex(t, "8002"), 1, 1), 0x80, 2, false},
		{"81 form", append(mustHex(t, "5f2e8180"), val(128)...), 0x5f2e, 128, false},
		{"82 form", append(mustHex(t, "7f61820100"), val(256)...), 0x7f61, 256, false},
		{"83 form", append(mustHex(t, "7f6083010000"), val(65536)...), 0x7f60, 65536, false},
		{"three-byte tag", mustHex(t, "5f810100"), 0x5f8101, 0, false},
		{"81 form not shortest", append(mustHex(t, "5f2e817f"), val(127)...), 0, 0, true},
		{"82 form not shortest", append(mustHex(t, "5f2e8200ff"), val(255)...), 0, 0, true},
		{"indefinite length", mustHex(t, "7f618000"), 0, 0, true},
		{"five-byte length field", mustHex(t, "5f2e850000000001ab"), 0, 0, true},
		{"value truncated", mustHex(t, "5f2e0301"), 0, 0, true},
		{"81 length byte missing", mustHex(t, "5f2e81"), 0, 0, true},
		{"82 length truncated", mustHex(t, "5f2e8201"), 0, 0, true},
		{"tag truncated", mustHex(t, "7f"), 0, 0, true},
		{"length missing", mustHex(t, "7f61"), 0, 0, true},
		{"four-byte tag", mustHex(t, "5f81818100"), 0, 0, true},
		{"two-byte tag not shortest", mustHex(t, "1f0500"), 0, 0, true},
		{"padding 00 as tag", mustHex(t, "0000"), 0, 0, true},
		{"padding FF as tag", mustHex(t, "ff00"), 0, 0, true},
		{"empty", nil, 0, 0, true},
		{"huge declared length", mustHex(t, "5f2e84ffffffff00"), 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, rest, err := readTLV(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("accepted tag %X with %d bytes", got.tag, len(got.value))
				}
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("%v does not wrap ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.tag != tc.tag || len(got.value) != tc.valLen || len(rest) != 0 {
				t.Errorf("tag %X value %d bytes rest %d, want %X %d 0", got.tag, len(got.value), len(rest), tc.tag, tc.valLen)
			}
			// The writer produces the same bytes.
			if again := appendTLV(nil, got.tag, got.value); !bytes.Equal(again, tc.in) {
				t.Errorf("appendTLV:\n%s", hexDiff(again, tc.in))
			}
		})
	}
}

func TestDecodeCBEFFRejectsMalformedTemplates(t *testing.T) {
	rec := mustHex(t, tinyFaceRecordHex)
	good, err := EncodeDG2(rec)
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(elems ...[]byte) []byte { return appendTLV(nil, 0xa1, bytes.Join(elems, nil)) }
	el := func(tag uint32, v string) []byte { return appendTLV(nil, tag, mustHex(t, v)) }
	bit := func(parts ...[]byte) []byte { return appendTLV(nil, 0x7f60, bytes.Join(parts, nil)) }
	group := func(parts ...[]byte) []byte { return appendTLV(nil, 0x7f61, bytes.Join(parts, nil)) }
	count := func(n byte) []byte { return []byte{0x02, 0x01, n} }
	bdb := appendTLV(nil, 0x5f2e, rec)
	okHdr := hdr(el(0x80, "0101"), el(0x81, "02"), el(0x87, "0101"), el(0x88, "0008"))
	patched := func(off int, b byte) []byte { out := bytes.Clone(good); out[off] = b; return out }

	if _, err := DecodeCBEFF(group(count(1), bit(okHdr, bdb))); err != nil {
		t.Fatalf("the well-formed template built here is refused: %v", err)
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"truncated by one byte", good[:len(good)-1]},
		{"truncated in the header", good[:12]},
		{"byte after the template", append(bytes.Clone(good), 0)},
		{"outer tag 7F62", patched(1, 0x62)},
		{"count says 2, one BIT", patched(4, 2)},
		{"count 0", group(count(0))},
		{"count two bytes", group(el(0x02, "0001"), bit(okHdr, bdb))},
		{"no count", group(bit(okHdr, bdb))},
		{"count not first", group(bit(okHdr, bdb), count(1))},
		{"element other than 7F60", group(count(1), el(0x7f62, "00"))},
		{"BIT without BDB", group(count(1), bit(okHdr))},
		{"BIT with BDB before header", group(count(1), bit(bdb, okHdr))},
		{"BIT with an extra element", group(count(1), bit(okHdr, bdb, el(0x53, "00")))},
		{"enciphered BDB", group(count(1), bit(okHdr, appendTLV(nil, 0x7f2e, rec)))},
		{"header without format type", group(count(1), bit(hdr(el(0x80, "0101"), el(0x87, "0101")), bdb))},
		{"header without format owner", group(count(1), bit(hdr(el(0x88, "0008")), bdb))},
		{"header element twice", group(count(1), bit(hdr(el(0x87, "0101"), el(0x87, "0101"), el(0x88, "0008")), bdb))},
		{"format owner one byte", group(count(1), bit(hdr(el(0x87, "01"), el(0x88, "0008")), bdb))},
		{"biometric type four bytes", group(count(1), bit(hdr(el(0x81, "00000002"), el(0x87, "0101"), el(0x88, "0008")), bdb))},
		{"subtype two bytes", group(count(1), bit(hdr(el(0x82, "0000"), el(0x87, "0101"), el(0x88, "0008")), bdb))},
		{"header version one byte", group(count(1), bit(hdr(el(0x80, "01"), el(0x87, "0101"), el(0x88, "0008")), bdb))},
		{"length not in shortest form", append(mustHex(t, "7f61814c"), good[3:]...)},
		{"DG2 wrapper with a byte after the template", appendTLV(nil, 0x75, append(bytes.Clone(good), 0))},
		{"DG2 wrapper around something else", appendTLV(nil, 0x75, el(0x5f1f, "00"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bits, err := DecodeCBEFF(tc.in)
			if err == nil {
				t.Fatalf("accepted %d BITs", len(bits))
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%v does not wrap ErrMalformed", err)
			}
			assertSafeErrorText(t, err)
		})
	}
}

func TestDecodeDGChecksTheHeaders(t *testing.T) {
	fmr := mustHex(t, tinyFMRHex)
	faceRec := mustHex(t, tinyFaceRecordHex)
	mk := func(typ, sub, ft string, data []byte) []byte {
		h := appendTLV(nil, 0x81, mustHex(t, typ))
		if sub != "" {
			h = appendTLV(h, 0x82, mustHex(t, sub))
		}
		h = appendTLV(h, 0x87, mustHex(t, "0101"))
		h = appendTLV(h, 0x88, mustHex(t, ft))
		b := appendTLV(appendTLV(nil, 0xa1, h), 0x5f2e, data)
		return appendTLV(nil, 0x7f61, append([]byte{2, 1, 1}, appendTLV(nil, 0x7f60, b)...))
	}
	if _, err := DecodeDG3(mk("08", "09", "0002", fmr)); err != nil {
		t.Fatalf("right index with subtype 09: %v", err)
	}
	if _, err := DecodeDG3(mk("08", "", "0002", fmr)); err != nil {
		t.Fatalf("without subtype: %v", err)
	}
	if _, err := DecodeDG2(mk("02", "", "0008", faceRec)); err != nil {
		t.Fatalf("face: %v", err)
	}
	for name, in := range map[string][]byte{
		"DG3 subtype of another finger": mk("08", "0a", "0002", fmr),
		"DG3 with the face type":        mk("02", "09", "0002", fmr),
		"DG3 with the face format":      mk("08", "09", "0008", fmr),
		"DG3 minutiae declared image":   mk("08", "09", "0007", fmr),
		"DG2 with the finger type":      mk("08", "", "0008", faceRec),
		"DG2 with a finger format":      mk("02", "", "0007", faceRec),
		"DG2 with a finger record":      mk("02", "", "0008", fmr),
	} {
		if _, err := DecodeDG2(in); name[:3] == "DG2" && err == nil {
			t.Errorf("%s: DecodeDG2 accepted", name)
		}
		if _, err := DecodeDG3(in); name[:3] == "DG3" && err == nil {
			t.Errorf("%s: DecodeDG3 accepted", name)
		}
	}
}
