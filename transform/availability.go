package transform

import (
	"strconv"
	"strings"
)

// Availability is one live inventory entry of the Bibs API (SPEC 3.3),
// made from an AVA (physical), AVE (electronic) or AVD (digital) field.
// A nil pointer is a subfield Alma did not send; it is written as null.
// Which fields are set, and written, depends on Kind.
//
// Subfield meanings follow Ex Libris's "Retrieve Bib" documentation
// (developers.exlibrisgroup.com/alma/apis/docs/bibs/R0VUIC9hbG1hd3MvdjEvYmlicy97bW1zX2lkfQ==/):
//   - AVA: $a institution, $b library code, $q library name, $j location
//     code, $c location display name, $d call number, $e availability,
//     $f total items, $g non-available items.
//   - AVE: $a institution (the docs' $i "available for institution" when
//     $a is missing), $m collection name, $t interface name, $s coverage
//     statement, $u link to the services page, $e activation status.
//   - AVD: $a institution, $b representation ID, $e label, $h full text
//     link.
//
// Statuses are lower-cased: Alma sends AVA's in lower case but AVE's
// capitalised ("Available").
type Availability struct {
	Kind        string // physical, electronic or digital
	Institution *string

	// physical
	Library, LibraryName, Location, LocationName, CallNumber *string
	Total, Unavailable, Available                            *int

	// electronic
	Collection, Interface, Coverage *string

	// electronic and physical
	Status *string

	// electronic and digital
	URL *string

	// digital
	Representation, Label *string
}

func (r *Record) availability(tag string, subs []subfield) Availability {
	get := func(code byte) *string {
		for _, s := range subs {
			if r.code(s) == code {
				v := strings.TrimSpace(r.str(s.value))
				return &v
			}
		}
		return nil
	}
	num := func(code byte) *int {
		p := get(code)
		if p == nil {
			return nil
		}
		n, err := strconv.Atoi(*p)
		if err != nil {
			return nil
		}
		return &n
	}
	lower := func(p *string) *string {
		if p != nil {
			v := strings.ToLower(*p)
			p = &v
		}
		return p
	}
	var a Availability
	switch tag {
	case "AVA":
		a = Availability{
			Kind:         "physical",
			Institution:  get('a'),
			Library:      get('b'),
			LibraryName:  get('q'),
			Location:     get('j'),
			LocationName: get('c'),
			CallNumber:   get('d'),
			Status:       lower(get('e')),
			Total:        num('f'),
			Unavailable:  num('g'),
		}
		if a.Total != nil && a.Unavailable != nil {
			n := max(*a.Total-*a.Unavailable, 0)
			a.Available = &n
		}
	case "AVE":
		inst := get('a')
		if inst == nil {
			inst = get('i')
		}
		a = Availability{
			Kind:        "electronic",
			Institution: inst,
			Collection:  get('m'),
			Interface:   get('t'),
			Coverage:    get('s'),
			URL:         get('u'),
			Status:      lower(get('e')),
		}
	case "AVD":
		a = Availability{
			Kind:           "digital",
			Institution:    get('a'),
			Representation: get('b'),
			Label:          get('e'),
			URL:            get('h'),
		}
	}
	return a
}

// MarshalJSON writes the keys SPEC 3.3 gives the entry's kind, in its
// order, with null for what is missing.
func (a Availability) MarshalJSON() ([]byte, error) {
	return a.appendJSON(make([]byte, 0, 256)), nil
}

func (a *Availability) appendJSON(dst []byte) []byte {
	str := func(dst []byte, key string, v *string) []byte {
		dst = append(dst, ',', '"')
		dst = append(dst, key...)
		dst = append(dst, '"', ':')
		if v == nil {
			return append(dst, "null"...)
		}
		return AppendJSONString(dst, *v)
	}
	num := func(dst []byte, key string, v *int) []byte {
		dst = append(dst, ',', '"')
		dst = append(dst, key...)
		dst = append(dst, '"', ':')
		if v == nil {
			return append(dst, "null"...)
		}
		return strconv.AppendInt(dst, int64(*v), 10)
	}
	dst = append(dst, `{"kind":`...)
	dst = AppendJSONString(dst, a.Kind)
	dst = str(dst, "institution", a.Institution)
	switch a.Kind {
	case "physical":
		dst = str(dst, "library", a.Library)
		dst = str(dst, "library_name", a.LibraryName)
		dst = str(dst, "location", a.Location)
		dst = str(dst, "location_name", a.LocationName)
		dst = str(dst, "call_number", a.CallNumber)
		dst = str(dst, "status", a.Status)
		dst = num(dst, "total", a.Total)
		dst = num(dst, "unavailable", a.Unavailable)
		dst = num(dst, "available", a.Available)
	case "electronic":
		dst = str(dst, "collection", a.Collection)
		dst = str(dst, "interface", a.Interface)
		dst = str(dst, "coverage", a.Coverage)
		dst = str(dst, "url", a.URL)
		dst = str(dst, "status", a.Status)
	case "digital":
		dst = str(dst, "representation", a.Representation)
		dst = str(dst, "label", a.Label)
		dst = str(dst, "url", a.URL)
	}
	return append(dst, '}')
}
