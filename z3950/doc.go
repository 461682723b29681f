// Package z3950 is the gateway's Z39.50 (ANSI/NISO Z39.50-2003, version 3)
// server: BER over TCP, one goroutine per session, answering from a
// Backend the gateway supplies (SPEC section 10).
//
// The wire: a framer reads one PDU at a time off the connection with its
// own resumable TLV scan, which bounds the PDU's size and nesting before
// anything is decoded and copes with the indefinite lengths real clients
// send; github.com/go-asn1-ber/asn1-ber then decodes the complete frame
// into a packet tree. Z39.50's IMPLICIT context tags carry no decoded
// value in that tree, so the decoder reads their raw content octets
// (integers, booleans, OIDs, bit strings, strings) itself; CHOICEs are
// explicitly tagged and unwrapped one level; records leave in EXTERNALs.
// Responses are built with the same library, bottom up, in definite
// lengths.
//
// Queries: a Type-1 (or 101) RPN query in the Bib-1 attribute set is
// turned into CQL by a fixed attribute table (rpn.go), and that CQL, like
// a Type-104 CQL query, goes through sru.ParseQuery against the gateway's
// index set, so a Z39.50 search is exactly the canonical search the SRU
// server would make, with the same cache keys. Every attribute, operator
// or term the table cannot express gets its precise Bib-1 diagnostic.
//
// Sessions: Init negotiates version 3, the options served (search,
// present, delSet, namedResultSets) and the message and record sizes.
// Result sets are named, per session, bounded in number and expire; a
// result set holds the canonical query and hit count, and Present asks
// the Backend for the records again (the gateway's cache answers). A
// malformed PDU ends its session with a Close (protocol error) and
// nothing else; idle sessions are closed with a Close (lack of activity).
package z3950
