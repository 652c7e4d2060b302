package proxy

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		desc, a, b string
		same       bool
	}{
		{"raw and encoded brackets", "expand[]=upi", "expand%5B%5D=upi", true},
		{"parameter order", "expand[]=upi&x=1", "x=1&expand[]=upi", true},
		{"plus and %20", "a=b+c", "a=b%20c", true},
		{"empty value forms", "a", "a=", true},
		{"stray ampersands", "&a=1&&", "a=1", true},
		{"different value", "expand[]=upi", "expand[]=card", false},
		{"extra parameter", "expand[]=upi", "expand[]=upi&expand[]=card", false},
		{"repeated value order", "expand[]=upi&expand[]=card", "expand[]=card&expand[]=upi", false},
		{"last-wins order", "a=1&a=2", "a=2&a=1", false},
		{"php array order", "a[]=1&a[0]=2", "a[0]=2&a[]=1", false},
		{"different arrays commute", "a[]=1&b[]=2", "b[]=2&a[]=1", true},
		{"case of name", "a=1", "A=1", false},
		{"semicolon is data", "a=1;b=2", "a=1&b=2", false},
		{"encoded ampersand is data", "a=1%26b%3D2", "a=1&b=2", false},
		{"equals in a value", "a=b%3Dc", "a=b=c", true},
		{"no query vs empty value", "", "a=", false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			pa, err := parseQuery(tt.a)
			if err != nil {
				t.Fatalf("parseQuery(%q): %v", tt.a, err)
			}
			pb, err := parseQuery(tt.b)
			if err != nil {
				t.Fatalf("parseQuery(%q): %v", tt.b, err)
			}
			ca, cb := canonicalQuery(pa), canonicalQuery(pb)
			if (ca == cb) != tt.same {
				t.Errorf("canonical(%q) = %q, canonical(%q) = %q; same = %t, want %t", tt.a, ca, tt.b, cb, ca == cb, tt.same)
			}
		})
	}
}

func TestParseQueryRejectsBadEscapes(t *testing.T) {
	for _, q := range []string{"a=%zz", "%=1", "a=%4", "expand%5B%5=upi"} {
		if _, err := parseQuery(q); err == nil {
			t.Errorf("parseQuery(%q) succeeded; want an error", q)
		}
	}
}

func TestParseQueryNames(t *testing.T) {
	tests := []struct {
		q  string
		ok bool
	}{
		{"expand[]=upi", true},
		{"expand%5B%5D=upi", true},
		{"a[b][c]=1", true},
		{"a-b=1&a_b=2", true},
		{"a[]=1&a[0]=2", true},
		{"a=1;b=2", true}, // ';' is data to PHP, and sent as it is
		// Names PHP rewrites, so that two of them can reach Razorpay as one.
		{"a.b[]=1", false},
		{"a%2Eb=1", false},
		{"a b=1", false},
		{"a+b=1", false},
		{"a[b=1", false},
		{"a[b]c=1", false},
		{"a[b]]=1", false},
		{"[x]=1", false},
		{"=1", false},
		{"customer%5Fid=cust_HKsR5se84c5LTO&customer.id=cust_X", false},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			if _, err := parseQuery(tt.q); (err == nil) != tt.ok {
				t.Errorf("parseQuery(%q) error = %v; want ok = %t", tt.q, err, tt.ok)
			}
		})
	}
}

func TestKeyPartitionsByCredentials(t *testing.T) {
	k := newKeyer([]byte("test-secret-test-secret-test-secret"))
	base := k.key(routePayment, "Basic YTpi", "", "pay_DG4ZdRK8ZnXC3k", "expand[]=upi")
	tests := []struct {
		desc string
		key  string
	}{
		{"other credentials", k.key(routePayment, "Basic YTpj", "", "pay_DG4ZdRK8ZnXC3k", "expand[]=upi")},
		{"same key id, wrong secret", k.key(routePayment, "Basic YTpiYg==", "", "pay_DG4ZdRK8ZnXC3k", "expand[]=upi")},
		{"account header", k.key(routePayment, "Basic YTpi", "acc_1", "pay_DG4ZdRK8ZnXC3k", "expand[]=upi")},
		{"field boundary moved", k.key(routePayment, "Basic YTpi\x00acc_1", "", "pay_DG4ZdRK8ZnXC3k", "expand[]=upi")},
		{"other route", k.key(routePaymentLink, "Basic YTpi", "", "pay_DG4ZdRK8ZnXC3k", "expand[]=upi")},
		{"other id", k.key(routePayment, "Basic YTpi", "", "pay_DG4ZdRK8ZnXC3l", "expand[]=upi")},
		{"other query", k.key(routePayment, "Basic YTpi", "", "pay_DG4ZdRK8ZnXC3k", "")},
		{"other secret", newKeyer([]byte("another-secret")).key(routePayment, "Basic YTpi", "", "pay_DG4ZdRK8ZnXC3k", "expand[]=upi")},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if tt.key == base {
				t.Errorf("key %q equals the base key; want a different one", tt.key)
			}
		})
	}
	if again := k.key(routePayment, "Basic YTpi", "", "pay_DG4ZdRK8ZnXC3k", "expand[]=upi"); again != base {
		t.Errorf("same request gave key %q, then %q", base, again)
	}
	if strings.Contains(base, "YTpi") {
		t.Errorf("key %q contains the raw credentials", base)
	}
}

// FuzzCanonicalQuery checks the properties the cache's correctness rests on:
// canonicalising is idempotent, and two queries share a canonical form only
// if they decode to the same parameters in the same per-name order.
func FuzzCanonicalQuery(f *testing.F) {
	for _, s := range []string{"expand[]=upi", "expand%5B%5D=upi", "a=1&b=2", "b=2&a=1", "a=1&a=2", "a", "a=", "", "%zz", "a=b+c", "a=%26", ";;", "customer_id=cust_HKsR5se84c5LTO&count=10"} {
		f.Add(s, "expand[]=upi")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		pa, errA := parseQuery(a)
		pb, errB := parseQuery(b)
		if errA != nil || errB != nil {
			return
		}
		ca, cb := canonicalQuery(slices.Clone(pa)), canonicalQuery(slices.Clone(pb))
		again, err := parseQuery(ca)
		if err != nil {
			t.Fatalf("canonical form %q does not parse: %v", ca, err)
		}
		if c2 := canonicalQuery(again); c2 != ca {
			t.Fatalf("not idempotent: %q -> %q -> %q", a, ca, c2)
		}
		if (ca == cb) != sameParams(pa, pb) {
			t.Fatalf("canonical(%q) = %q, canonical(%q) = %q, but same decoded parameters = %t", a, ca, b, cb, sameParams(pa, pb))
		}
		// The canonical form must decode back to the same parameters, in
		// the way the standard library (and so Razorpay's SDKs) reads them.
		if v, err := url.ParseQuery(ca); err == nil {
			for _, p := range pa {
				if !slices.Contains(v[p.name], p.value) {
					t.Fatalf("canonical %q lost %q=%q", ca, p.name, p.value)
				}
			}
		}
	})
}

// sameParams reports whether a and b hold the same parameters in the same
// order per base name (PHP variable).
func sameParams(a, b []param) bool {
	group := func(ps []param) map[string][]param {
		m := map[string][]param{}
		for _, p := range ps {
			m[baseName(p.name)] = append(m[baseName(p.name)], p)
		}
		return m
	}
	ga, gb := group(a), group(b)
	if len(ga) != len(gb) {
		return false
	}
	for k, va := range ga {
		if !slices.Equal(va, gb[k]) {
			return false
		}
	}
	return true
}

func BenchmarkKey(b *testing.B) {
	k := newKeyer([]byte("bench-secret-bench-secret-bench-secret"))
	b.ReportAllocs()
	for b.Loop() {
		ps, _ := parseQuery("expand[]=upi")
		_ = k.key(routePayment, "Basic cnpwX3Rlc3RfQTpzZWNyZXRB", "", "pay_DG4ZdRK8ZnXC3k", canonicalQuery(ps))
	}
}

// TestParseCanonicalMemo: a long query is memoised and answers as parsing
// it does; a short one is parsed every time and kept out of the memo.
func TestParseCanonicalMemo(t *testing.T) {
	k := newKeyer([]byte("secret"))
	long := "customer_id=cust_ABCDEFGHIJKLMN&count=10" + strings.Repeat("&notes%5Bk%5D=v", 20)
	bad := "a.b=1" + strings.Repeat("&x=1", 80)
	for _, raw := range []string{"expand[]=upi", "customer_id=cust_ABCDEFGHIJKLMN", long, bad} {
		want := parseCanonical(raw)
		for i := range 2 {
			if got := k.parseCanonical(raw); got != want {
				t.Errorf("call %d: parseCanonical(%.40q...) = %+v; want %+v", i, raw, got, want)
			}
		}
		_, memoised := k.queries.GetIfPresent(raw)
		if want := len(raw) >= memoMinQuery; memoised != want {
			t.Errorf("%.40q... (%d bytes) memoised = %t; want %t", raw, len(raw), memoised, want)
		}
	}
	if q := k.parseCanonical(long); q.customer != "cust_ABCDEFGHIJKLMN" || !q.ok {
		t.Errorf("long query: %+v; want its customer", q)
	}
	if q := k.parseCanonical(bad); q.ok {
		t.Errorf("query with a name PHP rewrites: ok; want it refused")
	}
}

// TestLongQueryDigest checks that a long query stands in keys as a digest
// of its canonical form: short, the same for equivalent spellings,
// different for different queries, and never equal to a short query
// written out, whose '#' is always escaped.
func TestLongQueryDigest(t *testing.T) {
	k := newKeyer([]byte("secret"))
	filler := strings.Repeat("&f=0123456789", 30)
	a := "expand[]=upi&x=1" + filler
	aReordered := "x=1&expand%5B%5D=upi" + filler
	b := "expand[]=upi&x=2" + filler
	qa, qa2, qb := k.parseCanonical(a), k.parseCanonical(aReordered), k.parseCanonical(b)
	if !qa.ok || !qb.ok {
		t.Fatalf("long queries refused: %+v, %+v", qa, qb)
	}
	if !strings.HasPrefix(qa.canonical, "#") || len(qa.canonical) != 44 {
		t.Errorf("long canonical query %q; want '#' and 43 characters of digest", qa.canonical)
	}
	if qa.canonical != qa2.canonical {
		t.Errorf("equivalent long queries: %q and %q; want the same digest", qa.canonical, qa2.canonical)
	}
	if qa.canonical == qb.canonical {
		t.Errorf("different long queries share digest %q", qa.canonical)
	}
	if got := parseCanonical(a); got != qa {
		t.Errorf("without the memo: %+v; with it %+v", got, qa)
	}
	// A short query whose value is a digest, '#' included, stays literal
	// and escaped: it cannot land on the long query's key.
	short := k.parseCanonical("x=" + url.QueryEscape(qa.canonical))
	if strings.HasPrefix(short.canonical, "#") || short.canonical == qa.canonical {
		t.Errorf("short query canonical %q; want it written out with '#' escaped", short.canonical)
	}
	if q := k.parseCanonical("expand[]=upi"); q.canonical != "expand[]=upi" {
		t.Errorf("short query canonical %q; want it written out", q.canonical)
	}
}
