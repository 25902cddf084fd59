package kmstest

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// AWSConfig is an SDK configuration with the endpoint's region and
// credentials (point the client's BaseEndpoint at URL).
func (s *Server) AWSConfig() *aws.Config {
	return &aws.Config{Region: s.region, Credentials: credentials.NewStaticCredentialsProvider(s.verifier.AccessKey, s.verifier.SecretKey, "")}
}

// Client is a real KMS client of the endpoint, without retries (tests
// that provision keys want to see every error).
func (s *Server) Client() *kms.Client {
	return kms.NewFromConfig(*s.AWSConfig(), func(o *kms.Options) {
		o.BaseEndpoint = aws.String(s.URL)
		o.RetryMaxAttempts = 1
	})
}
