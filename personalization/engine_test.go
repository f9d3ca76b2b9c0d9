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

// testStock is the virtual products of the given profiles, their RSA
// Active Authentication keys at most aaBits (RSA-2048 key generation is
// slow under -race).
func testStock(t testing.TB, aaBits int, profiles ...Profile) *Stock {
	t.Helper()
	if len(profiles) == 0 {
		profiles = []Profile{JMRTD{}}
	}
	var products []Product
	for _, pr := range profiles {
		for _, p := range VirtualProductsOf(pr.Name()) {
			if p.AAKey.RSABits() > aaBits {
				p.AAKey = KeyRSA1024
			}
			products = append(products, p)
		}
	}
	st, err := NewStock(products, profiles...)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// prepared is a sample's chip content and an engine for the JMRTD virtual
// products, with a TEST PKI.
func prepared(t testing.TB, sample string, aaBits int) (*lds.Content, *Engine) {
	t.Helper()
	p, s := newTestPKI(t)
	c, err := PrepareContent(loadSamples(t)[sample], ContentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c, &Engine{Stock: testStock(t, aaBits), Signer: s, DSCert: s.Certificate(), CSCAs: p.CSCAs}
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
				t.Logf("%s: %d APDUs %v", model.Name, res.APDUs, res.Steps)
			})
		}
	}
}
