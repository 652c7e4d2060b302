package proxy

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRequestDirectives(t *testing.T) {
	tests := []struct {
		desc string
		h    http.Header
		want requestDirectives
	}{
		{"none", http.Header{}, requestDirectives{}},
		{"no-cache", http.Header{"Cache-Control": {"no-cache"}}, requestDirectives{noCache: true}},
		{"no-store among others", http.Header{"Cache-Control": {"max-age=10, No-Store"}}, requestDirectives{noStore: true}},
		{"max-age=0", http.Header{"Cache-Control": {"max-age=0"}}, requestDirectives{noCache: true}},
		{"max-age=10", http.Header{"Cache-Control": {"max-age=10"}}, requestDirectives{}},
		{"pragma", http.Header{"Pragma": {"no-cache"}}, requestDirectives{noCache: true}},
		{"pragma ignored with cache-control", http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=5"}}, requestDirectives{}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := parseRequestDirectives(tt.h); got != tt.want {
				t.Errorf("parseRequestDirectives(%v) = %+v; want %+v", tt.h, got, tt.want)
			}
		})
	}
}

func TestResponseLifetime(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	const ttl = 30 * time.Second
	tests := []struct {
		desc   string
		h      http.Header
		want   time.Duration
		reason string
	}{
		{"plain", http.Header{"Content-Type": {"application/json"}}, ttl, ""},
		{"set-cookie", http.Header{"Set-Cookie": {"a=b"}}, 0, "set-cookie"},
		{"no-store", http.Header{"Cache-Control": {"no-store"}}, 0, "cache-control"},
		{"no-cache", http.Header{"Cache-Control": {"no-cache"}}, 0, "cache-control"},
		{"qualified no-cache", http.Header{"Cache-Control": {`no-cache="Set-Cookie"`}}, 0, "cache-control"},
		{"private", http.Header{"Cache-Control": {"max-age=60, private"}}, 0, "cache-control"},
		{"private with field", http.Header{"Cache-Control": {`private="x"`}}, 0, "cache-control"},
		{"max-age=0", http.Header{"Cache-Control": {"max-age=0"}}, 0, "stale"},
		{"s-maxage=0", http.Header{"Cache-Control": {"public, s-maxage=0"}}, 0, "stale"},
		{"s-maxage=0 beats max-age", http.Header{"Cache-Control": {"max-age=60, s-maxage=0"}}, 0, "stale"},
		{"s-maxage beats a shorter max-age", http.Header{"Cache-Control": {"max-age=1, s-maxage=20"}}, 20 * time.Second, ""},
		{"max-age caps", http.Header{"Cache-Control": {"max-age=5"}}, 5 * time.Second, ""},
		{"max-age over the TTL", http.Header{"Cache-Control": {"max-age=3600"}}, ttl, ""},
		{"quoted max-age", http.Header{"Cache-Control": {`max-age="7"`}}, 7 * time.Second, ""},
		{"repeated max-age, lowest wins", http.Header{"Cache-Control": {"max-age=20", "MAX-AGE=3"}}, 3 * time.Second, ""},
		{"invalid max-age", http.Header{"Cache-Control": {"max-age=soon"}}, 0, "cache-control"},
		{"negative max-age", http.Header{"Cache-Control": {"max-age=-1"}}, 0, "cache-control"},
		{"must-revalidate alone", http.Header{"Cache-Control": {"must-revalidate"}}, 0, "cache-control"},
		{"proxy-revalidate alone", http.Header{"Cache-Control": {"proxy-revalidate"}}, 0, "cache-control"},
		{"must-revalidate with a lifetime", http.Header{"Cache-Control": {"must-revalidate, max-age=8"}}, 8 * time.Second, ""},
		{"age subtracts", http.Header{"Cache-Control": {"max-age=10"}, "Age": {"4"}}, 6 * time.Second, ""},
		{"age past the lifetime", http.Header{"Cache-Control": {"max-age=10"}, "Age": {"10"}}, 0, "stale"},
		{"expires", http.Header{"Date": {date}, "Expires": {now.Add(12 * time.Second).Format(http.TimeFormat)}}, 12 * time.Second, ""},
		{"expires in the past", http.Header{"Date": {date}, "Expires": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0, "stale"},
		{"expires 0", http.Header{"Expires": {"0"}}, 0, "expires"},
		{"max-age beats expires", http.Header{"Cache-Control": {"max-age=9"}, "Expires": {"0"}}, 9 * time.Second, ""},
		{"vary star", http.Header{"Vary": {"*"}}, 0, "vary"},
		{"vary on a keyed header", http.Header{"Vary": {"Authorization, Accept-Encoding", "x-razorpay-account"}}, ttl, ""},
		{"vary on another header", http.Header{"Vary": {"Accept-Encoding, Origin"}}, 0, "vary"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, noStale, reason := responseLifetime(tt.h, ttl, now)
			if got != tt.want || reason != tt.reason {
				t.Errorf("responseLifetime(%v) = %v, %q; want %v, %q", tt.h, got, reason, tt.want, tt.reason)
			}
			cc := strings.Join(tt.h["Cache-Control"], ",")
			wantNoStale := strings.Contains(cc, "revalidate") || strings.Contains(cc, "s-maxage")
			if noStale != wantNoStale {
				t.Errorf("responseLifetime(%v) forbids stale reuse = %t; want %t", tt.h, noStale, wantNoStale)
			}
		})
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{"", false},
		{"gzip", true},
		{"br, GZIP", true},
		{"gzip;q=0", false},
		{"gzip; q=0.5", true},
		{"identity", false},
		{"*", true},
		{"deflate, br", false},
		{"gzip;q=0, *", false},
		{"*;q=0", false},
		{"GZIP;Q=0", false},
		{"*, gzip;q=0.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.v, func(t *testing.T) {
			h := http.Header{}
			if tt.v != "" {
				h.Set("Accept-Encoding", tt.v)
			}
			if got := acceptsGzip(h); got != tt.want {
				t.Errorf("acceptsGzip(%q) = %t; want %t", tt.v, got, tt.want)
			}
		})
	}
}
