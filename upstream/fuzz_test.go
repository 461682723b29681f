package upstream

import (
	"testing"
	"time"
)

func FuzzBackoffFor(f *testing.F) {
	for _, v := range []string{"", "5", "-1", "999999999999", "Wed, 21 Oct 2015 07:28:00 GMT", "1.5", " 7"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := backoffFor(v)
		if d < time.Second || d > 5*time.Minute {
			t.Fatalf("backoffFor(%q) = %v, want within [1s, 5m]", v, d)
		}
	})
}
