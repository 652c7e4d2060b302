package otterclock

import (
	"testing"
	"time"
)

func TestMonoFollowsTheWallClock(t *testing.T) {
	c := NewMono()
	before := time.Now().UnixNano()
	got := c.NowNano()
	after := time.Now().UnixNano()
	// The wall clock may be stepped between the reads; a second is slack
	// enough for a test machine whose clock is not being stepped.
	if got < before-int64(time.Second) || got > after+int64(time.Second) {
		t.Errorf("NowNano() = %d; want within a second of [%d, %d]", got, before, after)
	}
	if c.Tick(time.Second) != nil {
		t.Error("Tick returned ticks; want none")
	}
	time.Sleep(2 * time.Millisecond)
	if later := c.NowNano(); later-got < int64(2*time.Millisecond) {
		t.Errorf("NowNano advanced %v over a 2ms sleep", time.Duration(later-got))
	}
}

func TestFunc(t *testing.T) {
	at := time.Unix(1700000000, 42)
	f := Func(func() time.Time { return at })
	if got := f.NowNano(); got != at.UnixNano() {
		t.Errorf("NowNano() = %d; want %d", got, at.UnixNano())
	}
	if f.Tick(time.Second) != nil {
		t.Error("Tick returned ticks; want none")
	}
}
