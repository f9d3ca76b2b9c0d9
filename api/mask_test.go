package api

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/cccd-station/station/station"
)

// TestApplicationIDsAreMaskedOnEveryPageForRolesThatMayNotSeeThem renders
// every panel page (and the live stream, and the station route) as an
// operator and an auditor, with application ids in the store, the readers,
// the spoiled cards and the audit log: no whole id anywhere in the HTML,
// the masked form where ids are shown. A technician sees them whole.
func TestApplicationIDsAreMaskedOnEveryPageForRolesThatMayNotSeeThem(t *testing.T) {
	e := newEnv(t, envOptions{})
	spoiled, serial := e.spoiledCard(t, 70) // cards page, audit details ("… application ID …")
	doc := app(t, 71)
	inReader := appID(t, doc)
	e.central().postJSON("/api/v1/applications", doc).want(t, http.StatusCreated)
	e.ctrl.update(func(s *station.Snapshot) {
		s.Readers[0].State, s.Readers[0].CardSerial, s.Readers[0].ApplicationID = station.ReaderPersonalizing, "SN7777", inReader
	})
	ids := []string{spoiled, inReader}

	pages := func(c *client, role Role) map[string][]byte {
		out := map[string][]byte{}
		for _, path := range []string{
			"/panel/", "/panel/applications", "/panel/applications?state=validated",
			"/panel/applications/" + spoiled, "/panel/applications/" + inReader,
			"/panel/cards", "/panel/config",
		} {
			out[path] = c.get(path).want(t, http.StatusOK).body
		}
		if role.Can(PermAudit) {
			out["/panel/audit"] = c.get("/panel/audit").want(t, http.StatusOK).body
		}
		s := c.openStream(t)
		out["/panel/events"] = []byte(s.next(t, promptly, "the first state"))
		s.cancel()
		return out
	}
	for _, role := range []Role{RoleOperator, RoleAuditor} {
		c := e.user("u-"+string(role), role)
		for path, body := range pages(c, role) {
			for _, id := range ids {
				if bytes.Contains(body, []byte(id)) {
					t.Errorf("%s sees the application id %s whole on %s", role, id, path)
				}
			}
		}
		got := pages(c, role)
		for path, want := range map[string]string{
			"/panel/":                             MaskApplicationID(inReader),
			"/panel/events":                       MaskApplicationID(inReader),
			"/panel/applications":                 MaskApplicationID(spoiled),
			"/panel/applications/" + spoiled:      MaskApplicationID(spoiled),
			"/panel/applications/" + inReader:     MaskApplicationID(inReader),
			"/panel/cards":                        MaskApplicationID(spoiled),
			"/panel/applications?state=validated": MaskApplicationID(inReader),
		} {
			if !bytes.Contains(got[path], []byte(want)) {
				t.Errorf("%s: %s does not show the masked id %s", role, path, want)
			}
		}
		if role.Can(PermAudit) && !bytes.Contains(got["/panel/audit"], []byte("application "+MaskApplicationID(spoiled))) {
			t.Errorf("%s: the audit log does not show the masked id in the card entries", role)
		}
		if !bytes.Contains(got["/panel/cards"], []byte(serial)) {
			t.Errorf("%s: the spoiled card %s is not listed", role, serial)
		}
		// A prefix search would reveal ids a character at a time: only a
		// whole id finds an application.
		prefix := spoiled[:len(spoiled)-1]
		r := c.get("/panel/applications?q="+prefix).want(t, http.StatusOK)
		if bytes.Contains(r.body, []byte(MaskApplicationID(spoiled))) || bytes.Contains(r.body, []byte(`id="applications"`)) {
			t.Errorf("%s: a prefix search lists applications", role)
		}
		r = c.get("/panel/applications?q="+spoiled).want(t, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/panel/applications/"+spoiled {
			t.Errorf("%s: the whole id went to %q", role, loc)
		}
	}
	// The station route for scripts: the same rule.
	var snap station.Snapshot
	e.client(withToken(e.tokens[RoleOperator])).get("/api/v1/station").want(t, http.StatusOK).json(t, &snap)
	if snap.Readers[0].ApplicationID != MaskApplicationID(inReader) {
		t.Errorf("the station route shows an operator %q", snap.Readers[0].ApplicationID)
	}

	tech := e.user("tech", RoleTechnician)
	for path, body := range pages(tech, RoleTechnician) {
		want := ""
		switch {
		case path == "/panel/" || path == "/panel/events" || strings.HasSuffix(path, inReader) || strings.Contains(path, "state="):
			want = inReader
		case path != "/panel/config":
			want = spoiled
		}
		if want != "" && !bytes.Contains(body, []byte(want)) {
			t.Errorf("a technician does not see %s whole on %s", want, path)
		}
	}
	r := tech.get("/panel/applications?q="+spoiled[:len(spoiled)-1]).want(t, http.StatusOK)
	if !bytes.Contains(r.body, []byte(`href="/panel/applications/`+spoiled+`"`)) {
		t.Error("a technician's prefix search does not link the application")
	}
}
