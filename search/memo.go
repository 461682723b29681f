package search

import (
	"sync"

	"github.com/almanet/gateway/sru"
)

// parseMemo remembers what a raw query string parsed to, so that a repeated
// URL (the usual shape of a cache hit) skips building url.Values, parsing
// and canonicalizing the CQL and building the cache key. Only successful
// parses are kept. It is bounded: when full, or when the index set the
// parses were validated against changes, it starts over.
type ParseMemo[T any] struct {
	mu  sync.RWMutex // guards idx and m
	idx *sru.IndexSet
	m   map[string]T
	max int
}

func NewParseMemo[T any](max int) *ParseMemo[T] {
	return &ParseMemo[T]{m: make(map[string]T), max: max}
}

// get looks raw up; it does not allocate.
func (p *ParseMemo[T]) Get(idx *sru.IndexSet, raw []byte) (T, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.idx != idx {
		var zero T
		return zero, false
	}
	v, ok := p.m[string(raw)]
	return v, ok
}

func (p *ParseMemo[T]) Put(idx *sru.IndexSet, raw []byte, v T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idx != idx || len(p.m) >= p.max {
		p.m = make(map[string]T)
		p.idx = idx
	}
	p.m[string(raw)] = v
}
