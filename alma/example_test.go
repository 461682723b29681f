package alma_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/almanet/gateway/alma"
)

func ExampleClient_GetBib() {
	// A stand-in for Alma that knows one record.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "apikey secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Exl-Api-Remaining", "99999")
		if r.URL.Path != "/almaws/v1/bibs/991" {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `<web_service_result xmlns="http://com/exlibris/urm/general/xmlbeans"><errorsExist>true</errorsExist><errorList><error><errorCode>402203</errorCode><errorMessage>Input parameters mmsId is not valid.</errorMessage></error></errorList></web_service_result>`)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<bib><mms_id>991</mms_id><record><leader>00000nam a2200000 a 4500</leader><controlfield tag="001">991</controlfield></record></bib>`)
	}))
	defer srv.Close()

	c := &alma.Client{BaseURL: srv.URL}
	bib, err := c.GetBib(context.Background(), "991", "secret")
	fmt.Println(bib.MMSID, bib.Remaining, string(bib.Record), err)

	_, err = c.GetBib(context.Background(), "992", "secret")
	var ae *alma.Error
	if errors.As(err, &ae) {
		fmt.Println(ae.Status, ae.Code, ae.NotFound(), ae.RateLimited())
	}
	// Output:
	// 991 99999 <record><leader>00000nam a2200000 a 4500</leader><controlfield tag="001">991</controlfield></record> <nil>
	// 400 402203 true false
}
