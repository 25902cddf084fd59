package certs_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/tokenbroker/tokenbroker/certs"
)

func ExampleNewCA() {
	ca, err := certs.NewCA("example client CA", time.Hour)
	if err != nil {
		panic(err)
	}
	certPEM, _, err := ca.Issue(certs.Leaf{CommonName: "payments", URIs: []string{"spiffe://example.org/ns/payments/sa/api"}, Client: true})
	if err != nil {
		panic(err)
	}
	leaf, _ := certs.ParseCertificatesPEM(certPEM)
	fmt.Println(leaf[0].URIs[0], certs.MatchSAN(leaf[0], certs.SANURI, "spiffe://example.org/ns/payments/sa/api"))
	// Output: spiffe://example.org/ns/payments/sa/api true
}

func ExampleParseDN() {
	dn, _ := certs.ParseDN(`CN=payments api,O=Example\, Inc.`)
	other, _ := certs.ParseDN(`cn=Payments  API, o=example\2C inc.`)
	fmt.Println(len(dn), dn.Equal(other))
	// Output: 2 true
}

func ExampleProxyExtractor_ClientAddr() {
	px, err := certs.NewProxyExtractor(certs.ProxyConfig{
		Format:  certs.FormatNginx,
		Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	if err != nil {
		panic(err)
	}
	// The client wrote "192.0.2.66"; nginx appended the address it saw.
	h := http.Header{"X-Forwarded-For": {"192.0.2.66, 198.51.100.17"}}
	fmt.Println(px.ClientAddr(netip.MustParseAddr("10.0.0.5"), h))    // from the proxy
	fmt.Println(px.ClientAddr(netip.MustParseAddr("203.0.113.9"), h)) // from anyone else: ignored
	// Output:
	// 198.51.100.17
	// 203.0.113.9
}
