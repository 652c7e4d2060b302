package cache

import "sync"

// item is what Memory keeps in otter for one Set: its own copy of the
// entry, which Get hands out, the key, and the links that thread it into the
// tag index. A new item is made for every Set, so that the deletion of a
// replaced item never unlinks the one that replaced it, even when both hold
// the same *Entry.
type item struct {
	e      Entry
	key    string
	links  []link // links[i] is the item's record in the list of e.Tags[i]
	weight uint32 // cost, computed once, outside otter's locks
	dead   bool   // unlinked from the index for good; guarded by tagIndex.mu
}

// link is an item's record in the list of one of its tags.
type link struct {
	prev, next *link
	it         *item
	i          int // it.e.Tags[i] is the tag whose list this is
}

// tagIndex finds the items stored with a tag. Each tag heads a doubly linked
// list threaded through the links of its items, so an item leaves the index
// in time proportional to its own tags (when otter deletes it, for whatever
// cause) and a purge visits only the items it deletes. The index holds
// nothing for items otter no longer holds, so it is part of what MaxBytes
// bounds (see item.cost). One thing escapes the bound: heads, a Go map,
// keeps the capacity of its largest size when the store later holds fewer
// distinct tags.
//
// tagIndex.mu is taken inside otter's OnAtomicDeletion, under the lock of
// an otter hash bucket and maybe of otter's eviction policy: nothing may
// call otter while holding it.
type tagIndex struct {
	mu    sync.Mutex       // guards the fields below and every item's links and dead
	heads map[string]*link // the first link of each tag's list
	items int              // items with at least one link in the index
	links int              // links in the index
	// visited counts the links purges have unlinked, so tests can check
	// that a purge costs what it deletes, not what the index holds.
	visited uint64
}

func newTagIndex() *tagIndex {
	return &tagIndex{heads: make(map[string]*link)}
}

// add links it into the list of each of its tags. It must precede the write
// of it to otter, so that otter's deletion of it always finds it linked.
func (x *tagIndex) add(it *item) {
	if len(it.links) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for i, t := range it.e.Tags {
		l := &it.links[i]
		l.it, l.i = it, i
		if h := x.heads[t]; h != nil {
			l.next, h.prev = h, l
		}
		x.heads[t] = l
	}
	x.items++
	x.links += len(it.links)
}

// remove unlinks it, if it is still linked.
func (x *tagIndex) remove(it *item) {
	if len(it.links) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.unlinkLocked(it)
}

// take unlinks every item stored with one of tags and returns them.
func (x *tagIndex) take(tags []string) []*item {
	x.mu.Lock()
	defer x.mu.Unlock()
	var taken []*item
	for _, t := range tags {
		// Unlinking an item unlinks the head of t's list, whichever of
		// its tags the item holds twice.
		for l := x.heads[t]; l != nil; l = x.heads[t] {
			taken = append(taken, l.it)
			x.visited += uint64(len(l.it.links))
			x.unlinkLocked(l.it)
		}
	}
	return taken
}

// unlinkLocked unlinks it from every list and marks it dead, so a later
// deletion of it by otter does nothing. Its links are cleared: an entry a
// caller still holds must not keep the items it was listed with alive.
// x.mu must be held.
func (x *tagIndex) unlinkLocked(it *item) {
	if it.dead {
		return
	}
	it.dead = true
	for i := range it.links {
		l := &it.links[i]
		switch {
		case l.prev != nil:
			l.prev.next = l.next
		case l.next != nil:
			x.heads[it.e.Tags[i]] = l.next
		default:
			delete(x.heads, it.e.Tags[i])
		}
		if l.next != nil {
			l.next.prev = l.prev
		}
		*l = link{}
	}
	x.items--
	x.links -= len(it.links)
}
