package search

import (
	"context"

	"github.com/almanet/gateway/upstream"
)

// guardedTarget is a Target behind its upstream's guard: the circuit
// breaker, the whole-call deadline and the error classification of
// package upstream (the call budget is spent per HTTP attempt by the guard's
// transport). Every Target the pipeline calls is wrapped this way.
type guardedTarget struct {
	g *upstream.Guard
	t Target
}

// guarded wraps t in g.
func Guarded(g *upstream.Guard, t Target) Target { return &guardedTarget{g: g, t: t} }

// Search implements Target: one guarded call, however many pages t fetches.
func (gt *guardedTarget) Search(ctx context.Context, q TargetQuery) (*TargetPage, error) {
	var page *TargetPage
	err := gt.g.Do(ctx, func(ctx context.Context) error {
		var err error
		page, err = gt.t.Search(ctx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}
