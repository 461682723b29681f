package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/almanet/gateway/idempotency"
	"github.com/almanet/gateway/internal/ident"
	"github.com/almanet/gateway/writes"
)

// Alma's webhooks (SPEC 12). Alma first checks the URL with GET
// ?challenge=X and expects {"challenge":"X"} back; then it POSTs events as
// JSON, signed in X-Exl-Signature: Base64 of HMAC-SHA256 over the raw body
// with the secret configured in Alma's webhook integration profile (here
// ALMA_WEBHOOK_SECRET). The signature is checked over the bytes as
// received, before the body is parsed, in constant time; without a secret
// every event is refused, as an unsigned event could purge the cache at
// will.
//
// A BIB event names the record in bib.mms_id, an ITEM event in
// item.bib_data.mms_id: the cached answers tagged with that MMS ID (the
// record, its availability, the search pages holding it) are purged on
// every replica, and a record that was cached is fetched again in the
// background, so that the next reader does not pay the miss. The answer
// goes out as soon as the purge is done: Alma waits at most 5 s.

// almaEvent is the part of Alma's webhook JSON the gateway reads.
type almaEvent struct {
	ID          string `json:"id"`
	Time        string `json:"time"` // when Alma sent it (RFC 3339)
	Action      string `json:"action"`
	Institution struct {
		Value string `json:"value"`
	} `json:"institution"`
	Event struct {
		Value string `json:"value"`
	} `json:"event"`
	Bib *struct {
		MMSID string `json:"mms_id"`
	} `json:"bib"`
	Item *struct {
		BibData struct {
			MMSID string `json:"mms_id"`
		} `json:"bib_data"`
	} `json:"item"`
}

// validSignature checks Alma's signature of body in constant time.
func validSignature(body []byte, header, secret string) bool {
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header))
	if err != nil || secret == "" {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// handleWebhookChallenge answers Alma's URL check.
func (s *Server) handleWebhookChallenge() fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "no-store")
		ch := c.Query("challenge")
		if ch == "" || len(ch) > 1024 || !utf8.ValidString(ch) {
			return s.refuse(c, refused(http.StatusBadRequest, "challenge (1 to 1024 characters) is required"))
		}
		return c.JSON(fiber.Map{"challenge": strings.Clone(ch)})
	}
}

// handleWebhook takes Alma's events, each once (idempotency.Events).
func (s *Server) handleWebhook() fiber.Handler {
	w := s.writing
	var rc *redis.Client
	if s.redis != nil {
		rc = s.redis.Client()
	}
	seen := idempotency.NewEvents(rc, s.now)
	return func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "no-store")
		reqID := strings.Clone(string(c.Response().Header.Peek("X-Request-Id")))
		refuse := func(status int, outcome, msg string) error {
			w.svc.Metrics.Webhook("unknown", outcome)
			w.svc.Audit(writes.Entry{Who: "alma", Operation: "webhook", Status: status, Outcome: outcome, RequestID: reqID})
			return s.refuse(c, refused(status, msg))
		}
		secret := s.cfg.Writes.WebhookSecret
		if secret == "" {
			return refuse(http.StatusServiceUnavailable, "no_secret", "webhooks are refused: ALMA_WEBHOOK_SECRET is not set")
		}
		body := c.Body()
		if len(body) > s.cfg.Writes.MaxWebhookBytes {
			return refuse(http.StatusRequestEntityTooLarge, "too_large", "the event is larger than the gateway accepts")
		}
		sig := string(c.Request().Header.Peek("X-Exl-Signature"))
		if sig == "" || !validSignature(body, sig, secret) {
			return refuse(http.StatusUnauthorized, "bad_signature", "X-Exl-Signature does not match the body")
		}
		var ev almaEvent
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&ev); err != nil {
			return refuse(http.StatusBadRequest, "bad_json", "the event is not Alma's webhook JSON: "+err.Error())
		}
		// A replay is answered 200 (Alma, or whoever replays, need not
		// retry) and counted; nothing is purged or audited again.
		switch seen.First(c.UserContext(), idempotency.EventKey(ev.ID, body), ev.Time) {
		case idempotency.EventReplay:
			w.svc.Metrics.Webhook(webhookAction(ev.Action), "replayed")
			return c.JSON(fiber.Map{"status": "replayed"})
		case idempotency.EventStale:
			w.svc.Metrics.Webhook(webhookAction(ev.Action), "stale")
			return c.JSON(fiber.Map{"status": "stale"})
		}
		var id string
		switch ev.Action {
		case "BIB":
			if ev.Bib != nil {
				id = ev.Bib.MMSID
			}
		case "ITEM":
			if ev.Item != nil {
				id = ev.Item.BibData.MMSID
			}
		default:
			// Job ends, loans, users, requests: nothing the gateway caches.
			w.svc.Metrics.Webhook(webhookAction(ev.Action), "ignored")
			w.svc.Audit(writes.Entry{Who: "alma", Institution: clip(ev.Institution.Value), Operation: "webhook:" + clip(ev.Action), Status: http.StatusOK, Outcome: "ignored", RequestID: reqID})
			return c.JSON(fiber.Map{"status": "ignored"})
		}
		if !validMMSID(id) {
			return refuse(http.StatusBadRequest, "bad_event", ev.Action+" event without a valid MMS ID")
		}
		id = strings.Clone(id)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		// A record that is cached now is in use: fetch it again after the
		// purge. Only NZ records are cached by MMS ID alone ("rec|").
		_, inUse := s.loader.Cached("rec|" + id)
		w.svc.Evict(ctx, []string{id})
		if inUse {
			w.refresh(id)
		}
		w.svc.Metrics.Webhook(ev.Action, "evicted")
		w.svc.Audit(writes.Entry{Who: "alma", Institution: clip(ev.Institution.Value), Operation: "webhook:" + clip(ev.Event.Value), Records: []string{id}, Status: http.StatusOK, Outcome: "evicted", RequestID: reqID})
		return c.JSON(fiber.Map{"status": "ok", "evicted": []string{id}, "refreshing": inUse})
	}
}

// webhookAction is an event's action as a metric label: BIB, ITEM, or
// another sane name; "other" for anything else.
func webhookAction(a string) string {
	if ident.Sane(a, 32) {
		return a
	}
	return "other"
}

// clip bounds a client-controlled string for the log.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToValidUTF8(s, "?")
}

// refresh loads an NZ record into the cache again in the background.
func (w *writing) refresh(id string) {
	w.bg.Add(1)
	go func() {
		defer w.bg.Done()
		ctx, cancel := context.WithTimeout(w.bgCtx, w.timeout)
		defer cancel()
		if _, _, err := w.recs.nzRecord(ctx, id); err != nil {
			w.log.Warn("webhook: refreshing a record failed; the next reader loads it", "mms_id", id, "error", err.Error())
		}
	}()
}
