package xmlchar

import "testing"

func TestIs(t *testing.T) {
	for _, c := range []struct {
		r    rune
		want bool
	}{
		{'\t', true}, {'\n', true}, {'\r', true}, {0x0, false}, {0x1, false}, {0xB, false}, {0x1F, false},
		{' ', true}, {'A', true}, {0xD7FF, true}, {0xD800, false}, {0xDFFF, false}, {0xE000, true},
		{0xFFFD, true}, {0xFFFE, false}, {0xFFFF, false}, {0x10000, true}, {0x10FFFF, true}, {0x110000, false},
	} {
		if got := Is(c.r); got != c.want {
			t.Errorf("Is(%U) = %v, want %v", c.r, got, c.want)
		}
	}
}
