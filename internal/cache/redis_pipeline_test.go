package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/redistest"
)

// pipelineSizes is a go-redis hook that records the length of each
// pipeline of GETs a client sends (go-redis pipelines others of its own
// when it connects).
type pipelineSizes struct {
	mu    sync.Mutex // mu guards sizes.
	sizes []int
}

func (h *pipelineSizes) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *pipelineSizes) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *pipelineSizes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return c.Name() != "get" }) {
			h.mu.Lock()
			h.sizes = append(h.sizes, len(cmds))
			h.mu.Unlock()
		}
		return next(ctx, cmds)
	}
}

func (h *pipelineSizes) list() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.sizes)
}

// pipelineResult is what one caller of a getPipeline got.
type pipelineResult struct {
	val string
	err error
	d   time.Duration // d is how long the call took.
}

// getAll calls p.get for each key at once, each under its context in
// ctxs, and returns the results in keys' order.
func getAll(p *getPipeline, ctxs []context.Context, keys []string) []pipelineResult {
	res := make([]pipelineResult, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			start := time.Now()
			v, err := p.get(ctxs[i], k)
			res[i] = pipelineResult{v, err, time.Since(start)}
		})
	}
	wg.Wait()
	return res
}

// waitQueued waits until p's next batch holds n GETs.
func waitQueued(t *testing.T, p *getPipeline, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d GETs to queue", n), 5*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.next != nil && len(p.next.keys) == n
	})
}

// assertIdle checks that p has nothing in flight once its callers return:
// the goroutine sending batches has stopped.
func assertIdle(t *testing.T, p *getPipeline) {
	t.Helper()
	waitFor(t, "the pipeline to go idle", 5*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return !p.busy && p.next == nil
	})
}

func TestGetPipelineAnswers(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	ctx := context.Background()
	for i := range 100 {
		if err := rc.Set(ctx, "k"+strconv.Itoa(i), "v"+strconv.Itoa(i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.LPush(ctx, "list", "x").Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc     string
		maxBatch int
	}{
		{desc: "batches of up to 128", maxBatch: 128},
		{desc: "batches of 3, the rest on their own", maxBatch: 3},
		{desc: "batches of 1", maxBatch: 1},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := srv.Client(t)
			sizes := &pipelineSizes{}
			c.AddHook(sizes)
			p := newGetPipeline(c, tt.maxBatch)
			var keys []string
			for i := range 300 {
				switch i % 10 {
				case 3:
					keys = append(keys, "missing"+strconv.Itoa(i))
				case 7:
					keys = append(keys, "list")
				default:
					keys = append(keys, "k"+strconv.Itoa(i%100))
				}
			}
			ctxs := make([]context.Context, len(keys))
			for i := range ctxs {
				ctxs[i] = ctx
			}
			for i, r := range getAll(p, ctxs, keys) {
				switch k := keys[i]; {
				case k == "list":
					if r.err == nil || errors.Is(r.err, redis.Nil) {
						t.Errorf("get(%q) = %q, %v; want WRONGTYPE", k, r.val, r.err)
					}
				case k[0] == 'm':
					if !errors.Is(r.err, redis.Nil) {
						t.Errorf("get(%q) = %q, %v; want redis.Nil", k, r.val, r.err)
					}
				default:
					if want := "v" + k[1:]; r.err != nil || r.val != want {
						t.Errorf("get(%q) = %q, %v; want %q", k, r.val, r.err, want)
					}
				}
			}
			assertIdle(t, p)
			got := sizes.list()
			t.Logf("pipelines sent: %v", got)
			if m := slices.Max(append(got, 0)); m > tt.maxBatch {
				t.Errorf("a pipeline of %d GETs went out; want at most %d", m, tt.maxBatch)
			}
		})
	}
}

// goGet calls p.get on a goroutine and delivers its result.
func goGet(p *getPipeline, ctx context.Context, key string) <-chan pipelineResult {
	ch := make(chan pipelineResult, 1)
	go func() {
		start := time.Now()
		v, err := p.get(ctx, key)
		ch <- pipelineResult{v, err, time.Since(start)}
	}()
	return ch
}

// TestGetPipelineCallerGivesUp: a caller whose context ends while its GET
// waits for a batch returns at once with its context's error, and the
// other GETs of its batch are answered when Redis is.
func TestGetPipelineCallerGivesUp(t *testing.T) {
	srv := redistest.Start(t)
	rc := srv.Client(t)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if err := rc.Set(ctx, k, "v"+k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	sizes := &pipelineSizes{}
	rc.AddHook(sizes)
	p := newGetPipeline(rc, 128)
	srv.Pause()
	paused := true
	defer func() {
		if paused {
			srv.Resume()
		}
	}()

	// a goes out on its own and waits for Redis; b and c queue behind it.
	a := goGet(p, ctx, "a")
	waitFor(t, "a to go out", 5*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.busy
	})
	ctxB, cancelB := context.WithCancel(ctx)
	b := goGet(p, ctxB, "b")
	c := goGet(p, ctx, "c")
	waitQueued(t, p, 2)

	cancelB()
	select {
	case r := <-b:
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("get(b) after its caller gave up = %q, %v; want context.Canceled", r.val, r.err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("get(b) still waits for the paused Redis 2s after its caller gave up")
	}
	select {
	case r := <-c:
		t.Fatalf("get(c) returned %q, %v while Redis is paused", r.val, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	srv.Resume()
	paused = false

	for k, ch := range map[string]<-chan pipelineResult{"a": a, "c": c} {
		if r := <-ch; r.err != nil || r.val != "v"+k {
			t.Errorf("get(%s) = %q, %v; want %q", k, r.val, r.err, "v"+k)
		}
	}
	assertIdle(t, p)
	if got, want := sizes.list(), []int{2}; !slices.Equal(got, want) {
		t.Errorf("pipelines sent: %v, want %v: b, though given up, and c together", got, want)
	}
}

// TestGetPipelineRedisDown: GETs in flight and queued when Redis dies fail
// with its error, each of them, and GETs work again once it is back.
func TestGetPipelineRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	if srv.Shared() {
		t.Skip("needs a private redis-server to stop")
	}
	// Without retries, so that the dead Redis fails the GETs quickly.
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, ContextTimeoutEnabled: true})
	defer rc.Close()
	ctx := context.Background()
	p := newGetPipeline(rc, 128)
	srv.Pause()
	a := goGet(p, ctx, "a")
	waitFor(t, "a to go out", 5*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.busy
	})
	b, c := goGet(p, ctx, "b"), goGet(p, ctx, "c")
	waitQueued(t, p, 2)
	srv.Stop()
	for k, ch := range map[string]<-chan pipelineResult{"a": a, "b": b, "c": c} {
		select {
		case r := <-ch:
			if r.err == nil || errors.Is(r.err, redis.Nil) {
				t.Errorf("get(%s) with Redis stopped mid-batch = %q, %v; want a connection error", k, r.val, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("get(%s) still waits 10s after Redis stopped", k)
		}
	}
	assertIdle(t, p)

	srv.Restart()
	if err := rc.Set(ctx, "a", "va", 0).Err(); err != nil {
		t.Fatal(err)
	}
	res := getAll(p, []context.Context{ctx, ctx}, []string{"a", "b"})
	if r := res[0]; r.err != nil || r.val != "va" {
		t.Errorf("get(a) after the restart = %q, %v; want va", r.val, r.err)
	}
	if r := res[1]; !errors.Is(r.err, redis.Nil) {
		t.Errorf("get(b) after the restart = %q, %v; want redis.Nil", r.val, r.err)
	}
}

// TestGetPipelineDeadlines: with Redis paused, each GET gives up at its
// caller's deadline, whether it went out alone or waits in a batch, and a
// batch ends at the latest deadline of its callers, so that the GETs after
// it do not wait behind it once Redis answers again.
func TestGetPipelineDeadlines(t *testing.T) {
	srv := redistest.Start(t)
	if srv.Shared() {
		t.Skip("needs a private redis-server to pause")
	}
	rc := srv.Client(t)
	ctx := context.Background()
	if err := rc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	p := newGetPipeline(rc, 128)
	srv.Pause()
	paused := true
	defer func() {
		if paused {
			srv.Resume()
		}
	}()
	const timeout = 200 * time.Millisecond
	ctxs := make([]context.Context, 20)
	for i := range ctxs {
		var cancel context.CancelFunc
		ctxs[i], cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	keys := make([]string, len(ctxs))
	for i := range keys {
		keys[i] = "k"
	}
	for i, r := range getAll(p, ctxs, keys) {
		if !errors.Is(r.err, context.DeadlineExceeded) && !isTimeout(r.err) {
			t.Errorf("get %d with Redis paused = %q, %v; want its deadline's error", i, r.val, r.err)
		}
		if r.d > timeout+time.Second {
			t.Errorf("get %d with Redis paused took %v; want about its deadline, %v", i, r.d, timeout)
		}
	}
	// The batch and the lone GET end at their deadlines, not at the
	// client's read timeout (3s).
	assertIdle(t, p)
	srv.Resume()
	paused = false
	ctx1, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if v, err := p.get(ctx1, "k"); err != nil || v != "v" {
		t.Errorf("get after Redis resumed = %q, %v; want v", v, err)
	}
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
