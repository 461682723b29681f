package cache

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func newTestMemory(t testing.TB, maxBytes int64) *Memory {
	t.Helper()
	m, err := NewMemory(maxBytes)
	if err != nil {
		t.Fatalf("NewMemory(%d): %v", maxBytes, err)
	}
	t.Cleanup(m.Close)
	return m
}

func TestNewMemoryRejectsBadSize(t *testing.T) {
	for _, n := range []int64{0, -1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if m, err := NewMemory(n); err == nil {
				m.Close()
				t.Errorf("NewMemory(%d) = nil error, want an error", n)
			}
		})
	}
}

func TestMemorySetGet(t *testing.T) {
	m := newTestMemory(t, 1<<20)
	tests := []struct {
		name   string
		key    string
		value  []byte
		ttl    time.Duration
		tags   []string
		stored bool
	}{
		{"plain", "k1", []byte("one"), time.Minute, nil, true},
		{"tagged", "k2", []byte("two"), time.Minute, []string{"a", "b", "a", ""}, true},
		{"empty value", "k3", []byte{}, time.Minute, nil, true},
		{"zero ttl stores nothing", "k4", []byte("four"), 0, nil, false},
		{"negative ttl stores nothing", "k5", []byte("five"), -time.Second, nil, false},
		{"too many tags stores nothing", "k6", []byte("six"), time.Minute, make([]string, maxTagsPerEntry+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			accepted := m.Set(tt.key, tt.value, tt.ttl, tt.tags...)
			m.Wait()
			got, ok := m.Get(tt.key)
			if accepted != tt.stored || ok != tt.stored {
				t.Fatalf("Set = %v, Get found = %v; want both %v", accepted, ok, tt.stored)
			}
			if ok && !bytes.Equal(got, tt.value) {
				t.Errorf("Get = %q, want %q", got, tt.value)
			}
		})
	}
	if got := m.Stats().Dropped; got != 3 {
		t.Errorf("Dropped = %d, want 3", got)
	}
}

func TestMemoryPurgeTag(t *testing.T) {
	m := newTestMemory(t, 1<<20)
	m.Set("k1", []byte("1"), time.Minute, "mms:1")
	m.Set("k2", []byte("2"), time.Minute, "mms:1", "q:x")
	m.Set("k3", []byte("3"), time.Minute, "q:x")
	m.Set("k4", []byte("4"), time.Minute)
	m.Wait()

	if got := m.PurgeTag("mms:1"); got != 2 {
		t.Errorf("PurgeTag(mms:1) = %d, want 2", got)
	}
	if got := m.PurgeTag("nothing"); got != 0 {
		t.Errorf("PurgeTag(nothing) = %d, want 0", got)
	}
	m.Wait()
	for key, want := range map[string]bool{"k1": false, "k2": false, "k3": true, "k4": true} {
		if _, ok := m.Get(key); ok != want {
			t.Errorf("after purge, Get(%s) found = %v, want %v", key, ok, want)
		}
	}
	// k2's other tag no longer names it; k3 is still purgeable by it.
	if got := m.PurgeTag("q:x"); got != 1 {
		t.Errorf("PurgeTag(q:x) = %d, want 1", got)
	}
	m.Wait()
	if _, ok := m.Get("k3"); ok {
		t.Errorf("Get(k3) found after its tag was purged")
	}
	if s := m.Stats(); s.IndexedKeys != 0 || s.Tags != 0 {
		t.Errorf("index holds %d keys, %d tags after purging every tag, want 0, 0", s.IndexedKeys, s.Tags)
	}
}

func TestMemoryRetagReplacesIndex(t *testing.T) {
	m := newTestMemory(t, 1<<20)
	m.Set("k", []byte("1"), time.Minute, "old")
	m.Wait()
	// Much later (past the racing-Set window) the key is set again with
	// another tag: the old tag must no longer purge it.
	m.mu.Lock()
	m.index["k"].set = m.index["k"].set.Add(-time.Hour)
	m.mu.Unlock()
	m.Set("k", []byte("2"), time.Minute, "new")
	m.Wait()
	if got := m.PurgeTag("old"); got != 0 {
		t.Errorf("PurgeTag(old) = %d, want 0", got)
	}
	if got, _ := m.Get("k"); string(got) != "2" {
		t.Errorf("Get(k) = %q, want %q", got, "2")
	}
	if got := m.PurgeTag("new"); got != 1 {
		t.Errorf("PurgeTag(new) = %d, want 1", got)
	}
}

func TestMemoryClear(t *testing.T) {
	m := newTestMemory(t, 1<<20)
	for i := range 10 {
		m.Set(fmt.Sprint(i), []byte("v"), time.Minute, "t")
	}
	m.Wait()
	m.Clear()
	for i := range 10 {
		if _, ok := m.Get(fmt.Sprint(i)); ok {
			t.Errorf("Get(%d) found after Clear", i)
		}
	}
	if s := m.Stats(); s.IndexedKeys != 0 || s.BytesInUse != 0 {
		t.Errorf("after Clear: %d indexed keys, %d bytes in use; want 0, 0", s.IndexedKeys, s.BytesInUse)
	}
}

// TestMemoryStaysWithinMaxCost writes many distinct large entries into a small
// Memory: ristretto's cost accounting must never pass MaxCost, and the tag
// index must shrink with the evictions.
func TestMemoryStaysWithinMaxCost(t *testing.T) {
	const maxBytes = 1 << 20
	m := newTestMemory(t, maxBytes)
	value := bytes.Repeat([]byte("x"), 64<<10)
	var peak int64
	for i := range 500 {
		m.Set(fmt.Sprintf("key-%d", i), value, time.Hour, fmt.Sprintf("mms:%d", i))
		if i%10 == 9 {
			m.Wait()
			peak = max(peak, m.Stats().BytesInUse)
		}
	}
	m.Wait()
	s := m.Stats()
	t.Logf("500 × 64 KiB into %d bytes: peak %d bytes in use, %d evicted, %d rejected, %d dropped, %d indexed keys",
		maxBytes, peak, s.Evictions, s.Rejected, s.Dropped, s.IndexedKeys)
	if peak > maxBytes {
		t.Errorf("peak bytes in use = %d, want ≤ %d", peak, maxBytes)
	}
	if s.Evictions+s.Rejected+s.Dropped == 0 {
		t.Errorf("no evictions, rejections or drops after writing 32 MiB into 1 MiB")
	}
	held := 0
	for i := range 500 {
		if _, ok := m.Get(fmt.Sprintf("key-%d", i)); ok {
			held++
		}
	}
	if held > maxBytes/len(value) {
		t.Errorf("%d entries of %d bytes held in %d bytes", held, len(value), maxBytes)
	}
	if s.IndexedKeys > held+10 {
		t.Errorf("tag index holds %d keys, but only %d entries are cached", s.IndexedKeys, held)
	}
}

func TestMemorySweepRemovesLeftovers(t *testing.T) {
	m := newTestMemory(t, 1<<20)
	// Simulate index entries left by racing Sets: indexed, never stored.
	m.mu.Lock()
	for i := range 1100 {
		e := &memEntry{key: fmt.Sprint("ghost-", i), tags: []string{"g"}, set: time.Now().Add(-time.Hour)}
		m.indexLocked(e)
	}
	m.mu.Unlock()
	m.Set("real", []byte("v"), time.Minute, "g")
	m.Wait()
	s := m.Stats()
	if s.IndexedKeys != 1 {
		t.Errorf("after the sweep the index holds %d keys, want 1", s.IndexedKeys)
	}
	if got := m.PurgeTag("g"); got != 1 {
		t.Errorf("PurgeTag(g) = %d, want 1", got)
	}
}

func TestCleanTags(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{""}, []string{}},
		{[]string{"a", "b", "a", "", "c"}, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.in), func(t *testing.T) {
			got := cleanTags(tt.in)
			if !slices.Equal(got, tt.want) {
				t.Errorf("cleanTags(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// BenchmarkMemoryFill measures Sets of distinct 16 KiB entries into a 4 MiB
// Memory and reports the bytes in use against the bound.
func BenchmarkMemoryFill(b *testing.B) {
	const maxBytes = 4 << 20
	m := newTestMemory(b, maxBytes)
	value := bytes.Repeat([]byte("x"), 16<<10)
	b.SetBytes(int64(len(value)))
	var i int
	for b.Loop() {
		m.Set(fmt.Sprint("key-", i), value, time.Hour, "t")
		i++
	}
	m.Wait()
	b.ReportMetric(float64(m.Stats().BytesInUse), "bytes-in-use")
	b.ReportMetric(maxBytes, "max-bytes")
}

// BenchmarkMemoryGet measures a hit.
func BenchmarkMemoryGet(b *testing.B) {
	m := newTestMemory(b, 1<<20)
	m.Set("k", bytes.Repeat([]byte("x"), 4096), time.Hour)
	m.Wait()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := m.Get("k"); !ok {
				b.Error("miss")
				return
			}
		}
	})
}

// TestMemoryConcurrentSetClearPurge hammers Set, Clear and PurgeTag together.
// Ristretto's Clear calls OnEvict under a shard lock that Set also needs: an
// eviction callback that took the index lock deadlocked here (the test then
// hangs until the test binary's timeout).
func TestMemoryConcurrentSetClearPurge(t *testing.T) {
	m := newTestMemory(t, 64<<20)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m.Set(fmt.Sprint(w, "-", i%500), []byte("v"), time.Minute, fmt.Sprint("t", i%7))
			}
		})
	}
	for i := range 30 {
		time.Sleep(time.Millisecond) // let the writers fill a little between clears
		if i%2 == 0 {
			m.Clear()
		} else {
			m.PurgeTag(fmt.Sprint("t", i%7))
		}
	}
	close(stop)
	wg.Wait()
	m.Wait()
	m.Clear()
	if s := m.Stats(); s.IndexedKeys != 0 || s.Tags != 0 {
		t.Errorf("after the final Clear the index holds %d keys, %d tags; want 0, 0", s.IndexedKeys, s.Tags)
	}
}

func TestMemoryRejectsEntryLargerThanMaxCost(t *testing.T) {
	m := newTestMemory(t, 1<<16)
	m.Set("small", []byte("v"), time.Minute, "t")
	accepted := m.Set("huge", make([]byte, 1<<17), time.Minute, "t")
	m.Wait()
	if _, ok := m.Get("huge"); ok {
		t.Errorf("an entry larger than MaxCost was stored (Set returned %v)", accepted)
	}
	if _, ok := m.Get("small"); !ok {
		t.Errorf("the small entry was evicted for a huge one that could never fit")
	}
	s := m.Stats()
	if s.Rejected+s.Dropped != 1 || s.IndexedKeys != 1 {
		t.Errorf("Rejected+Dropped = %d, IndexedKeys = %d; want 1, 1", s.Rejected+s.Dropped, s.IndexedKeys)
	}
}

func ExampleMemory_PurgeTag() {
	m, err := NewMemory(1 << 20)
	if err != nil {
		panic(err)
	}
	defer m.Close()
	m.Set(`search|alma.title="data"`, []byte("page 1"), time.Minute, "mms:9978811100191", `q:alma.title="data"`)
	m.Set("rec|9978811100191", []byte("record"), time.Minute, "mms:9978811100191")
	m.Wait() // ristretto applies Sets asynchronously
	fmt.Println(m.PurgeTag("mms:9978811100191"))
	_, ok := m.Get("rec|9978811100191")
	fmt.Println(ok)
	// Output:
	// 2
	// false
}

// BenchmarkMemoryHeap writes distinct 32 KiB entries into a 16 MiB Memory
// and reports the live heap afterwards (after a GC) against the bound: what
// the process really holds, ristretto's counters and the tag index included.
func BenchmarkMemoryHeap(b *testing.B) {
	const maxBytes = 16 << 20
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := newTestMemory(b, maxBytes)
	i := 0
	for b.Loop() {
		v := make([]byte, 32<<10)
		m.Set(fmt.Sprint("key-", i), v, time.Hour, fmt.Sprint("mms:", i), "q:x")
		i++
	}
	m.Wait()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(m.Stats().BytesInUse), "cost-bytes")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)), "heap-bytes")
	b.ReportMetric(maxBytes, "max-bytes")
}
