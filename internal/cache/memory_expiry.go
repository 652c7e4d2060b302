package cache

import (
	"container/heap"
	"time"
)

// expiring maps tags to values that each stop mattering at a deadline, and
// forgets a tag once its deadline passes, at a cost of O(log n) for each
// tag it forgets and nothing for the tags it keeps: Memory's purge marks
// and holds used to be swept in full, under the store's lock, once a second.
// The zero value is not usable; see newExpiring. Its owner guards it.
type expiring[V any] struct {
	vals     map[string]V
	due      dueQueue
	deadline func(V) time.Time
}

func newExpiring[V any](deadline func(V) time.Time) *expiring[V] {
	return &expiring[V]{vals: make(map[string]V), deadline: deadline}
}

// get returns the value of tag, which may be past its deadline if expire
// has not run since.
func (s *expiring[V]) get(tag string) (V, bool) {
	v, ok := s.vals[tag]
	return v, ok
}

// put sets the value of tag. A tag's deadline may move later but not
// earlier: the queue keeps one record per tag, due at its first deadline,
// and moves it on when it comes due early.
func (s *expiring[V]) put(tag string, v V) {
	if _, ok := s.vals[tag]; !ok {
		s.due = append(s.due, due{at: s.deadline(v), tag: tag})
		heap.Fix(&s.due, len(s.due)-1)
	}
	s.vals[tag] = v
}

// expire forgets the tags whose deadline is not after now.
func (s *expiring[V]) expire(now time.Time) {
	for len(s.due) > 0 && !now.Before(s.due[0].at) {
		d := &s.due[0]
		if at := s.deadline(s.vals[d.tag]); now.Before(at) {
			d.at = at // put moved the deadline on
			heap.Fix(&s.due, 0)
			continue
		}
		s.pop()
	}
}

// evict forgets the tag whose queue record is due first, whatever its
// deadline: the tag closest to its end, unless put moved that deadline on.
func (s *expiring[V]) evict() {
	if len(s.due) > 0 {
		s.pop()
	}
}

// pop forgets the tag of the record due first. The queue must not be empty.
func (s *expiring[V]) pop() {
	delete(s.vals, s.due[0].tag)
	last := len(s.due) - 1
	s.due.Swap(0, last)
	s.due[last] = due{}
	s.due = s.due[:last]
	if last > 0 {
		heap.Fix(&s.due, 0)
	}
}

// len reports the tags remembered.
func (s *expiring[V]) len() int { return len(s.vals) }

type due struct {
	at  time.Time
	tag string
}

// dueQueue is a min-heap of deadlines. expiring pushes and pops by hand
// with heap.Fix, so nothing is boxed into an interface.
type dueQueue []due

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { panic("dueQueue: Push is not used") }
func (q *dueQueue) Pop() any          { panic("dueQueue: Pop is not used") }
