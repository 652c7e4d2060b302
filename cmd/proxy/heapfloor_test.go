package main

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
)

func TestFloorGCPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tt := range []struct {
		live, scan uint64
		want       int
	}{
		{0, 0, maxGCPercent},
		{1 << 10, 1 << 10, maxGCPercent}, // capped
		{2 * mib, 2 * mib, 1500},         // 2 + 2*15 = 32 MiB
		{2 * mib, 4 * mib, 750},          // stacks and globals count in the goal: 2 + 4*7.5
		{8 * mib, 8 * mib, 300},          // 8 + 8*3
		{15 * mib, 15 * mib, 113},        // (32-15)/15, rounded down
		{16 * mib, 16 * mib, 100},        // half the floor: the runtime's own rule
		{10 * mib, 16 * mib, 100},        // the scanned heap counts too
		{100 * mib, 100 * mib, 100},      // a large cache doubles, no more
	} {
		if got := floorGCPercent(tt.live, tt.scan, heapFloor); got != tt.want {
			t.Errorf("floorGCPercent(live %d, scan %d) = %d; want %d", tt.live, tt.scan, got, tt.want)
		}
	}
}

// TestBinaryHeapFloor: after its first collection a small gateway raises
// GOGC so that the next one waits for the floor, unless the operator set
// GOGC.
func TestBinaryHeapFloor(t *testing.T) {
	bin := buildGateway(t)
	up := httptest.NewServer(fakerazorpay.New())
	defer up.Close()
	for _, tt := range []struct {
		desc    string
		environ []string
		raised  bool
	}{
		{"default", nil, true},
		{"GOGC set", []string{"GOGC=100"}, false},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			g := startGateway(t, bin, append([]string{"RZPGATE_UPSTREAM_URL=" + up.URL}, tt.environ...)...)
			waitFor(t, "http://"+g.admin+"/readyz", 200)
			// The start-up line says whether there is a floor.
			want := 0.0
			if tt.raised {
				want = heapFloor
			}
			if m := <-g.lines; m["msg"] != "rzpgate started" || m["heap_floor_bytes"] != want {
				t.Errorf("first log line %v; want rzpgate started with heap_floor_bytes %v", m, want)
			}
			go func() {
				for range g.lines { // the access log
				}
			}()
			// Hits make garbage until the gateway has collected twice:
			// the first collection comes at the runtime's initial 4 MB
			// goal and sets GOGC; the second, with the floor, at 32 MiB.
			deadline := time.Now().Add(30 * time.Second)
			var gcs, gogc float64
			for time.Now().Before(deadline) {
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						for range 250 {
							get(t, "http://"+g.listen+"/v1/payments/pay_DG4ZdRK8ZnXC3k?expand[]=upi")
						}
					})
				}
				wg.Wait()
				_, body := get(t, "http://"+g.admin+"/metrics")
				gcs, gogc = metric(t, body, "go_gc_duration_seconds_count"), metric(t, body, "go_gc_gogc_percent")
				if gcs >= 2 {
					break
				}
			}
			if gcs < 2 {
				t.Fatalf("%v collections within 30s; want 2", gcs)
			}
			if raised := gogc > 100; raised != tt.raised || gogc < 100 {
				t.Errorf("GOGC %v after %v collections; want it raised above 100: %v", gogc, gcs, tt.raised)
			}
		})
	}
}

// metric returns the value of the unlabelled sample name in body, a
// Prometheus text exposition.
func metric(t *testing.T, body, name string) float64 {
	t.Helper()
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}
