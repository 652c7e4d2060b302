package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// benchSizes are the store sizes, in entries, that the Memory benchmarks
// compare: a fill or a hit should cost the same at each.
var benchSizes = []struct {
	name    string
	entries int
}{
	{"entries=1k", 1_000},
	{"entries=10k", 10_000},
	{"entries=100k", 100_000},
	{"entries=1M", 1_000_000},
}

// benchKey appends the key of the i'th payment entry to b, as
// internal/proxy/key.go derives it (route, a partition among 64, the
// payment id, the canonical query) but without fmt, so that building a key
// costs the benchmarks little at any size, as it costs the gateway.
func benchKey(b []byte, i int) []byte {
	const hex = "0123456789abcdef"
	b = append(b, "payment|"...)
	p := uint64(i%64) * 0x9e3779b97f4a7c15
	for range 16 {
		b = append(b, '0')
	}
	for s := 60; s >= 0; s -= 4 {
		b = append(b, hex[p>>s&15])
	}
	b = append(b, "|pay_"...)
	n := len(b)
	b = strconv.AppendInt(b, int64(i), 10)
	pad := 14 - (len(b) - n)
	b = append(b, "00000000000000"[:pad]...)
	copy(b[n+pad:], b[n:len(b)-pad])
	copy(b[n:n+pad], "00000000000000")
	return append(b, "|expand[]=upi"...)
}

// benchStore returns a store whose MaxBytes fits about n payment entries,
// filled with the first n, and a prototype entry for more. The entries
// share their body and headers, as entries of one size share interned
// headers, so that the benchmark's own heap stays small; the store counts
// the body for each.
func benchStore(tb testing.TB, n int) (*Memory, *Entry) {
	tb.Helper()
	now := time.Now()
	_, proto := paymentEntry(0, now)
	proto.Body = proto.Body[:len(proto.Body):len(proto.Body)]
	proto.TTL = time.Hour
	// The weight of an item leaves out the header, which all share, and
	// a 64th of MaxBytes is set apart for shared headers.
	weight := newItem(string(benchKey(nil, 0)), benchEntry(proto, 0)).weight
	m, err := NewMemory(MemoryConfig{MaxBytes: int64(n) * int64(weight) * 65 / 64})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	ctx := context.Background()
	for i := range n {
		f, _ := m.Fence(ctx)
		if err := m.Set(ctx, string(benchKey(nil, i)), benchEntry(proto, i), f); err != nil {
			tb.Fatal(err)
		}
	}
	m.entries.CleanUp()
	runtime.GC() // so the fill's garbage is not collected on the clock
	return m, proto
}

// benchEntry returns a copy of proto tagged with the i'th payment's id, a
// new string as the gateway's tags are.
func benchEntry(proto *Entry, i int) *Entry {
	e := *proto
	e.Tags = []string{string(append([]byte("pay_"), benchKey(nil, i)[len("payment|")+32+len("|pay_"):][:14]...))}
	return &e
}

// benchSet fills m, a full store of n entries, for b.N entries: each fill
// evicts. The keys from n on were never stored; later rounds store what was
// evicted since. next carries the position across calls.
func benchSet(b *testing.B, m *Memory, proto *Entry, n int, next *int) {
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		j := n + *next%n
		f, _ := m.Fence(ctx)
		m.Set(ctx, string(benchKey(make([]byte, 0, 80), j)), benchEntry(proto, j), f)
		*next++
	}
}

// benchGet looks up random keys among the first n from every core. The
// key is built for each Get, so it is in the CPU's cache as the gateway's
// is: what grows with the store is the store's own cost.
func benchGet(b *testing.B, m *Memory, n int) {
	ctx := context.Background()
	var misses atomic.Int64
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(seed.Add(1), uint64(time.Now().UnixNano())))
		buf := make([]byte, 0, 80)
		for pb.Next() {
			buf = benchKey(buf[:0], r.IntN(n))
			// The key does not outlive Get, which keeps no reference
			// to it.
			if _, err := m.Get(ctx, unsafe.String(unsafe.SliceData(buf), len(buf))); err != nil {
				misses.Add(1)
			}
		}
	})
	b.ReportMetric(float64(misses.Load())/float64(b.N), "misses/op")
}

// reportCPU starts counting the CPU time of the process, and returns a
// function that reports it per op as cpu-ns/op: on a shared machine,
// other processes stretch ns/op, the time on the wall, far more than the
// CPU time the benchmark takes. It counts every goroutine's, the garbage
// collector's and otter's included.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

// gcCPU returns the CPU a full collection takes, as the runtime counts
// it (its mark workers and assists, and the sweep).
func gcCPU() time.Duration {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	before := s[0].Value.Float64()
	runtime.GC()
	metrics.Read(s)
	return time.Duration((s[0].Value.Float64() - before) * float64(time.Second))
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMemorySet measures fills of a full store: each evicts.
func BenchmarkMemorySet(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			m, proto := benchStore(b, size.entries)
			next := 0
			benchSet(b, m, proto, size.entries, &next)
		})
	}
}

// BenchmarkMemoryGet measures hits of random keys, from every core.
func BenchmarkMemoryGet(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			m, _ := benchStore(b, size.entries)
			benchGet(b, m, size.entries)
		})
	}
}

// TestMemoryScale compares hits and fills at each of benchSizes with those
// at the smallest, as issue #11 asks: hits at 1M entries at least 0.95x
// as fast as at 1k, fills within 10%. The machine may be shared, so the
// sizes are interleaved, their order rotated each round, ops are timed in
// CPU time, and the median of the per-round ratios is reported with their
// spread. It takes a few
// minutes and about 2 GiB, so it runs only when RZPGATE_MEMORY_SCALE is set;
// it reports and does not fail.
func TestMemoryScale(t *testing.T) {
	if os.Getenv("RZPGATE_MEMORY_SCALE") == "" {
		t.Skip("set RZPGATE_MEMORY_SCALE=1 to compare hits and fills from 1k to 1M entries")
	}
	const rounds = 7
	type store struct {
		m     *Memory
		proto *Entry
		next  int
		get   []float64 // CPU ns/op of each round
		set   []float64
	}
	stores := make([]*store, len(benchSizes))
	for i, size := range benchSizes {
		m, proto := benchStore(t, size.entries)
		stores[i] = &store{m: m, proto: proto}
	}
	for round := range rounds {
		for k := range benchSizes {
			i := (k + round) % len(benchSizes)
			s, n := stores[i], benchSizes[i].entries
			s.get = append(s.get, testing.Benchmark(func(b *testing.B) { benchGet(b, s.m, n) }).Extra["cpu-ns/op"])
			s.set = append(s.set, testing.Benchmark(func(b *testing.B) { benchSet(b, s.m, s.proto, n, &s.next) }).Extra["cpu-ns/op"])
		}
	}
	// ratios returns the throughput at store i relative to the smallest
	// store's, round by round, sorted.
	ratios := func(i int, ns func(*store) []float64) []float64 {
		r := make([]float64, rounds)
		for j := range r {
			r[j] = ns(stores[0])[j] / ns(stores[i])[j]
		}
		slices.Sort(r)
		return r
	}
	for i, size := range benchSizes {
		g := ratios(i, func(s *store) []float64 { return s.get })
		f := ratios(i, func(s *store) []float64 { return s.set })
		t.Logf("%-13s get %5.0f cpu-ns/op, %.2fx of 1k (%.2f-%.2f); set %5.0f cpu-ns/op, %.2fx of 1k (%.2f-%.2f)",
			size.name, median(stores[i].get), g[rounds/2], g[0], g[rounds-1],
			median(stores[i].set), f[rounds/2], f[0], f[rounds-1])
	}
}

// median returns the median of xs, leaving xs as it was.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// paymentEntry returns the i'th of a stream of distinct entries shaped as
// the proxy stores a payment fetched by id with expand[]=upi: a key as
// internal/proxy/key.go derives it, a body of 743 to 745 bytes (its amount
// has 3 to 5 digits) read with append, a header map of its own holding
// Content-Type and Content-Length, the payment's id as a tag and, for every
// other entry, an order's id too.
func paymentEntry(i int, now time.Time) (key string, e *Entry) {
	pay := fmt.Sprintf("pay_%014d", i)
	order := fmt.Sprintf("order_%014d", i)
	key = fmt.Sprintf("payment|%032x|%s|expand[]=upi", uint64(i%64)*0x9e3779b97f4a7c15, pay)
	body := append([]byte(nil), fmt.Sprintf(`{"id":%q,"entity":"payment","amount":%d,"currency":"INR",`+
		`"status":"captured","order_id":%q,"international":false,"method":"upi",`+
		`"amount_refunded":0,"refund_status":null,"captured":true,"description":"Test",`+
		`"card_id":null,"bank":null,"wallet":null,"vpa":"gaurav.kumar@exampleupi","email":"gaurav.kumar@example.com",`+
		`"contact":"+919000090000","notes":{"address":"Razorpay Corporate Office"},"fee":1180,"tax":180,`+
		`"error_code":null,"error_description":null,"error_source":null,"error_reason":null,`+
		`"acquirer_data":{"rrn":"%012d","upi_transaction_id":"F3D2%028X"},"upi":{"payer_account_type":"bank_account",`+
		`"vpa":"gaurav.kumar@exampleupi","flow":"collect"},"created_at":1700000000}`,
		pay, 100+i%99_900, order, i, i)...)
	tags := []string{pay}
	if i%2 == 0 {
		tags = append(tags, order)
	}
	return key, &Entry{
		Status: http.StatusOK,
		Header: http.Header{
			"Content-Length": {strconv.Itoa(len(body))},
			"Content-Type":   {strings.Clone("application/json; charset=UTF-8")},
		},
		Body:     body,
		Tags:     tags,
		StoredAt: now,
		TTL:      10 * time.Second,
		Stale:    time.Duration(i%2) * 5 * time.Minute,
	}
}

// BenchmarkMemoryHeap fills a store with n payment entries, each made as
// the proxy makes them, and reports the live heap each one costs after a
// full collection, the store's own estimate of it (weight), and the heap
// the runtime keeps from the OS (heap-sys, and VmRSS from /proc). With
// GOGC=100 the heap peaks at about twice the live heap between collections,
// so 2*live is what a process holding only the store would need. It also
// reports the CPU one more full collection takes (gc-cpu-ms): what the
// runtime spends every two minutes on an idle gateway holding the entries.
func BenchmarkMemoryHeap(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			for b.Loop() {
				now := time.Unix(1700000000, 0)
				before := liveHeap()
				m, err := NewMemory(MemoryConfig{MaxBytes: 64 << 30, Clock: func() time.Time { return now }})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				f, _ := m.Fence(ctx)
				for i := range n {
					key, e := paymentEntry(i, now)
					if err := m.Set(ctx, key, e, f); err != nil {
						b.Fatal(err)
					}
				}
				m.entries.CleanUp()
				live := float64(int64(liveHeap())-int64(before)) / float64(n)
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if got := m.Len(); got != n {
					b.Fatalf("store holds %d entries; want %d", got, n)
				}
				b.ReportMetric(live, "heap-B/entry")
				b.ReportMetric(float64(m.Bytes())/float64(n), "weight-B/entry")
				b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heap-sys-MiB")
				b.ReportMetric(float64(procStatus("VmRSS:"))/(1<<20), "rss-MiB")
				b.ReportMetric(2*live*float64(n)/(1<<20), "2xlive-MiB")
				b.ReportMetric(gcCPU().Seconds()*1000, "gc-cpu-ms")
				m.Close()
				runtime.KeepAlive(m)
			}
		})
	}
}

// TestMemoryIdle holds a million payment entries for 10 s and reports the
// CPU the process spends meanwhile, as a share of one core (issue #11
// wants less than 1%): first idle, then with one collection forced at the
// start, as the runtime forces one every two minutes when nothing else
// triggers it. It takes 2 GiB and a minute, so it runs only when
// RZPGATE_MEMORY_SCALE is set; it reports and does not fail.
func TestMemoryIdle(t *testing.T) {
	if os.Getenv("RZPGATE_MEMORY_SCALE") == "" {
		t.Skip("set RZPGATE_MEMORY_SCALE=1 to measure the idle CPU of a million entries")
	}
	const n, window = 1_000_000, 10 * time.Second
	m, err := NewMemory(MemoryConfig{MaxBytes: 64 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	now := time.Now()
	for i := range n {
		key, e := paymentEntry(i, now)
		e.TTL = time.Hour // nothing expires in the windows
		if err := m.Set(ctx, key, e, mustFence(t, m)); err != nil {
			t.Fatal(err)
		}
	}
	m.entries.CleanUp()
	runtime.GC()
	time.Sleep(2 * time.Second) // for the sweeper and scavenger to settle
	share := func(cpu time.Duration) float64 { return 100 * float64(cpu) / float64(window) }

	start := cpuTime()
	time.Sleep(window)
	idle := cpuTime() - start

	wall := time.Now()
	start = cpuTime()
	runtime.GC()
	gc := cpuTime() - start
	time.Sleep(time.Until(wall.Add(window)))
	forced := cpuTime() - start

	t.Logf("%d entries, live heap %d MiB: idle %.2f%% of a core; with a forced collection %.2f%% (the collection alone %v of CPU, %.2f%% of a core over the runtime's two-minute period)",
		m.Len(), liveHeap()>>20, share(idle), share(forced), gc.Round(time.Millisecond), 100*float64(gc)/float64(2*time.Minute))
	runtime.KeepAlive(m)
}

// TestMemoryRSS runs itself as a child process under each of a few garbage
// collector settings, fills a store bounded as the gateway's is by default
// (256 MiB) with 100k payment entries, each fill leaving 16 KiB of garbage
// as a request through the gateway does, goes on refilling them for a few
// seconds, and reports the child's resident memory (VmRSS at the end and
// VmHWM, its peak) and live heap: issue #11 wants at most 150 MiB. It runs
// only when RZPGATE_MEMORY_SCALE is set; it reports and does not fail.
func TestMemoryRSS(t *testing.T) {
	if os.Getenv("RZPGATE_MEMORY_RSS_CHILD") != "" {
		memoryRSSChild(t)
		return
	}
	if os.Getenv("RZPGATE_MEMORY_SCALE") == "" {
		t.Skip("set RZPGATE_MEMORY_SCALE=1 to measure the resident memory of 100k entries")
	}
	for _, env := range [][]string{
		{"GOGC=100"},
		{"GOGC=50"},
		{"GOGC=25"},
		{"GOGC=100", "GOMEMLIMIT=150MiB"},
		{"GOGC=100", "GOMEMLIMIT=128MiB"},
		{"GOGC=off", "GOMEMLIMIT=150MiB"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestMemoryRSS$", "-test.v")
		cmd.Env = append(append(os.Environ(), "RZPGATE_MEMORY_RSS_CHILD=1"), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", env, err, out)
		}
		_, res, _ := strings.Cut(string(out), "result: ")
		res, _, _ = strings.Cut(res, "\n")
		t.Logf("%-30s %s", strings.Join(env, " "), res)
	}
}

// memoryRSSChild is TestMemoryRSS in the child.
func memoryRSSChild(t *testing.T) {
	const n, garbage = 100_000, 16 << 10
	m, err := NewMemory(MemoryConfig{MaxBytes: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	var sink []byte
	fill := func(i int) {
		sink = make([]byte, garbage)
		key, e := paymentEntry(i, time.Now())
		e.TTL = time.Hour
		if err := m.Set(ctx, key, e, mustFence(t, m)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for i := range n {
		fill(i)
	}
	for i := 0; time.Since(start) < 10*time.Second; i++ {
		fill(i % n)
	}
	rss, hwm := procStatus("VmRSS:"), procStatus("VmHWM:")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gcs := ms.NumGC
	live := liveHeap()
	fmt.Printf("result: VmRSS %3d MiB, VmHWM %3d MiB, live heap %3d MiB, %d entries, %d collections, %.0f%% of the CPU in the GC\n",
		rss>>20, hwm>>20, live>>20, m.Len(), gcs, 100*ms.GCCPUFraction)
	runtime.KeepAlive(sink)
}

// procStatus returns a size in bytes from /proc/self/status, or 0.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
