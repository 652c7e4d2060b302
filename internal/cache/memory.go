package cache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// MemoryConfig configures a Memory store. The zero value is usable.
type MemoryConfig struct {
	// MaxBytes bounds the approximate bytes of all entries; zero means 64 MiB.
	MaxBytes int64
	// FenceRetention is how long a purge is remembered to fence fills that
	// started before it; fills whose fence is older are refused. Zero means
	// two minutes. It must exceed the longest upstream fetch.
	FenceRetention time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// Memory is an in-process Store bounded in bytes. Eviction is otter's
// W-TinyLFU; otter applies Set and Invalidate to its map synchronously, so a
// purge can never be undone by an earlier set that was still buffered (unlike
// caches that queue writes, such as ristretto).
type Memory struct {
	entries   *otter.Cache[string, *Entry]
	clock     func() time.Time
	retention time.Duration

	// epoch counts purges. It is written under mu and read without it by
	// Fence: a fence taken before a purge's increment carries a smaller epoch
	// than that purge's marks, which is all Set needs to refuse it.
	epoch atomic.Uint64

	mu sync.Mutex // guards the fields below and orders Set against Purge
	// tags indexes keys by tag; each key maps to the latest expiry of an
	// entry stored under it with that tag, so the index can be swept.
	tags map[string]map[string]time.Time
	// marks holds the last purge of each tag, kept for retention.
	marks map[string]mark
	// holds maps each held tag to the end of its hold.
	holds     map[string]time.Time
	lastSweep time.Time
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
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	entries, err := otter.New(&otter.Options[string, *Entry]{
		MaximumWeight: uint64(cfg.MaxBytes),
		Weigher: func(key string, e *Entry) uint32 {
			return uint32(min(len(key)+e.Size(), 1<<31))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *Entry]) time.Duration {
			return e.Value.TTL
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("creating memory cache: %w", err)
	}
	return &Memory{
		entries:   entries,
		clock:     cfg.Clock,
		retention: cfg.FenceRetention,
		tags:      make(map[string]map[string]time.Time),
		marks:     make(map[string]mark),
		holds:     make(map[string]time.Time),
	}, nil
}

// Get returns the fresh entry stored under key. It takes no lock of the
// store's own, so hits never wait behind fills or purges.
func (m *Memory) Get(_ context.Context, key string) (*Entry, error) {
	e, ok := m.entries.GetIfPresent(key)
	// Expiry is checked on the store's clock as well as otter's, so an entry
	// is never served past StoredAt+TTL whatever otter's timer resolution.
	if !ok || !m.clock().Before(e.Expires()) {
		return nil, ErrMiss
	}
	return e, nil
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
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range e.Tags {
		if mk, ok := m.marks[t]; ok && mk.epoch > f.Epoch {
			return ErrFenced
		}
	}
	for _, t := range e.Tags {
		if until, ok := m.holds[t]; ok && now.Before(until) {
			return ErrHeld
		}
	}
	m.entries.Set(key, e)
	exp := e.Expires()
	for _, t := range e.Tags {
		keys := m.tags[t]
		if keys == nil {
			keys = make(map[string]time.Time)
			m.tags[t] = keys
		}
		if keys[key].Before(exp) {
			keys[key] = exp
		}
	}
	m.sweepLocked(now)
	return nil
}

// Purge deletes every entry tagged with any of tags and fences fills that
// took their fence before it.
func (m *Memory) Purge(ctx context.Context, tags ...string) error {
	return m.Hold(ctx, 0, tags...)
}

// Hold purges tags and refuses to store entries tagged with them for d.
func (m *Memory) Hold(_ context.Context, d time.Duration, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if d > 0 {
		until := now.Add(d)
		for _, t := range tags {
			if until.After(m.holds[t]) {
				m.holds[t] = until
			}
		}
	}
	epoch := m.epoch.Add(1)
	for _, t := range tags {
		m.marks[t] = mark{epoch: epoch, at: now}
		for key := range m.tags[t] {
			m.entries.Invalidate(key)
		}
		delete(m.tags, t)
	}
	m.sweepLocked(now)
	return nil
}

// Len reports the number of entries, including expired ones not yet evicted.
func (m *Memory) Len() int { return m.entries.EstimatedSize() }

// Bytes reports the approximate bytes the entries occupy.
func (m *Memory) Bytes() int64 { return int64(m.entries.WeightedSize()) }

// Close stops the store's background work.
func (m *Memory) Close() error {
	m.entries.StopAllGoroutines()
	return nil
}

// sweepLocked drops index records of expired entries and purge marks past
// retention, at most once a second, so the index stays proportional to what
// the cache holds. Keys evicted early stay indexed until their expiry, which
// costs a spurious Invalidate at worst. m.mu must be held.
func (m *Memory) sweepLocked(now time.Time) {
	if now.Sub(m.lastSweep) < time.Second {
		return
	}
	m.lastSweep = now
	for t, keys := range m.tags {
		for key, exp := range keys {
			if !now.Before(exp) {
				delete(keys, key)
			}
		}
		if len(keys) == 0 {
			delete(m.tags, t)
		}
	}
	for t, mk := range m.marks {
		if now.Sub(mk.at) >= m.retention {
			delete(m.marks, t)
		}
	}
	for t, until := range m.holds {
		if !now.Before(until) {
			delete(m.holds, t)
		}
	}
}
