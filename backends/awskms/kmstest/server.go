package kmstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/tokenbroker/tokenbroker/internal/awsfake"
	"github.com/tokenbroker/tokenbroker/internal/sigv4check"
)

// Account is the AWS account id of every ARN the endpoint makes.
const Account = "111122223333"

// Server is the local KMS endpoint.
type Server struct {
	URL string

	verifier sigv4check.Verifier
	region   string
	srv      *httptest.Server

	mu          sync.Mutex
	keys        map[string]*key // by key id
	aliases     map[string]*alias
	calls       awsfake.Calls
	denied      map[string]bool // operation → AccessDeniedException
	throttle    int             // the next n Sign calls get ThrottlingException
	throttleTil time.Time       // every call until then gets ThrottlingException
	signDelay   time.Duration
	corrupt     int                         // the next n Sign answers carry a truncated signature
	misSign     int                         // the next n Sign answers sign another digest
	fakePub     map[string]crypto.PublicKey // key id → what GetPublicKey answers instead
	inFlight    int
	maxInFlight int
	now         func() time.Time
}

type key struct {
	id, arn, spec, state, description string
	created                           time.Time
	priv                              crypto.Signer
	tags                              []map[string]string
}

type alias struct {
	name, target     string
	created, updated time.Time
}

// New starts the endpoint on loopback; requests must be signed (SigV4)
// with accessKey and secretKey for region.
func New(accessKey, secretKey, region string) *Server {
	return NewOn(nil, accessKey, secretKey, region)
}

// NewOn is New on ln (nil: a free loopback port).
func NewOn(ln net.Listener, accessKey, secretKey, region string) *Server {
	s := &Server{region: region, keys: map[string]*key{}, aliases: map[string]*alias{}, denied: map[string]bool{}, now: time.Now}
	s.verifier = sigv4check.Verifier{AccessKey: accessKey, SecretKey: secretKey, Region: region, Service: "kms"}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if ln != nil {
		s.srv.Listener.Close()
		s.srv.Listener = ln
	}
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// Close stops the endpoint.
func (s *Server) Close() { s.srv.Close() }

// Calls returns how many requests for op ("Sign") arrived, throttled and
// refused ones included; "" counts all.
func (s *Server) Calls(op string) int {
	return s.calls.Get(op)
}

// Throttle makes the next n Sign calls fail with ThrottlingException.
func (s *Server) Throttle(n int) { s.mu.Lock(); s.throttle = n; s.mu.Unlock() }

// ThrottleFor makes every call fail with ThrottlingException for d.
func (s *Server) ThrottleFor(d time.Duration) {
	s.mu.Lock()
	s.throttleTil = s.now().Add(d)
	s.mu.Unlock()
}

// Deny makes every call of op ("Sign", "GetPublicKey", …) fail with
// AccessDeniedException, as a policy without kms:<op> would.
func (s *Server) Deny(op string) { s.mu.Lock(); s.denied[op] = true; s.mu.Unlock() }

// CorruptSignatures makes the next n Sign calls answer a signature cut
// short by one byte — a failing or impostor endpoint.
func (s *Server) CorruptSignatures(n int) { s.mu.Lock(); s.corrupt = n; s.mu.Unlock() }

// SignOtherDigest makes the next n Sign calls answer a well-formed
// signature by the right key over another digest — a lying endpoint, or a
// network in between replaying an earlier answer.
func (s *Server) SignOtherDigest(n int) { s.mu.Lock(); s.misSign = n; s.mu.Unlock() }

// SetPublicKey makes GetPublicKey answer pub for the key id (anything KMS
// accepts as a KeyId) under its unchanged KeySpec — a lying endpoint. It
// panics on an unknown key.
func (s *Server) SetPublicKey(id string, pub crypto.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, typ, _ := s.resolve(id)
	if typ != "" {
		panic("kmstest: unknown key " + id)
	}
	if s.fakePub == nil {
		s.fakePub = map[string]crypto.PublicKey{}
	}
	s.fakePub[k.id] = pub
}

// SetSignDelay makes each Sign call take d before it answers.
func (s *Server) SetSignDelay(d time.Duration) { s.mu.Lock(); s.signDelay = d; s.mu.Unlock() }

// SetClock sets the clock of key and alias dates (CreationDate,
// LastUpdatedDate) — tests that age aliases move it; request signatures
// are still judged by the real time.
func (s *Server) SetClock(now func() time.Time) { s.mu.Lock(); s.now = now; s.mu.Unlock() }

// MaxInFlight is the largest number of Sign calls that were in flight at once.
func (s *Server) MaxInFlight() int { s.mu.Lock(); defer s.mu.Unlock(); return s.maxInFlight }

// SetKeyState sets a key's state (Enabled, Disabled, PendingDeletion, …);
// id is anything KMS accepts as a KeyId. It panics on an unknown key.
func (s *Server) SetKeyState(id, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, typ, _ := s.resolve(id)
	if typ != "" {
		panic("kmstest: unknown key " + id)
	}
	k.state = state
}

func fail(w http.ResponseWriter, typ, msg string) {
	status := http.StatusBadRequest
	switch typ {
	case "DisabledException", "KMSInvalidStateException", "AlreadyExistsException":
		status = http.StatusConflict
	case "NotFoundException":
		status = http.StatusNotFound
	case "KMSInternalException":
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		fail(w, "ValidationException", "could not read the request")
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "TrentService.")
	if r.Method != http.MethodPost || !ok {
		fail(w, "UnknownOperationException", "unknown operation "+target)
		return
	}
	if typ, msg := s.verifier.Verify(r, body); typ != "" {
		fail(w, typ, msg)
		return
	}
	s.mu.Lock()
	s.calls.Add(op)
	if s.now().Before(s.throttleTil) || (op == "Sign" && s.throttle > 0) {
		if op == "Sign" && s.throttle > 0 {
			s.throttle--
		}
		s.mu.Unlock()
		fail(w, "ThrottlingException", "Rate exceeded")
		return
	}
	if s.denied[op] {
		s.mu.Unlock()
		fail(w, "AccessDeniedException", fmt.Sprintf("User: arn:aws:iam::%s:user/kmstest is not authorized to perform: kms:%s because no identity-based policy allows the kms:%s action", Account, op, op))
		return
	}
	if op == "Sign" {
		s.mu.Unlock()
		s.sign(w, body)
		return
	}
	defer s.mu.Unlock()
	var out any
	var typ, msg string
	switch op {
	case "CreateKey":
		out, typ, msg = s.createKey(body)
	case "DescribeKey":
		out, typ, msg = s.describeKey(body)
	case "GetPublicKey":
		out, typ, msg = s.getPublicKey(body)
	case "EnableKey", "DisableKey":
		out, typ, msg = s.enable(body, op == "EnableKey")
	case "CreateAlias", "UpdateAlias":
		out, typ, msg = s.putAlias(body, op == "CreateAlias")
	case "ListAliases":
		out, typ, msg = s.listAliases(body)
	default:
		typ, msg = "UnknownOperationException", "operation "+op+" is not modelled by kmstest"
	}
	if typ != "" {
		fail(w, typ, msg)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func decode(b []byte, v any) (string, string) {
	if err := json.Unmarshal(b, v); err != nil {
		return "SerializationException", "malformed request body"
	}
	return "", ""
}

func newKeyID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// resolve finds a key by key id, key ARN, alias name or alias ARN. Called with mu held.
func (s *Server) resolve(id string) (*key, string, string) {
	if id == "" {
		return nil, "ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
	}
	name := id
	if rest, ok := strings.CutPrefix(id, "arn:aws:kms:"+s.region+":"+Account+":"); ok {
		name = rest
		if kid, ok := strings.CutPrefix(rest, "key/"); ok {
			name = kid
		}
	} else if strings.HasPrefix(id, "arn:") {
		return nil, "NotFoundException", "Invalid arn " + id
	}
	if strings.HasPrefix(name, "alias/") {
		a, ok := s.aliases[name]
		if !ok {
			return nil, "NotFoundException", "Alias " + s.aliasARN(name) + " is not found."
		}
		name = a.target
	}
	k, ok := s.keys[name]
	if !ok {
		return nil, "NotFoundException", "Key '" + s.keyARN(name) + "' does not exist"
	}
	return k, "", ""
}

func (s *Server) keyARN(id string) string {
	return "arn:aws:kms:" + s.region + ":" + Account + ":key/" + id
}

func (s *Server) aliasARN(name string) string {
	return "arn:aws:kms:" + s.region + ":" + Account + ":" + name
}

// usable refuses a key that cannot be used for a cryptographic operation.
func usable(k *key) (string, string) {
	switch k.state {
	case "Enabled":
		return "", ""
	case "Disabled":
		return "DisabledException", k.arn + " is disabled."
	}
	return "KMSInvalidStateException", k.arn + " is " + k.state + "."
}

// algorithms are the signing algorithms of a key spec.
func algorithms(spec string) []string {
	if spec == "ECC_NIST_P256" {
		return []string{"ECDSA_SHA_256"}
	}
	return []string{"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"}
}

func (s *Server) metadata(k *key) map[string]any {
	return map[string]any{"AWSAccountId": Account, "Arn": k.arn, "KeyId": k.id, "CreationDate": float64(k.created.UnixNano()) / 1e9,
		"Enabled": k.state == "Enabled", "KeyState": k.state, "KeyUsage": "SIGN_VERIFY", "KeySpec": k.spec, "CustomerMasterKeySpec": k.spec,
		"SigningAlgorithms": algorithms(k.spec), "Description": k.description, "KeyManager": "CUSTOMER", "Origin": "AWS_KMS", "MultiRegion": false}
}

func (s *Server) createKey(b []byte) (any, string, string) {
	var in struct {
		KeySpec, CustomerMasterKeySpec, KeyUsage, Description string
		Tags                                                  []map[string]string
	}
	if typ, msg := decode(b, &in); typ != "" {
		return nil, typ, msg
	}
	spec := in.KeySpec
	if spec == "" {
		spec = in.CustomerMasterKeySpec
	}
	if in.KeyUsage != "SIGN_VERIFY" {
		return nil, "ValidationException", "kmstest models SIGN_VERIFY keys only, not KeyUsage " + in.KeyUsage
	}
	var priv crypto.Signer
	var err error
	switch spec {
	case "ECC_NIST_P256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RSA_2048", "RSA_3072", "RSA_4096":
		var bits int
		fmt.Sscanf(spec, "RSA_%d", &bits)
		priv, err = rsa.GenerateKey(rand.Reader, bits)
	default:
		return nil, "ValidationException", "KeySpec " + spec + " is not modelled by kmstest"
	}
	if err != nil {
		return nil, "KMSInternalException", err.Error()
	}
	id := newKeyID()
	k := &key{id: id, arn: s.keyARN(id), spec: spec, state: "Enabled", description: in.Description, created: s.now(), priv: priv, tags: in.Tags}
	s.keys[id] = k
	return map[string]any{"KeyMetadata": s.metadata(k)}, "", ""
}

type keyIDInput struct {
	KeyId       string
	GrantTokens []string
}

// keyOf decodes a request naming one key and resolves it. Called with mu held.
func (s *Server) keyOf(b []byte) (*key, string, string) {
	var in keyIDInput
	if typ, msg := decode(b, &in); typ != "" {
		return nil, typ, msg
	}
	return s.resolve(in.KeyId)
}

func (s *Server) describeKey(b []byte) (any, string, string) {
	k, typ, msg := s.keyOf(b)
	if typ != "" {
		return nil, typ, msg
	}
	return map[string]any{"KeyMetadata": s.metadata(k)}, "", ""
}

func (s *Server) getPublicKey(b []byte) (any, string, string) {
	k, typ, msg := s.keyOf(b)
	if typ != "" {
		return nil, typ, msg
	}
	if typ, msg := usable(k); typ != "" {
		return nil, typ, msg
	}
	pub := k.priv.Public()
	if p, ok := s.fakePub[k.id]; ok {
		pub = p
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, "KMSInternalException", err.Error()
	}
	return map[string]any{"KeyId": k.arn, "PublicKey": der, "KeySpec": k.spec, "CustomerMasterKeySpec": k.spec,
		"KeyUsage": "SIGN_VERIFY", "SigningAlgorithms": algorithms(k.spec)}, "", ""
}

func (s *Server) enable(b []byte, on bool) (any, string, string) {
	k, typ, msg := s.keyOf(b)
	if typ != "" {
		return nil, typ, msg
	}
	if k.state != "Enabled" && k.state != "Disabled" {
		return nil, "KMSInvalidStateException", k.arn + " is " + k.state + "."
	}
	k.state = map[bool]string{true: "Enabled", false: "Disabled"}[on]
	return map[string]any{}, "", ""
}
