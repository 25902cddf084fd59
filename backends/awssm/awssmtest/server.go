package awssmtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokenbroker/tokenbroker/internal/awsfake"
	"github.com/tokenbroker/tokenbroker/internal/sigv4check"
)

// Server is the local Secrets Manager endpoint.
type Server struct {
	URL string

	accessKey, secretKey, region string
	srv                          *httptest.Server

	mu       sync.Mutex
	secrets  map[string]*secret // by name
	calls    awsfake.Calls
	down     bool
	throttle int             // the next n requests get ThrottlingException
	denied   map[string]bool // secrets whose reads answer AccessDeniedException
	now      func() time.Time
}

type secret struct {
	arn, name, kmsKeyID, description string
	created, changed                 time.Time
	deleted                          *time.Time
	versions                         map[string]*version // by VersionId
	order                            []string            // creation order
}

type version struct {
	id      string
	value   string
	created time.Time
	stages  []string
}

// New starts the endpoint on loopback.
func New(accessKey, secretKey, region string) *Server {
	s := &Server{accessKey: accessKey, secretKey: secretKey, region: region, secrets: map[string]*secret{}, now: time.Now}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the endpoint.
func (s *Server) Close() { s.srv.Close() }

// Calls returns how many requests for op arrived ("" counts all).
func (s *Server) Calls(op string) int {
	return s.calls.Get(op)
}

// SetDown makes every request fail at the connection (an outage) or not.
func (s *Server) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// DenyRead makes every read of the secret named name (GetSecretValue, and
// its item in BatchGetSecretValue) answer AccessDeniedException, as a
// resource policy or a KMS key the caller may not use does — or stops it.
func (s *Server) DenyRead(name string, deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denied == nil {
		s.denied = map[string]bool{}
	}
	s.denied[name] = deny
}

// Throttle makes the next n requests fail with ThrottlingException.
func (s *Server) Throttle(n int) { s.mu.Lock(); s.throttle = n; s.mu.Unlock() }

type apiError struct {
	Type    string `json:"__type"`
	Message string `json:"Message"`
}

func fail(w http.ResponseWriter, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(apiError{typ, msg})
}

// operations are the Secrets Manager actions the server models, by the
// X-Amz-Target action name.
var operations = map[string]func(s *Server, body []byte) (out any, errType, errMsg string){
	"CreateSecret":             (*Server).createSecret,
	"PutSecretValue":           (*Server).putSecretValue,
	"GetSecretValue":           (*Server).getSecretValue,
	"BatchGetSecretValue":      (*Server).batchGet,
	"ListSecrets":              (*Server).listSecrets,
	"DescribeSecret":           (*Server).describe,
	"UpdateSecretVersionStage": (*Server).updateStage,
	"DeleteSecret":             (*Server).deleteSecret,
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		// An outage: drop the connection.
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		fail(w, "InvalidRequestException", "could not read the request")
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "secretsmanager.")
	if r.Method != http.MethodPost || !ok {
		fail(w, "UnknownOperationException", "unknown operation "+target)
		return
	}
	if typ, msg := s.verifySigV4(r, body); typ != "" {
		fail(w, typ, msg)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls.Add(op)
	if s.throttle > 0 {
		s.throttle--
		fail(w, "ThrottlingException", "Rate exceeded")
		return
	}
	var out any
	var typ, msg string
	if handle, ok := operations[op]; ok {
		out, typ, msg = handle(s, body)
	} else {
		typ, msg = "UnknownOperationException", "operation "+op+" is not modelled by awssmtest"
	}
	if typ != "" {
		fail(w, typ, msg)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

// verifySigV4 checks the request's Signature Version 4 as AWS does
// (internal/sigv4check). It returns the AWS error type and message.
func (s *Server) verifySigV4(r *http.Request, body []byte) (string, string) {
	return sigv4check.Verifier{AccessKey: s.accessKey, SecretKey: s.secretKey, Region: s.region, Service: "secretsmanager", Now: s.now}.Verify(r, body)
}

func newVersionID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *Server) arn(name string) string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:123456789012:secret:%s-AbCdEf", s.region, name)
}

// find resolves a SecretId (name or ARN).
func (s *Server) find(id string) (*secret, string, string) {
	for _, sec := range s.secrets {
		if sec.name == id || sec.arn == id {
			return sec, "", ""
		}
	}
	return nil, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."
}

func (s *Server) live(id string) (*secret, string, string) {
	sec, typ, msg := s.find(id)
	if typ != "" {
		return nil, typ, msg
	}
	if s.denied[sec.name] {
		return nil, "AccessDeniedException", "User is not authorized to perform: secretsmanager:GetSecretValue on this resource."
	}
	if sec.deleted != nil {
		return nil, "InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion."
	}
	return sec, "", ""
}

func validToken(t string) bool { return len(t) >= 32 && len(t) <= 64 }

// moveStage gives stage to version v, taking it from any other version. For
// AWSCURRENT, AWS moves AWSPREVIOUS to the version that held AWSCURRENT.
func (sec *secret) moveStage(stage string, v *version) {
	var from *version
	for _, o := range sec.versions {
		if i := slices.Index(o.stages, stage); i >= 0 && o != v {
			o.stages = slices.Delete(o.stages, i, i+1)
			from = o
		}
	}
	if !slices.Contains(v.stages, stage) {
		v.stages = append(v.stages, stage)
	}
	if stage == "AWSCURRENT" && from != nil {
		sec.moveStage("AWSPREVIOUS", from)
	}
}

func (sec *secret) stage(stage string) *version {
	for _, v := range sec.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

// addVersion stores a new version, honouring ClientRequestToken idempotency:
// the same token with the same value is a no-op, with another value an error.
func (s *Server) addVersion(sec *secret, token, value string, stages []string) (*version, string, string) {
	if token == "" {
		token = newVersionID()
	} else if !validToken(token) {
		return nil, "InvalidParameterException", "ClientRequestToken must be 32 to 64 characters."
	}
	if v, ok := sec.versions[token]; ok {
		if v.value == value {
			return v, "", ""
		}
		return nil, "ResourceExistsException", "You can't modify an existing version, you can only create a new version."
	}
	if len(stages) == 0 {
		stages = []string{"AWSCURRENT"}
	}
	v := &version{id: token, value: value, created: s.now()}
	sec.versions[token] = v
	sec.order = append(sec.order, token)
	for _, st := range stages {
		sec.moveStage(st, v)
	}
	sec.changed = s.now()
	return v, "", ""
}

func decode(b []byte, v any) (string, string) {
	if err := json.Unmarshal(b, v); err != nil {
		return "InvalidRequestException", "malformed request body"
	}
	return "", ""
}

func (s *Server) createSecret(b []byte) (any, string, string) {
	var in struct {
		Name, SecretString, ClientRequestToken, KmsKeyId, Description string
	}
	if typ, msg := decode(b, &in); typ != "" {
		return nil, typ, msg
	}
	if in.Name == "" || len(in.Name) > 512 {
		return nil, "InvalidParameterException", "Name is required (at most 512 characters)."
	}
	if sec, ok := s.secrets[in.Name]; ok {
		if sec.deleted != nil {
			return nil, "InvalidRequestException", "You can't create this secret because a secret with this name is already scheduled for deletion."
		}
		if v, ok := sec.versions[in.ClientRequestToken]; ok && v.value == in.SecretString {
			return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id}, "", ""
		}
		return nil, "ResourceExistsException", "The operation failed because the secret " + in.Name + " already exists."
	}
	sec := &secret{arn: s.arn(in.Name), name: in.Name, kmsKeyID: in.KmsKeyId, description: in.Description, created: s.now(), versions: map[string]*version{}}
	var v *version
	if in.SecretString != "" {
		var typ, msg string
		if v, typ, msg = s.addVersion(sec, in.ClientRequestToken, in.SecretString, nil); typ != "" {
			return nil, typ, msg
		}
	}
	s.secrets[in.Name] = sec
	out := map[string]any{"ARN": sec.arn, "Name": sec.name}
	if v != nil {
		out["VersionId"] = v.id
	}
	return out, "", ""
}

func (s *Server) putSecretValue(b []byte) (any, string, string) {
	var in struct {
		SecretId, SecretString, ClientRequestToken string
		VersionStages                              []string
	}
	if typ, msg := decode(b, &in); typ != "" {
		return nil, typ, msg
	}
	sec, typ, msg := s.live(in.SecretId)
	if typ != "" {
		return nil, typ, msg
	}
	v, typ, msg := s.addVersion(sec, in.ClientRequestToken, in.SecretString, in.VersionStages)
	if typ != "" {
		return nil, typ, msg
	}
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": v.stages}, "", ""
}

func (s *Server) valueOf(sec *secret, v *version) map[string]any {
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "SecretString": v.value, "VersionStages": v.stages, "CreatedDate": float64(v.created.UnixNano()) / 1e9}
}

func (s *Server) getSecretValue(b []byte) (any, string, string) {
	var in struct{ SecretId, VersionId, VersionStage string }
	if typ, msg := decode(b, &in); typ != "" {
		return nil, typ, msg
	}
	sec, typ, msg := s.live(in.SecretId)
	if typ != "" {
		return nil, typ, msg
	}
	var v *version
	switch {
	case in.VersionId != "":
		v = sec.versions[in.VersionId]
		if v != nil && in.VersionStage != "" && !slices.Contains(v.stages, in.VersionStage) {
			return nil, "InvalidParameterException", "The version ID and stage don't match."
		}
	default:
		st := in.VersionStage
		if st == "" {
			st = "AWSCURRENT"
		}
		v = sec.stage(st)
	}
	if v == nil {
		return nil, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: " + in.VersionStage
	}
	return s.valueOf(sec, v), "", ""
}

type filter struct {
	Key    string
	Values []string
}

func (s *Server) matching(filters []filter, includeDeleted bool) []*secret {
	var out []*secret
	for _, sec := range s.secrets {
		if sec.deleted != nil && !includeDeleted {
			continue
		}
		ok := true
		for _, f := range filters {
			if f.Key != "name" {
				continue
			}
			any := false
			for _, v := range f.Values {
				// AWS: prefix match on the name, not case-sensitive; "!" negates.
				neg := strings.HasPrefix(v, "!")
				m := strings.HasPrefix(strings.ToLower(sec.name), strings.ToLower(strings.TrimPrefix(v, "!")))
				any = any || m != neg
			}
			ok = ok && any
		}
		if ok {
			out = append(out, sec)
		}
	}
	slices.SortFunc(out, func(a, b *secret) int { return strings.Compare(a.name, b.name) })
	return out
}

// page applies MaxResults/NextToken over a sorted list; NextToken is an opaque offset.
func page[T any](all []T, max int, token string, limit int) ([]T, string, string, string) {
	if max == 0 {
		max = limit
	}
	if max < 1 || max > limit {
		return nil, "", "InvalidParameterException", fmt.Sprintf("MaxResults must be between 1 and %d.", limit)
	}
	start := 0
	if token != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(token, "tok-"))
		if err != nil || n < 0 || n > len(all) {
			return nil, "", "InvalidNextTokenException", "The NextToken value is invalid."
		}
		start = n
	}
	end := min(start+max, len(all))
	next := ""
	if end < len(all) {
		next = "tok-" + strconv.Itoa(end)
	}
	return all[start:end], next, "", ""
}

func (s *Server) listSecrets(b []byte) (any, string, string) {
	var in struct {
		Filters                []filter
		MaxResults             int
		NextToken              string
		IncludePlannedDeletion bool
	}
	if typ, msg := decode(b, &in); typ != "" {
		return nil, typ, msg
	}
	got, next, typ, msg := page(s.matching(in.Filters, in.IncludePlannedDeletion), in.MaxResults, in.NextToken, 100)
	if typ != "" {
		return nil, typ, msg
	}
	list := []map[string]any{}
	for _, sec := range got {
		list = append(list, s.describeOut(sec))
	}
	out := map[string]any{"SecretList": list}
	if next != "" {
		out["NextToken"] = next
	}
	return out, "", ""
}

func (s *Server) batchGet(b []byte) (any, string, string) {
	var in struct {
		SecretIdList []string
		Filters      []filter
		MaxResults   int
		NextToken    string
	}
	if typ, msg := decode(b, &in); typ != "" {
		return nil, typ, msg
	}
	if (len(in.SecretIdList) > 0) == (len(in.Filters) > 0) {
		return nil, "InvalidParameterException", "Specify either SecretIdList or Filters, not both."
	}
	values, errs := []map[string]any{}, []map[string]any{}
	if len(in.SecretIdList) > 0 {
		if len(in.SecretIdList) > 20 {
			return nil, "InvalidParameterException", "SecretIdList can contain at most 20 secrets."
		}
		for _, id := range in.SecretIdList {
			sec, typ, msg := s.live(id)
			if typ == "" && sec.stage("AWSCURRENT") == nil {
				typ, msg = "ResourceNotFoundException", "no AWSCURRENT version"
			}
			if typ != "" {
				errs = append(errs, map[string]any{"SecretId": id, "ErrorCode": typ, "Message": msg})
				continue
			}
			values = append(values, s.valueOf(sec, sec.stage("AWSCURRENT")))
		}
		return map[string]any{"SecretValues": values, "Errors": errs}, "", ""
	}
	got, next, typ, msg := page(s.matching(in.Filters, false), in.MaxResults, in.NextToken, 20)
	if typ != "" {
		return nil, typ, msg
	}
	for _, sec := range got {
		if v := sec.stage("AWSCURRENT"); v != nil {
			values = append(values, s.valueOf(sec, v))
		}
	}
	out := map[string]any{"SecretValues": values, "Errors": errs}
	if next != "" {
		out["NextToken"] = next
	}
	return out, "", ""
}

func (s *Server) describeOut(sec *secret) map[string]any {
	stages := map[string][]string{}
	for id, v := range sec.versions {
		if len(v.stages) > 0 {
			stages[id] = v.stages
		}
	}
	out := map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionIdsToStages": stages, "SecretVersionsToStages": stages,
		"CreatedDate": float64(sec.created.Unix()), "LastChangedDate": float64(sec.changed.Unix())}
	if sec.kmsKeyID != "" {
		out["KmsKeyId"] = sec.kmsKeyID
	}
	if sec.deleted != nil {
		out["DeletedDate"] = float64(sec.deleted.Unix())
	}
	return out
}

func (s *Server) describe(b []byte) (any, string, string) {
	var in struct{ SecretId string }
	if typ, msg := decode(b, &in); typ != "" {
		return nil, typ, msg
	}
	sec, typ, msg := s.find(in.SecretId)
	if typ != "" {
		return nil, typ, msg
	}
	return s.describeOut(sec), "", ""
}

func (s *Server) updateStage(b []byte) (any, string, string) {
	var in struct{ SecretId, VersionStage, MoveToVersionId, RemoveFromVersionId string }
	if typ, msg := decode(b, &in); typ != "" {
		return nil, typ, msg
	}
	sec, typ, msg := s.live(in.SecretId)
	if typ != "" {
		return nil, typ, msg
	}
	if in.VersionStage == "" {
		return nil, "InvalidParameterException", "VersionStage is required."
	}
	holder := sec.stage(in.VersionStage)
	if in.RemoveFromVersionId != "" && (holder == nil || holder.id != in.RemoveFromVersionId) {
		return nil, "InvalidParameterException", "The staging label " + in.VersionStage + " is not attached to version " + in.RemoveFromVersionId + "."
	}
	if in.MoveToVersionId == "" {
		if in.VersionStage == "AWSCURRENT" {
			return nil, "InvalidParameterException", "You can't remove AWSCURRENT without moving it to another version."
		}
		if holder != nil {
			i := slices.Index(holder.stages, in.VersionStage)
			holder.stages = slices.Delete(holder.stages, i, i+1)
		}
	} else {
		target := sec.versions[in.MoveToVersionId]
		if target == nil {
			return nil, "ResourceNotFoundException", "Secrets Manager can't find the specified secret version."
		}
		if holder != nil && holder != target && in.RemoveFromVersionId == "" {
			return nil, "InvalidParameterException", "The staging label " + in.VersionStage + " is currently attached to version " + holder.id + ", so you must explicitly reference that version in RemoveFromVersionId."
		}
		sec.moveStage(in.VersionStage, target)
	}
	sec.changed = s.now()
	return map[string]any{"ARN": sec.arn, "Name": sec.name}, "", ""
}

func (s *Server) deleteSecret(b []byte) (any, string, string) {
	var in struct {
		SecretId                   string
		RecoveryWindowInDays       int64
		ForceDeleteWithoutRecovery bool
	}
	if typ, msg := decode(b, &in); typ != "" {
		return nil, typ, msg
	}
	if in.ForceDeleteWithoutRecovery && in.RecoveryWindowInDays != 0 {
		return nil, "InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
	}
	sec, typ, msg := s.find(in.SecretId)
	if typ != "" {
		return nil, typ, msg
	}
	now := s.now()
	if in.ForceDeleteWithoutRecovery {
		delete(s.secrets, sec.name)
		return map[string]any{"ARN": sec.arn, "Name": sec.name, "DeletionDate": float64(now.Unix())}, "", ""
	}
	days := in.RecoveryWindowInDays
	if days == 0 {
		days = 30
	}
	if days < 7 || days > 30 {
		return nil, "InvalidParameterException", "RecoveryWindowInDays must be between 7 and 30."
	}
	if sec.deleted != nil {
		return nil, "InvalidRequestException", "You can't perform this operation on the secret because it was already scheduled for deletion."
	}
	sec.deleted = &now
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "DeletionDate": float64(now.Add(time.Duration(days) * 24 * time.Hour).Unix())}, "", ""
}
