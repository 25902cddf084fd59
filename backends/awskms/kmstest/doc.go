// Package kmstest is a local AWS KMS endpoint for tests, written from the
// AWS KMS API reference in the style of awssmtest: no KMS emulator installs
// on the machines this project is built on. It speaks what the awskms
// signing source and "tokenbroker keys rotate" use, to the real
// aws-sdk-go-v2 client:
//
//   - the AWS JSON 1.1 protocol (X-Amz-Target: TrentService.<Operation>),
//     with every request's Signature Version 4 recomputed and compared
//     (internal/sigv4check: a wrong secret key gets
//     InvalidSignatureException, an unknown access key
//     UnrecognizedClientException);
//   - CreateKey (ECC_NIST_P256, RSA_2048, RSA_3072, RSA_4096 with key usage
//     SIGN_VERIFY; real keys made with crypto/ecdsa and crypto/rsa),
//     DescribeKey, GetPublicKey (DER SubjectPublicKeyInfo), Sign (RAW or
//     DIGEST; ECDSA_SHA_256 answers a DER ECDSA-Sig-Value as KMS does,
//     RSASSA_PKCS1_V1_5_SHA_256 and RSASSA_PSS_SHA_256 with a 32-byte salt),
//     EnableKey, DisableKey, CreateAlias, UpdateAlias, ListAliases
//     (KeyId filter, Limit and Marker pagination, LastUpdatedDate);
//   - key ids, key ARNs, alias names and alias ARNs wherever KMS accepts them;
//   - KMS's error codes and HTTP statuses: NotFoundException,
//     DisabledException and KMSInvalidStateException (409),
//     InvalidKeyUsageException, ValidationException, AlreadyExistsException,
//     AccessDeniedException (for an operation a test denies, with AWS's
//     message naming the action and resource) and ThrottlingException
//     (injected by the test: the next n Sign calls, or every call for a while).
//
// Every call is counted per operation (Calls), and the largest number of
// Sign calls in flight at once is kept (MaxInFlight); SetSignDelay makes
// each Sign take that long, to fill the caller's queue; CorruptSignatures
// makes it answer malformed signatures (a failing endpoint).
//
// What it does not model: key policies, grants and IAM (only the denials a
// test injects), real quotas (only injected throttling), multi-Region keys,
// imported key material, custom key stores, symmetric, HMAC, ECC_NIST_P384/P521,
// SM2 and ML-DSA keys, Encrypt/Decrypt/Verify and the other operations,
// ScheduleKeyDeletion (SetKeyState puts a key in PendingDeletion), tags
// beyond storage, DryRun, grant tokens, case-sensitive JSON member names
// (it decodes with encoding/json), and eventual consistency (a change
// is visible at once; real KMS may take seconds).
//
//	srv := kmstest.New("AKIDEXAMPLE", "secret", "us-east-1")
//	defer srv.Close()
//	// point the AWS SDK at srv.URL with those static credentials
package kmstest
