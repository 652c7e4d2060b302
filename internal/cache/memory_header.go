package cache

import (
	"encoding/binary"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"unsafe"
)

// headerTable interns the headers of Memory's entries: entries whose
// headers are equal share one map. The proxy stores a Content-Type and a
// Content-Length with every entry, which are the same for all bodies of
// one length, and a map of its own would cost each entry about 450 bytes,
// half as much again as the tag index and otter together (issue #11).
// Entries are immutable, so sharing is safe.
//
// A header is interned while entries use it: each use is counted, and the
// last entry to go deletes it. The table's heap, counted as headerCost
// counts an entry's, stays within a budget set apart from the entries'
// weights; past it, an entry keeps a copy of its own header, and pays for
// it. The zero value is not usable; see newHeaderTable. Its owner guards
// it.
type headerTable struct {
	byKey map[string]*sharedHeader // by headerKey
	// byMap finds the record of a shared header by its map, for release:
	// encoding a header again costs a tenth of a fill.
	byMap  map[unsafe.Pointer]*sharedHeader
	bytes  int // the heap of the maps, their keys and records, and the headers
	budget int // the most bytes may reach
}

// sharedHeader is an interned header, its key in byKey, and the count of
// entries using it.
type sharedHeader struct {
	h    http.Header
	key  string
	uses int
}

const (
	// maxInternKeys and maxInternKey bound what is interned: headers of
	// a few short fields, such as the proxy stores. Others are copied.
	maxInternKeys = 8
	maxInternKey  = 512
	// sharedHeaderCost is the heap of a header's slots in both maps, at
	// the lowest load of a Swiss table (7/16), and of its record.
	sharedHeaderCost = (stringHeader+8)*16/7 + (8+8)*16/7 + 32
)

func newHeaderTable(budget int) *headerTable {
	return &headerTable{
		byKey:  make(map[string]*sharedHeader),
		byMap:  make(map[unsafe.Pointer]*sharedHeader),
		budget: budget,
	}
}

// intern returns the shared copy of h and true, counting a use of it, or
// false if h is nil or cannot be interned within the budget.
func (t *headerTable) intern(h http.Header) (http.Header, bool) {
	if h == nil {
		return nil, false
	}
	var buf [maxInternKey]byte
	k, ok := headerKey(buf[:0], h)
	if !ok {
		return nil, false
	}
	if s := t.byKey[string(k)]; s != nil {
		s.uses++
		return s.h, true
	}
	c := cloneHeader(h)
	cost := sharedHeaderCost + bytesCost(len(k)) + headerCost(c)
	if t.bytes+cost > t.budget {
		return nil, false
	}
	s := &sharedHeader{h: c, key: string(k), uses: 1}
	t.byKey[s.key] = s
	t.byMap[mapPointer(c)] = s
	t.bytes += cost
	return c, true
}

// release counts the end of a use of h, which intern returned, and deletes
// it with its last use.
func (t *headerTable) release(h http.Header) {
	s := t.byMap[mapPointer(h)]
	if s == nil {
		panic("cache: release of a header that is not interned")
	}
	if s.uses--; s.uses == 0 {
		delete(t.byKey, s.key)
		delete(t.byMap, mapPointer(h))
		t.bytes -= sharedHeaderCost + stringCost(s.key) + headerCost(s.h)
	}
}

// mapPointer returns the identity of h.
func mapPointer(h http.Header) unsafe.Pointer {
	return reflect.ValueOf(h).UnsafePointer()
}

// headerKey appends to b an encoding of h that equal headers share and
// unequal ones do not: its fields sorted by name, each name, value count
// and value preceded by its length. It reports false if h has too many
// fields or too long a key to intern.
func headerKey(b []byte, h http.Header) ([]byte, bool) {
	if len(h) > maxInternKeys {
		return b, false
	}
	var names [maxInternKeys]string
	n := 0
	for k := range h {
		names[n] = k
		n++
	}
	slices.Sort(names[:n])
	for _, k := range names[:n] {
		vs := h[k]
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
		if len(b) > maxInternKey {
			return b, false
		}
	}
	return b, true
}

// cloneHeader returns a copy of h that shares no memory with it, so that
// what the store keeps is what it counts, whatever larger arrays or strings
// the caller's values were cut from.
func cloneHeader(h http.Header) http.Header {
	if h == nil {
		return nil
	}
	c := make(http.Header, len(h))
	for k, vs := range h {
		cv := make([]string, len(vs))
		for i, v := range vs {
			cv[i] = strings.Clone(v)
		}
		c[strings.Clone(k)] = cv
	}
	return c
}
