package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
)

// Limits on what an event may make the gateway purge.
const (
	// maxTags bounds the purge tags taken from one event. Razorpay's
	// largest events (an invoice with its line items) carry a few dozen
	// ids; past the bound the deepest ids are left out, and their entries
	// live out their TTL.
	maxTags = 128
	// maxDepth bounds how far below payload.<name>.entity ids are looked
	// for: entity.card.id is at depth 1, entity.customer_details.
	// billing_address.id at 2.
	maxDepth = 3
)

// eventTypes are the webhook events Razorpay documents for the entities
// the gateway caches or that name them: payments, refunds, orders,
// payment links, QR codes, invoices and subscriptions. They are the closed
// label set of rzpgate_webhook_events_total{type}; any other event is
// counted as "other", and purges all the same.
var eventTypes = map[string]bool{
	"payment.authorized": true,
	"payment.captured":   true,
	"payment.failed":     true,

	"refund.created":       true,
	"refund.processed":     true,
	"refund.failed":        true,
	"refund.speed_changed": true,

	"order.paid": true,

	"payment_link.paid":           true,
	"payment_link.partially_paid": true,
	"payment_link.expired":        true,
	"payment_link.cancelled":      true,

	"qr_code.created":  true,
	"qr_code.credited": true,
	"qr_code.closed":   true,

	"invoice.paid":           true,
	"invoice.partially_paid": true,
	"invoice.expired":        true,

	"subscription.authenticated": true,
	"subscription.activated":     true,
	"subscription.charged":       true,
	"subscription.completed":     true,
	"subscription.updated":       true,
	"subscription.pending":       true,
	"subscription.halted":        true,
	"subscription.cancelled":     true,
	"subscription.paused":        true,
	"subscription.resumed":       true,
}

// typeOther labels events outside eventTypes, and requests that were
// refused before their event could be trusted or read.
const typeOther = "other"

// typeLabel returns the metric label of event type t.
func typeLabel(t string) string {
	if eventTypes[t] {
		return t
	}
	return typeOther
}

// event is what the gateway reads from a webhook's body.
type event struct {
	// Type is the event's name, such as payment.captured.
	Type string
	// Tags are the Razorpay ids of the entities in its payload: the cache
	// tags to purge.
	Tags []string
}

var errNotEvent = errors.New(`not a Razorpay event: want a JSON object with "entity":"event", an "event" name and a "payload" object`)

// parseEvent reads a webhook body: a JSON object with "entity":"event", a
// string "event" and an object "payload" whose members each hold an
// "entity" object, the snapshot of one entity (payload.payment.entity,
// payload.qr_code.entity, ...). Razorpay's sample payloads are under
// internal/fakerazorpay/testdata/webhooks.
func parseEvent(body []byte) (event, error) {
	var raw struct {
		Entity  *string         `json:"entity"`
		Event   *string         `json:"event"`
		Payload json.RawMessage `json:"payload"`
	}
	// Unmarshal accepts null for a struct; only an object is an event.
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		return event{}, errNotEvent
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return event{}, errNotEvent
	}
	if raw.Entity == nil || *raw.Entity != "event" || raw.Event == nil || !validType(*raw.Event) {
		return event{}, errNotEvent
	}
	var payload map[string]json.RawMessage
	if !isObject(raw.Payload) || json.Unmarshal(raw.Payload, &payload) != nil {
		return event{}, errNotEvent
	}
	ev := event{Type: *raw.Event}
	// Entities are visited in name order, and breadth first within them,
	// so that the bound leaves out the deepest ids, the same ones each
	// time.
	var level []any
	for _, name := range slices.Sorted(maps.Keys(payload)) {
		var wrapper struct {
			Entity json.RawMessage `json:"entity"`
		}
		if !isObject(payload[name]) || json.Unmarshal(payload[name], &wrapper) != nil || !isObject(wrapper.Entity) {
			continue // not an entity snapshot: nothing to purge for it
		}
		var entity map[string]any
		if json.Unmarshal(wrapper.Entity, &entity) == nil {
			level = append(level, entity)
		}
	}
	for depth := 0; depth <= maxDepth && len(level) > 0; depth++ {
		var next []any
		for _, v := range level {
			var more []any
			ev.Tags, more = collectIDs(ev.Tags, v)
			next = append(next, more...)
		}
		level = next
	}
	return ev, nil
}

// collectIDs appends to tags the ids that v, a decoded JSON object or
// array, holds directly: the values of "id" and of every "*_id" member
// that look like Razorpay ids. It returns the objects and arrays v holds,
// to be visited next.
func collectIDs(tags []string, v any) ([]string, []any) {
	var next []any
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			switch x := v[k].(type) {
			case string:
				if (k == "id" || strings.HasSuffix(k, "_id")) && isRazorpayID(x) && !slices.Contains(tags, x) && len(tags) < maxTags {
					tags = append(tags, x)
				}
			case map[string]any, []any:
				next = append(next, x)
			}
		}
	case []any:
		for _, x := range v {
			switch x.(type) {
			case map[string]any, []any:
				next = append(next, x)
			}
		}
	}
	return tags, next
}

// isRazorpayID reports whether s has the shape of a Razorpay entity id: a
// lower-case prefix of 2 to 12 letters, an underscore, and 1 to 32 ASCII
// letters and digits (pay_DG4ZdRK8ZnXC3k, cust_HKsR5se84c5LTO). Other
// strings a "*_id" member may hold (a user_id, a reference) are not ids
// the cache is tagged with.
func isRazorpayID(s string) bool {
	prefix, rest, ok := strings.Cut(s, "_")
	if !ok || len(prefix) < 2 || len(prefix) > 12 || len(rest) < 1 || len(rest) > 32 {
		return false
	}
	for _, c := range []byte(prefix) {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	for _, c := range []byte(rest) {
		if !isAlnum(c) {
			return false
		}
	}
	return true
}

// validType reports whether t looks like an event name: 1 to 64 lower-case
// letters, digits, dots and underscores (payment_link.partially_paid).
func validType(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for _, c := range []byte(t) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// isObject reports whether raw, a JSON value, is an object.
func isObject(raw json.RawMessage) bool {
	b := bytes.TrimLeft(raw, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
