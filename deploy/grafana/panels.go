package grafana

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// row is a titled row of panels.
type row struct {
	title  string
	panels []cog.Builder[dashboard.Panel]
}

// Label matchers and selectors shared by several panels.
const (
	byRoute  = `route=~"$route"`
	byTenant = `tenant=~"$tenant"`
	// lookups are the cache outcomes of requests that looked the cache up:
	// the hit ratio's denominator. bypass and passthrough never do.
	lookups = `cache=~"hit|stale|miss|collapsed|refresh"`
)

// quantile is a percentile of a latency panel and its legend prefix.
type quantile struct{ phi, name string }

var (
	p50 = quantile{"0.5", "p50"}
	p90 = quantile{"0.9", "p90"}
	p99 = quantile{"0.99", "p99"}
)

// quantiles returns percentiles of a classic histogram's buckets, summed
// by le and the labels in by (", group"), each legend its name followed
// by legend.
func quantiles(bucket, by, legend string, qs ...quantile) []query {
	sum := "sum by (le" + by + ") (" + rate(bucket) + ")"
	out := make([]query, len(qs))
	for i, q := range qs {
		out[i] = query{"histogram_quantile(" + q.phi + ", " + sum + ")", q.name + legend}
	}
	return out
}

// rows returns the dashboard's rows, top to bottom.
func (p *panels) rows() []row {
	requests := "rzpgate_requests_total"
	return []row{
		{"Traffic", []cog.Builder[dashboard.Panel]{
			p.timeseries("Requests by route",
				"Requests the gateway answered, per second, by route: payment, payment_link and qr_codes are the cached reads; qr_code_write and write are writes (which purge); gateway is the gateway's own paths (webhooks); passthrough is every other read.",
				"reqps",
				query{"sum by (route) (" + rate(sel(requests, byRoute)) + ")", "{{route}}"}),
			p.timeseries("Responses by status class",
				"Responses per second by status class, including the gateway's own 429s (rate limits, budget) and 503s (open breaker).",
				"reqps",
				query{"sum by (status_class) (" + rate(sel(requests, byRoute)) + ")", "{{status_class}}"}),
			p.timeseries("Cache outcomes",
				"What the cache did per request: hit, stale (an expired entry answering for a failing Razorpay), miss, collapsed (answered by another request's fetch), refresh (the client's no-cache), bypass, passthrough (not a cached route).",
				"reqps",
				query{"sum by (cache) (" + rate(sel(requests, byRoute)) + ")", "{{cache}}"}),
		}},
		{"Cache effectiveness and latency", []cog.Builder[dashboard.Panel]{
			p.timeseries("Hit ratio",
				"Share of cache lookups (hit, stale, miss, collapsed, refresh) answered fresh from the cache. A sharp drop means entries are purged, evicted or not shared (Redis down, replicas with different cache.key_secret).",
				"percentunit",
				query{"sum(" + rate(sel(requests, byRoute, `cache="hit"`)) + ") / sum(" + rate(sel(requests, byRoute, lookups)) + ")", "all routes"},
				query{"sum by (route) (" + rate(sel(requests, byRoute, `cache="hit"`)) + ") / sum by (route) (" + rate(sel(requests, byRoute, lookups)) + ")", "{{route}}"}),
			p.timeseries("Latency of cache hits",
				"Percentiles of the time to answer a hit, from the classic histogram's buckets (50 µs to 30 s).",
				"s",
				quantiles(sel("rzpgate_request_duration_seconds_bucket", byRoute, `cache="hit"`), "", "", p50, p90, p99)...),
			p.timeseries("Latency of cache misses",
				"Percentiles of the time to answer a miss: Razorpay's answer plus the gateway's overhead.",
				"s",
				quantiles(sel("rzpgate_request_duration_seconds_bucket", byRoute, `cache="miss"`), "", "", p50, p90, p99)...),
		}},
		{"Razorpay", []cog.Builder[dashboard.Panel]{
			p.timeseries("Upstream requests",
				"Requests sent to Razorpay per second, by route group and status class; error means no response (timeout, connection error). Requests an open breaker refused are not sent and not counted.",
				"reqps",
				query{"sum by (group, status_class) (" + rate(sel("rzpgate_upstream_requests_total")) + ")", "{{group}} {{status_class}}"}),
			p.timeseries("Upstream error ratio",
				"Share of requests to Razorpay that got a 5xx or no response, by route group. The breakers open at 50% (upstream.breaker.failure_ratio).",
				"percentunit",
				query{`sum by (group) (` + rate(sel("rzpgate_upstream_requests_total", `status_class=~"5xx|error"`)) + `) / sum by (group) (` + rate(sel("rzpgate_upstream_requests_total")) + `)`, "{{group}}"}),
			p.timeseries("Upstream latency",
				"Percentiles of Razorpay's time to answer headers, by route group.",
				"s",
				quantiles(sel("rzpgate_upstream_request_duration_seconds_bucket"), ", group", " {{group}}", p50, p99)...),
		}},
		{"Resilience", []cog.Builder[dashboard.Panel]{
			p.states("Circuit breakers",
				"State of each breaker (the worst over the selected instances): upstream_<group> open while Razorpay fails, redis_cache and redis_limiter while Redis fails (the gateway then works without it).",
				[]state{{"0", "closed", "green"}, {"1", "half-open", "yellow"}, {"2", "open", "red"}},
				query{"max by (breaker) (" + sel("rzpgate_breaker_state") + ")", "{{breaker}}"}),
			p.timeseries("Breaker transitions",
				"State changes of the breakers per interval.",
				"short",
				query{"sum by (breaker, to) (increase(" + sel("rzpgate_breaker_transitions_total") + "[$__rate_interval]))", "{{breaker}} to {{to}}"}),
			p.timeseries("Stale responses",
				"Expired entries served per second, by reason: stale-if-error (Razorpay failed), breaker-open, budget (the upstream budget was spent), stale-while-revalidate.",
				"reqps",
				query{"sum by (reason) (" + rate(sel("rzpgate_stale_responses_total")) + ")", "{{reason}}"}),
		}},
		{"Limits", []cog.Builder[dashboard.Panel]{
			p.timeseries("Rate-limited requests by tenant",
				"429s the gateway gave per second, by tenant (a name from limits.tenants, else other) and policy (tenant: its own limit; upstream-budget: the shared budget).",
				"reqps",
				query{"sum by (tenant, policy) (" + rate(sel("rzpgate_rate_limited_requests_total", byTenant)) + ")", "{{tenant}} ({{policy}})"}),
			p.timeseries("Upstream budget",
				"Requests that reached Razorpay per second (compare with limits.budget.rate), and those the budget refused: answered from a stale copy, or with 429.",
				"reqps",
				query{"sum(" + rate(sel("rzpgate_upstream_requests_total")) + ")", "sent to Razorpay"},
				query{"sum(" + rate(sel("rzpgate_upstream_budget_rejections_total")) + ")", "refused by the budget"},
				query{"sum(" + rate(sel("rzpgate_stale_responses_total", `reason="budget"`)) + ")", "refused, answered stale"},
				query{"sum(" + rate(sel("rzpgate_rate_limited_requests_total", `policy="upstream-budget"`)) + ")", "refused, answered 429"}),
			p.timeseries("Coalesced requests",
				"Misses answered by another request's fetch instead of their own, per second.",
				"reqps",
				query{"sum(" + rate(sel("rzpgate_coalesced_requests_total")) + ")", "coalesced"}),
		}},
		{"Cache store", []cog.Builder[dashboard.Panel]{
			p.timeseries("Cache fills",
				"Upstream responses offered to the cache, by result: stored, fenced (a purge raced the fill), held (a write with an unknown outcome holds an id), uncacheable, error.",
				"ops",
				query{"sum by (result) (" + rate(sel("rzpgate_cache_fills_total", byRoute)) + ")", "{{result}}"}),
			p.timeseries("Purges",
				"Invalidations after writes and webhooks, by result, and the entries they removed.",
				"ops",
				query{"sum by (result) (" + rate(sel("rzpgate_cache_purges_total")) + ")", "purges {{result}}"},
				query{"sum(" + rate(sel("rzpgate_cache_entries_purged_total")) + ")", "entries purged"}),
			p.timeseries("Cache store errors",
				"Store operations that failed (the gateway fails open and goes to Razorpay), by operation.",
				"ops",
				query{"sum by (op) (" + rate(sel("rzpgate_cache_store_errors_total")) + ")", "{{op}}"}),
			p.timeseries("Cache size",
				"Heap held by the in-process stores, by instance and store (memory, or near for the near cache in shared mode). Bounded by cache.max_bytes or redis.near_cache.max_bytes.",
				"bytes",
				query{"sum by (instance, store) (" + sel("rzpgate_cache_bytes") + ")", "{{instance}} {{store}}"}),
			p.timeseries("Cache entries",
				"Entries in the in-process stores, fresh and kept stale.",
				"short",
				query{"sum by (instance, store) (" + sel("rzpgate_cache_entries") + ")", "{{instance}} {{store}}"}),
			p.timeseries("Cache evictions",
				"Entries evicted per second to stay within the size bound. Steady evictions of fresh entries mean the bound is too small for the working set.",
				"ops",
				query{"sum by (store) (" + rate(sel("rzpgate_cache_evictions_total")) + ")", "{{store}}"}),
		}},
		{"Redis", []cog.Builder[dashboard.Panel]{
			p.states("Redis usable",
				"Whether each instance can use Redis (shared mode only): down while its breaker is open; the gateway then serves from Razorpay, unshared.",
				[]state{{"0", "down", "red"}, {"1", "up", "green"}},
				query{"min by (instance) (" + sel("rzpgate_redis_up") + ")", "{{instance}}"}),
			p.timeseries("Redis latency",
				"99th percentile of Redis operations, by operation.",
				"s",
				quantiles(sel("rzpgate_redis_operation_duration_seconds_bucket"), ", op", " {{op}}", p99)...),
			p.timeseries("Redis errors",
				"Redis operations that failed per second, by operation.",
				"ops",
				query{"sum by (op) (" + rate(sel("rzpgate_redis_operation_errors_total")) + ")", "{{op}}"}),
		}},
		{"Webhooks", []cog.Builder[dashboard.Panel]{
			p.timeseries("Webhook events",
				"Razorpay webhook deliveries received per second, by event type and result: ok, duplicate, bad_signature (a wrong or missing X-Razorpay-Signature), bad_request, purge_failed (answered 503 so that Razorpay redelivers).",
				"reqps",
				query{"sum by (type, result) (" + rate(sel("rzpgate_webhook_events_total")) + ")", "{{type}} {{result}}"}),
			p.timeseries("Webhook forwarding",
				"Events forwarded to the configured targets per second, by result: ok, retry, failed, dropped.",
				"ops",
				query{"sum by (result) (" + rate(sel("rzpgate_webhook_deliveries_total")) + ")", "{{result}}"}),
		}},
		{"Process", []cog.Builder[dashboard.Panel]{
			p.timeseries("Log lines dropped",
				"Log lines dropped per second because stdout was not read fast enough (the log buffer was full).",
				"short",
				query{"sum by (instance) (" + rate(sel("rzpgate_log_lines_dropped_total")) + ")", "{{instance}}"}),
			p.timeseries("Memory",
				"Resident memory and Go heap in use, per instance. Set the container's limit to about 1.25 x cache.max_bytes + 64 MiB.",
				"bytes",
				query{gateway(sel("process_resident_memory_bytes")), "{{instance}} resident"},
				query{gateway(sel("go_memstats_heap_inuse_bytes")), "{{instance}} heap in use"}),
			p.timeseries("CPU and goroutines",
				"CPU seconds used per second, and goroutines (one or two per open connection).",
				"short",
				query{gateway(rate(sel("process_cpu_seconds_total"))), "{{instance}} CPU"},
				query{gateway(sel("go_goroutines")), "{{instance}} goroutines"}),
			p.table("Builds",
				"Instances running each build.",
				query{"count by (version, revision, goversion) (" + sel("rzpgate_build_info") + ")", ""}),
		}},
	}
}
