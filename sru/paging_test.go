package sru

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAlmaPages(t *testing.T) {
	q := `alma.title="x"`
	tests := []struct {
		name       string
		start, max int
		want       []SearchParams
	}{
		{"count only", 1, 0, []SearchParams{{Query: q, Start: 1, Max: 0, Schema: "marcxml"}}},
		{"one page", 1, 10, []SearchParams{{Query: q, Start: 1, Max: 10, Schema: "marcxml"}}},
		{"exactly 50", 51, 50, []SearchParams{{Query: q, Start: 51, Max: 50, Schema: "marcxml"}}},
		{"100 is two calls", 1, 100, []SearchParams{{Query: q, Start: 1, Max: 50, Schema: "marcxml"}, {Query: q, Start: 51, Max: 50, Schema: "marcxml"}}},
		{"uneven", 7, 73, []SearchParams{{Query: q, Start: 7, Max: 50, Schema: "marcxml"}, {Query: q, Start: 57, Max: 23, Schema: "marcxml"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Request{AlmaQuery: q, StartRecord: tt.start, MaximumRecords: tt.max}
			if diff := cmp.Diff(tt.want, r.AlmaPages()); diff != "" {
				t.Errorf("AlmaPages() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNextAndCheckPosition(t *testing.T) {
	tests := []struct {
		name                   string
		start, total, returned int
		wantNext               int
		wantDiag               int
	}{
		{"first page of many", 1, 20, 10, 11, 0},
		{"last page", 11, 20, 10, 0, 0},
		{"short last page", 15, 20, 6, 0, 0},
		{"count only", 1, 20, 0, 0, 0},
		{"zero hits", 1, 0, 0, 0, 0},
		{"past the end", 21, 20, 0, 0, 61},
		{"past the end of nothing", 5, 0, 0, 0, 61},
		{"capped at 10000", 9991, 50000, 10, 0, 0},
		{"just below the cap", 9981, 50000, 10, 9991, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Request{StartRecord: tt.start}
			if got := r.NextPosition(tt.total, tt.returned, 0); got != tt.wantNext {
				t.Errorf("NextPosition() = %d, want %d", got, tt.wantNext)
			}
			d := r.CheckPosition(tt.total)
			if got := map[bool]int{true: 0, false: 61}[d == nil]; got != tt.wantDiag {
				t.Errorf("CheckPosition() = %v, want diagnostic %d", d, tt.wantDiag)
			}
		})
	}
}
