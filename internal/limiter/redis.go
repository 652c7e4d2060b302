package limiter

import (
	"context"
	"fmt"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// RedisClient is what the Redis limiter needs of a go-redis client, the
// methods redis_rate uses, so that *redis.Client, *redis.ClusterClient,
// *redis.Ring and redis.UniversalClient all fit.
type RedisClient interface {
	Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd
	EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd
	EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd
	EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd
	ScriptExists(ctx context.Context, hashes ...string) *redis.BoolSliceCmd
	ScriptLoad(ctx context.Context, script string) *redis.StringCmd
	Del(ctx context.Context, keys ...string) *redis.IntCmd
}

// RedisConfig configures a Redis limiter. The zero value is usable.
type RedisConfig struct {
	// Prefix is put before every key; "" means "rzpgate:rl:". redis_rate
	// puts its own "rate:" before that, so a key k is stored in Redis
	// under "rate:rzpgate:rl:k".
	Prefix string
}

// Redis is a Limiter shared by every replica that uses the same Redis:
// redis_rate's GCRA, one Lua script call per request, timed by the Redis
// server's clock. A key's state is one timestamp, whatever its Limit, so a
// key whose Limit changes keeps its history under the new Limit.
type Redis struct {
	rl     *redis_rate.Limiter
	prefix string
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a Redis limiter on client. It panics if client is nil.
func NewRedis(client RedisClient, cfg RedisConfig) *Redis {
	if client == nil {
		panic("limiter: NewRedis with a nil client")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "rzpgate:rl:"
	}
	return &Redis{rl: redis_rate.NewLimiter(client), prefix: cfg.Prefix}
}

// Allow counts a request under key against l in Redis. It fails if Redis
// does, or if l is not valid (wrapping ErrInvalidLimit).
func (r *Redis) Allow(ctx context.Context, key string, l Limit) (Result, error) {
	if err := l.Validate(); err != nil {
		return Result{}, err
	}
	res, err := r.rl.Allow(ctx, r.prefix+key, redis_rate.Limit{Rate: l.Rate, Burst: l.Burst, Period: l.period()})
	if err != nil {
		return Result{}, fmt.Errorf("limiting in redis: %w", err)
	}
	out := Result{
		Allowed:    res.Allowed > 0,
		Remaining:  res.Remaining,
		ResetAfter: max(res.ResetAfter, 0),
	}
	if !out.Allowed {
		// redis_rate reports -1 for "not limited"; a denial always has a
		// positive wait.
		out.RetryAfter = max(res.RetryAfter, 0)
	}
	return out, nil
}
