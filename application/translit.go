package application

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// icaoSpecial maps Latin letters that do not decompose to a base letter plus
// marks, per the transliteration table of ICAO Doc 9303 Part 3 §6.A
// (recommended transliterations of national characters).
var icaoSpecial = map[rune]string{
	'Đ': "D", 'đ': "D", // Vietnamese D with stroke (9303-3 §6.A: Đ → D)
	'Ð': "D", 'ð': "D",
	'Ø': "OE", 'ø': "OE",
	'Æ': "AE", 'æ': "AE",
	'Œ': "OE", 'œ': "OE",
	'ß': "SS", 'ẞ': "SS",
	'Þ': "TH", 'þ': "TH",
	'Ł': "L", 'ł': "L",
	'Ħ': "H", 'ħ': "H",
	'ı': "I",
	'Ŋ': "N", 'ŋ': "N",
}

// TransliterateICAO turns a name into the characters an MRZ may hold,
// following ICAO Doc 9303 Part 3 §6: tone and vowel marks are dropped
// (Ă Â Á … → A, Ê → E, Ô Ơ → O, Ư → U, and the ethnic-minority letters ñ ŏ ĭ ŭ
// → N O I U), Đ → D, letters are upper-cased, apostrophes are omitted, and
// spaces and hyphens become the filler '<'. It reports false when a
// character has no transliteration.
func TransliterateICAO(s string) (string, bool) {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case unicode.Is(unicode.Mn, r):
			// a combining mark of a letter already written: dropped
		case r == ' ' || r == '-':
			b.WriteByte('<')
		case isApostrophe(r):
			// omitted (H'Hen → HHEN)
		default:
			t, ok := icaoSpecial[r]
			if !ok {
				return "", false
			}
			b.WriteString(t)
		}
	}
	return b.String(), true
}

func isApostrophe(r rune) bool {
	return r == '\'' || r == '’' || r == 'ʼ'
}

// transliterable reports whether a letter has an ICAO transliteration.
func transliterable(r rune) bool {
	for _, d := range norm.NFD.String(string(r)) {
		if unicode.Is(unicode.Mn, d) {
			continue
		}
		if (d >= 'A' && d <= 'Z') || (d >= 'a' && d <= 'z') {
			continue
		}
		if _, ok := icaoSpecial[d]; !ok {
			return false
		}
	}
	return true
}
