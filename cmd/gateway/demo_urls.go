package main

import (
	"fmt"
	"io"
	"net/url"

	"github.com/almanet/gateway/almasim"
)

// demoRecords picks real identifiers from the simulated network for the
// demo's examples: a network record that several members hold, one of
// those members with its IZ record, and an ISBN.
func demoRecords(sim *almasim.Simulator) (nzID, member, izID, isbn string) {
	for _, r := range sim.Records() {
		if r.Institution != sim.NetworkCode() {
			continue
		}
		if nzID == "" && len(r.Holdings) >= 3 && r.Holdings[0].Has6 && len(r.Avail) > 0 {
			if _, ok := sim.Record(r.Holdings[0].IZMMSID); ok {
				nzID, member, izID = r.MMSID, r.Holdings[0].Institution, r.Holdings[0].IZMMSID
			}
		}
		if isbn == "" && len(r.ISBNs) > 0 && len(r.ISBNs[0]) == 13 && len(r.Holdings) > 0 {
			isbn = r.ISBNs[0]
		}
		if nzID != "" && isbn != "" {
			break
		}
	}
	return nzID, member, izID, isbn
}

// printDemoURLs prints, after "listening", one working URL for every
// endpoint, with identifiers from the simulated network. Other parts add
// their lines here (the Z39.50 server, federation).
func printDemoURLs(w io.Writer, base string, sim *almasim.Simulator, simURL string) {
	nzID, member, izID, isbn := demoRecords(sim)
	daiaIDs := nzID
	if isbn != "" {
		daiaIDs += "|" + isbn
	}
	fmt.Fprintf(w, "demo: simulated Alma network at %s\n", simURL)
	fmt.Fprintf(w, "open the search page: %s/\n", base)
	fmt.Fprintln(w, "try:")
	lines := []string{
		"curl '" + base + "/v1/search?q=history'",
		"curl '" + base + "/v1/records/" + nzID + "'",
		"curl '" + base + "/v1/availability/" + izID + "?institution=" + url.QueryEscape(member) + "'",
		"curl '" + base + "/v1/daia?format=json&id=" + url.QueryEscape(daiaIDs) + "'",
		"curl '" + base + "/opensearch.xml'",
		"curl '" + base + "/sru?version=1.2&operation=explain'",
		"curl '" + base + "/sru?version=1.2&operation=searchRetrieve&query=alma.all_for_ui=history'",
		"curl '" + base + "/sru?version=2.0&query=alma.title=science&maximumRecords=3&recordSchema=dc'",
		"curl '" + base + "/openapi.json'",
		"curl '" + base + "/metrics'",
		"curl '" + base + "/v1/status'",
		"open " + base + "/dashboard",
	}
	for _, l := range lines {
		fmt.Fprintln(w, "  "+l)
	}
}
