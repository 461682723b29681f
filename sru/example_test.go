package sru_test

import (
	"fmt"
	"net/url"

	"github.com/almanet/gateway/sru"
)

func ExampleParseRequest() {
	params := url.Values{
		"version":        {"1.2"},
		"operation":      {"searchRetrieve"},
		"query":          {`TITLE = "Data and society" and history sortby alma.main_pub_date/sort.descending`},
		"maximumRecords": {"5"},
	}
	req, diag := sru.ParseRequest(params, sru.DefaultIndexSet(), sru.Limits{})
	if diag != nil {
		fmt.Println(diag.URI, diag.Details)
		return
	}
	fmt.Println(req.Canonical)
	fmt.Println(req.AlmaQuery)
	fmt.Println(req.StartRecord, req.MaximumRecords, req.RecordSchema)
	// Output:
	// alma.title="Data and society" and alma.all_for_ui="history"
	// alma.title="Data and society" and alma.all_for_ui="history" sortBy alma.main_pub_date/sort.descending
	// 1 5 info:srw/schema/1/marcxml-v1.1
}

func ExampleParseRequest_diagnostic() {
	_, diag := sru.ParseRequest(url.Values{"query": {"marc.creator = smith"}}, sru.DefaultIndexSet(), sru.Limits{})
	fmt.Println(diag.Number(), diag.URI, diag.Message, diag.Details)
	// Output:
	// 16 info:srw/diagnostic/1/16 Unsupported index marc.creator
}

func ExampleParsePage() {
	body := []byte(`<searchRetrieveResponse xmlns="http://www.loc.gov/zing/srw/" xmlns:diag="http://www.loc.gov/zing/srw/diagnostic/">
  <version>1.2</version>
  <diagnostics><diag:diagnostic><diag:uri>200832</diag:uri><diag:details/><diag:message>Mandatory parameter version was not provided</diag:message></diag:diagnostic></diagnostics>
</searchRetrieveResponse>`)
	page, err := sru.ParsePage(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	d := page.Diagnostics[0]
	fmt.Printf("%s | %s | %s\n", d.URI, d.Details, d.Message)
	// Output:
	// info:srw/diagnostic/1/1 | 200832 | Mandatory parameter version was not provided
}
