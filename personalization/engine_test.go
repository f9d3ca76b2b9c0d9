package personalization

import (
	"context"
	"errors"
	"testing"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
	"github.com/cccd-station/station/personalization/lds"
)

// The virtual chips are the other, independent side: tests may use them,
// the package itself never imports them.

// rackCard puts chip in an in-process reader and connects to it.
func rackCard(t testing.TB, chip vcard.Card) *pcsc.Card {
	t.Helper()
	rack := vcard.NewRack("Virtual Reader 0")
	if err := rack.Insert("Virtual Reader 0", chip); err != nil {
		t.Fatal(err)
	}
	conn, err := rack.Connect("Virtual Reader 0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(pcsc.LeaveCard) })
	return pcsc.NewCard(conn)
}

func prepared(t testing.TB, sample string, aaBits int) (*lds.Image, *Engine) {
	t.Helper()
	p, s := newTestPKI(t)
	a := loadSamples(t)[sample]
	im, err := Prepare(a, PrepareOptions{Signer: s, DSCert: s.Certificate(), AAKeyBits: aaBits})
	if err != nil {
		t.Fatal(err)
	}
	prof, err := NewJMRTD(nil)
	if err != nil {
		t.Fatal(err)
	}
	return im, &Engine{Profile: prof, CSCAs: p.CSCAs}
}

func TestPersonalizeEverySampleOnBothChipModels(t *testing.T) {
	for _, model := range []emrtd.Model{emrtd.ModelExt144, emrtd.ModelShort80} {
		for name := range loadSamples(t) {
			t.Run(model.Name+"/"+name, func(t *testing.T) {
				bits := 2048
				if model.MaxAAKeyBits < 2048 {
					bits = 1024
				}
				if testing.Short() || name != "nguyen-van-an.json" {
					bits = min(bits, 1024) // RSA-2048 key generation is slow under -race
				}
				im, eng := prepared(t, name, bits)
				chip := emrtd.New(model)
				card := rackCard(t, chip)
				res, err := eng.Personalize(context.Background(), card, im)
				if err != nil {
					var f *Failure
					if errors.As(err, &f) && f.Report != nil {
						for _, c := range f.Report.Checks {
							t.Logf("%v %s: %s", c.OK, c.Name, c.Detail)
						}
					}
					t.Fatal(err)
				}
				if res.Serial != chip.Serial() || !res.Report.Verified || !chip.Locked() {
					t.Errorf("serial %s (chip %s), verified %v, locked %v", res.Serial, chip.Serial(), res.Report.Verified, chip.Locked())
				}
				if im.AAKey != nil {
					t.Error("the AA private key was not wiped after injection")
				}
				t.Logf("%s: %d APDUs %v", model.Name, res.APDUs, res.Steps)
			})
		}
	}
}
