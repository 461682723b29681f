package gateway

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
)

// TestBudgetWaitSameWithAndWithoutRedis: uncached searches beyond the
// call budget get the same answer whether the budget is in-process or
// shared through Redis: 503 with Retry-After at once, after at most the
// bounded wait (upstream.budget_wait), never a queue.
func TestBudgetWaitSameWithAndWithoutRedis(t *testing.T) {
	for _, mode := range []string{"alone", "redis"} {
		t.Run(mode, func(t *testing.T) {
			env := newEnv(t, func(c *Config) {
				// A slot every 2s, well inside half the call's deadline,
				// which is as long as the budget used to queue a call.
				c.Upstream.RatePerSecond = 0.5
				c.Upstream.RateBurst = 1
				c.Upstream.Timeout = Duration(10 * time.Second)
				if mode == "redis" {
					c.RedisURL = "redis://" + miniredis.RunT(t).Addr()
				}
			})
			var got [][]string
			for _, q := range []string{"history", "science", "music"} {
				code, h, _ := env.get("/v1/search?q=" + q)
				got = append(got, []string{itoa(code), h.Get("Retry-After")})
			}
			want := [][]string{{"200", ""}, {"503", "2"}, {"503", "2"}}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("status, Retry-After (-got +want):\n%s", diff)
			}
		})
	}
}
