package z3950

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/almanet/gateway/sru"
)

// TestRPNToCQL maps Bib-1 attribute combinations to the canonical CQL of
// the SRU server (through sru.ParseQuery, as a session does), or to their
// precise Bib-1 diagnostic.
func TestRPNToCQL(t *testing.T) {
	and := func(l, r *RPNNode) *RPNNode { return &RPNNode{Op: "and", Left: l, Right: r} }
	tests := []struct {
		name     string
		rpn      *RPNNode
		set      string
		wantCQL  string
		wantDiag int
		wantInfo string
	}{
		{"title", rpnTerm("history", 1, 4), "", `alma.title="history"`, 0, ""},
		{"and of title and author", and(rpnTerm("history", 1, 4), rpnTerm("author", 1, 1003)), "", `alma.title="history" and alma.creator="author"`, 0, ""},
		{"personal name", rpnTerm("Muster", 1, 1), "", `alma.creator="Muster"`, 0, ""},
		{"author-name personal", rpnTerm("Muster", 1, 1004), "", `alma.creator="Muster"`, 0, ""},
		// Standard numbers become the forms records catalogue them in (issue 22).
		{"isbn", rpnTerm("9780000000002", 1, 7), "", `alma.isbn="9780000000002" or alma.isbn="0000000000"`, 0, ""},
		{"issn", rpnTerm("1234-5678", 1, 8), "", `alma.issn="1234-5678" or alma.issn="12345678"`, 0, ""},
		{"any", rpnTerm("data", 1, 1016), "", `alma.all_for_ui="data"`, 0, ""},
		{"server choice", rpnTerm("data", 1, 1017), "", `alma.all_for_ui="data"`, 0, ""},
		{"no use attribute", rpnTerm("data"), "", `alma.all_for_ui="data"`, 0, ""},
		{"subject", rpnTerm("art", 1, 21), "", `alma.subjects="art"`, 0, ""},
		{"year greater or equal", rpnTerm("2000", 1, 31, 2, 4), "", `alma.main_pub_date>="2000"`, 0, ""},
		{"year less", rpnTerm("2000", 1, 31, 2, 1), "", `alma.main_pub_date<"2000"`, 0, ""},
		{"year less or equal", rpnTerm("2000", 1, 31, 2, 2), "", `alma.main_pub_date<="2000"`, 0, ""},
		{"year greater", rpnTerm("2000", 1, 31, 2, 5), "", `alma.main_pub_date>"2000"`, 0, ""},
		{"year not equal", rpnTerm("2000", 1, 31, 2, 6), "", `alma.main_pub_date<>"2000"`, 0, ""},
		{"mms id", rpnTerm("991070031889705501", 1, 12), "", `alma.mms_id="991070031889705501"`, 0, ""},
		{"oclc", rpnTerm("12345", 1, 1211), "", `alma.oclc_control_number_035_a="12345"`, 0, ""},
		{"lccn", rpnTerm("n78890351", 1, 9), "", `alma.lccn="n78890351"`, 0, ""},
		{"publisher", rpnTerm("Beck", 1, 1018), "", `alma.publisher="Beck"`, 0, ""},
		{"series", rpnTerm("Werke", 1, 5), "", `alma.series="Werke"`, 0, ""},
		{"phrase", rpnTerm("history of science", 1, 4, 4, 1), "", `alma.title="history of science"`, 0, ""},
		{"word", rpnTerm("history", 1, 4, 4, 2), "", `alma.title="history"`, 0, ""},
		{"word list", rpnTerm("history science", 1, 4, 4, 6), "", `alma.title all "history science"`, 0, ""},
		{"right truncation", rpnTerm("hist", 1, 4, 5, 1), "", `alma.title="hist*"`, 0, ""},
		{"no truncation escapes masking", rpnTerm("what?*", 1, 4, 5, 100), "", `alma.title="what\?\*"`, 0, ""},
		{"quotes are escaped", rpnTerm(`say "hi"`, 1, 4), "", `alma.title="say \"hi\""`, 0, ""},
		{"every supported attribute at once", rpnTerm("hist of sci", 6, 1, 5, 1, 4, 1, 3, 3, 2, 3, 1, 4), "", `alma.title="hist of sci*"`, 0, ""},
		{"or", &RPNNode{Op: "or", Left: rpnTerm("a", 1, 4), Right: rpnTerm("b", 1, 4)}, "", `alma.title="a" or alma.title="b"`, 0, ""},
		{"and-not", &RPNNode{Op: "and-not", Left: rpnTerm("a", 1, 4), Right: rpnTerm("b", 1, 4)}, "", `alma.title="a" not alma.title="b"`, 0, ""},
		{"nested keeps precedence", and(&RPNNode{Op: "or", Left: rpnTerm("a", 1, 4), Right: rpnTerm("b", 1, 4)}, rpnTerm("c", 1, 4)), "", `alma.title="a" or alma.title="b" and alma.title="c"`, 0, ""},
		{"right nesting is bracketed", and(rpnTerm("c", 1, 4), &RPNNode{Op: "or", Left: rpnTerm("a", 1, 4), Right: rpnTerm("b", 1, 4)}), "", `alma.title="c" and (alma.title="a" or alma.title="b")`, 0, ""},
		{"result set operand", and(&RPNNode{ResultSetRef: true, ResultSet: "s1"}, rpnTerm("c", 1, 4)), "", `alma.title="earlier" and alma.title="c"`, 0, ""},

		{"unsupported use", rpnTerm("x", 1, 1035), "", "", 114, "1035"},
		{"unsupported relation phonetic", rpnTerm("x", 1, 4, 2, 100), "", "", 117, "100"},
		{"relation the index lacks", rpnTerm("x", 1, 4, 2, 1), "", "", 117, "<"},
		{"unsupported structure key", rpnTerm("x", 1, 4, 4, 3), "", "", 118, "3"},
		{"unsupported structure year", rpnTerm("2000", 1, 31, 4, 4), "", "", 118, "4"},
		{"left truncation", rpnTerm("x", 1, 4, 5, 2), "", "", 120, "2"},
		{"regexp truncation", rpnTerm("x", 1, 4, 5, 102), "", "", 120, "102"},
		{"position first in field", rpnTerm("x", 1, 4, 3, 1), "", "", 119, "1"},
		{"complete field", rpnTerm("x", 1, 4, 6, 3), "", "", 122, "3"},
		{"attribute type 7", rpnTerm("x", 1, 4, 7, 1), "", "", 113, "7"},
		{"attribute type 0", rpnTerm("x", 0, 1), "", "", 113, "0"},
		{"two use attributes", rpnTerm("x", 1, 4, 1, 21), "", "", 123, "attribute type 1 given twice"},
		{"truncation with relation", rpnTerm("2000", 1, 31, 2, 4, 5, 1), "", "", 123, "right truncation with relation >="},
		{"word list with relation", rpnTerm("2000 2001", 1, 31, 2, 4, 4, 6), "", "", 123, "word list with relation >="},
		{"empty term", rpnTerm("  ", 1, 4), "", "", 108, "empty term"},
		{"prox", &RPNNode{Op: "prox", Left: rpnTerm("a"), Right: rpnTerm("b")}, "", "", 110, "prox"},
		{"other attribute set", rpnTerm("x", 1, 4), "1.2.840.10003.3.2", "", 121, "1.2.840.10003.3.2"},
		{"unknown result set", &RPNNode{ResultSetRef: true, ResultSet: "nope"}, "", "", 128, "nope"},
		{"result set with attributes", &RPNNode{ResultAttr: true}, "", "", 245, ""},
		{"complex attribute value", &RPNNode{Term: &Term{Value: "x", Kind: "general", Attributes: []Attribute{{Type: 1, Complex: true}}}}, "", "", 246, "attribute type 1"},
		{"attribute from another set", &RPNNode{Term: &Term{Value: "x", Kind: "general", Attributes: []Attribute{{Set: "1.2.840.10003.3.5", Type: 1, Value: 4}}}}, "", "", 121, "1.2.840.10003.3.5"},
		{"external term", &RPNNode{Term: &Term{Value: "", Kind: "[219]"}}, "", "", 229, "[219]"},
	}
	lookup := func(name string) (string, *Diagnostic) {
		if name == "s1" {
			return "alma.title = earlier", nil
		}
		return "", diag(128, name)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := tt.set
			if set == "" {
				set = OIDBib1Attributes
			}
			cql, d := rpnToCQL(Query{Type: 1, AttributeSet: set, RPN: tt.rpn}, lookup)
			if d == nil {
				q, sd := sru.ParseQuery(cql, sru.DefaultIndexSet())
				if sd != nil {
					d = fromSRU(sd)
				} else {
					cql = q.AlmaQuery
				}
			}
			got := [3]any{cql, 0, ""}
			if d != nil {
				got = [3]any{"", d.Condition, d.AddInfo}
			}
			want := [3]any{tt.wantCQL, tt.wantDiag, tt.wantInfo}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

// TestUseIndexesExist holds the attribute table to the gateway's built-in
// index list: every index a use attribute maps to is one Alma explains.
func TestUseIndexesExist(t *testing.T) {
	idx := sru.DefaultIndexSet()
	for use, name := range useIndexes {
		if _, ok := idx.Lookup(name); !ok {
			t.Errorf("use %d maps to %s, which is not in sru.DefaultIndexSet()", use, name)
		}
	}
}
