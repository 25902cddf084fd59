package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/cmd/internal/clientcli"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// selfCommand is how the banner tells users to invoke this program: the
// binary's own path when it was built, "go run ./cmd/tokenbroker" under go run.
var selfCommand = func() string {
	exe := os.Args[0]
	if strings.Contains(exe, "go-build") || strings.HasSuffix(exe, ".test") {
		return "go run ./cmd/tokenbroker"
	}
	return exe
}

// assertionCommand mints an RFC 7523 client assertion for private_key_jwt.
func assertionCommand(fs *flag.FlagSet) runFunc {
	clientID := fs.String("client-id", "", "the client_id (iss and sub) (required)")
	keyPath := fs.String("key", "", "private key PEM `FILE` (default STATE_DIR/demo/CLIENT_ID/key.pem)")
	stateDir := fs.String("state-dir", defaultDevState, "dev-mode state `DIR`")
	aud := fs.String("aud", "https://"+defaultDevListen, "audience: the broker's issuer identifier")
	kid := fs.String("kid", "", "key id header (default: CLIENT_ID-1, as dev mode registers it)")
	alg := fs.String("alg", "ES256", "signature algorithm: ES256, ES384, EdDSA, PS256, RS256")
	life := fs.Duration("lifetime", time.Minute, "assertion lifetime (the broker caps it at 5m)")
	jwtSVID := fs.String("jwt-svid", "", "mint a JWT-SVID for this `SPIFFE_ID` of the dev trust domain instead (spiffe_jwt)")
	return func(_ context.Context, e env, _ []string) error {
		if *jwtSVID != "" {
			tok, err := mintJWTSVID(*stateDir, *jwtSVID, *aud, *life)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, tok)
			return nil
		}
		if *clientID == "" {
			return errors.New("--client-id is required")
		}
		if *keyPath == "" {
			*keyPath = filepath.Join(*stateDir, devDemo, *clientID, "key.pem")
		}
		if *kid == "" {
			*kid = *clientID + "-1"
		}
		b, err := config.ReadLimited(*keyPath, 64<<10)
		if err != nil {
			return err
		}
		key, err := certs.ParsePrivateKeyPEM(b)
		if err != nil {
			return err
		}
		tok, err := clientcli.SignAssertion(key, jose.SignatureAlgorithm(*alg), *kid, *clientID, *aud, *life)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, tok)
		return nil
	}
}
