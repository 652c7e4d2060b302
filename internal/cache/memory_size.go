package cache

import (
	"net/http"
	"unsafe"
)

// The costs below are what the Go runtime (1.24 and later: Swiss maps,
// malloc headers) and otter v2 allocate, so that Memory's weights add up to
// its real heap rather than to the bytes of its bodies. They are estimates,
// checked against the live heap by TestMemoryHeapWithinBound.
const (
	// stringHeader and sliceHeader are the words a string or a slice takes
	// inside the struct, map slot or array that holds it.
	stringHeader = int(unsafe.Sizeof(""))
	sliceHeader  = int(unsafe.Sizeof([]byte(nil)))

	// mapHeader is the runtime's map header (internal/runtime/maps.Map),
	// mapGroupSlots the slots of a group, behind one control word, and
	// mapTableHeader a table's header and its directory entry, for maps of
	// more than one group.
	mapHeader      = 48
	mapGroupSlots  = 8
	mapTableHeader = 40
	// mallocHeader is the word the allocator puts in front of objects with
	// pointers larger than minMallocHeader.
	mallocHeader    = 8
	minMallocHeader = 512

	// otterNode is otter's node for a weighted, expiring cache of pointer
	// values (node.BEWP: four list pointers, deadline, weights, state, then
	// the key's header and the value), otterTable its share of the hash
	// table (64-byte buckets of five nodes, loaded 3/8 to 3/4 between
	// resizes), and otterSketch its share of the frequency sketch (one
	// word per node, rounded up to a power of two).
	otterNode   = 80
	otterTable  = 34
	otterSketch = 16

	// indexHead is the tag index's map slot of a tag (its hash and head
	// link, padded to 16 bytes, and a control byte), divided by the
	// lowest load a Swiss table keeps between its growths (7/16): a unique
	// tag costs all of it, a tag shared by many entries much less, so it
	// is charged to every link. indexLink is a link in the index's array
	// and indexSlot an item's slot and free-list entry, each with the
	// quarter an array of more than a few hundred elements grows by.
	indexHead = (16 + 1) * 16 / 7
	indexLink = int(unsafe.Sizeof(link{})) * 5 / 4
	indexSlot = (8 + 4) * 5 / 4
)

// sizeClasses are the runtime's small object size classes
// (internal/runtime/gc/sizeclasses.go); larger objects take whole pages.
var sizeClasses = [...]int{
	8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224,
	240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768,
	896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200,
	3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240,
	10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576,
	27264, 28672, 32768,
}

// classBy8 and classBy128 index sizeClasses by size, rounded up to 8 bytes
// up to 1 KiB and to 128 bytes above, as the runtime's own tables do.
var classBy8, classBy128 = func() (by8 [1024/8 + 1]uint8, by128 [(32768-1024)/128 + 1]uint8) {
	c := 0
	for i := range by8 {
		for sizeClasses[c] < i*8 {
			c++
		}
		by8[i] = uint8(c)
	}
	for i := range by128 {
		for sizeClasses[c] < 1024+i*128 {
			c++
		}
		by128[i] = uint8(c)
	}
	return by8, by128
}()

// allocSize returns the bytes the allocator takes for an object of n bytes
// without pointers: its size class, or whole pages for a large object.
func allocSize(n int) int {
	switch {
	case n <= 0:
		return 0
	case n <= 1024:
		return sizeClasses[classBy8[(n+7)/8]]
	case n <= 32768:
		return sizeClasses[classBy128[(n-1024+127)/128]]
	}
	const page = 8 << 10
	return (n + page - 1) &^ (page - 1)
}

// allocSizePtr is allocSize for an object with pointers.
func allocSizePtr(n int) int {
	if n > minMallocHeader {
		n += mallocHeader
	}
	return allocSize(n)
}

// stringCost is the heap behind a string's header. Strings shorter than 16
// bytes may share a block with others (the tiny allocator); rounding them
// up to 8 bytes errs on the high side.
func stringCost(s string) int { return bytesCost(len(s)) }

// bytesCost is stringCost for a string of n bytes.
func bytesCost(n int) int {
	if n < 16 {
		return (n + 7) &^ 7
	}
	return allocSize(n)
}

// mapCost is the heap of a map holding n slots of slot bytes each, not
// counting what its keys and values point to.
func mapCost(n, slot int) int {
	if n == 0 {
		return mapHeader
	}
	group := 8 + mapGroupSlots*slot
	if n <= mapGroupSlots {
		return mapHeader + allocSizePtr(group)
	}
	// A table grows to hold n at 7/8 load: capacity is the next power of
	// two of n*8/7.
	capacity := mapGroupSlots
	for capacity*7/8 < n {
		capacity *= 2
	}
	return mapHeader + mapTableHeader + allocSizePtr(capacity/mapGroupSlots*group)
}

// headerCost is the heap of h: its map, its value slices and strings.
func headerCost(h http.Header) int {
	if h == nil {
		return 0
	}
	n := mapCost(len(h), stringHeader+sliceHeader)
	for k, vs := range h {
		n += stringCost(k) + allocSizePtr(cap(vs)*stringHeader)
		for _, v := range vs {
			n += stringCost(v)
		}
	}
	return n
}

// cost returns the heap bytes Memory holds for it under key, with tags
// tags: the item with its copy of the entry, the key, the body, its slot
// and links in the tag index, the index's map slots, and otter's node.
// The body is counted by capacity, since that is what it holds on to. The
// header is not: tagIndex.add adds its cost when it cannot share it.
func (it *item) cost(tags int) int {
	n := allocSizePtr(int(unsafe.Sizeof(item{}))) +
		stringCost(it.key) +
		allocSize(cap(it.e.Body)) +
		otterNode + otterTable + otterSketch
	if tags > 0 {
		n += tags*(indexHead+indexLink) + indexSlot
	}
	return n
}
