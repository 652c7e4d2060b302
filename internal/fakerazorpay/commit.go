package fakerazorpay

import (
	"context"
	"net/http"
	"time"
)

// SetCommitDelay makes every later write commit d after it arrives. A
// write is a request other than GET that the fake routes to a handler:
// today a QR code PATCH, a QR code creation and an order creation (orders
// are not stored, but are delayed alike). The Server reads and records the
// request, waits d without holding its lock, then computes the whole answer,
// authentication and validation included, and applies it to the state, and
// only then waits the latency and responds. The commit happens at d even if
// the client has gone or cancelled before then, as Razorpay commits a write
// whatever becomes of its client; such a client gets no response.
// PendingCommits and WaitCommits tell tests when the state has caught up.
// Reads and requests answered by a Fault are never delayed. Zero or
// negative means commit on arrival.
func (s *Server) SetCommitDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commitDelay = d
}

// PendingCommits returns how many writes have arrived but not yet
// committed because of the commit delay.
func (s *Server) PendingCommits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// WaitCommits blocks until no write is pending its commit: at most the
// commit delay after the last delayed write arrived.
func (s *Server) WaitCommits() {
	s.mu.Lock()
	for s.pending > 0 {
		committed := s.committed
		s.mu.Unlock()
		<-committed
		s.mu.Lock()
	}
	s.mu.Unlock()
}

// beginCommit counts a write whose commit is delayed. s.mu must be held.
func (s *Server) beginCommit() {
	s.pending++
	if s.committed == nil {
		s.committed = make(chan struct{})
	}
}

// endCommit counts a delayed write as committed and wakes WaitCommits.
// s.mu must be held.
func (s *Server) endCommit() {
	s.pending--
	close(s.committed)
	s.committed = nil
	if s.pending > 0 {
		s.committed = make(chan struct{})
	}
}

// isWrite reports whether r is routed to a handler that may change state.
func isWrite(r *http.Request) bool {
	if r.Method == http.MethodGet {
		return false
	}
	ep, _ := route(r.URL.Path)
	return ep[r.Method] != nil
}

// commitAfter answers the write r after d, under s.mu, in a goroutine of
// its own so that the write commits even if r's client goes away first. It
// reports false if r's context ended before the commit. The caller has
// called beginCommit for r.
func (s *Server) commitAfter(d time.Duration, r *http.Request, body []byte, readErr error) (response, bool) {
	ctx := r.Context()
	// The commit may outlive ServeHTTP, after which r belongs to net/http
	// again, so it works on a copy whose context never ends.
	r = r.Clone(context.WithoutCancel(ctx))
	done := make(chan response, 1) // Buffered: nobody receives once the client has gone.
	time.AfterFunc(d, func() {
		s.mu.Lock()
		resp := s.respond(r, body, readErr)
		s.endCommit()
		s.mu.Unlock()
		done <- resp
	})
	select {
	case resp := <-done:
		return resp, true
	case <-ctx.Done():
		return response{}, false
	}
}
