package application

import (
	"fmt"
	"time"
)

// Policy is the renewal-age policy the expiry date must follow
// (chip-data.md §4). It is configurable because the law changed.
type Policy string

const (
	// PolicyCCCD2014: Law on Citizen Identification 2014, Art. 21 —
	// renewal at 25, 40 and 60.
	PolicyCCCD2014 Policy = "cccd-2014"
	// PolicyIdentity2023: Law on Identity 2023, Art. 21 — renewal at 14,
	// 25, 40 and 60.
	PolicyIdentity2023 Policy = "identity-2023"
)

// ParsePolicy checks a policy name from configuration.
func ParsePolicy(s string) (Policy, error) {
	switch Policy(s) {
	case PolicyCCCD2014, PolicyIdentity2023:
		return Policy(s), nil
	case "":
		return PolicyCCCD2014, nil
	}
	return "", fmt.Errorf("renewal policy %q: must be %s or %s", s, PolicyCCCD2014, PolicyIdentity2023)
}

// RenewalAges are the ages at which a card must be renewed.
func (p Policy) RenewalAges() []int {
	if p == PolicyIdentity2023 {
		return []int{14, 25, 40, 60}
	}
	return []int{25, 40, 60}
}

func (p Policy) name() string {
	if p == "" {
		return string(PolicyCCCD2014)
	}
	return string(p)
}

// renewalGrace: a card issued within this many years before a renewal age is
// valid until the next one (both laws, Art. 21 §2).
const renewalGrace = 2

// ExpiryAge returns the age at which a card issued on issue to someone born
// on birth expires, or none when it never does (issued in the grace period
// before, or after, the last renewal age).
func (p Policy) ExpiryAge(birth, issue time.Time) (age int, none bool) {
	ages := p.RenewalAges()
	for i, a := range ages {
		renewal := birth.AddDate(a, 0, 0)
		if !renewal.After(issue) {
			continue // that age is already passed
		}
		if !issue.Before(renewal.AddDate(-renewalGrace, 0, 0)) {
			// within the grace period: valid until the next age
			if i+1 == len(ages) {
				return 0, true
			}
			return ages[i+1], false
		}
		return a, false
	}
	return 0, true
}

// check verifies an expiry date against the policy. A date of birth with
// unknown parts compares by the parts known (by year for a year-only date);
// its earliest and latest possible days are both tried, and either outcome
// is accepted. It returns the broken rule, or "".
func (p Policy) check(dob, issue Date, expiry *Date) string {
	issueT := issue.Time()
	outcomes := []time.Time{dob.Earliest()}
	if !dob.Complete() {
		outcomes = append(outcomes, dob.Latest())
	}
	var want []string
	for _, birth := range outcomes {
		age, none := p.ExpiryAge(birth, issueT)
		if none {
			if expiry == nil {
				return ""
			}
			want = append(want, "null (no expiry)")
			continue
		}
		if expiry != nil && expiryMatches(dob, age, *expiry) {
			return ""
		}
		want = append(want, fmt.Sprintf("the day the holder turns %d", age))
	}
	return fmt.Sprintf("must be %s under renewal policy %s", want[0], p.name())
}

// expiryMatches reports whether e is the day (or, for partial dates of
// birth, the month or year) on which someone born on dob turns age. For a
// birthday on 29 February, 28 February and 1 March are both accepted in a
// year that has no 29 February (assumed: the law does not say).
func expiryMatches(dob Date, age int, e Date) bool {
	y := dob.Year + age
	switch {
	case e.Year != y:
		return false
	case dob.Month == 0:
		return true
	case e.Month == dob.Month && (dob.Day == 0 || e.Day == dob.Day):
		return true
	case dob.Month == 2 && dob.Day == 29 && !isLeap(y):
		return (e.Month == 2 && e.Day == 28) || (e.Month == 3 && e.Day == 1)
	}
	return false
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }
