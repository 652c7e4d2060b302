// Package prometheus holds rzpgate's Prometheus alerting rules,
// rzpgate-rules.yaml, with their promtool unit tests, and the tests that
// prove them and the Grafana dashboard against a real Prometheus scraping a
// real gateway.
package prometheus
