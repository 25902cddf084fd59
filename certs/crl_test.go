package certs_test

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/certs"
)

// signedCRL is a CRL by ca with the given number and times.
func signedCRL(t *testing.T, ca *certs.CA, number int64, thisUpdate, nextUpdate time.Time, revoked ...*big.Int) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: thisUpdate, NextUpdate: nextUpdate}
	for _, s := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// crlSource serves CRLs to a CRLSet from a file or an http URL; put
// replaces the list and makes the set load it.
type crlSource struct {
	set *certs.CRLSet
	put func(crl []byte)
}

func newCRLSource(t *testing.T, kind string, first []byte, log *slog.Logger, opts ...certs.CRLOption) crlSource {
	t.Helper()
	var (
		mu      sync.Mutex
		current = first
		files   []string
		urls    []string
		loads   int
		path    = filepath.Join(t.TempDir(), "ca.crl")
	)
	write := func(b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		loads++ // a distinct mtime per write, so the reload sees the change
		mt := time.Now().Add(time.Duration(loads) * time.Second)
		os.Chtimes(path, mt, mt)
	}
	switch kind {
	case "file":
		write(first)
		files = []string{path}
	case "url":
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			w.Write(current)
		}))
		t.Cleanup(srv.Close)
		urls = []string{srv.URL + "/ca.crl"}
	}
	set, err := certs.NewCRLSet(t.Context(), files, urls, 0, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	return crlSource{set: set, put: func(b []byte) {
		mu.Lock()
		current = b
		mu.Unlock()
		if kind == "file" {
			write(b)
		}
		certs.RefetchNow(set)
		if err := set.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
	}}
}

// RFC 5280 §5.2.3: CRL numbers only grow. An older CRL — replayed over
// plain http, or an old file put back — must not replace a newer one and
// so un-revoke a certificate; a newer one is always taken.
func TestCRLNeverMovesBackwards(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	leaf := issue(t, ca, certs.Leaf{CommonName: "leaf", Client: true})
	chain := []*x509.Certificate{leaf, ca.Cert}
	now := time.Now()
	next := now.Add(24 * time.Hour)
	older := signedCRL(t, ca, 1, now.Add(-2*time.Hour), next)                                 // before the revocation
	revoking := signedCRL(t, ca, 2, now.Add(-time.Hour), next, leaf.SerialNumber)             // the current list
	sameNumberEarlier := signedCRL(t, ca, 2, now.Add(-90*time.Minute), next)                  // number reused, earlier thisUpdate
	newer := signedCRL(t, ca, 3, now.Add(-time.Minute), next)                                 // the revocation lifted (a hold released)
	sameNumberLater := signedCRL(t, ca, 2, now.Add(-30*time.Minute), next, leaf.SerialNumber) // re-signed, same number
	for _, kind := range []string{"file", "url"} {
		for _, tc := range []struct {
			name        string
			sequence    [][]byte
			checkEach   bool // a Check between loads (the held list's issuer is then known)
			wantRevoked bool
		}{
			{"lower number", [][]byte{revoking, older}, true, true},
			{"lower number, no check in between", [][]byte{revoking, older}, false, true},
			{"equal number, earlier thisUpdate", [][]byte{revoking, sameNumberEarlier}, true, true},
			{"equal number, earlier thisUpdate, no check in between", [][]byte{revoking, sameNumberEarlier}, false, true},
			{"older then newer", [][]byte{older, revoking}, true, true},
			{"older then newer, no check in between", [][]byte{older, revoking}, false, true},
			{"equal number, later thisUpdate", [][]byte{older, sameNumberLater}, true, true},
			{"higher number", [][]byte{revoking, newer}, true, false},
			{"higher number, then the older ones replayed", [][]byte{revoking, newer, revoking, older}, true, false},
		} {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				src := newCRLSource(t, kind, tc.sequence[0], nil)
				for _, b := range tc.sequence[1:] {
					if tc.checkEach {
						src.set.Check(chain)
					}
					src.put(b)
				}
				err := src.set.Check(chain)
				if tc.wantRevoked && !errors.Is(err, certs.ErrRevoked) {
					t.Fatalf("revocation lost: %v", err)
				}
				if !tc.wantRevoked && err != nil {
					t.Fatalf("newer CRL not taken: %v", err)
				}
			})
		}
	}
}

// A CRL past nextUpdate plus the grace is stale: by default certificates of
// its issuer are refused; with CRLFailClosed(false) they pass with a warning.
func TestStaleCRL(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	leaf := issue(t, ca, certs.Leaf{CommonName: "leaf", Client: true})
	chain := []*x509.Certificate{leaf, ca.Cert}
	now := time.Now()
	stale := signedCRL(t, ca, 5, now.Add(-3*time.Hour), now.Add(-certs.DefaultCRLGrace-time.Minute))
	inGrace := signedCRL(t, ca, 6, now.Add(-2*time.Hour), now.Add(-certs.DefaultCRLGrace+10*time.Minute))
	for _, kind := range []string{"file", "url"} {
		t.Run(kind, func(t *testing.T) {
			if err := newCRLSource(t, kind, stale, nil).set.Check(chain); !errors.Is(err, certs.ErrStaleCRL) {
				t.Fatalf("stale CRL, failing closed by default: %v", err)
			}
			if err := newCRLSource(t, kind, inGrace, nil).set.Check(chain); err != nil {
				t.Fatalf("CRL within the grace: %v", err)
			}
			if err := newCRLSource(t, kind, stale, nil, certs.CRLGrace(2*time.Hour)).set.Check(chain); err != nil {
				t.Fatalf("CRL within a longer grace: %v", err)
			}
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			src := newCRLSource(t, kind, stale, log, certs.CRLFailClosed(false))
			if err := src.set.Check(chain); err != nil {
				t.Fatalf("stale CRL, warning only: %v", err)
			}
			if !strings.Contains(logs.String(), "CRL stale") {
				t.Fatalf("no warning logged:\n%s", logs.String())
			}
			// A stale list still revokes.
			src.put(signedCRL(t, ca, 7, now.Add(-3*time.Hour), now.Add(-2*time.Hour), leaf.SerialNumber))
			if err := src.set.Check(chain); !errors.Is(err, certs.ErrRevoked) {
				t.Fatalf("stale CRL, warning only, revoked leaf: %v", err)
			}
		})
	}
}

// A reload builds a new CRLSet; with CRLInherit it starts from the lists the
// old set held, so an old CRL put back (or replayed over http) just before
// the reload cannot un-revoke a certificate. Without it the new set would
// take the old list as its first.
func TestCRLInheritAcrossReload(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	leaf := issue(t, ca, certs.Leaf{CommonName: "leaf", Client: true})
	chain := []*x509.Certificate{leaf, ca.Cert}
	now := time.Now()
	older := signedCRL(t, ca, 1, now.Add(-2*time.Hour), now.Add(24*time.Hour))
	revoking := signedCRL(t, ca, 2, now.Add(-time.Hour), now.Add(24*time.Hour), leaf.SerialNumber)
	path := filepath.Join(t.TempDir(), "ca.crl")
	if err := os.WriteFile(path, revoking, 0o600); err != nil {
		t.Fatal(err)
	}
	first, err := certs.NewCRLSet(t.Context(), []string{path}, nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := first.Check(chain); !errors.Is(err, certs.ErrRevoked) {
		t.Fatalf("first set: %v", err)
	}
	if err := os.WriteFile(path, older, 0o600); err != nil { // the old list put back
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		opts    []certs.CRLOption
		revoked bool
	}{
		{"inherited", []certs.CRLOption{certs.CRLInherit(first)}, true},
		{"inherited from nil", []certs.CRLOption{certs.CRLInherit(nil)}, false},
		{"fresh", nil, false}, // what a reload did before: the old list wins
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, err := certs.NewCRLSet(t.Context(), []string{path}, nil, 0, nil, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer next.Close()
			if err := next.Check(chain); errors.Is(err, certs.ErrRevoked) != tc.revoked {
				t.Fatalf("after the reload: %v, want revoked=%v", err, tc.revoked)
			}
		})
	}
	// A source the new configuration no longer reads is not inherited.
	other := filepath.Join(t.TempDir(), "other.crl")
	if err := os.WriteFile(other, older, 0o600); err != nil {
		t.Fatal(err)
	}
	next, err := certs.NewCRLSet(t.Context(), []string{other}, nil, 0, nil, certs.CRLInherit(first))
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if err := next.Check(chain); err != nil {
		t.Fatalf("a dropped source's list was inherited: %v", err)
	}
}
