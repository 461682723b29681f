package config

import (
	"errors"
	"time"
)

// WritesConfig tunes the network write workflows and Alma's webhooks (SPEC
// 12). YAML key: writes.
type WritesConfig struct {
	// WebhookSecret is the secret Alma signs webhooks with
	// (ALMA_WEBHOOK_SECRET, environment only). Empty means POST
	// /webhooks/alma is refused (503): an unsigned event is never trusted.
	WebhookSecret string `yaml:"-"`
	// IdempotencyTTL is how long an Idempotency-Key and its answer are kept.
	// Zero means 24h.
	IdempotencyTTL Duration `yaml:"idempotency_ttl"`
	// IdempotencyMaxKeys bounds the in-process key store (the Redis store is
	// bounded by its TTL). Zero means 100000.
	IdempotencyMaxKeys int `yaml:"idempotency_max_keys"`
	// MaxBodyBytes bounds a write's request body (a local-fields record, a
	// PO line, a request). Zero means 64 KiB; it is also capped by
	// limits.max_body_bytes, which Fiber applies to every request.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxWebhookBytes bounds a webhook event's body. Zero means 1 MiB (it
	// needs limits.max_body_bytes at least as large to take effect; events
	// past the global limit are refused by Fiber with 413).
	MaxWebhookBytes int `yaml:"max_webhook_bytes"`
}

func (w *WritesConfig) applyDefaults() {
	if w.IdempotencyTTL == 0 {
		w.IdempotencyTTL = Duration(24 * time.Hour)
	}
	if w.IdempotencyMaxKeys == 0 {
		w.IdempotencyMaxKeys = 100000
	}
	if w.MaxBodyBytes == 0 {
		w.MaxBodyBytes = 64 << 10
	}
	if w.MaxWebhookBytes == 0 {
		w.MaxWebhookBytes = 1 << 20
	}
}

func (w *WritesConfig) validate() error {
	switch {
	case w.IdempotencyTTL.D() < time.Minute:
		return errors.New("config: writes.idempotency_ttl must be at least 1m")
	case w.IdempotencyMaxKeys < 1:
		return errors.New("config: writes.idempotency_max_keys must be positive")
	case w.MaxBodyBytes < 1024:
		return errors.New("config: writes.max_body_bytes must be at least 1024")
	case w.MaxWebhookBytes < 1024:
		return errors.New("config: writes.max_webhook_bytes must be at least 1024")
	}
	return nil
}
