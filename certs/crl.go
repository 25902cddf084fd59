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
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenbroker/tokenbroker/internal/httpget"
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
	// digest is the SHA-256 of the raw list, taken once at parse: the
	// signature memo's key, so a lookup never rehashes a multi-MB list.
	digest [sha256.Size]byte
	seq    uint64 // load order: the pending budget drops the oldest first
	// issuer verified the list's signature (set when it becomes the held list).
	issuer      *x509.Certificate
	staleWarned atomic.Bool
}

// crlSlot holds the lists of one issuer from one source: the newest whose
// signature verified, and the latest loads not verified yet (judged by the
// first Check that meets their issuer; several, so that a newer list is not
// displaced by an older or forged one before anyone could verify it).
type crlSlot struct {
	source  string
	held    *crl
	pending []*crl
}

// Bounds on unverified lists: per slot the oldest loaded goes first; over
// the byte budget (all slots) the oldest of the same source, then any.
const (
	maxPendingCRLs     = 4
	maxPendingCRLBytes = 32 << 20
	// maxVerifyMemo bounds the signature memo; it is cleared when full.
	maxVerifyMemo = 4096
)

// Errors of Check.
var (
	// ErrRevoked is returned for a certificate on a CRL of its issuer.
	ErrRevoked = errors.New("certificate revoked")
	// ErrStaleCRL is returned, when failing closed, for a certificate whose
	// issuer's CRL is past its nextUpdate plus the grace.
	ErrStaleCRL = errors.New("CRL stale")
	// ErrNoCRL is returned, when failing closed, while a configured CRL
	// source has never produced a usable list (never loaded, or every list
	// it served failed to verify against its issuer).
	ErrNoCRL = errors.New("CRL source never loaded")
)

// CRLSet checks certificates against revocation lists loaded from files
// (re-read when they change) and URLs (fetched with a timeout, refetched at
// nextUpdate, bounded to [1m, 1h]). A CRL is used only once its signature
// verifies against the certificate that issued the checked certificate.
//
// CRLs only move forward (RFC 5280 §5.2.3): per source and issuer, a list
// older than the newest verified — a lower CRL Number, or an equal or
// absent one and an earlier thisUpdate — is refused and the held one kept,
// so a replayed old list (CRLs travel over plain http) cannot un-revoke a
// certificate for the life of the set and, with CRLInherit, across reloads;
// not across a restart (nothing is persisted). A list that names an issuer
// but fails its signature check is dropped; unverified lists are bounded
// (one issuer per source, maxPendingCRLBytes in all). A list past its
// nextUpdate plus a grace (DefaultCRLGrace) is stale, judged on the newest
// list of the issuer over all sources: certificates of that issuer are
// refused (the default) or, with CRLFailClosed(false), accepted with a
// warning. Failing closed also refuses every certificate (ErrNoCRL) while a
// configured source has produced no usable list.
type CRLSet struct {
	files      []string
	urls       []string
	client     *http.Client
	log        *slog.Logger
	grace      time.Duration
	failClosed bool
	now        func() time.Time

	mu    sync.RWMutex
	slots map[string]*crlSlot
	// marks is the newest verified list (number and thisUpdate only) per
	// slot key; it outlives its slot, so ordering survives a slot's drop.
	marks map[string]crlMark
	// serving is the slot keys of each source's last successful load.
	serving map[string][]string
	// proven is the sources that produced a list that verified.
	proven       map[string]bool
	pendingBytes int
	seq          uint64

	verified  sync.Map // [sha256(crl)+sha256(issuer)] → bool
	memoSize  atomic.Int64
	noCRLWarn sync.Map // source → logged

	fileStamp string
	nextFetch map[string]time.Time
	loop      *refresh.Loop
}

// CRLOption configures a CRLSet.
type CRLOption func(*CRLSet)

// CRLFailClosed decides what a stale CRL does: refuse the certificates of
// its issuer (true, the default: the operator asked for revocation checking,
// and OpenSSL, nginx and Envoy refuse on an expired CRL too) or only warn.
// Failing closed also refuses every certificate while a configured source
// has never produced a usable list: until it loads, its issuer is unknown.
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
			if sl.held != nil && sources[sl.source] && len(s.slots) < maxCRLSlots {
				s.slots[k] = &crlSlot{source: sl.source, held: sl.held}
				s.proven[sl.source] = true
			}
		}
		for k, m := range prev.marks {
			if sources[m.source] {
				s.marks[k] = m
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
		marks: map[string]crlMark{}, serving: map[string][]string{}, proven: map[string]bool{},
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
	serving := map[string][]string{}
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
		for _, c := range ls {
			serving[p] = append(serving[p], c.slot)
		}
	}
	for _, c := range lists {
		s.offer(c)
	}
	s.mu.Lock()
	s.fileStamp = stamp
	for p, keys := range serving {
		s.serving[p] = keys
	}
	s.pruneLocked()
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
		slot: source + "\x00" + string(l.RawIssuer) + "\x00" + string(l.AuthorityKeyId), digest: sha256.Sum256(l.Raw)}
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
		s.offer(c)
		s.mu.Lock()
		s.serving[u] = []string{c.slot}
		s.pruneLocked()
		s.mu.Unlock()
	}
}

func (s *CRLSet) fetch(ctx context.Context, u string) (*crl, error) {
	b, err := httpget.Get(ctx, s.client, u, maxCRLSize)
	if err != nil {
		return nil, err
	}
	ls, err := parseCRLs(b, u)
	if err != nil {
		return nil, err
	}
	return ls[0], nil
}
