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
package sru
