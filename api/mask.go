package api

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cccd-station/station/queue"
)

const maskRune = "•"

// MaskApplicationID keeps the last four characters of an application id:
// enough to match a card on the floor, not to look a person up.
func MaskApplicationID(id string) string {
	n := utf8.RuneCountInString(id)
	if n == 0 {
		return ""
	}
	keep := 4
	if n <= keep {
		keep = n / 2
	}
	r := []rune(id)
	return strings.Repeat(maskRune, n-keep) + string(r[n-keep:])
}

// MaskName reduces a name to its initials: "Nguyễn Văn An" → "N. V. A.".
func MaskName(name string) string {
	var b strings.Builder
	for _, w := range strings.Fields(name) {
		r, _ := utf8.DecodeRuneInString(w)
		if !unicode.IsLetter(r) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToUpper(r))
		b.WriteByte('.')
	}
	return b.String()
}

// MaskPersonalID shows the last three digits of a personal ID number:
// "001099012345" → "•••••••••345".
func MaskPersonalID(id string) string {
	r := []rune(id)
	if len(r) <= 3 {
		return strings.Repeat(maskRune, len(r))
	}
	return strings.Repeat(maskRune, len(r)-3) + string(r[len(r)-3:])
}

// seesApplicationIDs is the one rule for application ids on the panel and
// the station routes of the API: roles that may see personal data
// (PermPersonalData) see them whole; every other role sees
// MaskApplicationID's form, on every page.
func (r Role) seesApplicationIDs() bool { return r.Can(PermPersonalData) }

// applicationID is an application id as the role may see it.
func (r Role) applicationID(id string) string {
	if r.seesApplicationIDs() {
		return id
	}
	return MaskApplicationID(id)
}

// mentionedApplication finds the application ids the store writes into
// audit details ("… application ID …", queue.ActionCard and
// queue.ActionDestroyed).
var mentionedApplication = regexp.MustCompile(`\bapplication ([A-Za-z0-9][A-Za-z0-9._:-]{0,63})`)

// auditSubjectIsApplication: audit actions whose subject is an application
// id (the store's state changes, and the panel's actions on applications).
var auditSubjectIsApplication = map[string]bool{
	queue.ActionState: true, "application_cancel": true, "application_retry": true, "personal_data_view": true,
}

// auditEntryFor is an audit entry as the role may see it: application ids
// in its subject and detail masked for roles that see them masked.
func auditEntryFor(r Role, e queue.AuditEntry) queue.AuditEntry {
	if r.seesApplicationIDs() {
		return e
	}
	if auditSubjectIsApplication[e.Action] {
		e.Subject = r.applicationID(e.Subject)
	}
	e.Detail = mentionedApplication.ReplaceAllStringFunc(e.Detail, func(m string) string {
		return "application " + r.applicationID(strings.TrimPrefix(m, "application "))
	})
	return e
}
