package cache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/otterclock"
)

// Subscriber is the part of a go-redis client that Near uses to hear of
// purges made by other replicas; *redis.Client and redis.UniversalClient
// fit. With a *redis.Ring the channel and the keys may live on different
// shards, so purges would go unheard; use a Client or a ClusterClient.
type Subscriber interface {
	Subscribe(ctx context.Context, channels ...string) *redis.PubSub
}

// NearConfig configures a Near cache. The zero value is usable.
type NearConfig struct {
	// MaxBytes bounds the total Size of the entries held; zero means 16 MiB.
	MaxBytes int64
	// TTL bounds how long an entry is served from memory without asking
	// Redis; zero means 1 second.
	TTL time.Duration
}

const (
	defaultNearMaxBytes = 16 << 20
	defaultNearTTL      = time.Second

	// Backoffs between resubscription attempts while Redis is unreachable.
	minResubscribe = 50 * time.Millisecond
	maxResubscribe = 2 * time.Second
)

// Near is a small in-process cache of hot entries in front of a Redis
// store. Purges reach it from its own Purge calls and, from other replicas,
// as messages on the Redis store's PurgeChannel.
//
// Staleness bound: after a purge on replica A, replica B may serve the
// purged entry from memory until A's message reaches B, which is the
// pub/sub delivery delay (about a millisecond on a LAN), and never longer
// than NearConfig.TTL, even if the message is lost. Near clears itself and
// stops filling whenever its subscription fails or reconnects, since
// messages may have been missed; until the subscription is confirmed every
// read goes to Redis.
type Near struct {
	inner   *Redis
	sub     Subscriber
	ttl     time.Duration
	entries *otter.Cache[string, *nearItem]
	// gen counts purges seen locally; a Redis read or write whose result
	// arrives after gen moved may predate the purge and is not kept. It is
	// written under mu and read without it.
	gen atomic.Uint64

	// mu guards tags, live and ps, and orders every write to entries with
	// the changes of gen, so that a fill either lands before a purge's
	// drop (and is dropped) or sees the new gen (and is skipped).
	mu sync.Mutex
	// tags indexes entries by tag: tag -> key -> item, so a purge
	// message costs O(purged entries) rather than a scan of the cache.
	tags map[string]map[string]*nearItem
	live bool          // live is whether the subscription is confirmed.
	ps   *redis.PubSub // ps is the current subscription, closed by Close.

	// evictions counts entries evicted for room.
	evictions atomic.Uint64

	cancel    context.CancelFunc
	done      chan struct{} // done is closed when the listener returns.
	closeOnce sync.Once
}

// nearItem is an entry held in memory for ttl.
type nearItem struct {
	e   *Entry
	ttl time.Duration
}

var _ Store = (*Near)(nil)

// NewNear returns a near cache in front of inner that listens for purges
// through sub until Close.
func NewNear(inner *Redis, sub Subscriber, cfg NearConfig) (*Near, error) {
	switch {
	case inner == nil:
		return nil, errors.New("creating near cache: nil Redis store")
	case sub == nil:
		return nil, errors.New("creating near cache: nil Subscriber")
	case cfg.MaxBytes < 0:
		return nil, fmt.Errorf("creating near cache: MaxBytes %d is negative", cfg.MaxBytes)
	case cfg.TTL < 0:
		return nil, fmt.Errorf("creating near cache: TTL %v is negative", cfg.TTL)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = defaultNearMaxBytes
	}
	if cfg.TTL == 0 {
		cfg.TTL = defaultNearTTL
	}
	n := &Near{
		inner: inner,
		sub:   sub,
		ttl:   cfg.TTL,
		tags:  map[string]map[string]*nearItem{},
		done:  make(chan struct{}),
	}
	var err error
	n.entries, err = otter.New(&otter.Options[string, *nearItem]{
		MaximumWeight: uint64(cfg.MaxBytes),
		Weigher: func(key string, it *nearItem) uint32 {
			return uint32(min(len(key)+it.e.Size(), math.MaxUint32))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *nearItem]) time.Duration {
			return e.Value.ttl
		}),
		OnDeletion: func(ev otter.DeletionEvent[string, *nearItem]) {
			n.unindex(ev)
			if ev.Cause == otter.CauseOverflow {
				n.evictions.Add(1)
			}
		},
		// No ticks (see otterclock): expired entries leave in the
		// maintenance that writes and reads run, and Get never returns
		// them.
		Clock: otterclock.NewMono(),
	})
	if err != nil {
		return nil, fmt.Errorf("creating near cache: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go n.listen(ctx)
	return n, nil
}

// Get returns the entry from memory if held, or else from Redis.
func (n *Near) Get(ctx context.Context, key string) (*Entry, error) {
	if e, ok := n.getLocal(key); ok {
		return e, nil
	}
	gen := n.gen.Load()
	e, err := n.inner.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	n.keep(key, e, gen)
	return e, nil
}

// getLocal returns the entry held in memory for key, if any and still
// kept, without touching Redis.
func (n *Near) getLocal(key string) (*Entry, bool) {
	if it, ok := n.entries.GetIfPresent(key); ok && n.inner.now().Before(it.e.KeepUntil()) {
		return it.e, true
	}
	return nil, false
}

// Fence returns the Redis store's fence.
func (n *Near) Fence(ctx context.Context) (Fence, error) { return n.inner.Fence(ctx) }

// Set stores e in Redis and, once stored, in memory.
func (n *Near) Set(ctx context.Context, key string, e *Entry, f Fence) error {
	gen := n.gen.Load()
	stored, err := n.inner.set(ctx, key, e, f)
	if err != nil {
		return err
	}
	if stored != nil {
		n.keep(key, stored, gen)
	}
	return nil
}

// Purge purges tags in Redis, which tells the other replicas, and drops
// the local entries tagged with them even if Redis failed.
func (n *Near) Purge(ctx context.Context, tags ...string) error {
	err := n.inner.Purge(ctx, tags...)
	n.drop(tags)
	return err
}

// Hold holds tags in Redis, which purges them on every replica, and drops
// the local entries tagged with them even if Redis failed.
func (n *Near) Hold(ctx context.Context, d time.Duration, tags ...string) error {
	err := n.inner.Hold(ctx, d, tags...)
	n.drop(tags)
	return err
}

// Claim claims key in Redis, so that every replica agrees.
func (n *Near) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return n.inner.Claim(ctx, key, ttl)
}

// Claimed reports whether key is claimed in Redis.
func (n *Near) Claimed(ctx context.Context, key string) (bool, error) {
	return n.inner.Claimed(ctx, key)
}

// Len reports the number of entries held in memory.
func (n *Near) Len() int { return n.entries.EstimatedSize() }

// Bytes reports the weighed bytes of the entries held in memory.
func (n *Near) Bytes() int64 { return int64(n.entries.WeightedSize()) }

// Evictions reports how many entries were evicted to make room.
func (n *Near) Evictions() uint64 { return n.evictions.Load() }

// Close stops listening for purges and empties the cache.
func (n *Near) Close() error {
	n.closeOnce.Do(func() {
		n.cancel()
		n.mu.Lock()
		ps := n.ps
		n.mu.Unlock()
		if ps != nil {
			_ = ps.Close() // Unblocks a Receive that ignores ctx.
		}
		<-n.done
		n.reset(false)
		n.entries.StopAllGoroutines()
	})
	return nil
}

// keep holds e in memory for min(TTL, its remaining freshness), unless a
// purge was seen since gen was read or the subscription is down.
func (n *Near) keep(key string, e *Entry, gen uint64) {
	ttl := min(n.ttl, e.KeepUntil().Sub(n.inner.now()))
	if ttl <= 0 {
		return
	}
	it := &nearItem{e: e, ttl: ttl}
	n.mu.Lock()
	defer n.mu.Unlock()
	// The Redis call may have raced a purge message that dropped this very
	// entry; keeping its result would serve the purged entry for TTL.
	if !n.live || n.gen.Load() != gen {
		return
	}
	n.entries.Set(key, it)
	for _, t := range e.Tags {
		if n.tags[t] == nil {
			n.tags[t] = map[string]*nearItem{}
		}
		n.tags[t][key] = it
	}
}

// drop removes the entries tagged with any of tags.
func (n *Near) drop(tags []string) {
	if len(tags) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.gen.Add(1)
	for _, t := range tags {
		for key := range n.tags[t] {
			n.entries.Invalidate(key)
		}
		delete(n.tags, t)
	}
}

// reset empties the cache and records whether the subscription is live.
func (n *Near) reset(live bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.gen.Add(1)
	n.live = live
	n.tags = map[string]map[string]*nearItem{}
	n.entries.InvalidateAll()
}

// unindex removes a deleted item from the tag index. The index may already
// hold a newer item under the same key, which must stay.
func (n *Near) unindex(ev otter.DeletionEvent[string, *nearItem]) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range ev.Value.e.Tags {
		if keys := n.tags[t]; keys[ev.Key] == ev.Value {
			delete(keys, ev.Key)
			if len(keys) == 0 {
				delete(n.tags, t)
			}
		}
	}
}

// listen subscribes to the purge channel until ctx ends, resubscribing
// with backoff whenever the subscription fails.
func (n *Near) listen(ctx context.Context) {
	defer close(n.done)
	backoff := minResubscribe
	for {
		ps := n.sub.Subscribe(ctx, n.inner.PurgeChannel())
		n.mu.Lock()
		if ctx.Err() != nil {
			n.mu.Unlock()
			_ = ps.Close()
			return
		}
		n.ps = ps
		n.mu.Unlock()
		if n.receive(ctx, ps) {
			backoff = minResubscribe
		}
		n.reset(false)
		_ = ps.Close()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxResubscribe)
	}
}

// receive applies purge messages until ps fails, and reports whether the
// subscription had been confirmed.
func (n *Near) receive(ctx context.Context, ps *redis.PubSub) (confirmed bool) {
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			return confirmed
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				// Entries kept before now may have missed messages.
				confirmed = true
				n.reset(true)
			}
		case *redis.Message:
			tags, err := decodeTags(m.Payload)
			if err != nil {
				n.reset(true) // Something was purged; we cannot tell what.
				continue
			}
			n.drop(tags)
		}
	}
}
