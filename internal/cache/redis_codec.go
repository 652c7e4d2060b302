package cache

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// codecVersion is the first byte of every encoded entry. A gateway that
// reads a version it does not know treats the value as a miss, so a rolling
// upgrade that changes the encoding only costs refills. Version 2 added
// Stale after TTL; version 1 values still decode, with no stale time.
const codecVersion = 2

// errCorrupt is wrapped by every decoding error.
var errCorrupt = errors.New("corrupt cache value")

// encodeEntry returns the binary encoding of e: the version byte, then the
// status, StoredAt in unix milliseconds, TTL in milliseconds, the header
// as name/value pairs, the tags, and the body as the remainder. It stores
// only what e holds; the proxy never puts credentials in an Entry.
func encodeEntry(e *Entry) []byte {
	n := 1 + 3*binary.MaxVarintLen64 + len(e.Body)
	for k, vs := range e.Header {
		for _, v := range vs {
			n += 2*binary.MaxVarintLen32 + len(k) + len(v)
		}
	}
	for _, t := range e.Tags {
		n += binary.MaxVarintLen32 + len(t)
	}
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(e.Status))
	b = binary.AppendVarint(b, e.StoredAt.UnixMilli())
	b = binary.AppendUvarint(b, uint64(max(e.TTL, 0).Milliseconds()))
	b = binary.AppendUvarint(b, uint64(max(e.Stale, 0).Milliseconds()))
	pairs := 0
	for _, vs := range e.Header {
		pairs += len(vs)
	}
	b = binary.AppendUvarint(b, uint64(pairs))
	// Sorted names make equal entries encode equally, which tests rely on.
	for _, k := range slices.Sorted(maps.Keys(e.Header)) {
		for _, v := range e.Header[k] {
			b = appendString(b, k)
			b = appendString(b, v)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(e.Tags)))
	for _, t := range e.Tags {
		b = appendString(b, t)
	}
	return append(b, e.Body...)
}

// decodeEntry parses a value written by encodeEntry. It returns an error
// wrapping errCorrupt, never panics, for any other input.
//
// decodeEntry copies nothing, since a hit's value is mostly body and the
// entry is immutable (issue #11): the tags are substrings of v, the body
// shares v's bytes, as go-redis's StringCmd.Bytes does, and the header is
// the one shared by every entry stored with the same header (see
// headerBlocks), so neither may be modified.
func decodeEntry(v string) (*Entry, error) {
	d := decoder{s: v}
	version := d.byte()
	if version != 1 && version != codecVersion {
		return nil, fmt.Errorf("%w: unknown version %d", errCorrupt, version)
	}
	status := d.uvarint()
	storedAt := d.varint()
	ttl := d.uvarint()
	var stale uint64
	if version >= 2 {
		stale = d.uvarint()
	}
	if d.err == nil && stale > math.MaxInt64/uint64(time.Millisecond) {
		return nil, fmt.Errorf("%w: stale %dms", errCorrupt, stale)
	}
	if d.err == nil && (status < 100 || status > 999) {
		return nil, fmt.Errorf("%w: status %d", errCorrupt, status)
	}
	if d.err == nil && ttl > math.MaxInt64/uint64(time.Millisecond) {
		return nil, fmt.Errorf("%w: ttl %dms", errCorrupt, ttl)
	}
	e := &Entry{
		Status:   int(status),
		StoredAt: time.UnixMilli(storedAt),
		TTL:      time.Duration(ttl) * time.Millisecond,
		Stale:    time.Duration(stale) * time.Millisecond,
	}
	block := d.s
	for range d.count() {
		d.string()
		d.string()
	}
	if d.err != nil {
		return nil, d.err
	}
	e.Header = headerBlocks.get(block[:len(block)-len(d.s)])
	if n := d.count(); n > 0 {
		e.Tags = make([]string, 0, n)
		for range n {
			e.Tags = append(e.Tags, d.string())
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.s) > 0 {
		e.Body = unsafe.Slice(unsafe.StringData(d.s), len(d.s))
	}
	return e, nil
}

// encodeTags returns the payload of a purge message: each tag with its
// length, so that tags may hold any bytes.
func encodeTags(tags []string) []byte {
	var b []byte
	for _, t := range tags {
		b = appendString(b, t)
	}
	return b
}

// decodeTags parses a payload written by encodeTags.
func decodeTags(b string) ([]string, error) {
	d := decoder{s: b}
	var tags []string
	for len(d.s) > 0 && d.err == nil {
		tags = append(tags, d.string())
	}
	if d.err != nil {
		return nil, d.err
	}
	return tags, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the fields of an encoding in order. After the first
// error every read returns a zero value, so callers check err once.
type decoder struct {
	s   string
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", errCorrupt, what)
	}
	d.s = ""
}

func (d *decoder) byte() byte {
	if len(d.s) == 0 {
		d.fail("version")
		return 0
	}
	c := d.s[0]
	d.s = d.s[1:]
	return c
}

// uvarint reads a number as binary.Uvarint would, from a string.
func (d *decoder) uvarint() uint64 {
	var v uint64
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflows 64 bits
			}
			d.s = d.s[i+1:]
			return v | uint64(c)<<(7*i)
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	d.fail("number")
	return 0
}

// varint reads a zig-zag encoded number, as binary.Varint would.
func (d *decoder) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// count reads a number of items, each of which takes at least one byte,
// so a corrupt count cannot make the caller allocate more than len(b).
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		d.fail("list")
		return 0
	}
	return int(n)
}

// string returns the next string, a substring of the encoding.
func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		d.fail("string")
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

// gzipWriters recycles gzip writers, which cost hundreds of KiB each.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// compressEntry returns e with its body gzip-compressed when the body has
// no Content-Encoding, is at least minSize bytes and compression saves at
// least 10%; otherwise it returns e itself. The compressed entry's header
// describes the stored body (Content-Encoding, Content-Length) and adds
// Vary: Accept-Encoding, since a response served from it now depends on
// that request header (RFC 9110 section 12.5.5).
func compressEntry(e *Entry, minSize int) *Entry {
	if minSize < 0 || len(e.Body) < minSize || e.Header.Get("Content-Encoding") != "" {
		return e
	}
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(e.Body); err != nil {
		return e
	}
	if err := zw.Close(); err != nil {
		return e
	}
	if 10*buf.Len() > 9*len(e.Body) {
		return e
	}
	h := e.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Encoding", "gzip")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	if !varies(h, "Accept-Encoding") {
		h.Add("Vary", "Accept-Encoding")
	}
	c := *e
	c.Header, c.Body = h, buf.Bytes()
	return &c
}

// varies reports whether h's Vary already names field or is "*".
func varies(h http.Header, field string) bool {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f == "*" || strings.EqualFold(f, field) {
				return true
			}
		}
	}
	return false
}
