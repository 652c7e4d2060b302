package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParse(t *testing.T) {
	tests := []struct {
		desc string
		in   string
		want func(*Config)
	}{
		{desc: "empty input", in: "", want: func(*Config) {}},
		{desc: "only comments", in: "# nothing\n", want: func(*Config) {}},
		{desc: "null document", in: "~\n", want: func(*Config) {}},
		{desc: "empty mapping", in: "{}\n", want: func(*Config) {}},
		{desc: "null section keeps base", in: "upstream:\nredis: ~\n", want: func(*Config) {}},
		{desc: "null leaf keeps base", in: "listen:\n", want: func(*Config) {}},
		{desc: "top level", in: "listen: \"127.0.0.1:80\"\nshutdown_timeout: 2s\nmax_body_bytes: 64KiB\n", want: func(c *Config) {
			c.Listen, c.ShutdownTimeout, c.MaxBodyBytes = "127.0.0.1:80", Duration(2*time.Second), 64*KiB
		}},
		{desc: "nested fields keep siblings", in: "cache:\n  ttl:\n    payments: 1s\n", want: func(c *Config) {
			c.Cache.TTL.Payments = Duration(time.Second)
		}},
		{desc: "log level lower-cased", in: "log: {level: WARN}\n", want: func(c *Config) { c.Log.Level = "warn" }},
		{desc: "tenants", in: "limits:\n  enabled: true\n  tenants:\n    rzp_live_a: {rate: 5, burst: 10}\n    svc-b: {rate: 1, burst: 2, period: 1m, exempt_hits: true}\n", want: func(c *Config) {
			c.Limits.Enabled = true
			c.Limits.Tenants = map[string]TenantLimit{
				"rzp_live_a": {Rate: 5, Burst: 10},
				"svc-b":      {Rate: 1, Burst: 2, Period: Duration(time.Minute), ExemptHits: true},
			}
		}},
		{desc: "unknown log level kept as written", in: "log: {level: Loud}\n", want: func(c *Config) { c.Log.Level = "Loud" }},
		{desc: "redis", in: `
redis:
  url: rediss://user:pw@r1:6380/2
  addrs: [r2:6380, r3:6380]
  cluster: true
  db: 0
  pool_size: 50
  key_prefix: "gw:"
  breaker: {failures: 5, open_timeout: 2s}
  near_cache: {enabled: true, max_bytes: 1MB, ttl: 500ms}
`, want: func(c *Config) {
			r := &c.Redis
			r.URL, r.Addrs, r.Cluster, r.PoolSize, r.KeyPrefix = "rediss://user:pw@r1:6380/2", []string{"r2:6380", "r3:6380"}, true, 50, "gw:"
			r.Breaker = RedisBreaker{Failures: 5, OpenTimeout: Duration(2 * time.Second), MaxOpenTimeout: Duration(30 * time.Second)}
			r.NearCache = NearCache{Enabled: true, MaxBytes: 1000000, TTL: Duration(500 * time.Millisecond)}
		}},
		{desc: "empty addrs is nil", in: "redis: {addrs: []}\n", want: func(*Config) {}},
		{desc: "anchors and aliases", in: "upstream:\n  timeout: &t 45s\n  response_header_timeout: *t\n", want: func(c *Config) {
			c.Upstream.Timeout, c.Upstream.ResponseHeaderTimeout = Duration(45*time.Second), Duration(45*time.Second)
		}},
		{desc: "explicit document markers", in: "---\nlisten: \":1\"\n...\n", want: func(c *Config) { c.Listen = ":1" }},
		{desc: "webhooks", in: `
webhooks:
  path: /_rzpgate/rzp
  secrets: [whsec-new, whsec-old]
  max_body_bytes: 256KiB
  dedup_window: 48h
  forward: ["https://app-a/hooks", "http://app-b:8080/rzp?token=t"]
  forward_timeout: 3s
  forward_retries: 0
  forward_backoff: 250ms
  forward_max_elapsed: 1m
`, want: func(c *Config) {
			c.Webhooks = Webhooks{
				Path:              "/_rzpgate/rzp",
				Secrets:           []string{"whsec-new", "whsec-old"},
				MaxBodyBytes:      256 * KiB,
				DedupWindow:       Duration(48 * time.Hour),
				Forward:           []string{"https://app-a/hooks", "http://app-b:8080/rzp?token=t"},
				ForwardTimeout:    Duration(3 * time.Second),
				ForwardRetries:    0,
				ForwardBackoff:    Duration(250 * time.Millisecond),
				ForwardMaxElapsed: Duration(time.Minute),
			}
		}},
		{desc: "empty webhook lists are nil", in: "webhooks: {secrets: [], forward: []}\n", want: func(*Config) {}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in), Default())
			if err != nil {
				t.Fatalf("Parse error: %v", err)
			}
			want := Default()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse(%q) =\n%+v\nwant\n%+v", tt.in, got, want)
			}
		})
	}
}

func TestParseDoesNotModifyBase(t *testing.T) {
	base := Default()
	base.Redis.Addrs = []string{"a:1", "b:2"}
	base.Webhooks.Secrets = []string{"s1", "s2"}
	base.Webhooks.Forward = []string{"http://a", "http://b"}
	in := "redis: {addrs: [c:3, d:4]}\nwebhooks: {secrets: [s3, s4], forward: [\"http://c\", \"http://d\"]}\n"
	if _, err := Parse(strings.NewReader(in), base); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a:1", "b:2"}; !reflect.DeepEqual(base.Redis.Addrs, want) {
		t.Errorf("base.Redis.Addrs = %q after Parse, want %q", base.Redis.Addrs, want)
	}
	if want := []string{"s1", "s2"}; !reflect.DeepEqual(base.Webhooks.Secrets, want) {
		t.Errorf("base.Webhooks.Secrets = %q after Parse, want %q", base.Webhooks.Secrets, want)
	}
	if want := []string{"http://a", "http://b"}; !reflect.DeepEqual(base.Webhooks.Forward, want) {
		t.Errorf("base.Webhooks.Forward = %q after Parse, want %q", base.Webhooks.Forward, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		desc string
		in   string
		want string // the error's prefix: the field path, or "config" or "yaml"
		also string // another substring the error must contain
	}{
		{desc: "unknown top-level field", in: "listn: :1\n", want: "listn: line 1: unknown field"},
		{desc: "unknown nested field", in: "redis:\n  breaker:\n    failurs: 3\n", want: "redis.breaker.failurs: line 3: unknown field"},
		{desc: "unknown field of a tenant", in: "limits:\n  tenants:\n    a: {rate: 1, brust: 2}\n", want: "limits.tenants.a.brust: line 3: unknown field"},
		{desc: "tenants not a mapping", in: "limits:\n  tenants: [a, b]\n", want: "limits.tenants: line 2: must be a mapping"},
		{desc: "tenant repeated", in: "limits:\n  tenants:\n    a: {rate: 1, burst: 1}\n    a: {rate: 2, burst: 2}\n", want: "limits.tenants.a: line 4: already set"},
		{desc: "merge key", in: "x: &x {listen: \":1\"}\n", want: "x: line 1: unknown field"},
		{desc: "repeated field", in: "listen: \":1\"\nlisten: \":2\"\n", want: "listen: line 2: already set on line 1"},
		{desc: "bad duration", in: "upstream:\n  timeout: 10\n", want: "upstream.timeout: line 2: ", also: `invalid duration "10"`},
		{desc: "bad size", in: "cache: {max_bytes: 1PB}\n", want: "cache.max_bytes: line 1: ", also: `"1PB"`},
		{desc: "negative size", in: "max_body_bytes: -1\n", want: "max_body_bytes: line 1: "},
		{desc: "bad int", in: "redis:\n  db: one\n", want: "redis.db: line 2: must be an integer", also: `"one"`},
		{desc: "bad bool", in: "redis:\n  cluster: maybe\n", want: "redis.cluster: line 2: must be true or false"},
		{desc: "string as list", in: "listen: [a, b]\n", want: "listen: line 1: must be a string"},
		{desc: "addrs as string", in: "redis: {addrs: a:1}\n", want: "redis.addrs: line 1: must be a list of strings"},
		{desc: "addrs with a map", in: "redis: {addrs: [{a: 1}]}\n", want: "redis.addrs: line 1: must be a list of strings"},
		{desc: "webhook secrets as string", in: "webhooks: {secrets: whsec}\n", want: "webhooks.secrets: line 1: must be a list of strings"},
		{desc: "webhook retries not int", in: "webhooks:\n  forward_retries: many\n", want: "webhooks.forward_retries: line 2: must be an integer"},
		{desc: "section as scalar", in: "upstream: https://x\n", want: "upstream: line 1: must be a mapping"},
		{desc: "section as list", in: "cache: [1]\n", want: "cache: line 1: must be a mapping"},
		{desc: "document as scalar", in: "hello\n", want: "config: line 1: must be a mapping"},
		{desc: "document as list", in: "- listen\n", want: "config: line 1: must be a mapping"},
		{desc: "non-scalar key", in: "[a]: 1\n", want: "config: line 1: field names must be plain strings"},
		{desc: "two documents", in: "listen: \":1\"\n---\nlisten: \":2\"\n", want: "line 2: only one YAML document"},
		{desc: "syntax error", in: "listen: \":1\n", want: "yaml: "},
		{desc: "tab indentation", in: "cache:\n\tmax_bytes: 1\n", want: "yaml: "},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in), Default())
			if err == nil {
				t.Fatalf("Parse(%q) error = nil, want %q", tt.in, tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.also) {
				t.Errorf("Parse(%q) error = %q, want it to start with %q and contain %q", tt.in, err, tt.want, tt.also)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(exampleFile); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"listen: \":1\"\n",
		"log: {level: DEBUG}\n",
		"redis:\n  url: redis://u:p@h:1/0\n  addrs: [a:1, b:2]\n  cluster: true\n",
		"redis: {addrs: []}\n",
		"cache: {max_bytes: 1GiB, ttl: {payments: 1h}}\n",
		"upstream:\n  timeout: &t 1m\n  response_header_timeout: *t\n",
		"a: &a [*a]\n",
		"cache: {key_secret: !!binary aGVsbG8=}\n",
		"listen: !!int 5\n",
		"max_body_bytes: 9223372036854775807\n",
		"shutdown_timeout: -2562047h47m16.854775808s\n",
		"---\n...\n",
		"redis: ~\nlog:\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(strings.NewReader(string(data)), Default())
		if err != nil {
			return
		}
		_ = c.Validate()
		_ = c.Redacted()
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal(%+v) error: %v", c, err)
		}
		again, err := Parse(strings.NewReader(string(out)), Config{})
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(%q))) error: %v\nmarshalled:\n%s", data, err, out)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("Parse(Marshal(c)) =\n%+v\nwant c =\n%+v\nmarshalled:\n%s", again, c, out)
		}
	})
}
