package config

import (
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"
)

// Limits enforced by Validate.
const (
	minBucketPeriod = 10 * time.Millisecond
	maxBuckets      = 100
	minCacheBytes   = 1 * MiB
	maxTTL          = 24 * time.Hour
	maxNearCacheTTL = 10 * time.Second
	minKeySecret    = 32

	// webhookPathPrefix starts the webhook path: Razorpay's API lives
	// under /v1 and /v2, so no API route can be shadowed by it.
	webhookPathPrefix = "/_rzpgate/"
	maxDedupWindow    = 7 * 24 * time.Hour
	maxForwardRetries = 100
	maxWebhookSecrets = 10
	maxForwardTargets = 10
)

// levels are the accepted Log.Level values.
var levels = []string{"debug", "info", "warn", "error"}

func isLevel(s string) bool {
	for _, l := range levels {
		if s == l {
			return true
		}
	}
	return false
}

// Validate reports the first problem in c as "field.path: what is wrong", or
// nil if c is usable. Its errors name secret fields but never echo their
// values.
func (c Config) Validate() error {
	for _, check := range []func() error{
		c.validateServer,
		c.Upstream.validate,
		func() error { return c.Cache.validate(c.Redis.URL != "") },
		c.Redis.validate,
		c.Upstream.Breaker.validate,
		c.Limits.validate,
		c.Webhooks.validate,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c Config) validateServer() error {
	if err := checkAddr("listen", c.Listen); err != nil {
		return err
	}
	if err := checkAddr("admin_listen", c.AdminListen); err != nil {
		return err
	}
	if c.Listen == c.AdminListen && !strings.HasSuffix(c.Listen, ":0") {
		return fmt.Errorf("admin_listen: must differ from listen")
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{
		{"shutdown_timeout", c.ShutdownTimeout},
		{"read_header_timeout", c.ReadHeaderTimeout},
		{"read_timeout", c.ReadTimeout},
		{"idle_timeout", c.IdleTimeout},
	} {
		if err := positive(d.field, d.v); err != nil {
			return err
		}
	}
	switch {
	case c.ShutdownDelay < 0:
		return fmt.Errorf("shutdown_delay: must not be negative, got %s", c.ShutdownDelay)
	case c.WriteTimeout < 0:
		return fmt.Errorf("write_timeout: must not be negative, got %s", c.WriteTimeout)
	case c.WriteTimeout > 0 && c.WriteTimeout < c.ReadTimeout+c.Upstream.Timeout:
		// It runs from the end of the request's headers: the body's upload
		// and Razorpay's whole answer both come out of it.
		return fmt.Errorf("write_timeout: must be at least read_timeout + upstream.timeout (%s), or 0 for that + 30s; got %s", c.ReadTimeout+c.Upstream.Timeout, c.WriteTimeout)
	case c.Cache.WriteHold < 0:
		return fmt.Errorf("cache.write_hold: must not be negative, got %s", c.Cache.WriteHold)
	case c.Cache.WriteHold > 0 && c.Cache.WriteHold < c.Upstream.Timeout:
		return fmt.Errorf("cache.write_hold: must be at least upstream.timeout (%s), or 0 for upstream.timeout + 1m; got %s", c.Upstream.Timeout, c.Cache.WriteHold)
	}
	if c.MaxBodyBytes <= 0 {
		return fmt.Errorf("max_body_bytes: must be positive, got %d", c.MaxBodyBytes)
	}
	if !isLevel(strings.ToLower(c.Log.Level)) {
		return fmt.Errorf("log.level: must be one of %s, got %q", strings.Join(levels, ", "), c.Log.Level)
	}
	return nil
}

func (u Upstream) validate() error {
	p, err := url.Parse(u.URL)
	switch {
	case u.URL == "":
		return fmt.Errorf("upstream.url: must be set")
	// url.Error quotes the URL, which may hold credentials: never wrap it.
	case err != nil:
		return fmt.Errorf("upstream.url: not a valid URL")
	case p.Scheme != "http" && p.Scheme != "https":
		return fmt.Errorf("upstream.url: must be an absolute http:// or https:// URL")
	case p.Host == "" || p.Hostname() == "":
		return fmt.Errorf("upstream.url: must have a host")
	case p.User != nil:
		return fmt.Errorf("upstream.url: must not contain credentials")
	case p.RawQuery != "" || p.ForceQuery || p.Fragment != "" || strings.Contains(u.URL, "#"):
		return fmt.Errorf("upstream.url: must not have a query or fragment")
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{
		{"upstream.dial_timeout", u.DialTimeout},
		{"upstream.tls_handshake_timeout", u.TLSHandshakeTimeout},
		{"upstream.response_header_timeout", u.ResponseHeaderTimeout},
		{"upstream.timeout", u.Timeout},
		{"upstream.idle_conn_timeout", u.IdleConnTimeout},
	} {
		if err := positive(d.field, d.v); err != nil {
			return err
		}
	}
	if u.ResponseHeaderTimeout > u.Timeout {
		return fmt.Errorf("upstream.response_header_timeout: must not exceed upstream.timeout (%s)", u.Timeout)
	}
	if u.MaxIdleConnsPerHost < 0 {
		return fmt.Errorf("upstream.max_idle_conns_per_host: must not be negative, got %d", u.MaxIdleConnsPerHost)
	}
	if u.MaxConnsPerHost < 0 {
		return fmt.Errorf("upstream.max_conns_per_host: must not be negative, got %d", u.MaxConnsPerHost)
	}
	return nil
}

func (c Cache) validate(shared bool) error {
	switch {
	case c.MaxBytes < minCacheBytes:
		return fmt.Errorf("cache.max_bytes: must be at least %s, got %s", minCacheBytes, c.MaxBytes)
	case c.MaxEntryBytes <= 0:
		return fmt.Errorf("cache.max_entry_bytes: must be positive, got %d", c.MaxEntryBytes)
	case c.MaxEntryBytes > c.MaxBytes:
		return fmt.Errorf("cache.max_entry_bytes: must not exceed cache.max_bytes (%s), got %s", c.MaxBytes, c.MaxEntryBytes)
	case shared && c.KeySecret == "":
		return fmt.Errorf("cache.key_secret: must be set when redis.url is set, so that replicas agree")
	case c.KeySecret != "" && len(c.KeySecret) < minKeySecret:
		return fmt.Errorf("cache.key_secret: must be at least %d bytes", minKeySecret)
	}
	for _, d := range []struct {
		field      string
		stale, swr Duration
	}{
		{"payments", c.StaleIfError.Payments, c.StaleWhileRevalidate.Payments},
		{"payment_links", c.StaleIfError.PaymentLinks, c.StaleWhileRevalidate.PaymentLinks},
		{"qr_codes", c.StaleIfError.QRCodes, c.StaleWhileRevalidate.QRCodes},
	} {
		switch {
		case d.stale < 0 || d.stale.D() > maxTTL:
			return fmt.Errorf("cache.stale_if_error.%s: must be between 0 and %s, got %s", d.field, maxTTL, d.stale)
		case d.swr < 0:
			return fmt.Errorf("cache.stale_while_revalidate.%s: must not be negative, got %s", d.field, d.swr)
		case d.swr > d.stale:
			return fmt.Errorf("cache.stale_while_revalidate.%s: must not exceed cache.stale_if_error.%s (%s), which bounds how long entries are kept; got %s", d.field, d.field, d.stale, d.swr)
		}
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{
		{"cache.ttl.payments", c.TTL.Payments},
		{"cache.ttl.payment_links", c.TTL.PaymentLinks},
		{"cache.ttl.qr_codes", c.TTL.QRCodes},
	} {
		if err := positive(d.field, d.v); err != nil {
			return err
		}
		if d.v.D() > maxTTL {
			return fmt.Errorf("%s: must be at most %s, got %s", d.field, maxTTL, d.v)
		}
	}
	return nil
}

func (r Redis) validate() error {
	if err := r.validateURL(); err != nil {
		return err
	}
	for i, a := range r.Addrs {
		// net.SplitHostPort's error quotes the address; a mistyped URL with
		// a password could end up here, so it is not wrapped.
		if h, p, err := net.SplitHostPort(a); err != nil || h == "" || p == "" {
			return fmt.Errorf("redis.addrs[%d]: must be host:port", i)
		}
	}
	switch {
	case r.URL == "" && (len(r.Addrs) > 0 || r.MasterName != "" || r.Cluster || r.NearCache.Enabled):
		return fmt.Errorf("redis.url: must be set when redis.addrs, redis.master_name, redis.cluster or redis.near_cache.enabled is")
	case r.MasterName != "" && r.Cluster:
		return fmt.Errorf("redis.cluster: cannot be combined with redis.master_name")
	case len(r.Addrs) > 0 && r.MasterName == "" && !r.Cluster:
		return fmt.Errorf("redis.addrs: only used with redis.master_name or redis.cluster")
	case r.DB < 0:
		return fmt.Errorf("redis.db: must not be negative, got %d", r.DB)
	case r.DB != 0 && r.Cluster:
		return fmt.Errorf("redis.db: must be 0 with redis.cluster, got %d", r.DB)
	case r.PoolSize < 0:
		return fmt.Errorf("redis.pool_size: must not be negative, got %d", r.PoolSize)
	case r.KeyPrefix == "":
		return fmt.Errorf("redis.key_prefix: must not be empty")
	case strings.ContainsAny(r.KeyPrefix, "{}"):
		return fmt.Errorf("redis.key_prefix: must not contain { or }, which set the Cluster hash slot")
	case strings.ContainsFunc(r.KeyPrefix, unicode.IsSpace):
		return fmt.Errorf("redis.key_prefix: must not contain whitespace")
	case r.Breaker.Failures < 1:
		return fmt.Errorf("redis.breaker.failures: must be at least 1, got %d", r.Breaker.Failures)
	case r.Breaker.MaxOpenTimeout < r.Breaker.OpenTimeout:
		return fmt.Errorf("redis.breaker.max_open_timeout: must be at least redis.breaker.open_timeout (%s), got %s", r.Breaker.OpenTimeout, r.Breaker.MaxOpenTimeout)
	case r.UnreadyAfter < 0:
		return fmt.Errorf("redis.unready_after: must not be negative, got %s", r.UnreadyAfter)
	case r.NearCache.MaxBytes <= 0:
		return fmt.Errorf("redis.near_cache.max_bytes: must be positive, got %d", r.NearCache.MaxBytes)
	case r.NearCache.TTL.D() > maxNearCacheTTL:
		return fmt.Errorf("redis.near_cache.ttl: must be at most %s, got %s", maxNearCacheTTL, r.NearCache.TTL)
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{
		{"redis.dial_timeout", r.DialTimeout},
		{"redis.read_timeout", r.ReadTimeout},
		{"redis.write_timeout", r.WriteTimeout},
		{"redis.breaker.open_timeout", r.Breaker.OpenTimeout},
		{"redis.near_cache.ttl", r.NearCache.TTL},
	} {
		if err := positive(d.field, d.v); err != nil {
			return err
		}
	}
	return nil
}

// validateURL checks Redis.URL without ever echoing it, since it may hold a
// password.
func (r Redis) validateURL() error {
	if r.URL == "" {
		return nil
	}
	u, err := url.Parse(r.URL)
	switch {
	case err != nil:
		return fmt.Errorf("redis.url: not a valid URL")
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return fmt.Errorf("redis.url: must start with redis:// or rediss://")
	case u.Hostname() == "":
		return fmt.Errorf("redis.url: must have a host")
	case u.Fragment != "" || strings.Contains(r.URL, "#"):
		return fmt.Errorf("redis.url: must not have a fragment")
	}
	// Startup builds the client with go-redis's own parser, which also reads
	// query options (dial_timeout=..., pool_size=...): what passes here must
	// pass there. Its errors quote the URL, password included: never wrap.
	if _, err := redis.ParseURL(r.URL); err != nil {
		return fmt.Errorf("redis.url: cannot be parsed as a Redis URL (check its port, path and query options)")
	}
	if u.RawQuery != "" || u.ForceQuery {
		// go-redis reads options from the query, but the gateway sizes its
		// client from redis.* settings: a query option would be ignored.
		return fmt.Errorf("redis.url: must not have query options; use redis.pool_size, redis.dial_timeout, redis.read_timeout, redis.write_timeout, redis.db")
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		switch {
		case err != nil || n < 0:
			return fmt.Errorf("redis.url: the path must be a database number such as /0")
		case n != 0 && r.Cluster:
			return fmt.Errorf("redis.url: the database must be 0 with redis.cluster")
		}
	}
	return nil
}

func (b UpstreamBreaker) validate() error {
	switch {
	case !(b.FailureRatio > 0 && b.FailureRatio <= 1):
		return fmt.Errorf("upstream.breaker.failure_ratio: must be above 0 and at most 1, got %v", b.FailureRatio)
	case b.MinRequests < 1:
		return fmt.Errorf("upstream.breaker.min_requests: must be at least 1, got %d", b.MinRequests)
	case b.ConsecutiveFailures < 0:
		return fmt.Errorf("upstream.breaker.consecutive_failures: must not be negative, got %d", b.ConsecutiveFailures)
	case b.HalfOpenRequests < 1:
		return fmt.Errorf("upstream.breaker.half_open_requests: must be at least 1, got %d", b.HalfOpenRequests)
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{
		{"upstream.breaker.window", b.Window},
		{"upstream.breaker.bucket_period", b.BucketPeriod},
		{"upstream.breaker.open_timeout", b.OpenTimeout},
	} {
		if err := positive(d.field, d.v); err != nil {
			return err
		}
	}
	switch {
	case b.Window%b.BucketPeriod != 0:
		return fmt.Errorf("upstream.breaker.bucket_period: must divide upstream.breaker.window (%s), got %s", b.Window, b.BucketPeriod)
	case b.BucketPeriod.D() < minBucketPeriod || b.Window/b.BucketPeriod > maxBuckets:
		// The breaker keeps and walks one count per bucket under its lock.
		return fmt.Errorf("upstream.breaker.bucket_period: must be at least %s and leave at most %d buckets in upstream.breaker.window (%s), got %s", minBucketPeriod, maxBuckets, b.Window, b.BucketPeriod)
	}
	return nil
}

func (l Limits) validate() error {
	switch {
	case l.TenantFrom != "key_id" && l.TenantFrom != "header":
		return fmt.Errorf("limits.tenant_from: must be key_id or header, got %q", l.TenantFrom)
	case l.TenantFrom == "header" && l.TenantHeader == "":
		return fmt.Errorf("limits.tenant_header: must be set when limits.tenant_from is header")
	case l.TenantHeader != "" && !isToken(l.TenantHeader):
		return fmt.Errorf("limits.tenant_header: must be a header name, got %q", l.TenantHeader)
	case l.TenantHeader != "" && slices.Contains(reservedHeaders, strings.ToLower(l.TenantHeader)):
		return fmt.Errorf("limits.tenant_header: must not be a header Razorpay or HTTP uses, got %q", l.TenantHeader)
	case l.ExpectedReplicas < 1:
		return fmt.Errorf("limits.expected_replicas: must be at least 1, got %d", l.ExpectedReplicas)
	}
	if err := l.Default.validate("limits.default"); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(l.Tenants)) {
		if err := l.Tenants[name].validate("limits.tenants." + name); err != nil {
			return err
		}
	}
	b := l.Budget
	if err := (TenantLimit{Rate: b.Rate, Burst: b.Burst, Period: b.Period}).validate("limits.budget"); err != nil {
		return err
	}
	if !(b.WriteReserve >= 0 && b.WriteReserve < 1) {
		return fmt.Errorf("limits.budget.write_reserve: must be at least 0 and below 1, got %v", b.WriteReserve)
	}
	// The reserve is rounded up for writes (limiter.NewBudget); what is
	// left must still let reads through.
	if w := reserveOf(b.Rate, b.WriteReserve); b.WriteReserve > 0 && (b.Rate-w < 1 || b.Burst-reserveOf(b.Burst, b.WriteReserve) < 1) {
		return fmt.Errorf("limits.budget.write_reserve: %v of rate %d and burst %d leaves reads nothing; raise the budget or lower the reserve", b.WriteReserve, b.Rate, b.Burst)
	}
	return nil
}

func (w Webhooks) validate() error {
	switch {
	case !strings.HasPrefix(w.Path, webhookPathPrefix) || len(w.Path) == len(webhookPathPrefix):
		return fmt.Errorf("webhooks.path: must start with %s and name a path under it, got %q", webhookPathPrefix, w.Path)
	case path.Clean(w.Path) != w.Path || strings.ContainsFunc(w.Path, func(r rune) bool {
		return !(r == '/' || r == '_' || r == '-' || r == '.' || r == '~' || r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)))
	}):
		return fmt.Errorf("webhooks.path: must be a clean path of letters, digits and - . _ ~ (no //, . or .. segments, query or escapes), got %q", w.Path)
	case len(w.Secrets) > maxWebhookSecrets:
		return fmt.Errorf("webhooks.secrets: at most %d, got %d", maxWebhookSecrets, len(w.Secrets))
	case w.MaxBodyBytes <= 0:
		return fmt.Errorf("webhooks.max_body_bytes: must be positive, got %d", w.MaxBodyBytes)
	case w.DedupWindow <= 0 || w.DedupWindow.D() > maxDedupWindow:
		return fmt.Errorf("webhooks.dedup_window: must be positive and at most %s, got %s", maxDedupWindow, w.DedupWindow)
	case len(w.Forward) > maxForwardTargets:
		return fmt.Errorf("webhooks.forward: at most %d targets, got %d", maxForwardTargets, len(w.Forward))
	case w.ForwardRetries < 0 || w.ForwardRetries > maxForwardRetries:
		return fmt.Errorf("webhooks.forward_retries: must be between 0 and %d, got %d", maxForwardRetries, w.ForwardRetries)
	case w.ForwardMaxElapsed < w.ForwardTimeout:
		return fmt.Errorf("webhooks.forward_max_elapsed: must be at least webhooks.forward_timeout (%s), got %s", w.ForwardTimeout, w.ForwardMaxElapsed)
	}
	for i, s := range w.Secrets {
		// Never echo a secret, nor say more of one than that it is blank.
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("webhooks.secrets[%d]: must not be empty", i)
		}
	}
	for i, raw := range w.Forward {
		// url.Error quotes the URL, which may hold credentials: never wrap it.
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			return fmt.Errorf("webhooks.forward[%d]: not a valid URL", i)
		case u.Scheme != "http" && u.Scheme != "https":
			return fmt.Errorf("webhooks.forward[%d]: must be an absolute http:// or https:// URL", i)
		case u.Hostname() == "":
			return fmt.Errorf("webhooks.forward[%d]: must have a host", i)
		case u.Fragment != "" || strings.Contains(raw, "#"):
			return fmt.Errorf("webhooks.forward[%d]: must not have a fragment", i)
		}
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{
		{"webhooks.forward_timeout", w.ForwardTimeout},
		{"webhooks.forward_backoff", w.ForwardBackoff},
	} {
		if err := positive(d.field, d.v); err != nil {
			return err
		}
	}
	return nil
}

// reserveOf is the writes' share of n, rounded up as limiter.NewBudget
// rounds it.
func reserveOf(n int, share float64) int { return int(math.Ceil(float64(n)*share - 1e-9)) }

// reservedHeaders may not carry the tenant: the gateway strips the tenant
// header before forwarding, and these must reach Razorpay.
var reservedHeaders = []string{"authorization", "x-razorpay-account", "content-type", "content-length", "host", "connection", "accept-encoding", "x-request-id"}

// validate checks a limit; field names it in errors. A rate or burst of 0
// would make go-redis/redis_rate error or deny everything.
func (t TenantLimit) validate(field string) error {
	switch {
	case t.Rate <= 0:
		return fmt.Errorf("%s.rate: must be positive, got %d", field, t.Rate)
	case t.Burst <= 0:
		return fmt.Errorf("%s.burst: must be positive, got %d", field, t.Burst)
	case t.Period < 0:
		return fmt.Errorf("%s.period: must not be negative, got %s", field, t.Period)
	}
	return nil
}

// isToken reports whether s is an HTTP field name (RFC 9110 section 5.1).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// positive reports a non-positive duration d as a problem with field.
func positive(field string, d Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s: must be positive, got %s", field, d)
	}
	return nil
}

// checkAddr reports whether addr is a usable host:port listen address.
func checkAddr(field, addr string) error {
	if addr == "" {
		return fmt.Errorf("%s: must be set, as host:port such as :8080", field)
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("%s: must be host:port such as :8080, got %q", field, addr)
	}
	return nil
}
