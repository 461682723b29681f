package almasim_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/almanet/gateway/almasim"
)

func Example() {
	sim := almasim.New(almasim.Config{Records: 200, Seed: 1})
	srv, err := sim.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	q := url.Values{"version": {"1.2"}, "operation": {"searchRetrieve"}, "query": {"alma.title=history"}, "maximumRecords": {"1"}}
	res, err := http.Get(sim.SRUURL(srv.URL()) + "?" + q.Encode())
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	ids, _ := sim.Search("alma.title=history")
	fmt.Println(res.StatusCode, strings.Contains(string(body), "<recordIdentifier>"+ids[0]+"</recordIdentifier>"))

	sim.SetFault(almasim.EndpointSRU, almasim.Fault{Kind: almasim.Fault429, RetryAfter: 2, Times: 1})
	res, _ = http.Get(sim.SRUURL(srv.URL()) + "?" + q.Encode())
	res.Body.Close()
	fmt.Println(res.StatusCode, res.Header.Get("Retry-After"), sim.Count(almasim.EndpointSRU))
	// Output:
	// 200 true
	// 429 2 2
}
