package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/almanet/gateway/idempotency"
	"github.com/almanet/gateway/sru"
	"github.com/almanet/gateway/transform"
	"github.com/almanet/gateway/writes"
)

// The write routes of SPEC 12 and Alma's webhooks. The workflows are
// package writes; this file is their door (each request copied out of
// Fiber into a writes.Request, the writes.Answer written back) and their
// wiring: what the Service consumes, built from the gateway's parts.

// writing holds the write workflows and the webhooks' background work.
type writing struct {
	svc *writes.Service

	recs    *records
	timeout time.Duration
	log     *slog.Logger
	bgCtx   context.Context
	stopBg  context.CancelFunc
	bg      sync.WaitGroup // background refreshes after webhooks
}

// newWriting wires the write workflows to the gateway's Alma client,
// guards, idempotency store (in Redis when configured), cache, registry
// and error mapping.
func newWriting(s *Server) *writing {
	w := &writing{recs: s.recs, timeout: s.cfg.Upstream.Timeout.D(), log: s.log}
	network := ""
	if u, err := url.Parse(s.cfg.SRUURL); err == nil {
		network = u.Path[strings.LastIndexByte(u.Path, '/')+1:]
	}
	onRedis := func(err error) {
		s.log.Warn("idempotency store: redis failed; this replica answers from its own memory", "error", err.Error())
	}
	pending := writes.Pending(w.timeout)
	var idem *idempotency.Store
	if s.redis != nil {
		idem = idempotency.NewStore(s.cfg.Writes.IdempotencyTTL.D(), pending, s.cfg.Writes.IdempotencyMaxKeys, s.redis.Client(), onRedis)
	} else {
		idem = idempotency.NewStore(s.cfg.Writes.IdempotencyTTL.D(), pending, s.cfg.Writes.IdempotencyMaxKeys, nil, onRedis)
	}
	idem.SetClock(s.now)
	d := writes.Deps{
		Guard: func(code string) writes.Guard {
			if g := s.apiGuard[code]; g != nil {
				return g
			}
			return nil // not a nil *upstream.Guard in an interface
		},
		Members: s.cfg.Member,
		Records: nzRecords{s.recs},
		Search: func(ctx context.Context, code, cql string, count int) ([]*transform.Record, bool, error) {
			reg := s.reg.Member(code)
			if reg == nil {
				return nil, false, nil
			}
			page, err := reg.Target.Search(ctx, TargetQuery{CQL: cql, Start: 1, Count: count})
			if err != nil {
				return nil, true, err
			}
			recs := make([]*transform.Record, 0, len(page.Records))
			for _, tr := range page.Records {
				recs = append(recs, tr.Record)
			}
			return recs, true, nil
		},
		Cache:   s.loader,
		Store:   idem,
		Errors:  writeErrors{log: s.log, now: s.now},
		Log:     s.log,
		Metrics: writes.NewMetrics(s.m.reg),
		Now:     s.now,
		Network: network,
		Timeout: w.timeout,
		MaxBody: s.cfg.Writes.MaxBodyBytes,
	}
	if s.api != nil {
		d.Alma = s.api // a nil *alma.Client must not become a non-nil writes.Alma
	}
	w.svc = writes.New(d)
	w.bgCtx, w.stopBg = context.WithCancel(context.Background())
	return w
}

// close ends background refreshes and waits for them.
func (w *writing) close() {
	w.stopBg()
	w.bg.Wait()
}

// nzRecords is the record source as writes.Records.
type nzRecords struct{ recs *records }

func (n nzRecords) NZRecord(ctx context.Context, id string) (*transform.Record, error) {
	rec, _, err := n.recs.nzRecord(ctx, id)
	return rec, err
}

// writeErrors is the one error mapping (errorAnswer) and the one JSON
// error body (errorBody) as writes.Errors.
type writeErrors struct {
	log *slog.Logger
	now func() time.Time
}

func (e writeErrors) Answer(route string, err error) (int, time.Duration, sru.Diagnostic) {
	a := errorAnswer(e.log, route, err)
	return a.status, a.retryAfter, a.diag
}

func (e writeErrors) Body(diags []sru.Diagnostic, alma *writes.AlmaError) []byte {
	return errorBody(nil, diags, alma, e.now(), 0)
}

func (e writeErrors) Refuse(status int, details string) error { return refused(status, details) }

// newWriteHandler is one write endpoint: the request copied out of Fiber,
// op run by svc, its answer written.
func newWriteHandler(svc *writes.Service, op writes.Op) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "no-store")
		c.Set("X-Cache", "MISS")
		in := &writes.Request{
			RequestID: strings.Clone(string(c.Response().Header.Peek("X-Request-Id"))),
			Code:      strings.Clone(c.Params("code")),
			Path:      map[string]string{},
			Params:    queryParams(c),
			URLPath:   strings.Clone(c.Path()),
			CType:     string(c.Request().Header.ContentType()),
			Body:      bytes.Clone(c.Body()),
			IdemKey:   string(c.Request().Header.Peek("Idempotency-Key")),
		}
		in.Who, in.Signed = principalOf(c)
		for _, name := range op.Params() {
			in.Path[name] = strings.Clone(c.Params(name))
		}
		a := svc.Do(op, in)
		setRetryAfter(&c.Response().Header, a.RetryAfter)
		if a.Replayed {
			c.Set("Idempotent-Replayed", "true")
		}
		if a.Location != "" {
			c.Set("Location", a.Location)
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		return c.Status(a.Status).Send(a.Body)
	}
}
