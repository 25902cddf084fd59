package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"golang.org/x/oauth2"

	"github.com/tokenbroker/tokenbroker/authn/tokensource"
	"github.com/tokenbroker/tokenbroker/cmd/internal/clientcli"
)

// dpopFlags are "tokenbroker token --dpop": a DPoP-bound token (RFC 9449)
// and, for --url, a ready proof and curl line for one request.
type dpopFlags struct {
	on             bool
	keyFile        string
	target, method string
}

func (f *dpopFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "dpop", false, "get a DPoP-bound token (RFC 9449) with a fresh P-256 key; prints the token, its key thumbprint and, with --url, a proof and a curl line")
	fs.StringVar(&f.keyFile, "dpop-key", "", "PEM private key `FILE` for the DPoP proofs (implies --dpop)")
	fs.StringVar(&f.target, "url", "", "with --dpop: the resource `URL` to make a proof for")
	fs.StringVar(&f.method, "method", "GET", "with --dpop --url: the request's HTTP `METHOD`")
}

// config is the kit's DPoP setting, nil without --dpop.
func (f *dpopFlags) config() (*tokensource.DPoP, error) {
	if !f.on && f.keyFile == "" {
		if f.target != "" {
			return nil, errors.New("--url needs --dpop")
		}
		return nil, nil
	}
	if f.target != "" {
		u, err := url.Parse(f.target)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("--url %q is not an http(s) URL", f.target)
		}
	}
	if f.method == "" || strings.ContainsAny(f.method, " \t\r\n'") {
		return nil, fmt.Errorf("--method %q is not an HTTP method", f.method)
	}
	d := &tokensource.DPoP{}
	if f.keyFile != "" {
		var err error
		if d.Key, err = clientcli.ReadKey(f.keyFile); err != nil {
			return nil, fmt.Errorf("--dpop-key: %w", err)
		}
	}
	return d, nil
}

// print shows the token, its type and binding, and — for --url — a proof
// for that one request and a curl line using both.
func (f *dpopFlags) print(w io.Writer, src *tokensource.Source, tok *oauth2.Token, isf *clientcli.IssuerFlags, decode bool) error {
	if decode {
		if err := printDecoded(w, tok.AccessToken); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "access_token: %s\n", tok.AccessToken)
	}
	fmt.Fprintf(w, "token_type:   %s\njkt:          %s\n", tok.TokenType, src.JKT())
	if f.target == "" {
		fmt.Fprintln(w, "# give --url (and --method) for a proof and a curl line")
		return nil
	}
	proof, err := src.DPoPProof(f.method, f.target, tok)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "dpop_proof:   %s\n", proof)
	fmt.Fprintf(w, "# the proof is for %s %s only, single use, and accepted for about a minute (RFC 9449 §4.3, §11.1)\n", f.method, f.target)
	curl := "curl"
	if ca := caFile(isf); ca != "" {
		curl += " --cacert " + shellQuote(ca)
	}
	if f.method != "GET" {
		curl += " -X " + shellQuote(f.method)
	}
	fmt.Fprintf(w, "%s -H %s -H %s %s\n", curl, shellQuote("Authorization: DPoP "+tok.AccessToken), shellQuote("DPoP: "+proof), shellQuote(f.target))
	return nil
}

// caFile is the CA file the broker was trusted with, for the curl line
// (in dev mode the demo API's certificate comes from the same CA).
func caFile(isf *clientcli.IssuerFlags) string {
	if isf.CACert != "" {
		return isf.CACert
	}
	if p := filepath.Join(isf.StateDir, clientcli.DevCA); fileExists(p) {
		return p
	}
	return ""
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
