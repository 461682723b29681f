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
// For federation (SPEC 9) each member's IZ also holds a few local-only
// records the network lacks (no (EXLNZ-…) link), and beside Alma the
// simulator serves an external SRU 2.0 target at /ext/sru (ExternalTarget):
// a union catalogue with the dc.* and bath.* index sets and its own explain,
// whose records copy some NZ records under their own 001 and share an ISBN
// (hyphenated or as ISBN-10), an ISSN, an OCLC number ((OCoLC)ocm…) or, for
// records with no identifier, only title, author and year, and carry no 852s;
// plus records of its own. Both are drawn after the network from their own
// seeded sources. Work (and /_sim/works) is the ground truth of which
// records are copies of one work, for measuring a merge.
//
// Faults (slow, 500, 429, malformed, truncated, hang, reset) are set per
// endpoint from Go (SetFault) or over HTTP (POST /_sim/faults, loopback
// clients only) and apply to the next requests; SetTargetFault (or "target"
// in the POST) faults one SRU target alone (the NZ, one member's IZ, or the
// external target) and wins over the endpoint's fault. Every request is
// counted (per endpoint and per SRU target, CountTarget) and kept in a
// bounded log, faulted ones included.
//
// One record breaks XML 1.0 on purpose: ControlCharMMSID names an NZ record
// whose title holds U+0001, U+000B and U+FFFE. It is reachable only by
// alma.mms_id (and the Bibs API), never by any other search, so that the
// gateway can test its stripping while ordinary answers stay well-formed, as
// Alma's are.
//
// Where the samples and the documentation at hand are silent, the simulator
// decides, and these decisions are what the gateway's tests meet:
//   - maximumRecords above 50 is capped to 50 (no diagnostic); startRecord
//     above 10,000, or past the last hit, is diagnostic 61; no
//     nextRecordPosition points past 10,000.
//   - Every SRU diagnostic has the shape of Alma's bare-number one
//     (searchRetrieveResponse, diag: prefix, no XML declaration, HTTP 200).
//   - A missing or unknown API key is HTTP 400 UNAUTHORIZED "API-key not
//     defined or not configured to allow this API." (as Alma users' fixtures
//     show); a key of another institution than the record's is 402203.
//   - AVD carries $0, $a, $b (representation), $d (label) and $u (link); its
//     other subfields could not be confirmed.
//   - IZ SRU records carry their member's AVA/AVE/AVD (a profile enriched
//     with availability, as in Princeton's answers); NZ SRU records carry
//     the member 852s only; Bibs API records carry no member 852s.
//   - Explain lists Alma's whole index list (internal/almaindex, from a real
//     explain: 391 alma.* and rec.id), and the NZ adds
//     alma.other_system_number_active_035 (not in that capture; almasru
//     uses it against network zones). The indexes the generated records
//     carry data for answer from it (keywords, title, creator, subjects,
//     publisher, series from 490/830, isbn, issn, standard_number, lccn from
//     010, other_system_number and the active 035s, oclc_control_number_035_a
//     from the (OCoLC) 035s, mms_id and rec.id, main_pub_date); every other
//     listed index answers no hits, as Alma's does for a field no record has.
//   - `=` on a word index is a phrase (adjacent words in order), `all` and
//     `any` are word sets, `==` is the whole value, `<>` the complement of
//     `=`; words are case and accent blind; `*` truncates on the right only.
package almasim
