// Package awssmtest is a local AWS Secrets Manager endpoint for tests. No
// emulator can be installed on the machines this project is built on, so this
// one implements, from the AWS API reference, what the awssm backend uses:
// the AWS JSON 1.1 protocol (X-Amz-Target: secretsmanager.<Operation>),
// Signature Version 4 verification, GetSecretValue, BatchGetSecretValue,
// ListSecrets (filters, pagination), DescribeSecret, CreateSecret,
// PutSecretValue (ClientRequestToken idempotency), UpdateSecretVersionStage
// and DeleteSecret, with version stages moving as AWS documents and the
// documented error codes with HTTP 400.
//
// What it does not model: IAM policies and resource policies, KMS encryption
// (KmsKeyId is stored, never used), replication, rotation Lambdas and
// RotateSecret, binary secrets (SecretBinary), tags beyond storage, the
// scheduled purge of secrets after their recovery window, quotas other than
// the throttling a test injects, and eventual consistency (writes are visible
// at once).
//
//	srv := awssmtest.New("AKIDEXAMPLE", "secret", "us-east-1")
//	defer srv.Close()
//	// point the AWS SDK at srv.URL with those static credentials
package awssmtest
