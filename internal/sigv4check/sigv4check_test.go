package sigv4check_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tokenbroker/tokenbroker/internal/sigv4check"
)

// signed is a request signed by the SDK's signer with ak/sk at when.
func signed(t *testing.T, ak, sk, region, service string, when time.Time, body []byte) *http.Request {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", bytes.NewReader(body))
	r.Header.Set("X-Amz-Target", "TrentService.Sign")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, r, hex.EncodeToString(sum[:]), service, region, when); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerify(t *testing.T) {
	t.Parallel()
	v := sigv4check.Verifier{AccessKey: "AKID", SecretKey: "secret", Region: "us-east-1", Service: "kms"}
	body := []byte(`{"KeyId":"k"}`)
	now := time.Now()
	for _, tc := range []struct {
		name string
		r    *http.Request
		body []byte
		want string
	}{
		{"good", signed(t, "AKID", "secret", "us-east-1", "kms", now, body), body, ""},
		{"wrong secret", signed(t, "AKID", "wrong", "us-east-1", "kms", now, body), body, "InvalidSignatureException"},
		{"unknown key", signed(t, "AKOTHER", "secret", "us-east-1", "kms", now, body), body, "UnrecognizedClientException"},
		{"other region", signed(t, "AKID", "secret", "eu-west-1", "kms", now, body), body, "InvalidSignatureException"},
		{"other service", signed(t, "AKID", "secret", "us-east-1", "secretsmanager", now, body), body, "IncompleteSignatureException"},
		{"expired", signed(t, "AKID", "secret", "us-east-1", "kms", now.Add(-6*time.Minute), body), body, "InvalidSignatureException"},
		{"body changed", signed(t, "AKID", "secret", "us-east-1", "kms", now, body), []byte(`{"KeyId":"x"}`), "InvalidSignatureException"},
		{"unsigned", func() *http.Request { r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", nil); return r }(), nil, "MissingAuthenticationTokenException"},
	} {
		if got, msg := v.Verify(tc.r, tc.body); got != tc.want {
			t.Errorf("%s: %q (%s), want %q", tc.name, got, msg, tc.want)
		}
	}
}
