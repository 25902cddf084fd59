package bench

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/cmd/internal/clientcli"
)

// benchFlags are the load tool's flags.
type benchFlags struct {
	isf        clientcli.IssuerFlags
	cf         clientcli.CredFlags
	duration   time.Duration
	conc       int
	rate       float64
	newConn    bool
	h2         bool
	admin      string
	cpuProfile string
	dpop       bool
	jwtSVID    bool
}

func (f *benchFlags) register(fs *flag.FlagSet) {
	f.isf.Register(fs)
	f.cf.Register(fs)
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to run (bounded: at most 30m)")
	fs.IntVar(&f.conc, "concurrency", 32, "concurrent requesters (closed loop) / connections (both loops)")
	fs.Float64Var(&f.rate, "rate", 0, "open loop: requests per second (0: closed loop)")
	fs.BoolVar(&f.newConn, "new-conn", false, "a fresh TCP and TLS handshake for every request")
	fs.BoolVar(&f.h2, "http2", false, "HTTP/2 (requests multiplexed on --concurrency connections) instead of HTTP/1.1")
	fs.StringVar(&f.admin, "admin", "", "the broker's admin `URL` (e.g. http://127.0.0.1:9090), to report server CPU per token")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write the load tool's own CPU profile to `FILE`")
	fs.BoolVar(&f.dpop, "dpop", false, "DPoP mode: a fresh RFC 9449 proof (ephemeral P-256 key) with every request, for DPoP-bound tokens")
	fs.BoolVar(&f.jwtSVID, "jwt-svid", false, "with --key: a fresh JWT-SVID per request (spiffe_jwt; --client-id is its SPIFFE ID, --kid the trust domain's key id)")
}

// Run is the load tool: it parses args (its flags), drives a broker's token
// endpoint and reports tokens/s, latency percentiles and (with --admin) the
// server's CPU time per token on stdout. Closed loop by default
// (--concurrency workers back to back); --rate makes it open loop,
// measuring latency from each request's scheduled time (no coordinated
// omission).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tokenbroker-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tokenbroker-bench --client-id ID (--secret-file F | --key F | --cert F --cert-key F) [--dpop] [--duration D] [--concurrency N] [--rate R] [--new-conn] [--http2] [--admin URL]")
		fs.PrintDefaults()
	}
	var f benchFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return f.run(ctx, stdout)
}

// run is one load run: requests built and sent as the flags say, then the report.
func (f *benchFlags) run(ctx context.Context, stdout io.Writer) error {
	cr, err := f.cf.Load()
	if err != nil {
		return err
	}
	if f.duration > 30*time.Minute || f.duration <= 0 {
		return errors.New("--duration must be between 0 and 30m")
	}
	roots, err := f.isf.Roots()
	if err != nil {
		return err
	}
	tokenURL := strings.TrimSuffix(f.isf.Issuer, "/") + broker.PathToken
	target, err := url.Parse(tokenURL)
	if err != nil {
		return err
	}
	tlsCfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	mk, err := f.requests(cr, target, tlsCfg)
	if err != nil {
		return err
	}
	if f.dpop {
		if mk, err = withDPoP(mk, tokenURL); err != nil {
			return err
		}
	}
	send, closeSend := f.sender(ctx, tokenURL, tlsCfg)
	defer closeSend()
	// The tool's own pauses would count as the server's latency: collect
	// garbage less often (the run is bounded) and size the record up front.
	defer debug.SetGCPercent(debug.SetGCPercent(800))
	cpu0, _ := serverCPU(f.admin)
	rec := newBenchRecord(f.rate, f.duration)
	start := time.Now()
	f.drive(ctx, func(scheduled time.Time) { rec.do(mk, send, scheduled) })
	elapsed := time.Since(start)
	cpu1, cpuErr := serverCPU(f.admin)
	rec.report(stdout, f, tokenURL, elapsed)
	if f.admin != "" && cpuErr == nil && rec.okN.Load() > 0 {
		fmt.Fprintf(stdout, "  server CPU per token: %.1f µs\n", (cpu1-cpu0)*1e6/float64(rec.okN.Load()))
	}
	return nil
}

// requests returns the function that builds one token request for the
// credential given (a client certificate goes into tlsCfg).
func (f *benchFlags) requests(cr *clientcli.Creds, target *url.URL, tlsCfg *tls.Config) (func() (*http.Request, error), error) {
	clientID := f.cf.ClientID
	// post builds a token request without re-parsing the URL each time.
	post := func(body string) (*http.Request, error) {
		return &http.Request{Method: http.MethodPost, URL: target, Host: target.Host, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
			GetBody: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }}, nil
	}
	switch {
	case cr.Secret != "":
		secret := cr.Secret
		return func() (*http.Request, error) {
			r, err := post("grant_type=client_credentials")
			if err == nil {
				r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
			}
			return r, err
		}, nil
	case cr.Key != nil && f.jwtSVID:
		return func() (*http.Request, error) {
			a, err := signJWTSVID(cr.Key, cr.KID, clientID, f.isf.Issuer)
			if err != nil {
				return nil, err
			}
			form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {authn.SPIFFEAssertionType}, "client_assertion": {a}}
			return post(form.Encode())
		}, nil
	case cr.Key != nil:
		return func() (*http.Request, error) {
			a, err := clientcli.SignAssertion(cr.Key, jose.ES256, cr.KID, clientID, f.isf.Issuer, time.Minute)
			if err != nil {
				return nil, err
			}
			form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {authn.AssertionType}, "client_assertion": {a}}
			return post(form.Encode())
		}, nil
	case cr.Cert != nil:
		tlsCfg.Certificates = []tls.Certificate{*cr.Cert}
		body := "grant_type=client_credentials&client_id=" + url.QueryEscape(clientID)
		return func() (*http.Request, error) { return post(body) }, nil
	}
	return nil, errors.New("give --secret-file, --key or --cert/--cert-key")
}

// withDPoP adds a fresh DPoP proof (RFC 9449 §4.2) to every request mk
// builds, signed by one ephemeral P-256 key: each proof costs the tool one
// ES256 signature, and the broker one more verification per token.
func withDPoP(mk func() (*http.Request, error), tokenURL string) (func() (*http.Request, error), error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	p, err := dpop.NewProver(k)
	if err != nil {
		return nil, err
	}
	return func() (*http.Request, error) {
		r, err := mk()
		if err != nil {
			return nil, err
		}
		proof, err := p.Proof(http.MethodPost, tokenURL, "", "")
		if err != nil {
			return nil, err
		}
		r.Header.Set(dpop.HeaderName, proof)
		return r, nil
	}, nil
}

// sender returns how requests are sent, and how to release its connections.
func (f *benchFlags) sender(ctx context.Context, tokenURL string, tlsCfg *tls.Config) (func(*http.Request) (int, error), func()) {
	if !f.newConn && !f.h2 {
		// Keep-alive HTTP/1.1: a lean client (one goroutine-free connection
		// per request in flight) so the tool's own overhead stays small
		// next to the server's.
		pool := newConnPool(ctx, tokenURL, tlsCfg, f.conc)
		return pool.send, pool.close
	}
	// At most --concurrency connections, in both loops: an open loop queues
	// for a connection (and the wait counts in the latency) instead of
	// opening thousands of new ones.
	tr := &http.Transport{TLSClientConfig: tlsCfg, DisableKeepAlives: f.newConn, MaxIdleConnsPerHost: f.conc, MaxConnsPerHost: f.conc, ForceAttemptHTTP2: f.h2}
	if f.newConn {
		tlsCfg.ClientSessionCache = nil // and no session resumption: a full handshake each time
	}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return func(req *http.Request) (int, error) {
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}, tr.CloseIdleConnections
}

// drive calls do for --duration: on schedule at --rate (open loop), or
// from --concurrency workers back to back (closed loop).
func (f *benchFlags) drive(ctx context.Context, do func(scheduled time.Time)) {
	ctx, cancel := context.WithTimeout(ctx, f.duration)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	if f.rate <= 0 {
		for range f.conc {
			wg.Go(func() {
				for ctx.Err() == nil {
					do(time.Now())
				}
			})
		}
		return
	}
	interval := time.Duration(float64(time.Second) / f.rate)
	sem := make(chan struct{}, 4096)
	for next := time.Now(); ctx.Err() == nil; next = next.Add(interval) {
		waitUntil(ctx, next)
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() { do(next); <-sem })
	}
}

// benchRecord is what a run measured.
type benchRecord struct {
	open      bool // open loop: lags are recorded
	mu        sync.Mutex
	latencies []time.Duration
	lags      []time.Duration // open loop: how late the tool itself sent each request
	okN, errN atomic.Int64
	statuses  sync.Map
}

func newBenchRecord(rate float64, d time.Duration) *benchRecord {
	r := &benchRecord{open: rate > 0}
	if r.open {
		r.latencies = make([]time.Duration, 0, min(int(rate*d.Seconds())+1, 50_000_000))
		r.lags = make([]time.Duration, 0, cap(r.latencies))
	}
	return r
}

// do sends one request scheduled at scheduled and records the outcome.
func (r *benchRecord) do(mk func() (*http.Request, error), send func(*http.Request) (int, error), scheduled time.Time) {
	req, err := mk()
	if err != nil {
		r.errN.Add(1)
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	lag := time.Since(scheduled)
	status, err := send(req)
	lat := time.Since(scheduled)
	if err != nil {
		r.errN.Add(1)
		r.statuses.LoadOrStore("transport error: "+err.Error(), true)
		return
	}
	if status != http.StatusOK {
		r.errN.Add(1)
		r.statuses.Store(strconv.Itoa(status), true)
		return
	}
	r.okN.Add(1)
	r.mu.Lock()
	r.latencies = append(r.latencies, lat)
	if r.open {
		r.lags = append(r.lags, lag)
	}
	r.mu.Unlock()
}

// report prints the run's figures.
func (r *benchRecord) report(stdout io.Writer, f *benchFlags, tokenURL string, elapsed time.Duration) {
	slices.Sort(r.latencies)
	slices.Sort(r.lags)
	pctOf := func(l []time.Duration, p float64) time.Duration {
		if len(l) == 0 {
			return 0
		}
		return l[min(len(l)-1, int(p*float64(len(l))))].Round(time.Microsecond)
	}
	pct := func(p float64) time.Duration { return pctOf(r.latencies, p) }
	mode := fmt.Sprintf("closed loop, %d concurrent", f.conc)
	if r.open {
		mode = fmt.Sprintf("open loop, %.0f req/s", f.rate)
	}
	conn := "HTTP/1.1 keep-alive"
	if f.h2 {
		conn = "HTTP/2"
	}
	if f.newConn {
		conn = "new TLS handshake per request"
	}
	fmt.Fprintf(stdout, "tokenbroker-bench: %s, %s, %s\n", tokenURL, mode, conn)
	fmt.Fprintf(stdout, "  requests: %d ok, %d failed", r.okN.Load(), r.errN.Load())
	shown := 0
	r.statuses.Range(func(k, _ any) bool {
		if shown++; shown <= 3 {
			fmt.Fprintf(stdout, " [%v]", k)
		}
		return true
	})
	fmt.Fprintf(stdout, "\n  tokens/s: %.0f\n", float64(r.okN.Load())/elapsed.Seconds())
	fmt.Fprintf(stdout, "  latency:  p50 %s  p90 %s  p99 %s  max %s\n", pct(.50), pct(.90), pct(.99), pct(1))
	if r.open {
		// Latency counts from each request's scheduled time (no coordinated
		// omission), so the tool's own lateness is in it; shown apart.
		fmt.Fprintf(stdout, "  tool lag: p50 %s  p90 %s  p99 %s  (scheduled → sent, included above)\n", pctOf(r.lags, .50), pctOf(r.lags, .90), pctOf(r.lags, .99))
	}
}

// serverCPU reads process_cpu_seconds_total from the broker's /metrics.
func serverCPU(admin string) (float64, error) {
	if admin == "" {
		return 0, errors.New("no admin URL")
	}
	resp, err := http.Get(strings.TrimSuffix(admin, "/") + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("process_cpu_seconds_total not found")
}

// waitUntil returns at t, or when ctx ends.
func waitUntil(ctx context.Context, t time.Time) {
	if d := time.Until(t); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
}

// connPool is the load tool's HTTP/1.1 keep-alive client: at most n TLS
// connections, each used by one request at a time, requests written with
// http.Request.Write and answers read with http.ReadResponse. Waiting for a
// free connection counts in the latency, as with a transport's MaxConnsPerHost.
type connPool struct {
	ctx  context.Context
	addr string
	tls  *tls.Config
	free chan *poolConn
}

type poolConn struct {
	c  *tls.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func newConnPool(ctx context.Context, rawURL string, cfg *tls.Config, n int) *connPool {
	u, _ := url.Parse(rawURL)
	host := u.Host
	if u.Port() == "" {
		host += ":443"
	}
	p := &connPool{ctx: ctx, addr: host, tls: cfg.Clone(), free: make(chan *poolConn, n)}
	p.tls.ServerName = u.Hostname()
	p.tls.NextProtos = []string{"http/1.1"}
	for range n {
		p.free <- nil // dialled on first use
	}
	return p
}

func (p *connPool) send(req *http.Request) (int, error) {
	var pc *poolConn
	select {
	case pc = <-p.free:
	case <-p.ctx.Done():
		return 0, p.ctx.Err()
	}
	status, err := p.roundTrip(&pc, req)
	if err != nil && pc != nil {
		pc.c.Close()
		pc = nil
	}
	p.free <- pc
	return status, err
}

func (p *connPool) roundTrip(pcp **poolConn, req *http.Request) (int, error) {
	if *pcp == nil {
		d := &tls.Dialer{Config: p.tls, NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
		c, err := d.DialContext(p.ctx, "tcp", p.addr)
		if err != nil {
			return 0, err
		}
		tc := c.(*tls.Conn)
		*pcp = &poolConn{c: tc, br: bufio.NewReaderSize(tc, 8<<10), bw: bufio.NewWriterSize(tc, 8<<10)}
	}
	pc := *pcp
	_ = pc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(pc.bw); err != nil {
		return 0, err
	}
	if err := pc.bw.Flush(); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(pc.br, req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err == nil && resp.Close { // the answer counts; the next request redials
		pc.c.Close()
		*pcp = nil
	}
	return resp.StatusCode, err
}

func (p *connPool) close() {
	for range cap(p.free) {
		if pc := <-p.free; pc != nil {
			pc.c.Close()
		}
	}
}

// signJWTSVID signs a JWT-SVID for sub with audience aud (JWT-SVID §3; draft-ietf-oauth-spiffe-client-auth-02 §3.1).
func signJWTSVID(key crypto.Signer, kid, sub, aud string) (string, error) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		return "", err
	}
	now := time.Now()
	return jwt.Signed(sig).Claims(jwt.Claims{Subject: sub, Audience: jwt.Audience{aud}, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))}).Serialize()
}
