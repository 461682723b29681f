package cache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/almanet/gateway/cache"
)

func ExampleLoader_Get() {
	mem, err := cache.NewMemory(64 << 20)
	if err != nil {
		panic(err)
	}
	defer mem.Close()
	l := cache.NewLoader(cache.LoaderOptions{Memory: mem})
	defer l.Close()

	life := cache.Lifetime{Fresh: 5 * time.Minute, Stale: 24 * time.Hour}
	load := func(ctx context.Context) (cache.Loaded, error) {
		// The gateway calls Alma here, through its breaker.
		return cache.Loaded{Value: []byte(`{"total":1}`), Cache: true, Tags: []string{"mms:9978811100191"}}, nil
	}
	for range 2 {
		r, err := l.Get(context.Background(), `search|alma.title="data"|1|10`, life, load)
		fmt.Println(r.Status, string(r.Value), err)
	}
	l.PurgeTag(context.Background(), "mms:9978811100191")
	_, ok := l.Cached(`search|alma.title="data"|1|10`)
	fmt.Println("cached after purge:", ok)
	// Output:
	// MISS {"total":1} <nil>
	// HIT {"total":1} <nil>
	// cached after purge: false
}
