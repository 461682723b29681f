package sru

// AlmaPages splits the request's page into the Alma calls that fetch it:
// consecutive windows of at most AlmaMaxRecords records, in order, for the
// caller to run concurrently and concatenate (SPEC 3.1 "Paging"). A
// count-only request (MaximumRecords 0) is one call for no records.
func (r *Request) AlmaPages() []SearchParams {
	if r.MaximumRecords <= 0 {
		return []SearchParams{{Query: r.AlmaQuery, Start: r.StartRecord, Max: 0, Schema: "marcxml"}}
	}
	var pages []SearchParams
	for start, left := r.StartRecord, r.MaximumRecords; left > 0; {
		n := min(left, AlmaMaxRecords)
		pages = append(pages, SearchParams{Query: r.AlmaQuery, Start: start, Max: n, Schema: "marcxml"})
		start += n
		left -= n
	}
	return pages
}

// NextPosition is the nextRecordPosition to answer with when total
// records match and returned records were sent from StartRecord: 0 when
// there are no more, or when the next position would be past maxPosition
// (Alma serves nothing beyond it; 0 → 10000).
func (r *Request) NextPosition(total, returned, maxPosition int) int {
	if maxPosition <= 0 {
		maxPosition = AlmaMaxPosition
	}
	next := r.StartRecord + returned
	if returned <= 0 || next > total || next > maxPosition {
		return 0
	}
	return next
}

// CheckPosition returns diagnostic 61 when the request starts past the
// end of a result of total records (SRU 1.2 searchRetrieve: startRecord
// beyond numberOfRecords), and nil otherwise. Starting at 1 on zero hits
// is an ordinary empty answer.
func (r *Request) CheckPosition(total int) *Diagnostic {
	if r.StartRecord > 1 && r.StartRecord > total {
		return NewDiagnostic(61, "")
	}
	return nil
}
