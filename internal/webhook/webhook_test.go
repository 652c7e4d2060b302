package webhook_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rzpgate/rzpgate/internal/cache"
	"github.com/rzpgate/rzpgate/internal/redistest"
	"github.com/rzpgate/rzpgate/internal/webhook"
)

const (
	secret    = "whsec-Old-S3CRET-value"
	newSecret = "whsec-New-S3CRET-value"
	// bodyMarker is in every sample body that names a customer, and must
	// never be logged.
	bodyMarker = "gaurav.kumar@example.com"
)

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "fakerazorpay", "testdata", "webhooks", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sig returns the hex HMAC-SHA256 of body under key, as Razorpay signs.
func sig(body []byte, key string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// razorpayHeader returns the headers Razorpay sends with body.
func razorpayHeader(body []byte, key, eventID string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Razorpay-Webhook/v1")
	h.Set("X-Razorpay-Signature", sig(body, key))
	if eventID != "" {
		h.Set("X-Razorpay-Event-Id", eventID)
	}
	return h
}

// logBuffer collects log lines written from any goroutine.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rig is a receiver on a real httptest server in front of a real memory
// store, with its logs and metrics.
type rig struct {
	t     *testing.T
	store *cache.Memory
	h     *webhook.Handler
	srv   *httptest.Server
	reg   *prometheus.Registry
	logs  *logBuffer

	mu sync.Mutex // guards forbidden
	// forbidden are strings no log line may hold.
	forbidden []string
}

// forbid adds strings no log line may hold.
func (r *rig) forbid(s ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forbidden = append(r.forbidden, s...)
}

// newRig starts a receiver for cfg; a nil Purger or Claimer is the rig's
// memory store.
func newRig(t *testing.T, cfg webhook.Config) *rig {
	t.Helper()
	store, err := cache.NewMemory(cache.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	r := &rig{t: t, store: store, reg: prometheus.NewRegistry(), logs: &logBuffer{}}
	if cfg.Secrets == nil {
		cfg.Secrets = []string{secret}
	}
	if cfg.Purger == nil {
		cfg.Purger = store
	}
	if cfg.Claimer == nil {
		cfg.Claimer = store
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Registerer = r.reg
	r.forbidden = append([]string{bodyMarker, "S3CRET"}, cfg.Secrets...)
	r.h, err = webhook.New(cfg)
	if err != nil {
		t.Fatalf("webhook.New: %v", err)
	}
	r.srv = httptest.NewServer(r.h)
	t.Cleanup(func() {
		r.srv.Close()
		r.h.Close()
		r.checkLogs()
	})
	return r
}

// checkLogs fails the test if a log line holds a secret, a signature or
// a body.
func (r *rig) checkLogs() {
	logs := r.logs.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.forbidden {
		if s != "" && strings.Contains(logs, s) {
			r.t.Errorf("logs hold %q:\n%s", s, logs)
		}
	}
}

// post delivers body with header and returns the status and the body of
// the answer.
func (r *rig) post(body []byte, header http.Header) (int, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.srv.URL, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
		if k == "X-Razorpay-Signature" {
			r.forbid(v...)
		}
	}
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// put stores an entry under key tagged with tags.
func (r *rig) put(key string, tags ...string) {
	r.t.Helper()
	putEntry(r.t, r.store, key, tags...)
}

func putEntry(t *testing.T, s cache.Store, key string, tags ...string) {
	t.Helper()
	f, err := s.Fence(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e := &cache.Entry{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{}`),
		Tags: tags, StoredAt: time.Now(), TTL: time.Hour}
	if err := s.Set(context.Background(), key, e, f); err != nil {
		t.Fatalf("Set(%s): %v", key, err)
	}
}

func (r *rig) has(key string) bool { return stored(r.t, r.store, key) }

func stored(t *testing.T, s cache.Store, key string) bool {
	t.Helper()
	_, err := s.Get(context.Background(), key)
	if err != nil && !errors.Is(err, cache.ErrMiss) {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return err == nil
}

// counter returns the value of the counter name with labels, 0 if absent.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metric
				}
			}
			return sumOf(m)
		}
	}
	return 0
}

func sumOf(m *dto.Metric) float64 { return m.GetCounter().GetValue() }

func (r *rig) events(typ, result string) float64 {
	return counter(r.t, r.reg, "rzpgate_webhook_events_total", map[string]string{"type": typ, "result": result})
}

// checkError checks that an answer is a Razorpay error with code.
func checkError(t *testing.T, body []byte, code string) {
	t.Helper()
	var e struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	for k, want := range map[string]any{"code": code, "source": "NA", "step": "NA", "reason": "NA"} {
		if e.Error[k] != want {
			t.Errorf("error.%s = %v, want %v (body %s)", k, e.Error[k], want, body)
		}
	}
	if m, ok := e.Error["metadata"].(map[string]any); !ok || len(m) != 0 {
		t.Errorf("error.metadata = %v, want {}", e.Error["metadata"])
	}
	if d, _ := e.Error["description"].(string); d == "" {
		t.Errorf("error.description is empty")
	}
	if _, ok := e.Error["internal_error_code"]; ok {
		t.Errorf("error has internal_error_code")
	}
}

// TestPurgesWhatEachEventNames delivers every sample and checks that the
// entries tagged with the ids it names are purged, and no other.
func TestPurgesWhatEachEventNames(t *testing.T) {
	tests := []struct {
		sample string
		purged []string // tags of entries the event must purge
	}{
		{"payment.authorized", []string{"pay_DG4ZdRK8ZnXC3k"}},
		{"payment.captured", []string{"pay_DG4ZdRK8ZnXC3k", "cust_K6fNE0WJZWGqtN"}},
		{"payment.failed", []string{"pay_DG4ZdRK8ZnXC3k"}},
		{"refund.created", []string{"pay_DG4ZdRK8ZnXC3k", "rfnd_FP8QHiV938haTz"}},
		{"refund.processed", []string{"pay_DG4ZdRK8ZnXC3k"}},
		{"order.paid", []string{"pay_DG4ZdRK8ZnXC3k", "order_GjCr5oKh4AVC51"}},
		{"payment_link.paid", []string{"plink_Fo48rl281ENAg9", "pay_Fo49sHbQ78PCMI"}},
		{"payment_link.partially_paid", []string{"plink_Fo48rl281ENAg9"}},
		{"payment_link.expired", []string{"plink_Fo48rl281ENAg9"}},
		{"payment_link.cancelled", []string{"plink_Fo48rl281ENAg9"}},
		{"qr_code.created", []string{"cust_HKsR5se84c5LTO"}},
		{"qr_code.credited", []string{"qr_HMsgvioW64f0vh", "cust_HKsR5se84c5LTO", "pay_HMtDKn3TnF4D8x"}},
		{"qr_code.closed", []string{"qr_HMsgvioW64f0vh", "cust_HKsR5se84c5LTO"}},
		{"invoice.paid", []string{"inv_DEWHZlfIcdVIXL", "pay_DEWHsM9ByjCjYS"}},
		{"subscription.charged", []string{"sub_DEX6xcJ1HSW4CR", "pay_DEXFWroJ6LikSB"}},
	}
	for _, tt := range tests {
		t.Run(tt.sample, func(t *testing.T) {
			r := newRig(t, webhook.Config{})
			for _, tag := range tt.purged {
				r.put("entry-"+tag, tag)
			}
			r.put("unrelated", "pay_UnrelatedPay0001", "cust_UnrelatedCus001")
			body := sample(t, tt.sample)
			status, answer := r.post(body, razorpayHeader(body, secret, "Evt"+strings.ReplaceAll(tt.sample, ".", "")))
			if status != http.StatusOK {
				t.Fatalf("status %d (%s), want 200", status, answer)
			}
			for _, tag := range tt.purged {
				if r.has("entry-" + tag) {
					t.Errorf("entry tagged %s survived %s", tag, tt.sample)
				}
			}
			if !r.has("unrelated") {
				t.Errorf("%s purged an entry it does not name", tt.sample)
			}
			if got := r.events(tt.sample, "ok"); got != 1 {
				t.Errorf("events_total{type=%q,result=ok} = %v, want 1", tt.sample, got)
			}
		})
	}
}

// TestRefusals checks deliveries that must change nothing: each gets its
// status in Razorpay's error shape, purges nothing, claims nothing, and
// logs neither the secret nor the body.
func TestRefusals(t *testing.T) {
	body := sample(t, "payment.captured")
	notEvent := []byte(`{"entity":"payment","id":"pay_DG4ZdRK8ZnXC3k","email":"` + bodyMarker + `"}`)
	withHeader := func(mod func(http.Header)) http.Header {
		h := razorpayHeader(body, secret, "EvtRefused0001")
		mod(h)
		return h
	}
	tests := []struct {
		desc   string
		body   []byte
		header http.Header
		status int
		code   string
		result string
	}{
		{"wrong secret", body, razorpayHeader(body, "not-the-secret", "EvtRefused0001"), 401, "BAD_REQUEST_ERROR", "bad_signature"},
		{"missing signature", body, withHeader(func(h http.Header) { h.Del("X-Razorpay-Signature") }), 401, "BAD_REQUEST_ERROR", "bad_signature"},
		{"empty signature", body, withHeader(func(h http.Header) { h.Set("X-Razorpay-Signature", "") }), 401, "BAD_REQUEST_ERROR", "bad_signature"},
		{"signature not hex", body, withHeader(func(h http.Header) { h.Set("X-Razorpay-Signature", strings.Repeat("zz", 32)) }), 401, "BAD_REQUEST_ERROR", "bad_signature"},
		{"signature cut short", body, withHeader(func(h http.Header) { h.Set("X-Razorpay-Signature", sig(body, secret)[:62]) }), 401, "BAD_REQUEST_ERROR", "bad_signature"},
		{"two signatures", body, withHeader(func(h http.Header) { h.Add("X-Razorpay-Signature", sig(body, secret)) }), 401, "BAD_REQUEST_ERROR", "bad_signature"},
		{"signature of the secret", body, withHeader(func(h http.Header) { h.Set("X-Razorpay-Signature", sig([]byte(secret), secret)) }), 401, "BAD_REQUEST_ERROR", "bad_signature"},
		{"truncated body", body[:len(body)/2], razorpayHeader(body, secret, "EvtRefused0001"), 401, "BAD_REQUEST_ERROR", "bad_signature"},
		{"body with a byte changed", bytes.Replace(body, []byte(`"captured"`), []byte(`"Captured"`), 1),
			razorpayHeader(body, secret, "EvtRefused0001"), 401, "BAD_REQUEST_ERROR", "bad_signature"},
		{"signed, not an event", notEvent, razorpayHeader(notEvent, secret, "EvtRefused0001"), 400, "BAD_REQUEST_ERROR", "bad_request"},
		{"signed, truncated JSON", body[:len(body)/2], razorpayHeader(body[:len(body)/2], secret, "EvtRefused0001"), 400, "BAD_REQUEST_ERROR", "bad_request"},
		{"too large", append(bytes.Clone(body), bytes.Repeat([]byte(" "), 4096)...), nil, 413, "BAD_REQUEST_ERROR", "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := newRig(t, webhook.Config{MaxBodyBytes: int64(len(body) + 100)})
			r.put("payment", "pay_DG4ZdRK8ZnXC3k")
			header := tt.header
			if header == nil {
				header = razorpayHeader(tt.body, secret, "EvtRefused0001")
			}
			status, answer := r.post(tt.body, header)
			if status != tt.status {
				t.Fatalf("status %d (%s), want %d", status, answer, tt.status)
			}
			checkError(t, answer, tt.code)
			if !r.has("payment") {
				t.Errorf("a refused delivery purged the payment")
			}
			if got := r.events("other", tt.result); got != 1 {
				t.Errorf("events_total{type=other,result=%s} = %v, want 1", tt.result, got)
			}
			// A correct delivery of the same event is not taken for a
			// duplicate: the refused one claimed nothing.
			status, _ = r.post(body, razorpayHeader(body, secret, "EvtRefused0001"))
			if status != http.StatusOK || r.has("payment") {
				t.Errorf("the correct delivery after a refused one: status %d, purged %v; want 200, true", status, !r.has("payment"))
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	r := newRig(t, webhook.Config{})
	resp, err := r.srv.Client().Get(r.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: status %d, Allow %q; want 405, POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
		t.Errorf("Content-Type %q, want application/json; charset=UTF-8, as every gateway error", ct)
	}
	checkError(t, b, "BAD_REQUEST_ERROR")
}

// TestBodyCutOff sends a delivery whose body stops before its
// Content-Length: the receiver answers 400 and changes nothing.
func TestBodyCutOff(t *testing.T) {
	r := newRig(t, webhook.Config{})
	r.put("payment", "pay_DG4ZdRK8ZnXC3k")
	body := sample(t, "payment.captured")
	conn, err := net.Dial("tcp", r.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Razorpay-Signature: %s\r\nContent-Length: %d\r\n\r\n",
		sig(body, secret), len(body))
	conn.Write(body[:100])
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d (%s), want 400", resp.StatusCode, b)
	}
	checkError(t, b, "BAD_REQUEST_ERROR")
	if !r.has("payment") {
		t.Error("a cut-off delivery purged the payment")
	}
}

// TestReplayedEventID delivers one event twice: the second delivery, a
// refill of the entry between them, is answered 200 without a purge.
func TestReplayedEventID(t *testing.T) {
	r := newRig(t, webhook.Config{})
	body := sample(t, "qr_code.closed")
	h := razorpayHeader(body, secret, "KXq3b5Y1LCpOTU")
	r.put("qr-list", "cust_HKsR5se84c5LTO")
	if status, b := r.post(body, h); status != http.StatusOK || string(b) != `{"status":"ok"}` {
		t.Fatalf("first delivery: %d %s, want 200 ok", status, b)
	}
	if r.has("qr-list") {
		t.Fatal("first delivery did not purge")
	}
	r.put("qr-list", "cust_HKsR5se84c5LTO") // a read refilled it
	if status, b := r.post(body, h); status != http.StatusOK || string(b) != `{"status":"duplicate"}` {
		t.Fatalf("replay: %d %s, want 200 duplicate", status, b)
	}
	if !r.has("qr-list") {
		t.Error("the replay purged again")
	}
	if got := r.events("qr_code.closed", "duplicate"); got != 1 {
		t.Errorf("events_total{result=duplicate} = %v, want 1", got)
	}
	// The id is bound to the body it came with: a captured body replayed
	// under that id is another delivery, not a duplicate.
	other := sample(t, "qr_code.created")
	if status, b := r.post(other, razorpayHeader(other, secret, "KXq3b5Y1LCpOTU")); status != http.StatusOK || string(b) != `{"status":"ok"}` {
		t.Errorf("another body under the same id: %d %s, want 200 ok", status, b)
	}
	if r.has("qr-list") {
		t.Error("another body under the same id did not purge")
	}
	// The event id is not signed: the same body replayed under a new id,
	// or none, is still the same delivery.
	for _, id := range []string{"EvtNewId0000001", ""} {
		r.put("qr-list", "cust_HKsR5se84c5LTO")
		if status, b := r.post(body, razorpayHeader(body, secret, id)); status != http.StatusOK || string(b) != `{"status":"duplicate"}` || !r.has("qr-list") {
			t.Errorf("the body replayed under id %q: %d %s, purged %v; want 200 duplicate, nothing purged", id, status, b, !r.has("qr-list"))
		}
	}
}

func TestRotatedSecrets(t *testing.T) {
	r := newRig(t, webhook.Config{Secrets: []string{secret, newSecret}})
	body := sample(t, "payment.captured")
	for i, tt := range []struct {
		key  string
		want int
	}{
		{secret, 200},
		{newSecret, 200},
		{"whsec-Third-S3CRET", 401},
	} {
		r.put("payment", "pay_DG4ZdRK8ZnXC3k")
		b0 := distinct(body, i)
		status, b := r.post(b0, razorpayHeader(b0, tt.key, fmt.Sprintf("EvtRotation%03d", i)))
		if status != tt.want {
			t.Errorf("signed with secret %d: status %d (%s), want %d", i, status, b, tt.want)
		}
		if purged := !r.has("payment"); purged != (tt.want == 200) {
			t.Errorf("signed with secret %d: purged %v, want %v", i, purged, tt.want == 200)
		}
	}
}

// failingPurger is the rig's store, failing while fail is set.
type failingPurger struct {
	cache.Store
	fail  atomic.Bool
	calls atomic.Int32
}

func (p *failingPurger) Purge(ctx context.Context, tags ...string) error {
	p.calls.Add(1)
	if p.fail.Load() {
		return errors.New("redis: connection refused")
	}
	return p.Store.Purge(ctx, tags...)
}

// TestPurgeFailureRedelivered checks that a purge that fails is answered
// 503 without remembering the event, so that Razorpay's redelivery purges.
func TestPurgeFailureRedelivered(t *testing.T) {
	store, _ := cache.NewMemory(cache.MemoryConfig{})
	defer store.Close()
	p := &failingPurger{Store: store}
	p.fail.Store(true)
	r := newRig(t, webhook.Config{Purger: p, Claimer: store})
	putEntry(t, store, "link", "plink_Fo48rl281ENAg9")
	body := sample(t, "payment_link.paid")
	h := razorpayHeader(body, secret, "EvtPurgeFail001")

	status, b := r.post(body, h)
	if status != http.StatusServiceUnavailable {
		t.Fatalf("with the purge failing: status %d (%s), want 503", status, b)
	}
	checkError(t, b, "SERVER_ERROR")
	if got := r.events("payment_link.paid", "purge_failed"); got != 1 {
		t.Errorf("events_total{result=purge_failed} = %v, want 1", got)
	}

	p.fail.Store(false)
	if status, b := r.post(body, h); status != http.StatusOK || string(b) != `{"status":"ok"}` {
		t.Fatalf("redelivery: %d %s, want 200 ok", status, b)
	}
	if stored(t, store, "link") {
		t.Error("the redelivery did not purge")
	}
	if got := p.calls.Load(); got != 2 {
		t.Errorf("%d purges, want 2", got)
	}
}

// erringClaimer fails every call.
type erringClaimer struct{}

func (erringClaimer) Claim(context.Context, string, time.Duration) (bool, error) {
	return false, cache.ErrUnavailable
}

func (erringClaimer) Claimed(context.Context, string) (bool, error) {
	return false, cache.ErrUnavailable
}

// TestClaimerFailure checks that a dedup store that fails does not stop
// purges: every delivery is processed.
func TestClaimerFailure(t *testing.T) {
	r := newRig(t, webhook.Config{Claimer: erringClaimer{}})
	body := sample(t, "payment.captured")
	h := razorpayHeader(body, secret, "EvtClaimFail001")
	for i := range 2 {
		r.put("payment", "pay_DG4ZdRK8ZnXC3k")
		if status, _ := r.post(body, h); status != http.StatusOK || r.has("payment") {
			t.Errorf("delivery %d: status %d, purged %v; want 200, true", i, status, !r.has("payment"))
		}
	}
}

// TestAcrossReplicas runs two receivers on two gateway replicas sharing a
// Redis, each behind its Guard: an event delivered to one purges what the
// other would serve, and its redelivery to the other is a duplicate.
func TestAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	var replicas []*cache.Guard
	var receivers []*rig
	for range 2 {
		r, err := cache.NewRedis(srv.Client(t), cache.RedisConfig{})
		if err != nil {
			t.Fatal(err)
		}
		g := cache.NewGuard(r, cache.GuardConfig{Timeout: time.Second})
		t.Cleanup(func() { g.Close() })
		replicas = append(replicas, g)
		receivers = append(receivers, newRig(t, webhook.Config{Purger: g, Claimer: g}))
	}
	putEntry(t, replicas[1], "payment", "pay_DG4ZdRK8ZnXC3k")
	body := sample(t, "payment.captured")
	h := razorpayHeader(body, secret, "EvtReplicas0001")
	if status, b := receivers[0].post(body, h); status != http.StatusOK || string(b) != `{"status":"ok"}` {
		t.Fatalf("delivery to replica 0: %d %s, want 200 ok", status, b)
	}
	if stored(t, replicas[1], "payment") {
		t.Error("replica 1 still holds the payment")
	}
	putEntry(t, replicas[1], "payment", "pay_DG4ZdRK8ZnXC3k")
	if status, b := receivers[1].post(body, h); status != http.StatusOK || string(b) != `{"status":"duplicate"}` {
		t.Errorf("redelivery to replica 1: %d %s, want 200 duplicate", status, b)
	}
	if !stored(t, replicas[1], "payment") {
		t.Error("the redelivery to replica 1 purged again")
	}
}

func TestNewErrors(t *testing.T) {
	store, _ := cache.NewMemory(cache.MemoryConfig{})
	defer store.Close()
	tests := []struct {
		desc string
		cfg  webhook.Config
	}{
		{"no secret", webhook.Config{Purger: store}},
		{"empty secret", webhook.Config{Secrets: []string{secret, ""}, Purger: store}},
		{"no purger", webhook.Config{Secrets: []string{secret}}},
		{"relative target", webhook.Config{Secrets: []string{secret}, Purger: store, Forward: []string{"/hooks"}}},
		{"ftp target", webhook.Config{Secrets: []string{secret}, Purger: store, Forward: []string{"ftp://u:S3CRET@h/x"}}},
		{"bad target", webhook.Config{Secrets: []string{secret}, Purger: store, Forward: []string{"http://u:S3CRET@[::1/x"}}},
		{"negative timeout", webhook.Config{Secrets: []string{secret}, Purger: store, ForwardTimeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			h, err := webhook.New(tt.cfg)
			if err == nil {
				h.Close()
				t.Fatal("New error = nil, want one")
			}
			if strings.Contains(err.Error(), "S3CRET") {
				t.Errorf("New error %q holds a secret", err)
			}
		})
	}
}

// TestSlowSendersBounded: the path is public, so senders that stall in
// their bodies hold at most a bounded number of bodies; more are answered
// 503 at once, and a real delivery gets through once they are gone.
func TestSlowSendersBounded(t *testing.T) {
	r := newRig(t, webhook.Config{})
	addr := strings.TrimPrefix(r.srv.URL, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	busy := 0
	for range 40 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		line, _ := bufio.NewReader(c).ReadString('\n')
		if strings.Contains(line, " 503 ") {
			busy++
		}
	}
	if busy < 8 {
		t.Errorf("%d of 40 stalled senders answered 503; want every one past the 32 held", busy)
	}
	for _, c := range conns {
		c.Close()
	}
	body := sample(t, "payment.captured")
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ := r.post(body, razorpayHeader(body, secret, "EvtAfterFlood01"))
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a delivery after the stalled senders left: %d; want 200", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
