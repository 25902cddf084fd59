package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// demoDPoP is the dev-mode client that requires DPoP (RFC 9449 §5.2), and
// the file its proof key is in.
const (
	demoDPoP     = "demo-dpop"
	demoDPoPKey  = "dpop-key.pem"
	dpopProofCmd = "dpop proof"
)

// dpopProofCommand prints one DPoP proof (RFC 9449 §4.2) for a request, for
// curl: -H "DPoP: $(tokenbroker dpop proof --htu URL)". Each call makes a
// new proof; a proof is good for one request within a minute.
func dpopProofCommand(fs *flag.FlagSet) runFunc {
	stateDir := fs.String("state-dir", defaultDevState, "dev-mode state `DIR`")
	keyPath := fs.String("key", "", "proof key PEM `FILE`: EC P-256/P-384, Ed25519 or RSA (default STATE_DIR/demo/"+demoDPoP+"/"+demoDPoPKey+")")
	htu := fs.String("htu", "https://"+defaultDevListen+broker.PathToken, "the request's `URL` (query and fragment are dropped)")
	htm := fs.String("htm", http.MethodPost, "the request's `METHOD`")
	nonce := fs.String("nonce", "", "the server's DPoP-Nonce, when it asked for one")
	token := fs.String("token", "", "the access `TOKEN` the request presents (adds ath, for an API)")
	return func(_ context.Context, e env, _ []string) error {
		if *keyPath == "" {
			*keyPath = filepath.Join(*stateDir, devDemo, demoDPoP, demoDPoPKey)
		}
		b, err := config.ReadLimited(*keyPath, 64<<10)
		if err != nil {
			return err
		}
		key, err := certs.ParsePrivateKeyPEM(b)
		if err != nil {
			return err
		}
		p, err := dpop.NewProver(key)
		if err != nil {
			return err
		}
		proof, err := p.Proof(*htm, *htu, *token, *nonce)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, proof)
		return nil
	}
}
