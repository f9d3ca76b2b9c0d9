package api

import (
	"errors"
	"testing"

	"github.com/cccd-station/station/application"
)

// FuzzSplitIntake: whatever central sends, the intake parser either refuses
// it with a 4xx Error or returns documents that each have a usable
// application_id, unique within the batch, at most the batch limit.
func FuzzSplitIntake(f *testing.F) {
	for _, s := range []string{
		`{"application_id":"A-1","full_name":"Nguyễn Văn An"}`,
		`{"applications":[{"application_id":"A-1"},{"application_id":"A-2"}]}`,
		`{"applications":[{"application_id":"A-1"},{"application_id":"A-1"}]}`,
		`{"applications":[]}`, `{"applications":{}}`, `{"applications":[1,"x",null]}`,
		`{"applications":[{"application_id":"A-1"}],"applications":[]}`,
		`[{"application_id":"A-1"}]`, `{"application_id":12}`, `{}`, ``, `{"a":`, `{"application_id":"A-1"}{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		docs, batch, err := splitIntake(body, 4)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Code == "" {
				t.Fatalf("refusal is not a 4xx Error: %v", err)
			}
			return
		}
		if len(docs) == 0 || len(docs) > 4 || (!batch && len(docs) != 1) {
			t.Fatalf("%d documents (batch %v)", len(docs), batch)
		}
		seen := map[string]bool{}
		for _, d := range docs {
			id, _ := application.PeekID(d)
			if id == "" || seen[id] {
				t.Fatalf("document without a usable or unique id: %q", d)
			}
			seen[id] = true
		}
	})
}
