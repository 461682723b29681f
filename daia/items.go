package daia

import (
	"strconv"
	"strings"

	"github.com/almanet/gateway/transform"
)

// Holder names a member institution for people.
type Holder func(code string) string

// Options are what the mapping needs besides the record.
type Options struct {
	// Asking is the member whose patrons ask ("" for the whole network).
	// Its own copies offer presentation and loan; other members' copies
	// offer interloan. With no asking member every available copy offers
	// all three: each member's patrons can borrow at home, and the rest of
	// the network through resource sharing.
	Asking string
	// Name gives a member's display name; nil or "" falls back to the code.
	Name Holder
}

// Items maps one NZ record to DAIA items. avail is the record's live
// AVA/AVE/AVD list, nil when it could not be had: then each holding member
// gets one item without services (availability unknown). docID prefixes
// the item IDs, which are unique within the document.
func Items(docID string, rec *transform.Record, avail []transform.Availability, o Options) []Item {
	items := []Item{}
	listed := map[string]bool{}
	if avail != nil {
		for _, a := range avail {
			inst := deref(a.Institution)
			it, ok := item(a, inst, o)
			if !ok {
				continue
			}
			it.ID = docID + "#item-" + strconv.Itoa(len(items)+1)
			items = append(items, it)
			listed[inst] = true
		}
	}
	for _, h := range rec.Holdings {
		if listed[h.Institution] {
			continue
		}
		listed[h.Institution] = true
		it := Item{ID: docID + "#item-" + strconv.Itoa(len(items)+1), Department: department(h.Institution, o)}
		if len(h.Types) > 0 {
			it.About = "held as " + strings.Join(h.Types, ", ")
		}
		items = append(items, it)
	}
	return items
}

func item(a transform.Availability, inst string, o Options) (Item, bool) {
	it := Item{Department: department(inst, o)}
	own := o.Asking == "" || o.Asking == inst
	switch a.Kind {
	case "physical":
		it.Label = deref(a.CallNumber)
		if s := join(", ", or(a.LibraryName, a.Library), or(a.LocationName, a.Location)); s != "" {
			it.Storage = &Entity{Content: s}
		}
		var services []string
		if own {
			services = append(services, Presentation, Loan)
		}
		if o.Asking == "" || !own {
			services = append(services, Interloan)
		}
		switch physicalState(a) {
		case stateAvailable:
			for _, s := range services {
				it.Available = append(it.Available, Available{Service: s})
			}
		case stateUnavailable:
			for _, s := range services {
				it.Unavailable = append(it.Unavailable, Unavailable{Service: s})
			}
		}
		// stateUnknown (Alma's check_holdings): no services, which DAIA
		// reads as "availability unknown".
		if a.Total != nil && a.Available != nil {
			it.About = strconv.Itoa(*a.Available) + " of " + strconv.Itoa(*a.Total) + " copies available"
		}
	case "electronic":
		it.About = join(" · ", deref(a.Collection), deref(a.Interface), deref(a.Coverage))
		href := httpURL(deref(a.URL))
		up := a.Status == nil || strings.EqualFold(*a.Status, "available")
		switch {
		case !own:
			// A licensed portfolio serves its own member's users only.
			it.Unavailable = []Unavailable{{Service: Remote, Limitation: []Entity{{Content: "licensed to the users of " + name(inst, o)}}}}
		case up:
			it.Href = href
			it.Available = []Available{{Service: Remote, Href: href, Delay: "PT0S"}}
		default:
			it.Unavailable = []Unavailable{{Service: Remote}}
		}
	case "digital":
		// Alma's digital delivery serves a representation to anyone with
		// the link unless the member restricted it; AVD does not say, so
		// the gateway reports what the link offers.
		it.About = join(" · ", deref(a.Label), deref(a.Representation))
		href := httpURL(deref(a.URL))
		it.Href = href
		it.Available = []Available{{Service: OpenAccess, Href: href}}
	default:
		return Item{}, false
	}
	return it, true
}

type state int

const (
	stateUnknown state = iota
	stateAvailable
	stateUnavailable
)

func physicalState(a transform.Availability) state {
	if a.Available != nil {
		if *a.Available > 0 {
			return stateAvailable
		}
		return stateUnavailable
	}
	switch strings.ToLower(deref(a.Status)) {
	case "available":
		return stateAvailable
	case "unavailable":
		return stateUnavailable
	}
	return stateUnknown
}

func department(code string, o Options) *Entity {
	if code == "" {
		return nil
	}
	return &Entity{Content: name(code, o)}
}

func name(code string, o Options) string {
	if o.Name != nil {
		if n := o.Name(code); n != "" && n != code {
			return n + " (" + code + ")"
		}
	}
	return code
}

// httpURL keeps a link only if it is http(s): DAIA's href is a URL of that
// scheme, and anything else from Alma is not a link for a browser.
func httpURL(s string) string {
	l := strings.ToLower(s)
	if strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://") {
		if !strings.ContainsAny(s, " \t\r\n\"<>") {
			return s
		}
	}
	return ""
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func or(a, b *string) string {
	if s := deref(a); s != "" {
		return s
	}
	return deref(b)
}

func join(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}
