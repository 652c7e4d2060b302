package config

import (
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// secret is planted in secret fields; no error or redacted output may hold
// it, nor its distinctive middle, which a truncated echo would still show.
const secret = "hunter2-S3CRET-hunter2"

func checkNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, leak := range []string{secret, "S3CRET"} {
		if strings.Contains(s, leak) {
			t.Errorf("%s = %q, contains the secret", what, s)
		}
	}
}

func TestSecretsNotInValidateErrors(t *testing.T) {
	tests := []struct {
		desc  string
		field string
		set   func(*Config)
	}{
		{"short key secret", "cache.key_secret", func(c *Config) { c.Cache.KeySecret = secret }},
		{"key secret with bad redis url", "redis.url", func(c *Config) {
			c.Cache.KeySecret = secret + secret
			c.Redis.URL = "redis://u:" + secret + "@h:1%zz"
		}},
		{"password in unparsable url", "redis.url", func(c *Config) { c.Redis.URL = "redis://u:" + secret + "@[::1" }},
		{"password as port", "redis.url", func(c *Config) { c.Redis.URL = "redis://u:" + secret + "/h" }},
		{"password in url with bad scheme", "redis.url", func(c *Config) { c.Redis.URL = "http://u:" + secret + "@h:1" }},
		{"password in url without scheme", "redis.url", func(c *Config) { c.Redis.URL = "u:" + secret + "@h:1" }},
		{"password in url with bad db", "redis.url", func(c *Config) { c.Redis.URL = "redis://u:" + secret + "@h:1/x" }},
		{"password in url without host", "redis.url", func(c *Config) { c.Redis.URL = "redis://u:" + secret + "@" }},
		{"password in redis addrs", "redis.addrs[0]", func(c *Config) {
			c.Redis.URL, c.Redis.Cluster = "redis://h:1", true
			c.Cache.KeySecret = strings.Repeat("k", 32)
			c.Redis.Addrs = []string{"u:" + secret + "@h:1"}
		}},
		{"password in upstream url", "upstream.url", func(c *Config) { c.Upstream.URL = "https://u:" + secret + "@h" }},
		{"unparsable upstream url with password", "upstream.url", func(c *Config) { c.Upstream.URL = "https://u:" + secret + "/h" }},
		{"webhook secret with a bad path", "webhooks.path", func(c *Config) {
			c.Webhooks.Secrets = []string{secret}
			c.Webhooks.Path = "/hooks"
		}},
		{"webhook secret with a blank one", "webhooks.secrets[1]", func(c *Config) { c.Webhooks.Secrets = []string{secret, " "} }},
		{"webhook secrets too many", "webhooks.secrets", func(c *Config) { c.Webhooks.Secrets = slices.Repeat([]string{secret}, 11) }},
		{"password in forward url", "webhooks.forward[0]", func(c *Config) { c.Webhooks.Forward = []string{"ftp://u:" + secret + "@app/h"} }},
		{"unparsable forward url with password", "webhooks.forward[0]", func(c *Config) { c.Webhooks.Forward = []string{"https://u:" + secret + "@[::1/h"} }},
		{"token in forward url", "webhooks.forward[0]", func(c *Config) { c.Webhooks.Forward = []string{"https://app/h?token=" + secret + "#x"} }},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := Default()
			c.Cache.KeySecret = strings.Repeat("k", 32)
			tt.set(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error naming %s", tt.field)
			}
			if !strings.HasPrefix(err.Error(), tt.field+":") {
				t.Errorf("Validate() = %q, want it to name %s", err, tt.field)
			}
			checkNoSecret(t, "Validate()", err.Error())
		})
	}
}

func TestSecretsNotInParseErrors(t *testing.T) {
	tests := []struct {
		desc  string
		field string
		yaml  string
	}{
		{"key secret as list", "cache.key_secret", "cache:\n  key_secret: [" + secret + "]\n"},
		{"key secret as map", "cache.key_secret", "cache:\n  key_secret: {" + secret + ": 1}\n"},
		{"key secret mis-tagged", "cache.key_secret", "cache:\n  key_secret: !!int " + secret + "\n"},
		{"key secret bad binary", "cache.key_secret", "cache:\n  key_secret: !!binary " + secret + "\n"},
		{"password mis-tagged", "redis.password", "redis:\n  password: !!float " + secret + "\n"},
		{"url mis-tagged", "redis.url", "redis:\n  url: !!bool redis://u:" + secret + "@h\n"},
		{"password twice", "redis.password", "redis:\n  password: " + secret + "\n  password: " + secret + "\n"},
		{"webhook secrets as string", "webhooks.secrets", "webhooks:\n  secrets: " + secret + "\n"},
		{"webhook secrets as map", "webhooks.secrets", "webhooks:\n  secrets: {" + secret + ": 1}\n"},
		{"webhook secret as map", "webhooks.secrets", "webhooks:\n  secrets: [{" + secret + ": 1}]\n"},
		{"webhook secrets twice", "webhooks.secrets", "webhooks:\n  secrets: [" + secret + "]\n  secrets: [" + secret + "]\n"},
		{"forward as string", "webhooks.forward", "webhooks:\n  forward: https://u:" + secret + "@app/h\n"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.yaml), Default())
			if err == nil {
				t.Fatalf("Parse() error = nil, want one naming %s", tt.field)
			}
			if !strings.HasPrefix(err.Error(), tt.field+":") {
				t.Errorf("Parse() error = %q, want it to name %s", err, tt.field)
			}
			checkNoSecret(t, "Parse() error", err.Error())
		})
	}
}

func TestSecretsNotInEnvErrors(t *testing.T) {
	// String fields take any value, so a secret can only leak through an
	// error about some other variable; check none echoes its neighbours.
	c := Default()
	err := c.ApplyEnv(mapEnv(map[string]string{
		"RZPGATE_CACHE_KEY_SECRET": secret,
		"RZPGATE_REDIS_PASSWORD":   secret,
		"RZPGATE_REDIS_URL":        "redis://u:" + secret + "@h",
		"RZPGATE_WEBHOOK_SECRETS":  secret + "," + secret,
		"RZPGATE_WEBHOOK_FORWARD":  "https://u:" + secret + "@app/h",
		"RZPGATE_REDIS_DB":         "one",
	}))
	if err == nil {
		t.Fatal("ApplyEnv() = nil, want an error naming RZPGATE_REDIS_DB")
	}
	checkNoSecret(t, "ApplyEnv()", err.Error())
}

func TestRedacted(t *testing.T) {
	tests := []struct {
		desc    string
		set     func(*Config)
		wantURL string
	}{
		{"all secrets", func(c *Config) {
			c.Cache.KeySecret = secret
			c.Redis.Password = secret
			c.Redis.URL = "rediss://user:" + secret + "@h:6380/2"
		}, "rediss://user:REDACTED@h:6380/2"},
		{"password without user", func(c *Config) { c.Redis.URL = "redis://:" + secret + "@h:1" }, "redis://:REDACTED@h:1"},
		{"unparsable url", func(c *Config) { c.Redis.URL = "redis://u:" + secret + "/h" }, "REDACTED"},
		{"opaque url", func(c *Config) { c.Redis.URL = "redis:u:" + secret + "@h" }, "REDACTED"},
		{"url without password", func(c *Config) { c.Redis.URL = "redis://user@h:1/0" }, "redis://user@h:1/0"},
		{"no redis", func(c *Config) {}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := Default()
			tt.set(&c)
			c.Upstream.URL = "https://u:" + secret + "@api.razorpay.com"
			orig := c.Redis.URL
			r := c.Redacted()
			out, err := yaml.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			checkNoSecret(t, "Redacted()", string(out))
			if r.Redis.URL != tt.wantURL {
				t.Errorf("Redacted().Redis.URL = %q, want %q", r.Redis.URL, tt.wantURL)
			}
			if c.Cache.KeySecret != "" && r.Cache.KeySecret != "REDACTED" {
				t.Errorf("Redacted().Cache.KeySecret = %q, want REDACTED", r.Cache.KeySecret)
			}
			if c.Redis.URL != orig {
				t.Errorf("Redacted modified its receiver's Redis.URL to %q", c.Redis.URL)
			}
		})
	}
}

func TestRedactedWebhooks(t *testing.T) {
	c := Default()
	c.Webhooks.Secrets = []string{secret, "other-" + secret}
	c.Webhooks.Forward = []string{
		"https://app-a/hooks",
		"https://u:" + secret + "@app-b/hooks",
		"https://app-c/hooks?token=" + secret,
		"https://u:" + secret + "@[::1/h",
	}
	r := c.Redacted()
	out, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	checkNoSecret(t, "Redacted()", string(out))
	if want := []string{"REDACTED", "REDACTED"}; !slices.Equal(r.Webhooks.Secrets, want) {
		t.Errorf("Redacted().Webhooks.Secrets = %q, want %q", r.Webhooks.Secrets, want)
	}
	want := []string{"https://app-a/hooks", "https://u:REDACTED@app-b/hooks", "https://app-c/hooks?REDACTED", "REDACTED"}
	if !slices.Equal(r.Webhooks.Forward, want) {
		t.Errorf("Redacted().Webhooks.Forward = %q, want %q", r.Webhooks.Forward, want)
	}
	if c.Webhooks.Secrets[0] != secret || !strings.Contains(c.Webhooks.Forward[1], secret) {
		t.Error("Redacted modified its receiver's webhooks")
	}
}
