package almasim

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func bibPath(id string, params url.Values) string {
	if params == nil {
		params = url.Values{"expand": {"p_avail,e_avail,d_avail"}}
	}
	return bibsPrefix + id + "?" + params.Encode()
}

func TestBibsKeys(t *testing.T) {
	s := shared(t, 300)
	nz := s.Records()[0] // held by every member
	m0, m1 := s.Members()[0], s.Members()[1]
	var iz0 string
	for _, h := range nz.Holdings {
		if h.Institution == m0.Code {
			iz0 = h.IZMMSID
		}
	}
	withParam := url.Values{"expand": {"p_avail"}}
	withParam.Set("apikey", s.NZKey())
	tests := []struct {
		name, path, key string
		status          int
		code            string
	}{
		{"NZ key, NZ record", bibPath(nz.MMSID, nil), s.NZKey(), 200, ""},
		{"NZ key as parameter", bibPath(nz.MMSID, withParam), "", 200, ""},
		{"member key, its IZ record", bibPath(iz0, nil), m0.APIKey, 200, ""},
		{"NZ key, IZ record", bibPath(iz0, nil), s.NZKey(), 400, "402203"},
		{"member key, NZ record", bibPath(nz.MMSID, nil), m0.APIKey, 400, "402203"},
		{"other member's key", bibPath(iz0, nil), m1.APIKey, 400, "402203"},
		{"no key", bibPath(nz.MMSID, nil), "", 400, "UNAUTHORIZED"},
		{"unknown key", bibPath(nz.MMSID, nil), "l8xx0000", 400, "UNAUTHORIZED"},
		{"not numeric", bibPath("99x1", nil), s.NZKey(), 400, "402204"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.key != "" {
				hdr = []string{"Authorization", "apikey " + tc.key}
			}
			res, body := do(t, s.Handler(), "GET", tc.path, hdr...)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if tc.code != "" {
				if got := firstTag(t, body, "errorCode"); got != tc.code {
					t.Errorf("errorCode %q, want %q", got, tc.code)
				}
			}
			if tc.code == "UNAUTHORIZED" {
				if got := firstTag(t, body, "errorMessage"); got != "API-key not defined or not configured to allow this API." {
					t.Errorf("errorMessage %q", got)
				}
			} else if res.Header.Get("X-Exl-Api-Remaining") == "" {
				t.Error("no X-Exl-Api-Remaining")
			}
		})
	}
}

// kinds maps $9 codes to the availability fields they must produce.
var kinds = map[string]string{"P": "AVA", "E": "AVE", "D": "AVD"}

func TestBibsAvailabilityFollowsThe852s(t *testing.T) {
	s := shared(t, 300)
	checked := map[string]int{}
	for _, r := range s.Records() {
		_, body := do(t, s.Handler(), "GET", bibPath(r.MMSID, nil), "Authorization", "apikey "+s.NZKey())
		got := map[string][]string{} // institution -> kinds
		for _, f := range datafields(t, body) {
			switch f.Tag {
			case "852":
				if f.Ind1 == "0" && f.Ind2 == "1" {
					t.Errorf("%s: the Bibs API record carries a member 852", r.MMSID)
				}
			case "AVA", "AVE", "AVD":
				inst := f.sub("a")[0]
				if !slices.Contains(got[inst], f.Tag) {
					got[inst] = append(got[inst], f.Tag)
				}
				if f.sub("0")[0] != r.MMSID {
					t.Errorf("%s: %s $0 is %s", r.MMSID, f.Tag, f.sub("0")[0])
				}
				checked[f.Tag]++
				if f.Tag == "AVA" {
					checkAVA(t, r.MMSID, f)
				}
			}
		}
		want := map[string][]string{}
		for _, h := range r.Holdings {
			for _, ty := range h.Types {
				want[h.Institution] = append(want[h.Institution], kinds[ty])
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: availability by member differs from the 852 $9s (-852 +API):\n%s", r.MMSID, diff)
		}
	}
	for _, k := range []string{"AVA", "AVE", "AVD"} {
		if checked[k] == 0 {
			t.Errorf("no %s field in the whole network", k)
		}
	}
}

func checkAVA(t *testing.T, id string, f marcField) {
	t.Helper()
	for _, c := range []string{"a", "b", "c", "d", "e", "j", "q", "8"} {
		if len(f.sub(c)) != 1 {
			t.Errorf("%s: AVA lacks $%s", id, c)
		}
	}
	status := f.sub("e")[0]
	if status == "check_holdings" {
		if len(f.sub("f")) != 0 {
			t.Errorf("%s: check_holdings AVA with $f", id)
		}
		return
	}
	total, _ := strconv.Atoi(f.sub("f")[0])
	unavail, _ := strconv.Atoi(f.sub("g")[0])
	switch {
	case status == "available" && unavail >= total,
		status == "unavailable" && unavail != total,
		status != "available" && status != "unavailable":
		t.Errorf("%s: AVA $e %s with $f %d $g %d", id, status, total, unavail)
	}
}

func TestBibsIZRecord(t *testing.T) {
	s := shared(t, 300)
	nz := s.Records()[0]
	h := nz.Holdings[0]
	var key string
	for _, m := range s.Members() {
		if m.Code == h.Institution {
			key = m.APIKey
		}
	}
	_, body := do(t, s.Handler(), "GET", bibPath(h.IZMMSID, nil), "Authorization", "apikey "+key)
	if got := firstTag(t, body, "linked_record_id"); got != nz.MMSID {
		t.Errorf("linked_record_id %q, want %s", got, nz.MMSID)
	}
	var link bool
	var kindsSeen []string
	for _, f := range datafields(t, body) {
		if f.Tag == "035" && slices.Contains(f.sub("a"), "(EXLNZ-"+s.NetworkCode()+")"+nz.MMSID) {
			link = true
		}
		if kind, ok := strings.CutPrefix(f.Tag, "AV"); ok {
			kindsSeen = append(kindsSeen, kind)
			if f.sub("a")[0] != h.Institution {
				t.Errorf("IZ record shows %s's inventory", f.sub("a")[0])
			}
		}
	}
	if !link {
		t.Errorf("IZ record lacks 035 (EXLNZ-%s)%s", s.NetworkCode(), nz.MMSID)
	}
	if len(kindsSeen) == 0 {
		t.Error("IZ record has no inventory")
	}
	if got := firstTag(t, body, "controlfield"); got != h.IZMMSID {
		t.Errorf("001 %s, want %s", got, h.IZMMSID)
	}
}

func TestBibsFormatsAndExpand(t *testing.T) {
	s := shared(t, 300)
	id := s.Records()[0].MMSID
	key := []string{"Authorization", "apikey " + s.NZKey()}
	res, body := do(t, s.Handler(), "GET", bibPath(id, url.Values{"format": {"json"}, "expand": {"p_avail"}}), key...)
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("format=json: %s", res.Header.Get("Content-Type"))
	}
	var b map[string]any
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	anies := b["anies"].([]any)[0].(string)
	if !strings.Contains(anies, `tag="AVA"`) || strings.Contains(anies, `tag="AVE"`) || strings.Contains(anies, `tag="AVD"`) {
		t.Error("expand=p_avail must give AVA only")
	}
	res, _ = do(t, s.Handler(), "GET", bibPath(id, url.Values{"format": {"xml"}}), append(key, "Accept", "application/json")...)
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/xml") {
		t.Errorf("format=xml wins over Accept: %s", res.Header.Get("Content-Type"))
	}
	_, body = do(t, s.Handler(), "GET", bibPath(id, url.Values{}), key...)
	if strings.Contains(string(body), `tag="AV`) {
		t.Error("no expand must give no availability")
	}
}

func TestBibsDailyQuota(t *testing.T) {
	s := New(Config{Records: 20, DailyQuota: 3})
	id := s.Records()[0].MMSID
	for i, want := range []string{"2", "1", "0"} {
		res, _ := do(t, s.Handler(), "GET", bibPath(id, nil), "Authorization", "apikey "+s.NZKey())
		if got := res.Header.Get("X-Exl-Api-Remaining"); res.StatusCode != 200 || got != want {
			t.Errorf("call %d: status %d, remaining %q, want 200 %q", i+1, res.StatusCode, got, want)
		}
	}
	res, body := do(t, s.Handler(), "GET", bibPath(id, nil), "Authorization", "apikey "+s.NZKey())
	if res.StatusCode != 429 || firstTag(t, body, "errorCode") != "DAILY_THRESHOLD" {
		t.Errorf("over the quota: %d %s", res.StatusCode, body)
	}
	// Other keys have their own budget.
	m := s.Members()[0]
	res, _ = do(t, s.Handler(), "GET", bibPath(id, nil), "Authorization", "apikey "+m.APIKey)
	if res.Header.Get("X-Exl-Api-Remaining") != "2" {
		t.Errorf("member budget: %q", res.Header.Get("X-Exl-Api-Remaining"))
	}
	s.ResetCounters()
	res, _ = do(t, s.Handler(), "GET", bibPath(id, nil), "Authorization", "apikey "+s.NZKey())
	if res.StatusCode != 200 {
		t.Errorf("after ResetCounters: %d", res.StatusCode)
	}
}
