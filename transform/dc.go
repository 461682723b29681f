package transform

// DCSchema is the SRU record schema URI of the Dublin Core records made by
// AppendDC.
const DCSchema = "info:srw/schema/1/dc-v1.1"

// AppendDC appends the record as an SRU Dublin Core record
// (<srw_dc:dc> with dc: elements): title, creator (the authors), subject,
// publisher, date (the year), type, identifier (URN:ISBN:…, URN:ISSN:…,
// and the MMS ID) and language, in that order. Empty values are left out.
func (r *Record) AppendDC(dst []byte) []byte {
	dst = append(dst, `<srw_dc:dc xmlns:srw_dc="info:srw/schema/1/dc-schema" xmlns:dc="http://purl.org/dc/elements/1.1/">`...)
	el := func(dst []byte, name, prefix, v string) []byte {
		if v == "" {
			return dst
		}
		dst = append(dst, "<dc:"...)
		dst = append(dst, name...)
		dst = append(dst, '>')
		dst = append(dst, prefix...)
		dst = appendEscaped(dst, v, false)
		dst = append(dst, "</dc:"...)
		dst = append(dst, name...)
		return append(dst, '>')
	}
	dst = el(dst, "title", "", r.Title)
	for _, a := range r.Authors {
		dst = el(dst, "creator", "", a)
	}
	for _, s := range r.Subjects {
		dst = el(dst, "subject", "", s)
	}
	dst = el(dst, "publisher", "", r.Publisher)
	dst = el(dst, "date", "", r.Year)
	dst = el(dst, "type", "", r.Type)
	for _, s := range r.ISBNs {
		dst = el(dst, "identifier", "URN:ISBN:", s)
	}
	for _, s := range r.ISSNs {
		dst = el(dst, "identifier", "URN:ISSN:", s)
	}
	dst = el(dst, "identifier", "", r.MMSID)
	dst = el(dst, "language", "", r.Language)
	return append(dst, "</srw_dc:dc>"...)
}
