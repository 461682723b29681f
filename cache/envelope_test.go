package cache

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 123, time.UTC)
	tests := []struct {
		name  string
		life  Lifetime
		tags  []string
		value []byte
	}{
		{"empty value, no tags", Lifetime{Fresh: time.Minute, Stale: time.Hour}, nil, nil},
		{"value, no tags", Lifetime{Fresh: 5 * time.Minute, Stale: 24 * time.Hour}, nil, []byte("<searchRetrieveResponse/>")},
		{"tags", Lifetime{Fresh: time.Second}, []string{"mms:9978811100191", "q:alma.title=\"x\""}, []byte(`{"total":1}`)},
		{"empty tag", Lifetime{Stale: time.Second}, []string{""}, []byte{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeEntry(at, tt.life, tt.tags, tt.value)
			e, err := decodeEntry(b)
			if err != nil {
				t.Fatalf("decodeEntry: %v", err)
			}
			if !e.storedAt.Equal(at) {
				t.Errorf("storedAt = %v, want %v", e.storedAt, at)
			}
			if diff := cmp.Diff(tt.life, e.life); diff != "" {
				t.Errorf("life (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.tags, e.tagList()); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
			if !bytes.Equal(e.value, tt.value) {
				t.Errorf("value = %q, want %q", e.value, tt.value)
			}
		})
	}
}

func TestDecodeEntryRejectsGarbage(t *testing.T) {
	good := encodeEntry(time.Unix(100, 0), Lifetime{Fresh: time.Minute}, []string{"a"}, []byte("v"))
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"short", []byte("AGW\x01")},
		{"plain value", []byte(`{"total": 3, "records": []}`)},
		{"wrong magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"future version", mutate(func(b []byte) []byte { b[3] = 2; return b })},
		{"zero time", mutate(func(b []byte) []byte { clear(b[4:12]); return b })},
		{"negative fresh", mutate(func(b []byte) []byte { b[12] = 0xff; return b })},
		{"negative stale", mutate(func(b []byte) []byte { b[20] = 0xff; return b })},
		{"too many tags", mutate(func(b []byte) []byte { b[28], b[29] = 0xff, 0xff; return b })},
		{"tag past end", mutate(func(b []byte) []byte { b[28], b[29] = 0, 3; return b })},
		{"tag length past end", mutate(func(b []byte) []byte { b[30], b[31] = 0x7f, 0; return b })},
		{"truncated in tags", good[:envelopeHeader+1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e, err := decodeEntry(tt.in); err == nil {
				t.Errorf("decodeEntry(%q) = %+v, want an error", tt.in, e)
			}
		})
	}
}

func TestEntryState(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	e := entry{storedAt: t0, life: Lifetime{Fresh: 10 * time.Second, Stale: 20 * time.Second}}
	tests := []struct {
		name string
		at   time.Time
		want state
	}{
		{"stored in the future (clock skew)", t0.Add(-time.Hour), stateFresh},
		{"just stored", t0, stateFresh},
		{"last fresh instant", t0.Add(10*time.Second - 1), stateFresh},
		{"fresh ends", t0.Add(10 * time.Second), stateStale},
		{"last stale instant", t0.Add(30*time.Second - 1), stateStale},
		{"stale window ends", t0.Add(30 * time.Second), stateExpired},
		{"long gone", t0.Add(48 * time.Hour), stateExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.stateAt(tt.at); got != tt.want {
				t.Errorf("stateAt(%v) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

// FuzzDecodeEntry checks that no input makes decodeEntry panic, and that
// whatever decodes re-encodes to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("AGW\x01"))
	f.Add(encodeEntry(time.Unix(1, 0), Lifetime{}, nil, nil))
	f.Add(encodeEntry(time.Unix(1700000000, 5), Lifetime{Fresh: time.Minute, Stale: time.Hour}, []string{"mms:1", "q:x"}, []byte("<x/>")))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		e.stateAt(time.Now())
		again := encodeEntry(e.storedAt, e.life, e.tagList(), e.value)
		if !bytes.Equal(again, b) {
			t.Errorf("re-encoded %q, want %q", again, b)
		}
	})
}
