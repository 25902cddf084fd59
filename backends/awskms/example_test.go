package awskms_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/awskms"
	"github.com/tokenbroker/tokenbroker/backends/awskms/kmstest"
	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// Open the aws-kms source (here against the local endpoint), let its
// start-up check create the first key behind the alias, and sign.
func ExampleNew() {
	ctx := context.Background()
	srv := kmstest.New("AKIDEXAMPLE", "example-secret", "eu-west-1")
	defer srv.Close()
	m, err := awskms.New(ctx, awskms.Settings{Key: "alias/tokenbroker", Endpoint: srv.URL, AWS: srv.AWSConfig()},
		signing.Options{Alg: "ES256", PublishDelay: 5 * time.Minute, MaxLifetime: 15 * time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Ensure(ctx); err != nil { // DescribeKey, GetPublicKey, one Sign
		log.Fatal(err)
	}
	set, err := m.SigningSet(ctx)
	if err != nil {
		log.Fatal(err)
	}
	sig, err := set.Active.Sign(ctx, []byte("header.payload"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(set.Active.Alg(), strings.HasPrefix(set.Active.KeyID(), "kms-"), len(sig), srv.Calls("Sign"))
	// Output: ES256 true 64 2
}
