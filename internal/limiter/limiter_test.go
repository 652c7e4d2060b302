package limiter_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/limiter"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1700000000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestLimitValidate(t *testing.T) {
	tests := []struct {
		desc    string
		limit   limiter.Limit
		wantErr bool
	}{
		{desc: "per second", limit: limiter.Limit{Rate: 10, Burst: 5}},
		{desc: "per minute", limit: limiter.Limit{Rate: 1, Burst: 1, Period: time.Minute}},
		{desc: "zero", limit: limiter.Limit{}, wantErr: true},
		{desc: "zero rate", limit: limiter.Limit{Burst: 1}, wantErr: true},
		{desc: "negative burst", limit: limiter.Limit{Rate: 1, Burst: -1}, wantErr: true},
		{desc: "negative period", limit: limiter.Limit{Rate: 1, Burst: 1, Period: -time.Second}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := tt.limit.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, limiter.ErrInvalidLimit) {
				t.Errorf("Validate() = %v, want one wrapping ErrInvalidLimit", err)
			}
		})
	}
}

func TestShare(t *testing.T) {
	tests := []struct {
		desc  string
		limit limiter.Limit
		n     int
		want  limiter.Limit
	}{
		{desc: "one replica", limit: limiter.Limit{Rate: 10, Burst: 20}, n: 1, want: limiter.Limit{Rate: 10, Burst: 20}},
		{desc: "even split", limit: limiter.Limit{Rate: 10, Burst: 20}, n: 2, want: limiter.Limit{Rate: 10, Burst: 10, Period: 2 * time.Second}},
		{desc: "burst rounds down", limit: limiter.Limit{Rate: 2, Burst: 5, Period: time.Minute}, n: 3, want: limiter.Limit{Rate: 2, Burst: 1, Period: 3 * time.Minute}},
		{desc: "burst keeps one", limit: limiter.Limit{Rate: 1, Burst: 1}, n: 4, want: limiter.Limit{Rate: 1, Burst: 1, Period: 4 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := limiter.Share(tt.limit, tt.n); got != tt.want {
				t.Errorf("Share(%+v, %d) = %+v, want %+v", tt.limit, tt.n, got, tt.want)
			}
		})
	}
}
