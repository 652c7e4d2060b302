package redistest_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/redistest"
)

func TestServer(t *testing.T) {
	s := redistest.Start(t)
	c := s.Client(t)
	ctx := context.Background()

	if got, want := s.URL(), "redis://"+s.Addr(); got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q, want a 127.0.0.1 address", s.Addr())
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.FlushAll(t)
	if got, err := c.Exists(ctx, "k").Result(); err != nil || got != 0 {
		t.Errorf("EXISTS after FlushAll = %d, %v; want 0, nil", got, err)
	}

	t.Run("pause", func(t *testing.T) {
		if s.Shared() {
			t.Skip("needs a private redis-server")
		}
		s.Pause()
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		paused := redis.NewClient(&redis.Options{Addr: s.Addr(), ContextTimeoutEnabled: true})
		defer paused.Close()
		if err := paused.Ping(ctx).Err(); err == nil {
			t.Errorf("PING while paused succeeded, want a timeout")
		}
		s.Resume()
		if err := c.Ping(context.Background()).Err(); err != nil {
			t.Errorf("PING after Resume: %v", err)
		}
	})

	t.Run("stop and restart", func(t *testing.T) {
		if s.Shared() {
			t.Skip("needs a private redis-server")
		}
		addr := s.Addr()
		s.Stop()
		if err := c.Ping(ctx).Err(); err == nil {
			t.Errorf("PING after Stop succeeded, want an error")
		}
		s.Restart()
		if got := s.Addr(); got != addr {
			t.Errorf("Addr() after Restart = %q, want %q", got, addr)
		}
		if err := c.Ping(ctx).Err(); err != nil {
			t.Errorf("PING after Restart: %v", err)
		}
	})
}

func TestStartTwice(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	if os.Getenv(redistest.EnvURL) == "" && a.Addr() == b.Addr() {
		t.Errorf("two private servers share %s", a.Addr())
	}
	ctx := context.Background()
	for _, s := range []*redistest.Server{a, b} {
		if err := s.Client(t).Ping(ctx).Err(); err != nil {
			t.Errorf("PING %s: %v", s.Addr(), err)
		}
	}
}

// recordingTB is a testing.TB whose Skip and Fatal record the message and
// end the calling goroutine, so a test can check how Start gives up.
type recordingTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recordingTB) Skipf(format string, args ...any) { r.Skip(fmt.Sprintf(format, args...)) }
func (r *recordingTB) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recordingTB) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

func TestStartWithoutRedisServer(t *testing.T) {
	tests := []struct {
		desc      string
		ci        string
		wantSkip  string
		wantFatal string
	}{
		{desc: "local run skips loudly", ci: "", wantSkip: "REDIS TESTS SKIPPED"},
		{desc: "CI fails", ci: "true", wantFatal: "install redis-server"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir())
			t.Setenv(redistest.EnvURL, "")
			t.Setenv("CI", tt.ci)
			rec := &recordingTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				redistest.Start(rec)
				t.Error("Start returned a server without redis-server on PATH")
			}()
			<-done
			if !strings.Contains(rec.skipped, tt.wantSkip) || (tt.wantSkip == "") != (rec.skipped == "") {
				t.Errorf("Skip message = %q, want one containing %q", rec.skipped, tt.wantSkip)
			}
			if !strings.Contains(rec.fatal, tt.wantFatal) || (tt.wantFatal == "") != (rec.fatal == "") {
				t.Errorf("Fatal message = %q, want one containing %q", rec.fatal, tt.wantFatal)
			}
		})
	}
}

func TestStartWithEnvURL(t *testing.T) {
	own := redistest.Start(t)
	t.Setenv(redistest.EnvURL, own.URL())
	rec := &recordingTB{TB: t}
	ext := redistest.Start(rec)
	if got, want := ext.Addr(), own.Addr(); got != want {
		t.Errorf("Addr() = %q, want the server named by %s, %q", got, redistest.EnvURL, want)
	}
	if err := ext.Client(t).Ping(context.Background()).Err(); err != nil {
		t.Errorf("PING: %v", err)
	}
	tests := []struct {
		desc string
		op   func()
	}{
		{"Stop", ext.Stop}, {"Restart", ext.Restart}, {"Pause", ext.Pause}, {"Resume", ext.Resume},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			rec.skipped = ""
			done := make(chan struct{})
			go func() {
				defer close(done)
				tt.op()
			}()
			<-done
			if !strings.Contains(rec.skipped, redistest.EnvURL) {
				t.Errorf("%s on a shared server: Skip message = %q, want one naming %s", tt.desc, rec.skipped, redistest.EnvURL)
			}
		})
	}
	if err := own.Client(t).Ping(context.Background()).Err(); err != nil {
		t.Errorf("the shared server was disturbed: PING: %v", err)
	}
}
