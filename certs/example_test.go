package certs_test

import (
	"fmt"
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
