package cache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestMemory(t *testing.T, c *clock) *Memory {
	t.Helper()
	m, err := NewMemory(MemoryConfig{MaxBytes: 1 << 20, FenceRetention: time.Minute, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func entry(c *clock, body string, ttl time.Duration, tags ...string) *Entry {
	return &Entry{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(body), Tags: tags, StoredAt: c.Now(), TTL: ttl}
}

func TestMemoryGetSetExpire(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Unix(1700000000, 0)}
	m := newTestMemory(t, c)
	if _, err := m.Get(ctx, "k"); !errors.Is(err, ErrMiss) {
		t.Fatalf("Get of an empty store: err = %v; want ErrMiss", err)
	}
	f, _ := m.Fence(ctx)
	if err := m.Set(ctx, "k", entry(c, "v", 10*time.Second, "qr_1"), f); err != nil {
		t.Fatalf("Set: %v", err)
	}
	got, err := m.Get(ctx, "k")
	if err != nil || string(got.Body) != "v" {
		t.Fatalf("Get = %v, %v; want body v", got, err)
	}
	c.Add(10 * time.Second)
	if _, err := m.Get(ctx, "k"); !errors.Is(err, ErrMiss) {
		t.Errorf("Get at expiry: err = %v; want ErrMiss", err)
	}
}

func TestMemoryPurgeAndFence(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Unix(1700000000, 0)}
	m := newTestMemory(t, c)
	f0, _ := m.Fence(ctx)
	// Two partitions of the same resource, and an unrelated entry.
	for _, k := range []string{"A|qr", "B|qr"} {
		if err := m.Set(ctx, k, entry(c, k, time.Minute, "qr_1", "cust_1"), f0); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Set(ctx, "A|pay", entry(c, "pay", time.Minute, "pay_1"), f0); err != nil {
		t.Fatal(err)
	}
	if err := m.Purge(ctx, "qr_1"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"A|qr", "B|qr"} {
		if _, err := m.Get(ctx, k); !errors.Is(err, ErrMiss) {
			t.Errorf("Get(%s) after purge: err = %v; want ErrMiss", k, err)
		}
	}
	if _, err := m.Get(ctx, "A|pay"); err != nil {
		t.Errorf("Get of an untagged entry after purge: %v", err)
	}

	tests := []struct {
		desc  string
		fence Fence
		tags  []string
		want  error
	}{
		{"fence before the purge, purged tag", f0, []string{"cust_1"}, nil}, // cust_1 was not purged
		{"fence before the purge, other tag purged", f0, []string{"qr_1"}, ErrFenced},
		{"fence after the purge", mustFence(t, m), []string{"qr_1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := m.Set(ctx, "k|"+tt.desc, entry(c, "x", time.Minute, tt.tags...), tt.fence)
			if !errors.Is(err, tt.want) {
				t.Errorf("Set = %v; want %v", err, tt.want)
			}
			_, gerr := m.Get(ctx, "k|"+tt.desc)
			if stored := gerr == nil; stored != (tt.want == nil) {
				t.Errorf("stored = %t; want %t", stored, tt.want == nil)
			}
		})
	}
}

func mustFence(t *testing.T, m *Memory) Fence {
	f, err := m.Fence(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMemoryFenceRetention(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Unix(1700000000, 0)}
	m := newTestMemory(t, c)
	f, _ := m.Fence(ctx)
	m.Purge(ctx, "qr_1")
	c.Add(2 * time.Minute) // the purge mark is swept; the fence is too old
	m.Purge(ctx, "other")  // triggers the sweep
	if err := m.Set(ctx, "k", entry(c, "x", time.Minute, "qr_1"), f); !errors.Is(err, ErrFenced) {
		t.Errorf("Set with a fence older than retention = %v; want ErrFenced", err)
	}
	if n := len(m.marks); n != 1 {
		t.Errorf("marks after sweep = %d; want 1 (only the recent purge)", n)
	}
}

func TestMemoryIndexSwept(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Unix(1700000000, 0)}
	m := newTestMemory(t, c)
	for i := range 100 {
		f, _ := m.Fence(ctx)
		m.Set(ctx, fmt.Sprint("k", i), entry(c, "x", time.Second, fmt.Sprint("t", i)), f)
	}
	c.Add(2 * time.Second)
	f, _ := m.Fence(ctx)
	m.Set(ctx, "last", entry(c, "x", time.Second, "t_last"), f)
	m.mu.Lock()
	n := len(m.tags)
	m.mu.Unlock()
	if n != 1 {
		t.Errorf("tag index holds %d tags after the entries expired; want 1", n)
	}
}

func TestMemoryBoundedInBytes(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Unix(1700000000, 0)}
	m := newTestMemory(t, c) // 1 MiB
	body := string(make([]byte, 10<<10))
	for i := range 500 { // 5 MiB offered
		f, _ := m.Fence(ctx)
		if err := m.Set(ctx, fmt.Sprint("k", i), entry(c, body, time.Hour), f); err != nil {
			t.Fatal(err)
		}
	}
	m.entries.CleanUp()
	if got := m.Bytes(); got > 1<<20 {
		t.Errorf("Bytes() = %d after offering 5 MiB; want <= 1 MiB", got)
	}
	if got := m.Len(); got == 0 || got >= 500 {
		t.Errorf("Len() = %d; want some entries kept and some evicted", got)
	}
}

// TestMemoryConcurrentFence hammers Set and Purge and checks the invariant
// fencing exists for: no entry survives whose tag was purged after its
// fill's fence was taken.
func TestMemoryConcurrentFence(t *testing.T) {
	ctx := context.Background()
	m, err := NewMemory(MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				key := fmt.Sprint("k", g, "-", i%10)
				if g%2 == 0 {
					f, _ := m.Fence(ctx)
					e := &Entry{Status: 200, Body: []byte(fmt.Sprint(f.Epoch)), Tags: []string{"qr_1"}, StoredAt: time.Now(), TTL: time.Minute}
					m.Set(ctx, key, e, f)
				} else if i%50 == 0 {
					m.Purge(ctx, "qr_1")
				}
			}
		}()
	}
	wg.Wait()
	last := m.epoch.Load()
	for g := 0; g < 8; g += 2 {
		for i := range 10 {
			e, err := m.Get(ctx, fmt.Sprint("k", g, "-", i))
			if err != nil {
				continue
			}
			if string(e.Body) != fmt.Sprint(last) {
				t.Errorf("entry filled at epoch %s survived the purge at epoch %d", e.Body, last)
			}
		}
	}
}
