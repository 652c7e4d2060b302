package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// jsonLines decodes out as one JSON object per line, failing on anything else.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for l := range strings.Lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", l, err)
		}
		objs = append(objs, m)
	}
	return objs
}

func TestRedisLogPrintf(t *testing.T) {
	tests := []struct {
		desc   string
		format string
		args   []any
		want   string
	}{
		{"formatted", "redis: connection pool: failed to dial after %d attempts: %v", []any{1, "connection refused"}, "redis: connection pool: failed to dial after 1 attempts: connection refused"},
		{"trailing newline dropped", "push: drain: %v\n", []any{"eof"}, "push: drain: eof"},
		{"multi-line text stays on one line", "panic: %v\n%s", []any{"boom", "goroutine 1\nmain.go:1"}, "panic: boom\ngoroutine 1\nmain.go:1"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var out lockedBuilder
			redisLogger(slog.New(slog.NewJSONHandler(&out, nil))).Printf(context.Background(), tt.format, tt.args...)
			objs := jsonLines(t, out.String())
			if len(objs) != 1 {
				t.Fatalf("got %d lines; want 1: %q", len(objs), out.String())
			}
			m := objs[0]
			if m["level"] != "WARN" || m["msg"] != "redis client" || m["detail"] != tt.want {
				t.Errorf("got %v; want level WARN, msg %q, detail %q", m, "redis client", tt.want)
			}
		})
	}
}

func TestRedisLogBelowLevel(t *testing.T) {
	var out lockedBuilder
	redisLogger(slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelError}))).Printf(context.Background(), "x %d", 1)
	if got := out.String(); got != "" {
		t.Errorf("logged %q with the level at ERROR; want nothing", got)
	}
}

// TestRedisLogFromGoRedis makes go-redis itself log, by dialing a closed
// loopback port, and checks the line arrives as JSON.
func TestRedisLogFromGoRedis(t *testing.T) {
	var out lockedBuilder
	redis.SetLogger(redisLogger(slog.New(slog.NewJSONHandler(&out, nil))))
	// The logger is process-wide and has no getter; leave one that still
	// prints JSON, as the binary does.
	t.Cleanup(func() { redis.SetLogger(redisLogger(slog.New(slog.NewJSONHandler(os.Stderr, nil)))) })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, DialerRetries: 1, MaxRetries: -1})
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err == nil {
		t.Fatalf("PING %s succeeded; want a dial error", addr)
	}

	objs := jsonLines(t, out.String())
	var found bool
	for _, m := range objs {
		if m["level"] != "WARN" || m["msg"] != "redis client" {
			t.Errorf("line %v; want level WARN and msg %q", m, "redis client")
		}
		d, _ := m["detail"].(string)
		found = found || strings.Contains(d, "failed to dial") && strings.Contains(d, addr)
	}
	if !found {
		t.Errorf("output %q; want a line about failing to dial %s", out.String(), addr)
	}
}
