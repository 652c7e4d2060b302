package cache

import (
	"fmt"
	"testing"
	"time"
)

func TestExpiring(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type put struct {
		tag   string
		until int // seconds after t0
	}
	tests := []struct {
		desc string
		puts []put
		now  int
		want []string // tags remembered at now
	}{
		{"nothing due", []put{{"a", 10}, {"b", 20}}, 5, []string{"a", "b"}},
		{"due at its deadline", []put{{"a", 10}, {"b", 20}}, 10, []string{"b"}},
		{"all due", []put{{"a", 10}, {"b", 20}}, 30, nil},
		{"moved later", []put{{"a", 10}, {"b", 20}, {"a", 30}}, 25, []string{"a"}},
		{"moved later, then due", []put{{"a", 10}, {"a", 30}}, 30, nil},
		{"out of order", []put{{"c", 30}, {"a", 10}, {"b", 20}}, 15, []string{"b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := newExpiring(func(until time.Time) time.Time { return until })
			for _, p := range tt.puts {
				s.put(p.tag, at(p.until))
			}
			s.expire(at(tt.now))
			if got := s.len(); got != len(tt.want) {
				t.Errorf("len() = %d; want %d", got, len(tt.want))
			}
			if got := len(s.due); got != len(tt.want) {
				t.Errorf("queue holds %d records; want %d, one per tag", got, len(tt.want))
			}
			for _, tag := range tt.want {
				if _, ok := s.get(tag); !ok {
					t.Errorf("tag %s forgotten; want it remembered", tag)
				}
			}
		})
	}
}

// TestExpiringQueueBounded checks that a tag put again and again holds one
// record in the queue, not one per put.
func TestExpiringQueueBounded(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	s := newExpiring(func(until time.Time) time.Time { return until })
	for i := range 1000 {
		now := t0.Add(time.Duration(i) * time.Second)
		s.expire(now)
		s.put("hot", now.Add(10*time.Second))
		s.put(fmt.Sprint("cold", i), now.Add(10*time.Second))
	}
	if got, want := len(s.due), 11; got != want {
		t.Errorf("queue holds %d records; want %d (hot and the last 10 cold)", got, want)
	}
}

// TestMemoryHoldsExpire checks that holds are forgotten once they end.
func TestMemoryHoldsExpire(t *testing.T) {
	c := &clock{now: time.Unix(1700000000, 0)}
	m := newTestMemory(t, c)
	for i := range 100 {
		m.Hold(t.Context(), time.Second, fmt.Sprint("qr_", i))
	}
	c.Add(2 * time.Second)
	m.Hold(t.Context(), time.Second, "qr_last")
	m.mu.Lock()
	defer m.mu.Unlock()
	if got := m.holds.len(); got != 1 {
		t.Errorf("holds after the first 100 ended: %d; want 1", got)
	}
}
