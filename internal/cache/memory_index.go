package cache

import (
	"hash/maphash"
	"sync"
)

// item is what Memory keeps in otter for one Set: its own copy of the
// entry without its tags, which Get hands out, the key, and its place in
// the tag index. A new item is made for every Set, so that the deletion of
// a replaced item never unlinks the one that replaced it, even when both
// hold the same *Entry.
type item struct {
	e   Entry
	key string
	// slot is the item's place in the index's items and first the link
	// of its first tag; both are zero while the item is not indexed.
	// Guarded by tagIndex.mu.
	slot, first int32
	// weight is the item's cost, computed outside otter's locks and
	// before otter reads it: by newItem, and by tagIndex.add for a header
	// the table could not intern.
	weight uint32
	// shared is whether e.Header is interned in the index's header table
	// and not yet released; guarded by tagIndex.mu.
	shared bool
}

// link is an item's record in the list of one of its tags. Links refer to
// each other and to their item by number, not by pointer, so the index
// adds nothing for the garbage collector to trace but one pointer per
// item: a collection over a million payment entries with their tags
// costs half of what it cost with pointers (issue #11).
type link struct {
	tag        uint64 // the hash of the tag, the key of its list in heads
	prev, next int32  // the neighbours in the tag's list, or zero
	slot       int32  // the item's slot in items
	sib        int32  // the link of the item's next tag, or zero
}

// tagIndex finds the items stored with a tag, and interns their headers.
// Each tag heads a doubly linked list threaded through the links of its
// items, so an item leaves the index in time proportional to its own tags
// (when otter deletes it, for whatever cause) and a purge visits only the
// items it deletes. The index holds nothing for items otter no longer
// holds, so it is part of what MaxBytes bounds (see item.cost).
//
// Tags are known by their 64-bit hash under a seed of the index's own.
// Two tags of equal hash share one list, so a purge of one deletes the
// entries of both: a miss more, never a stale read.
//
// What escapes the bound: heads, a Go map, and the links and items arrays
// keep the capacity of their largest size when the store later holds
// fewer tags and items. None of them holds a pointer but items.
//
// tagIndex.mu is taken inside otter's OnAtomicDeletion, under the lock of
// an otter hash bucket and maybe of otter's eviction policy: nothing may
// call otter while holding it.
type tagIndex struct {
	mu    sync.Mutex       // guards the fields below and every item's slot, first and shared
	seed  maphash.Seed     // of the tags' hashes
	heads map[uint64]int32 // the first link of each tag's list
	// links holds the links, and items the indexed items; element zero of
	// each is unused, so that zero means none. freeLinks and freeSlots
	// list the elements free for reuse, through link.next and by slot.
	links     []link
	items     []*item
	freeLinks int32
	freeSlots []int32
	headers   *headerTable // the headers of the items in otter
	nitems    int          // items in the index
	nlinks    int          // links in the index
	// visited counts the links purges have unlinked, so tests can check
	// that a purge costs what it deletes, not what the index holds.
	visited uint64
}

func newTagIndex(headerBudget int) *tagIndex {
	return &tagIndex{
		seed:    maphash.MakeSeed(),
		heads:   make(map[uint64]int32),
		links:   make([]link, 1),
		items:   make([]*item, 1),
		headers: newHeaderTable(headerBudget),
	}
}

// add links it into the list of each of tags and interns its header, or
// gives it a copy of its own. It must precede the write of it to otter, so
// that otter's deletion of it always finds it indexed.
func (x *tagIndex) add(it *item, tags []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if h, ok := x.headers.intern(it.e.Header); ok {
		it.e.Header, it.shared = h, true
	} else if it.e.Header != nil {
		it.e.Header = cloneHeader(it.e.Header)
		it.weight = uint32(min(int(it.weight)+headerCost(it.e.Header), 1<<31))
	}
	if len(tags) == 0 {
		return
	}
	it.slot = x.newSlot(it)
	prev := int32(0)
	for _, t := range tags {
		id := x.newLink()
		h := maphash.String(x.seed, t)
		next := x.heads[h]
		x.links[id] = link{tag: h, next: next, slot: it.slot}
		if next != 0 {
			x.links[next].prev = id
		}
		x.heads[h] = id
		if prev == 0 {
			it.first = id
		} else {
			x.links[prev].sib = id
		}
		prev = id
	}
	x.nitems++
	x.nlinks += len(tags)
}

// newSlot gives it a slot in items.
func (x *tagIndex) newSlot(it *item) int32 {
	if n := len(x.freeSlots); n > 0 {
		s := x.freeSlots[n-1]
		x.freeSlots = x.freeSlots[:n-1]
		x.items[s] = it
		return s
	}
	x.items = append(x.items, it)
	return int32(len(x.items) - 1)
}

// newLink returns the number of a free link.
func (x *tagIndex) newLink() int32 {
	if id := x.freeLinks; id != 0 {
		x.freeLinks = x.links[id].next
		return id
	}
	x.links = append(x.links, link{})
	return int32(len(x.links) - 1)
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
		h := maphash.String(x.seed, t)
		for id := x.heads[h]; id != 0; id = x.heads[h] {
			it := x.items[x.links[id].slot]
			taken = append(taken, it)
			x.visited += uint64(x.removeLocked(it))
		}
	}
	return taken
}

// removeLocked unlinks it from every list, frees its links and slot, and
// releases its header, so a later deletion of it by otter does nothing. It
// returns the links it freed. x.mu must be held.
func (x *tagIndex) removeLocked(it *item) int {
	if it.shared {
		x.headers.release(it.e.Header)
		it.shared = false
	}
	if it.slot == 0 {
		return 0 // untagged, or unlinked already
	}
	n := 0
	for id := it.first; id != 0; {
		l := &x.links[id]
		switch {
		case l.prev != 0:
			x.links[l.prev].next = l.next
		case l.next != 0:
			x.heads[l.tag] = l.next
		default:
			delete(x.heads, l.tag)
		}
		if l.next != 0 {
			x.links[l.next].prev = l.prev
		}
		next := l.sib
		*l = link{next: x.freeLinks}
		x.freeLinks = id
		id = next
		n++
	}
	x.items[it.slot] = nil
	x.freeSlots = append(x.freeSlots, it.slot)
	it.slot, it.first = 0, 0
	x.nitems--
	x.nlinks -= n
	return n
}
