package cache

import (
	"hash/maphash"
	"net/http"
	"strings"
	"sync/atomic"
)

// headerSlots is the size of headerBlocks. Gateway entries differ in their
// headers mostly by Content-Length, so this covers the hot set of one
// deployment in about half a MiB at most.
const headerSlots = 1024

// headerBlocks maps each encoded header block decoded lately to its
// decoded header, shared by every entry decoded with that block, so that a
// Redis hit builds no map (issue #11): a direct-mapped table in which a
// block displaces the one in its slot. Entries are immutable, so they may
// share a header; the proxy copies its fields into each response.
var headerBlocks = blockTable{seed: maphash.MakeSeed()}

// blockTable is a fixed-size, lock-free table of decoded header blocks.
type blockTable struct {
	seed  maphash.Seed
	slots [headerSlots]atomic.Pointer[headerBlock]
}

// headerBlock is a header block, as encoded, and its decoding.
type headerBlock struct {
	raw    string
	header http.Header
}

// get returns the header that raw, a well-formed header block, encodes:
// the pair count, then the name/value pairs.
func (t *blockTable) get(raw string) http.Header {
	slot := &t.slots[maphash.String(t.seed, raw)%headerSlots]
	if b := slot.Load(); b != nil && b.raw == raw {
		return b.header
	}
	// The table outlives the value that raw is part of, so it keeps a copy
	// rather than keep the whole value, body and all, alive.
	raw = strings.Clone(raw)
	d := decoder{s: raw}
	n := d.count()
	h := make(http.Header, n)
	for range n {
		k, v := d.string(), d.string()
		h[k] = append(h[k], v)
	}
	slot.Store(&headerBlock{raw: raw, header: h})
	return h
}
