package proxy

import (
	"net/http"
	"testing"
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

func TestStorableResponse(t *testing.T) {
	tests := []struct {
		desc string
		h    http.Header
		want bool
	}{
		{"plain", http.Header{"Content-Type": {"application/json"}}, true},
		{"no-cache is storable", http.Header{"Cache-Control": {"no-cache"}}, true},
		{"set-cookie", http.Header{"Set-Cookie": {"a=b"}}, false},
		{"no-store", http.Header{"Cache-Control": {"no-store"}}, false},
		{"private", http.Header{"Cache-Control": {"max-age=0, private"}}, false},
		{"private with field", http.Header{"Cache-Control": {`private="x"`}}, false},
		{"vary star", http.Header{"Vary": {"*"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := storableResponse(tt.h); got != tt.want {
				t.Errorf("storableResponse(%v) = %t; want %t", tt.h, got, tt.want)
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
