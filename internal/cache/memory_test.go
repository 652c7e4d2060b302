package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
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

// TestMemoryKeepsStale checks that an entry with a Stale allowance is
// returned past its TTL until its KeepUntil, and then dropped by otter too.
func TestMemoryKeepsStale(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Unix(1700000000, 0)}
	m := newTestMemory(t, c)
	e := entry(c, "v", 10*time.Second, "qr_1")
	e.Stale = 20 * time.Second
	if err := m.Set(ctx, "k", e, mustFence(t, m)); err != nil {
		t.Fatal(err)
	}
	c.Add(15 * time.Second)
	got, err := m.Get(ctx, "k")
	if err != nil {
		t.Fatalf("Get past the TTL, within Stale: %v; want the stale entry", err)
	}
	if !c.Now().After(got.Expires()) {
		t.Errorf("entry returned past its TTL is not stale by Expires")
	}
	c.Add(15 * time.Second)
	if _, err := m.Get(ctx, "k"); !errors.Is(err, ErrMiss) {
		t.Errorf("Get past KeepUntil: err = %v; want ErrMiss", err)
	}
	m.entries.CleanUp()
	if items, _, _ := m.index.stats(); items != 0 {
		t.Errorf("index holds %d items after KeepUntil; want 0", items)
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
	if n := m.marks.len(); n != 1 {
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
	m.entries.CleanUp() // otter expires entries on the store's clock
	if items, _, _ := m.index.stats(); items != 1 {
		t.Errorf("tag index holds %d items after the entries expired; want 1", items)
	}
	m.index.mu.Lock()
	n := len(m.index.heads)
	m.index.mu.Unlock()
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

// realisticEntry returns the i'th of a stream of distinct entries shaped as
// the proxy's fill makes them: a QR code of about 700 bytes read with
// io.ReadAll, its Content-Type and Content-Length, and three tags: the QR
// code's and a payment's ids, unique to the entry, and a customer's id shared
// by a hundredth of the entries.
func realisticEntry(i int, now time.Time) (key string, e *Entry) {
	qr := fmt.Sprintf("qr_%014d", i)
	cust := fmt.Sprintf("cust_%014d", i%100)
	pay := fmt.Sprintf("pay_%014d", i)
	key = "rzp_test_AbCdEfGhIjKlMn|GET|/v1/payments/qr_codes/" + qr + "?expand[]=payments&expand[]=customer"
	body := fmt.Sprintf(`{"id":%q,"entity":"qr_code","created_at":1700000000,"name":"Store Front",`+
		`"usage":"multiple_use","type":"upi_qr","image_url":"https://rzp.io/i/BWcUVrLp","payment_amount":null,`+
		`"status":"active","description":"For Store 1","fixed_amount":false,"payments_amount_received":500,`+
		`"payments_count_received":1,"notes":{"purpose":"Test UPI QR code notes"},"customer_id":%q,`+
		`"close_by":1681615838,"closed_at":null,"close_reason":null,"payments":{"entity":"collection",`+
		`"count":1,"items":[{"id":%q,"entity":"payment","amount":500,"currency":"INR","status":"captured",`+
		`"method":"upi","captured":true,"vpa":"success@razorpay","email":"gaurav.kumar@example.com",`+
		`"contact":"+919000090000","fee":10,"tax":0}]}}`, qr, cust, pay)
	b, err := io.ReadAll(strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	tags := []string{qr}
	tags = append(tags, cust, pay)
	return key, &Entry{
		Status: http.StatusOK,
		Header: http.Header{
			"Content-Length": {strconv.Itoa(len(b))},
			"Content-Type":   {strings.Clone("application/json; charset=utf-8")},
		},
		Body:     b,
		Tags:     tags,
		StoredAt: now,
		TTL:      time.Hour,
	}
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// stats reports the items and links the index holds, and the links purges
// have visited.
func (x *tagIndex) stats() (items, links int, visited uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.nitems, x.nlinks, x.visited
}

// keys returns the items the index holds by key.
func (x *tagIndex) keys() map[string]*item {
	x.mu.Lock()
	defer x.mu.Unlock()
	keys := make(map[string]*item)
	for _, h := range x.heads {
		for id := h; id != 0; id = x.links[id].next {
			it := x.items[x.links[id].slot]
			keys[it.key] = it
		}
	}
	return keys
}

// tagsOf returns those of tags the index lists key under, sorted: the
// index keeps tags by their hash only.
func (x *tagIndex) tagsOf(key string, tags ...string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var got []string
	for _, it := range x.items {
		if it == nil || it.key != key {
			continue
		}
		for id := it.first; id != 0; id = x.links[id].sib {
			for _, t := range tags {
				if maphash.String(x.seed, t) == x.links[id].tag && !slices.Contains(got, t) {
					got = append(got, t)
				}
			}
		}
	}
	slices.Sort(got)
	return got
}

// assertIndexConsistent checks that the tag index holds exactly what otter
// holds: every indexed key's item is the one otter has under the key, and
// the index holds no more items than otter.
func assertIndexConsistent(t *testing.T, m *Memory) {
	t.Helper()
	m.entries.CleanUp()
	indexed := m.index.keys()
	for key, it := range indexed {
		got, ok := m.entries.GetEntryQuietly(key)
		if !ok {
			t.Fatalf("key %q is indexed but not in otter", key)
		}
		if got.Value != it {
			t.Fatalf("key %q is indexed with an item otter replaced", key)
		}
	}
	items, _, _ := m.index.stats()
	if items != len(indexed) {
		t.Errorf("index counts %d items; its lists hold %d", items, len(indexed))
	}
	if n := m.Len(); items > n {
		t.Errorf("index holds %d items; otter holds %d entries", items, n)
	}
	// Every interned header is used by the entries otter holds, as many
	// times as they use it, and by nothing else.
	var held []*item
	for _, it := range m.entries.All() {
		held = append(held, it)
	}
	m.index.mu.Lock()
	defer m.index.mu.Unlock()
	uses := make(map[*sharedHeader]int)
	for _, it := range held {
		if !it.shared {
			continue
		}
		var buf [maxInternKey]byte
		k, _ := headerKey(buf[:0], it.e.Header)
		s := m.index.headers.byKey[string(k)]
		if s == nil || reflect.ValueOf(s.h).UnsafePointer() != reflect.ValueOf(it.e.Header).UnsafePointer() {
			t.Fatalf("entry %q shares a header the table does not hold", it.key)
		}
		uses[s]++
	}
	for k, s := range m.index.headers.byKey {
		if uses[s] != s.uses {
			t.Errorf("header %q counts %d uses; otter's entries make %d", k, s.uses, uses[s])
		}
	}
}

// TestMemoryHeapWithinBound fills a small store with many more realistic
// entries than fit and checks that the heap the store holds stays within
// 1.25 MaxBytes plus a fixed allowance, and that the tag index holds only
// what otter holds.
func TestMemoryHeapWithinBound(t *testing.T) {
	const (
		maxBytes  = 4 << 20
		allowance = 1 << 20 // otter's buffers, timer wheel and tables' slack
		offered   = 120_000 // about 230 MiB
	)
	ctx := context.Background()
	c := &clock{now: time.Unix(1700000000, 0)}
	before := liveHeap()
	m, err := NewMemory(MemoryConfig{MaxBytes: maxBytes, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i := range offered {
		key, e := realisticEntry(i, c.Now())
		if err := m.Set(ctx, key, e, mustFence(t, m)); err != nil {
			t.Fatal(err)
		}
	}
	m.entries.CleanUp()
	held := int64(liveHeap()) - int64(before)
	n := m.Len()
	t.Logf("%d entries held of %d offered: heap %d bytes (%.0f per entry), weight %d (%.0f per entry)",
		n, offered, held, float64(held)/float64(n), m.Bytes(), float64(m.Bytes())/float64(n))
	if limit := int64(maxBytes*5/4 + allowance); held > limit {
		t.Errorf("store holds %d bytes of heap; want at most %d (1.25 MaxBytes + %d)", held, limit, allowance)
	}
	if n < 1000 {
		t.Errorf("store holds %d entries; want about 2000: the weights overcount", n)
	}
	assertIndexConsistent(t, m)
	runtime.KeepAlive(m)
}

// TestMemoryDeletionUnindexes checks that every way otter deletes an entry
// takes it out of the tag index at once, and that replacing an entry leaves
// the new one indexed, even when both are the same *Entry.
func TestMemoryDeletionUnindexes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		desc string
		// do acts on a store holding "k" tagged qr_1 and cust_1, and
		// returns the tags "k" should be indexed under afterwards.
		do func(t *testing.T, m *Memory, c *clock, e *Entry) []string
	}{
		{"eviction", func(t *testing.T, m *Memory, c *clock, e *Entry) []string {
			for i := range 2000 { // 20 MiB into 1 MiB
				m.Set(ctx, fmt.Sprint("big", i), entry(c, strings.Repeat("x", 10<<10), time.Hour, fmt.Sprint("qr_big", i)), mustFence(t, m))
			}
			m.entries.CleanUp()
			if n := m.Len(); n > 120 {
				t.Fatalf("Len() = %d after offering 20 MiB; want about 100", n)
			}
			// W-TinyLFU may keep k: it decides admission by frequency.
			if _, kept := m.entries.GetEntryQuietly("k"); kept {
				return []string{"cust_1", "qr_1"}
			}
			return nil
		}},
		{"expiry", func(t *testing.T, m *Memory, c *clock, _ *Entry) []string {
			c.Add(time.Minute)
			return nil
		}},
		{"stale on arrival", func(t *testing.T, m *Memory, c *clock, _ *Entry) []string {
			m.Set(ctx, "k", entry(c, "v", 0, "qr_1"), mustFence(t, m))
			c.Add(2 * time.Second) // otter's timer wheel turns about once a second
			return nil
		}},
		{"invalidation", func(t *testing.T, m *Memory, c *clock, _ *Entry) []string {
			m.entries.Invalidate("k")
			return nil
		}},
		{"replacement with other tags", func(t *testing.T, m *Memory, c *clock, _ *Entry) []string {
			m.Set(ctx, "k", entry(c, "v2", time.Minute, "qr_2"), mustFence(t, m))
			return []string{"qr_2"}
		}},
		{"replacement with the same entry", func(t *testing.T, m *Memory, c *clock, e *Entry) []string {
			m.Set(ctx, "k", e, mustFence(t, m))
			return []string{"cust_1", "qr_1"}
		}},
		{"purge of another tag", func(t *testing.T, m *Memory, c *clock, _ *Entry) []string {
			m.Purge(ctx, "qr_2")
			return []string{"cust_1", "qr_1"}
		}},
		{"purge", func(t *testing.T, m *Memory, c *clock, _ *Entry) []string {
			m.Purge(ctx, "cust_1")
			return nil
		}},
		{"purge of a tag an entry holds twice", func(t *testing.T, m *Memory, c *clock, _ *Entry) []string {
			m.Set(ctx, "k", entry(c, "v", time.Minute, "qr_1", "cust_1", "qr_1"), mustFence(t, m))
			m.Set(ctx, "k2", entry(c, "v", time.Minute, "qr_1"), mustFence(t, m))
			m.Purge(ctx, "qr_1")
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := &clock{now: time.Unix(1700000000, 0)}
			m := newTestMemory(t, c)
			e := entry(c, "v", time.Minute, "qr_1", "cust_1")
			m.Set(ctx, "k", e, mustFence(t, m))
			want := tt.do(t, m, c, e)
			assertIndexConsistent(t, m)

			if got := m.index.tagsOf("k", "cust_1", "qr_1", "qr_2"); !slices.Equal(got, want) {
				t.Errorf("k is indexed under %q; want %q", got, want)
			}
		})
	}
}

// TestMemoryIndexHoldsNoPointers checks what keeps a collection over a
// large store cheap (issue #11): the tag index's map and links hold no
// pointers for the collector to trace; its only pointers are its items,
// one each, and the table of shared headers.
func TestMemoryIndexHoldsNoPointers(t *testing.T) {
	if typ := reflect.TypeFor[link](); hasPointers(typ) {
		t.Errorf("%v holds pointers", typ)
	}
	x := reflect.TypeFor[tagIndex]()
	for i := range x.NumField() {
		f := x.Field(i)
		if f.Name != "items" && f.Name != "headers" && hasPointers(f.Type) {
			t.Errorf("tagIndex.%s (%v) holds pointers", f.Name, f.Type)
		}
	}
}

// hasPointers reports whether a value of typ holds a pointer, apart from
// the header of a map or slice whose elements hold none.
func hasPointers(typ reflect.Type) bool {
	switch typ.Kind() {
	case reflect.Pointer, reflect.UnsafePointer, reflect.Interface, reflect.String, reflect.Func, reflect.Chan:
		return true
	case reflect.Map:
		return hasPointers(typ.Key()) || hasPointers(typ.Elem())
	case reflect.Slice, reflect.Array:
		return hasPointers(typ.Elem())
	case reflect.Struct:
		for i := range typ.NumField() {
			if hasPointers(typ.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// TestMemoryPurgeVisitsOnlyItsEntries purges single tags of a store of
// 100,000 entries and checks, by the links the index unlinked, that each
// purge visited only the entries it deleted.
func TestMemoryPurgeVisitsOnlyItsEntries(t *testing.T) {
	const n, group = 100_000, 10
	ctx := context.Background()
	c := &clock{now: time.Unix(1700000000, 0)}
	m, err := NewMemory(MemoryConfig{MaxBytes: 1 << 30, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := mustFence(t, m)
	for i := range n {
		e := &Entry{Status: 200, Body: []byte("{}"), Tags: []string{fmt.Sprint("qr_", i), fmt.Sprint("cust_", i/group)}, StoredAt: c.Now(), TTL: time.Hour}
		if err := m.Set(ctx, fmt.Sprint("k", i), e, f); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		desc    string
		tags    []string
		deleted int
	}{
		{"unique tag", []string{"qr_5"}, 1},
		{"shared tag", []string{"cust_100"}, group},
		{"shared tag, one entry already purged", []string{"cust_0"}, group - 1},
		{"two tags", []string{"cust_200", "qr_2001"}, group},
		{"unknown tag", []string{"qr_x"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			items0, links0, visited0 := m.index.stats()
			if err := m.Purge(ctx, tt.tags...); err != nil {
				t.Fatal(err)
			}
			items, links, visited := m.index.stats()
			if got := items0 - items; got != tt.deleted {
				t.Errorf("purge unindexed %d entries; want %d", got, tt.deleted)
			}
			// Each entry has two links: a purge that visits only what
			// it deletes visits twice as many links as entries.
			if got, want := visited-visited0, uint64(2*tt.deleted); got != want {
				t.Errorf("purge visited %d links; want %d", got, want)
			}
			if got := links0 - links; got != 2*tt.deleted {
				t.Errorf("purge unlinked %d links; want %d", got, 2*tt.deleted)
			}
		})
	}
	if got, want := m.Len(), n-1-group-(group-1)-group; got != want {
		t.Errorf("Len() = %d after the purges; want %d", got, want)
	}
}

// TestMemoryConcurrentEviction races fills, replacements, hits and purges
// in a store small enough to evict all the time, then checks that the index
// and otter agree.
func TestMemoryConcurrentEviction(t *testing.T) {
	ctx := context.Background()
	m, err := NewMemory(MemoryConfig{MaxBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0))
			for range 5000 {
				i := r.IntN(2000)
				switch op := r.IntN(10); {
				case op == 0:
					m.Purge(ctx, fmt.Sprint("cust_", i%20))
				case op < 4:
					m.Get(ctx, fmt.Sprint("k", i))
				default:
					e := &Entry{Status: 200, Body: make([]byte, 500), Tags: []string{fmt.Sprint("qr_", i), fmt.Sprint("cust_", i%20)}, StoredAt: time.Now(), TTL: time.Minute}
					m.Set(ctx, fmt.Sprint("k", i), e, mustFence(t, m))
				}
			}
		})
	}
	wg.Wait()
	assertIndexConsistent(t, m)
}

// TestMemoryIndexModel runs random sets (of one to four tags from a small
// pool, repeats included), purges, deletions, expiries and evictions on a
// small store and checks after each step, against a model of what each
// key was set with, that the index lists every entry otter holds under
// exactly its tags, and that no entry holding a purged tag survives.
func TestMemoryIndexModel(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Unix(1700000000, 0)}
	m, err := NewMemory(MemoryConfig{MaxBytes: 64 << 10, FenceRetention: time.Minute, Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pool := []string{"qr_1", "qr_2", "qr_3", "cust_1", "cust_2", "pay_1", "", "order_1"}
	model := make(map[string][]string) // key -> the tags of its last Set
	r := rand.New(rand.NewPCG(1, 2))
	for step := range 20_000 {
		key := fmt.Sprint("k", r.IntN(1000))
		switch op := r.IntN(50); {
		case op == 0:
			tag := pool[r.IntN(len(pool))]
			if err := m.Purge(ctx, tag); err != nil {
				t.Fatal(err)
			}
			for k, tags := range model {
				if slices.Contains(tags, tag) {
					if _, ok := m.entries.GetIfPresent(k); ok {
						t.Fatalf("step %d: %s, tagged %q, survived a purge of %q", step, k, tags, tag)
					}
				}
			}
		case op == 1:
			m.entries.Invalidate(key)
		case op == 2:
			c.Add(time.Duration(r.IntN(20)) * time.Second)
		default:
			tags := make([]string, 1+r.IntN(4))
			for i := range tags {
				tags[i] = pool[r.IntN(len(pool))]
			}
			ttl := time.Duration(1+r.IntN(60)) * time.Second
			if err := m.Set(ctx, key, entry(c, strings.Repeat("x", r.IntN(400)), ttl, tags...), mustFence(t, m)); err != nil {
				t.Fatal(err)
			}
			model[key] = tags
		}
		if step%100 != 0 {
			continue
		}
		assertIndexConsistent(t, m)
		for k, tags := range model {
			if _, ok := m.entries.GetIfPresent(k); !ok {
				continue
			}
			want := slices.Compact(slices.Sorted(slices.Values(tags)))
			if got := m.index.tagsOf(k, pool...); !slices.Equal(got, want) {
				t.Fatalf("step %d: %s is indexed under %q; want %q", step, k, got, want)
			}
		}
	}
	if m.Evictions() == 0 || m.Purged() == 0 {
		t.Errorf("the run evicted %d entries and purged %d; want some of each", m.Evictions(), m.Purged())
	}
}

func TestAllocSize(t *testing.T) {
	tests := []struct{ n, want int }{
		{0, 0}, {1, 8}, {8, 8}, {9, 16}, {700, 704}, {705, 768}, {1024, 1024},
		{1025, 1152}, {10000, 10240}, {32768, 32768}, {32769, 40960},
	}
	for _, tt := range tests {
		if got := allocSize(tt.n); got != tt.want {
			t.Errorf("allocSize(%d) = %d; want %d", tt.n, got, tt.want)
		}
	}
	// Every size maps to the smallest class that holds it.
	for n := 1; n <= 32768; n++ {
		got := allocSize(n)
		i := slices.Index(sizeClasses[:], got)
		if got < n || i < 0 || (i > 0 && sizeClasses[i-1] >= n) {
			t.Fatalf("allocSize(%d) = %d; want the smallest size class of at least %d", n, got, n)
		}
	}
}

// sameMap reports whether a and b are the same map.
func sameMap(a, b http.Header) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// TestMemorySharesHeaders checks that entries with equal headers share one
// map, a copy of none of the callers', that the table forgets a header with
// its last entry, and that past its budget an entry keeps a header of its
// own and is charged for it.
func TestMemorySharesHeaders(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Unix(1700000000, 0)}
	m := newTestMemory(t, c) // 1 MiB: a budget of 16 KiB
	header := func(n int) http.Header {
		return http.Header{"Content-Type": {"application/json; charset=UTF-8"}, "Content-Length": {strconv.Itoa(n)}}
	}
	set := func(key string, h http.Header, tags ...string) *Entry {
		t.Helper()
		e := entry(c, "{}", time.Minute, tags...)
		e.Header = h
		if err := m.Set(ctx, key, e, mustFence(t, m)); err != nil {
			t.Fatal(err)
		}
		got, err := m.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	h1 := header(2)
	a := set("a", h1, "pay_1")
	b := set("b", header(2), "pay_2")
	other := set("c", header(3))
	if !sameMap(a.Header, b.Header) {
		t.Errorf("entries with equal headers hold two maps; want one")
	}
	if sameMap(a.Header, h1) {
		t.Errorf("the shared header is the caller's map; want the store's copy")
	}
	if !reflect.DeepEqual(a.Header, h1) || !reflect.DeepEqual(other.Header, header(3)) {
		t.Errorf("stored headers %v, %v; want %v, %v", a.Header, other.Header, h1, header(3))
	}
	if sameMap(a.Header, other.Header) {
		t.Errorf("entries with different headers share a map")
	}
	if n := len(m.index.headers.byKey); n != 2 {
		t.Errorf("table holds %d headers; want 2", n)
	}
	assertIndexConsistent(t, m)

	m.Purge(ctx, "pay_1")
	assertIndexConsistent(t, m)
	if n := len(m.index.headers.byKey); n != 2 {
		t.Errorf("table holds %d headers after one of two users went; want 2", n)
	}
	m.Purge(ctx, "pay_2")
	m.entries.Invalidate("c")
	assertIndexConsistent(t, m)
	if n, bytes := len(m.index.headers.byKey), m.index.headers.bytes; n != 0 || bytes != 0 {
		t.Errorf("table holds %d headers, %d bytes, after their entries went; want none", n, bytes)
	}

	// Fill the table's budget with distinct headers: the entries past it
	// keep their own copy, and weigh more by its cost.
	var plain, own *item
	for i := 0; ; i++ {
		e := entry(c, "{}", time.Hour)
		e.Header = header(1000 + i)
		key := fmt.Sprint("k", i)
		if err := m.Set(ctx, key, e, mustFence(t, m)); err != nil {
			t.Fatal(err)
		}
		it, _ := m.entries.GetIfPresent(key)
		if it.shared {
			plain = it
			continue
		}
		own = it
		if !reflect.DeepEqual(it.e.Header, e.Header) || sameMap(it.e.Header, e.Header) {
			t.Errorf("entry past the budget holds %v; want a copy of %v", it.e.Header, e.Header)
		}
		break
	}
	if m.index.headers.bytes > headerBudget(1<<20) {
		t.Errorf("table holds %d bytes; want at most its budget, %d", m.index.headers.bytes, headerBudget(1<<20))
	}
	if got, want := int(own.weight-plain.weight), headerCost(own.e.Header); got != want {
		t.Errorf("an entry with a header of its own weighs %d more; want its header's cost, %d", got, want)
	}
	assertIndexConsistent(t, m)
}

// TestMemoryKeepsNoTags checks that the store keeps no tags with its
// entries, only their hashes in the index, which a purge of any of them
// finds, and that otter and the item share one copy of the key.
func TestMemoryKeepsNoTags(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Unix(1700000000, 0)}
	tests := []struct {
		desc string
		tags []string
	}{
		{"one tag", []string{"pay_00000000000001"}},
		{"three tags", []string{"pay_00000000000001", "order_00000000000001", "cust_1"}},
		{"five tags, one empty, one twice", []string{"cust_1", "pay_00000000000001", "", "order_1", "cust_1"}},
	}
	for _, tt := range tests {
		for i := range tt.tags {
			t.Run(fmt.Sprintf("%s, purge of %q", tt.desc, tt.tags[i]), func(t *testing.T) {
				m := newTestMemory(t, c)
				key := strings.Clone("payment|0123|pay_00000000000001|")
				if err := m.Set(ctx, key, entry(c, "{}", time.Minute, tt.tags...), mustFence(t, m)); err != nil {
					t.Fatal(err)
				}
				e, err := m.Get(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				if e.Tags != nil {
					t.Errorf("stored entry holds tags %q; want none", e.Tags)
				}
				it, _ := m.entries.GetIfPresent(key)
				if oe, _ := m.entries.GetEntryQuietly(key); unsafe.StringData(oe.Key) != unsafe.StringData(it.key) {
					t.Errorf("otter holds another copy of the key than the item")
				}
				if got, want := m.index.tagsOf(key, tt.tags...), slices.Compact(slices.Sorted(slices.Values(tt.tags))); !slices.Equal(got, want) {
					t.Errorf("indexed under %q; want %q", got, want)
				}
				if err := m.Purge(ctx, tt.tags[i]); err != nil {
					t.Fatal(err)
				}
				if _, err := m.Get(ctx, key); !errors.Is(err, ErrMiss) {
					t.Errorf("Get after a purge of %q: %v; want ErrMiss", tt.tags[i], err)
				}
				assertIndexConsistent(t, m)
			})
		}
	}
}

// TestMemoryExpiresWithoutTicks checks that the store starts no goroutine
// of its own, and that entries past their KeepUntil leave otter and the
// index with the next write, though no tick drives otter's expiry.
func TestMemoryExpiresWithoutTicks(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Unix(1700000000, 0)}
	before := runtime.NumGoroutine()
	m := newTestMemory(t, c)
	def, err := NewMemory(MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	// Otter starts its clean-up goroutine, which returns at once without
	// ticks.
	for wait := time.Now().Add(time.Second); runtime.NumGoroutine() > before; time.Sleep(time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("%d goroutines a second after creating two stores; want %d", runtime.NumGoroutine(), before)
		}
	}
	for i := range 100 {
		m.Set(ctx, fmt.Sprint("k", i), entry(c, "x", time.Second, fmt.Sprint("qr_", i)), mustFence(t, m))
	}
	c.Add(2 * time.Second)
	m.Set(ctx, "last", entry(c, "x", time.Minute, "qr_last"), mustFence(t, m))
	deadline := time.Now().Add(5 * time.Second)
	for {
		items, _, _ := m.index.stats()
		if items == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("index holds %d items 5s after a write past their expiry; want 1", items)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := m.Len(); n != 1 {
		t.Errorf("Len() = %d after the write; want 1", n)
	}
}
