package webhook

import "github.com/prometheus/client_golang/prometheus"

// Results of a webhook delivery to the gateway: the closed label set of
// rzpgate_webhook_events_total{result}.
const (
	resultOK           = "ok"            // verified, purged, claimed
	resultDuplicate    = "duplicate"     // an event already processed: nothing done
	resultBadSignature = "bad_signature" // 401: missing or wrong signature
	resultBadRequest   = "bad_request"   // 400, 405 or 413: not a readable event
	resultPurgeFailed  = "purge_failed"  // 503: Razorpay redelivers
)

// Outcomes of forwarding one event to one target: the closed label set of
// rzpgate_webhook_deliveries_total{result}.
const (
	deliveryOK      = "ok"      // a 2xx from the target
	deliveryRetry   = "retry"   // one more attempt after a failure
	deliveryFailed  = "failed"  // given up after the retries or the time allowed
	deliveryDropped = "dropped" // never sent, or abandoned: queue full or shutting down
)

// metrics are the receiver's Prometheus series. Labels come from closed
// sets, never from event ids, entity ids or target URLs.
type metrics struct {
	events     *prometheus.CounterVec
	deliveries *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_webhook_events_total",
			Help: "Razorpay webhook deliveries received, by event type (documented types, else other) and result (ok, duplicate, bad_signature, bad_request, purge_failed).",
		}, []string{"type", "result"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rzpgate_webhook_deliveries_total",
			Help: "Events forwarded to webhooks.forward targets, by result: ok, retry (one more attempt), failed (given up), dropped (queue full or shutdown).",
		}, []string{"result"}),
	}
	// The closed sets start at zero, so that rate() sees the first event
	// after a restart (one bad signature must be able to alert). Events
	// that fail before their type is known count under "other".
	for _, r := range []string{"ok", "duplicate", "bad_signature", "bad_request", "purge_failed"} {
		m.events.WithLabelValues("other", r)
	}
	for _, r := range []string{"ok", "retry", "failed", "dropped"} {
		m.deliveries.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.events, m.deliveries)
	}
	return m
}

func (m *metrics) event(typ, result string) {
	m.events.WithLabelValues(typeLabel(typ), result).Inc()
}

func (m *metrics) delivery(result string) {
	m.deliveries.WithLabelValues(result).Inc()
}
