package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

func selfSigned(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConnMemo: a connection derives its chain's Presented once, and never
// answers with another chain's.
func TestConnMemo(t *testing.T) {
	a, b := selfSigned(t, "a"), selfSigned(t, "b")
	ctx := ConnContext(context.Background(), nil)
	pa := connPresented(ctx, []*x509.Certificate{a})
	if again := connPresented(ctx, []*x509.Certificate{a}); again != pa {
		t.Error("the same chain on the same connection was derived twice")
	}
	pb := connPresented(ctx, []*x509.Certificate{b})
	if pb == pa || pb.Leaf() != b || pb.Subject != "CN=b" {
		t.Errorf("another chain got %+v", pb)
	}
	other := connPresented(ConnContext(context.Background(), nil), []*x509.Certificate{a})
	if other == pa {
		t.Error("connections share a memo")
	}
	if p := connPresented(context.Background(), []*x509.Certificate{a}); p == nil || p.Thumbprint != pa.Thumbprint {
		t.Error("without a memo the chain is still derived")
	}
}
