package search

import (
	"sync"

	"github.com/almanet/gateway/alma"
	"github.com/almanet/gateway/config"
	"github.com/almanet/gateway/transform"
)

// izOwners learns which member an IZ MMS ID belongs to. Alma MMS IDs end
// in the four digits of the institution that made them ("99…5526"), so
// every NZ record's member 852 ($a member, $6 its IZ MMS ID) teaches the
// suffix of one member. A member's own MMS ID can then be taken to that
// member first, and to nobody else once every member is known.
type IZOwners struct {
	mu       sync.RWMutex
	bySuffix map[string]string // "5526" → member code
	known    map[string]bool   // member codes whose suffix is known
}

// maxOwnerSuffixes bounds what a stream of odd 852s can make it hold.
const maxOwnerSuffixes = 4096

func idSuffix(mmsID string) string {
	if len(mmsID) < 6 {
		return ""
	}
	return mmsID[len(mmsID)-4:]
}

// learn records the suffixes a network record's 852s show.
func (o *IZOwners) Learn(rec *transform.Record) {
	for _, h := range rec.Holdings {
		suf := idSuffix(h.IZMMSID)
		if suf == "" || h.Institution == "" || !alma.ValidMMSID(h.IZMMSID) {
			continue
		}
		o.mu.RLock()
		have := o.bySuffix[suf] == h.Institution
		o.mu.RUnlock()
		if have {
			continue
		}
		o.mu.Lock()
		if o.bySuffix == nil {
			o.bySuffix, o.known = map[string]string{}, map[string]bool{}
		}
		if len(o.bySuffix) < maxOwnerSuffixes {
			o.bySuffix[suf] = h.Institution
			o.known[h.Institution] = true
		}
		o.mu.Unlock()
	}
}

// candidates lists the members that may own izID, most likely first: the
// asking member, the member whose suffix it carries, then the members
// with a key whose suffix is not known yet. Members without an API key
// cannot be asked.
func (o *IZOwners) Candidates(izID, asking string, members []config.Member) []config.Member {
	o.mu.RLock()
	owner := o.bySuffix[idSuffix(izID)]
	known := make(map[string]bool, len(o.known))
	for k := range o.known {
		known[k] = true
	}
	o.mu.RUnlock()
	var first, rest []config.Member
	for _, m := range members {
		switch {
		case m.APIKey == "":
		case m.Code == asking || m.Code == owner:
			first = append(first, m)
		case owner == "" && !known[m.Code]:
			rest = append(rest, m)
		}
	}
	return append(first, rest...)
}
