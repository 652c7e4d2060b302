package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestAccessLineMatchesSlog checks that the hand-built access line carries
// exactly what slog's JSONHandler wrote for the same request, so that log
// pipelines see one shape whichever wrote it.
func TestAccessLineMatchesSlog(t *testing.T) {
	at := time.Date(2026, 11, 22, 7, 46, 7, 123456789, time.UTC)
	tests := []struct {
		desc string
		line accessLine
	}{
		{"hit", accessLine{id: "0123abcd", method: "GET", route: "payment", path: "/v1/payments/pay_1",
			status: 200, cache: "hit", duration: 1234 * time.Microsecond}},
		{"abort", accessLine{id: "x", method: "POST", route: "other", path: "/v1/orders",
			status: 499, cache: "none", duration: time.Second, abort: "client_gone"}},
		{"hostile path", accessLine{id: "x", method: "GET", route: "other",
			path: "/v1/\"},\"status\":1,\"x\":\"\\\n\t\x00\x1f<>&\u2028é\xff\xfeend", status: 404, cache: "none"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			l := tt.line
			l.time = at
			var got bytes.Buffer
			writeAccessLine(&got, &l)

			var want bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&want, nil))
			attrs := []slog.Attr{
				slog.String("request_id", l.id),
				slog.String("method", l.method),
				slog.String("route", l.route),
				slog.String("path", l.path),
				slog.Int("status", l.status),
				slog.String("cache", l.cache),
				slog.Int64("duration_us", l.duration.Microseconds()),
			}
			if l.abort != "" {
				attrs = append(attrs, slog.String("abort", l.abort))
			}
			log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)

			if n := bytes.Count(got.Bytes(), []byte("\n")); n != 1 || !bytes.HasSuffix(got.Bytes(), []byte("\n")) {
				t.Fatalf("line %q: want exactly one trailing newline", got.String())
			}
			g, w := decodeLine(t, got.Bytes()), decodeLine(t, want.Bytes())
			if g["time"] != "2026-11-22T07:46:07.123Z" {
				t.Errorf("time = %v; want 2026-11-22T07:46:07.123Z", g["time"])
			}
			delete(g, "time")
			delete(w, "time")
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			if !bytes.Equal(gb, wb) {
				t.Errorf("hand-built line decodes to\n%s\nslog's to\n%s", gb, wb)
			}
		})
	}
}

func decodeLine(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("line %q is not JSON: %v", b, err)
	}
	return m
}

// FuzzAppendJSONString checks that any string, valid UTF-8 or not, becomes
// one JSON string that decodes back to it (invalid bytes as U+FFFD).
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "/v1/payments/pay_1", "a\"b\\c\n", "\xff\x00<>&\u2028", "é€𝄞"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes to %q, not JSON: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); got != want && utf8.ValidString(s) {
			t.Errorf("%q round-trips to %q", s, got)
		}
		if bytes.ContainsAny(b, "\n\r<>&") {
			t.Errorf("%q encodes to %q: raw newline or HTML character", s, b)
		}
	})
}

// TestAppendTime checks the cached formatting against time.Format, across
// seconds, zones and millisecond edges.
func TestAppendTime(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	base := time.Date(2026, 11, 22, 23, 59, 59, 0, time.UTC)
	for _, d := range []time.Duration{0, time.Millisecond, 999 * time.Millisecond, 999999999, time.Second, 1500 * time.Millisecond, 24 * time.Hour} {
		for _, loc := range []*time.Location{time.UTC, ist, time.UTC} {
			at := base.Add(d).In(loc)
			for range 2 { // once to fill the cache, once from it
				if got, want := string(appendTime(nil, at)), at.Format("2006-01-02T15:04:05.000Z07:00"); got != want {
					t.Errorf("appendTime(%v) = %s; want %s", at, got, want)
				}
			}
		}
	}
}
