//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// simMember is a member of the simulated network, from what
// `gateway simulate` prints.
type simMember struct{ code, name, sru, key string }

var simMemberLine = regexp.MustCompile(`^\s{4}(\S+)\s+(.+?)\s+SRU (\S+)\s+key (\S+)$`)

// members reads the simulator's member lines, which follow the lines
// startSim read.
func (s *sim) members(t *testing.T) []simMember {
	t.Helper()
	var out []simMember
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-s.lines:
			if m := simMemberLine.FindStringSubmatch(l); m != nil {
				out = append(out, simMember{m[1], m[2], m[3], m[4]})
			}
			if strings.Contains(l, "control:") {
				if len(out) == 0 {
					t.Fatal("the simulator printed no members")
				}
				return out
			}
		case <-deadline:
			t.Fatalf("the simulator printed no control line after its members (%d read)", len(out))
		}
	}
}

// almaHolding is what the simulated Alma's Bibs API says of one member's
// physical holdings of a record: AVA $f total, $g unavailable.
// A member whose AVA fields carry no counts (Alma's check_holdings) has
// counted false.
type almaHolding struct {
	total, available int
	counted          bool
}

// almaAVA reads a record's AVA fields from the simulated Alma with key.
func (s *sim) almaAVA(t *testing.T, id, key string) map[string]almaHolding {
	t.Helper()
	code, _, body := get(t, s.base+"/almaws/v1/bibs/"+id+"?expand=p_avail", "Authorization", "apikey "+key)
	if code != http.StatusOK {
		t.Fatalf("simulated Bibs API for %s: %d %s", id, code, body)
	}
	var doc struct {
		Fields []struct {
			Tag  string `xml:"tag,attr"`
			Subs []struct {
				Code  string `xml:"code,attr"`
				Value string `xml:",chardata"`
			} `xml:"subfield"`
		} `xml:"record>datafield"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("simulated Bibs API for %s: %v", id, err)
	}
	out := map[string]almaHolding{}
	for _, f := range doc.Fields {
		if f.Tag != "AVA" {
			continue
		}
		var inst string
		var total, unavail int
		counted := false
		for _, sf := range f.Subs {
			switch sf.Code {
			case "a":
				inst = sf.Value
			case "f":
				total, _ = strconv.Atoi(sf.Value)
				counted = true
			case "g":
				unavail, _ = strconv.Atoi(sf.Value)
			}
		}
		h := out[inst]
		h.counted = h.counted || counted
		h.total += total
		h.available += total - unavail
		out[inst] = h
	}
	return out
}

// dashboardRun is what integration/node/dashboard.mjs prints.
type dashboardRun struct {
	Error       string   `json:"error"`
	Screenshots []string `json:"screenshots"`
	Steps       struct {
		SignedOut struct {
			Status      int     `json:"status"`
			ContentType string  `json:"content_type"`
			Form        bool    `json:"form"`
			Dashboard   bool    `json:"dashboard"`
			CORS        *string `json:"cors"`
		} `json:"signed_out"`
		Wrong struct {
			Form      bool   `json:"form"`
			Message   string `json:"message"`
			Dashboard bool   `json:"dashboard"`
		} `json:"wrong"`
		SignedIn struct {
			Dashboard bool   `json:"dashboard"`
			Who       string `json:"who"`
			Cookie    *struct {
				HTTPOnly bool   `json:"httpOnly"`
				SameSite string `json:"sameSite"`
				Secure   bool   `json:"secure"`
			} `json:"cookie"`
		} `json:"signed_in"`
		Healthy  pageState `json:"healthy"`
		Keyboard []string  `json:"keyboard"`
		Lookup   struct {
			Title   string `json:"title"`
			Holders []struct {
				Code      string `json:"code"`
				Name      string `json:"name"`
				Items     string `json:"items"`
				Available string `json:"available"`
			} `json:"holders"`
			Local   string     `json:"local"`
			Network [][]string `json:"network"`
			Buttons int        `json:"buttons"`
			Request string     `json:"request"`
			Status  string     `json:"status"`
			Rows    []struct {
				Code      string `json:"code"`
				Holds     string `json:"holds"`
				Available string `json:"available"`
				Button    bool   `json:"button"`
			} `json:"network_rows"`
			PatronAbove *bool `json:"patron_above"`
		} `json:"lookup"`
		Fault struct {
			Alma            string    `json:"alma"`
			StartedWhenOpen int       `json:"started_when_open"`
			RefreshAfter    int       `json:"refresh_after_open"`
			Before          pageState `json:"before"`
			After           pageState `json:"after"`
		} `json:"fault"`
		Phone struct {
			ScrollWidth int      `json:"scroll_width"`
			ClientWidth int      `json:"client_width"`
			Clipped     []string `json:"clipped"`
			Scrolled    int      `json:"scrolled"`
		} `json:"phone"`
		SignedOutAgain struct {
			Form        bool `json:"form"`
			Dashboard   bool `json:"dashboard"`
			StatusAfter int  `json:"status_after"`
			Replayed    int  `json:"replayed"`
		} `json:"signed_out_again"`
	} `json:"steps"`
}

type pageState struct {
	Verdict      string         `json:"verdict"`
	VerdictClass string         `json:"verdict_class"`
	Rows         [][]string     `json:"rows"`
	Names        []string       `json:"names"`
	Charts       map[string]int `json:"charts"`
	Paths        int            `json:"paths"`
	Refresh      int            `json:"refresh"`
	LookupTop    float64        `json:"lookup_top"`
}

// TestDashboardInChromium is the staff dashboard tried as a systems
// librarian would, in headless Debian Chromium driven by puppeteer-core,
// against a gateway on the simulated network with an admin token and a
// staff token: the sign-in page for a browser not signed in, a wrong token
// refused, the right one in, the verdict and upstream states in words, the
// charts filling, the lookup's holders and counts as the simulated Alma
// has them, a fault in Alma's SRU shown within one refresh, and sign-out
// ending access. Screenshots are kept in testdata/out/dashboard-*.png.
func TestDashboardInChromium(t *testing.T) {
	bin := tool(t, "chromium")
	node := tool(t, "node")
	if _, err := os.Stat("node/node_modules/puppeteer-core/package.json"); err != nil {
		t.Fatal("puppeteer-core is not installed: cd integration/node && npm ci (or run: sudo bash scripts/install-tools.sh)")
	}
	s := startSim(t)
	members := s.members(t)
	const adminToken = "integration-admin-token-4c1d"
	const staffToken = "integration-staff-token-all-members"
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gateway.yaml")
	var y strings.Builder
	y.WriteString("dashboard:\n  history_interval: 1s\nmembers:\n")
	env := []string{"GATEWAY_CONFIG=" + cfg, "GATEWAY_ADMIN_TOKEN=" + adminToken, "GATEWAY_BREAKER_COOLDOWN=60s", "STAFF_TOKEN_NETWORK=" + staffToken}
	for i, m := range members {
		fmt.Fprintf(&y, "  - code: %q\n    name: %q\n    api_key_env: KEY_%d\n", m.code, m.name, i)
		env = append(env, fmt.Sprintf("KEY_%d=%s", i, m.key))
	}
	y.WriteString("staff:\n  - name: Network office\n    institution: \"*\"\n    token_env: STAFF_TOKEN_NETWORK\n")
	if err := os.WriteFile(cfg, []byte(y.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, s, env...)

	// A title held by several members, looked up for one that holds it.
	code, _, body := get(t, g.base+"/v1/search?q=history&limit=50")
	if code != http.StatusOK {
		t.Fatalf("/v1/search: %d", code)
	}
	var found struct {
		Records []struct {
			MMSID    string `json:"mms_id"`
			Title    string `json:"title"`
			Holdings []struct {
				Institution string  `json:"institution"`
				IZMMSID     *string `json:"iz_mms_id"`
				Types       []string
			} `json:"holdings"`
		} `json:"records"`
	}
	if err := json.Unmarshal(body, &found); err != nil {
		t.Fatal(err)
	}
	var pick int = -1
	for i, r := range found.Records {
		// Held in print by the member looked up for, and by at least one
		// member online only (the member view's electronic holders).
		online := slices.ContainsFunc(r.Holdings[min(1, len(r.Holdings)):], func(h struct {
			Institution string  `json:"institution"`
			IZMMSID     *string `json:"iz_mms_id"`
			Types       []string
		}) bool {
			return len(h.Types) > 0 && !slices.Contains(h.Types, "print")
		})
		if len(r.Holdings) >= 3 && r.Holdings[0].IZMMSID != nil && slices.Contains(r.Holdings[0].Types, "print") && online {
			pick = i
			break
		}
	}
	if pick < 0 {
		t.Fatal("no record held in print by three members, one of them online only, in the first 50 of history")
	}
	rec := found.Records[pick]
	member := rec.Holdings[0].Institution
	truth := s.almaAVA(t, rec.MMSID, s.nzKey)

	out, err := filepath.Abs(filepath.Join("testdata", "out"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	arg, _ := json.Marshal(map[string]string{
		"chromium": bin, "gateway": g.base, "sim": s.base, "token": staffToken, "wrong": "not-the-token",
		"mms_id": rec.MMSID, "member": member, "out": out,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "dashboard.mjs", string(arg))
	cmd.Dir = "node"
	var stderr syncBuffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatalf("dashboard.mjs did not finish in 4 minutes:\n%s", stderr.String())
	}
	if err != nil {
		t.Fatalf("node dashboard.mjs: %v\n%s%s", err, raw, stderr.String())
	}
	var run dashboardRun
	if err := json.Unmarshal(raw, &run); err != nil {
		t.Fatalf("dashboard.mjs printed %q: %v", raw, err)
	}
	if run.Error != "" {
		t.Fatalf("dashboard.mjs failed: %s\n%s", run.Error, raw)
	}
	st := run.Steps
	t.Logf("screenshots: %s", strings.Join(run.Screenshots, " "))

	if so := st.SignedOut; so.Status != http.StatusUnauthorized || !strings.HasPrefix(so.ContentType, "text/html") || !so.Form || so.Dashboard || so.CORS != nil {
		t.Errorf("a browser not signed in: %+v, want 401 with the HTML sign-in form and no CORS header", so)
	}
	if w := st.Wrong; !w.Form || w.Dashboard || !strings.Contains(w.Message, "not valid") {
		t.Errorf("a wrong token: %+v, want the form again saying the token is not valid", w)
	}
	if si := st.SignedIn; !si.Dashboard || si.Who != "Network office" || si.Cookie == nil || !si.Cookie.HTTPOnly || si.Cookie.SameSite != "Strict" {
		t.Errorf("signed in: %+v (cookie %+v), want the dashboard for Network office with an HttpOnly SameSite=Strict cookie", si, si.Cookie)
	}

	h := st.Healthy
	if h.VerdictClass != "healthy" || !strings.Contains(h.Verdict, "Healthy: all") {
		t.Errorf("the healthy verdict reads %q (%s)", h.Verdict, h.VerdictClass)
	}
	wantNames := []string{"sru:nz", "api:nz"}
	for _, m := range members {
		wantNames = append(wantNames, "api:"+m.code)
	}
	if strings.Join(h.Names, " ") != strings.Join(wantNames, " ") {
		t.Errorf("upstream rows %v, want %v in that order", h.Names, wantNames)
	}
	for i, r := range h.Rows {
		if len(r) != 6 || r[1] != "healthy" {
			t.Errorf("upstream row %d: %q, want six cells and healthy", i, r)
		}
		if i >= 2 && !strings.Contains(r[0], members[i-2].name) {
			t.Errorf("upstream row %d is %q, want the member's name %q", i, r[0], members[i-2].name)
		}
	}
	for id, n := range h.Charts {
		if n < 2 {
			t.Errorf("chart %s has %d samples, want at least 2", id, n)
		}
	}
	if h.Paths < 4 {
		t.Errorf("the charts drew %d lines, want at least one per chart", h.Paths)
	}
	if !slices.Contains(st.Keyboard, "signout") || !slices.Contains(st.Keyboard, "q") {
		t.Errorf("Tab from the top reaches %v, want the sign-out button and the lookup box", st.Keyboard)
	}

	lk := st.Lookup
	if lk.Title != rec.Title {
		t.Errorf("the lookup shows the title %q, want %q", lk.Title, rec.Title)
	}
	var gotHolders, wantHolders []string
	for _, hd := range lk.Holders {
		gotHolders = append(gotHolders, fmt.Sprintf("%s items=%s available=%s", hd.Code, hd.Items, hd.Available))
	}
	for _, hd := range rec.Holdings {
		items, avail := "unknown", "unknown"
		if a, ok := truth[hd.Institution]; ok && a.counted {
			items, avail = strconv.Itoa(a.total), strconv.Itoa(a.available)
		} else if slices.Contains(hd.Types, "electronic") {
			items, avail = "", "online"
		}
		wantHolders = append(wantHolders, fmt.Sprintf("%s items=%s available=%s", hd.Institution, items, avail))
	}
	// Electronic-only holders show "N electronic"; compare the rest exactly.
	for i := range gotHolders {
		if i < len(wantHolders) && strings.Contains(wantHolders[i], "items= ") {
			gotHolders[i] = regexp.MustCompile(`items=(\d+ electronic|online)`).ReplaceAllString(gotHolders[i], "items=")
		}
	}
	if strings.Join(gotHolders, "\n") != strings.Join(wantHolders, "\n") {
		t.Errorf("the lookup's holders and counts:\n%s\nwant what the simulated Alma has:\n%s", strings.Join(gotHolders, "\n"), strings.Join(wantHolders, "\n"))
	}
	if lk.Local == "" || len(lk.Network) != len(rec.Holdings)-1 {
		t.Errorf("for %s: local %q and %d network rows, want the local answer and the %d other holders", member, lk.Local, len(lk.Network), len(rec.Holdings)-1)
	}
	if lk.Buttons > 0 && !regexp.MustCompile(`^Requested \(request \d+\)\.$`).MatchString(lk.Request) {
		t.Errorf("the resource-sharing button answered %q, want the request's ID", lk.Request)
	}
	// Issue 22, the dashboard as a systems librarian: the lookup at the top,
	// electronic holders online and without a request button, the patron
	// field above the buttons, nothing cut off on a phone.
	if h.LookupTop <= 0 || h.LookupTop > 400 {
		t.Errorf("the lookup sits %.0f px down, want it near the top", h.LookupTop)
	}
	types := map[string][]string{}
	for _, hd := range rec.Holdings {
		types[hd.Institution] = hd.Types
	}
	electronicOnly := 0
	for _, r := range lk.Rows {
		ty := types[r.Code]
		if len(ty) > 0 && !slices.Contains(ty, "print") {
			electronicOnly++
			if r.Button || r.Available != "online" {
				t.Errorf("electronic-only holder %s (%v): available %q, request button %v; want online and no button", r.Code, ty, r.Available, r.Button)
			}
		} else if r.Available == "unknown" && !r.Button {
			t.Errorf("print holder %s with unknown counts has no request button", r.Code)
		}
	}
	if electronicOnly == 0 {
		t.Errorf("the member view names no electronic-only holder (rows %+v), though the record has one", lk.Rows)
	}
	if lk.Buttons > 0 && (lk.PatronAbove == nil || !*lk.PatronAbove) {
		t.Error("the patron field is not above the request buttons")
	}

	f := st.Fault
	if f.Alma != "failing" {
		t.Fatalf("the fault never opened the breaker (/readyz alma=%q)", f.Alma)
	}
	if f.After.VerdictClass != "degraded" || !strings.Contains(f.After.Verdict, "Network search (NZ SRU) failing since") {
		t.Errorf("one refresh after the breaker opened, the verdict reads %q (%s)", f.After.Verdict, f.After.VerdictClass)
	}
	if len(f.After.Rows) == 0 || !strings.HasPrefix(f.After.Rows[0][1], "failing") || f.After.Rows[0][2] == "–" {
		t.Errorf("one refresh after the breaker opened, the NZ SRU row reads %q, want failing with its time", f.After.Rows)
	} else if fails, _ := strconv.Atoi(f.After.Rows[0][4]); fails < 1 {
		t.Errorf("the failing NZ SRU row shows %q failures", f.After.Rows[0][4])
	}
	if f.After.Charts["chart-rps"] <= f.Before.Charts["chart-rps"] {
		t.Errorf("the charts did not gain points during the fault: %d then %d", f.Before.Charts["chart-rps"], f.After.Charts["chart-rps"])
	}
	if p := st.Phone; p.ScrollWidth > p.ClientWidth || len(p.Clipped) > 0 || p.Scrolled > 0 {
		t.Errorf("on a phone the page is %d px wide in a %d px viewport; cells cut off in %v; %d tables scroll sideways", p.ScrollWidth, p.ClientWidth, p.Clipped, p.Scrolled)
	}
	if so := st.SignedOutAgain; !so.Form || so.Dashboard || so.StatusAfter != http.StatusUnauthorized || so.Replayed != http.StatusUnauthorized {
		t.Errorf("after sign-out: %+v, want the sign-in form, and 401 for /v1/status from the page and with the old cookie", so)
	}
}
