// Package fakerazorpay is a fake Razorpay REST API for the gateway's tests and benchmarks.
package fakerazorpay

import (
	"bytes"
	"context"
	"crypto/subtle"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxBody bounds the request body the fake reads and records.
const maxBody = 1 << 20

// Server is a fake Razorpay API. It is an http.Handler and safe for
// concurrent use. The zero Server has no accounts, so it answers every
// request with 401; New returns one seeded with the documents' entities.
type Server struct {
	mu          sync.Mutex // guards every field below; never held while waiting or writing
	accounts    map[string]*account
	latency     time.Duration
	commitDelay time.Duration
	fault       Fault
	bodyFault   BodyFault
	header      map[string]string // extra response headers, by canonical key
	requests    []Request
	counts      map[string]int // by countKey(method, path)
	total       int            // requests received, whether kept or not
	discard     bool           // requests are counted but not kept; see SetKeepRequests
	anyKey      string         // the account answering unknown key ids; see SetAnyKey
	pending     int            // delayed writes not yet committed
	committed   chan struct{}  // closed when a delayed write commits; nil when none is pending
	hook        webhookTarget  // where events are sent; see SetWebhook
	lastEvent   *Event         // the last event sent, for ResendLastEvent
}

// Fault makes the Server misbehave. The zero Fault means healthy.
type Fault struct {
	// Status, when nonzero, is the HTTP status of every response, each with
	// a Razorpay SERVER_ERROR body, whatever the request. Such a request
	// changes no state.
	Status int
	// Drop, when true, makes the Server close every connection without
	// writing a response. It takes precedence over Status. A dropped
	// request changes no state.
	Drop bool
	// Only limits the fault to the requests it matches; its zero value
	// matches every request.
	Only Match
}

// Match selects requests by method and path for Fault.Only and
// BodyFault.Only. An empty field matches anything.
type Match struct {
	Method string // Compared exactly, as HTTP methods are case-sensitive.
	Path   string // The URL path without the query; a trailing slash is ignored, as by Count.
}

// matches reports whether m selects r.
func (m Match) matches(r *http.Request) bool {
	return (m.Method == "" || m.Method == r.Method) &&
		(m.Path == "" || trimSlash(m.Path) == trimSlash(r.URL.Path))
}

// Request is a request the Server received, as recorded on arrival.
type Request struct {
	Method   string
	Path     string // The decoded URL path, trailing slash included.
	RawQuery string // The query as sent, without the '?'.
	Header   http.Header
	Body     []byte // The body, of which at most 1 MiB and one byte is read.
}

// New returns a Server with two accounts. rzp_test_A (secret secretA) owns
// the API documents' example entities: QR codes qr_HMsgvioW64f0vh and
// qr_HMsVL8HOpbMcjU of customer cust_HKsR5se84c5LTO, payment link
// plink_Fo48rl281ENAg9 and payment pay_DG4ZdRK8ZnXC3k. rzp_test_B (secret
// secretB) owns entities of the same shapes with its own ids and values:
// qr_BBsgvioW64f0vh and qr_BBsVL8HOpbMcjU of cust_BBsR5se84c5LTO,
// plink_BB48rl281ENAg9 and pay_BB4ZdRK8ZnXC3k.
func New() *Server {
	return &Server{accounts: map[string]*account{
		"rzp_test_A": seedA("secretA"),
		"rzp_test_B": seedB("secretB"),
	}}
}

// ServeHTTP records the request, answers it as Razorpay would from the
// requesting account's state, and waits for the configured latency between
// reading that state and writing the response. The wait widens the window
// in which a gateway could cache a read that a concurrent write has already
// made stale, which is what the gateway's invalidation tests need. A write
// under a commit delay (see SetCommitDelay) is answered only after it has
// committed, and the latency follows the commit.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBody+1))

	s.mu.Lock()
	s.record(r, body)
	delay, commitDelay, extra := s.latency, s.commitDelay, maps.Clone(s.header)
	fault, bodyFault := s.fault, s.bodyFault
	if !fault.Only.matches(r) {
		fault = Fault{}
	}
	if !bodyFault.Only.matches(r) {
		bodyFault = BodyFault{}
	}
	var resp response
	deferred := false
	switch {
	case fault.Drop:
	case fault.Status != 0:
		resp = errorResponse(fault.Status, codeServerError, msgServerError, "")
	case commitDelay > 0 && isWrite(r):
		deferred = true
		s.beginCommit()
	default:
		resp = s.respond(r, body, readErr)
	}
	s.mu.Unlock()

	if deferred {
		var ok bool
		if resp, ok = s.commitAfter(commitDelay, r, body, readErr); !ok {
			return // The client has gone; the write commits all the same.
		}
	}
	if !wait(r.Context(), delay) {
		return // The client has gone.
	}
	if fault.Drop {
		drop(w)
		return
	}
	resp.write(w, r, extra, bodyFault)
}

// respond computes the answer to r, applying it to the state if r is a
// write. s.mu must be held.
func (s *Server) respond(r *http.Request, body []byte, readErr error) response {
	acct, resp, ok := s.authenticate(r)
	if !ok {
		return resp
	}
	if readErr != nil || len(body) > maxBody {
		return badRequest("The request body could not be read or is too large.", "")
	}
	return serve(acct, r, body)
}

// authenticate returns the account whose Basic credentials r carries, or
// the 401 to answer when there is none.
func (s *Server) authenticate(r *http.Request) (*account, response, bool) {
	key, secret, ok := r.BasicAuth()
	if !ok || key == "" {
		return nil, unauthorized("Please provide your api key for authentication purposes."), false
	}
	acct := s.accounts[key]
	if acct == nil && s.anyKey != "" && secret != "" {
		if acct = s.accounts[s.anyKey]; acct != nil {
			return acct, response{}, true
		}
	}
	if acct == nil {
		return nil, unauthorized("The api key provided is invalid"), false
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(acct.secret)) != 1 {
		return nil, unauthorized("The api secret provided is invalid"), false
	}
	return acct, response{}, true
}

// unauthorized returns Razorpay's 401, which carries BAD_REQUEST_ERROR.
func unauthorized(description string) response {
	return errorResponse(http.StatusUnauthorized, codeBadRequest, description, "")
}

// record counts r and, unless requests are discarded, appends it to the
// log. s.mu must be held.
func (s *Server) record(r *http.Request, body []byte) {
	s.total++
	if s.counts == nil {
		s.counts = make(map[string]int)
	}
	s.counts[countKey(r.Method, r.URL.Path)]++
	if s.discard {
		return
	}
	s.requests = append(s.requests, Request{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Header:   r.Header.Clone(),
		Body:     body,
	})
}

// countKey is the key of Server.counts: the method and the path without a
// trailing slash, so /v1/payments/x and /v1/payments/x/ count together.
func countKey(method, path string) string {
	return method + " " + trimSlash(path)
}

// trimSlash returns path without its trailing slash, unless path is "/".
func trimSlash(path string) string {
	if len(path) > 1 {
		return strings.TrimSuffix(path, "/")
	}
	return path
}

// wait sleeps for d and reports whether it did so before ctx was done.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// drop closes the client connection without a response. When the
// connection cannot be hijacked (HTTP/2), aborting the handler resets the
// stream instead, which a client sees the same way.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// AddAccount adds an account with the given key id and secret that owns no
// entities. If the key id already has an account, only its secret changes
// and the entities it owns are kept.
func (s *Server) AddAccount(keyID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if acct := s.accounts[keyID]; acct != nil {
		acct.secret = secret
		return
	}
	if s.accounts == nil {
		s.accounts = make(map[string]*account)
	}
	s.accounts[keyID] = newAccount(secret)
}

// RemoveAccount deletes the account with the given key id and everything it
// owns, so that its credentials get 401. Removing an unknown key id does
// nothing.
func (s *Server) RemoveAccount(keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.accounts, keyID)
}

// AddQRCode gives the account keyID a QR code with the shape of the seeded
// qr_HMsgvioW64f0vh but the given id, customer and empty notes, replacing
// any QR code of that id. It panics if the account does not exist.
func (s *Server) AddQRCode(keyID, qrID, customerID string) {
	qr := newQRCode(qrID, customerID)
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.accounts[keyID]
	if acct == nil {
		panic("fakerazorpay: AddQRCode for unknown account " + keyID)
	}
	acct.qrCodes[qrID] = qr
}

// QRNotes returns a copy of the current notes of the account keyID's QR code
// qrID, or nil if the account or the QR code does not exist.
func (s *Server) QRNotes(keyID, qrID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.accounts[keyID]
	if acct == nil || acct.qrCodes[qrID] == nil {
		return nil
	}
	return cloneNotes(acct.qrCodes[qrID].Notes)
}

// Count returns how many requests with the given method and path the Server
// has received since it was created or last reset. A trailing slash on
// either path is ignored.
func (s *Server) Count(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[countKey(method, path)]
}

// Total returns how many requests the Server has received since it was
// created or last reset, rejected ones included.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Requests returns copies of the requests received since the Server was
// created or last reset, in arrival order; none received while requests
// were discarded (see SetKeepRequests).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	reqs := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		r.Body = bytes.Clone(r.Body)
		reqs[i] = r
	}
	return reqs
}

// ResetCounts forgets every request received so far, zeroing Count and
// Total and emptying Requests. Entity state is untouched.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.counts, s.total = nil, nil, 0
}

// SetKeepRequests sets whether later requests are kept for Requests; by
// default they are. Discarded requests are still counted by Count and
// Total. A load test turns keeping off, since every kept request holds its
// headers and body for the Server's lifetime.
func (s *Server) SetKeepRequests(keep bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discard = !keep
}

// SetAnyKey makes every later request whose Basic credentials name a key
// id that has no account of its own, with any non-empty secret, answered as
// the account keyID, sharing its entities. A load test uses it to send many
// distinct credentials. Known key ids still need their own secret. An empty
// keyID, or one that has no account when a request arrives, turns it off.
func (s *Server) SetAnyKey(keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.anyKey = keyID
}

// SetLatency makes every later response wait d after the entity state was
// read and before the response is written. A request whose context ends
// during the wait gets no response. Zero or negative means no wait.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetFault makes every later request that f.Only matches fail as f says;
// the zero Fault restores normal service. It panics if f.Status is nonzero
// but not a final HTTP status code (200 to 599).
func (s *Server) SetFault(f Fault) {
	if f.Status != 0 && (f.Status < 200 || f.Status > 599) {
		panic("fakerazorpay: invalid fault status")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// SetResponseHeader adds the header key: value to every later response,
// overriding the fake's own value for key; an empty value removes it.
func (s *Server) SetResponseHeader(key, value string) {
	key = http.CanonicalHeaderKey(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if value == "" {
		delete(s.header, key)
		return
	}
	if s.header == nil {
		s.header = make(map[string]string)
	}
	s.header[key] = value
}
