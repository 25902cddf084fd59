// Package sigv4check verifies AWS Signature Version 4 on requests that
// reach the local AWS endpoints of the tests (backends/awssm/awssmtest,
// backends/awskms/kmstest), as AWS does: the request is signed again with
// the known secret key, by the SDK's own signer, over exactly the headers
// the caller signed, and the two signatures are compared. A request that
// fails gets the error type AWS answers with (for JSON-protocol services).
//
//	v := sigv4check.Verifier{AccessKey: "AKID", SecretKey: "secret", Region: "us-east-1", Service: "kms"}
//	if typ, msg := v.Verify(r, body); typ != "" {
//		// answer HTTP 400 with __type typ and Message msg
//	}
//
// It does not model session tokens (X-Amz-Security-Token is signed and
// compared like any header, never checked against STS), presigned URLs,
// SigV4a or chunked payload signing.
package sigv4check
