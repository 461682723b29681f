package cache

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Memory tuning. The cost of an entry is the bytes it pins: its value, its
// key, its tags and a fixed overhead for the index and bookkeeping
// (ristretto adds the size of its own store item on top).
const (
	entryOverhead   = 64      // memEntry, tag slice header, map buckets
	tagOverhead     = 48      // one tag→key index slot
	maxTagsPerEntry = 64      // more tags than this: the entry is not stored
	avgEntryBytes   = 2048    // sizes the admission counters (10 per expected entry)
	minCounters     = 1024    // counters for tiny caches
	maxCounters     = 1 << 24 // about 50 MB of counters at most
	sweepAge        = time.Minute
	racingSet       = time.Second // Sets of one key closer than this may race in ristretto's buffer
)

// memEntry is what ristretto holds: the value plus what the tag index needs
// to clean itself when ristretto evicts or rejects the entry.
type memEntry struct {
	key   string
	value []byte
	tags  []string
	set   time.Time // real time of the Set, for the index sweep
}

// Memory is the in-process cache: opaque bytes under string keys, bounded in
// bytes by ristretto's cost accounting (cost = bytes). Ristretto applies Sets
// asynchronously and may drop or reject them; both are counted, never errors.
//
// Purge by tag uses an index tag→keys kept beside ristretto. It is cleaned by
// ristretto's OnEvict and OnReject callbacks (queued, and applied by the next
// Set, PurgeTag or Stats) and by Del on purge, and its size is paid for in
// each entry's cost, so it is bounded by MaxCost as well. The index may
// briefly name keys that are gone (a purge then deletes nothing), never miss
// a key that is stored.
type Memory struct {
	c       *ristretto.Cache[string, *memEntry]
	maxCost int64

	mu        sync.Mutex                     // guards index, tags, lastSweep; taken before ristretto's locks
	index     map[string]*memEntry           // key → the entry its tags came from
	tags      map[string]map[string]struct{} // tag → keys
	lastSweep int                            // len(index) after the last sweep

	// Ristretto calls OnEvict and OnReject under its own locks (Clear holds
	// a shard lock), so they must not take mu: they queue the entries here
	// and the next holder of mu applies them.
	goneMu sync.Mutex  // guards gone; never held while calling ristretto or taking mu
	gone   []*memEntry // evicted or rejected, not yet removed from the index

	sets, dropped, rejected, evicted, tooManyTags atomic.Uint64
}

// MemoryStats are the counters of a Memory.
type MemoryStats struct {
	Sets        uint64 // Set calls that handed an entry to ristretto
	Dropped     uint64 // Sets dropped (ristretto's buffer full, too many tags, bad ttl)
	Rejected    uint64 // entries refused by ristretto's admission policy
	Evictions   uint64 // entries evicted for room or expired
	BytesInUse  int64  // ristretto's used cost, which is bytes
	MaxBytes    int64
	IndexedKeys int // keys in the tag index
	Tags        int // distinct tags in the tag index
}

// NewMemory returns a Memory that holds at most maxBytes of entries (as
// ristretto accounts them: value, key, tags and fixed per-entry overheads).
func NewMemory(maxBytes int64) (*Memory, error) {
	if maxBytes <= 0 {
		return nil, errors.New("cache: memory size must be positive")
	}
	counters := maxBytes / avgEntryBytes * 10
	counters = min(max(counters, minCounters), maxCounters)
	m := &Memory{
		maxCost: maxBytes,
		index:   make(map[string]*memEntry),
		tags:    make(map[string]map[string]struct{}),
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, *memEntry]{
		NumCounters: counters,
		MaxCost:     maxBytes,
		BufferItems: 64,
		OnEvict: func(it *ristretto.Item[*memEntry]) {
			m.evicted.Add(1)
			m.queueGone(it.Value)
		},
		OnReject: func(it *ristretto.Item[*memEntry]) {
			m.rejected.Add(1)
			m.queueGone(it.Value)
		},
	})
	if err != nil {
		return nil, err
	}
	m.c = c
	return m, nil
}

// Get returns the bytes stored under key. The slice is shared with the cache
// and with other readers: callers must not modify it.
func (m *Memory) Get(key string) ([]byte, bool) {
	e, ok := m.c.Get(key)
	if !ok || e == nil || e.key != key {
		return nil, false
	}
	return e.value, true
}

// Set stores v under key for ttl, tagged for PurgeTag. It reports whether
// ristretto accepted the write into its buffer; even then its admission policy
// may still refuse the entry later (counted as Rejected). The cache keeps v:
// the caller must not modify it afterwards. A ttl that is not positive, or more
// than 64 tags, stores nothing.
func (m *Memory) Set(key string, v []byte, ttl time.Duration, tags ...string) bool {
	if ttl <= 0 || len(tags) > maxTagsPerEntry {
		m.dropped.Add(1)
		return false
	}
	e := &memEntry{key: key, value: v, tags: cleanTags(tags), set: time.Now()}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.drainGoneLocked()
	if prev, ok := m.index[key]; ok && e.set.Sub(prev.set) < racingSet {
		// Two Sets of one new key close together may both be queued as new
		// in ristretto, which then keeps the first and rejects the second:
		// the index must still find the first one's tags.
		if merged := mergeTags(e.tags, prev.tags); len(merged) <= maxTagsPerEntry {
			e.tags = merged
		}
	}
	cost := int64(len(v) + len(key) + entryOverhead)
	for _, t := range e.tags {
		cost += int64(len(t) + tagOverhead)
	}
	m.indexLocked(e)
	// SetWithTTL never blocks (it drops instead), so holding mu is safe here;
	// it guarantees a concurrent PurgeTag sees either both or neither.
	if !m.c.SetWithTTL(key, e, cost, ttl) {
		m.dropped.Add(1)
		m.unindexLocked(e)
		return false
	}
	m.sets.Add(1)
	m.maybeSweepLocked()
	return true
}

// PurgeTag deletes every entry tagged with tag and reports how many keys the
// index named for it.
func (m *Memory) PurgeTag(tag string) int {
	m.mu.Lock()
	m.drainGoneLocked()
	keys := make([]string, 0, len(m.tags[tag]))
	for k := range m.tags[tag] {
		keys = append(keys, k)
		if e, ok := m.index[k]; ok {
			m.unindexLocked(e)
		}
	}
	delete(m.tags, tag)
	m.mu.Unlock()
	// Del may block on ristretto's buffer: not under mu, so that Sets and
	// Gets of other keys go on meanwhile.
	for _, k := range keys {
		m.c.Del(k)
	}
	return len(keys)
}

// Del deletes one key.
func (m *Memory) Del(key string) {
	m.mu.Lock()
	if e, ok := m.index[key]; ok {
		m.unindexLocked(e)
	}
	m.mu.Unlock()
	m.c.Del(key)
}

// Clear deletes every entry.
func (m *Memory) Clear() {
	m.c.Clear()
	m.mu.Lock()
	clear(m.index)
	clear(m.tags)
	m.lastSweep = 0
	m.goneMu.Lock()
	m.gone = nil
	m.goneMu.Unlock()
	m.mu.Unlock()
}

// Wait blocks until every Set so far has been applied (or dropped): after it,
// Get sees them. Tests need it; the request path does not.
func (m *Memory) Wait() { m.c.Wait() }

// Close stops ristretto's goroutines. The Memory must not be used afterwards.
func (m *Memory) Close() { m.c.Close() }

// Stats returns the counters.
func (m *Memory) Stats() MemoryStats {
	m.mu.Lock()
	m.drainGoneLocked()
	keys, tags := len(m.index), len(m.tags)
	m.mu.Unlock()
	return MemoryStats{
		Sets:        m.sets.Load(),
		Dropped:     m.dropped.Load(),
		Rejected:    m.rejected.Load(),
		Evictions:   m.evicted.Load(),
		BytesInUse:  m.c.MaxCost() - m.c.RemainingCost(),
		MaxBytes:    m.maxCost,
		IndexedKeys: keys,
		Tags:        tags,
	}
}

// queueGone notes that ristretto let e go (see gone).
func (m *Memory) queueGone(e *memEntry) {
	if e == nil {
		return
	}
	m.goneMu.Lock()
	m.gone = append(m.gone, e)
	m.goneMu.Unlock()
}

// drainGoneLocked drops the entries ristretto let go from the tag index,
// unless a newer Set for the same key has replaced them there.
func (m *Memory) drainGoneLocked() {
	m.goneMu.Lock()
	gone := m.gone
	m.gone = nil
	m.goneMu.Unlock()
	for _, e := range gone {
		if m.index[e.key] == e {
			m.unindexLocked(e)
		}
	}
}

func (m *Memory) indexLocked(e *memEntry) {
	if prev, ok := m.index[e.key]; ok {
		m.unindexLocked(prev)
	}
	if len(e.tags) == 0 {
		return
	}
	m.index[e.key] = e
	for _, t := range e.tags {
		ks := m.tags[t]
		if ks == nil {
			ks = make(map[string]struct{})
			m.tags[t] = ks
		}
		ks[e.key] = struct{}{}
	}
}

func (m *Memory) unindexLocked(e *memEntry) {
	if m.index[e.key] != e {
		return
	}
	delete(m.index, e.key)
	for _, t := range e.tags {
		if ks := m.tags[t]; ks != nil {
			delete(ks, e.key)
			if len(ks) == 0 {
				delete(m.tags, t)
			}
		}
	}
}

// maybeSweepLocked removes index entries whose key ristretto no longer holds
// and that are old enough not to be a Set still in ristretto's buffer. Such
// leftovers only come from racing Sets of one key; the sweep runs when the
// index has doubled since the last one, so it costs O(1) per Set amortized.
func (m *Memory) maybeSweepLocked() {
	if len(m.index) < max(2*m.lastSweep, 1024) {
		return
	}
	cutoff := time.Now().Add(-sweepAge)
	for k, e := range m.index {
		if e.set.After(cutoff) {
			continue
		}
		// GetTTL reads the store without touching admission counters.
		if _, ok := m.c.GetTTL(k); !ok {
			m.unindexLocked(e)
		}
	}
	m.lastSweep = len(m.index)
}

// cleanTags drops empty and repeated tags.
func cleanTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if t != "" && !contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func mergeTags(a, b []string) []string {
	out := a
	for _, t := range b {
		if !contains(out, t) {
			if len(out) == len(a) {
				out = append([]string(nil), a...)
			}
			out = append(out, t)
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
