package personalization

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/personalization/lds"
)

// Names of several peoples of Vietnam (chip-data.md §2), sent with both
// parts, in the order each people writes them: the application is accepted,
// the MRZ's primary identifier is the family (clan) name whatever the
// order, and DG13 carries the full name exactly as sent.
func TestNamesOfThePeoplesOfVietnam(t *testing.T) {
	cases := []struct {
		people, full, family, given, line3 string
	}{
		{"Kinh", "Nguyễn Văn An", "Nguyễn", "Văn An", "NGUYEN<<VAN<AN"},
		{"Ê Đê (clan name last)", "H'Hen Niê", "Niê", "H'Hen", "NIE<<HHEN"},
		{"Ê Đê, a man", "Y'Moan Êñuôl", "Êñuôl", "Y'Moan", "ENUOL<<YMOAN"},
		{"Ê Đê, two-word clan", "Y Ngông Niê Kdăm", "Niê Kdăm", "Y Ngông", "NIE<KDAM<<Y<NGONG"},
		{"Gia Rai", "Rơ Mah H'Bia", "Rơ Mah", "H'Bia", "RO<MAH<<HBIA"},
		{"Gia Rai, clan last", "H'Bia Ksor", "Ksor", "H'Bia", "KSOR<<HBIA"},
		{"Chăm", "Đàng Năng Thọ", "Đàng", "Năng Thọ", "DANG<<NANG<THO"},
		{"Khmer", "Thạch Thị Sô Phi", "Thạch", "Thị Sô Phi", "THACH<<THI<SO<PHI"},
		{"Mường", "Đinh Công Tráng", "Đinh", "Công Tráng", "DINH<<CONG<TRANG"},
		{"Tày", "Nông Thị Dín", "Nông", "Thị Dín", "NONG<<THI<DIN"},
		{"Hmông", "Giàng A Páo", "Giàng", "A Páo", "GIANG<<A<PAO"},
		{"Hmông, Sùng", "Sùng Thị Mỷ", "Sùng", "Thị Mỷ", "SUNG<<THI<MY"},
	}
	raw, err := os.ReadFile("../testdata/samples/nguyen-van-an.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.people, func(t *testing.T) {
			var m map[string]any
			json.Unmarshal(raw, &m)
			m["full_name"], m["family_name"], m["given_names"] = c.full, c.family, c.given
			doc, _ := json.Marshal(m)
			a, err := application.Parse(doc, application.Rules{Now: testNow})
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			mrz, err := lds.NewMRZ(a, lds.MRZConventions{})
			if err != nil {
				t.Fatal(err)
			}
			if l, _ := mrz.Lines(); l[2] != c.line3+strings.Repeat("<", 30-len(c.line3)) {
				t.Errorf("line 3 %q, want %q", l[2], c.line3)
			}
			d13, err := lds.NewDG13(a)
			if err != nil {
				t.Fatal(err)
			}
			if d13.FullName != c.full {
				t.Errorf("DG13 full name %q, want %q as sent", d13.FullName, c.full)
			}
		})
	}
	// Both parts sent, but the full name is neither order of them.
	var m map[string]any
	json.Unmarshal(raw, &m)
	m["full_name"], m["family_name"], m["given_names"] = "Niê H'Hen Y", "Niê", "H'Hen"
	doc, _ := json.Marshal(m)
	_, err = application.Parse(doc, application.Rules{Now: testNow})
	var ve *application.ValidationError
	if !errors.As(err, &ve) || !ve.Has("full_name") {
		t.Errorf("a full name in neither order accepted: %v", err)
	}
}
