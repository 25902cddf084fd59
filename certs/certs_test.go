package certs_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/certs"
)

func issue(t testing.TB, ca *certs.CA, l certs.Leaf) *x509.Certificate {
	t.Helper()
	p, _, err := ca.Issue(l)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := certs.ParseCertificatesPEM(p)
	if err != nil {
		t.Fatal(err)
	}
	return cs[0]
}

func testCA(t testing.TB) *certs.CA {
	ca, err := certs.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestSubjectDNMatching(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	c := issue(t, ca, certs.Leaf{CommonName: "payments api", Organization: []string{"Example, Inc."}, Client: true})
	for dn, want := range map[string]bool{
		`CN=payments api,O=Example\, Inc.`:             true,
		`cn=PAYMENTS   API , o = Example\2C Inc.`:      true,
		`CN=payments api;O=Example\, Inc.`:             true,
		`2.5.4.3=payments api,2.5.4.10=Example\, Inc.`: true,
		`O=Example\, Inc.,CN=payments api`:             false, // order matters
		`CN=payments api`:                              false,
		`CN=payments api,O=Example\, Inc.,C=US`:        false,
		`CN=payments,O=Example\, Inc.`:                 false,
		`CN=payments api+O=Example\, Inc.`:             false, // one multi-valued RDN is not two RDNs
		`CN=payments api,O=Example, Inc.`:              false, // unescaped comma: three RDNs, "Inc." has no type
		``:                                             false,
	} {
		if got := certs.MatchSubjectDN(c, dn); got != want {
			t.Errorf("MatchSubjectDN(%q) = %v, want %v", dn, got, want)
		}
	}
}

func TestParseDN(t *testing.T) {
	t.Parallel()
	dn, err := certs.ParseDN(`CN=a\+b\20,OU=x+OU=y,DC=example,DC=org,CN=#0c0568656c6c6f`)
	if err != nil {
		t.Fatal(err)
	}
	if len(dn) != 5 || dn[4][0].Value != "a+b " || len(dn[3]) != 2 || dn[0][0].Value != "hello" {
		t.Fatalf("ParseDN = %+v", dn)
	}
	for _, bad := range []string{"CN", "XX=a", "CN=a\\", `CN="quoted"`, "CN=a,", "=a", strings.Repeat("CN=a,", 1000)} {
		if _, err := certs.ParseDN(bad); err == nil {
			t.Errorf("ParseDN(%q) accepted", bad)
		}
	}
}

func TestMatchSAN(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	c := issue(t, ca, certs.Leaf{CommonName: "x", DNSNames: []string{"api.example.org"}, URIs: []string{"spiffe://example.org/ns/payments/sa/api"}, IPs: []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("2001:db8::1")}, Emails: []string{"svc@Example.org"}, Client: true})
	for _, tc := range []struct {
		kind, want string
		ok         bool
	}{
		{certs.SANDNS, "API.example.org", true},
		{certs.SANDNS, "*.example.org", false},
		{certs.SANDNS, "example.org", false},
		{certs.SANURI, "spiffe://example.org/ns/payments/sa/api", true},
		{certs.SANURI, "spiffe://example.org/ns/payments/sa/api/", false},
		{certs.SANURI, "spiffe://example.org/ns/payments/sa", false},
		{certs.SANURI, "SPIFFE://example.org/ns/payments/sa/api", false},
		{certs.SANIP, "10.0.0.1", true},
		{certs.SANIP, "::ffff:10.0.0.1", true},
		{certs.SANIP, "2001:db8:0::1", true},
		{certs.SANIP, "10.0.0.2", false},
		{certs.SANEmail, "svc@example.ORG", true},
		{certs.SANEmail, "SVC@example.org", false},
		{certs.SANEmail, "", false},
		{"other", "x", false},
	} {
		if got := certs.MatchSAN(c, tc.kind, tc.want); got != tc.ok {
			t.Errorf("MatchSAN(%s, %q) = %v, want %v", tc.kind, tc.want, got, tc.ok)
		}
	}
}

func TestVerifyClientChain(t *testing.T) {
	t.Parallel()
	root := testCA(t)
	inter, err := certs.NewCA("intermediate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Re-issue the intermediate under the root.
	ip, ik, err := root.Issue(certs.Leaf{CommonName: "intermediate", IsCA: true, Key: inter.Key})
	if err != nil {
		t.Fatal(err)
	}
	interCA, err := certs.LoadCA(ip, ik)
	if err != nil {
		t.Fatal(err)
	}
	leaf := issue(t, interCA, certs.Leaf{CommonName: "leaf", Client: true})
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	chains, err := certs.VerifyClientChain([]*x509.Certificate{leaf, interCA.Cert}, pool, time.Now())
	if err != nil || len(chains[0]) != 3 {
		t.Fatalf("chain through an intermediate: %v", err)
	}
	if _, err := certs.VerifyClientChain([]*x509.Certificate{leaf}, pool, time.Now()); err == nil {
		t.Fatal("verified without the intermediate")
	}
	if _, err := certs.VerifyClientChain([]*x509.Certificate{interCA.Cert}, pool, time.Now()); err == nil {
		t.Fatal("a CA certificate verified as a client leaf")
	}
	if _, err := certs.VerifyClientChain([]*x509.Certificate{leaf, interCA.Cert}, pool, time.Now().Add(48*time.Hour)); err == nil {
		t.Fatal("verified past expiry")
	}
}

func TestCRLSetFromFileAndURL(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	leaf := issue(t, ca, certs.Leaf{CommonName: "leaf", Client: true})
	other := issue(t, ca, certs.Leaf{CommonName: "other", Client: true})
	crl, err := ca.CRL([]*big.Int{leaf.SerialNumber}, 1, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	chain := func(c *x509.Certificate) []*x509.Certificate { return []*x509.Certificate{c, ca.Cert} }

	path := filepath.Join(t.TempDir(), "ca.crl")
	os.WriteFile(path, crl, 0o600)
	set, err := certs.NewCRLSet(t.Context(), []string{path}, nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if err := set.Check(chain(leaf)); !errors.Is(err, certs.ErrRevoked) {
		t.Fatalf("revoked leaf: %v", err)
	}
	if err := set.Check(chain(other)); err != nil {
		t.Fatalf("good leaf: %v", err)
	}

	// From a URL (DER this time), fetched with a timeout.
	block, _ := pem.Decode(crl)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(block.Bytes) })}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()
	uset, err := certs.NewCRLSet(t.Context(), nil, []string{"http://" + ln.Addr().String() + "/ca.crl"}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer uset.Close()
	if err := uset.Check(chain(leaf)); !errors.Is(err, certs.ErrRevoked) {
		t.Fatalf("revoked leaf via URL CRL: %v", err)
	}
	// A CRL signed by another CA of the same name is ignored.
	forger := testCA(t)
	fcrl, _ := forger.CRL([]*big.Int{other.SerialNumber}, 2, time.Now().Add(time.Hour))
	fpath := filepath.Join(t.TempDir(), "forged.crl")
	os.WriteFile(fpath, fcrl, 0o600)
	fset, _ := certs.NewCRLSet(t.Context(), []string{fpath}, nil, 0, nil)
	if err := fset.Check(chain(other)); err != nil {
		t.Fatalf("forged CRL honoured: %v", err)
	}
}

func TestReloader(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "v")
	os.WriteFile(p, []byte("one"), 0o600)
	r, err := certs.NewReloader([]string{p}, func() (string, error) {
		b, err := os.ReadFile(p)
		if string(b) == "bad" {
			return "", errors.New("bad content")
		}
		return string(b), err
	}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	os.WriteFile(p, []byte("two!"), 0o600)
	if !r.Check() || r.Get() != "two!" {
		t.Fatalf("not reloaded: %q", r.Get())
	}
	os.WriteFile(p, []byte("bad"), 0o600)
	if r.Check() || r.Get() != "two!" {
		t.Fatalf("bad reload replaced the good value: %q", r.Get())
	}
}

func pemOf(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func TestProxyHeaderFormats(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	leaf := issue(t, ca, certs.Leaf{CommonName: "leaf", Client: true})
	b64 := base64.StdEncoding.EncodeToString
	got, err := certs.ParseRFC9440(":"+b64(leaf.Raw)+":;x=1", " :"+b64(ca.Cert.Raw)+": ")
	if err != nil || len(got) != 2 || !got[0].Equal(leaf) || !got[1].Equal(ca.Cert) {
		t.Fatalf("RFC 9440: %v %v", got, err)
	}
	xfcc := `By=spiffe://a;Cert="` + url.PathEscape(pemOf(ca.Cert)) + `",By=spiffe://b;Hash=x;Cert="` + url.PathEscape(pemOf(leaf)) + `";Chain="` + url.PathEscape(pemOf(leaf)+pemOf(ca.Cert)) + `";Subject="CN=a, O=b"`
	got, err = certs.ParseXFCC(xfcc)
	if err != nil || len(got) != 2 || !got[0].Equal(leaf) || !got[1].Equal(ca.Cert) {
		t.Fatalf("XFCC (last element is the nearest proxy's): %v %v", got, err)
	}
	if got, err := certs.ParseXFCC(`By=x;Hash=y`); err != nil || got != nil {
		t.Fatalf("XFCC without Cert: %v %v", got, err)
	}
	got, err = certs.ParseNginxEscaped(url.PathEscape(pemOf(leaf)))
	if err != nil || !got[0].Equal(leaf) {
		t.Fatalf("nginx: %v", err)
	}
	for _, bad := range []func() error{
		func() error { _, err := certs.ParseRFC9440(b64(leaf.Raw), ""); return err },
		func() error { _, err := certs.ParseRFC9440(":!!:", ""); return err },
		func() error { _, err := certs.ParseXFCC(`Cert="unterminated`); return err },
		func() error { _, err := certs.ParseNginxEscaped("%zz"); return err },
	} {
		if bad() == nil {
			t.Error("malformed header accepted")
		}
	}
	px, err := certs.NewProxyExtractor(certs.ProxyConfig{Format: certs.FormatRFC9440, Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	if !px.Trusted(netip.MustParseAddr("::ffff:10.1.2.3")) || px.Trusted(netip.MustParseAddr("127.0.0.1")) {
		t.Fatal("trusted-proxy CIDR check")
	}
	if _, err := certs.NewProxyExtractor(certs.ProxyConfig{Format: certs.FormatXFCC}); err == nil {
		t.Fatal("proxy without trusted CIDRs accepted")
	}
}

func FuzzParseDN(f *testing.F) {
	for _, s := range []string{`CN=a,O=b`, `cn=a\,b+ou=c`, `CN=#0c0568656c6c6f`, `1.2.3=x`, `CN=\41`, `CN= a `, `O=`} {
		f.Add(s, `CN=a,O=b`)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		da, errA := certs.ParseDN(a)
		db, errB := certs.ParseDN(b)
		if errA != nil || errB != nil {
			return
		}
		if !da.Equal(da) {
			t.Fatalf("%q not equal to itself", a)
		}
		if da.Equal(db) != db.Equal(da) {
			t.Fatalf("Equal not symmetric for %q, %q", a, b)
		}
		// The canonical key (what per-connection matching compares) agrees with Equal.
		if (certs.DNKey(da) == certs.DNKey(db)) != da.Equal(db) {
			t.Fatalf("key and Equal disagree for %q, %q", a, b)
		}
	})
}

func FuzzMatchSAN(f *testing.F) {
	ca := testCA(f)
	c := issue(f, ca, certs.Leaf{CommonName: "x", DNSNames: []string{"a.example"}, URIs: []string{"spiffe://example.org/x"}, IPs: []net.IP{net.ParseIP("10.0.0.1")}, Emails: []string{"a@b.example"}, Client: true})
	for _, s := range []string{"a.example", "spiffe://example.org/x", "10.0.0.1", "a@b.example", "", "@", "::"} {
		for _, k := range []string{certs.SANDNS, certs.SANURI, certs.SANIP, certs.SANEmail} {
			f.Add(k, s)
		}
	}
	f.Fuzz(func(t *testing.T, kind, want string) {
		if certs.MatchSAN(c, kind, want) && want == "" {
			t.Fatal("empty value matched")
		}
	})
}

func FuzzProxyHeaders(f *testing.F) {
	ca := testCA(f)
	leaf := issue(f, ca, certs.Leaf{CommonName: "leaf", Client: true})
	f.Add(":"+base64.StdEncoding.EncodeToString(leaf.Raw)+":", `Cert="`+url.PathEscape(pemOf(leaf))+`"`, url.PathEscape(pemOf(leaf)))
	f.Add("::", `By=a;Cert=""`, "%")
	f.Add(":AAAA:;a=b", `a="\"",b`, "-----BEGIN CERTIFICATE-----")
	f.Fuzz(func(t *testing.T, rfc, xfcc, nginx string) {
		for _, got := range [][]*x509.Certificate{
			must(certs.ParseRFC9440(rfc, rfc)),
			must(certs.ParseXFCC(xfcc)),
			must(certs.ParseNginxEscaped(nginx)),
		} {
			for _, c := range got {
				if c == nil {
					t.Fatal("nil certificate returned without an error")
				}
			}
		}
	})
}

func must(c []*x509.Certificate, err error) []*x509.Certificate {
	if err != nil {
		return nil
	}
	return c
}
