package main

import (
	"fmt"
	"io"

	"github.com/almanet/gateway/almasim"
)

// demoGroup is the group -demo configures for a federated search: the
// network, every member's IZ SRU and the simulated external catalogue.
const demoGroup = "all"

// demoExternal is the external SRU 2.0 target's name in the demo.
const demoExternal = "union"

// writeDemoFederation appends SPEC 9's part of the demo configuration: the
// simulator's external SRU 2.0 catalogue as a target with an index map into
// its dc.* and bath.* names, and a group with every target. The members'
// IZ SRU come from their sru_url. default_targets stays [nz], so that
// searches without targets= behave as without federation.
func writeDemoFederation(w io.Writer, s *almasim.Simulator, base string) {
	fmt.Fprintln(w, "# an SRU server that is not Alma: the simulated union catalogue (SRU 2.0, dc and bath indexes)")
	fmt.Fprintln(w, "targets:")
	fmt.Fprintf(w, "  - name: %s\n    url: %q\n    version: \"2.0\"\n    record_schema: info:srw/schema/1/marcxml-v1.1\n    page_size: 25\n    weight: 0.8\n", demoExternal, s.ExternalSRUURL(base))
	fmt.Fprintln(w, "    index_map:")
	for _, m := range [][2]string{
		{"alma.all_for_ui", "cql.serverChoice"}, {"alma.title", "dc.title"}, {"alma.creator", "dc.creator"},
		{"alma.subjects", "dc.subject"}, {"alma.publisher", "dc.publisher"}, {"alma.main_pub_date", "dc.date"},
		{"alma.isbn", "bath.isbn"}, {"alma.issn", "bath.issn"}, {"alma.other_system_number", "bath.standardIdentifier"},
		{"alma.mms_id", "dc.identifier"}, // so that /v1/records/union:{id} opens its records
	} {
		fmt.Fprintf(w, "      %s: %s\n", m[0], m[1])
	}
	fmt.Fprintln(w, "groups:")
	fmt.Fprintf(w, "  %s: [nz", demoGroup)
	for _, m := range s.Members() {
		fmt.Fprintf(w, ", %s", m.Code)
	}
	fmt.Fprintf(w, ", %s]\n", demoExternal)
	fmt.Fprintln(w, "federation:\n  timeout: 3s")
}

// printDemoFederation prints the federated searches to try.
func printDemoFederation(w io.Writer, base string) {
	fmt.Fprintf(w, "federated (the network, every member's IZ SRU and an external SRU 2.0 catalogue, merged):\n")
	fmt.Fprintf(w, "  curl '%s/v1/search?q=history&targets=%s&facets=institution,year,language,type&limit=5'\n", base, demoGroup)
	fmt.Fprintf(w, "  curl '%s/sru/%s?version=2.0&query=alma.title=science&maximumRecords=3'\n", base, demoGroup)
	// "set sru get" comes before "connect": set after, zoomsh has already
	// chosen Z39.50 for the connection and reads the HTTP answer as BER.
	fmt.Fprintf(w, "  zoomsh \"set sru get\" \"connect %s/view/sru/%s\" \"search cql:alma.title=science\" \"show 0 2\" quit\n", base, demoGroup)
}
