// Package cache stores upstream responses for the gateway, tagged with the
// Razorpay entity ids they contain so that a write can purge them.
package cache

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// ErrMiss is returned by Store.Get when no entry is kept for a key.
var ErrMiss = errors.New("cache miss")

// ErrFenced is returned by Store.Set when one of the entry's tags was purged
// after the fill's Fence was taken: the body may predate the purge, so storing
// it could serve a stale read after a write has returned (issue #2).
var ErrFenced = errors.New("fill fenced by a purge")

// ErrHeld is returned by Store.Set when one of the entry's tags is held:
// a write that may change it had an unknown outcome (a timeout, a dropped
// connection, a 5xx) and may still commit upstream, so nothing tagged with
// it is stored until the hold ends (issue #6).
var ErrHeld = errors.New("fill refused: a write with an unknown outcome holds a tag")

// Entry is one stored response. It is immutable once handed to a Store:
// stores and callers share it without copying, so neither may modify it.
type Entry struct {
	// Status is the HTTP status code; the gateway stores only 200s today.
	Status int
	// Header holds the headers worth replaying, describing Body exactly as
	// stored: Content-Type, Content-Length, and Content-Encoding when the
	// body is stored compressed. Hop-by-hop and per-response headers (Date,
	// Set-Cookie) are never stored.
	Header http.Header
	// Body is the response body, encoded as Header's Content-Encoding says.
	Body []byte
	// Tags are the Razorpay entity ids the body contains (qr_..., cust_...),
	// used as surrogate keys by Purge. They are not credentials.
	Tags []string
	// StoredAt is when the response was received from the upstream.
	StoredAt time.Time
	// TTL is the freshness lifetime from StoredAt.
	TTL time.Duration
	// Stale is how long past its TTL the entry is kept, to answer when the
	// upstream fails (stale-if-error, issue #7). Stores keep the entry, and
	// Get returns it, until KeepUntil; callers tell a fresh entry from a
	// stale one with Expires.
	Stale time.Duration
}

// Expires reports when e stops being fresh.
func (e *Entry) Expires() time.Time { return e.StoredAt.Add(e.TTL) }

// KeepUntil reports when e stops being kept, fresh or stale.
func (e *Entry) KeepUntil() time.Time { return e.StoredAt.Add(e.TTL + max(e.Stale, 0)) }

// Size approximates the bytes e occupies, for byte-bounded stores.
func (e *Entry) Size() int {
	n := len(e.Body) + 64
	for k, vs := range e.Header {
		n += len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	for _, t := range e.Tags {
		n += len(t) + 16
	}
	return n
}

// Fence is what a fill observes before it fetches from the upstream. A Store
// refuses to Set an entry if any of its tags was purged after the fence was
// taken, or if the fence is older than the store remembers purges for.
type Fence struct {
	// Epoch is the store's purge counter when the fence was taken.
	Epoch uint64
	// Taken is when the fence was taken, on the gateway's clock.
	Taken time.Time
}

// Store is a response cache shared by all callers of one gateway (memory) or
// of many replicas (Redis). Keys are opaque to the store: the proxy derives
// them and has already partitioned them by caller.
type Store interface {
	// Get returns the entry for key, fresh or stale (until its KeepUntil),
	// or ErrMiss. Callers check Expires before serving it as fresh. The
	// entry's Tags may be left out: they serve Set and Purge, and Memory
	// keeps only their hashes.
	Get(ctx context.Context, key string) (*Entry, error)
	// Fence returns the fence a fill must take before it fetches.
	Fence(ctx context.Context) (Fence, error)
	// Set stores e under key for e.TTL and indexes it under e.Tags, unless a
	// tag was purged after f, in which case it stores nothing and returns
	// ErrFenced. The check and the write are atomic with respect to Purge.
	Set(ctx context.Context, key string, e *Entry, f Fence) error
	// Purge deletes every entry tagged with any of tags, in every caller's
	// partition, and fences fills that started before it.
	Purge(ctx context.Context, tags ...string) error
	// Hold purges tags as Purge does and then, for d, refuses to Set any
	// entry tagged with one of them (ErrHeld). A later Hold of a tag never
	// shortens an earlier one.
	Hold(ctx context.Context, d time.Duration, tags ...string) error
}
