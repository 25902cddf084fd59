package certs_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/certs"
)

// intermediateUnder returns a CA issued by root.
func intermediateUnder(t *testing.T, root *certs.CA) *certs.CA {
	t.Helper()
	k, err := certs.NewCA("intermediate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ip, ik, err := root.Issue(certs.Leaf{CommonName: "intermediate", IsCA: true, Key: k.Key})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := certs.LoadCA(ip, ik)
	if err != nil {
		t.Fatal(err)
	}
	return inter
}

// Operator intermediates complete a client's path to a root, and never end one.
func TestVerifyClientChainWithIntermediates(t *testing.T) {
	t.Parallel()
	root, other := testCA(t), testCA(t)
	inter := intermediateUnder(t, root)
	leaf := issue(t, inter, certs.Leaf{CommonName: "leaf", Client: true})
	pool := func(cs ...*x509.Certificate) *x509.CertPool {
		p := x509.NewCertPool()
		for _, c := range cs {
			p.AddCert(c)
		}
		return p
	}
	for _, tc := range []struct {
		name                string
		roots, intermediate *x509.CertPool
		chain               []*x509.Certificate
		ok                  bool
	}{
		{"leaf alone, completed by the operator's intermediate", pool(root.Cert), pool(inter.Cert), []*x509.Certificate{leaf}, true},
		{"leaf and intermediate presented", pool(root.Cert), pool(inter.Cert), []*x509.Certificate{leaf, inter.Cert}, true},
		{"the intermediate does not end a chain", pool(other.Cert), pool(inter.Cert), []*x509.Certificate{leaf}, false},
		{"the intermediate does not end a presented chain", pool(other.Cert), pool(inter.Cert), []*x509.Certificate{leaf, inter.Cert}, false},
		{"no roots at all", x509.NewCertPool(), pool(inter.Cert), []*x509.Certificate{leaf}, false},
		{"without operator intermediates the leaf alone fails", pool(root.Cert), nil, []*x509.Certificate{leaf}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := certs.VerifyClientChainWith(tc.chain, tc.roots, tc.intermediate, time.Now())
			if (err == nil) != tc.ok {
				t.Fatalf("verify: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
