package cache

import (
	"context"
	"fmt"
	"time"
)

// Claimer records keys for a while, so that the gateway's replicas agree on
// which of them did something first: Razorpay redelivers a webhook it
// thinks failed, and each delivery of one event must purge and fan out
// once (issue #8). Memory, Redis, Near and Guard implement it; it is not
// part of Store, which every cache store must satisfy.
//
// Keys are opaque to a Claimer and share no namespace with Store's keys or
// tags. Callers bound their length.
type Claimer interface {
	// Claim claims key for ttl and reports whether this call claimed it:
	// false means it was claimed already and its claim has not expired,
	// and changes nothing. ttl must be positive.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Claimed reports whether key is claimed, without claiming it.
	Claimed(ctx context.Context, key string) (bool, error)
}

var (
	_ Claimer = (*Memory)(nil)
	_ Claimer = (*Redis)(nil)
	_ Claimer = (*Near)(nil)
	_ Claimer = (*Guard)(nil)
)

// checkClaimTTL reports a ttl that would make a claim expire at once, or
// never.
func checkClaimTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("claim ttl %v: must be positive", ttl)
	}
	return nil
}
