package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// withWebhooks enables the webhook receiver.
func withWebhooks(c *Config) { c.Webhooks.Secrets = []string{"whsec-new", "whsec-old"} }

// withRedis sets the fields a valid Redis setup needs.
func withRedis(c *Config) {
	c.Redis.URL = "redis://localhost:6379/0"
	c.Cache.KeySecret = strings.Repeat("k", 32)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		desc  string
		set   func(*Config)
		field string // "" means valid
	}{
		{"default", func(*Config) {}, ""},
		{"listen empty", func(c *Config) { c.Listen = "" }, "listen"},
		{"listen without port", func(c *Config) { c.Listen = "localhost" }, "listen"},
		{"listen with empty port", func(c *Config) { c.Listen = "localhost:" }, "listen"},
		{"listen with host", func(c *Config) { c.Listen = "127.0.0.1:8080" }, ""},
		{"listen ipv6", func(c *Config) { c.Listen = "[::1]:8080" }, ""},
		{"admin listen unparsable", func(c *Config) { c.AdminListen = "::1:9090" }, "admin_listen"},
		{"admin listen empty", func(c *Config) { c.AdminListen = "" }, "admin_listen"},
		{"admin listen same as listen", func(c *Config) { c.AdminListen = ":8080" }, "admin_listen"},
		{"both on random ports", func(c *Config) { c.Listen, c.AdminListen = ":0", ":0" }, ""},
		{"shutdown timeout zero", func(c *Config) { c.ShutdownTimeout = 0 }, "shutdown_timeout"},
		{"shutdown delay zero", func(c *Config) { c.ShutdownDelay = 0 }, ""},
		{"shutdown delay negative", func(c *Config) { c.ShutdownDelay = -1 }, "shutdown_delay"},
		{"read header timeout zero", func(c *Config) { c.ReadHeaderTimeout = 0 }, "read_header_timeout"},
		{"read timeout zero", func(c *Config) { c.ReadTimeout = 0 }, "read_timeout"},
		{"idle timeout zero", func(c *Config) { c.IdleTimeout = 0 }, "idle_timeout"},
		{"write timeout negative", func(c *Config) { c.WriteTimeout = -1 }, "write_timeout"},
		{"write timeout under upstream timeout", func(c *Config) { c.WriteTimeout = Duration(59 * time.Second) }, "write_timeout"},
		{"write timeout under read and upstream timeouts", func(c *Config) { c.WriteTimeout = Duration(119 * time.Second) }, "write_timeout"},
		{"write timeout set", func(c *Config) { c.WriteTimeout = Duration(5 * time.Minute) }, ""},
		{"write hold under upstream timeout", func(c *Config) { c.Cache.WriteHold = Duration(time.Second) }, "cache.write_hold"},
		{"write hold negative", func(c *Config) { c.Cache.WriteHold = -1 }, "cache.write_hold"},
		{"write hold set", func(c *Config) { c.Cache.WriteHold = Duration(10 * time.Minute) }, ""},
		{"max body zero", func(c *Config) { c.MaxBodyBytes = 0 }, "max_body_bytes"},
		{"max body negative", func(c *Config) { c.MaxBodyBytes = -1 }, "max_body_bytes"},
		{"log level unknown", func(c *Config) { c.Log.Level = "verbose" }, "log.level"},
		{"log level empty", func(c *Config) { c.Log.Level = "" }, "log.level"},
		{"log level upper case", func(c *Config) { c.Log.Level = "DEBUG" }, ""},

		{"upstream url empty", func(c *Config) { c.Upstream.URL = "" }, "upstream.url"},
		{"upstream url relative", func(c *Config) { c.Upstream.URL = "/v1" }, "upstream.url"},
		{"upstream url without scheme", func(c *Config) { c.Upstream.URL = "api.razorpay.com" }, "upstream.url"},
		{"upstream url ftp", func(c *Config) { c.Upstream.URL = "ftp://api.razorpay.com" }, "upstream.url"},
		{"upstream url unparsable", func(c *Config) { c.Upstream.URL = "https://[::1" }, "upstream.url"},
		{"upstream url without host", func(c *Config) { c.Upstream.URL = "https:///v1" }, "upstream.url"},
		{"upstream url with port only", func(c *Config) { c.Upstream.URL = "https://:443" }, "upstream.url"},
		{"upstream url with query", func(c *Config) { c.Upstream.URL = "https://api.razorpay.com?x=1" }, "upstream.url"},
		{"upstream url with empty query", func(c *Config) { c.Upstream.URL = "https://api.razorpay.com?" }, "upstream.url"},
		{"upstream url with fragment", func(c *Config) { c.Upstream.URL = "https://api.razorpay.com#x" }, "upstream.url"},
		{"upstream url with empty fragment", func(c *Config) { c.Upstream.URL = "https://api.razorpay.com#" }, "upstream.url"},
		{"upstream url with user", func(c *Config) { c.Upstream.URL = "https://user@api.razorpay.com" }, "upstream.url"},
		{"upstream url http with port and path", func(c *Config) { c.Upstream.URL = "http://127.0.0.1:8081/base/" }, ""},
		{"upstream dial timeout zero", func(c *Config) { c.Upstream.DialTimeout = 0 }, "upstream.dial_timeout"},
		{"upstream tls timeout negative", func(c *Config) { c.Upstream.TLSHandshakeTimeout = -1 }, "upstream.tls_handshake_timeout"},
		{"upstream header timeout zero", func(c *Config) { c.Upstream.ResponseHeaderTimeout = 0 }, "upstream.response_header_timeout"},
		{"upstream header timeout over timeout", func(c *Config) {
			c.Upstream.ResponseHeaderTimeout = c.Upstream.Timeout + 1
		}, "upstream.response_header_timeout"},
		{"upstream timeout zero", func(c *Config) { c.Upstream.Timeout = 0 }, "upstream.timeout"},
		{"upstream timeout negative", func(c *Config) {
			c.Upstream.Timeout, c.Upstream.ResponseHeaderTimeout = -1, 1
		}, "upstream.timeout"},
		{"upstream idle timeout zero", func(c *Config) { c.Upstream.IdleConnTimeout = 0 }, "upstream.idle_conn_timeout"},
		{"upstream idle conns negative", func(c *Config) { c.Upstream.MaxIdleConnsPerHost = -1 }, "upstream.max_idle_conns_per_host"},
		{"upstream idle conns zero", func(c *Config) { c.Upstream.MaxIdleConnsPerHost = 0 }, ""},
		{"upstream max conns negative", func(c *Config) { c.Upstream.MaxConnsPerHost = -1 }, "upstream.max_conns_per_host"},

		{"cache max bytes under 1MiB", func(c *Config) { c.Cache.MaxBytes = MiB - 1 }, "cache.max_bytes"},
		{"cache max bytes 1MiB", func(c *Config) { c.Cache.MaxBytes = MiB }, ""},
		{"cache entry zero", func(c *Config) { c.Cache.MaxEntryBytes = 0 }, "cache.max_entry_bytes"},
		{"cache entry over max", func(c *Config) { c.Cache.MaxEntryBytes = c.Cache.MaxBytes + 1 }, "cache.max_entry_bytes"},
		{"key secret short", func(c *Config) { c.Cache.KeySecret = strings.Repeat("k", 31) }, "cache.key_secret"},
		{"key secret 32 bytes", func(c *Config) { c.Cache.KeySecret = strings.Repeat("k", 32) }, ""},
		{"key secret missing with redis", func(c *Config) { withRedis(c); c.Cache.KeySecret = "" }, "cache.key_secret"},
		{"key secret short with redis", func(c *Config) { withRedis(c); c.Cache.KeySecret = "short" }, "cache.key_secret"},
		{"ttl payments zero", func(c *Config) { c.Cache.TTL.Payments = 0 }, "cache.ttl.payments"},
		{"ttl payment links negative", func(c *Config) { c.Cache.TTL.PaymentLinks = -1 }, "cache.ttl.payment_links"},
		{"ttl qr codes over a day", func(c *Config) { c.Cache.TTL.QRCodes = Duration(24*time.Hour + 1) }, "cache.ttl.qr_codes"},
		{"ttl a day", func(c *Config) { c.Cache.TTL.QRCodes = Duration(24 * time.Hour) }, ""},

		{"redis valid", withRedis, ""},
		{"redis tls with auth", func(c *Config) { withRedis(c); c.Redis.URL = "rediss://u:p@redis:6380/3" }, ""},
		{"redis url http", func(c *Config) { withRedis(c); c.Redis.URL = "http://localhost:6379" }, "redis.url"},
		{"redis url without scheme", func(c *Config) { withRedis(c); c.Redis.URL = "localhost:6379" }, "redis.url"},
		{"redis url unparsable", func(c *Config) { withRedis(c); c.Redis.URL = "redis://[::1" }, "redis.url"},
		{"redis url without host", func(c *Config) { withRedis(c); c.Redis.URL = "redis:///0" }, "redis.url"},
		{"redis url bad db", func(c *Config) { withRedis(c); c.Redis.URL = "redis://h:1/zero" }, "redis.url"},
		{"redis url negative db", func(c *Config) { withRedis(c); c.Redis.URL = "redis://h:1/-1" }, "redis.url"},
		{"redis url with fragment", func(c *Config) { withRedis(c); c.Redis.URL = "redis://h:1#x" }, "redis.url"},
		{"redis url bad query option", func(c *Config) { withRedis(c); c.Redis.URL = "redis://:pw@127.0.0.1:6390?dial_timeout=abc" }, "redis.url"},
		{"redis url unknown query option", func(c *Config) { withRedis(c); c.Redis.URL = "redis://127.0.0.1:6390?no_such_option=1" }, "redis.url"},
		{"redis url good query option ignored", func(c *Config) { withRedis(c); c.Redis.URL = "redis://127.0.0.1:6390?pool_size=77" }, "redis.url"},
		{"redis breaker max open under open", func(c *Config) { c.Redis.Breaker.MaxOpenTimeout = Duration(time.Millisecond) }, "redis.breaker.max_open_timeout"},
		{"redis unready after negative", func(c *Config) { c.Redis.UnreadyAfter = -1 }, "redis.unready_after"},

		{"breaker ratio zero", func(c *Config) { c.Upstream.Breaker.FailureRatio = 0 }, "upstream.breaker.failure_ratio"},
		{"breaker ratio over one", func(c *Config) { c.Upstream.Breaker.FailureRatio = 1.5 }, "upstream.breaker.failure_ratio"},
		{"breaker min requests zero", func(c *Config) { c.Upstream.Breaker.MinRequests = 0 }, "upstream.breaker.min_requests"},
		{"breaker consecutive negative", func(c *Config) { c.Upstream.Breaker.ConsecutiveFailures = -1 }, "upstream.breaker.consecutive_failures"},
		{"breaker consecutive off", func(c *Config) { c.Upstream.Breaker.ConsecutiveFailures = 0 }, ""},
		{"breaker bucket not dividing", func(c *Config) { c.Upstream.Breaker.BucketPeriod = Duration(3 * time.Second) }, "upstream.breaker.bucket_period"},
		{"breaker open timeout zero", func(c *Config) { c.Upstream.Breaker.OpenTimeout = 0 }, "upstream.breaker.open_timeout"},
		{"breaker bucket too fine", func(c *Config) { c.Upstream.Breaker.BucketPeriod = Duration(time.Nanosecond) }, "upstream.breaker.bucket_period"},
		{"breaker too many buckets", func(c *Config) { c.Upstream.Breaker.BucketPeriod = Duration(50 * time.Millisecond) }, "upstream.breaker.bucket_period"},
		{"breaker half open zero", func(c *Config) { c.Upstream.Breaker.HalfOpenRequests = 0 }, "upstream.breaker.half_open_requests"},
		{"stale negative", func(c *Config) { c.Cache.StaleIfError.Payments = -1 }, "cache.stale_if_error.payments"},
		{"stale off", func(c *Config) { c.Cache.StaleIfError.QRCodes = 0 }, ""},
		{"swr over stale", func(c *Config) { c.Cache.StaleWhileRevalidate.PaymentLinks = Duration(time.Hour) }, "cache.stale_while_revalidate.payment_links"},
		{"swr set", func(c *Config) { c.Cache.StaleWhileRevalidate.PaymentLinks = Duration(time.Minute) }, ""},
		{"tenant from unknown", func(c *Config) { c.Limits.TenantFrom = "ip" }, "limits.tenant_from"},
		{"tenant header missing", func(c *Config) { c.Limits.TenantFrom = "header" }, "limits.tenant_header"},
		{"tenant header reserved", func(c *Config) { c.Limits.TenantFrom, c.Limits.TenantHeader = "header", "Authorization" }, "limits.tenant_header"},
		{"tenant header not a token", func(c *Config) { c.Limits.TenantFrom, c.Limits.TenantHeader = "header", "X Tenant" }, "limits.tenant_header"},
		{"tenant header", func(c *Config) { c.Limits.TenantFrom, c.Limits.TenantHeader = "header", "X-Rzpgate-Tenant" }, ""},
		{"expected replicas zero", func(c *Config) { c.Limits.ExpectedReplicas = 0 }, "limits.expected_replicas"},
		{"default rate zero", func(c *Config) { c.Limits.Default.Rate = 0 }, "limits.default.rate"},
		{"default burst zero", func(c *Config) { c.Limits.Default.Burst = 0 }, "limits.default.burst"},
		{"tenant burst zero", func(c *Config) { c.Limits.Tenants = map[string]TenantLimit{"a": {Rate: 1}} }, "limits.tenants.a.burst"},
		{"tenant period negative", func(c *Config) { c.Limits.Tenants = map[string]TenantLimit{"a": {Rate: 1, Burst: 1, Period: -1}} }, "limits.tenants.a.period"},
		{"budget rate zero", func(c *Config) { c.Limits.Budget.Rate = 0 }, "limits.budget.rate"},
		{"budget reserve one", func(c *Config) { c.Limits.Budget.WriteReserve = 1 }, "limits.budget.write_reserve"},
		{"budget reserve leaves reads nothing", func(c *Config) { c.Limits.Budget.Rate, c.Limits.Budget.Burst = 1, 1 }, "limits.budget.write_reserve"},
		{"budget without reserve", func(c *Config) { c.Limits.Budget.Rate, c.Limits.Budget.Burst, c.Limits.Budget.WriteReserve = 1, 1, 0 }, ""},
		{"redis addrs without url", func(c *Config) { c.Redis.Addrs = []string{"h:1"} }, "redis.url"},
		{"redis cluster without url", func(c *Config) { c.Redis.Cluster = true }, "redis.url"},
		{"redis sentinel without url", func(c *Config) { c.Redis.MasterName = "m" }, "redis.url"},
		{"near cache without url", func(c *Config) { c.Redis.NearCache.Enabled = true }, "redis.url"},
		{"redis addrs without sentinel or cluster", func(c *Config) { withRedis(c); c.Redis.Addrs = []string{"h:1"} }, "redis.addrs"},
		{"redis addr without port", func(c *Config) {
			withRedis(c)
			c.Redis.Cluster, c.Redis.Addrs = true, []string{"h:1", "h2"}
		}, "redis.addrs[1]"},
		{"redis sentinel", func(c *Config) {
			withRedis(c)
			c.Redis.MasterName, c.Redis.Addrs = "mymaster", []string{"s2:26379", "s3:26379"}
		}, ""},
		{"redis sentinel and cluster", func(c *Config) {
			withRedis(c)
			c.Redis.MasterName, c.Redis.Cluster = "m", true
		}, "redis.cluster"},
		{"redis db negative", func(c *Config) { c.Redis.DB = -1 }, "redis.db"},
		{"redis db with cluster", func(c *Config) { withRedis(c); c.Redis.Cluster, c.Redis.DB = true, 1 }, "redis.db"},
		{"redis url db with cluster", func(c *Config) { withRedis(c); c.Redis.Cluster, c.Redis.URL = true, "redis://h:1/2" }, "redis.url"},
		{"redis url db 0 with cluster", func(c *Config) { withRedis(c); c.Redis.Cluster = true }, ""},
		{"redis pool size negative", func(c *Config) { c.Redis.PoolSize = -1 }, "redis.pool_size"},
		{"redis dial timeout zero", func(c *Config) { c.Redis.DialTimeout = 0 }, "redis.dial_timeout"},
		{"redis read timeout zero", func(c *Config) { c.Redis.ReadTimeout = 0 }, "redis.read_timeout"},
		{"redis write timeout negative", func(c *Config) { c.Redis.WriteTimeout = -1 }, "redis.write_timeout"},
		{"key prefix open brace", func(c *Config) { c.Redis.KeyPrefix = "{rzp" }, "redis.key_prefix"},
		{"key prefix close brace", func(c *Config) { c.Redis.KeyPrefix = "rzp}" }, "redis.key_prefix"},
		{"key prefix space", func(c *Config) { c.Redis.KeyPrefix = "rzp gate:" }, "redis.key_prefix"},
		{"key prefix tab", func(c *Config) { c.Redis.KeyPrefix = "rzp\t" }, "redis.key_prefix"},
		{"key prefix empty", func(c *Config) { c.Redis.KeyPrefix = "" }, "redis.key_prefix"},
		{"breaker failures zero", func(c *Config) { c.Redis.Breaker.Failures = 0 }, "redis.breaker.failures"},
		{"breaker open timeout zero", func(c *Config) { c.Redis.Breaker.OpenTimeout = 0 }, "redis.breaker.open_timeout"},
		{"near cache max bytes zero", func(c *Config) { c.Redis.NearCache.MaxBytes = 0 }, "redis.near_cache.max_bytes"},
		{"near cache ttl zero", func(c *Config) { c.Redis.NearCache.TTL = 0 }, "redis.near_cache.ttl"},
		{"near cache ttl over 10s", func(c *Config) { c.Redis.NearCache.TTL = Duration(10*time.Second + 1) }, "redis.near_cache.ttl"},
		{"near cache ttl 10s", func(c *Config) { c.Redis.NearCache.TTL = Duration(10 * time.Second) }, ""},
		{"near cache enabled", func(c *Config) { withRedis(c); c.Redis.NearCache.Enabled = true }, ""},

		{"webhooks enabled", withWebhooks, ""},
		{"webhook path other", func(c *Config) { c.Webhooks.Path = "/_rzpgate/hooks/rzp-1.v2~x" }, ""},
		{"webhook path outside", func(c *Config) { c.Webhooks.Path = "/webhooks/razorpay" }, "webhooks.path"},
		{"webhook path under v1", func(c *Config) { c.Webhooks.Path = "/v1/_rzpgate/webhooks" }, "webhooks.path"},
		{"webhook path prefix only", func(c *Config) { c.Webhooks.Path = "/_rzpgate/" }, "webhooks.path"},
		{"webhook path empty", func(c *Config) { c.Webhooks.Path = "" }, "webhooks.path"},
		{"webhook path dot dot", func(c *Config) { c.Webhooks.Path = "/_rzpgate/../v1/payments" }, "webhooks.path"},
		{"webhook path double slash", func(c *Config) { c.Webhooks.Path = "/_rzpgate//hooks" }, "webhooks.path"},
		{"webhook path trailing slash", func(c *Config) { c.Webhooks.Path = "/_rzpgate/hooks/" }, "webhooks.path"},
		{"webhook path query", func(c *Config) { c.Webhooks.Path = "/_rzpgate/hooks?x=1" }, "webhooks.path"},
		{"webhook path escape", func(c *Config) { c.Webhooks.Path = "/_rzpgate/ho%6Fks" }, "webhooks.path"},
		{"webhook path space", func(c *Config) { c.Webhooks.Path = "/_rzpgate/my hooks" }, "webhooks.path"},
		{"webhook secret blank", func(c *Config) { c.Webhooks.Secrets = []string{"s1", " "} }, "webhooks.secrets[1]"},
		{"webhook secrets too many", func(c *Config) { c.Webhooks.Secrets = strings.Split("a,b,c,d,e,f,g,h,i,j,k", ",") }, "webhooks.secrets"},
		{"webhook max body zero", func(c *Config) { c.Webhooks.MaxBodyBytes = 0 }, "webhooks.max_body_bytes"},
		{"webhook dedup zero", func(c *Config) { c.Webhooks.DedupWindow = 0 }, "webhooks.dedup_window"},
		{"webhook dedup over a week", func(c *Config) { c.Webhooks.DedupWindow = Duration(8 * 24 * time.Hour) }, "webhooks.dedup_window"},
		{"webhook forward", func(c *Config) { c.Webhooks.Forward = []string{"https://app/hooks?token=x", "http://10.0.0.1:8080/"} }, ""},
		{"webhook forward relative", func(c *Config) { c.Webhooks.Forward = []string{"https://app/h", "/hooks"} }, "webhooks.forward[1]"},
		{"webhook forward ftp", func(c *Config) { c.Webhooks.Forward = []string{"ftp://app/hooks"} }, "webhooks.forward[0]"},
		{"webhook forward no host", func(c *Config) { c.Webhooks.Forward = []string{"https:///hooks"} }, "webhooks.forward[0]"},
		{"webhook forward fragment", func(c *Config) { c.Webhooks.Forward = []string{"https://app/hooks#x"} }, "webhooks.forward[0]"},
		{"webhook forward unparsable", func(c *Config) { c.Webhooks.Forward = []string{"https://[::1/hooks"} }, "webhooks.forward[0]"},
		{"webhook forward too many", func(c *Config) { c.Webhooks.Forward = slices.Repeat([]string{"https://app/h"}, 11) }, "webhooks.forward"},
		{"webhook timeout zero", func(c *Config) { c.Webhooks.ForwardTimeout = 0 }, "webhooks.forward_timeout"},
		{"webhook retries zero", func(c *Config) { c.Webhooks.ForwardRetries = 0 }, ""},
		{"webhook retries negative", func(c *Config) { c.Webhooks.ForwardRetries = -1 }, "webhooks.forward_retries"},
		{"webhook retries over 100", func(c *Config) { c.Webhooks.ForwardRetries = 101 }, "webhooks.forward_retries"},
		{"webhook backoff zero", func(c *Config) { c.Webhooks.ForwardBackoff = 0 }, "webhooks.forward_backoff"},
		{"webhook max elapsed under timeout", func(c *Config) { c.Webhooks.ForwardMaxElapsed = Duration(time.Second) }, "webhooks.forward_max_elapsed"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := Default()
			tt.set(&c)
			err := c.Validate()
			switch {
			case tt.field == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.field != "" && err == nil:
				t.Errorf("Validate() = nil, want an error naming %s", tt.field)
			case tt.field != "" && !strings.HasPrefix(err.Error(), tt.field+": "):
				t.Errorf("Validate() = %q, want it to start with %q", err, tt.field+": ")
			}
		})
	}
}
