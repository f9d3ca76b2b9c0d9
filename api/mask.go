package api

import (
	"strings"
	"unicode"
	"unicode/utf8"
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
