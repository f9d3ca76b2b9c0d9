// Package synthetic makes applications of invented people, as the central
// system would send them, for the demo station and for tests: names,
// addresses, dates and personal ID numbers that pass every validation rule,
// and pictures and finger records the project draws itself
// (biometrics.SyntheticFace). No real person's data is involved.
package synthetic

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/biometrics"
)

// province is a birth-registration province code with its name.
type province struct {
	code string
	name string
}

var provinces = []province{
	{"001", "Thành phố Hà Nội"}, {"031", "Thành phố Hải Phòng"}, {"048", "Thành phố Đà Nẵng"},
	{"079", "Thành phố Hồ Chí Minh"}, {"092", "Thành phố Cần Thơ"}, {"038", "Tỉnh Thanh Hóa"},
	{"040", "Tỉnh Nghệ An"}, {"046", "Tỉnh Thừa Thiên Huế"}, {"066", "Tỉnh Đắk Lắk"},
	{"068", "Tỉnh Lâm Đồng"}, {"082", "Tỉnh Tiền Giang"}, {"004", "Tỉnh Cao Bằng"},
	{"036", "Tỉnh Nam Định"}, {"089", "Tỉnh An Giang"}, {"064", "Tỉnh Gia Lai"},
}

var (
	families = []string{"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
		"Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trịnh", "Mai", "Tôn Nữ"}
	middlesM = []string{"Văn", "Hữu", "Đức", "Minh", "Quốc", "Thành", "Công", "Gia"}
	middlesF = []string{"Thị", "Ngọc", "Thu", "Thanh", "Mỹ", "Kim", "Phương", "Diệu"}
	givensM  = []string{"An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hiếu", "Hùng", "Khang", "Long",
		"Nam", "Phúc", "Quang", "Sơn", "Tâm", "Thắng", "Toàn", "Tuấn", "Việt", "Vinh"}
	givensF = []string{"Anh", "Chi", "Cúc", "Dung", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh",
		"Mai", "Nga", "Ngân", "Nhung", "Oanh", "Thảo", "Trang", "Uyên", "Vy", "Yến"}
	// Invented names in ethnic-minority orthographies (Ê Đê, Jrai), which
	// the MRZ transliteration must handle: apostrophes, ñ, ŭ, ĕ.
	minorityNames = [][2]string{{"Niê", "H'Ñuôl"}, {"Êban", "Y'Drăng"}, {"Ksor", "H'Bia"}, {"Rơ Mah", "Ŭt"}, {"Mlô", "H'Xuân"}}
	ethnicities   = []string{"Kinh", "Kinh", "Kinh", "Kinh", "Tày", "Thái", "Mường", "Khmer", "Hoa", "Nùng"}
	religions     = []string{"Không", "Không", "Không", "Phật giáo", "Công giáo", "Cao Đài", "Tin Lành"}
	streets       = []string{"Đường Lê Lợi", "Đường Trần Hưng Đạo", "Phố Hàng Bạc", "Đường Nguyễn Trãi",
		"Đường Hai Bà Trưng", "Đường Lý Thường Kiệt", "Đường Điện Biên Phủ", "Đường Phan Chu Trinh"}
	wards = []string{"Phường 1", "Phường 3", "Phường Bến Thành", "Phường Hàng Bạc", "Xã Tân Phú",
		"Xã Đông Ngạc", "Phường Thuận Thành", "Xã Quảng Lâm"}
	marks = []string{"Nốt ruồi C:1cm trên trước đầu mày phải", "Sẹo chấm C:2cm dưới sau mép phải",
		"Nốt ruồi C:3cm dưới trước cằm", "Sẹo chấm C:1cm trên sau cánh mũi trái"}
)

// Options shape the generated applications.
type Options struct {
	IssueDate time.Time          // default: today in Vietnam
	Policy    application.Policy // for the expiry date; default cccd-2014
	BatchID   string             // default "DEMO-<date>"
	IDPrefix  string             // application_id prefix; default "DEMO"
}

// Application returns the JSON of the n-th invented person for a seed: the
// same (seed, n) always gives the same person.
func Application(seed int64, n int, o Options) ([]byte, error) {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(n)))
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	issue := o.IssueDate
	if issue.IsZero() {
		issue = time.Now()
	}
	issueDate := application.DateOf(issue)
	if o.BatchID == "" {
		o.BatchID = "DEMO-" + issueDate.String()
	}
	if o.IDPrefix == "" {
		o.IDPrefix = "DEMO"
	}

	female := r.IntN(2) == 1
	var family, given string
	if r.IntN(12) == 0 {
		mn := minorityNames[r.IntN(len(minorityNames))]
		family, given = mn[0], mn[1]
	} else {
		family = pick(families)
		if female {
			given = pick(middlesF) + " " + pick(givensF)
		} else {
			given = pick(middlesM) + " " + pick(givensM)
		}
	}
	// Born between 15 and 85 years before the issue date.
	age := 15 + r.IntN(70)
	dob := issue.AddDate(-age, -r.IntN(12), -r.IntN(28))
	dobDate := application.DateOf(dob)
	dobText := dobDate.String()
	if age > 70 && r.IntN(3) == 0 {
		dobText = fmt.Sprintf("%04d", dobDate.Year) // day and month unknown
		dobDate = application.Date{Year: dobDate.Year}
	}

	prov := provinces[r.IntN(len(provinces))]
	g := (dobDate.Year/100 - 19) * 2
	if female {
		g++
	}
	personalID := fmt.Sprintf("%s%d%02d%06d", prov.code, g, dobDate.Year%100, r.IntN(1_000_000))

	policy := o.Policy
	if policy == "" {
		policy = application.PolicyCCCD2014
	}
	var expiry any
	if expAge, none := policy.ExpiryAge(dobDate.Earliest(), issueDate.Time()); !none {
		e := application.Date{Year: dobDate.Year + expAge, Month: dobDate.Month, Day: dobDate.Day}
		switch {
		case dobDate.Month == 0:
			e.Month, e.Day = 12, 31
		case e.Month == 2 && e.Day == 29 && !isLeap(e.Year):
			e.Day = 28
		}
		expiry = e.String()
	}

	sex := "M"
	if female {
		sex = "F"
	}
	faceSeed := seed*1_000_003 + int64(n)
	m := map[string]any{
		"application_id":     fmt.Sprintf("%s-%d-%07d", o.IDPrefix, issueDate.Year, n),
		"batch_id":           o.BatchID,
		"personal_id":        personalID,
		"full_name":          family + " " + given,
		"family_name":        family,
		"given_names":        given,
		"date_of_birth":      dobText,
		"sex":                sex,
		"nationality":        "VNM",
		"ethnicity":          pick(ethnicities),
		"religion":           pick(religions),
		"place_of_origin":    fmt.Sprintf("%s, %s", pick(wards), prov.name),
		"place_of_residence": fmt.Sprintf("Số %d, %s, %s, %s", 1+r.IntN(200), pick(streets), pick(wards), provinces[r.IntN(len(provinces))].name),
		"identifying_marks":  pick(marks),
		"issue_date":         issueDate.String(),
		"expiry_date":        expiry,
		"father_name":        pick(families) + " " + pick(middlesM) + " " + pick(givensM),
		"mother_name":        pick(families) + " " + pick(middlesF) + " " + pick(givensF),
		"face_image":         base64.StdEncoding.EncodeToString(biometrics.SyntheticFace(faceSeed)),
		"fingerprints": []map[string]any{
			{"finger": "right_index", "format": "iso19794-2", "data": base64.StdEncoding.EncodeToString(biometrics.SyntheticFingerMinutiae(faceSeed, 2))},
			{"finger": "left_index", "format": "iso19794-2", "data": base64.StdEncoding.EncodeToString(biometrics.SyntheticFingerMinutiae(faceSeed, 7))},
		},
	}
	if age >= 22 && r.IntN(2) == 0 {
		spouseFemale := !female
		if spouseFemale {
			m["spouse_name"] = pick(families) + " " + pick(middlesF) + " " + pick(givensF)
		} else {
			m["spouse_name"] = pick(families) + " " + pick(middlesM) + " " + pick(givensM)
		}
	}
	if age >= 30 && r.IntN(2) == 0 {
		m["old_id_number"] = fmt.Sprintf("%09d", r.IntN(1_000_000_000))
	}
	return json.Marshal(m)
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// Slug is a file name for the n-th application.
func Slug(n int) string { return strings.ToLower(fmt.Sprintf("demo-%07d", n)) }
