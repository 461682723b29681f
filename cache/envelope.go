package cache

import (
	"encoding/binary"
	"errors"
	"time"
)

// The envelope is what the Loader stores in Memory and Redis: a fixed binary
// header, then the value.
//
//	offset  size  field
//	0       3     magic "AGW"
//	3       1     version (1)
//	4       8     stored-at, Unix nanoseconds, big endian
//	12      8     fresh lifetime, nanoseconds
//	20      8     stale window, nanoseconds
//	28      2     number of tags n, big endian
//	30      …     n times: tag length (2 bytes), tag bytes
//	…       …     value
//
// Tags travel with the entry so that an entry promoted from Redis into memory
// can still be purged by tag there.
// Anything else (another writer under our prefix, a truncated value, a future
// version) decodes as an error and is treated as a miss.
const (
	envelopeMagic   = "AGW"
	envelopeVersion = 1
	envelopeHeader  = 30
	maxTagLen       = 1<<16 - 1
	maxLifetime     = 100 * 365 * 24 * time.Hour
)

// entry is a decoded envelope. Value aliases the encoded bytes.
type entry struct {
	storedAt time.Time
	life     Lifetime
	n        int    // number of tags
	rawTags  []byte // the tag section, walked by tagList
	value    []byte
}

var errBadEnvelope = errors.New("cache: bad envelope")

// encodeEntry returns a new envelope for value stored at t with life and
// tags. Tags longer than 65535 bytes, and tags past the 65535th, are left
// out: callers refuse such entries before (see encodable).
func encodeEntry(t time.Time, life Lifetime, tags []string, value []byte) []byte {
	n := envelopeHeader + len(value)
	for _, tag := range tags {
		n += 2 + len(tag)
	}
	b := make([]byte, envelopeHeader, n)
	copy(b, envelopeMagic)
	b[3] = envelopeVersion
	binary.BigEndian.PutUint64(b[4:], uint64(t.UnixNano()))
	binary.BigEndian.PutUint64(b[12:], uint64(life.Fresh))
	binary.BigEndian.PutUint64(b[20:], uint64(life.Stale))
	binary.BigEndian.PutUint16(b[28:], uint16(len(tags)))
	for _, tag := range tags {
		b = binary.BigEndian.AppendUint16(b, uint16(len(tag)))
		b = append(b, tag...)
	}
	return append(b, value...)
}

// encodable reports whether tags fit the envelope.
func encodable(tags []string) bool {
	if len(tags) > maxTagsPerEntry {
		return false
	}
	for _, t := range tags {
		if len(t) > maxTagLen {
			return false
		}
	}
	return true
}

// decodeEntry reads an envelope. The returned value aliases b.
func decodeEntry(b []byte) (entry, error) {
	if len(b) < envelopeHeader || string(b[:3]) != envelopeMagic || b[3] != envelopeVersion {
		return entry{}, errBadEnvelope
	}
	at := int64(binary.BigEndian.Uint64(b[4:]))
	fresh := time.Duration(binary.BigEndian.Uint64(b[12:]))
	stale := time.Duration(binary.BigEndian.Uint64(b[20:]))
	if at <= 0 || fresh < 0 || stale < 0 || fresh > maxLifetime || stale > maxLifetime {
		return entry{}, errBadEnvelope
	}
	n := int(binary.BigEndian.Uint16(b[28:]))
	if n > maxTagsPerEntry {
		return entry{}, errBadEnvelope
	}
	// Walk the tags without copying them: a hit needs only the value.
	rest := b[envelopeHeader:]
	for range n {
		if len(rest) < 2 {
			return entry{}, errBadEnvelope
		}
		l := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+l {
			return entry{}, errBadEnvelope
		}
		rest = rest[2+l:]
	}
	tagEnd := len(b) - len(rest)
	return entry{
		storedAt: time.Unix(0, at),
		life:     Lifetime{Fresh: fresh, Stale: stale},
		n:        n,
		rawTags:  b[envelopeHeader:tagEnd],
		value:    rest[:len(rest):len(rest)],
	}, nil
}

// tagList returns the entry's tags (decodeEntry has checked their framing).
func (e entry) tagList() []string {
	if e.n == 0 {
		return nil
	}
	tags := make([]string, 0, e.n)
	rest := e.rawTags
	for range e.n {
		l := int(binary.BigEndian.Uint16(rest))
		tags = append(tags, string(rest[2:2+l]))
		rest = rest[2+l:]
	}
	return tags
}

// state is where an entry stands at now.
type state int

const (
	stateFresh state = iota
	stateStale
	stateExpired
)

// stateAt places e at now. An entry stored "in the future" (another replica's
// clock runs ahead) counts as just stored.
func (e entry) stateAt(now time.Time) state {
	age := max(now.Sub(e.storedAt), 0)
	switch {
	case age < e.life.Fresh:
		return stateFresh
	case age < e.life.Fresh+e.life.Stale:
		return stateStale
	default:
		return stateExpired
	}
}

// remaining is how long e may still be kept at now (until its stale window
// ends).
func (e entry) remaining(now time.Time) time.Duration {
	return e.storedAt.Add(e.life.Fresh + e.life.Stale).Sub(now)
}
