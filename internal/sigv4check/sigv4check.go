package sigv4check

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Verifier checks SigV4 signatures made with one access key for one
// region and service.
type Verifier struct {
	AccessKey, SecretKey, Region, Service string
	// Now is the clock the 5-minute skew window is judged by (default time.Now).
	Now func() time.Time
}

const alg = "AWS4-HMAC-SHA256 "

// Verify recomputes r's signature over body and compares. It returns ("",
// "") when the signature holds, else the AWS error type and message.
func (v Verifier) Verify(r *http.Request, body []byte) (errType, msg string) {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, alg) {
		return "MissingAuthenticationTokenException", "Missing Authentication Token"
	}
	fields := map[string]string{}
	for _, p := range strings.Split(strings.TrimPrefix(auth, alg), ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		fields[k] = val
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[3] != v.Service || cred[4] != "aws4_request" {
		return "IncompleteSignatureException", "Credential should be scoped correctly."
	}
	if cred[0] != v.AccessKey {
		return "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	if cred[2] != v.Region {
		return "InvalidSignatureException", "Credential should be scoped to a valid region."
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "IncompleteSignatureException", "X-Amz-Date is missing or malformed"
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if d := now().Sub(when); d > 5*time.Minute || d < -5*time.Minute {
		return "InvalidSignatureException", "Signature expired: " + when.Format("20060102T150405Z") + " is now earlier than the allowed time."
	}
	// Rebuild the request with exactly the signed headers and sign it again.
	re, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	re.Host = r.Host
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h == "host" {
			continue
		}
		for _, val := range r.Header.Values(h) {
			re.Header.Add(h, val)
		}
	}
	sum := sha256.Sum256(body)
	signer := v4.NewSigner()
	if err := signer.SignHTTP(r.Context(), aws.Credentials{AccessKeyID: v.AccessKey, SecretAccessKey: v.SecretKey}, re, hex.EncodeToString(sum[:]), v.Service, v.Region, when); err != nil {
		return "InvalidSignatureException", err.Error()
	}
	want := ""
	for _, p := range strings.Split(strings.TrimPrefix(re.Header.Get("Authorization"), alg), ",") {
		if k, val, _ := strings.Cut(strings.TrimSpace(p), "="); k == "Signature" {
			want = val
		}
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(fields["Signature"])) != 1 {
		return "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
	}
	return "", ""
}
