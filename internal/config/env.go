package config

import (
	"fmt"
	"strconv"
	"strings"
)

// envVars maps each environment variable to the field it sets. The value is
// parsed according to the field's type: strings as is, Durations as Go
// durations ("10s"), ByteSizes as ParseByteSize does, ints as decimal
// integers, bools as strconv.ParseBool does, and []string as a
// comma-separated list.
var envVars = []struct {
	name  string
	field func(*Config) any
}{
	{"RZPGATE_LISTEN", func(c *Config) any { return &c.Listen }},
	{"RZPGATE_ADMIN_LISTEN", func(c *Config) any { return &c.AdminListen }},
	{"RZPGATE_SHUTDOWN_TIMEOUT", func(c *Config) any { return &c.ShutdownTimeout }},
	{"RZPGATE_SHUTDOWN_DELAY", func(c *Config) any { return &c.ShutdownDelay }},
	{"RZPGATE_READ_TIMEOUT", func(c *Config) any { return &c.ReadTimeout }},
	{"RZPGATE_WRITE_TIMEOUT", func(c *Config) any { return &c.WriteTimeout }},
	{"RZPGATE_MAX_BODY_BYTES", func(c *Config) any { return &c.MaxBodyBytes }},
	{"RZPGATE_LOG_LEVEL", func(c *Config) any { return &c.Log.Level }},
	{"RZPGATE_UPSTREAM_URL", func(c *Config) any { return &c.Upstream.URL }},
	{"RZPGATE_UPSTREAM_TIMEOUT", func(c *Config) any { return &c.Upstream.Timeout }},
	{"RZPGATE_CACHE_MAX_BYTES", func(c *Config) any { return &c.Cache.MaxBytes }},
	{"RZPGATE_CACHE_MAX_ENTRY_BYTES", func(c *Config) any { return &c.Cache.MaxEntryBytes }},
	{"RZPGATE_CACHE_KEY_SECRET", func(c *Config) any { return &c.Cache.KeySecret }},
	{"RZPGATE_TTL_PAYMENTS", func(c *Config) any { return &c.Cache.TTL.Payments }},
	{"RZPGATE_TTL_PAYMENT_LINKS", func(c *Config) any { return &c.Cache.TTL.PaymentLinks }},
	{"RZPGATE_TTL_QR_CODES", func(c *Config) any { return &c.Cache.TTL.QRCodes }},
	{"RZPGATE_CACHE_WRITE_HOLD", func(c *Config) any { return &c.Cache.WriteHold }},
	{"RZPGATE_REDIS_URL", func(c *Config) any { return &c.Redis.URL }},
	{"RZPGATE_REDIS_ADDRS", func(c *Config) any { return &c.Redis.Addrs }},
	{"RZPGATE_REDIS_MASTER_NAME", func(c *Config) any { return &c.Redis.MasterName }},
	{"RZPGATE_REDIS_CLUSTER", func(c *Config) any { return &c.Redis.Cluster }},
	{"RZPGATE_REDIS_USERNAME", func(c *Config) any { return &c.Redis.Username }},
	{"RZPGATE_REDIS_PASSWORD", func(c *Config) any { return &c.Redis.Password }},
	{"RZPGATE_REDIS_DB", func(c *Config) any { return &c.Redis.DB }},
	{"RZPGATE_REDIS_POOL_SIZE", func(c *Config) any { return &c.Redis.PoolSize }},
	{"RZPGATE_REDIS_KEY_PREFIX", func(c *Config) any { return &c.Redis.KeyPrefix }},
	{"RZPGATE_REDIS_UNREADY_AFTER", func(c *Config) any { return &c.Redis.UnreadyAfter }},
	{"RZPGATE_REDIS_NEAR_CACHE", func(c *Config) any { return &c.Redis.NearCache.Enabled }},
	{"RZPGATE_REDIS_NEAR_CACHE_TTL", func(c *Config) any { return &c.Redis.NearCache.TTL }},
	{"RZPGATE_BREAKER_ENABLED", func(c *Config) any { return &c.Upstream.Breaker.Enabled }},
	{"RZPGATE_LIMITS_ENABLED", func(c *Config) any { return &c.Limits.Enabled }},
	{"RZPGATE_LIMITS_TENANT_FROM", func(c *Config) any { return &c.Limits.TenantFrom }},
	{"RZPGATE_LIMITS_TENANT_HEADER", func(c *Config) any { return &c.Limits.TenantHeader }},
	{"RZPGATE_LIMITS_REJECT_UNKNOWN", func(c *Config) any { return &c.Limits.RejectUnknown }},
	{"RZPGATE_LIMITS_EXPECTED_REPLICAS", func(c *Config) any { return &c.Limits.ExpectedReplicas }},
	{"RZPGATE_LIMITS_DEFAULT_RATE", func(c *Config) any { return &c.Limits.Default.Rate }},
	{"RZPGATE_LIMITS_DEFAULT_BURST", func(c *Config) any { return &c.Limits.Default.Burst }},
	{"RZPGATE_BUDGET_ENABLED", func(c *Config) any { return &c.Limits.Budget.Enabled }},
	{"RZPGATE_BUDGET_RATE", func(c *Config) any { return &c.Limits.Budget.Rate }},
	{"RZPGATE_BUDGET_BURST", func(c *Config) any { return &c.Limits.Budget.Burst }},
	{"RZPGATE_WEBHOOK_PATH", func(c *Config) any { return &c.Webhooks.Path }},
	{"RZPGATE_WEBHOOK_SECRETS", func(c *Config) any { return &c.Webhooks.Secrets }},
	{"RZPGATE_WEBHOOK_FORWARD", func(c *Config) any { return &c.Webhooks.Forward }},
}

// EnvNames returns the names of the environment variables ApplyEnv reads, in
// a fixed order.
func EnvNames() []string {
	names := make([]string, len(envVars))
	for i, v := range envVars {
		names[i] = v.name
	}
	return names
}

// ApplyEnv overrides c's fields with the environment variables that lookup
// reports as set (see EnvNames); lookup is usually os.LookupEnv. A variable
// set to the empty string clears a string field, but is an error for other
// types. The first unparsable value stops ApplyEnv with an error naming the
// variable, leaving c partly updated. ApplyEnv does not validate.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	for _, v := range envVars {
		s, ok := lookup(v.name)
		if !ok {
			continue
		}
		if err := setField(v.field(c), s); err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
	}
	c.normalize()
	return nil
}

// setField parses s into the field p points to. Its errors never quote s for
// string fields, which include the secrets; other values are safe to echo.
func setField(p any, s string) error {
	switch p := p.(type) {
	case *string:
		*p = s
	case *[]string:
		*p = nil
		for a := range strings.SplitSeq(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				*p = append(*p, a)
			}
		}
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid boolean %q (want true or false)", s)
		}
		*p = b
	case *Duration:
		return p.UnmarshalText([]byte(s))
	case *ByteSize:
		return p.UnmarshalText([]byte(s))
	default:
		panic(fmt.Sprintf("config: no parser for %T", p))
	}
	return nil
}
