package gateway

import "context"

// guardedTarget is a Target behind its upstream's guard: the circuit
// breaker, the whole-call deadline and the error classification of
// upstream.go (the call budget is spent per HTTP attempt by the guard's
// transport). Every Target the pipeline calls is wrapped this way.
type guardedTarget struct {
	g *guard
	t Target
}

// guarded wraps t in g.
func guarded(g *guard, t Target) Target { return &guardedTarget{g: g, t: t} }

// Search implements Target: one guarded call, however many pages t fetches.
func (gt *guardedTarget) Search(ctx context.Context, q TargetQuery) (*TargetPage, error) {
	var page *TargetPage
	err := gt.g.do(ctx, func(ctx context.Context) error {
		var err error
		page, err = gt.t.Search(ctx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}
