package cache

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/rzpgate/rzpgate/internal/otterclock"
)

// MemoryConfig configures a Memory store. The zero value is usable.
type MemoryConfig struct {
	// MaxBytes bounds the heap the store holds: entries with their
	// headers, the tag index, the headers entries share, and otter's own
	// records of them. Zero means 64 MiB.
	MaxBytes int64
	// FenceRetention is how long a purge is remembered to fence fills that
	// started before it; fills whose fence is older are refused. Zero means
	// two minutes. It must exceed the longest upstream fetch.
	FenceRetention time.Duration
	// Clock returns the current time; nil means time.Now. Entries expire on
	// it, in otter as well.
	Clock func() time.Time
	// MaxClaims bounds the keys Claim remembers at once (see Claim); zero
	// means 65,536. Claims are not counted in MaxBytes.
	MaxClaims int
}

// Memory is an in-process Store bounded in bytes. Eviction is otter's
// W-TinyLFU; otter applies Set and Invalidate to its map synchronously, so a
// purge can never be undone by an earlier set that was still buffered (unlike
// caches that queue writes, such as ristretto).
//
// Locks are taken in one order: mu, then otter's locks, then the tag index's
// (which otter's deletion callback takes). Nothing calls otter while holding
// the index's lock.
type Memory struct {
	entries   *otter.Cache[string, *item]
	clock     func() time.Time
	retention time.Duration
	index     *tagIndex

	// evictions counts entries evicted for room; purged counts entries
	// deleted by purges.
	evictions, purged atomic.Uint64

	// epoch counts purges. It is written under mu and read without it by
	// Fence: a fence taken before a purge's increment carries a smaller epoch
	// than that purge's marks, which is all Set needs to refuse it.
	epoch atomic.Uint64

	mu sync.Mutex // guards the fields below and orders Set against Purge
	// marks holds the last purge of each tag, kept for retention.
	marks *expiring[mark]
	// holds maps each held tag to the end of its hold.
	holds *expiring[time.Time]

	// cmu guards claims, apart from mu so that webhooks never wait behind
	// fills and purges.
	cmu sync.Mutex
	// claims maps each claimed key to the end of its claim.
	claims    *expiring[time.Time]
	maxClaims int
}

type mark struct {
	epoch uint64
	at    time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory(cfg MemoryConfig) (*Memory, error) {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.MaxBytes < 0 {
		return nil, fmt.Errorf("max bytes %d: must be positive", cfg.MaxBytes)
	}
	if cfg.FenceRetention == 0 {
		cfg.FenceRetention = 2 * time.Minute
	}
	if cfg.MaxClaims < 0 {
		return nil, fmt.Errorf("max claims %d: must not be negative", cfg.MaxClaims)
	}
	if cfg.MaxClaims == 0 {
		cfg.MaxClaims = defaultMaxClaims
	}
	// Otter's clocks give it no ticks (see otterclock): a store holding a
	// million entries idles at 0.1% of a core instead of 1.2 to 2%. An
	// idle store keeps its expired entries until its next write, within
	// MaxBytes; Get never returns them. The default clock reads only the
	// monotonic time; a hit reads it on every Get.
	var clock otter.Clock = otterclock.NewMono()
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	} else {
		clock = otterclock.Func(cfg.Clock)
	}
	m := &Memory{
		clock:     cfg.Clock,
		retention: cfg.FenceRetention,
		index:     newTagIndex(headerBudget(cfg.MaxBytes)),
		marks:     newExpiring(func(mk mark) time.Time { return mk.at.Add(cfg.FenceRetention) }),
		holds:     newExpiring(func(until time.Time) time.Time { return until }),
		claims:    newExpiring(func(until time.Time) time.Time { return until }),
		maxClaims: cfg.MaxClaims,
	}
	entries, err := otter.New(&otter.Options[string, *item]{
		MaximumWeight: uint64(cfg.MaxBytes - int64(headerBudget(cfg.MaxBytes))),
		Weigher:       func(_ string, it *item) uint32 { return it.weight },
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *item]) time.Duration {
			// otter keeps the deadline of a non-positive duration: an
			// entry stored past its keep expires at once instead.
			return max(e.Value.e.KeepUntil().Sub(m.clock()), 1)
		}),
		// The index forgets an item the moment otter does, whatever the
		// cause (eviction, expiry, replacement, invalidation), so it never
		// outgrows the cache. The callback runs under otter's bucket lock,
		// on the goroutine of the Set or Invalidate that deleted the item
		// (which may hold mu) or on otter's maintenance goroutine: it takes
		// only the index's lock.
		OnAtomicDeletion: func(ev otter.DeletionEvent[string, *item]) {
			m.index.remove(ev.Value)
			if ev.Cause == otter.CauseOverflow {
				m.evictions.Add(1)
			}
		},
		Clock: clock,
	})
	if err != nil {
		return nil, fmt.Errorf("creating memory cache: %w", err)
	}
	m.entries = entries
	return m, nil
}

// Get returns the entry stored under key, fresh or stale, until its
// KeepUntil. It takes no lock of the store's own, so hits never wait behind
// fills or purges. The entry carries no Tags: the store keeps only their
// hashes, in its index, so that a million entries hold two objects fewer
// each for the collector to trace.
func (m *Memory) Get(_ context.Context, key string) (*Entry, error) {
	// Otter checks the expiry, to the nanosecond, on a clock that runs
	// with the store's: Set gives it the time left to KeepUntil (an entry
	// stored past it, which still replaces the older one, a nanosecond).
	it, ok := m.entries.GetIfPresent(key)
	if !ok {
		return nil, ErrMiss
	}
	return &it.e, nil
}

// Fence returns the current purge epoch.
func (m *Memory) Fence(context.Context) (Fence, error) {
	return Fence{Epoch: m.epoch.Load(), Taken: m.clock()}, nil
}

// Set stores e under key unless one of its tags was purged after f.
func (m *Memory) Set(_ context.Context, key string, e *Entry, f Fence) error {
	now := m.clock()
	if now.Sub(f.Taken) >= m.retention {
		return ErrFenced
	}
	it := newItem(key, e)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked(now)
	for _, t := range e.Tags {
		if mk, ok := m.marks.get(t); ok && mk.epoch > f.Epoch {
			return ErrFenced
		}
	}
	for _, t := range e.Tags {
		if until, ok := m.holds.get(t); ok && now.Before(until) {
			return ErrHeld
		}
	}
	// Indexed first: otter may evict the item before Set returns.
	m.index.add(it, e.Tags)
	m.entries.Set(key, it)
	return nil
}

// newItem copies e for the store. The body is compacted if its capacity
// wastes a size class (the proxy reads bodies by appending, which leaves a
// 700-byte body in an 896-byte array). The tags are left out: the tag
// index keeps their hashes, and nothing else reads them (see Get). The
// header is left to tagIndex.add.
func newItem(key string, e *Entry) *item {
	it := &item{e: *e, key: key}
	if allocSize(cap(e.Body)) > allocSize(len(e.Body)) {
		it.e.Body = bytes.Clone(e.Body)
	}
	it.e.Tags = nil
	it.weight = uint32(min(it.cost(len(e.Tags)), 1<<31))
	return it
}

// headerBudget is the part of maxBytes set apart for the headers entries
// share: a 64th, up to 4 MiB, which holds some 6,000 headers as the proxy
// stores them, one for each body length in use.
func headerBudget(maxBytes int64) int {
	return int(min(maxBytes/64, 4<<20))
}

// Purge deletes every entry tagged with any of tags and fences fills that
// took their fence before it.
func (m *Memory) Purge(ctx context.Context, tags ...string) error {
	return m.Hold(ctx, 0, tags...)
}

// Hold purges tags and refuses to store entries tagged with them for d.
// It costs time in proportion to the entries it deletes.
func (m *Memory) Hold(_ context.Context, d time.Duration, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked(now)
	if d > 0 {
		until := now.Add(d)
		for _, t := range tags {
			if held, _ := m.holds.get(t); until.After(held) {
				m.holds.put(t, until)
			}
		}
	}
	epoch := m.epoch.Add(1)
	for _, t := range tags {
		m.marks.put(t, mark{epoch: epoch, at: now})
	}
	// No Set can store under these keys until mu is released, so each
	// still holds the item taken from the index, or nothing.
	taken := m.index.take(tags)
	for _, it := range taken {
		m.entries.Invalidate(it.key)
	}
	m.purged.Add(uint64(len(taken)))
	return nil
}

// Evictions reports how many entries were evicted to make room.
func (m *Memory) Evictions() uint64 { return m.evictions.Load() }

// Purged reports how many entries purges deleted.
func (m *Memory) Purged() uint64 { return m.purged.Load() }

// Len reports the number of entries, including expired ones not yet evicted.
func (m *Memory) Len() int { return m.entries.EstimatedSize() }

// Bytes reports the heap bytes the entries are estimated to occupy, index
// and otter's records included.
func (m *Memory) Bytes() int64 { return int64(m.entries.WeightedSize()) }

// Close stops the store's background work.
func (m *Memory) Close() error {
	m.entries.StopAllGoroutines()
	return nil
}

// expireLocked forgets purge marks past retention and holds that ended.
// m.mu must be held.
func (m *Memory) expireLocked(now time.Time) {
	m.marks.expire(now)
	m.holds.expire(now)
}
