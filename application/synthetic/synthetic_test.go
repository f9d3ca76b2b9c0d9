package synthetic

import (
	"bytes"
	"testing"
	"time"

	"github.com/cccd-station/station/application"
)

func TestInventedApplicationsPassEveryRule(t *testing.T) {
	issue := time.Date(2026, 11, 20, 9, 0, 0, 0, application.Vietnam)
	now := func() time.Time { return issue.Add(time.Hour) }
	ids := map[string]bool{}
	n := 40 // each person has a drawn face: a few ms apiece, more under -race
	for _, pol := range []application.Policy{application.PolicyCCCD2014, application.PolicyIdentity2023} {
		for i := 0; i < n; i++ {
			b, err := Application(7, i, Options{IssueDate: issue, Policy: pol})
			if err != nil {
				t.Fatal(err)
			}
			a, err := application.Parse(b, application.Rules{Now: now, Policy: pol})
			if err != nil {
				t.Fatalf("person %d (%s): %v", i, pol, err)
			}
			if pol == application.PolicyCCCD2014 {
				ids[a.ID] = true
			}
		}
	}
	if len(ids) != n {
		t.Errorf("%d distinct application ids for %d people", len(ids), n)
	}
}

func TestSameSeedSamePerson(t *testing.T) {
	issue := time.Date(2026, 11, 20, 9, 0, 0, 0, application.Vietnam)
	a, _ := Application(1, 5, Options{IssueDate: issue})
	b, _ := Application(1, 5, Options{IssueDate: issue})
	c, _ := Application(1, 6, Options{IssueDate: issue})
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Error("generation is not deterministic per (seed, n)")
	}
}
