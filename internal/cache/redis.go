package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisClient is the part of a go-redis client that Redis uses, so that
// *redis.Client, *redis.ClusterClient, *redis.Ring and redis.UniversalClient
// all fit.
type RedisClient interface {
	redis.Scripter
	Get(ctx context.Context, key string) *redis.StringCmd
	Pipeline() redis.Pipeliner
	SetNX(ctx context.Context, key string, value any, expiration time.Duration) *redis.BoolCmd
	Exists(ctx context.Context, keys ...string) *redis.IntCmd
}

// RedisConfig configures a Redis store. The zero value is usable.
type RedisConfig struct {
	// Prefix starts every key and the purge channel's name; "" means
	// "rzpgate:". Deployments that share a Redis need distinct prefixes.
	Prefix string
	// FenceRetention is how long purge marks live, and so the oldest fence
	// Set accepts; zero means 2 minutes. It must exceed the longest fill
	// (upstream timeout plus retries), or slow fills are always refused.
	FenceRetention time.Duration
	// Clock tells the time for freshness and fence age; nil means time.Now.
	Clock func() time.Time
	// CompressMin is the smallest body that is stored gzip-compressed when
	// that saves at least 10%; zero means 1024 bytes, negative never.
	CompressMin int
	// MaxBatch bounds how many concurrent Gets are sent to Redis together
	// as one pipeline; zero means 128, and negative sends each Get on its
	// own round trip.
	MaxBatch int
}

const (
	defaultPrefix         = "rzpgate:"
	defaultFenceRetention = 2 * time.Minute
	defaultCompressMin    = 1024

	// tagSlack keeps a tag set alive a little longer than its newest entry,
	// so that Purge finds every entry that Redis has not yet expired.
	tagSlack = 10 * time.Second
	// markSlack keeps purge marks alive past FenceRetention, covering the
	// time between Set's age check on the gateway and its script running
	// in Redis (network delay, a stalled Redis).
	markSlack = 10 * time.Second
)

// Redis is a Store in Redis, shared by every gateway replica that uses the
// same Redis and Prefix.
//
// All keys of a deployment share one Redis Cluster hash tag, the prefix in
// braces: entries are {prefix}e:<key>, tag sets {prefix}t:<tag>, purge marks
// {prefix}p:<tag>, holds {prefix}h:<tag>, claims {prefix}w:<key> and the
// purge epoch {prefix}epoch. The Set and Purge scripts touch an entry and
// its tags' keys together, and a Lua script may only touch keys of one hash
// slot, so on a Cluster the whole cache lives on one shard (and its
// replicas): the cache is replicated, not sharded. That is the price of
// atomic fencing; one shard holds far more than the hot set of one Razorpay
// account.
//
// The Redis server must not evict keys (maxmemory-policy noeviction): an
// evicted purge mark would let a fill that raced its purge be stored, and
// every policy but noeviction may evict marks, which carry TTLs. Entries,
// tag sets and marks all expire by themselves; with noeviction a full Redis
// refuses writes, and a Guard in front fails open.
type Redis struct {
	client         RedisClient
	prefix         string // prefix is "{" + cfg.Prefix + "}", the hash tag.
	channel        string // channel is where Purge publishes purged tags.
	epochKey       string
	fenceRetention time.Duration
	compressMin    int
	now            func() time.Time
	gets           *getPipeline // gets is nil when Gets are not pipelined.
	// purged counts the entries this process's purges deleted.
	purged atomic.Uint64
}

// Purged reports how many entries this process's purges deleted.
func (r *Redis) Purged() uint64 { return r.purged.Load() }

var _ Store = (*Redis)(nil)

// NewRedis returns a Store that keeps entries in Redis through client.
func NewRedis(client RedisClient, cfg RedisConfig) (*Redis, error) {
	if client == nil {
		return nil, errors.New("creating redis store: nil client")
	}
	if cfg.FenceRetention < 0 {
		return nil, fmt.Errorf("creating redis store: FenceRetention %v is negative", cfg.FenceRetention)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = defaultPrefix
	}
	if cfg.FenceRetention == 0 {
		cfg.FenceRetention = defaultFenceRetention
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.CompressMin == 0 {
		cfg.CompressMin = defaultCompressMin
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = defaultMaxBatch
	}
	prefix := "{" + cfg.Prefix + "}"
	r := &Redis{
		client:         client,
		prefix:         prefix,
		channel:        cfg.Prefix + "purge",
		epochKey:       prefix + "epoch",
		fenceRetention: cfg.FenceRetention,
		compressMin:    cfg.CompressMin,
		now:            cfg.Clock,
	}
	if cfg.MaxBatch > 0 {
		r.gets = newGetPipeline(client, cfg.MaxBatch)
	}
	return r, nil
}

// PurgeChannel returns the pub/sub channel on which Purge publishes the
// purged tags, "<prefix>purge".
func (r *Redis) PurgeChannel() string { return r.channel }

// Get returns the entry stored under key, fresh or stale, compressed if it
// was stored compressed (see RedisConfig.CompressMin). Concurrent Gets
// share round trips to Redis (see RedisConfig.MaxBatch).
func (r *Redis) Get(ctx context.Context, key string) (*Entry, error) {
	var v string
	var err error
	if r.gets != nil {
		v, err = r.gets.get(ctx, r.entryKey(key))
	} else {
		v, err = r.client.Get(ctx, r.entryKey(key)).Result()
	}
	if errors.Is(err, redis.Nil) {
		return nil, ErrMiss
	}
	if err != nil {
		return nil, fmt.Errorf("getting entry: %w", err)
	}
	e, err := decodeEntry(v)
	if err != nil {
		// A value this gateway cannot read, say from a newer version in
		// a rolling upgrade, is a miss; the refill overwrites it.
		return nil, ErrMiss
	}
	if !r.now().Before(e.KeepUntil()) {
		return nil, ErrMiss
	}
	return e, nil
}

// Fence returns the current purge epoch. The epoch lives in a hash with the
// seed it started from: when Redis loses it (a restart without persistence,
// an eviction), the next Fence or Purge seeds it anew from Redis's clock in
// microseconds, which exceeds every epoch handed out before, and Set refuses
// fences below the seed, since the purges they must see may be lost.
func (r *Redis) Fence(ctx context.Context) (Fence, error) {
	// Taken is read before the epoch so that every purge after the epoch
	// read also happened after Taken, and its mark outlives Taken plus
	// FenceRetention.
	taken := r.now()
	s, err := fenceScript.Run(ctx, r.client, []string{r.epochKey}).Text()
	if err != nil {
		return Fence{}, fmt.Errorf("running fence script: %w", err)
	}
	epoch, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return Fence{}, fmt.Errorf("parsing epoch %q: %w", s, err)
	}
	return Fence{Epoch: epoch, Taken: taken}, nil
}

// Set stores e under key until it expires, unless one of its tags was
// purged after f was taken or f is older than FenceRetention.
func (r *Redis) Set(ctx context.Context, key string, e *Entry, f Fence) error {
	_, err := r.set(ctx, key, e, f)
	return err
}

// set is Set returning the entry as stored, possibly compressed, or nil if
// it expired before it could be stored.
func (r *Redis) set(ctx context.Context, key string, e *Entry, f Fence) (*Entry, error) {
	now := r.now()
	if now.Sub(f.Taken) >= r.fenceRetention {
		return nil, ErrFenced
	}
	ttl := e.KeepUntil().Sub(now)
	if ttl < time.Millisecond {
		return nil, nil
	}
	stored := compressEntry(e, r.compressMin)
	keys := make([]string, 0, 2+3*len(e.Tags))
	keys = append(keys, r.epochKey, r.entryKey(key))
	for _, t := range e.Tags {
		keys = append(keys, r.tagKey(t))
	}
	for _, t := range e.Tags {
		keys = append(keys, r.markKey(t))
	}
	for _, t := range e.Tags {
		keys = append(keys, r.holdKey(t))
	}
	ok, err := setScript.Run(ctx, r.client, keys,
		strconv.FormatUint(f.Epoch, 10),
		encodeEntry(stored),
		ttl.Milliseconds(),
		(ttl + tagSlack).Milliseconds(),
	).Int()
	if err != nil {
		return nil, fmt.Errorf("running set script: %w", err)
	}
	switch ok {
	case 0:
		return nil, ErrFenced
	case 2:
		return nil, ErrHeld
	}
	return stored, nil
}

// Purge deletes every entry tagged with any of tags, marks the tags so that
// fills fenced before now are refused, and publishes the tags on
// PurgeChannel for near caches.
func (r *Redis) Purge(ctx context.Context, tags ...string) error {
	return r.Hold(ctx, 0, tags...)
}

// Hold purges tags as Purge does and, in the same script, marks them held
// for d: the set script refuses entries tagged with a held tag, on every
// replica, until the hold key expires.
func (r *Redis) Hold(ctx context.Context, d time.Duration, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	keys := make([]string, 0, 1+3*len(tags))
	keys = append(keys, r.epochKey)
	for _, t := range tags {
		keys = append(keys, r.tagKey(t))
	}
	for _, t := range tags {
		keys = append(keys, r.markKey(t))
	}
	for _, t := range tags {
		keys = append(keys, r.holdKey(t))
	}
	n, err := purgeScript.Run(ctx, r.client, keys,
		(r.fenceRetention + markSlack).Milliseconds(),
		r.channel,
		encodeTags(tags),
		max(d, 0).Milliseconds(),
	).Int64()
	if err != nil {
		return fmt.Errorf("running purge script: %w", err)
	}
	r.purged.Add(uint64(max(n, 0)))
	return nil
}

// Claim claims key for ttl with SET NX PX, on Redis's clock, so that every
// replica sharing the store agrees on which claimed it first.
func (r *Redis) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkClaimTTL(ttl); err != nil {
		return false, err
	}
	ok, err := r.client.SetNX(ctx, r.claimKey(key), "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("claiming key: %w", err)
	}
	return ok, nil
}

// Claimed reports whether key is claimed.
func (r *Redis) Claimed(ctx context.Context, key string) (bool, error) {
	n, err := r.client.Exists(ctx, r.claimKey(key)).Result()
	if err != nil {
		return false, fmt.Errorf("checking claim: %w", err)
	}
	return n > 0, nil
}

func (r *Redis) entryKey(key string) string { return r.prefix + "e:" + key }
func (r *Redis) claimKey(key string) string { return r.prefix + "w:" + key }
func (r *Redis) tagKey(tag string) string   { return r.prefix + "t:" + tag }
func (r *Redis) markKey(tag string) string  { return r.prefix + "p:" + tag }
func (r *Redis) holdKey(tag string) string  { return r.prefix + "h:" + tag }

// luaEpoch defines epoch(key), which returns the purge epoch stored in the
// hash at key, seeding it first from Redis's clock in microseconds if it is
// missing. The seed is built as a string because Lua formats large numbers
// in exponent notation, losing digits.
const luaEpoch = `
local function epoch(key)
  local n = redis.call('HGET', key, 'n')
  if n then return n end
  local t = redis.call('TIME')
  local seed = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('HSET', key, 'seed', seed, 'n', seed)
  return seed
end
`

// fenceScript returns the purge epoch. KEYS: epoch.
var fenceScript = redis.NewScript(luaEpoch + `return epoch(KEYS[1])`)

// setScript stores an entry unless its fence predates the epoch's seed or
// a purge of one of its tags, then indexes it under each tag. Each tag set
// is kept alive at least as long as the entry, and two random members are
// checked and dropped if their entries expired, so a tag set refilled
// forever stays about twice its live size instead of growing without bound.
// Entry keys read from tag sets are not declared in KEYS but share the
// declared keys' hash slot, which Redis Cluster allows.
//
// KEYS: epoch, entry, n tag sets, n purge marks, n hold marks.
// ARGV: fence epoch, value, entry TTL ms, tag set TTL ms.
// Returns 1 if stored, 0 if fenced, 2 if a tag is held.
var setScript = redis.NewScript(`
local fence = tonumber(ARGV[1])
local seed = redis.call('HGET', KEYS[1], 'seed')
if not seed or fence < tonumber(seed) then return 0 end
local n = (#KEYS - 2) / 3
for i = 1, n do
  local mark = redis.call('GET', KEYS[2 + n + i])
  if mark and tonumber(mark) > fence then return 0 end
end
for i = 1, n do
  if redis.call('EXISTS', KEYS[2 + 2*n + i]) == 1 then return 2 end
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
local keep = tonumber(ARGV[4])
for i = 1, n do
  local set = KEYS[2 + i]
  for _, member in ipairs(redis.call('SRANDMEMBER', set, 2)) do
    if redis.call('EXISTS', member) == 0 then redis.call('SREM', set, member) end
  end
  redis.call('SADD', set, KEYS[2])
  if redis.call('PTTL', set) < keep then redis.call('PEXPIRE', set, keep) end
end
return 1
`)

// purgeScript advances the epoch, marks each tag with it, holds each tag
// for the given time (never shortening a longer hold), deletes each tag's
// entries and tag set, and publishes the tags.
//
// KEYS: epoch, n tag sets, n purge marks, n hold marks.
// ARGV: mark TTL ms, channel, encoded tags, hold ms (0: none).
// Returns the number of entries deleted.
var purgeScript = redis.NewScript(luaEpoch + `
epoch(KEYS[1])
local mark = string.format('%d', redis.call('HINCRBY', KEYS[1], 'n', 1))
local n = (#KEYS - 1) / 3
local hold = tonumber(ARGV[4])
local deleted = 0
for i = 1, n do
  local set = KEYS[1 + i]
  redis.call('SET', KEYS[1 + n + i], mark, 'PX', ARGV[1])
  if hold > 0 and redis.call('PTTL', KEYS[1 + 2*n + i]) < hold then
    redis.call('SET', KEYS[1 + 2*n + i], '1', 'PX', hold)
  end
  local members = redis.call('SMEMBERS', set)
  for j = 1, #members, 1000 do
    deleted = deleted + redis.call('DEL', unpack(members, j, math.min(j + 999, #members)))
  end
  redis.call('DEL', set)
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return deleted
`)
