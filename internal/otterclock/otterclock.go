// Package otterclock has clocks for otter caches that give otter no ticks.
//
// With ticks, every otter cache with expiry runs a goroutine that wakes once
// a second to expire entries. Waking an idle process costs CPU in proportion
// to its resident memory on some virtual machines: on the 2-core development
// machine, the ticks of a store holding a million entries cost 1.2 to 2% of a
// core (issue #11). Without them, entries expire in otter's maintenance,
// which every write runs, and every read that fills one of its read buffers;
// an idle cache keeps its expired entries, within its bounds, until then, and
// never returns them.
package otterclock

import "time"

// Mono reads the Unix time at its making plus the monotonic time since, as
// otter's own clock reads, without ticks. Reading only the monotonic clock
// costs half of time.Now on some hosts.
type Mono struct {
	start      time.Time
	startNanos int64
}

// NewMono returns a Mono started now.
func NewMono() *Mono {
	now := time.Now()
	return &Mono{start: now, startNanos: now.UnixNano()}
}

// NowNano returns the time in nanoseconds since the Unix epoch.
func (c *Mono) NowNano() int64 { return c.startNanos + int64(time.Since(c.start)) }

// Tick returns no ticks.
func (c *Mono) Tick(time.Duration) <-chan time.Time { return nil }

// Func is otter's view of a clock function, such as a test's, without ticks.
type Func func() time.Time

// NowNano returns f's time in nanoseconds since the Unix epoch.
func (f Func) NowNano() int64 { return f().UnixNano() }

// Tick returns no ticks.
func (Func) Tick(time.Duration) <-chan time.Time { return nil }
