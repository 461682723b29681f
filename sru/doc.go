// Package sru speaks the SRU protocol on both sides of the gateway.
//
// As a server it turns a request's parameters (SRU 1.1, 1.2 or 2.0) into a
// validated [Request]: the CQL query is parsed with cql-go, checked against
// an [IndexSet] (read from Alma's explain, or the built-in default), and
// re-serialized into one canonical spelling that is both what goes to Alma
// and what the gateway's cache keys on. Anything a client got wrong is
// answered with a [Diagnostic] before Alma is ever called. The writers then
// produce searchRetrieve, explain and diagnostic responses in the namespaces,
// element names and element order of the version asked for; records arrive
// as ready XML bytes and are embedded (or escaped) as they are.
//
// As Alma's client, [Client] calls Alma's SRU endpoint and [ParsePage] reads
// its envelope with a byte scanner rather than a DOM: it finds each
// record's element inside recordData and hands back its exact bytes, so the
// hot path costs one pass over the body and one copy per record.
//
// Decisions where the standards leave room:
//
//   - A term without an index (cql.serverChoice, also cql.anywhere and
//     cql.keywords) searches alma.all_for_ui, Alma's keyword index. An
//     index without a prefix belongs to the first context set Alma's
//     explain declares ("alma"): title means alma.title.
//   - Canonical CQL: index, relation, boolean and modifier names in lower
//     case; "scr" written "=" and "exact" written "==" (CQL 1.2); every
//     search term in double quotes; no spaces around symbolic relations,
//     single spaces around named relations and booleans; parentheses only
//     around a boolean on the right. Terms keep their case and content.
//     The cache key is Request.Canonical plus Request.SortKey.
//   - Sorting: Alma sorts on one index marked sortable in its explain, in
//     the form "sortBy alma.title/sort.ascending". CQL sortBy and the
//     sortKeys parameter (SRU 1.1 syntax, accepted in every version) map to
//     that; anything else is a diagnostic from the 80 series, and both at
//     once is 96.
//   - A record that is not a namespace-well-formed element (Alma bytes with
//     an undeclared prefix, a stray DOCTYPE, a broken tag) is not embedded:
//     it is sent escaped, with recordPacking (2.0: recordXMLEscaping)
//     "string" on that record, so the response always stays well-formed.
//     Characters XML 1.0 forbids are dropped from everything written.
//   - SRU 2.0: no version element; recordXMLEscaping carries xml/string,
//     recordPacking "packed" (or, leniently, 1.2's xml/string when
//     recordXMLEscaping is absent); scan answers in the scan
//     namespace; an explain diagnostic carries an empty explain record,
//     which sruResponse.xsd requires. recordIdentifier is written in 1.2
//     only (1.1 and 2.0 have no such element).
package sru
