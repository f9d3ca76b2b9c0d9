package application

import (
	"fmt"
	"strconv"
	"time"
)

// Vietnam is the civil time zone of the dates on a CCCD (Indochina Time,
// UTC+7, no daylight saving). A fixed zone: the station needs no tzdata.
var Vietnam = time.FixedZone("ICT", 7*60*60)

// Date is a calendar date whose day, or day and month, may be unknown — a
// date of birth given as "1950" or "1950-07" (ICAO 9303-3 §4.6.1: unknown
// parts of a date are filled in the MRZ).
type Date struct {
	Year  int
	Month int // 0: unknown
	Day   int // 0: unknown
}

// Complete reports whether day and month are known.
func (d Date) Complete() bool { return d.Month != 0 && d.Day != 0 }

// String returns the ISO 8601 form the application used: YYYY, YYYY-MM or
// YYYY-MM-DD.
func (d Date) String() string {
	switch {
	case d.Month == 0:
		return fmt.Sprintf("%04d", d.Year)
	case d.Day == 0:
		return fmt.Sprintf("%04d-%02d", d.Year, d.Month)
	default:
		return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
	}
}

// Earliest is the first day the date can stand for (the 1st of an unknown
// day's month, 1 January of an unknown month's year).
func (d Date) Earliest() time.Time {
	m, day := d.Month, d.Day
	if m == 0 {
		m = 1
	}
	if day == 0 {
		day = 1
	}
	return time.Date(d.Year, time.Month(m), day, 0, 0, 0, 0, Vietnam)
}

// Latest is the last day the date can stand for.
func (d Date) Latest() time.Time {
	switch {
	case d.Month == 0:
		return time.Date(d.Year, time.December, 31, 0, 0, 0, 0, Vietnam)
	case d.Day == 0:
		return time.Date(d.Year, time.Month(d.Month)+1, 0, 0, 0, 0, 0, Vietnam)
	default:
		return d.Earliest()
	}
}

// Time returns the date at midnight in Vietnam. Only for complete dates.
func (d Date) Time() time.Time { return d.Earliest() }

// DateOf returns the calendar date of t in Vietnam.
func DateOf(t time.Time) Date {
	t = t.In(Vietnam)
	return Date{Year: t.Year(), Month: int(t.Month()), Day: t.Day()}
}

// Before reports whether d is strictly before e (complete dates).
func (d Date) Before(e Date) bool { return d.Time().Before(e.Time()) }

// parseDate parses YYYY-MM-DD, or also YYYY and YYYY-MM when partial is true.
// It returns the rule that failed, never the value.
func parseDate(s string, partial bool) (Date, string) {
	digits := func(p string) (int, bool) {
		if p == "" {
			return 0, false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return 0, false
			}
		}
		n, err := strconv.Atoi(p)
		return n, err == nil
	}
	var d Date
	var ok bool
	switch {
	case len(s) == 10 && s[4] == '-' && s[7] == '-':
		if d.Year, ok = digits(s[0:4]); !ok {
			break
		}
		if d.Month, ok = digits(s[5:7]); !ok {
			break
		}
		d.Day, ok = digits(s[8:10])
	case partial && len(s) == 7 && s[4] == '-':
		if d.Year, ok = digits(s[0:4]); !ok {
			break
		}
		d.Month, ok = digits(s[5:7])
	case partial && len(s) == 4:
		d.Year, ok = digits(s)
	}
	if !ok {
		if partial {
			return Date{}, "must be YYYY-MM-DD, or YYYY-MM or YYYY when day or month are unknown"
		}
		return Date{}, "must be a date YYYY-MM-DD"
	}
	if d.Year < 1800 || d.Year > 9999 {
		return Date{}, "year out of range"
	}
	if d.Month != 0 && (d.Month < 1 || d.Month > 12) {
		return Date{}, "month must be 01-12"
	}
	if d.Day != 0 {
		last := time.Date(d.Year, time.Month(d.Month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
		if d.Day < 1 || d.Day > last {
			return Date{}, "day does not exist in that month"
		}
	}
	return d, ""
}
