package main

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/rzpgate/rzpgate/internal/config"
)

func TestNewRedisClient(t *testing.T) {
	tests := []struct {
		desc  string
		set   func(*config.Redis)
		check func(t *testing.T, c redis.UniversalClient)
	}{
		{"one node with credentials and db", func(r *config.Redis) { r.URL = "redis://u:p@10.0.0.1:6380/3" }, func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.Client).Options()
			if o.Addr != "10.0.0.1:6380" || o.Username != "u" || o.Password != "p" || o.DB != 3 || o.TLSConfig != nil || !o.ContextTimeoutEnabled {
				t.Errorf("options %+v", o)
			}
		}},
		{"TLS", func(r *config.Redis) { r.URL = "rediss://redis.internal:6380" }, func(t *testing.T, c redis.UniversalClient) {
			if o := c.(*redis.Client).Options(); o.TLSConfig == nil || o.TLSConfig.ServerName != "redis.internal" {
				t.Errorf("TLS config %+v; want one for redis.internal", o.TLSConfig)
			}
		}},
		{"overrides", func(r *config.Redis) {
			r.URL, r.Username, r.Password, r.DB, r.PoolSize = "redis://u:p@h:1/3", "u2", "p2", 5, 7
		}, func(t *testing.T, c redis.UniversalClient) {
			if o := c.(*redis.Client).Options(); o.Username != "u2" || o.Password != "p2" || o.DB != 5 || o.PoolSize != 7 {
				t.Errorf("options %+v; want the overrides", o)
			}
		}},
		{"cluster", func(r *config.Redis) { r.URL, r.Addrs, r.Cluster = "redis://h1:7000", []string{"h2:7000"}, true }, func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.ClusterClient).Options()
			if len(o.Addrs) != 2 || o.Addrs[1] != "h2:7000" {
				t.Errorf("cluster seeds %q; want h1:7000 and h2:7000", o.Addrs)
			}
		}},
		{"sentinel", func(r *config.Redis) {
			r.URL, r.Addrs, r.MasterName = "redis://s1:26379", []string{"s2:26379"}, "mymaster"
		}, func(t *testing.T, c redis.UniversalClient) {
			// go-redis names a Sentinel-backed client's address FailoverClient.
			if cl, ok := c.(*redis.Client); !ok || cl.Options().Addr != "FailoverClient" {
				t.Errorf("client %T; want a Sentinel failover client", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			cfg := config.Default().Redis
			tt.set(&cfg)
			c, err := newRedisClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tt.check(t, c)
		})
	}
}
