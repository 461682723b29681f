// Package almasim is a simulated Ex Libris Alma network: a real HTTP server
// that answers SRU searchRetrieve/explain at /view/sru/<code> and the Bibs API
// at /almaws/v1/bibs/{mms_id} in Alma's own formats and with Alma's quirks
// (SPEC section 7), for the gateway's -demo mode, its end-to-end and fault
// tests and its benchmarks.
//
// New generates the whole network from a seed, once: a Network Zone of
// bibliographic records whose member-availability 852s name the member
// institutions that hold them, and for each member an Institution Zone with
// its own copy of each held record (001 = the member's MMS ID, 035
// (EXLNZ-<network>) pointing back to the NZ record) and the member's
// inventory (AVA/AVE/AVD). Every record's MARCXML is rendered to bytes at
// New, and every zone gets an inverted index (word postings, exact-value
// postings, sorted term lists for right truncation, sort keys), so that a
// search is a few postings merges and an answer is a copy of ready bytes.
//
// Generation is deterministic: the same Config gives the same records, MMS
// IDs and API keys byte for byte. The first few NZ records are fixed
// showcases (held by every member, held by nobody, MARC in no namespace,
// legacy cataloguing 852s, CJK and escaped titles) so that a small network
// still contains every case; the rest are drawn from the seed.
//
// Faults (slow, 500, 429, malformed, truncated, hang, reset) are set per
// endpoint from Go (SetFault) or over HTTP (POST /_sim/faults, loopback
// clients only) and apply to the next requests; every request is counted and
// kept in a bounded log, faulted ones included.
//
// One record breaks XML 1.0 on purpose: ControlCharMMSID names an NZ record
// whose title holds U+0001, U+000B and U+FFFE. It is reachable only by
// alma.mms_id (and the Bibs API), never by any other search, so that the
// gateway can test its stripping while ordinary answers stay well-formed, as
// Alma's are.
package almasim
