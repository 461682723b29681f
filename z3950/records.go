package z3950

import (
	"strconv"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/almanet/gateway/transform"
)

// syntaxes are the record syntaxes served, by OID, with a name for
// diagnostics; the first is the default.
var syntaxes = []struct{ oid, name string }{
	{OIDUSMARC, "USMARC"},
	{OIDXML, "XML"},
	{OIDXMLApp, "XML"},
	{OIDOPAC, "OPAC"},
	{OIDSUTRS, "SUTRS"},
}

// offeredSyntaxes names the syntaxes for diagnostic 239's addinfo.
func offeredSyntaxes() string {
	var b strings.Builder
	for i, s := range syntaxes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.oid + " (" + s.name + ")")
	}
	return b.String()
}

// checkSyntax validates a requested syntax and element set name before
// anything is searched ("" means the default: USMARC, full record) and
// returns them normalized: the element set is "marcxml", "dc" or "" (full).
func checkSyntax(oid, esn string) (string, string, *Diagnostic) {
	if oid == "" {
		oid = OIDUSMARC
	}
	known := false
	for _, s := range syntaxes {
		known = known || s.oid == oid
	}
	if !known {
		return "", "", diag(239, oid+"; offered: "+offeredSyntaxes())
	}
	xml := oid == OIDXML || oid == OIDXMLApp
	switch e := strings.ToLower(esn); e {
	case "", "f", "b":
		return oid, "", nil
	case "marcxml", "dc":
		if !xml {
			return "", "", diag(25, esn+" is an element set of the XML syntax")
		}
		if e == "marcxml" {
			e = ""
		}
		return oid, e, nil
	}
	return "", "", diag(25, esn+"; offered: F, B, and for XML marcxml and dc")
}

// Record is one record as a response carries it: the BER encoding of its
// EXTERNAL, or a surrogate diagnostic when it cannot be had in the syntax
// asked. A Backend may cache it as it is.
type Record struct {
	External []byte
	Diag     *Diagnostic
}

// EncodeRecord encodes rec in a syntax and element set a session has
// checked (Search.Syntax, Search.ElementSet).
func EncodeRecord(rec *transform.Record, syntax, esn string) Record {
	var p *ber.Packet
	switch syntax {
	case OIDUSMARC:
		b, err := rec.AppendISO2709(nil)
		if err != nil {
			return Record{Diag: diag(238, err.Error()+"; available as XML ("+OIDXML+")")}
		}
		p = externalOctets(syntax, b)
	case OIDXML, OIDXMLApp:
		if esn == "dc" {
			p = externalOctets(syntax, rec.AppendDC(nil))
		} else {
			p = externalOctets(syntax, rec.AppendMARCXML(nil))
		}
	case OIDOPAC:
		var d *Diagnostic
		if p, d = opacRecord(rec); d != nil {
			return Record{Diag: d}
		}
	case OIDSUTRS:
		p = externalASN1(syntax, intl(sutrs(rec)))
	default:
		return Record{Diag: diag(239, syntax)}
	}
	return Record{External: p.Bytes()}
}

// opacRecord is an OPACRecord: the MARC record plus its holdings with the
// circulation data of the record's AVA fields (SPEC 10). Each member 852
// is a holding; a member with several physical AVA fields (libraries,
// locations) has one holding for each, with its location, call number and
// counts; a member that only the AVA fields name (a member's own IZ
// record carries AVA but no member 852) is a holding too. The gateway
// fills the AVA fields with live availability before it encodes.
//
//	OPACRecord ::= SEQUENCE {
//	  bibliographicRecord [1] IMPLICIT EXTERNAL OPTIONAL,
//	  holdingsData        [2] IMPLICIT SEQUENCE OF HoldingsRecord OPTIONAL }
//	HoldingsRecord ::= CHOICE { marcHoldingsRecord [1] IMPLICIT EXTERNAL,
//	  holdingsAndCirc [2] IMPLICIT HoldingsAndCircData }
func opacRecord(rec *transform.Record) (*ber.Packet, *Diagnostic) {
	marc, err := rec.AppendISO2709(nil)
	if err != nil {
		return nil, diag(238, err.Error()+"; available as XML ("+OIDXML+")")
	}
	o := seq()
	bib := externalOctets(OIDUSMARC, marc)
	bib.ClassType, bib.Tag = ber.ClassContext, 1 // [1] IMPLICIT EXTERNAL
	o.AppendChild(bib)
	holdings := ctxCons(2)
	physical := func(code string) []*transform.Availability {
		var out []*transform.Availability
		for i := range rec.Availability {
			a := &rec.Availability[i]
			if a.Kind == "physical" && a.Institution != nil && *a.Institution == code {
				out = append(out, a)
			}
		}
		return out
	}
	held := map[string]bool{}
	for _, h := range rec.Holdings {
		held[h.Institution] = true
		avas := physical(h.Institution)
		if len(avas) == 0 {
			holdings.AppendChild(ctxCons(2, holdingsAndCirc(h, nil)...))
		}
		for _, a := range avas {
			holdings.AppendChild(ctxCons(2, holdingsAndCirc(h, a)...))
		}
	}
	for i := range rec.Availability {
		a := &rec.Availability[i]
		if a.Kind != "physical" || a.Institution == nil || *a.Institution == "" || held[*a.Institution] {
			continue
		}
		holdings.AppendChild(ctxCons(2, holdingsAndCirc(transform.Holding{Institution: *a.Institution, Types: []string{"print"}}, a)...))
	}
	o.AppendChild(holdings)
	return externalASN1(OIDOPAC, o), nil
}

// holdingsAndCirc is the fields of one HoldingsAndCircData: nucCode [8]
// the institution, localLocation [9] the library and location and
// callNumber [11] from its AVA, publicNote [14] the holding's types and IZ
// MMS ID, and circulationData [19] one CircRecord when the AVA says
// whether or how many items are available.
func holdingsAndCirc(h transform.Holding, ava *transform.Availability) []*ber.Packet {
	f := []*ber.Packet{ctxString(8, h.Institution)}
	if ava != nil {
		var where []string
		for _, v := range []*string{ava.LibraryName, ava.LocationName} {
			if v != nil && *v != "" {
				where = append(where, *v)
			}
		}
		if len(where) == 0 {
			for _, v := range []*string{ava.Library, ava.Location} {
				if v != nil && *v != "" {
					where = append(where, *v)
				}
			}
		}
		if len(where) > 0 {
			f = append(f, ctxString(9, strings.Join(where, ", ")))
		}
		if ava.CallNumber != nil && *ava.CallNumber != "" {
			f = append(f, ctxString(11, *ava.CallNumber))
		}
	}
	note := strings.Join(h.Types, ", ")
	if h.IZMMSID != "" {
		note = strings.TrimPrefix(note+"; IZ MMS ID "+h.IZMMSID, "; ")
	}
	if note != "" {
		f = append(f, ctxString(14, note))
	}
	if ava != nil && (ava.Status != nil || ava.Available != nil) {
		now := ava.Available != nil && *ava.Available > 0 || ava.Available == nil && ava.Status != nil && *ava.Status == "available"
		circ := seq()
		circ.AppendChild(ctxBool(1, now))
		if ava.Available != nil && ava.Total != nil {
			circ.AppendChild(ctxString(4, strconv.Itoa(*ava.Available)+" of "+strconv.Itoa(*ava.Total)+" items available"))
		} else if ava.Status != nil {
			circ.AppendChild(ctxString(4, strings.ReplaceAll(*ava.Status, "_", " ")))
		}
		circ.AppendChild(ctxBool(6, false))
		circ.AppendChild(ctxBool(7, false))
		f = append(f, ctxCons(19, circ))
	}
	return f
}

// sutrs is the record as readable text: labelled summary lines, then the
// MARC fields one per line ($a-style subfields).
func sutrs(rec *transform.Record) string {
	var b strings.Builder
	line := func(label, v string) {
		if v != "" {
			b.WriteString(label + ": " + v + "\n")
		}
	}
	line("Title", rec.Title)
	for _, a := range rec.Authors {
		line("Author", a)
	}
	line("Publisher", rec.Publisher)
	line("Year", rec.Year)
	line("Language", rec.Language)
	for _, s := range rec.ISBNs {
		line("ISBN", s)
	}
	for _, s := range rec.ISSNs {
		line("ISSN", s)
	}
	for _, s := range rec.Subjects {
		line("Subject", s)
	}
	line("MMS ID", rec.MMSID)
	for _, h := range rec.Holdings {
		line("Held by", strings.TrimSpace(h.Institution+" "+strings.Join(h.Types, ", ")))
	}
	b.WriteString("\n")
	for _, f := range rec.Fields() {
		b.WriteString(f.Tag + " ")
		if f.Subfields == nil {
			b.WriteString(f.Value + "\n")
			continue
		}
		b.WriteString(blank(f.Ind1) + blank(f.Ind2))
		for _, s := range f.Subfields {
			b.WriteString(" $" + s.Code + " " + s.Value)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func blank(s string) string {
	if s == "" || s == " " {
		return "_"
	}
	return s
}
