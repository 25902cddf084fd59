package certs

import (
	"bytes"
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
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenbroker/tokenbroker/internal/refresh"
)

// Limits on CRL sources.
const (
	maxCRLSize      = 16 << 20
	crlFetchTimeout = 10 * time.Second
	crlMaxRefetch   = time.Hour
	crlMinRefetch   = time.Minute
	// maxCRLSlots bounds the issuers whose CRLs are tracked.
	maxCRLSlots = 1024
	// DefaultCRLGrace is how long past its nextUpdate a CRL is still used
	// without counting as stale: time for the issuer to publish the next one
	// and for the refetch (at most crlMaxRefetch apart) to pick it up.
	DefaultCRLGrace = time.Hour
)

// crl is one parsed revocation list.
type crl struct {
	list    *x509.RevocationList
	revoked map[string]bool // serial numbers (decimal)
	source  string
	slot    string // source, issuer name and authority key id
	// issuer verified the list's signature (set when it becomes the held list).
	issuer      *x509.Certificate
	staleWarned atomic.Bool
}

// crlSlot holds the lists of one issuer from one source: the newest whose
// signature verified, and the latest loads not verified yet (judged by the
// first Check that meets their issuer; several, so that a newer list is not
// displaced by an older or forged one before anyone could verify it).
type crlSlot struct {
	held    *crl
	pending []*crl
}

// maxPendingCRLs bounds a slot's unverified lists; the oldest loaded goes first.
const maxPendingCRLs = 4

// Errors of Check.
var (
	// ErrRevoked is returned for a certificate on a CRL of its issuer.
	ErrRevoked = errors.New("certificate revoked")
	// ErrStaleCRL is returned, when failing closed, for a certificate whose
	// issuer's CRL is past its nextUpdate plus the grace.
	ErrStaleCRL = errors.New("CRL stale")
)

// CRLSet checks certificates against revocation lists loaded from files
// (re-read when they change) and URLs (fetched with a timeout, refetched at
// nextUpdate, bounded to [1m, 1h]). A CRL is used only once its signature
// verifies against the certificate that issued the checked certificate.
//
// CRLs only move forward (RFC 5280 §5.2.3): per source and issuer, a list
// older than the one held — a lower CRL Number, or an equal or absent one
// and an earlier thisUpdate — is refused and the held one kept, so a
// replayed old list (CRLs travel over plain http) cannot un-revoke a
// certificate. A list past its nextUpdate plus a grace (DefaultCRLGrace) is
// stale: certificates of that issuer are refused (the default) or, with
// CRLFailClosed(false), accepted with a warning.
type CRLSet struct {
	files      []string
	urls       []string
	client     *http.Client
	log        *slog.Logger
	grace      time.Duration
	failClosed bool
	now        func() time.Time

	mu       sync.RWMutex
	slots    map[string]*crlSlot
	verified sync.Map // [sha256(crl)+sha256(issuer)] → bool

	fileStamp string
	nextFetch map[string]time.Time
	loop      *refresh.Loop
}

// CRLOption configures a CRLSet.
type CRLOption func(*CRLSet)

// CRLFailClosed decides what a stale CRL does: refuse the certificates of
// its issuer (true, the default: the operator asked for revocation checking,
// and OpenSSL, nginx and Envoy refuse on an expired CRL too) or only warn.
func CRLFailClosed(on bool) CRLOption { return func(s *CRLSet) { s.failClosed = on } }

// CRLInherit starts the set from the lists prev holds for sources the new
// set also reads, so that a configuration reload (a new CRLSet) never moves
// a source's CRL backwards: an old list replayed right after a reload is
// judged against the one held before it (RFC 5280 §5.2.3). prev may be nil.
func CRLInherit(prev *CRLSet) CRLOption {
	return func(s *CRLSet) {
		if prev == nil {
			return
		}
		sources := map[string]bool{}
		for _, src := range append(slices.Clone(s.files), s.urls...) {
			sources[src] = true
		}
		prev.mu.RLock()
		defer prev.mu.RUnlock()
		for k, sl := range prev.slots {
			if sl.held != nil && sources[sl.held.source] && len(s.slots) < maxCRLSlots {
				s.slots[k] = &crlSlot{held: sl.held}
			}
		}
	}
}

// CRLGrace sets how long past nextUpdate a CRL is still fresh (default DefaultCRLGrace).
func CRLGrace(d time.Duration) CRLOption { return func(s *CRLSet) { s.grace = d } }

// NewCRLSet loads every source once (a file that fails to load is an error;
// a URL that fails is logged and retried) and refreshes them every interval.
func NewCRLSet(ctx context.Context, files, urls []string, interval time.Duration, log *slog.Logger, opts ...CRLOption) (*CRLSet, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &CRLSet{files: files, urls: urls, log: log, slots: map[string]*crlSlot{}, nextFetch: map[string]time.Time{},
		client: &http.Client{Timeout: crlFetchTimeout}, grace: DefaultCRLGrace, failClosed: true, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if err := s.loadFiles(); err != nil {
		return nil, err
	}
	s.fetchDue(ctx)
	if len(files) > 0 || len(urls) > 0 {
		// The loop outlives the constructor's context (a start-up deadline).
		s.loop = refresh.Every(context.WithoutCancel(ctx), interval, s.tick)
	}
	return s, nil
}

// tick is one background refresh: files when changed, URLs when due.
func (s *CRLSet) tick(ctx context.Context) {
	if err := s.loadFiles(); err != nil {
		s.log.Warn("CRL files: reload failed; keeping the previous lists", "err", err)
	}
	fctx, cancel := context.WithTimeout(ctx, crlFetchTimeout)
	s.fetchDue(fctx)
	cancel()
}

// Refresh re-reads the CRL files (when changed) and refetches URLs that are due.
func (s *CRLSet) Refresh(ctx context.Context) error {
	err := s.loadFiles()
	s.fetchDue(ctx)
	return err
}

// Close stops refreshing; safe to call twice.
func (s *CRLSet) Close() error {
	s.loop.Stop()
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
	same := stamp == s.fileStamp && stamp != ""
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
	s.verified.Clear() // bounded: only the current lists' checks are kept
	for _, c := range lists {
		s.offer(c)
	}
	s.mu.Lock()
	s.fileStamp = stamp
	s.mu.Unlock()
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
	c := &crl{list: l, revoked: make(map[string]bool, len(l.RevokedCertificateEntries)), source: source,
		slot: source + "\x00" + string(l.RawIssuer) + "\x00" + string(l.AuthorityKeyId)}
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
		s.nextFetch[u] = next
		s.mu.Unlock()
		s.verified.Clear()
		s.offer(c)
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

// offer makes c the pending list of its slot. When the held list's issuer
// is known, c is judged at once; otherwise at the first Check that meets
// its issuer.
func (s *CRLSet) offer(c *crl) {
	s.mu.Lock()
	slot := s.slots[c.slot]
	if slot == nil {
		if len(s.slots) >= maxCRLSlots && !s.evictUnverified() {
			s.mu.Unlock()
			s.log.Warn("CRL: too many issuers; list ignored", "source", c.source, "max", maxCRLSlots)
			return
		}
		slot = &crlSlot{}
		s.slots[c.slot] = slot
	}
	if slot.held != nil && bytes.Equal(slot.held.list.Raw, c.list.Raw) {
		s.mu.Unlock()
		return // the list held, again
	}
	for _, p := range slot.pending {
		if bytes.Equal(p.list.Raw, c.list.Raw) {
			s.mu.Unlock()
			return
		}
	}
	if len(slot.pending) >= maxPendingCRLs {
		slot.pending = slices.Delete(slot.pending, 0, 1)
	}
	slot.pending = append(slot.pending, c)
	var issuer *x509.Certificate
	if slot.held != nil {
		issuer = slot.held.issuer
	}
	s.mu.Unlock()
	if issuer != nil && !s.resolve(slot, c, issuer) {
		s.log.Warn("CRL not signed by the issuer of the list held; keeping the held one", "source", c.source)
	}
}

// evictUnverified drops one slot that never held a verified list (s.mu held).
func (s *CRLSet) evictUnverified() bool {
	for k, sl := range s.slots {
		if sl.held == nil {
			delete(s.slots, k)
			return true
		}
	}
	return false
}

// resolve promotes c, a pending list of slot, to held when issuer signed
// it and it is not older than the held list; an older one is refused. It
// reports whether issuer signed c.
func (s *CRLSet) resolve(slot *crlSlot, c *crl, issuer *x509.Certificate) bool {
	if !s.signedBy(c, issuer) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(slot.pending, c)
	if i < 0 {
		return true // judged meanwhile
	}
	slot.pending = slices.Delete(slot.pending, i, i+1)
	if h := slot.held; h != nil && crlOlder(c.list, h.list) {
		s.log.Warn("CRL older than the one held refused; keeping the held one (RFC 5280 §5.2.3)", "source", c.source,
			"number", c.list.Number, "this_update", c.list.ThisUpdate, "held_number", h.list.Number, "held_this_update", h.list.ThisUpdate)
		return true
	}
	c.issuer = issuer
	slot.held = c
	return true
}

// crlOlder reports whether a was issued before b: a lower CRL Number
// (RFC 5280 §5.2.3: monotonically increasing per issuer) or, when the
// numbers are equal or either is absent, an earlier thisUpdate.
func crlOlder(a, b *x509.RevocationList) bool {
	if a.Number != nil && b.Number != nil {
		if c := a.Number.Cmp(b.Number); c != 0 {
			return c < 0
		}
	}
	return a.ThisUpdate.Before(b.ThisUpdate)
}

// Check returns ErrRevoked when any certificate of the verified chain (leaf
// … anchor) appears on a CRL signed by its issuer, and ErrStaleCRL when that
// CRL is stale and the set fails closed.
func (s *CRLSet) Check(chain []*x509.Certificate) error {
	if s == nil {
		return nil
	}
	now := s.now()
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		for _, slot := range s.slotsOf(issuer) {
			s.mu.RLock()
			pending := slices.Clone(slot.pending)
			s.mu.RUnlock()
			for _, p := range pending {
				if string(p.list.RawIssuer) == string(issuer.RawSubject) {
					s.resolve(slot, p, issuer)
				}
			}
			s.mu.RLock()
			c := slot.held
			s.mu.RUnlock()
			if c == nil || string(c.list.RawIssuer) != string(issuer.RawSubject) || !s.signedBy(c, issuer) {
				continue
			}
			if c.revoked[cert.SerialNumber.String()] {
				return fmt.Errorf("%w: serial %s on %s", ErrRevoked, cert.SerialNumber, c.source)
			}
			if next := c.list.NextUpdate; !next.IsZero() && now.After(next.Add(s.grace)) {
				if s.failClosed {
					return fmt.Errorf("%w: the CRL of %q from %s was due at %s (grace %s)", ErrStaleCRL,
						issuer.Subject.CommonName, c.source, next.UTC().Format(time.RFC3339), s.grace)
				}
				if !c.staleWarned.Swap(true) {
					s.log.Warn("CRL stale; certificates of its issuer still accepted (the CRL set fails open)",
						"source", c.source, "issuer", issuer.Subject.String(), "next_update", next)
				}
			}
		}
	}
	return nil
}

// slotsOf returns the slots holding lists named for issuer.
func (s *CRLSet) slotsOf(issuer *x509.Certificate) []*crlSlot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*crlSlot
	for _, sl := range s.slots {
		c := sl.held
		if c == nil && len(sl.pending) > 0 {
			c = sl.pending[0]
		}
		// A slot's lists all carry the issuer name it is keyed by.
		if c != nil && string(c.list.RawIssuer) == string(issuer.RawSubject) {
			out = append(out, sl)
		}
	}
	return out
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
