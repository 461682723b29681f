package retryafter

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 7 ", 7 * time.Second},
		{"0", 0},
		{"-1", 0},
		{"1.5", 0},
		{"soon", 0},
		{"999999999999999999999", 0}, // not an int64: not a value
		{"9999999999", Most},
		{"Thu, 26 Nov 2026 10:00:30 GMT", 30 * time.Second},
		{"Thu, 26 Nov 2026 09:00:00 GMT", 0},
		{"Sat, 26 Dec 2026 10:00:00 GMT", Most},
	} {
		if got := Parse(c.in, now); got != c.want {
			t.Errorf("Parse(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "5", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := Parse(s, now); d < 0 || d > Most {
			t.Fatalf("Parse(%q) = %v, want within [0, %v]", s, d, Most)
		}
	})
}
