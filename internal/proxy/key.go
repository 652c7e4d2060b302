package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/maypok86/otter/v2"
)

// errBadQuery marks a query string the gateway cannot canonicalise; such a
// request is passed through uncached rather than risk a shared key.
var errBadQuery = errors.New("malformed query string")

// keyer derives cache keys. A key is the route, a partition derived from
// the caller's credentials, the entity id and the canonical query:
//
//	payment|3f9a...|pay_DG4ZdRK8ZnXC3k|expand%5B%5D=upi
//
// The partition is an HMAC of the whole Authorization header and of
// X-Razorpay-Account under a gateway secret, so a caller with other
// credentials (or the right key id and a wrong secret) lands in another
// partition, and raw credentials never appear in a key (issue #2).
type keyer struct {
	pool sync.Pool // of *hasher
	// partitions memoises partition by credentials: most requests come
	// from a few services, and the HMAC is the dearest step of a hit. The
	// memo lives in this process only; its keys are never stored or logged.
	partitions *otter.Cache[string, [partitionLen]byte]
	// queries memoises parseCanonical by raw query (which carries no
	// secret): a long query costs microseconds to canonicalise (issue #11).
	queries *otter.Cache[string, canonQuery]
}

// memoPartitions bounds the partition memo, in credentials; memoQueryBytes
// bounds the query memo, in bytes of raw and canonical queries.
const (
	memoPartitions = 4096
	memoQueryBytes = 4 << 20
)

// hasher is an HMAC-SHA256 keyed with the secret and a scratch buffer for
// its input, reused across requests.
type hasher struct {
	mac hash.Hash
	buf []byte
}

func newKeyer(secret []byte) *keyer {
	k := &keyer{
		partitions: otter.Must(&otter.Options[string, [partitionLen]byte]{MaximumSize: memoPartitions}),
		queries: otter.Must(&otter.Options[string, canonQuery]{
			MaximumWeight: memoQueryBytes,
			Weigher: func(raw string, q canonQuery) uint32 {
				return uint32(len(raw) + len(q.canonical) + len(q.customer) + 64)
			},
		}),
	}
	k.pool.New = func() any { return &hasher{mac: hmac.New(sha256.New, secret), buf: make([]byte, 0, 256)} }
	return k
}

// partitionLen is the hex length of a partition: 128 bits of the HMAC.
const partitionLen = 32

// partition returns the hex partition of a caller: an HMAC of its whole
// Authorization and X-Razorpay-Account values, so that it depends on the
// secret too and reveals neither.
func (k *keyer) partition(auth, account string) [partitionLen]byte {
	// Header values hold no NUL, so auth alone and auth NUL account name
	// distinct callers; the common case (no account) costs no allocation.
	memo := auth
	if account != "" {
		memo = auth + "\x00" + account
	}
	if hx, ok := k.partitions.GetIfPresent(memo); ok {
		return hx
	}
	hx := k.hmac(auth, account)
	k.partitions.Set(memo, hx)
	return hx
}

// hmac computes partition's value.
func (k *keyer) hmac(auth, account string) [partitionLen]byte {
	var sum [sha256.Size]byte
	h := k.pool.Get().(*hasher)
	// The fields are separated by a byte that cannot occur in a header
	// value, so ("a","b\x00c") and ("a\x00b","c") cannot hash alike.
	h.buf = append(append(append(h.buf[:0], auth...), 0), account...)
	h.mac.Reset()
	h.mac.Write(h.buf)
	h.mac.Sum(sum[:0])
	k.pool.Put(h)
	var hx [partitionLen]byte
	hex.Encode(hx[:], sum[:partitionLen/2])
	return hx
}

// key returns the cache key of a request on route rt for entity id (empty
// for the QR list) and canonical query q.
func (k *keyer) key(rt route, auth, account, id, q string) string {
	hx := k.partition(auth, account)
	name := rt.String()
	var b strings.Builder
	b.Grow(len(name) + partitionLen + len(id) + len(q) + 3)
	b.WriteString(name)
	b.WriteByte('|')
	b.Write(hx[:])
	b.WriteByte('|')
	b.WriteString(id)
	b.WriteByte('|')
	b.WriteString(q)
	return b.String()
}

// canonQuery is what a cacheable GET's key needs from its raw query.
type canonQuery struct {
	// canonical is the canonical form (canonicalQuery).
	canonical string
	// customer is the only customer_id value, if there is exactly one.
	customer string
	// ok is false when the query cannot be canonicalised (parseQuery).
	ok bool
}

// parseCanonical returns what the key of a GET with raw query needs,
// memoised.
func (k *keyer) parseCanonical(raw string) canonQuery {
	if raw == "" {
		return canonQuery{ok: true}
	}
	if len(raw) < memoMinQuery {
		return parseCanonical(raw)
	}
	if q, ok := k.queries.GetIfPresent(raw); ok {
		return q
	}
	q := parseCanonical(raw)
	k.queries.Set(raw, q)
	return q
}

// memoMinQuery is the shortest query worth memoising. Storing in the memo
// costs about 2 µs once it is full, more than canonicalising a query of a
// few parameters (0.2 to 0.5 µs), and caches whose keys differ by query
// (a QR list per customer) would store on almost every request.
const memoMinQuery = 256

// parseCanonical is keyer.parseCanonical without the memo. A canonical
// query of digestMinQuery bytes or more stands in keys as its digest.
func parseCanonical(raw string) canonQuery {
	var q canonQuery
	if ps, err := parseQuery(raw); err == nil {
		q.customer, _ = lookup(ps, "customer_id")
		q.canonical, q.ok = canonicalQuery(ps), true
		if len(q.canonical) >= digestMinQuery {
			q.canonical = digestQuery(q.canonical)
		}
	}
	return q
}

// digestMinQuery is the length from which a canonical query is replaced
// in keys by its digest: a key then stays short whatever the query, so a
// hit on a 1.9 KB query neither builds a 2 KB key nor hashes one in the
// store (nor keeps one in Redis). The memo, which holds queries of
// memoMinQuery bytes or more, computes it once per distinct query.
const digestMinQuery = memoMinQuery

// digestQuery returns the form of canonical query q in keys: '#' and the
// URL-safe base64 of its SHA-256. No canonical query holds a raw '#' (see
// escape), so a digest never equals a query written out.
func digestQuery(q string) string {
	sum := sha256.Sum256([]byte(q))
	return "#" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// param is one decoded query parameter.
type param struct{ name, value string }

// parseQuery decodes a raw query into parameters in their original order.
// It splits on '&' only, as Razorpay's PHP backend does, so ';' stays part of
// a value. "a" and "a=" both decode to an empty value, which PHP treats alike.
func parseQuery(raw string) ([]param, error) {
	if raw == "" {
		return nil, nil
	}
	ps := make([]param, 0, strings.Count(raw, "&")+1)
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		n, err := url.QueryUnescape(name)
		if err != nil || !plainName(n) {
			return nil, errBadQuery
		}
		v, err := url.QueryUnescape(value)
		if err != nil {
			return nil, errBadQuery
		}
		ps = append(ps, param{n, v})
	}
	return ps, nil
}

// plainName reports whether PHP, which Razorpay runs on, reads a query
// parameter's name as it is written: a base of letters, digits, '_' and '-',
// then any number of [...] groups. PHP rewrites other names (a.b[] and a b[]
// both become a_b[], a[b is a_b, text after a closing bracket is dropped),
// so two different names could reach Razorpay as one; a query with such a
// name is passed through uncached rather than keyed wrongly (issue #6).
func plainName(n string) bool {
	base, groups, _ := strings.Cut(n, "[")
	if base == "" {
		return false
	}
	for i := 0; i < len(base); i++ {
		if c := base[i]; !isAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	if len(n) == len(base) {
		return true
	}
	for groups != "" { // each group is "...]" followed by "[" or the end
		inner, rest, ok := strings.Cut(groups, "]")
		if !ok || strings.ContainsAny(inner, "[]") {
			return false
		}
		if rest == "" {
			return true
		}
		if groups, ok = strings.CutPrefix(rest, "["); !ok {
			return false
		}
	}
	return false
}

// canonicalQuery encodes parameters sorted by base name (the name up to any
// '['), keeping the relative order of parameters with the same base name:
// for PHP the last of a repeated name wins, and a[]=1&a[0]=2 builds another
// array than a[0]=2&a[]=1. Each name and value is escaped the same way
// whatever the client sent: expand[]=upi and expand%5B%5D=upi give one key
// (expand[]=upi), while any difference Razorpay could see gives another.
func canonicalQuery(ps []param) string {
	if len(ps) == 0 {
		return ""
	}
	slices.SortStableFunc(ps, func(a, b param) int { return strings.Compare(baseName(a.name), baseName(b.name)) })
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escape(p.name))
		b.WriteByte('=')
		b.WriteString(escape(p.value))
	}
	return b.String()
}

// baseName is a query parameter's name up to any '[': the variable PHP
// assigns it to.
func baseName(name string) string {
	if i := strings.IndexByte(name, '['); i >= 0 {
		return name[:i]
	}
	return name
}

// escape percent-encodes the bytes of a decoded query name or value that
// would change its meaning in a query (&, =, +, %, #, ;, space, controls,
// non-ASCII), leaving the rest, brackets included, as they are: the
// canonical form only needs to decode back to the same parameters, and the
// common case (expand[]=upi) then costs no allocation.
func escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !querySafe(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; querySafe(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

// querySafe reports whether c stands for itself in a query component.
func querySafe(c byte) bool {
	if isAlnum(c) {
		return true
	}
	switch c {
	case '-', '.', '_', '~', '[', ']', '!', '$', '\'', '(', ')', '*', ',', ':', '@', '/', '?':
		return true
	}
	return false
}

// lookup returns the only value of name, or false if it is absent or
// repeated.
func lookup(ps []param, name string) (string, bool) {
	value, found := "", false
	for _, p := range ps {
		if p.name == name {
			if found {
				return "", false
			}
			value, found = p.value, true
		}
	}
	return value, found
}
