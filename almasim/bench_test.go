package almasim

import (
	"net/http/httptest"
	"strconv"
	"testing"
)

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		New(Config{})
	}
}

// BenchmarkSearchRetrieve is one 10-record SRU page through the handler,
// the work behind every simulated Alma call.
func BenchmarkSearchRetrieve(b *testing.B) {
	s := shared(b, 5000)
	h := s.Handler()
	targets := make([]string, 20)
	for i := range targets {
		targets[i] = "/view/sru/" + s.NetworkCode() + "?" + sruParams("alma.title=history", "startRecord", strconv.Itoa(1+10*i))
	}
	i := 0
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", targets[i%len(targets)], nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
		i++
	}
}

// BenchmarkSearchUncached evaluates a fresh query each time (no result cache).
func BenchmarkSearchUncached(b *testing.B) {
	s := shared(b, 5000)
	i := 0
	for b.Loop() {
		s.nz.evalQuery(`alma.title="history of" or alma.all_for_ui=scien* and alma.main_pub_date>` + strconv.Itoa(1900+i%100))
		i++
	}
}
