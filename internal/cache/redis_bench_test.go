package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/redistest"
)

// benchRedisKeys is how many entries the Redis benchmarks spread their
// reads over.
const benchRedisKeys = 1000

// benchRedisEntry returns the i-th entry of the Redis benchmarks: a QR
// code of about 750 bytes of JSON, with the headers the gateway stores and
// two tags, too small to be stored compressed.
func benchRedisEntry(i int, now time.Time) (string, *Entry) {
	qr, cust := fmt.Sprintf("qr_%014d", i), fmt.Sprintf("cust_%014d", i%100)
	body := fmt.Sprintf(`{"id":%q,"entity":"qr_code","created_at":1700000000,"name":"Store Front",`+
		`"usage":"multiple_use","type":"upi_qr","image_url":"https://rzp.io/i/BWcUVrLp","payment_amount":null,`+
		`"status":"active","description":"For Store 1","fixed_amount":false,"payments_amount_received":500,`+
		`"payments_count_received":1,"notes":{"purpose":"Test UPI QR code notes"},"customer_id":%q,`+
		`"close_by":1681615838,"closed_at":null,"close_reason":null,"payments":{"entity":"collection",`+
		`"count":1,"items":[{"id":"pay_%014d","entity":"payment","amount":500,"currency":"INR","status":"captured",`+
		`"method":"upi","captured":true,"vpa":"success@razorpay","email":"gaurav.kumar@example.com",`+
		`"contact":"+919000090000","fee":10,"tax":0}]}}`, qr, cust, i)
	key := "rzp_test_AbCdEfGhIjKlMn|GET|/v1/payments/qr_codes/" + qr + "?expand[]=payments"
	return key, &Entry{
		Status: http.StatusOK,
		Header: http.Header{
			"Content-Type":   {"application/json; charset=utf-8"},
			"Content-Length": {strconv.Itoa(len(body))},
		},
		Body:     []byte(body),
		Tags:     []string{qr, cust},
		StoredAt: now,
		TTL:      time.Hour,
	}
}

// BenchmarkRedisGet measures cache hits through the chain cmd/proxy builds
// in shared mode, against a real redis-server, from 64 goroutines at once
// as a loaded gateway would: Guard(Redis) without a near cache, and
// Guard(Near(Redis)) with one. Besides time and allocations per hit it
// reports the CPU the benchmark process (the gateway's side) and the
// redis-server spent per hit, since both share the machine.
func BenchmarkRedisGet(b *testing.B) {
	srv := redistest.Start(b)
	tests := []struct {
		desc   string
		near   bool
		nopipe bool
	}{
		{desc: "chain=guard-redis"},
		{desc: "chain=guard-redis-nopipe", nopipe: true},
		{desc: "chain=guard-near-redis", near: true},
	}
	for _, tt := range tests {
		b.Run(tt.desc, func(b *testing.B) {
			srv.FlushAll(b)
			client := srv.Client(b)
			cfg := RedisConfig{}
			if tt.nopipe {
				cfg.MaxBatch = -1
			}
			rs, err := NewRedis(client, cfg)
			if err != nil {
				b.Fatal(err)
			}
			var inner Store = rs
			if tt.near {
				n, err := NewNear(rs, client, NearConfig{TTL: time.Hour})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { n.Close() })
				waitLive(b, n)
				inner = n
			}
			g := NewGuard(inner, GuardConfig{Timeout: time.Second})
			b.Cleanup(func() { g.Close() })
			ctx := context.Background()
			now := time.Now()
			keys := make([]string, benchRedisKeys)
			for i := range keys {
				var e *Entry
				keys[i], e = benchRedisEntry(i, now)
				f, err := g.Fence(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := g.Set(ctx, keys[i], e, f); err != nil {
					b.Fatal(err)
				}
			}
			redisCPU := func() time.Duration { return redisServerCPU(b, client) }
			// RunParallel starts SetParallelism times GOMAXPROCS goroutines.
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			startRedis, start := redisCPU(), processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rnd := rand.New(rand.NewPCG(rand.Uint64(), 0))
				for pb.Next() {
					e, err := g.Get(ctx, keys[rnd.IntN(len(keys))])
					if err != nil || len(e.Body) == 0 {
						b.Errorf("Get: %v, %v", e, err)
						return
					}
				}
			})
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(processCPU()-start)/n, "cpu-ns/op")
			b.ReportMetric(float64(redisCPU()-startRedis)/n, "redis-cpu-ns/op")
		})
	}
}

// waitLive waits until n's subscription is confirmed, so that it keeps
// what it reads.
func waitLive(tb testing.TB, n *Near) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n.mu.Lock()
		live := n.live
		n.mu.Unlock()
		if live {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("near cache: subscription not confirmed within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisServerCPU returns the user and system CPU time the redis-server
// behind c has used, from INFO cpu.
func redisServerCPU(tb testing.TB, c *redis.Client) time.Duration {
	tb.Helper()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		tb.Fatalf("INFO cpu: %v", err)
	}
	var total float64
	for line := range strings.SplitSeq(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			s, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("INFO cpu: %s: %v", line, err)
			}
			total += s
		}
	}
	return time.Duration(total * float64(time.Second))
}
