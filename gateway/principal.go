package gateway

import "github.com/gofiber/fiber/v2"

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

// principalKey is the fiber.Ctx Locals key under which the staff
// middleware stores the request's Principal.
const principalKey = "gateway.principal"

// principalOf returns the Principal the staff middleware authenticated for
// this request, and false on a route the middleware did not guard.
func principalOf(c *fiber.Ctx) (Principal, bool) {
	p, ok := c.Locals(principalKey).(Principal)
	return p, ok
}
