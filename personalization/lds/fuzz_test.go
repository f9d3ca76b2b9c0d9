package lds

import (
	"bytes"
	"testing"
)

// FuzzParseTLV: Parse never panics, never returns a value beyond its input,
// and what it parses re-encodes to the same bytes when the input used the
// shortest length form.
func FuzzParseTLV(f *testing.F) {
	f.Add([]byte{0x61, 0x03, 0x5F, 0x1F, 0x00})
	f.Add([]byte{0x7F, 0x61, 0x82, 0x00, 0x01, 0x00})
	f.Add([]byte{0x6D, 0x81, 0x80})
	f.Add(EncodeCOM([]Tag{TagDG1, TagDG2}))
	d, _ := testDG13().Encode()
	f.Add(d)
	f.Fuzz(func(t *testing.T, b []byte) {
		o, rest, err := Parse(b)
		if err != nil {
			return
		}
		if len(o.Raw)+len(rest) != len(b) || len(o.Value) > len(o.Raw) {
			t.Fatalf("lengths: raw %d rest %d input %d", len(o.Raw), len(rest), len(b))
		}
		re := TLV(o.Tag, o.Value)
		if len(re) == len(o.Raw) && !bytes.Equal(re, o.Raw) {
			t.Fatalf("re-encoding differs:\n got %X\nwant %X", re, o.Raw)
		}
		if o.Constructed() {
			o.Children()
		}
	})
}

// FuzzDecodeDataGroups: the decoders of what a chip returns never panic.
func FuzzDecodeDataGroups(f *testing.F) {
	d, _ := testDG13().Encode()
	f.Add(d)
	f.Add(EncodeCOM([]Tag{TagDG1, TagDG2, TagDG13, TagDG15}))
	m := MRZ{DocumentCode: "ID", IssuingState: "VNM", DocumentNumber: "203001234", DateOfBirth: "030514", Sex: 'M', DateOfExpiry: "430514", Nationality: "VNM", Name: "NGUYEN<<VAN<AN"}
	dg1, _ := EncodeDG1(m)
	f.Add(dg1)
	f.Fuzz(func(t *testing.T, b []byte) {
		DecodeDG13(b)
		DecodeCOM(b)
		DecodeDG1(b)
		DecodeDG15(b)
		if s, err := DecodeSOD(b); err == nil {
			s.VerifySignature()
		}
	})
}
