package proxy

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/rzpgate/rzpgate/internal/cache"
)

// writeStale answers from an expired entry, for reason: the upstream failed
// ("stale-if-error"), its breaker is open ("breaker-open"), the budget is
// spent ("budget"), or a background fetch is refreshing it
// ("stale-while-revalidate"). Its Cache-Status is a hit with RFC 9211's
// negative ttl (section 2.4: the response is stale by that many seconds),
// a stale flag and the reason, and Age is the entry's true age.
func (h *Handler) writeStale(w http.ResponseWriter, r *http.Request, e *cache.Entry, now time.Time, reason string) (int, bool) {
	// Stale by any part of a second is a ttl of at least -1: -0 would read
	// as fresh.
	past := ceilSeconds(now.Sub(e.Expires()))
	status := []string{cacheStatusName + "; hit; stale; ttl=" + strconv.FormatInt(-past, 10) + "; detail=" + reason}
	status2, ok := h.writeHit(w, r, e, now, status)
	if ok {
		h.metrics.stale[reason].Inc()
	}
	return status2, ok
}

// revalidate refreshes an entry in the background after its stale copy was
// served (stale-while-revalidate). It joins a fill of the same key already
// in flight, and like any fill goes through the budget and the breaker.
func (h *Handler) revalidate(r *http.Request, rt route, entity, key string) {
	// One revalidation per key at a time: every stale hit while it runs
	// would otherwise start a goroutine to wait on it.
	if _, busy := h.revalidating.LoadOrStore(key, struct{}{}); busy {
		return
	}
	rc := r.Clone(context.Background()) // detached: r ends with its response
	go func() {
		defer h.revalidating.Delete(key)
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		defer cancel()
		fence, err := h.store.Fence(ctx)
		if err != nil {
			return // without a fence nothing could be stored
		}
		flight := key + "|" + strconv.FormatUint(fence.Epoch, 10) + "|" + strconv.FormatUint(h.purges.Load(), 10)
		res, _, _ := h.flights.Do(flight, func() (any, error) {
			return h.fetchFill(rc, rt, entity, key, fence, true, false), nil
		})
		if res := res.(*fillResult); res.origin == rc && res.release != nil {
			res.release() // a body too large to store; nobody reads it
		}
	}()
}
