package cache

import (
	"encoding/binary"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

func TestDecodedHeadersShared(t *testing.T) {
	entry := func(body string, h http.Header) string {
		return string(encodeEntry(&Entry{Status: 200, Header: h, Body: []byte(body), StoredAt: time.UnixMilli(1), TTL: time.Minute}))
	}
	json := func(n int) http.Header {
		return http.Header{"Content-Type": {"application/json"}, "Content-Length": {strconv.Itoa(n)}}
	}
	decode := func(v string) *Entry {
		t.Helper()
		e, err := decodeEntry(v)
		if err != nil {
			t.Fatalf("decodeEntry: %v", err)
		}
		return e
	}
	a, b := decode(entry("ab", json(2))), decode(entry("cd", json(2)))
	if reflect.ValueOf(a.Header).UnsafePointer() != reflect.ValueOf(b.Header).UnsafePointer() {
		t.Errorf("two entries with equal headers decoded into two maps; want one shared")
	}
	c := decode(entry("abc", json(3)))
	if got, want := c.Header, json(3); !reflect.DeepEqual(got, want) {
		t.Errorf("header = %v, want %v", got, want)
	}

	// Every header decodes right, whatever it displaced or shares a slot
	// with: more distinct headers than the table has slots.
	for i := range 3 * headerSlots {
		if got, want := decode(entry("x", json(i))).Header, json(i); !reflect.DeepEqual(got, want) {
			t.Fatalf("header %d = %v, want %v", i, got, want)
		}
	}
}

// TestDecodedHeadersOwnTheirBytes: the table keeps its own copy of a
// header, not the value it was first decoded from, whose memory go-redis
// does not keep (and a caller's body may point into).
func TestDecodedHeadersOwnTheirBytes(t *testing.T) {
	h := http.Header{"Content-Type": {"text/own-bytes"}}
	buf := encodeEntry(&Entry{Status: 200, Header: h, Body: []byte("b"), StoredAt: time.UnixMilli(1)})
	if _, err := decodeEntry(unsafe.String(&buf[0], len(buf))); err != nil {
		t.Fatal(err)
	}
	clear(buf) // As if the value's memory were reused.
	e, err := decodeEntry(string(encodeEntry(&Entry{Status: 200, Header: h, StoredAt: time.UnixMilli(1)})))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e.Header, h) {
		t.Errorf("header = %q, want %q", e.Header, h)
	}
}

func FuzzDecoderVarint(f *testing.F) {
	for _, v := range []uint64{0, 1, 127, 128, 1<<63 - 1, 1 << 63, 1<<64 - 1} {
		f.Add(binary.AppendUvarint(nil, v))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := decoder{s: string(b)}
		got := d.uvarint()
		want, n := binary.Uvarint(b)
		if n <= 0 {
			if d.err == nil {
				t.Fatalf("uvarint(%x) = %d; want an error, as binary.Uvarint gives", b, got)
			}
		} else if d.err != nil || got != want || len(d.s) != len(b)-n {
			t.Fatalf("uvarint(%x) = %d, %v, %d bytes left; want %d, %d bytes left", b, got, d.err, len(d.s), want, len(b)-n)
		}
		d = decoder{s: string(b)}
		gotInt := d.varint()
		wantInt, n := binary.Varint(b)
		if n > 0 && (d.err != nil || gotInt != wantInt) {
			t.Fatalf("varint(%x) = %d, %v; want %d", b, gotInt, d.err, wantInt)
		}
	})
}
