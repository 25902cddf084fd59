// Command kmstestd serves kmstest, the local KMS endpoint of the tests, on
// a fixed address — for load figures and trying "signing.type: aws-kms"
// by hand; never for production. On SIGINT it prints the calls per
// operation (docs/performance.md counts KMS calls per token with it).
//
//	go run ./backends/awskms/kmstest/kmstestd --listen 127.0.0.1:4599
//	AWS_ACCESS_KEY_ID=AKIDKMSTESTD AWS_SECRET_ACCESS_KEY=kmstestd-secret tokenbroker serve --config …
package main
