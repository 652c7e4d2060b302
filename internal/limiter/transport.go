package limiter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/sony/gobreaker/v2"
)

// errNotCounted marks an outcome the breakers exclude: it says nothing
// about the upstream's health.
var errNotCounted = errors.New("outcome not counted")

// errProbing says why a half-open breaker refuses a request: gobreaker's
// "too many requests" would read like a 429.
var errProbing = errors.New("half-open, probes under way")

// Transport returns a RoundTripper that sends each request through the
// breaker of the group that group(req) names (OtherGroup if unknown) to
// next. While that breaker refuses requests, it returns an error wrapping
// ErrOpen, closes the request's body, and never calls next.
func (b *Breakers) Transport(next http.RoundTripper, group func(*http.Request) string) http.RoundTripper {
	if next == nil || group == nil {
		panic("limiter: Transport with a nil RoundTripper or group function")
	}
	return &transport{b: b, next: next, group: group}
}

// transport is the RoundTripper that Breakers.Transport returns.
type transport struct {
	b     *Breakers
	next  http.RoundTripper
	group func(*http.Request) string
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	name := t.group(req)
	done, err := t.b.group(name).cb.Allow()
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // RoundTrip must close it, even on errors.
		}
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			err = errProbing
		}
		return nil, fmt.Errorf("%w: group %s: %w", ErrOpen, name, err)
	}
	reported := false
	defer func() {
		if !reported { // next panicked.
			done(errors.New("round trip panicked"))
		}
	}()
	resp, err := t.next.RoundTrip(req)
	reported = true
	switch {
	case err != nil:
		done(outcome(req.Context(), err))
		return nil, err
	case resp.StatusCode >= 500:
		done(fmt.Errorf("upstream answered %d", resp.StatusCode))
	case resp.StatusCode == http.StatusTooManyRequests:
		// A 429 is the upstream's rate limiter speaking: it says nothing
		// about whether the API behind it works. The Budget pauses on it.
		done(errNotCounted)
	case resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil:
		// An upgraded connection's body must stay an io.ReadWriteCloser.
		done(nil)
	default:
		resp.Body = &reportingBody{body: resp.Body, ctx: req.Context(), done: done}
	}
	return resp, nil
}

// outcome returns err, from a request on ctx, as the breaker must see it:
// excluded if the caller went away, a failure otherwise (a timeout, a
// refused, reset or dropped connection).
func outcome(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%w: %w", errNotCounted, err)
	}
	return err
}

// reportingBody reports a response's outcome to its breaker when its body
// ends: a success at EOF or at a Close after clean reads, what outcome
// makes of the error if a read fails.
type reportingBody struct {
	body io.ReadCloser
	ctx  context.Context
	once sync.Once
	done func(error)
}

func (r *reportingBody) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	switch {
	case err == io.EOF:
		r.report(nil)
	case err != nil:
		r.report(outcome(r.ctx, err))
	}
	return n, err
}

func (r *reportingBody) Close() error {
	err := r.body.Close()
	r.report(nil)
	return err
}

func (r *reportingBody) report(err error) {
	r.once.Do(func() { r.done(err) })
}
