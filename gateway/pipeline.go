package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/almanet/gateway/cache"
	"github.com/almanet/gateway/sru"
)

// Searcher is the one search step every front end calls (the JSON feed,
// SRU, and the Z39.50 and federated front ends): cache → singleflight
// coalesce → re-check → target → render (DESIGN.md "The pipeline"). What
// it caches is the finished answer of one surface for one key, status,
// content type, ETag and body together, so a hit is a lookup and a write.
// It knows nothing of Fiber: a front end turns its request into a
// SearchRequest and writes the Answer in its own protocol.
type Searcher struct {
	loader  *cache.Loader
	life    cache.Lifetime // a search answer's lifetime
	diagTTL time.Duration  // the lifetime of an answer carrying target diagnostics
	wait    time.Duration  // how long a caller waits for a miss
	now     func() time.Time
	log     *slog.Logger
}

// SearcherOptions configure a Searcher.
type SearcherOptions struct {
	Loader *cache.Loader // required
	// Life is the lifetime of an answer; DiagnosticTTL the fresh lifetime
	// of one whose target answered with diagnostics.
	Life          cache.Lifetime
	DiagnosticTTL time.Duration
	// Wait is how long Search waits for a miss before giving up (the load
	// goes on and fills the cache).
	Wait   time.Duration
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// NewSearcher returns the search step over a read-through cache.
func NewSearcher(opt SearcherOptions) *Searcher {
	s := &Searcher{loader: opt.Loader, life: opt.Life, diagTTL: opt.DiagnosticTTL, wait: opt.Wait, now: opt.Now, log: opt.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.wait <= 0 {
		s.wait = 15 * time.Second
	}
	return s
}

// SearchRequest is one search as the pipeline runs it.
type SearchRequest struct {
	// Key is the cache key of the finished answer: it names the surface,
	// every rendering option and the canonical query, so that two requests
	// with the same key get the same bytes.
	Key string
	// Target answers the query on a miss.
	Target Target
	Query  TargetQuery
	// Render turns the target's page into the finished answer; it runs
	// once per miss, never on a hit.
	Render func(*TargetPage) Rendered
	// Life overrides the Searcher's lifetime when Fresh > 0.
	Life cache.Lifetime
}

// Rendered is a finished answer as a renderer makes it.
type Rendered struct {
	Status      int // HTTP status; 0 means 200
	ContentType ContentType
	// Body is the answer's bytes. For ContentJSON it is the JSON object
	// left open before its "meta" member, which is added per request.
	Body []byte
	// Tags name the answer for purges ("q:" + canonical query, "mms:" + id).
	Tags []string
	// Diagnostic marks an answer carrying a target's diagnostics: it is
	// kept for the short diagnostic lifetime only.
	Diagnostic bool
	// Uncached marks an answer that must not be stored: a part of it
	// failed for a passing reason (live availability unreachable), and
	// the next request should try again.
	Uncached bool
}

// Search answers req: from the cache when it holds the key (a hit costs a
// lookup, no allocation, no timer), else through the key's single flight
// to the target and the renderer. The Answer shares the cache's bytes and
// must not be modified. An error is the target's (or the deadline's) and
// is never cached; ErrorAnswer maps it.
func (s *Searcher) Search(ctx context.Context, req *SearchRequest) (Answer, CacheView, error) {
	life := req.Life
	if life.Fresh <= 0 {
		life = s.life
	}
	// One clock read serves the cache's freshness check and the answer's
	// Age (CacheView.At): a hit reads the clock once.
	now := s.now()
	if res, ok := s.loader.CachedAt(req.Key, now); ok {
		return s.answerAt(res, life, now)
	}
	ctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	res, err := s.loader.Get(ctx, req.Key, life, func(ctx context.Context) (cache.Loaded, error) {
		page, err := req.Target.Search(ctx, req.Query)
		if err != nil {
			return cache.Loaded{}, err
		}
		return s.loaded(req.Render(page)), nil
	})
	if err != nil {
		return Answer{}, CacheView{}, err
	}
	return s.answerOf(res, life)
}

// Load is Search for an answer that is not one target's page (a record
// with its live availability, a member's local-then-network view): load
// makes the finished answer on a miss.
func (s *Searcher) Load(ctx context.Context, key string, life cache.Lifetime, load func(ctx context.Context) (Rendered, error)) (Answer, CacheView, error) {
	now := s.now()
	if res, ok := s.loader.CachedAt(key, now); ok {
		return s.answerAt(res, life, now)
	}
	ctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	res, err := s.loader.Get(ctx, key, life, func(ctx context.Context) (cache.Loaded, error) {
		r, err := load(ctx)
		if err != nil {
			return cache.Loaded{}, err
		}
		return s.loaded(r), nil
	})
	if err != nil {
		return Answer{}, CacheView{}, err
	}
	return s.answerOf(res, life)
}

func (s *Searcher) loaded(r Rendered) cache.Loaded {
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	l := cache.Loaded{Value: packAnswer(r), Cache: !r.Uncached, Tags: capTags(r.Tags)}
	if r.Diagnostic {
		l.Life = &cache.Lifetime{Fresh: s.diagTTL}
	}
	return l
}

func (s *Searcher) answerOf(res cache.Result, life cache.Lifetime) (Answer, CacheView, error) {
	return s.answerAt(res, life, s.now())
}

// answerAt is answerOf with the clock read at now.
func (s *Searcher) answerAt(res cache.Result, life cache.Lifetime, now time.Time) (Answer, CacheView, error) {
	a, ok := unpackAnswer(res.Value)
	if !ok {
		return Answer{}, CacheView{}, errCorruptEntry
	}
	return a, viewOf(res, life, now), nil
}

// maxEntryTags is how many tags the cache keeps on one entry. A list longer
// than that is tagged with its query and its first records only: purging
// one of its later records by MMS ID leaves the list to expire with its
// lifetime (the record's own entries are purged).
const maxEntryTags = 64

func capTags(tags []string) []string {
	return tags[:min(len(tags), maxEntryTags)]
}

// ErrorAnswer is the one error mapping (answer.go) for front ends outside
// the Fiber app: the HTTP status, the SRU diagnostic and the retry hint
// that err is answered with. route names the front end in the log.
func (s *Searcher) ErrorAnswer(route string, err error) (status int, diag sru.Diagnostic, retryAfter time.Duration) {
	a := errorAnswer(s.log, route, err)
	return a.status, a.diag, a.retryAfter
}
