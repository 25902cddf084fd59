package awssm_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/awssm"
	"github.com/tokenbroker/tokenbroker/backends/awssm/awssmtest"
	"github.com/tokenbroker/tokenbroker/backends/backendtest"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/registry"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

const (
	accessKey = "AKIDTOKENBROKERTEST"
	secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYTOKENBROKER"
	region    = "eu-west-1"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func awsConfig(ak, sk string) *aws.Config {
	return &aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(ak, sk, "")}
}

func newStore(t testing.TB, srv *awssmtest.Server, opts ...func(*awssm.Config)) *awssm.Store {
	t.Helper()
	cfg := awssm.Config{Endpoint: srv.URL, AWS: awsConfig(accessKey, secretKey), Logger: quiet(), Timeout: time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := awssm.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rawClient(srv *awssmtest.Server, ak, sk string) *sm.Client {
	return sm.NewFromConfig(*awsConfig(ak, sk), func(o *sm.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.RetryMaxAttempts = 1
	})
}

func TestConformance(t *testing.T) {
	t.Parallel()
	var servers sync.Map // *awssm.Store → its endpoint
	backendtest.Run(t, func(t *testing.T) backends.Store {
		srv := awssmtest.New(accessKey, secretKey, region)
		t.Cleanup(srv.Close)
		s := newStore(t, srv)
		servers.Store(s, srv)
		return s
	}, backendtest.WithRaw(backendtest.Raw{Write: func(t *testing.T, s backends.Store, id string, doc []byte) error {
		srv, _ := servers.Load(s)
		_, err := rawClient(srv.(*awssmtest.Server), accessKey, secretKey).CreateSecret(context.Background(), &sm.CreateSecretInput{Name: aws.String("tokenbroker/clients/" + id), SecretString: aws.String(string(doc))})
		return err
	}}))
}

func apiCode(t *testing.T, err error) (string, int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

// The local endpoint behaves as the AWS API reference says, seen through the real SDK.
func TestEndpointFidelity(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(accessKey, secretKey, region)
	defer srv.Close()
	ctx := context.Background()

	// SigV4: a wrong secret key and an unknown access key are refused as AWS refuses them.
	_, err := rawClient(srv, accessKey, "wrong-secret").ListSecrets(ctx, &sm.ListSecretsInput{})
	if code, status := apiCode(t, err); code != "InvalidSignatureException" || status != 400 {
		t.Fatalf("wrong secret key: %s %d", code, status)
	}
	_, err = rawClient(srv, "AKIDUNKNOWN", secretKey).ListSecrets(ctx, &sm.ListSecretsInput{})
	if code, _ := apiCode(t, err); code != "UnrecognizedClientException" {
		t.Fatalf("unknown access key: %s", code)
	}

	c := rawClient(srv, accessKey, secretKey)
	tok := func(s string) *string { return aws.String(fmt.Sprintf("%-32s", s)) }
	cr, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("app/a"), SecretString: aws.String("v1"), ClientRequestToken: tok("t1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("app/a"), SecretString: aws.String("other")}); err == nil {
		t.Fatal("duplicate name accepted")
	} else if code, status := apiCode(t, err); code != "ResourceExistsException" || status != 400 {
		t.Fatalf("duplicate: %s %d", code, status)
	}
	// PutSecretValue: idempotent on a token, conflicting on a reused token with another value.
	p2, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("app/a"), SecretString: aws.String("v2"), ClientRequestToken: tok("t2")})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("app/a"), SecretString: aws.String("v2"), ClientRequestToken: tok("t2")})
	if err != nil || aws.ToString(again.VersionId) != aws.ToString(p2.VersionId) {
		t.Fatalf("idempotent retry: %v", err)
	}
	if _, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("app/a"), SecretString: aws.String("v2-different"), ClientRequestToken: tok("t2")}); err == nil {
		t.Fatal("reused token with another value accepted")
	}
	// Stages: v2 current, v1 previous; a pending version; promoting it moves previous along.
	stageOf := func(stage string) string {
		out, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("app/a"), VersionStage: aws.String(stage)})
		if err != nil {
			return ""
		}
		return aws.ToString(out.SecretString)
	}
	if stageOf("AWSCURRENT") != "v2" || stageOf("AWSPREVIOUS") != "v1" {
		t.Fatalf("after put: current %q previous %q", stageOf("AWSCURRENT"), stageOf("AWSPREVIOUS"))
	}
	p3, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("app/a"), SecretString: aws.String("v3"), VersionStages: []string{"AWSPENDING"}, ClientRequestToken: tok("t3")})
	if err != nil || stageOf("AWSPENDING") != "v3" || stageOf("AWSCURRENT") != "v2" {
		t.Fatalf("pending: %v", err)
	}
	if _, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("app/a"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: p3.VersionId}); err == nil {
		t.Fatal("moving AWSCURRENT without RemoveFromVersionId accepted")
	} else if code, _ := apiCode(t, err); code != "InvalidParameterException" {
		t.Fatalf("missing RemoveFromVersionId: %s", code)
	}
	if _, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("app/a"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: p3.VersionId, RemoveFromVersionId: p2.VersionId}); err != nil {
		t.Fatal(err)
	}
	if stageOf("AWSCURRENT") != "v3" || stageOf("AWSPREVIOUS") != "v2" {
		t.Fatalf("after promotion: current %q previous %q", stageOf("AWSCURRENT"), stageOf("AWSPREVIOUS"))
	}
	d, _ := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: cr.ARN})
	// Versions without a staging label are deprecated and not listed (AWS API reference).
	if len(d.VersionIdsToStages) != 2 {
		t.Fatalf("DescribeSecret by ARN: %v", d.VersionIdsToStages)
	}
	// ListSecrets: name filter (prefix), pagination.
	for i := range 5 {
		c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String(fmt.Sprintf("app/list/%d", i)), SecretString: aws.String("x")})
	}
	var names []string
	pg := sm.NewListSecretsPaginator(c, &sm.ListSecretsInput{MaxResults: aws.Int32(2), Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"app/list/"}}}})
	pages := 0
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range out.SecretList {
			names = append(names, aws.ToString(e.Name))
		}
	}
	if len(names) != 5 || pages != 3 {
		t.Fatalf("ListSecrets: %v in %d pages", names, pages)
	}
	bg, err := c.BatchGetSecretValue(ctx, &sm.BatchGetSecretValueInput{SecretIdList: []string{"app/list/1", "app/nope"}})
	if err != nil || len(bg.SecretValues) != 1 || len(bg.Errors) != 1 || aws.ToString(bg.Errors[0].ErrorCode) != "ResourceNotFoundException" {
		t.Fatalf("BatchGetSecretValue: %v %+v", err, bg)
	}
	// DeleteSecret with a recovery window: reads fail as AWS says; the name stays taken.
	if _, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("app/a"), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("app/a")})
	if code, _ := apiCode(t, err); code != "InvalidRequestException" {
		t.Fatalf("read of a deleted secret: %s", code)
	}
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("app/none")})
	if code, status := apiCode(t, err); code != "ResourceNotFoundException" || status != 400 {
		t.Fatalf("missing secret: %s %d", code, status)
	}
}

type harness struct {
	srv   *awssmtest.Server
	store *awssm.Store
	h     http.Handler
	bsrv  *broker.Server
	loads *atomic.Int64 // client loads the broker's cache has started
}

// countingStore counts the client loads the broker's cache starts: a
// cache load reads the record first, so GetClient calls are loads.
type countingStore struct {
	*awssm.Store
	loads atomic.Int64
}

func (s *countingStore) GetClient(ctx context.Context, id string) (*backends.Client, error) {
	s.loads.Add(1)
	return s.Store.GetClient(ctx, id)
}

func newHarness(t *testing.T, copt cache.Options) *harness {
	ctx := context.Background()
	srv := awssmtest.New(accessKey, secretKey, region)
	t.Cleanup(srv.Close)
	store := newStore(t, srv, func(c *awssm.Config) { c.PreviousGrace = time.Hour; c.MaxAttempts = 3 })
	if _, err := signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	copt.Logger = quiet()
	counted := &countingStore{Store: store}
	bsrv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test", Logger: quiet()}, counted, broker.WithCache(copt))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bsrv.Close() })
	return &harness{srv: srv, store: store, h: bsrv.Handler(), bsrv: bsrv, loads: &counted.loads}
}

// reloaded polls until two loads of the broker's cache have started since
// base — the second starts only once the first has stored its answer —
// moving clk past the refresh point before each look; each step first
// runs during (a request, say), so it runs while the reload happens.
func (h *harness) reloaded(t *testing.T, what string, clk *testkit.Clock, step func()) {
	t.Helper()
	base := h.loads.Load()
	testkit.WaitFor(t, what, func() bool {
		clk.Advance(10 * time.Millisecond)
		step()
		return h.loads.Load() >= base+2
	})
}

func (h *harness) token(id, secret string) int {
	req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec.Code
}

// A full rotation as AWS rotation runs it — pending, then current, then
// previous — under load, loses no valid request.
func TestRotationUnderLoad(t *testing.T) {
	t.Parallel()
	// The cache's clock moves only when the test moves it: each step below
	// waits for what it needs (requests served, a reload done), never for
	// time to pass.
	clk := testkit.NewClock(time.Now())
	h := newHarness(t, cache.Options{TTL: 100 * time.Millisecond, Now: clk.Now})
	ctx := context.Background()
	c := rawClient(h.srv, accessKey, secretKey)
	name := "tokenbroker/clients/rot"
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(`{"token_endpoint_auth_method":"client_secret_basic","scope":"read","client_secret":"old-secret-000000000000000000000000"}`)}); err != nil {
		t.Fatal(err)
	}
	var current atomic.Value
	current.Store("old-secret-000000000000000000000000")
	var failed, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				total.Add(1)
				if h.token("rot", current.Load().(string)) != 200 {
					failed.Add(1)
				}
			}
		})
	}
	// underLoad waits until the workers have sent n more requests.
	underLoad := func(n int64) {
		t.Helper()
		base := total.Load()
		testkit.WaitFor(t, fmt.Sprintf("%d requests under load", n), func() bool { return total.Load() >= base+n })
	}
	underLoad(50)
	// createSecret step: the new secret as AWSPENDING.
	pend, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(`{"token_endpoint_auth_method":"client_secret_basic","scope":"read","client_secret":"new-secret-111111111111111111111111"}`), VersionStages: []string{"AWSPENDING"}})
	if err != nil {
		t.Fatal(err)
	}
	// The broker's cache picks up the pending version (a probe of the test's
	// own, not counted, until the new secret is accepted).
	testkit.WaitFor(t, "the cache to accept the AWSPENDING secret", func() bool {
		clk.Advance(60 * time.Millisecond) // past RefreshAfter: the next hit reloads
		return h.token("rot", "new-secret-111111111111111111111111") == 200
	})
	current.Store("new-secret-111111111111111111111111")
	underLoad(50)
	// finishSecret step: promote pending to current; the old one becomes previous.
	d, _ := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(name)})
	var cur string
	for id, st := range d.VersionIdsToStages {
		for _, s := range st {
			if s == "AWSCURRENT" {
				cur = id
			}
		}
	}
	if _, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String(name), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: pend.VersionId, RemoveFromVersionId: aws.String(cur)}); err != nil {
		t.Fatal(err)
	}
	// The load runs on through a reload of the promoted versions.
	h.reloaded(t, "a reload after the promotion", clk, func() { underLoad(5) })
	underLoad(50)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the rotation", failed.Load(), total.Load())
	}
	// The old secret stays valid (AWSPREVIOUS) within the grace period.
	if h.token("rot", "old-secret-000000000000000000000000") != 200 {
		t.Fatal("AWSPREVIOUS secret refused within the grace period")
	}
	t.Logf("rotation under load: %d requests, 0 failed", total.Load())
}

// Warm start and steady state: no AWS call per token.
func TestNoAWSCallsInSteadyState(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(accessKey, secretKey, region)
	defer srv.Close()
	ctx := context.Background()
	store := newStore(t, srv)
	signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx)
	reg := registry.New(store, registry.Config{Methods: []string{backends.AuthClientSecretBasic}})
	secrets := map[string]string{}
	for i := range 30 {
		id := fmt.Sprintf("svc-%d", i)
		r, err := reg.Create(ctx, &backends.Client{ClientID: id, Scope: "read"})
		if err != nil {
			t.Fatal(err)
		}
		secrets[id] = r.Secret
	}
	bsrv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test", Logger: quiet()}, store, broker.WithCache(cache.Options{TTL: time.Hour, Logger: quiet()}))
	if err != nil {
		t.Fatal(err)
	}
	defer bsrv.Close()
	// Two batches of 20 (one more if the SDK retried a dropped connection
	// on a loaded machine).
	if n := srv.Calls("BatchGetSecretValue"); n < 2 || n > 3 {
		t.Fatalf("warm start: %d BatchGetSecretValue calls for 30 clients, want 2", n)
	}
	h := &harness{h: bsrv.Handler()}
	before := srv.Calls("")
	for round := range 10 {
		for id, s := range secrets {
			if c := h.token(id, s); c != 200 {
				t.Fatalf("round %d %s: %d", round, id, c)
			}
		}
	}
	if n := srv.Calls("") - before; n != 0 {
		t.Fatalf("%d AWS calls for 300 tokens after warm-up, want 0", n)
	}
}

// Throttling backs off instead of failing; an outage is ridden out within the stale window.
func TestThrottlingAndOutage(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(time.Now())
	h := newHarness(t, cache.Options{TTL: 100 * time.Millisecond, StaleWindow: time.Minute, RetryBackoff: 50 * time.Millisecond, LoadTimeout: 2 * time.Second, Now: clk.Now})
	ctx := context.Background()
	known, err := h.bsrv.Registry().Create(ctx, &backends.Client{ClientID: "known", Scope: "read"})
	if err != nil {
		t.Fatal(err)
	}
	// A direct read under throttling: the SDK backs off and retries.
	h.srv.Throttle(2)
	if _, err := h.store.GetClient(ctx, "known"); err != nil {
		t.Fatalf("read under throttling: %v", err)
	}
	// Throttled refreshes never fail a request: the cached record keeps serving.
	if c := h.token("known", known.Secret); c != 200 {
		t.Fatalf("first token: %d", c)
	}
	h.srv.Throttle(50)
	h.reloaded(t, "refreshes while AWS throttles", clk, func() {
		if c := h.token("known", known.Secret); c != 200 {
			t.Fatalf("known client while AWS throttles: %d", c)
		}
	})
	h.srv.Throttle(0)
	h.srv.SetDown(true)
	h.reloaded(t, "refreshes during the outage", clk, func() {
		if c := h.token("known", known.Secret); c != 200 {
			t.Fatalf("known client during the outage: %d", c)
		}
	})
	if c := h.token("stranger", "x"); c != 503 {
		t.Fatalf("unknown client during the outage: %d, want 503", c)
	}
	h.srv.SetDown(false)
	late, err := h.bsrv.Registry().Create(ctx, &backends.Client{ClientID: "late", Scope: "read"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "recovery", func() bool {
		clk.Advance(10 * time.Millisecond) // past the fail-fast window
		return h.token("late", late.Secret) == 200
	})
}

// Signing keys through version stages: AWSCURRENT signs, AWSPENDING is
// published before it signs, AWSPREVIOUS stays published after a rotation.
func TestStagedSigningKeys(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(accessKey, secretKey, region)
	defer srv.Close()
	ctx := context.Background()
	store := newStore(t, srv)
	keys := store.StagedKeys("ES256", time.Minute, 15*time.Minute)
	if created, err := keys.Ensure(ctx); err != nil || !created {
		t.Fatalf("Ensure: %v %v", created, err)
	}
	set, err := keys.SigningSet(ctx)
	if err != nil || set.Active == nil || len(set.Published) != 2 {
		t.Fatalf("initial set: %+v %v", set, err)
	}
	first := set.Active.KeyID()
	pending := set.Published[1].KID
	if err := keys.Rotate(ctx, false); !errors.Is(err, signing.ErrTooSoon) {
		t.Fatalf("rotation right after staging: %v, want ErrTooSoon", err)
	}
	if err := keys.Rotate(ctx, true); err != nil {
		t.Fatal(err)
	}
	set, _ = keys.SigningSet(ctx)
	kids := map[string]bool{}
	for _, p := range set.Published {
		kids[p.KID] = true
	}
	if set.Active.KeyID() != pending || !kids[first] || len(set.Published) != 3 {
		t.Fatalf("after rotation: active %s (want %s), published %v (want the previous %s too)", set.Active.KeyID(), pending, kids, first)
	}
	// The broker signs with it and the JWKS verifies the token.
	bsrv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test", Logger: quiet(), Signing: keys}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer bsrv.Close()
	r, _ := bsrv.Registry().Create(ctx, &backends.Client{ClientID: "c", Scope: "read"})
	if c := (&harness{h: bsrv.Handler()}).token("c", r.Secret); c != 200 {
		t.Fatalf("token with staged keys: %d", c)
	}
}

// On Secrets Manager the client's secrets share the document with its
// metadata. A client_secret member sent to /register (or stored by any other
// path as metadata) never becomes a working secret: on main it did.
func TestMetadataNeverBecomesASecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := awssmtest.New(accessKey, secretKey, region)
	defer srv.Close()
	store := newStore(t, srv)
	if _, err := signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	iat := registry.NewSecret()
	bsrv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test", Logger: quiet(),
		InitialAccessTokenHashes: []string{backends.HashSecret(iat)}, ScopesSupported: []string{"read"}}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer bsrv.Close()
	h := &harness{h: bsrv.Handler()}
	const chosen = "chosen-by-the-client-0000000000000000000"
	for _, body := range []string{`{"scope":"read","client_secret":"` + chosen + `"}`, `{"scope":"read","Client_secret":"` + chosen + `"}`, `{"scope":"read","client_secrets":[{"plain":"` + chosen + `"}]}`} {
		req := httptest.NewRequest(http.MethodPost, "/register", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+iat)
		rec := httptest.NewRecorder()
		h.h.ServeHTTP(rec, req)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), "invalid_client_metadata") {
			t.Fatalf("register %s: %d %s", body, rec.Code, rec.Body)
		}
	}
	ids, _ := store.ListClients(ctx)
	for _, id := range ids {
		if c := h.token(id, chosen); c != 401 {
			t.Fatalf("client %s accepts the secret it chose: %d", id, c)
		}
	}
	// The operator's path refuses it too, before anything is written.
	c := &backends.Client{ClientID: "ops", Scope: "read", Extra: map[string]json.RawMessage{"client_secret": json.RawMessage(`"` + chosen + `"`)}}
	if _, err := bsrv.Registry().Create(ctx, c); err == nil {
		t.Fatal("Create stored a client_secret member")
	}
	if c := h.token("ops", chosen); c != 401 {
		t.Fatalf("the chosen secret works: %d", c)
	}
}

// Warm start reads documents in bulk: one that names another client (or does
// not decode) is skipped, never loaded in that client's place.
func TestWarmStartSkipsDocumentsForAnotherClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := awssmtest.New(accessKey, secretKey, region)
	defer srv.Close()
	store := newStore(t, srv)
	signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx)
	reg := registry.New(store, registry.Config{Methods: []string{backends.AuthClientSecretBasic}})
	victim, err := reg.Create(ctx, &backends.Client{ClientID: "victim", Scope: "read"})
	if err != nil {
		t.Fatal(err)
	}
	const forged = "forged-secret-000000000000000000000000"
	raw := rawClient(srv, accessKey, secretKey)
	for name, doc := range map[string]string{
		"zz-impostor": `{"client_id":"victim","token_endpoint_auth_method":"client_secret_basic","scope":"read admin","client_secret":"` + forged + `"}`,
		"zz-variant":  `{"token_endpoint_auth_method":"client_secret_basic","scope":"read","Scope":"admin","client_secret":"` + forged + `"}`,
	} {
		if _, err := raw.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("tokenbroker/clients/" + name), SecretString: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	bsrv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test", Logger: quiet()}, store, broker.WithCache(cache.Options{TTL: time.Hour, Logger: quiet()}))
	if err != nil {
		t.Fatal(err)
	}
	defer bsrv.Close()
	h := &harness{h: bsrv.Handler()}
	if c := h.token("victim", forged); c == 200 {
		t.Fatal("a document stored under another name authenticated as victim")
	}
	if c := h.token("victim", victim.Secret); c != 200 {
		t.Fatalf("victim's own secret: %d", c)
	}
	if c := h.token("zz-variant", forged); c == 200 {
		t.Fatal("a record with a case-variant member authenticated")
	}
}

// decode → store → load never changes a member, through the document that
// shares the record with the client's secrets.
func FuzzRecordRoundTrip(f *testing.F) {
	for _, s := range []string{`{}`, `{"scope":"read","x":{"y":[1,"<&>"]},"operator_ceiling":{"scope":"read"}}`, `{"jwks":{"keys":[{"kty":"EC"}]},"access_token_lifetime":90}`,
		`{"allowed_resources":[],"client_id_issued_at":9007199254740993,"disabled":true,"x":"\u2028"}`, `{"x_secret":"client_secret"}`} {
		f.Add(s)
	}
	srv := awssmtest.New(accessKey, secretKey, region)
	defer srv.Close()
	s := newStore(f, srv)
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := backends.DecodeClient([]byte(doc))
		if err != nil {
			return
		}
		c.ClientID = "fuzz"
		if c.TokenEndpointAuthMethod == "" {
			c.TokenEndpointAuthMethod = backends.AuthClientSecretBasic // without one the document holds no record
		}
		backendtest.RoundTrip(t, s, c)
	})
}
