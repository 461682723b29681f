package almasim

import "strconv"

// render precomputes every record's SRU MARCXML: NZ records with their
// member-availability 852s, IZ records with their member's AVA/AVE/AVD (as an
// IZ SRU profile enriched with availability sends them, Princeton sample).
func (z *zone) render() {
	for _, r := range z.recs {
		var fields []field
		if z.nz {
			fields = withMember852s(r.fields, r.Holdings)
		} else {
			fields = append(append([]field(nil), r.fields...), availFields(r.Avail, r.MMSID)...)
		}
		l := sruNS
		switch {
		case r.NoNS:
			l = sruNoNS
		case r.Prefixed:
			l = sruPrefixed
		}
		leader := leaderOf(r, fields)
		r.MARCXML = appendRecord(make([]byte, 0, 2*atoiPrefix(leader)+len(fields)*40), leader, fields, l)
	}
}

// atoiPrefix reads the record length of a leader.
func atoiPrefix(leader string) int {
	n, _ := strconv.Atoi(leader[:5])
	return n
}

// leaderOf makes the record's leader, its length estimated from the fields.
func leaderOf(r *Record, fields []field) string {
	n := 25
	for _, f := range fields {
		n += 12 + 1
		if f.control() {
			n += len(f.value)
			continue
		}
		n += 2
		for _, s := range f.subs {
			n += 2 + len(s.value)
		}
	}
	enc, cat := byte(' '), byte('i')
	if r.Legacy852 {
		enc, cat = '7', 'a'
	}
	return leaderFor(n, r.Serial, len(fields), enc, cat)
}

// member852 is one member-availability 852 (ind1=0 ind2=1, $a $6 $9), as in
// the SLSP sample.
func member852(h Holding) field {
	f := data("852", '0', '1', sf('a', h.Institution))
	if h.Has6 {
		f.subs = append(f.subs, sf('6', h.IZMMSID))
	}
	for _, t := range h.Types {
		f.subs = append(f.subs, sf('9', t))
	}
	return f
}

// withMember852s inserts the member 852s after the record's own 852s and
// before any later tag.
func withMember852s(fields []field, hs []Holding) []field {
	out := make([]field, 0, len(fields)+len(hs))
	done := false
	for _, f := range fields {
		if !done && f.tag > "852" {
			for _, h := range hs {
				out = append(out, member852(h))
			}
			done = true
		}
		out = append(out, f)
	}
	if !done {
		for _, h := range hs {
			out = append(out, member852(h))
		}
	}
	return out
}

// availFields renders inventory as AVA/AVE/AVD fields; mmsID is the record
// asked for ($0).
func availFields(av []Availability, mmsID string) []field {
	out := make([]field, 0, len(av))
	for _, a := range av {
		switch a.Kind {
		case "AVA":
			f := data("AVA", ' ', ' ', sf('0', mmsID), sf('8', a.HoldingsID), sf('a', a.Institution),
				sf('b', a.Library), sf('c', a.LocationName), sf('d', a.CallNumber), sf('e', a.Status))
			if a.Total >= 0 {
				f.subs = append(f.subs, sf('f', strconv.Itoa(a.Total)), sf('g', strconv.Itoa(a.Unavailable)))
			}
			f.subs = append(f.subs, sf('j', a.Location), sf('k', "0"), sf('p', "1"), sf('q', a.LibraryName))
			out = append(out, f)
		case "AVE":
			out = append(out, data("AVE", ' ', ' ', sf('8', a.PortfolioID), sf('c', a.CollectionID), sf('e', a.Status),
				sf('l', "online"), sf('m', a.CollectionName), sf('s', a.Coverage), sf('t', a.Interface), sf('u', a.URL),
				sf('a', a.Institution), sf('0', mmsID)))
		case "AVD":
			out = append(out, data("AVD", ' ', ' ', sf('0', mmsID), sf('a', a.Institution), sf('b', a.RepresentationID),
				sf('d', a.Label), sf('u', a.URL)))
		}
	}
	return out
}
