package cache

import (
	"sync"
	"unsafe"
)

// item is what Memory keeps in otter for one Set: its own copy of the
// entry, which Get hands out, the key, and the links that thread it into the
// tag index. A new item is made for every Set, so that the deletion of a
// replaced item never unlinks the one that replaced it, even when both hold
// the same *Entry.
//
// An item is one allocation for an entry with one tag, which most have (a
// payment fetched by id): the first link is part of it, and only the links
// of further tags are allocated apart.
type item struct {
	e     Entry
	key   string
	first link  // the item's record in the list of e.Tags[0]
	rest  *link // the records of e.Tags[1:], len(e.Tags)-1 of them, or nil
	// weight is the item's cost, computed outside otter's locks and
	// before otter reads it: by newItem, and by tagIndex.add for a header
	// the table could not intern.
	weight uint32
	// shared is whether e.Header is interned in the index's header table
	// and not yet released; guarded by tagIndex.mu.
	shared bool
}

// link is an item's record in the list of one of its tags. A link of an
// item that left the index is zero.
type link struct {
	prev, next *link
	it         *item
}

// link returns the item's record in the list of e.Tags[i].
func (it *item) link(i int) *link {
	if i == 0 {
		return &it.first
	}
	return &unsafe.Slice(it.rest, len(it.e.Tags)-1)[i-1]
}

// tagOf returns the item's own string of t, one of its tags.
func (it *item) tagOf(t string) string {
	for _, s := range it.e.Tags {
		if s == t {
			return s
		}
	}
	panic("cache: tagOf a tag the item does not hold")
}

// tagIndex finds the items stored with a tag, and interns their headers.
// Each tag heads a doubly linked list threaded through the links of its
// items, so an item leaves the index in time proportional to its own tags
// (when otter deletes it, for whatever cause) and a purge visits only the
// items it deletes. The index holds nothing for items otter no longer
// holds, so it is part of what MaxBytes bounds (see item.cost). One thing
// escapes the bound: heads, a Go map, keeps the capacity of its largest
// size when the store later holds fewer distinct tags.
//
// tagIndex.mu is taken inside otter's OnAtomicDeletion, under the lock of
// an otter hash bucket and maybe of otter's eviction policy: nothing may
// call otter while holding it.
type tagIndex struct {
	mu      sync.Mutex       // guards the fields below and every item's links and shared
	heads   map[string]*link // the first link of each tag's list
	headers *headerTable     // the headers of the items in otter
	items   int              // items with at least one link in the index
	links   int              // links in the index
	// visited counts the links purges have unlinked, so tests can check
	// that a purge costs what it deletes, not what the index holds.
	visited uint64
}

func newTagIndex(headerBudget int) *tagIndex {
	return &tagIndex{heads: make(map[string]*link), headers: newHeaderTable(headerBudget)}
}

// add links it into the list of each of its tags and interns its header,
// or gives it a copy of its own. It must precede the write of it to otter,
// so that otter's deletion of it always finds it indexed.
func (x *tagIndex) add(it *item) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if h, ok := x.headers.intern(it.e.Header); ok {
		it.e.Header, it.shared = h, true
	} else if it.e.Header != nil {
		it.e.Header = cloneHeader(it.e.Header)
		it.weight = uint32(min(int(it.weight)+headerCost(it.e.Header), 1<<31))
	}
	if len(it.e.Tags) == 0 {
		return
	}
	for i, t := range it.e.Tags {
		l := it.link(i)
		l.it = it
		if h := x.heads[t]; h != nil {
			l.next, h.prev = h, l
		}
		x.heads[t] = l
	}
	x.items++
	x.links += len(it.e.Tags)
}

// remove takes it out of the index, if it is still in it.
func (x *tagIndex) remove(it *item) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(it)
}

// take takes every item stored with one of tags out of the index and
// returns them.
func (x *tagIndex) take(tags []string) []*item {
	x.mu.Lock()
	defer x.mu.Unlock()
	var taken []*item
	for _, t := range tags {
		// Unlinking an item unlinks the head of t's list, whichever of
		// its tags the item holds twice.
		for l := x.heads[t]; l != nil; l = x.heads[t] {
			taken = append(taken, l.it)
			x.visited += uint64(len(l.it.e.Tags))
			x.removeLocked(l.it)
		}
	}
	return taken
}

// removeLocked unlinks it from every list and releases its header, so a
// later deletion of it by otter does nothing. Its links are cleared: an
// entry a caller still holds must not keep the items it was listed with
// alive. x.mu must be held.
func (x *tagIndex) removeLocked(it *item) {
	if it.shared {
		x.headers.release(it.e.Header)
		it.shared = false
	}
	if len(it.e.Tags) == 0 || it.first.it == nil {
		return // untagged, or unlinked already
	}
	for i, t := range it.e.Tags {
		l := it.link(i)
		switch {
		case l.prev != nil:
			l.prev.next = l.next
		case l.next != nil:
			// The map keeps the string of the last assignment, which
			// must be the new head's: this item's may be cut from its
			// key (see cloneTags), which it would keep alive.
			x.heads[l.next.it.tagOf(t)] = l.next
		default:
			delete(x.heads, t)
		}
		if l.next != nil {
			l.next.prev = l.prev
		}
		*l = link{}
	}
	x.items--
	x.links -= len(it.e.Tags)
}
