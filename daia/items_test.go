package daia

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/almanet/gateway/transform"
)

func ptr[T any](v T) *T { return &v }

func TestItems(t *testing.T) {
	rec := &transform.Record{Holdings: []transform.Holding{
		{Institution: "01A", Types: []string{"print"}},
		{Institution: "02B", Types: []string{"electronic"}},
		{Institution: "03C", Types: []string{"digital"}},
		{Institution: "04D", Types: []string{"print"}}, // no inventory listed
	}}
	avail := []transform.Availability{
		{Kind: "physical", Institution: ptr("01A"), LibraryName: ptr("Main"), Location: ptr("GEN"), CallNumber: ptr("QA1"), Total: ptr(2), Available: ptr(0), Status: ptr("unavailable")},
		{Kind: "physical", Institution: ptr("01A"), Library: ptr("LAW"), Status: ptr("check_holdings")},
		{Kind: "electronic", Institution: ptr("02B"), Collection: ptr("Coll"), URL: ptr("https://e.example/x"), Status: ptr("Available")},
		{Kind: "digital", Institution: ptr("03C"), Label: ptr("Scan"), URL: ptr("javascript:alert(1)")},
		{Kind: "something new", Institution: ptr("03C")},
	}
	names := func(code string) string { return map[string]string{"01A": "Alpha"}[code] }
	got := Items("d", rec, avail, Options{Asking: "02B", Name: names})
	want := []Item{
		{ID: "d#item-1", Label: "QA1", About: "0 of 2 copies available", Department: &Entity{Content: "Alpha (01A)"}, Storage: &Entity{Content: "Main, GEN"},
			Unavailable: []Unavailable{{Service: Interloan}}},
		{ID: "d#item-2", Department: &Entity{Content: "Alpha (01A)"}, Storage: &Entity{Content: "LAW"}},
		{ID: "d#item-3", Href: "https://e.example/x", About: "Coll", Department: &Entity{Content: "02B"},
			Available: []Available{{Service: Remote, Href: "https://e.example/x", Delay: "PT0S"}}},
		{ID: "d#item-4", About: "Scan", Department: &Entity{Content: "03C"}, Available: []Available{{Service: OpenAccess}}},
		{ID: "d#item-5", About: "held as print", Department: &Entity{Content: "04D"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Items (-want +got):\n%s", d)
	}

	// Another member's portfolio is licensed to its own users.
	got = Items("d", rec, avail[2:3], Options{Asking: "01A"})
	if len(got[0].Available) != 0 || len(got[0].Unavailable) != 1 || got[0].Unavailable[0].Service != Remote || len(got[0].Unavailable[0].Limitation) != 1 {
		t.Errorf("another member's portfolio: %+v", got[0])
	}
	// Without live availability every holding member is one item without services.
	got = Items("d", rec, nil, Options{})
	if len(got) != 4 {
		t.Fatalf("%d items without availability, want 4", len(got))
	}
	for _, it := range got {
		if len(it.Available)+len(it.Unavailable) != 0 {
			t.Errorf("services without availability: %+v", it)
		}
	}
}
