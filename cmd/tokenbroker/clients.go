package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker/registry"
	"github.com/tokenbroker/tokenbroker/broker/runtime"
	"github.com/tokenbroker/tokenbroker/cmd/internal/clientcli"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// clientFlags are the metadata flags of clients create/update.
type clientFlags struct {
	id, name, method, scope, defaultAud, metadata, jwks  string
	subjectDN, sanDNS, sanURI, sanIP, sanEmail, caSHA256 string
	federated                                            string
	resources                                            clientcli.ListFlag
	lifetime                                             time.Duration
	bound, disabled, selfManage                          bool
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.id, "id", "", "client_id (default: generated)")
	fs.StringVar(&f.name, "name", "", "client_name")
	fs.StringVar(&f.method, "method", "", "token_endpoint_auth_method (default client_secret_basic)")
	fs.StringVar(&f.scope, "scope", "", "space-separated scopes the client may request")
	fs.Var(&f.resources, "resource", "allowed resource / audience `URI` (repeat)")
	fs.StringVar(&f.defaultAud, "default-audience", "", "audience when the request names no resource")
	fs.DurationVar(&f.lifetime, "lifetime", 0, "access token lifetime (≤ the global maximum)")
	fs.StringVar(&f.jwks, "jwks", "", "`FILE` with the client's JWK Set (private_key_jwt, self_signed_tls_client_auth)")
	fs.StringVar(&f.subjectDN, "tls-subject-dn", "", "tls_client_auth_subject_dn")
	fs.StringVar(&f.sanDNS, "tls-san-dns", "", "tls_client_auth_san_dns")
	fs.StringVar(&f.sanURI, "tls-san-uri", "", "tls_client_auth_san_uri (e.g. a SPIFFE ID)")
	fs.StringVar(&f.sanIP, "tls-san-ip", "", "tls_client_auth_san_ip")
	fs.StringVar(&f.sanEmail, "tls-san-email", "", "tls_client_auth_san_email")
	fs.StringVar(&f.caSHA256, "tls-ca-sha256", "", "pin the issuing CA (hex SHA-256 of its certificate)")
	fs.BoolVar(&f.bound, "bound-tokens", false, "tls_client_certificate_bound_access_tokens")
	fs.StringVar(&f.federated, "federated-subject", "", "federated_jwt: the accepted external identity, `ISSUER#SUB` (e.g. https://kube.example#system:serviceaccount:ns:sa)")
	fs.BoolVar(&f.disabled, "disabled", false, "disable the client")
	fs.StringVar(&f.metadata, "metadata", "", "RFC 7591 metadata JSON `FILE` (- for stdin); flags override its members")
}

// applyCeiling grants what the given flags set: an operator's flag sets the
// record and the operator ceiling alike (a client's RFC 7592 update can
// narrow within the ceiling, never widen it). Flags not given leave the
// ceiling as it was, so a client that narrowed itself keeps its grant.
func (f *clientFlags) applyCeiling(fs *flag.FlagSet, g *backends.Ceiling) {
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "method":
			g.TokenEndpointAuthMethod = f.method
		case "scope":
			g.Scope = f.scope
		case "resource":
			g.AllowedResources = f.resources
		case "default-audience":
			g.DefaultAudience = f.defaultAud
		case "lifetime":
			g.AccessTokenLifetime = int64(f.lifetime / time.Second)
		case "tls-subject-dn":
			g.TLSClientAuthSubjectDN = f.subjectDN
		case "tls-san-dns":
			g.TLSClientAuthSANDNS = f.sanDNS
		case "tls-san-uri":
			g.TLSClientAuthSANURI = f.sanURI
		case "tls-san-ip":
			g.TLSClientAuthSANIP = f.sanIP
		case "tls-san-email":
			g.TLSClientAuthSANEmail = f.sanEmail
		case "tls-ca-sha256":
			g.TLSClientAuthCASHA256 = f.caSHA256
		case "bound-tokens":
			g.TLSClientCertificateBoundAccessTokens = f.bound
		}
	})
}

// apply sets the members whose flags were given on c.
func (f *clientFlags) apply(fs *flag.FlagSet, c *backends.Client) error {
	var err error
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "id":
			c.ClientID = f.id
		case "name":
			c.ClientName = f.name
		case "method":
			c.TokenEndpointAuthMethod = f.method
		case "scope":
			c.Scope = f.scope
		case "resource":
			c.AllowedResources = f.resources
		case "default-audience":
			c.DefaultAudience = f.defaultAud
		case "lifetime":
			c.AccessTokenLifetime = int64(f.lifetime / time.Second)
		case "jwks":
			var b []byte
			if b, err = config.ReadLimited(f.jwks, 64<<10); err == nil {
				c.JWKS = json.RawMessage(b)
			}
		case "tls-subject-dn":
			c.TLSClientAuthSubjectDN = f.subjectDN
		case "tls-san-dns":
			c.TLSClientAuthSANDNS = f.sanDNS
		case "tls-san-uri":
			c.TLSClientAuthSANURI = f.sanURI
		case "tls-san-ip":
			c.TLSClientAuthSANIP = f.sanIP
		case "tls-san-email":
			c.TLSClientAuthSANEmail = f.sanEmail
		case "tls-ca-sha256":
			c.TLSClientAuthCASHA256 = f.caSHA256
		case "bound-tokens":
			c.TLSClientCertificateBoundAccessTokens = f.bound
		case "federated-subject":
			iss, sub, ok := strings.Cut(f.federated, "#")
			if !ok {
				err = fmt.Errorf("--federated-subject %q: want ISSUER#SUB", f.federated)
			}
			c.FederatedSubject = &backends.FederatedSubject{Issuer: iss, Subject: sub}
		case "disabled":
			c.Disabled = f.disabled
		}
	})
	return err
}

func (f *clientFlags) base(stdin io.Reader) (*backends.Client, error) {
	if f.metadata == "" {
		return &backends.Client{}, nil
	}
	var b []byte
	var err error
	if f.metadata == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		b, err = config.ReadLimited(f.metadata, 1<<20)
	}
	if err != nil {
		return nil, err
	}
	// The operator's file: decoded strictly like every record (exact member
	// names, bounds), and it may set what a client may not (disabled, operator_ceiling).
	c, err := backends.DecodeClient(b)
	if err != nil {
		return nil, fmt.Errorf("--metadata: %w", err)
	}
	return c, nil
}

// clientsCommand is a clients subcommand over the registry: register adds
// its own flags, do runs it with the client id (when it takes one).
func clientsCommand(register func(fs *flag.FlagSet), do func(ctx context.Context, e env, reg *registry.Registry, args []string) error) func(fs *flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		var bf backendFlags
		bf.register(fs)
		if register != nil {
			register(fs)
		}
		return func(ctx context.Context, e env, args []string) error {
			reg, closeFn, err := openRegistry(ctx, &bf, e.stderr)
			if err != nil {
				return err
			}
			defer closeFn()
			return do(ctx, e, reg, args)
		}
	}
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

var clientsListCommand = clientsCommand(nil, func(ctx context.Context, e env, reg *registry.Registry, _ []string) error {
	ids, err := reg.List(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		fmt.Fprintln(e.stdout, id)
	}
	return nil
})

var clientsGetCommand = clientsCommand(nil, func(ctx context.Context, e env, reg *registry.Registry, args []string) error {
	c, err := reg.Get(ctx, args[0])
	if err != nil {
		return fmt.Errorf("client %q: %w", args[0], err)
	}
	return printJSON(e.stdout, c)
})

var clientsDeleteCommand = clientsCommand(nil, func(ctx context.Context, e env, reg *registry.Registry, args []string) error {
	if err := reg.Delete(ctx, args[0]); err != nil {
		return fmt.Errorf("client %q: %w", args[0], err)
	}
	fmt.Fprintf(e.stdout, "deleted %s\n", args[0])
	return nil
})

func clientsRotateCommand(fs *flag.FlagSet) runFunc {
	var grace time.Duration
	return clientsCommand(func(fs *flag.FlagSet) {
		fs.DurationVar(&grace, "grace", 0, "how long the old secret stays valid (default secrets.rotation_grace, 24h)")
	}, func(ctx context.Context, e env, reg *registry.Registry, args []string) error {
		secret, err := reg.RotateSecret(ctx, args[0], grace)
		if err != nil {
			return fmt.Errorf("client %q: %w", args[0], err)
		}
		return printJSON(e.stdout, map[string]string{"client_id": args[0], "client_secret": secret})
	})(fs)
}

func clientsCreateCommand(fs *flag.FlagSet) runFunc {
	var cf clientFlags
	return clientsCommand(func(fs *flag.FlagSet) {
		cf.register(fs)
		fs.BoolVar(&cf.selfManage, "self-manage", false, "issue an RFC 7592 registration access token: the client may read, narrow and delete its registration")
	}, func(ctx context.Context, e env, reg *registry.Registry, _ []string) error {
		c, err := cf.base(e.stdin)
		if err != nil {
			return err
		}
		if err := cf.apply(fs, c); err != nil {
			return err
		}
		if c.Ceiling != nil {
			cf.applyCeiling(fs, c.Ceiling)
		} // else Create grants exactly the record
		var opts []registry.CreateOption
		if cf.selfManage {
			opts = append(opts, registry.WithRegistrationToken())
		}
		r, err := reg.Create(ctx, c, opts...)
		if err != nil {
			return err
		}
		return printJSON(e.stdout, registeredJSON(r))
	})(fs)
}

// clientsUpdateCommand: flags change the current record, --metadata replaces it.
func clientsUpdateCommand(fs *flag.FlagSet) runFunc {
	var cf clientFlags
	return clientsCommand(cf.register, func(ctx context.Context, e env, reg *registry.Registry, args []string) error {
		id := args[0]
		c, err := reg.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("client %q: %w", id, err)
		}
		if c.Ceiling == nil {
			c.Ceiling = backends.CeilingOf(c) // a record from before ceilings: it grants what it holds
		}
		if cf.metadata != "" {
			rev := c.Revision
			if c, err = cf.base(e.stdin); err != nil {
				return err
			}
			c.Revision = rev
			// A replacement grants what it holds (Update: a nil ceiling is
			// the record's own), unless it names its own ceiling.
		}
		if err := cf.apply(fs, c); err != nil {
			return err
		}
		if c.Ceiling != nil {
			cf.applyCeiling(fs, c.Ceiling)
		}
		r, err := reg.Update(ctx, id, c)
		if err != nil {
			return err
		}
		return printJSON(e.stdout, registeredJSON(r))
	})(fs)
}

func registeredJSON(r *registry.Registered) map[string]any {
	out := map[string]any{"client": r.Client}
	if r.Secret != "" {
		out["client_secret"] = r.Secret
	}
	if r.RegistrationToken != "" {
		out["registration_access_token"] = r.RegistrationToken
	}
	return out
}

// openRegistry opens the configured backend for the CLI.
func openRegistry(ctx context.Context, bf *backendFlags, stderr io.Writer) (*registry.Registry, func(), error) {
	fc, store, err := bf.open(ctx, stderr)
	if err != nil {
		return nil, nil, err
	}
	reg := registry.New(store, registry.Config{
		Methods:         runtime.SupportedMethods,
		ScopesSupported: fc.ScopesSupported,
		MaxLifetime:     time.Duration(fc.Tokens.MaxLifetime),
		DefaultLifetime: time.Duration(fc.Tokens.Lifetime),
		RotationGrace:   time.Duration(fc.Secrets.RotationGrace),
	})
	return reg, func() { store.Close() }, nil
}
