package cache

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	tests := []struct {
		desc string
		e    *Entry
	}{
		{desc: "typical", e: &Entry{
			Status:   200,
			Header:   http.Header{"Content-Type": {"application/json"}, "Content-Length": {"13"}},
			Body:     []byte(`{"id":"qr_1"}`),
			Tags:     []string{"qr_1", "cust_1"},
			StoredAt: at,
			TTL:      30 * time.Second,
		}},
		{desc: "kept stale", e: &Entry{
			Status:   200,
			Header:   http.Header{"Content-Type": {"application/json"}},
			Body:     []byte(`{}`),
			StoredAt: at,
			TTL:      10 * time.Second,
			Stale:    5 * time.Minute,
		}},
		{desc: "empty", e: &Entry{Status: 200, Header: http.Header{}, StoredAt: at}},
		{desc: "repeated header and binary tags", e: &Entry{
			Status:   404,
			Header:   http.Header{"Vary": {"Accept", "Accept-Encoding"}},
			Body:     []byte{0, 1, 2, 255},
			Tags:     []string{"", "a\x00{b}", strings.Repeat("x", 300)},
			StoredAt: time.UnixMilli(-5),
			TTL:      time.Millisecond,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := decodeEntry(string(encodeEntry(tt.e)))
			if err != nil {
				t.Fatalf("decodeEntry: %v", err)
			}
			assertSameEntry(t, got, tt.e)
		})
	}
}

// assertSameEntry compares entries field by field, times by instant.
func assertSameEntry(t *testing.T, got, want *Entry) {
	t.Helper()
	if got.Status != want.Status {
		t.Errorf("Status = %d, want %d", got.Status, want.Status)
	}
	wantHeader := want.Header
	if wantHeader == nil {
		wantHeader = http.Header{}
	}
	if !reflect.DeepEqual(got.Header, wantHeader) {
		t.Errorf("Header = %v, want %v", got.Header, wantHeader)
	}
	if !bytes.Equal(got.Body, want.Body) {
		t.Errorf("Body = %q, want %q", got.Body, want.Body)
	}
	if len(got.Tags) != len(want.Tags) || (len(want.Tags) > 0 && !reflect.DeepEqual(got.Tags, want.Tags)) {
		t.Errorf("Tags = %q, want %q", got.Tags, want.Tags)
	}
	if !got.StoredAt.Equal(want.StoredAt) {
		t.Errorf("StoredAt = %v, want %v", got.StoredAt, want.StoredAt)
	}
	if got.TTL != want.TTL {
		t.Errorf("TTL = %v, want %v", got.TTL, want.TTL)
	}
	if got.Stale != want.Stale {
		t.Errorf("Stale = %v, want %v", got.Stale, want.Stale)
	}
}

// TestDecodeVersion1 reads a value a gateway before stale retention wrote,
// as a rolling upgrade meets: version 1 had no Stale field.
func TestDecodeVersion1(t *testing.T) {
	// Version 1, status 200, StoredAt 1000 ms, TTL 30000 ms, one header
	// pair, one tag, then the body.
	v1 := []byte{1, 0xc8, 0x01, 0xd0, 0x0f, 0xb0, 0xea, 0x01, 1, 1, 'A', 1, 'b', 1, 1, 't'}
	v1 = append(v1, "body"...)
	got, err := decodeEntry(string(v1))
	if err != nil {
		t.Fatalf("decodeEntry(version 1): %v", err)
	}
	assertSameEntry(t, got, &Entry{Status: 200, Header: http.Header{"A": {"b"}}, Tags: []string{"t"}, Body: []byte("body"),
		StoredAt: time.UnixMilli(1000), TTL: 30 * time.Second})
}

func TestDecodeEntryCorrupt(t *testing.T) {
	valid := encodeEntry(&Entry{Status: 200, Header: http.Header{"A": {"b"}}, Tags: []string{"t"}, Body: []byte("body")})
	tests := []struct {
		desc string
		b    []byte
	}{
		{desc: "empty", b: nil},
		{desc: "unknown version", b: append([]byte{9}, valid[1:]...)},
		{desc: "truncated header", b: valid[:6]},
		{desc: "status out of range", b: []byte{codecVersion, 7, 0, 0, 0, 0}},
		{desc: "huge count", b: []byte{codecVersion, 200, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{desc: "string past end", b: []byte{codecVersion, 200, 1, 0, 0, 1, 50, 'a'}},
		{desc: "huge ttl", b: []byte{codecVersion, 200, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got, err := decodeEntry(string(tt.b)); !errors.Is(err, errCorrupt) {
				t.Errorf("decodeEntry(%x) = %v, %v; want errCorrupt", tt.b, got, err)
			}
		})
	}
}

func TestTagsRoundTrip(t *testing.T) {
	tests := []struct {
		desc string
		tags []string
	}{
		{desc: "one", tags: []string{"qr_1"}},
		{desc: "binary", tags: []string{"a\x00b", "", "{x}"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := decodeTags(string(encodeTags(tt.tags)))
			if err != nil || !reflect.DeepEqual(got, tt.tags) {
				t.Errorf("decodeTags(encodeTags(%q)) = %q, %v; want the tags", tt.tags, got, err)
			}
		})
	}
	if _, err := decodeTags("\x05a"); !errors.Is(err, errCorrupt) {
		t.Errorf("decodeTags(truncated) error = %v, want errCorrupt", err)
	}
}

func TestCompressEntry(t *testing.T) {
	json := []byte(strings.Repeat(`{"id":"qr_1","entity":"qr_code","status":"active"},`, 100))
	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	tests := []struct {
		desc     string
		header   http.Header
		body     []byte
		min      int
		wantGzip bool
	}{
		{desc: "compressible", body: json, min: 1024, wantGzip: true},
		{desc: "compressible with Vary", header: http.Header{"Vary": {"Accept"}}, body: json, min: 1024, wantGzip: true},
		{desc: "below minimum", body: json[:1000], min: 1024},
		{desc: "incompressible", body: random, min: 1024},
		{desc: "already encoded", header: http.Header{"Content-Encoding": {"br"}}, body: json, min: 1024},
		{desc: "disabled", body: json, min: -1},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			e := &Entry{Status: 200, Header: tt.header, Body: tt.body}
			got := compressEntry(e, tt.min)
			if !tt.wantGzip {
				if got != e {
					t.Errorf("compressEntry changed the entry: Content-Encoding %q", got.Header.Get("Content-Encoding"))
				}
				return
			}
			if ce := got.Header.Get("Content-Encoding"); ce != "gzip" {
				t.Fatalf("Content-Encoding = %q, want gzip", ce)
			}
			if !varies(got.Header, "Accept-Encoding") {
				t.Errorf("Vary = %q, want it to name Accept-Encoding", got.Header.Values("Vary"))
			}
			if e.Header.Get("Content-Encoding") != "" {
				t.Errorf("compressEntry modified the caller's header")
			}
			assertGzipOf(t, got, tt.body)
		})
	}
}

// assertGzipOf checks that e's body is the gzip of want and that its
// Content-Length describes the compressed body.
func assertGzipOf(t *testing.T, e *Entry, want []byte) {
	t.Helper()
	if got, want := e.Header.Get("Content-Length"), len(e.Body); got != strconv.Itoa(want) {
		t.Errorf("Content-Length = %s, want %d", got, want)
	}
	if 10*len(e.Body) > 9*len(want) {
		t.Errorf("stored %d bytes for a %d-byte body, want at least 10%% saved", len(e.Body), len(want))
	}
	zr, err := gzip.NewReader(bytes.NewReader(e.Body))
	if err != nil {
		t.Fatalf("gzip.NewReader: %v", err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("decompressed body: %d bytes, %v; want the original %d bytes", len(got), err, len(want))
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(&Entry{
		Status: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: []byte(`{"id":"qr_1"}`), Tags: []string{"qr_1"}, StoredAt: time.UnixMilli(1700000000000), TTL: time.Minute,
	}))
	f.Add(encodeEntry(&Entry{Status: 404}))
	f.Add([]byte{})
	f.Add([]byte{codecVersion, 200, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(string(b))
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("decodeEntry error %v does not wrap errCorrupt", err)
			}
			return
		}
		// Whatever decodes re-encodes to a value that decodes the same.
		again, err := decodeEntry(string(encodeEntry(e)))
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		assertSameEntry(t, again, e)
	})
}

func BenchmarkCodec(b *testing.B) {
	e := &Entry{
		Status:   200,
		Header:   http.Header{"Content-Type": {"application/json"}, "Content-Length": {"900"}},
		Body:     bytes.Repeat([]byte("x"), 900),
		Tags:     []string{"qr_1", "cust_1", "acc_1"},
		StoredAt: time.UnixMilli(1700000000000),
		TTL:      time.Minute,
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			encodeEntry(e)
		}
	})
	b.Run("decode", func(b *testing.B) {
		v := string(encodeEntry(e))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeEntry(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
