package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestApplyEnv(t *testing.T) {
	// Each variable in EnvNames must appear here exactly once.
	tests := []struct {
		name  string
		value string
		want  func(*Config)
	}{
		{"RZPGATE_LISTEN", "127.0.0.1:1", func(c *Config) { c.Listen = "127.0.0.1:1" }},
		{"RZPGATE_ADMIN_LISTEN", ":2", func(c *Config) { c.AdminListen = ":2" }},
		{"RZPGATE_SHUTDOWN_TIMEOUT", "3s", func(c *Config) { c.ShutdownTimeout = Duration(3 * time.Second) }},
		{"RZPGATE_SHUTDOWN_DELAY", "0s", func(c *Config) { c.ShutdownDelay = 0 }},
		{"RZPGATE_READ_TIMEOUT", "20s", func(c *Config) { c.ReadTimeout = Duration(20 * time.Second) }},
		{"RZPGATE_WRITE_TIMEOUT", "2m", func(c *Config) { c.WriteTimeout = Duration(2 * time.Minute) }},
		{"RZPGATE_MAX_BODY_BYTES", "64KiB", func(c *Config) { c.MaxBodyBytes = 64 * KiB }},
		{"RZPGATE_LOG_LEVEL", "Debug", func(c *Config) { c.Log.Level = "debug" }},
		{"RZPGATE_UPSTREAM_URL", "http://mock:8081", func(c *Config) { c.Upstream.URL = "http://mock:8081" }},
		{"RZPGATE_UPSTREAM_TIMEOUT", "1m", func(c *Config) { c.Upstream.Timeout = Duration(time.Minute) }},
		{"RZPGATE_CACHE_MAX_BYTES", "1GiB", func(c *Config) { c.Cache.MaxBytes = GiB }},
		{"RZPGATE_CACHE_MAX_ENTRY_BYTES", "2097152", func(c *Config) { c.Cache.MaxEntryBytes = 2 * MiB }},
		{"RZPGATE_CACHE_KEY_SECRET", "k3y", func(c *Config) { c.Cache.KeySecret = "k3y" }},
		{"RZPGATE_TTL_PAYMENTS", "5s", func(c *Config) { c.Cache.TTL.Payments = Duration(5 * time.Second) }},
		{"RZPGATE_TTL_PAYMENT_LINKS", "6s", func(c *Config) { c.Cache.TTL.PaymentLinks = Duration(6 * time.Second) }},
		{"RZPGATE_TTL_QR_CODES", "7s", func(c *Config) { c.Cache.TTL.QRCodes = Duration(7 * time.Second) }},
		{"RZPGATE_CACHE_WRITE_HOLD", "5m", func(c *Config) { c.Cache.WriteHold = Duration(5 * time.Minute) }},
		{"RZPGATE_REDIS_URL", "redis://r:6379/1", func(c *Config) { c.Redis.URL = "redis://r:6379/1" }},
		{"RZPGATE_REDIS_ADDRS", " a:1, b:2,,", func(c *Config) { c.Redis.Addrs = []string{"a:1", "b:2"} }},
		{"RZPGATE_REDIS_MASTER_NAME", "mymaster", func(c *Config) { c.Redis.MasterName = "mymaster" }},
		{"RZPGATE_REDIS_CLUSTER", "true", func(c *Config) { c.Redis.Cluster = true }},
		{"RZPGATE_REDIS_USERNAME", "app", func(c *Config) { c.Redis.Username = "app" }},
		{"RZPGATE_REDIS_PASSWORD", "pw", func(c *Config) { c.Redis.Password = "pw" }},
		{"RZPGATE_REDIS_DB", "4", func(c *Config) { c.Redis.DB = 4 }},
		{"RZPGATE_REDIS_POOL_SIZE", "20", func(c *Config) { c.Redis.PoolSize = 20 }},
		{"RZPGATE_REDIS_KEY_PREFIX", "gw:", func(c *Config) { c.Redis.KeyPrefix = "gw:" }},
		{"RZPGATE_REDIS_UNREADY_AFTER", "30s", func(c *Config) { c.Redis.UnreadyAfter = Duration(30 * time.Second) }},
		{"RZPGATE_REDIS_NEAR_CACHE", "1", func(c *Config) { c.Redis.NearCache.Enabled = true }},
		{"RZPGATE_REDIS_NEAR_CACHE_TTL", "500ms", func(c *Config) { c.Redis.NearCache.TTL = Duration(500 * time.Millisecond) }},
		{"RZPGATE_BREAKER_ENABLED", "false", func(c *Config) { c.Upstream.Breaker.Enabled = false }},
		{"RZPGATE_LIMITS_ENABLED", "true", func(c *Config) { c.Limits.Enabled = true }},
		{"RZPGATE_LIMITS_TENANT_FROM", "Header", func(c *Config) { c.Limits.TenantFrom = "header" }},
		{"RZPGATE_LIMITS_TENANT_HEADER", "X-Rzpgate-Tenant", func(c *Config) { c.Limits.TenantHeader = "X-Rzpgate-Tenant" }},
		{"RZPGATE_LIMITS_REJECT_UNKNOWN", "true", func(c *Config) { c.Limits.RejectUnknown = true }},
		{"RZPGATE_LIMITS_EXPECTED_REPLICAS", "3", func(c *Config) { c.Limits.ExpectedReplicas = 3 }},
		{"RZPGATE_LIMITS_DEFAULT_RATE", "7", func(c *Config) { c.Limits.Default.Rate = 7 }},
		{"RZPGATE_LIMITS_DEFAULT_BURST", "9", func(c *Config) { c.Limits.Default.Burst = 9 }},
		{"RZPGATE_BUDGET_ENABLED", "true", func(c *Config) { c.Limits.Budget.Enabled = true }},
		{"RZPGATE_BUDGET_RATE", "11", func(c *Config) { c.Limits.Budget.Rate = 11 }},
		{"RZPGATE_BUDGET_BURST", "12", func(c *Config) { c.Limits.Budget.Burst = 12 }},
		{"RZPGATE_WEBHOOK_PATH", "/_rzpgate/hooks", func(c *Config) { c.Webhooks.Path = "/_rzpgate/hooks" }},
		{"RZPGATE_WEBHOOK_SECRETS", " new-secret, old-secret ,", func(c *Config) { c.Webhooks.Secrets = []string{"new-secret", "old-secret"} }},
		{"RZPGATE_WEBHOOK_FORWARD", "https://app-a/hooks,http://app-b:8080/rzp", func(c *Config) {
			c.Webhooks.Forward = []string{"https://app-a/hooks", "http://app-b:8080/rzp"}
		}},
	}
	var names []string
	for _, tt := range tests {
		names = append(names, tt.name)
		t.Run(tt.name, func(t *testing.T) {
			got := Default()
			if err := got.ApplyEnv(mapEnv(map[string]string{tt.name: tt.value})); err != nil {
				t.Fatalf("ApplyEnv error: %v", err)
			}
			want := Default()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("after %s=%q got\n%+v\nwant\n%+v", tt.name, tt.value, got, want)
			}
		})
	}
	if got, want := EnvNames(), names; !slices.Equal(got, want) {
		t.Errorf("EnvNames() = %q, want the tested names %q", got, want)
	}
}

func TestApplyEnvUnsetKeepsConfig(t *testing.T) {
	got := Default()
	got.Listen = ":1"
	if err := got.ApplyEnv(mapEnv(nil)); err != nil {
		t.Fatalf("ApplyEnv error: %v", err)
	}
	if got.Listen != ":1" {
		t.Errorf("Listen = %q after an empty environment, want %q", got.Listen, ":1")
	}
}

func TestApplyEnvEmptyValues(t *testing.T) {
	c := Default()
	c.Redis.URL, c.Redis.Addrs = "redis://h:1", []string{"a:1"}
	c.Webhooks.Secrets, c.Webhooks.Forward = []string{"s"}, []string{"http://a"}
	err := c.ApplyEnv(mapEnv(map[string]string{"RZPGATE_REDIS_URL": "", "RZPGATE_REDIS_ADDRS": "",
		"RZPGATE_WEBHOOK_SECRETS": "", "RZPGATE_WEBHOOK_FORWARD": " , "}))
	if err != nil {
		t.Fatalf("ApplyEnv error: %v", err)
	}
	if c.Redis.URL != "" || c.Redis.Addrs != nil {
		t.Errorf("Redis.URL, Redis.Addrs = %q, %q after empty variables, want \"\", nil", c.Redis.URL, c.Redis.Addrs)
	}
	if c.Webhooks.Secrets != nil || c.Webhooks.Forward != nil || c.Webhooks.Enabled() {
		t.Errorf("Webhooks.Secrets, Forward = %q, %q after empty variables, want nil, nil (disabled)", c.Webhooks.Secrets, c.Webhooks.Forward)
	}
}

func TestApplyEnvErrors(t *testing.T) {
	tests := []struct{ name, value string }{
		{"RZPGATE_SHUTDOWN_TIMEOUT", "30"},
		{"RZPGATE_SHUTDOWN_TIMEOUT", ""},
		{"RZPGATE_MAX_BODY_BYTES", "1.5MiB"},
		{"RZPGATE_MAX_BODY_BYTES", "-1"},
		{"RZPGATE_UPSTREAM_TIMEOUT", "soon"},
		{"RZPGATE_CACHE_MAX_BYTES", "1PiB"},
		{"RZPGATE_CACHE_MAX_ENTRY_BYTES", "big"},
		{"RZPGATE_TTL_PAYMENTS", "10"},
		{"RZPGATE_TTL_PAYMENT_LINKS", "1d"},
		{"RZPGATE_TTL_QR_CODES", "x"},
		{"RZPGATE_REDIS_CLUSTER", "yes please"},
		{"RZPGATE_REDIS_DB", "one"},
		{"RZPGATE_REDIS_DB", ""},
		{"RZPGATE_REDIS_POOL_SIZE", "1e3"},
		{"RZPGATE_REDIS_NEAR_CACHE", "on"},
		{"RZPGATE_REDIS_NEAR_CACHE_TTL", "1 s"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			c := Default()
			err := c.ApplyEnv(mapEnv(map[string]string{tt.name: tt.value}))
			if err == nil {
				t.Fatalf("ApplyEnv error = nil, want one naming %s", tt.name)
			}
			if !strings.HasPrefix(err.Error(), tt.name+": ") {
				t.Errorf("ApplyEnv error = %q, want it to start with %q", err, tt.name+": ")
			}
		})
	}
}
