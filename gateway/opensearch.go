package gateway

import (
	"bytes"
	"encoding/xml"

	"github.com/gofiber/fiber/v2"
)

// handleOpenSearch serves /opensearch.xml: an OpenSearch 1.1 description
// (https://github.com/dewitt/opensearch, "OpenSearch description
// document") with URL templates for the search page, the JSON feed and
// SRU, so a browser can add the catalogue as a search engine and a client
// can find the feed.
//
// Optional template parameters ({startIndex?}) are avoided: a client fills
// an optional parameter it does not know with the empty string, and the
// feed answers an empty start 400. The feed's and SRU's paging parameters
// are therefore required ones, which every OpenSearch client can fill
// (startIndex from 1, count as it likes).
func (s *Server) handleOpenSearch() fiber.Handler {
	return func(c *fiber.Ctx) error {
		base, fromHost := s.publicBase(c) // GATEWAY_PUBLIC_URL, else the request's Host
		var b bytes.Buffer
		esc := func(v string) {
			_ = xml.EscapeText(&b, []byte(v))
		}
		url := func(typ, rel, tmpl string) {
			b.WriteString(`  <Url type="`)
			esc(typ)
			if rel != "" {
				b.WriteString(`" rel="`)
				esc(rel)
			}
			b.WriteString(`" indexOffset="1" template="`)
			esc(base + tmpl)
			b.WriteString("\"/>\n")
		}
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		b.WriteString(`<OpenSearchDescription xmlns="http://a9.com/-/spec/opensearch/1.1/">` + "\n")
		b.WriteString("  <ShortName>Alma network</ShortName>\n")
		b.WriteString("  <Description>Search the network's shared catalogue and see which members hold each title.</Description>\n")
		b.WriteString("  <Tags>library catalogue Alma SRU</Tags>\n")
		url("text/html", "results", "/?q={searchTerms}")
		url("application/json", "results", "/v1/search?q={searchTerms}&start={startIndex}&limit={count}")
		// SRU 2.0's searchTerms query type reads the terms by the feed's
		// keyword rules (sru.KeywordsCQL), and httpAccept makes the answer
		// the media type the template names (issue 22).
		url("application/sru+xml", "results", "/sru?version=2.0&operation=searchRetrieve&queryType=searchTerms&query={searchTerms}&httpAccept=application/sru%2Bxml&startRecord={startIndex}&maximumRecords={count}")
		url("application/opensearchdescription+xml", "self", "/opensearch.xml")
		b.WriteString("  <Query role=\"example\" searchTerms=\"history\"/>\n")
		b.WriteString("  <SyndicationRight>open</SyndicationRight>\n")
		b.WriteString("  <AdultContent>false</AdultContent>\n")
		b.WriteString("  <InputEncoding>UTF-8</InputEncoding>\n")
		b.WriteString("  <OutputEncoding>UTF-8</OutputEncoding>\n")
		b.WriteString("</OpenSearchDescription>\n")
		c.Set(fiber.HeaderContentType, "application/opensearchdescription+xml; charset=utf-8")
		if fromHost {
			// Built from the client's Host: only that client's (as explain).
			c.Set("Cache-Control", "private, max-age=3600")
			c.Vary("Host")
		} else {
			c.Set("Cache-Control", "public, max-age=3600")
		}
		return c.Send(b.Bytes())
	}
}
