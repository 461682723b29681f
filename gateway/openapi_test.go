package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDoc)
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not valid OpenAPI 3: %v", err)
	}
	return doc
}

// TestOpenAPIDescribesRealAnswers checks the document and then real answers
// of the gateway against the schemas it declares.
func TestOpenAPIDescribesRealAnswers(t *testing.T) {
	doc := loadOpenAPI(t)
	env := newEnv(t, nil)
	var held string
	for _, r := range env.sim.Records() {
		if len(r.Holdings) > 1 && len(r.Avail) > 0 {
			held = r.MMSID
			break
		}
	}
	nz, _ := env.sim.Record(held)
	iz := nz.Holdings[0]
	for _, c := range []struct {
		path, schema string
		status       int
	}{
		{"/v1/search?" + url.Values{"q": {"history"}}.Encode(), "SearchResult", 200},
		{"/v1/search?q=history&start=20000", "ErrorBody", 400},
		{"/v1/records/" + held, "RecordWithAvailability", 200},
		{"/v1/records/1234567890", "ErrorBody", 404},
		{"/v1/availability/" + iz.IZMMSID + "?institution=" + iz.Institution, "LocalThenNetwork", 200},
		{"/v1/availability/" + iz.IZMMSID + "?institution=NOBODY", "ErrorBody", 400},
	} {
		t.Run(c.path, func(t *testing.T) {
			code, _, body := env.get(c.path)
			if code != c.status {
				t.Fatalf("status %d, want %d: %s", code, c.status, body)
			}
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			s := doc.Components.Schemas[c.schema]
			if s == nil {
				t.Fatalf("no schema %s", c.schema)
			}
			if err := s.Value.VisitJSON(v); err != nil {
				t.Errorf("answer does not match schema %s: %v\n%s", c.schema, err, body)
			}
		})
	}
	if code, _, _ := env.get("/openapi.json"); code != http.StatusOK {
		t.Errorf("/openapi.json: status %d", code)
	}
}
