package gateway

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/almanet/gateway/transform"
	"github.com/almanet/gateway/z3950"
)

// marcRecordRE finds the MARCXML records of an SRU answer.
var marcRecordRE = regexp.MustCompile(`(?s)<record xmlns="http://www.loc.gov/MARC21/slim".*?</record>`)

// holdersOf is a record's member-availability 852s, one string each.
func holdersOf(hs []transform.Holding) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.Institution+"|"+h.IZMMSID+"|"+strings.Join(h.Types, ","))
	}
	slices.Sort(out)
	return out
}

// TestOne852SetEverywhere (issue 22): a record carries the same member
// 852s whichever front end serves it: SRU, Z39.50 and the JSON feed, for
// the network's database and for a member's (which once added an 852 for
// the member itself over SRU that Z39.50 did not send).
func TestOne852SetEverywhere(t *testing.T) {
	env := newEnv(t, nil)
	c := dialZ(t, z3950Env(t, env))
	member := env.sim.Members()[0].Code
	for _, db := range []struct{ sru, z, feed string }{
		{"/sru", "Default", ""},
		{"/sru/" + member, member, member},
	} {
		// The same query on the same target: the same records in the same
		// order on every front end (the feed names a member's record by its
		// network MMS ID, so records are matched by position).
		byPos := map[int]map[string][]string{} // position → front end → holders
		ids := map[int]map[string]string{}
		put := func(front string, pos int, id string, h []string) {
			if byPos[pos] == nil {
				byPos[pos], ids[pos] = map[string][]string{}, map[string]string{}
			}
			byPos[pos][front], ids[pos][front] = h, id
		}
		code, _, body := env.get(db.sru + "?version=1.2&operation=searchRetrieve&query=alma.title%3Dhistory&maximumRecords=10&recordSchema=marcxml")
		if code != 200 {
			t.Fatalf("%s: %d %s", db.sru, code, body)
		}
		for i, x := range marcRecordRE.FindAll(body, -1) {
			r, err := transform.Parse(x)
			if err != nil {
				t.Fatalf("%s: a record does not parse: %v", db.sru, err)
			}
			put("sru", i, r.MMSID, holdersOf(r.Holdings))
		}
		if _, err := c.SearchTerm(db.z, "s", 4, "history"); err != nil {
			t.Fatalf("Z39.50 %s: %v", db.z, err)
		}
		recs, err := c.Present("s", 1, 10, z3950.OIDUSMARC)
		if err != nil {
			t.Fatalf("Z39.50 %s present: %v", db.z, err)
		}
		for i, b := range recs {
			r, err := transform.ParseISO2709(b)
			if err != nil {
				t.Fatalf("Z39.50 %s: a record does not parse: %v", db.z, err)
			}
			put("z3950", i, r.MMSID, holdersOf(r.Holdings))
		}
		q := "/v1/search?limit=10&query=" + url.QueryEscape("alma.title=history")
		if db.feed != "" {
			q += "&targets=" + db.feed
		}
		code, _, body = env.get(q)
		if code != 200 {
			t.Fatalf("%s: %d %s", q, code, body)
		}
		var feed struct {
			Records []struct {
				MMSID    string                  `json:"mms_id"`
				Holdings []transform.FeedHolding `json:"holdings"`
			} `json:"records"`
		}
		if err := json.Unmarshal(body, &feed); err != nil {
			t.Fatal(err)
		}
		for i, r := range feed.Records {
			var hs []transform.Holding
			for _, h := range r.Holdings {
				iz := ""
				if h.IZMMSID != nil {
					iz = *h.IZMMSID
				}
				hs = append(hs, transform.Holding{Institution: h.Institution, IZMMSID: iz, Types: h.Types})
			}
			put("feed", i, r.MMSID, holdersOf(hs))
		}
		compared := 0
		for pos, fronts := range byPos {
			if len(fronts) < 3 {
				continue // a record one front end's page did not reach
			}
			compared++
			id := ids[pos]["sru"]
			if ids[pos]["z3950"] != id {
				t.Errorf("%s position %d: SRU has %s, Z39.50 %s", db.sru, pos+1, id, ids[pos]["z3950"])
			}
			if d := cmp.Diff(fronts["sru"], fronts["z3950"]); d != "" {
				t.Errorf("%s record %s: SRU's 852s against Z39.50's (-sru +z3950):\n%s", db.sru, id, d)
			}
			if d := cmp.Diff(fronts["sru"], fronts["feed"]); d != "" {
				t.Errorf("%s record %s: SRU's 852s against the feed's (-sru +feed):\n%s", db.sru, id, d)
			}
		}
		if compared < 5 {
			t.Errorf("%s: only %d records were served by all three front ends; the comparison says little (%d positions)", db.sru, compared, len(byPos))
		}
	}
}
