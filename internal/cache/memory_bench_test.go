package cache

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// benchSizes are the store sizes, in entries, that the Memory benchmarks
// compare: a fill or a hit should cost the same at each.
var benchSizes = []struct {
	name    string
	entries int
}{
	{"entries=1k", 1_000},
	{"entries=100k", 100_000},
	{"entries=1M", 1_000_000},
}

// benchStore returns a store whose MaxBytes fits about n realistic entries,
// filled with them, and entries enough for another n. The entries share
// their body and headers (the store counts them for each), so that the
// benchmark's own heap stays small.
func benchStore(b *testing.B, n int) (*Memory, []string, []*Entry) {
	b.Helper()
	now := time.Now()
	_, proto := realisticEntry(0, now)
	proto.Body = proto.Body[:len(proto.Body):len(proto.Body)]
	keys := make([]string, 2*n)
	entries := make([]*Entry, 2*n)
	for i := range keys {
		e := *proto
		e.Tags = []string{fmt.Sprintf("qr_%014d", i), fmt.Sprintf("cust_%014d", i%100), fmt.Sprintf("pay_%014d", i)}
		keys[i] = fmt.Sprintf("rzp_test_AbCdEfGhIjKlMn|GET|/v1/payments/qr_codes/qr_%014d?expand[]=payments&expand[]=customer", i)
		entries[i] = &e
	}
	weight := newItem(keys[0], entries[0]).weight
	m, err := NewMemory(MemoryConfig{MaxBytes: int64(n) * int64(weight)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	ctx := context.Background()
	for i := range n {
		f, _ := m.Fence(ctx)
		if err := m.Set(ctx, keys[i], entries[i], f); err != nil {
			b.Fatal(err)
		}
	}
	m.entries.CleanUp()
	runtime.GC() // so the fill's garbage is not collected on the clock
	return m, keys, entries
}

// BenchmarkMemorySet measures fills of a full store: each evicts.
func BenchmarkMemorySet(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			m, keys, entries := benchStore(b, size.entries)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// The keys past n were never stored; later rounds store
				// what was evicted since.
				j := size.entries + i%size.entries
				f, _ := m.Fence(ctx)
				m.Set(ctx, keys[j], entries[j], f)
				i++
			}
		})
	}
}

// BenchmarkMemoryGet measures hits, spread over the whole store.
func BenchmarkMemoryGet(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			m, keys, _ := benchStore(b, size.entries)
			keys = keys[:size.entries]
			ctx := context.Background()
			b.ReportAllocs()
			i, misses := 0, 0
			for b.Loop() {
				// A stride coprime with the sizes visits every key in an
				// order unrelated to their insertion.
				if _, err := m.Get(ctx, keys[(i*7919)%len(keys)]); err != nil {
					misses++
				}
				i++
			}
			b.ReportMetric(float64(misses)/float64(i), "misses/op")
		})
	}
}
