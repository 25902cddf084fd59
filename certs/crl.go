package certs

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"
)

// Limits on CRL sources.
const (
	maxCRLSize      = 16 << 20
	crlFetchTimeout = 10 * time.Second
	crlMaxRefetch   = time.Hour
	crlMinRefetch   = time.Minute
)

// crl is one parsed revocation list.
type crl struct {
	list    *x509.RevocationList
	revoked map[string]bool // serial numbers (decimal)
	source  string
}

// CRLSet checks certificates against revocation lists loaded from files
// (re-read when they change) and URLs (fetched with a timeout, refetched at
// nextUpdate, bounded to [1m, 1h]). A CRL is used only once its signature
// verifies against the certificate that issued the checked certificate.
type CRLSet struct {
	files  []string
	urls   []string
	client *http.Client
	log    *slog.Logger

	mu       sync.RWMutex
	fromFile []*crl
	fromURL  map[string]*crl
	verified sync.Map // [sha256(crl)+sha256(issuer)] → bool

	fileStamp string
	nextFetch map[string]time.Time
	stop      chan struct{}
	once      sync.Once
	wg        sync.WaitGroup
}

// NewCRLSet loads every source once (a file that fails to load is an error;
// a URL that fails is logged and retried) and refreshes them every interval.
func NewCRLSet(ctx context.Context, files, urls []string, interval time.Duration, log *slog.Logger) (*CRLSet, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &CRLSet{files: files, urls: urls, log: log, fromURL: map[string]*crl{}, nextFetch: map[string]time.Time{}, stop: make(chan struct{}),
		client: &http.Client{Timeout: crlFetchTimeout}}
	if err := s.loadFiles(); err != nil {
		return nil, err
	}
	s.fetchDue(ctx)
	if interval > 0 && (len(files) > 0 || len(urls) > 0) {
		s.wg.Go(func() {
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-s.stop:
					return
				case <-t.C:
					if err := s.loadFiles(); err != nil {
						s.log.Warn("CRL files: reload failed; keeping the previous lists", "err", err)
					}
					fctx, cancel := context.WithTimeout(context.Background(), crlFetchTimeout)
					s.fetchDue(fctx)
					cancel()
				}
			}
		})
	}
	return s, nil
}

// Refresh re-reads the CRL files (when changed) and refetches URLs that are due.
func (s *CRLSet) Refresh(ctx context.Context) error {
	err := s.loadFiles()
	s.fetchDue(ctx)
	return err
}

// Close stops refreshing; safe to call twice.
func (s *CRLSet) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	return nil
}

func (s *CRLSet) loadFiles() error {
	var b []byte
	stamp := ""
	for _, p := range s.files {
		if fi, err := os.Stat(p); err == nil {
			stamp += fmt.Sprintf("%s:%d:%d;", p, fi.ModTime().UnixNano(), fi.Size())
		}
	}
	s.mu.RLock()
	same := stamp == s.fileStamp && s.fromFile != nil
	s.mu.RUnlock()
	if same {
		return nil
	}
	var lists []*crl
	for _, p := range s.files {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("crl %s: %w", p, err)
		}
		b, err = io.ReadAll(io.LimitReader(f, maxCRLSize+1))
		f.Close()
		if err != nil || len(b) > maxCRLSize {
			return fmt.Errorf("crl %s: unreadable or larger than %d bytes", p, maxCRLSize)
		}
		ls, err := parseCRLs(b, p)
		if err != nil {
			return err
		}
		lists = append(lists, ls...)
	}
	s.mu.Lock()
	s.fromFile, s.fileStamp = lists, stamp
	s.mu.Unlock()
	s.verified.Clear() // bounded: only the current lists' checks are kept
	return nil
}

// parseCRLs accepts PEM (one or more "X509 CRL" blocks) or a single DER CRL.
func parseCRLs(b []byte, source string) ([]*crl, error) {
	var out []*crl
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "X509 CRL" {
			continue
		}
		c, err := parseCRL(blk.Bytes, source)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if out == nil {
		c, err := parseCRL(b, source)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func parseCRL(der []byte, source string) (*crl, error) {
	l, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("crl %s: %w", source, err)
	}
	c := &crl{list: l, revoked: make(map[string]bool, len(l.RevokedCertificateEntries)), source: source}
	for _, e := range l.RevokedCertificateEntries {
		c.revoked[e.SerialNumber.String()] = true
	}
	return c, nil
}

func (s *CRLSet) fetchDue(ctx context.Context) {
	now := time.Now()
	for _, u := range s.urls {
		s.mu.RLock()
		due := now.After(s.nextFetch[u])
		s.mu.RUnlock()
		if !due {
			continue
		}
		c, err := s.fetch(ctx, u)
		s.mu.Lock()
		if err != nil {
			s.nextFetch[u] = now.Add(crlMinRefetch)
			s.mu.Unlock()
			s.log.Warn("CRL fetch failed; keeping the previous list", "url", u, "err", err)
			continue
		}
		next := c.list.NextUpdate
		if next.IsZero() || next.Sub(now) > crlMaxRefetch {
			next = now.Add(crlMaxRefetch)
		} else if next.Sub(now) < crlMinRefetch {
			next = now.Add(crlMinRefetch)
		}
		s.fromURL[u], s.nextFetch[u] = c, next
		s.mu.Unlock()
		s.verified.Clear()
	}
}

func (s *CRLSet) fetch(ctx context.Context, u string) (*crl, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCRLSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCRLSize {
		return nil, fmt.Errorf("larger than %d bytes", maxCRLSize)
	}
	ls, err := parseCRLs(b, u)
	if err != nil {
		return nil, err
	}
	return ls[0], nil
}

// ErrRevoked is returned for a certificate on a CRL of its issuer.
var ErrRevoked = errors.New("certificate revoked")

// Check returns ErrRevoked when any certificate of the verified chain (leaf
// … anchor) appears on a CRL signed by its issuer.
func (s *CRLSet) Check(chain []*x509.Certificate) error {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	lists := make([]*crl, 0, len(s.fromFile)+len(s.fromURL))
	lists = append(lists, s.fromFile...)
	for _, c := range s.fromURL {
		lists = append(lists, c)
	}
	s.mu.RUnlock()
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		for _, c := range lists {
			if string(c.list.RawIssuer) != string(issuer.RawSubject) || !s.signedBy(c, issuer) {
				continue
			}
			if c.revoked[cert.SerialNumber.String()] {
				return fmt.Errorf("%w: serial %s on %s", ErrRevoked, cert.SerialNumber, c.source)
			}
		}
	}
	return nil
}

// signedBy memoizes CRL signature checks: one verification per (CRL, issuer).
func (s *CRLSet) signedBy(c *crl, issuer *x509.Certificate) bool {
	a, b := sha256.Sum256(c.list.Raw), sha256.Sum256(issuer.Raw)
	key := string(a[:]) + string(b[:])
	if v, ok := s.verified.Load(key); ok {
		return v.(bool)
	}
	ok := c.list.CheckSignatureFrom(issuer) == nil
	s.verified.Store(key, ok)
	return ok
}
