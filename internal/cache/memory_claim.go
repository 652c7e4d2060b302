package cache

import (
	"context"
	"time"
)

// defaultMaxClaims bounds Memory's claims: at about 150 bytes each, 64 Ki
// claims cost 10 MiB at most, and cover a day of webhooks for a merchant
// receiving one every 1.3 s.
const defaultMaxClaims = 1 << 16

// Claim claims key for ttl on the store's clock. When MaxClaims keys are
// claimed already, the claim closest to its end is forgotten first: a
// forgotten claim only lets a late duplicate through, which callers must
// tolerate anyway (a purge is idempotent).
func (m *Memory) Claim(_ context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkClaimTTL(ttl); err != nil {
		return false, err
	}
	now := m.clock()
	m.cmu.Lock()
	defer m.cmu.Unlock()
	m.claims.expire(now)
	if until, ok := m.claims.get(key); ok && now.Before(until) {
		return false, nil
	}
	for m.claims.len() >= m.maxClaims {
		m.claims.evict()
	}
	m.claims.put(key, now.Add(ttl))
	return true, nil
}

// Claimed reports whether key is claimed and its claim has not ended.
func (m *Memory) Claimed(_ context.Context, key string) (bool, error) {
	now := m.clock()
	m.cmu.Lock()
	defer m.cmu.Unlock()
	until, ok := m.claims.get(key)
	return ok && now.Before(until), nil
}
