package application

import "fmt"

// provinceCodes are the 63 province codes of birth registration that open a
// 12-digit personal identification number (Circular 07/2016/TT-BCA, annex:
// 001 Hà Nội … 096 Cà Mau). Codes were assigned before the 2025 merger of
// provinces and stay valid on existing numbers.
var provinceCodes = map[string]bool{
	"001": true, "002": true, "004": true, "006": true, "008": true, "010": true, "011": true,
	"012": true, "014": true, "015": true, "017": true, "019": true, "020": true, "022": true,
	"024": true, "025": true, "026": true, "027": true, "030": true, "031": true, "033": true,
	"034": true, "035": true, "036": true, "037": true, "038": true, "040": true, "042": true,
	"044": true, "045": true, "046": true, "048": true, "049": true, "051": true, "052": true,
	"054": true, "056": true, "058": true, "060": true, "062": true, "064": true, "066": true,
	"067": true, "068": true, "070": true, "072": true, "074": true, "075": true, "077": true,
	"079": true, "080": true, "082": true, "083": true, "084": true, "086": true, "087": true,
	"089": true, "091": true, "092": true, "093": true, "094": true, "095": true, "096": true,
}

// personalIDRules checks the structure PPP G YY NNNNNN (chip-data.md §3):
// province code, century-and-sex digit (0/1: born 1900–1999 male/female,
// 2/3: 2000–2099, 4/5: 2100–2199), the last two digits of the birth year, and
// a six-digit sequence. The number must agree with sex and date_of_birth.
// It returns the broken rules, without the number.
func personalIDRules(id string, sex Sex, sexOK bool, dob Date, dobOK bool) []string {
	if !allDigits(id, 12) {
		return []string{"must be 12 digits"}
	}
	var rules []string
	if !provinceCodes[id[0:3]] {
		rules = append(rules, "the first three digits must be a province code of birth registration (001–096)")
	}
	g := int(id[3] - '0')
	if g > 5 {
		return append(rules, "the fourth digit (century and sex) must be 0–5")
	}
	century := 1900 + (g/2)*100
	idSex := Male
	if g%2 == 1 {
		idSex = Female
	}
	if sexOK && idSex != sex {
		rules = append(rules, "the fourth digit (century and sex) disagrees with sex")
	}
	if dobOK {
		yy := int(id[4]-'0')*10 + int(id[5]-'0')
		if dob.Year/100*100 != century {
			rules = append(rules, "the fourth digit (century and sex) disagrees with the century of date_of_birth")
		}
		if dob.Year%100 != yy {
			rules = append(rules, fmt.Sprintf("digits 5–6 must be the last two digits of the year of date_of_birth"))
		}
	}
	return rules
}
