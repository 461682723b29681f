package staff

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestQuantile(t *testing.T) {
	bounds := []float64{.001, .01, .1, 1}
	tests := []struct {
		name string
		cum  []float64
		q    float64
		want *float64
	}{
		{"empty", []float64{0, 0, 0, 0}, .5, nil},
		{"all in the first bucket", []float64{10, 10, 10, 10}, .5, ptr(0.5)},
		{"middle of the second", []float64{0, 10, 10, 10}, .5, ptr(5.5)},
		{"p99 in the last", []float64{50, 90, 98, 100}, .99, ptr(550.0)},
	}
	for _, tt := range tests {
		got := quantile(bounds, tt.cum, tt.q)
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("%s: (-got +want)\n%s", tt.name, diff)
		}
	}
}

func ptr[T any](v T) *T { return &v }
