// Package staff is who may use the staff routes (SPEC 11) and how they
// prove it: the configured principals (the admin token, the staff tokens),
// their constant-time lookup, the signed session cookies every replica
// sharing GATEWAY_SESSION_KEY accepts, the sign-out epochs (shared through
// Redis), and the bound on failed attempts per client. It knows nothing of
// HTTP servers: the gateway's middleware asks it.
package staff

// Principal is who a staff request acts as (SPEC 11 and 12): the admin
// token acts for every institution, a staff token for its own only.
type Principal struct {
	// Name is the staff entry's name from the YAML, or "admin".
	Name string
	// Institution is the member code a staff token is bound to; empty for
	// the admin token and for staff bound to all institutions.
	Institution string
	// Admin is true for the admin token (and for loopback clients while no
	// token is configured).
	Admin bool
}

// MayActFor reports whether p may act for the member institution code.
func (p Principal) MayActFor(code string) bool {
	return p.Admin || p.Institution == "" || p.Institution == code
}
