// Package ident checks the identifiers clients and Alma send that the
// gateway keeps, logs or passes on (request ids, Idempotency-Keys, webhook
// event ids and actions, PO line profile codes): letters, digits, '-', '_'
// and '.', of a bounded length, so that none can carry markup, a header
// break or a Redis key of its own making.
package ident

// Sane reports whether s is 1 to max such characters.
func Sane[T string | []byte](s T, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.') {
			return false
		}
	}
	return true
}
