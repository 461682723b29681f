package cache

import (
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestMain quiets go-redis's process-wide logger, which prints every failed
// dial of the Redis-down tests, the way cmd/gateway should (see RedisLogger).
func TestMain(m *testing.M) {
	redis.SetLogger(RedisLogger(discardLogger(), time.Hour))
	os.Exit(m.Run())
}
