// Package transform turns Alma's MARCXML into every output the gateway
// serves: the JSON feed record (SPEC 3.2), live availability (SPEC 3.3),
// MARCXML records and collections, and Dublin Core.
//
// A record is parsed once, by a hand-written byte scanner rather than
// encoding/xml: markup is located with bytes.IndexByte, element names are
// compared by local name (so the MARC namespace, a marc: prefix, or no
// namespace all read the same), and every decoded value is appended to one
// arena that becomes the Record's backing string. The exported fields and
// the outputs are derived from that, so the feed JSON, the MARCXML and the
// Dublin Core of one record always agree. Values are cleaned while they
// are decoded (invalid UTF-8 becomes U+FFFD, characters XML 1.0 forbids are
// dropped), which keeps every XML output well-formed.
//
// Scanner finds records in a stream (an SRU response or a collection) with
// the same tokenizer, holding one record at a time; Convert builds the
// "gateway convert" command on it.
package transform
