// Package federate merges the answers of several search targets into one
// de-duplicated, ranked list (SPEC 9.4). It knows records (transform) and
// nothing of HTTP, caches or the targets themselves: the gateway fans out,
// collects each target's records as a Source, and hands them to Merge.
//
// Clustering is a union-find over every record of every source. First each
// record emits its identifiers as keys, and records sharing a key are joined,
// in SPEC order: the NZ MMS ID (an NZ record's 001, an IZ record's 035
// (EXLNZ-…)), an IZ MMS ID (an IZ record's 001 against an NZ record's 852 $6
// for that member), the CZ ID (035 (EXLCZ)), the OCLC number (035 (OCoLC),
// prefixes and leading zeros dropped), a normalized ISBN (ISBN-10 written as
// ISBN-13) and ISSN; an ISBN that names no one work (a set's, one on several
// records of one target, one on records of different volumes) joins
// nothing. Joining is transitive: every record that shares an identifier
// with another lands in its cluster. Then clusters with no identifier in
// common are joined by a work key (main title, volume, first author's
// surname and forename initial, year; normalize.go and the README's "How
// federated records are merged" say how each is folded), but only when
// that cannot be wrong by what is known:
// never when the two clusters hold records of one target (two records of one
// target are never merged by the key alone) and never when both carry
// identifiers of one kind that differ (two NZ MMS IDs are two works).
//
// A cluster's bibliographic fields are its preferred record's: the nz
// source's, else the highest weight's, else the first source's (in the order
// given), the earliest position breaking ties. Its holdings are the union
// over its records of member-availability 852s, plus one holding per IZ
// source's record for that member (types from its AVA/AVE/AVD), merged per
// institution; its sources list every record as (target, id).
//
// Ranking is deterministic: relevance scores query terms found in the title
// (weight 8) above the authors (4), above the subjects (2), above the rest
// (publisher, year, identifiers: 1), times the highest source weight; ties go
// to the cluster held by more members, then to more sources, then to the
// better position, then to the first source's order and identifier, so the
// same inputs always give the same order. Sorts by date (newest first), title
// and position (the best position in any source, interleaving the targets)
// fall back to that same order. Facets count the merged clusters.
package federate
