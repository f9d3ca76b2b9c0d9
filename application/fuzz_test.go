package application

import (
	"errors"
	"testing"
)

// FuzzParse: any input is either a valid application or a ValidationError
// naming at least one field; Parse never panics, and what it accepts is
// NFC-normalized with a 12-digit personal ID.
//
// The biometric checks are fuzzed in package biometrics; here they accept
// anything so that the fuzzer explores the JSON and the rules, with seeds
// whose pictures are replaced by a few bytes.
func FuzzParse(f *testing.F) {
	for name := range samples(f) {
		m := sample(f, name)
		m["face_image"] = "/9j/4AAQ"
		for _, fp := range m["fingerprints"].([]any) {
			fp.(map[string]any)["data"] = "Rk1SACAyMAA="
		}
		f.Add(encode(f, m))
	}
	f.Add([]byte(`{"application_id":"A","personal_id":"082203001234","expiry_date":null}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte(`[{"x":{"y":[1,{"z":"\u00e9"}]}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ok := func([]byte) error { return nil }
		a, err := Parse(data, Rules{Now: testNow, CheckFace: ok, CheckFinger: func(string, []byte) error { return nil }})
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error is not a ValidationError with problems: %v", err)
			}
			if a != nil {
				t.Fatal("application returned with an error")
			}
			return
		}
		if len(a.PersonalID) != 12 || a.FullName == "" || len(a.FaceImage) == 0 {
			t.Fatalf("accepted an incomplete application")
		}
	})
}
