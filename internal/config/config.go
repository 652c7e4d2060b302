// Package config loads rzpgate's settings from defaults, a YAML file and the environment.
package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Config is rzpgate's complete configuration. Build one with Default, overlay
// a file with Parse and the environment with ApplyEnv (Load does all three),
// then check it with Validate. The zero Config is not valid: zero means
// "unset" for several fields, and Default fills them in.
type Config struct {
	// Listen is the proxy's listen address, as host:port; ":8080" by default.
	Listen string `yaml:"listen"`
	// AdminListen is the address for /healthz, /readyz and /metrics, as
	// host:port; ":9090" by default.
	AdminListen string `yaml:"admin_listen"`
	// ShutdownTimeout bounds how long in-flight requests may drain after
	// SIGTERM; 30s by default. It must be positive.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// ShutdownDelay is how long the gateway keeps serving after SIGTERM,
	// with /readyz failing and every response carrying Connection: close,
	// before it closes its listener and drains, so that load balancers and
	// keep-alive clients move off first; 5s by default, zero or more.
	ShutdownDelay Duration `yaml:"shutdown_delay"`
	// ReadHeaderTimeout bounds reading a request's headers; 10s by default.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included; 60s by
	// default.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response, counted from the end of the
	// request's headers, so the body's upload comes out of it too. Zero,
	// the default, means read_timeout + upstream.timeout + 30s; when set it
	// must be at least read_timeout + upstream.timeout, or the gateway
	// could cut responses Razorpay is still sending.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request; 120s by default.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxBodyBytes is the largest request body accepted; larger bodies get
	// 413. It is 1MiB by default and must be positive.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`

	// Log configures logging.
	Log Log `yaml:"log"`
	// Upstream configures the connection to the Razorpay API.
	Upstream Upstream `yaml:"upstream"`
	// Cache configures the response cache.
	Cache Cache `yaml:"cache"`
	// Redis configures the shared cache; its zero URL means in-memory.
	Redis Redis `yaml:"redis"`
	// Limits configures tenants, their rate limits and the upstream budget.
	Limits Limits `yaml:"limits"`
	// Webhooks configures the receiver of Razorpay's webhooks, which purges
	// what changed inside Razorpay; it is off without a secret.
	Webhooks Webhooks `yaml:"webhooks"`
}

// Log configures logging.
type Log struct {
	// Level is the minimum level logged: debug, info, warn or error, in any
	// case; Parse and ApplyEnv store it lower-cased. It is info by default,
	// and empty is invalid.
	Level string `yaml:"level"`
}

// SlogLevel returns Level as a slog.Level, or slog.LevelInfo when Level is
// not one Validate accepts.
func (l Log) SlogLevel() slog.Level {
	var v slog.Level
	if !isLevel(strings.ToLower(l.Level)) || v.UnmarshalText([]byte(l.Level)) != nil {
		return slog.LevelInfo
	}
	return v
}

// Upstream configures the connection to the Razorpay API.
type Upstream struct {
	// URL is the API's base URL, absolute http or https with a host and no
	// query, fragment or credentials; https://api.razorpay.com by default.
	URL string `yaml:"url"`
	// DialTimeout bounds establishing a TCP connection; 5s by default.
	DialTimeout Duration `yaml:"dial_timeout"`
	// TLSHandshakeTimeout bounds the TLS handshake; 5s by default.
	TLSHandshakeTimeout Duration `yaml:"tls_handshake_timeout"`
	// ResponseHeaderTimeout bounds the wait for response headers once the
	// request is written; 30s by default. It must not exceed Timeout.
	ResponseHeaderTimeout Duration `yaml:"response_header_timeout"`
	// Timeout bounds the whole upstream exchange, body included; 60s by
	// default.
	Timeout Duration `yaml:"timeout"`
	// MaxIdleConnsPerHost is how many idle keep-alive connections are kept;
	// 512 by default. Zero means net/http's default of 2.
	MaxIdleConnsPerHost int `yaml:"max_idle_conns_per_host"`
	// MaxConnsPerHost caps connections to the upstream, dialing, active and
	// idle; zero, the default, means unlimited.
	MaxConnsPerHost int `yaml:"max_conns_per_host"`
	// IdleConnTimeout is how long an idle connection is kept; 90s by default.
	IdleConnTimeout Duration `yaml:"idle_conn_timeout"`
	// Breaker stops sending requests to a failing Razorpay.
	Breaker UpstreamBreaker `yaml:"breaker"`
}

// UpstreamBreaker configures the circuit breakers in front of Razorpay, one
// per route group (payments, payment_links, qr_codes, other) in each
// replica. A breaker opens when, within Window, at least MinRequests were
// made and FailureRatio of them failed, or when ConsecutiveFailures failed
// in a row; failures are 5xx answers, timeouts and connection errors.
type UpstreamBreaker struct {
	// Enabled turns the breakers on; true by default.
	Enabled bool `yaml:"enabled"`
	// PerGroup gives each route group its own breaker; true by default.
	// False means one breaker for every request.
	PerGroup bool `yaml:"per_group"`
	// FailureRatio is the share of failed requests in Window that opens a
	// breaker, above 0 and at most 1; 0.5 by default.
	FailureRatio float64 `yaml:"failure_ratio"`
	// MinRequests is how many requests Window must hold before
	// FailureRatio applies; 10 by default, at least 1.
	MinRequests int `yaml:"min_requests"`
	// ConsecutiveFailures opens a breaker on its own; 5 by default, 0
	// disables this condition.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// Window is the rolling window of counts; 10s by default, positive.
	Window Duration `yaml:"window"`
	// BucketPeriod is the window's granularity; 1s by default, positive and
	// dividing Window.
	BucketPeriod Duration `yaml:"bucket_period"`
	// OpenTimeout is how long a breaker stays open before probing; 5s by
	// default, positive.
	OpenTimeout Duration `yaml:"open_timeout"`
	// HalfOpenRequests is how many probes a half-open breaker lets
	// through; 1 by default, at least 1.
	HalfOpenRequests int `yaml:"half_open_requests"`
}

// Limits configures tenants, their rate limits and the budget of requests
// that reach Razorpay. With Enabled false, the default, no request is
// limited and the budget is off.
type Limits struct {
	// Enabled turns tenant limits on; false by default.
	Enabled bool `yaml:"enabled"`
	// TenantFrom is where a request's tenant comes from: "key_id", the
	// default, the Basic-auth key id (the part before ':', never the
	// secret), or "header", the request header TenantHeader.
	TenantFrom string `yaml:"tenant_from"`
	// TenantHeader names the header that carries the tenant with
	// TenantFrom "header", such as X-Rzpgate-Tenant. It is never forwarded
	// to Razorpay. Empty by default; required with TenantFrom "header".
	TenantHeader string `yaml:"tenant_header"`
	// RejectUnknown answers 403 to tenants not listed in Tenants (and to
	// requests with no tenant); false by default.
	RejectUnknown bool `yaml:"reject_unknown"`
	// ExpectedReplicas is how many replicas share Redis: while Redis is
	// unreachable, each enforces 1/ExpectedReplicas of every limit
	// locally; 1 by default, at least 1.
	ExpectedReplicas int `yaml:"expected_replicas"`
	// Default is the limit of each tenant not listed in Tenants; 100
	// requests per second with a burst of 200 by default.
	Default TenantLimit `yaml:"default"`
	// Tenants lists known tenants by name (a key id, or the header's
	// value) with their own limits; none by default. Their names are the
	// only tenant values that metrics carry.
	Tenants map[string]TenantLimit `yaml:"tenants"`
	// Budget limits requests that reach Razorpay, whatever their tenant.
	Budget Budget `yaml:"budget"`
}

// TenantLimit is one tenant's limit: Burst requests at once, refilled at
// Rate requests per Period. Rate and Burst must be positive.
type TenantLimit struct {
	// Rate is how many requests per Period are allowed.
	Rate int `yaml:"rate"`
	// Burst is how many requests may arrive at once.
	Burst int `yaml:"burst"`
	// Period is Rate's period; zero means one second.
	Period Duration `yaml:"period"`
	// ExemptHits serves cache hits without counting them; false by default.
	ExemptHits bool `yaml:"exempt_hits"`
}

// Budget is the global limit on requests that reach Razorpay (fills,
// bypasses, pass-through requests and writes; never hits or coalesced
// waiters), cluster-wide in shared mode.
type Budget struct {
	// Enabled turns the budget on; false by default.
	Enabled bool `yaml:"enabled"`
	// Rate is how many upstream requests per Period are allowed; 50 by
	// default, positive.
	Rate int `yaml:"rate"`
	// Burst is how many may go at once; 50 by default, positive.
	Burst int `yaml:"burst"`
	// Period is Rate's period; zero means one second.
	Period Duration `yaml:"period"`
	// WriteReserve is the share of the budget that only writes may use, so
	// that reads cannot starve them; 0.1 by default, at least 0 and below 1.
	WriteReserve float64 `yaml:"write_reserve"`
	// PauseOn429 stops all upstream requests for the Retry-After of a 429
	// from Razorpay; true by default.
	PauseOn429 bool `yaml:"pause_on_429"`
}

// Cache configures the response cache.
type Cache struct {
	// MaxBytes bounds the in-memory store; 256MiB by default, at least 1MiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxEntryBytes is the largest response cached; larger responses are
	// passed through uncached. It is 1MiB by default, positive and at most
	// MaxBytes.
	MaxEntryBytes ByteSize `yaml:"max_entry_bytes"`
	// KeySecret is the HMAC key that partitions cache keys by caller. Empty,
	// the default, means a random key per process, which is fine for one
	// in-memory replica; with Redis every replica must share it, so it is
	// then required. When set it must be at least 32 bytes. It is a secret:
	// errors never echo it and Redacted hides it.
	KeySecret string `yaml:"key_secret"`
	// TTL sets the freshness lifetime per resource.
	TTL TTL `yaml:"ttl"`
	// StaleIfError keeps entries past their TTL, per route, to answer when
	// Razorpay fails (5xx, timeouts, an open breaker) or the budget is
	// spent; zero disables it for the route. Defaults: payments 60s,
	// payment_links and qr_codes 5m; each at most 24h.
	StaleIfError RouteDurations `yaml:"stale_if_error"`
	// StaleWhileRevalidate serves an expired entry at once, per route,
	// while one background fetch refreshes it; zero, the default,
	// disables it. Each at most StaleIfError's value for the route, which
	// bounds how long entries are kept.
	StaleWhileRevalidate RouteDurations `yaml:"stale_while_revalidate"`
	// WriteHold is how long, after a write whose outcome is unknown (a
	// timeout, a dropped connection, a 5xx), nothing tagged with the ids it
	// touches is stored, since Razorpay may still commit it. Zero, the
	// default, means upstream.timeout plus one minute; when set it must be
	// at least upstream.timeout.
	WriteHold Duration `yaml:"write_hold"`
}

// TTL sets how long each kind of Razorpay resource stays fresh in the cache.
// Each must be positive and at most 24h.
type TTL struct {
	// Payments is the lifetime of /v1/payments responses; 10s by default.
	Payments Duration `yaml:"payments"`
	// PaymentLinks is the lifetime of /v1/payment_links responses; 30s by
	// default.
	PaymentLinks Duration `yaml:"payment_links"`
	// QRCodes is the lifetime of /v1/payments/qr_codes responses; 30s by
	// default.
	QRCodes Duration `yaml:"qr_codes"`
}

// RouteDurations sets one duration per cacheable route.
type RouteDurations struct {
	// Payments is for /v1/payments/{id}.
	Payments Duration `yaml:"payments"`
	// PaymentLinks is for /v1/payment_links/{id}.
	PaymentLinks Duration `yaml:"payment_links"`
	// QRCodes is for /v1/payments/qr_codes?customer_id=...
	QRCodes Duration `yaml:"qr_codes"`
}

// Redis configures the shared cache. With URL empty the cache is in memory and
// the other Redis fields are checked but unused.
type Redis struct {
	// URL is redis://[user:pass@]host:port[/db], or rediss:// for TLS. Empty,
	// the default, means the in-memory cache. Any password in it is a secret.
	URL string `yaml:"url"`
	// Addrs are more host:port seed addresses, for Sentinel or Cluster only;
	// nil by default.
	Addrs []string `yaml:"addrs"`
	// MasterName is the Sentinel master's name; setting it enables Sentinel,
	// with URL's host and Addrs as the sentinels. Empty by default.
	MasterName string `yaml:"master_name"`
	// Cluster enables Redis Cluster, with URL's host and Addrs as seeds;
	// false by default.
	Cluster bool `yaml:"cluster"`
	// Username overrides the URL's user name; empty keeps the URL's.
	Username string `yaml:"username"`
	// Password overrides the URL's password; empty keeps the URL's. It is a
	// secret: errors never echo it and Redacted hides it.
	Password string `yaml:"password"`
	// DB overrides the URL's database number; zero keeps the URL's. It must
	// be zero with Cluster.
	DB int `yaml:"db"`
	// PoolSize is the connection pool size per node; zero, the default, means
	// go-redis's default of 10 per CPU.
	PoolSize int `yaml:"pool_size"`
	// DialTimeout bounds connecting to Redis; 250ms by default.
	DialTimeout Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds reading one reply; 100ms by default.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing one command; 100ms by default.
	WriteTimeout Duration `yaml:"write_timeout"`
	// KeyPrefix is prepended to every Redis key; "rzpgate:" by default. It
	// must not contain braces, which would change Cluster hash slots, or
	// whitespace, and must not be empty: it is the Cluster hash tag.
	KeyPrefix string `yaml:"key_prefix"`
	// Breaker stops calling Redis while it is failing.
	Breaker RedisBreaker `yaml:"breaker"`
	// UnreadyAfter makes /readyz fail once Redis has been unusable for this
	// long. Zero, the default, means never: without Redis the gateway still
	// serves, from Razorpay.
	UnreadyAfter Duration `yaml:"unready_after"`
	// NearCache keeps a small in-process copy of hot Redis entries.
	NearCache NearCache `yaml:"near_cache"`
}

// RedisBreaker configures the circuit breaker in front of Redis. While it is
// open, requests bypass the cache and go to the upstream.
type RedisBreaker struct {
	// Failures is how many consecutive failures open the breaker; 3 by
	// default, at least 1.
	Failures int `yaml:"failures"`
	// OpenTimeout is how long the breaker stays open before one probe; 1s by
	// default.
	OpenTimeout Duration `yaml:"open_timeout"`
	// MaxOpenTimeout caps the wait between probes, which doubles after each
	// failed probe while Redis stays down; 30s by default, at least
	// OpenTimeout.
	MaxOpenTimeout Duration `yaml:"max_open_timeout"`
}

// NearCache configures the in-process cache in front of Redis, kept coherent
// by invalidation messages.
type NearCache struct {
	// Enabled turns the near cache on; false by default. It requires
	// Redis.URL.
	Enabled bool `yaml:"enabled"`
	// MaxBytes bounds the near cache; 16MiB by default. It must be positive.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// TTL bounds how stale an entry can be if an invalidation message is
	// lost; 1s by default, positive and at most 10s.
	TTL Duration `yaml:"ttl"`
}

// Webhooks configures the receiver of Razorpay's webhooks on the gateway's
// listener: each verified event purges the entries naming the entities it
// carries, and is forwarded to Forward. It is enabled when at least one
// secret is set (see Enabled).
type Webhooks struct {
	// Path is where Razorpay delivers, the URL path to register in its
	// Dashboard; "/_rzpgate/webhooks/razorpay" by default. It must start
	// with "/_rzpgate/", a path no Razorpay API route has, and be clean
	// (no "//", "." or ".." segments, no query, no escapes).
	Path string `yaml:"path"`
	// Secrets are the webhook secrets set in the Razorpay Dashboard; a
	// delivery signed under any of them is accepted, so a secret can be
	// rotated. None by default, which disables the receiver. They are
	// secrets: errors never echo them and Redacted hides them.
	Secrets []string `yaml:"secrets"`
	// MaxBodyBytes bounds a delivery's body; larger ones get 413. 256KiB
	// by default (Razorpay's are a few KiB; the path is public), positive.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// DedupWindow is how long a processed event id is remembered, so that
	// Razorpay's redeliveries neither purge nor forward again; 24h by
	// default (Razorpay retries for 24 hours after an event), positive and
	// at most 7 days.
	DedupWindow Duration `yaml:"dedup_window"`
	// Forward lists absolute http(s) URLs that each event is delivered to
	// after its purge, with Razorpay's body and headers unchanged; none by
	// default. Credentials or tokens in them are hidden like secrets.
	Forward []string `yaml:"forward"`
	// ForwardTimeout bounds each delivery attempt; 10s by default,
	// positive.
	ForwardTimeout Duration `yaml:"forward_timeout"`
	// ForwardRetries is how many times a failed delivery is retried, with
	// exponential backoff from ForwardBackoff; 5 by default, 0 to 100.
	ForwardRetries int `yaml:"forward_retries"`
	// ForwardBackoff is the wait before the first retry, doubled for each
	// next one (up to a minute), with jitter; 1s by default, positive.
	ForwardBackoff Duration `yaml:"forward_backoff"`
	// ForwardMaxElapsed bounds a delivery from the event's arrival to its
	// last attempt; 5m by default, at least ForwardTimeout.
	ForwardMaxElapsed Duration `yaml:"forward_max_elapsed"`
}

// Enabled reports whether the webhook receiver runs: when a secret is set.
func (w Webhooks) Enabled() bool { return len(w.Secrets) > 0 }

// Default returns the configuration used when nothing is set. It validates.
func Default() Config {
	return Config{
		Listen:            ":8080",
		AdminListen:       ":9090",
		ShutdownTimeout:   Duration(30 * time.Second),
		ShutdownDelay:     Duration(5 * time.Second),
		ReadHeaderTimeout: Duration(10 * time.Second),
		ReadTimeout:       Duration(60 * time.Second),
		IdleTimeout:       Duration(120 * time.Second),
		MaxBodyBytes:      1 * MiB,
		Log:               Log{Level: "info"},
		Upstream: Upstream{
			URL:                   "https://api.razorpay.com",
			DialTimeout:           Duration(5 * time.Second),
			TLSHandshakeTimeout:   Duration(5 * time.Second),
			ResponseHeaderTimeout: Duration(30 * time.Second),
			Timeout:               Duration(60 * time.Second),
			MaxIdleConnsPerHost:   512,
			MaxConnsPerHost:       0,
			IdleConnTimeout:       Duration(90 * time.Second),
			Breaker: UpstreamBreaker{
				Enabled:             true,
				PerGroup:            true,
				FailureRatio:        0.5,
				MinRequests:         10,
				ConsecutiveFailures: 5,
				Window:              Duration(10 * time.Second),
				BucketPeriod:        Duration(time.Second),
				OpenTimeout:         Duration(5 * time.Second),
				HalfOpenRequests:    1,
			},
		},
		Cache: Cache{
			MaxBytes:      256 * MiB,
			MaxEntryBytes: 1 * MiB,
			TTL: TTL{
				Payments:     Duration(10 * time.Second),
				PaymentLinks: Duration(30 * time.Second),
				QRCodes:      Duration(30 * time.Second),
			},
			StaleIfError: RouteDurations{
				Payments:     Duration(time.Minute),
				PaymentLinks: Duration(5 * time.Minute),
				QRCodes:      Duration(5 * time.Minute),
			},
		},
		Redis: Redis{
			DialTimeout:  Duration(250 * time.Millisecond),
			ReadTimeout:  Duration(100 * time.Millisecond),
			WriteTimeout: Duration(100 * time.Millisecond),
			KeyPrefix:    "rzpgate:",
			Breaker:      RedisBreaker{Failures: 3, OpenTimeout: Duration(time.Second), MaxOpenTimeout: Duration(30 * time.Second)},
			NearCache:    NearCache{MaxBytes: 16 * MiB, TTL: Duration(time.Second)},
		},
		Limits: Limits{
			TenantFrom:       "key_id",
			ExpectedReplicas: 1,
			Default:          TenantLimit{Rate: 100, Burst: 200},
			Budget:           Budget{Rate: 50, Burst: 50, WriteReserve: 0.1, PauseOn429: true},
		},
		Webhooks: Webhooks{
			Path:              "/_rzpgate/webhooks/razorpay",
			MaxBodyBytes:      256 * KiB,
			DedupWindow:       Duration(24 * time.Hour),
			ForwardTimeout:    Duration(10 * time.Second),
			ForwardRetries:    5,
			ForwardBackoff:    Duration(time.Second),
			ForwardMaxElapsed: Duration(5 * time.Minute),
		},
	}
}

// MemoryLimit is the Go runtime's soft memory limit the gateway sets in
// memory mode when GOMEMLIMIT is not set: 1.25 times cache.max_bytes plus
// 64 MiB, the container memory limit the README recommends. Without it the
// collector lets the heap grow to about twice what is live before
// collecting, and a full cache would take its process well past that
// limit. In shared mode it is 0, no limit: the near cache is small, and a
// limit would only make the collector work harder for the connections'
// memory.
func (c Config) MemoryLimit() int64 {
	if c.Redis.URL != "" {
		return 0
	}
	bound := c.Cache.MaxBytes.Int64()
	return bound + bound/4 + int64(64*MiB)
}

// EffectiveWriteTimeout is WriteTimeout, or its default when zero.
func (c Config) EffectiveWriteTimeout() time.Duration {
	if c.WriteTimeout > 0 {
		return c.WriteTimeout.D()
	}
	return c.ReadTimeout.D() + c.Upstream.Timeout.D() + 30*time.Second
}

// EffectiveWriteHold is Cache.WriteHold, or its default when zero.
func (c Config) EffectiveWriteHold() time.Duration {
	if c.Cache.WriteHold > 0 {
		return c.Cache.WriteHold.D()
	}
	return c.Upstream.Timeout.D() + time.Minute
}

// Load returns Default overlaid with the YAML file at path, unless path is
// empty, and then with the environment as read by lookup, unless lookup is
// nil. It does not validate, so that the caller can apply flags first.
func Load(path string, lookup func(string) (string, bool)) (Config, error) {
	c := Default()
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return Config{}, fmt.Errorf("loading config: %w", err)
		}
		defer f.Close()
		if c, err = Parse(f, c); err != nil {
			return Config{}, fmt.Errorf("loading %s: %w", path, err)
		}
	}
	if lookup != nil {
		if err := c.ApplyEnv(lookup); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

// redacted replaces secrets in Redacted's output.
const redacted = "REDACTED"

// Redacted returns a copy of c that is safe to log: Cache.KeySecret,
// Redis.Password, each of Webhooks.Secrets and any password in Redis.URL,
// Upstream.URL or Webhooks.Forward are replaced by "REDACTED", and so are
// the queries of Webhooks.Forward, which may carry tokens; a URL that
// cannot be parsed is replaced whole.
func (c Config) Redacted() Config {
	c.Redis.Addrs = slices.Clone(c.Redis.Addrs)
	if len(c.Webhooks.Secrets) > 0 {
		c.Webhooks.Secrets = slices.Repeat([]string{redacted}, len(c.Webhooks.Secrets))
	}
	if c.Webhooks.Forward != nil {
		fwd := make([]string, len(c.Webhooks.Forward))
		for i, u := range c.Webhooks.Forward {
			fwd[i] = redactForwardURL(u)
		}
		c.Webhooks.Forward = fwd
	}
	if c.Cache.KeySecret != "" {
		c.Cache.KeySecret = redacted
	}
	if c.Redis.Password != "" {
		c.Redis.Password = redacted
	}
	c.Redis.URL = redactURL(c.Redis.URL)
	c.Upstream.URL = redactURL(c.Upstream.URL)
	return c
}

// redactForwardURL hides the password and the query of raw, a webhook
// target, or all of it if it cannot be parsed.
func redactForwardURL(raw string) string {
	raw = redactURL(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return redacted
	}
	if u.RawQuery != "" {
		u.RawQuery = redacted
	}
	return u.String()
}

// redactURL hides the password in raw. A URL that url.Parse rejects, or whose
// authority it cannot find ("redis:user:pass@host"), is hidden whole, since
// where a password would be in it is unknown.
func redactURL(raw string) string {
	if raw == "" {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return redacted
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redacted)
		return u.String()
	}
	return raw
}
