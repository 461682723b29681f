package gateway

import (
	"bytes"
	_ "embed"
	"encoding/json"

	"github.com/gofiber/fiber/v2"
)

// opacPage is the search page at / (issue 15): plain HTML, CSS and
// JavaScript on the JSON feed, with no external assets, so that it is both
// a working catalogue view and the reference client an OPAC developer
// copies.
//
//go:embed web/opac.html
var opacPage []byte

// membersMarker is where the page expects the members' names: the page
// shows "Central Library (01NET_INST)" instead of a bare code.
var membersMarker = []byte(`<script id="members" type="application/json">{}</script>`)

// handleOPAC serves the page with this network's member names filled in.
func (s *Server) handleOPAC() fiber.Handler {
	names := map[string]string{}
	for _, m := range s.cfg.Members {
		if m.Name != "" {
			names[m.Code] = m.Name
		}
	}
	js, _ := json.Marshal(names) // escapes <, > and &: safe inside <script>
	page := bytes.Replace(opacPage, membersMarker, append(append([]byte(`<script id="members" type="application/json">`), js...), "</script>"...), 1)
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		c.Set("Cache-Control", "no-cache")
		// Only the gateway itself: no CDN, no font, no tracker can load.
		c.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'")
		c.Set("X-Content-Type-Options", "nosniff")
		return c.Send(page)
	}
}
