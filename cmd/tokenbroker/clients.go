package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker/registry"
	"github.com/tokenbroker/tokenbroker/broker/runtime"
	"github.com/tokenbroker/tokenbroker/cmd/internal/clientcli"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// clientFlags are the metadata flags of clients create/update.
type clientFlags struct {
	id, name, method, scope, defaultAud, metadata, jwks string
	spiffeID                                            string
	federated                                           string
	match                                               [len(matchFlags)]string
	resources                                           clientcli.ListFlag
	lifetime                                            time.Duration
	bound, dpop, disabled, selfManage                   bool
}

// matchFlags are the RFC 8705 §2.1.2 certificate match and our CA pin:
// each a string flag setting one member of the record.
var matchFlags = [...]struct {
	name, usage string
	member      func(c *backends.Client) *string
}{
	{"tls-subject-dn", "tls_client_auth_subject_dn", func(c *backends.Client) *string { return &c.TLSClientAuthSubjectDN }},
	{"tls-san-dns", "tls_client_auth_san_dns", func(c *backends.Client) *string { return &c.TLSClientAuthSANDNS }},
	{"tls-san-uri", "tls_client_auth_san_uri (e.g. a SPIFFE ID)", func(c *backends.Client) *string { return &c.TLSClientAuthSANURI }},
	{"tls-san-ip", "tls_client_auth_san_ip", func(c *backends.Client) *string { return &c.TLSClientAuthSANIP }},
	{"tls-san-email", "tls_client_auth_san_email", func(c *backends.Client) *string { return &c.TLSClientAuthSANEmail }},
	{"tls-ca-sha256", "pin the issuing CA (hex SHA-256 of its certificate)", func(c *backends.Client) *string { return &c.TLSClientAuthCASHA256 }},
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.id, "id", "", "client_id (default: generated)")
	fs.StringVar(&f.spiffeID, "spiffe-id", "", "the workload's `SPIFFE_ID`: the client_id becomes its key spiffe~TRUST_DOMAIN~PATH (with --method spiffe_x509 or spiffe_jwt; docs/federation.md)")
	fs.StringVar(&f.name, "name", "", "client_name")
	fs.StringVar(&f.method, "method", "", "token_endpoint_auth_method (default client_secret_basic)")
	fs.StringVar(&f.scope, "scope", "", "space-separated scopes the client may request")
	fs.Var(&f.resources, "resource", "allowed resource / audience `URI` (repeat)")
	fs.StringVar(&f.defaultAud, "default-audience", "", "audience when the request names no resource")
	fs.DurationVar(&f.lifetime, "lifetime", 0, "access token lifetime (≤ the global maximum)")
	fs.StringVar(&f.jwks, "jwks", "", "`FILE` with the client's JWK Set (private_key_jwt, self_signed_tls_client_auth)")
	for i, m := range matchFlags {
		fs.StringVar(&f.match[i], m.name, "", m.usage)
	}
	fs.BoolVar(&f.bound, "bound-tokens", false, "tls_client_certificate_bound_access_tokens")
	fs.StringVar(&f.federated, "federated-subject", "", "federated_jwt: the accepted external identity, `ISSUER#SUB` (e.g. https://kube.example#system:serviceaccount:ns:sa)")
	fs.BoolVar(&f.dpop, "dpop", false, "dpop_bound_access_tokens: every token request needs a DPoP proof (RFC 9449 §5.2)")
	fs.BoolVar(&f.disabled, "disabled", false, "disable the client")
	fs.StringVar(&f.metadata, "metadata", "", "RFC 7591 metadata JSON `FILE` (- for stdin); flags override its members")
}

// ceilingMembers maps each flag that sets a member the operator ceiling
// holds too to that member's name (RFC 7591 / RFC 8705 metadata).
var ceilingMembers = map[string]string{
	"method": "token_endpoint_auth_method", "scope": "scope", "resource": "allowed_resources",
	"default-audience": "default_audience", "lifetime": "access_token_lifetime",
	"tls-subject-dn": "tls_client_auth_subject_dn", "tls-san-dns": "tls_client_auth_san_dns",
	"tls-san-uri": "tls_client_auth_san_uri", "tls-san-ip": "tls_client_auth_san_ip",
	"tls-san-email": "tls_client_auth_san_email", "tls-ca-sha256": "tls_client_auth_ca_sha256",
	"bound-tokens": "tls_client_certificate_bound_access_tokens",
	"dpop":         "dpop_bound_access_tokens",
}

// applyCeiling grants what the given flags set: an operator's flag sets the
// record (apply, which runs first on c) and the operator ceiling alike (a
// client's RFC 7592 update can narrow within the ceiling, never widen it).
// Each member a flag set is copied from the ceiling that grants exactly the
// record (backends.CeilingOf); members no flag set keep the ceiling's value,
// so a client that narrowed itself keeps its grant.
func applyCeiling(fs *flag.FlagSet, c *backends.Client) error {
	granted, err := members(backends.CeilingOf(c))
	if err != nil {
		return err
	}
	ceiling, err := members(c.Ceiling)
	if err != nil {
		return err
	}
	fs.Visit(func(fl *flag.Flag) {
		if m, ok := ceilingMembers[fl.Name]; ok {
			ceiling[m] = granted[m] // nil (absent: omitempty's zero) clears it
		}
	})
	b, err := json.Marshal(ceiling)
	if err != nil {
		return err
	}
	g := &backends.Ceiling{}
	if err := json.Unmarshal(b, g); err != nil {
		return err
	}
	c.Ceiling = g
	return nil
}

// members is g's JSON object, member by member.
func members(g *backends.Ceiling) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// apply sets the members whose flags were given on c.
func (f *clientFlags) apply(fs *flag.FlagSet, c *backends.Client) error {
	var err error
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "id":
			c.ClientID = f.id
		case "spiffe-id":
			id, perr := spiffeid.FromString(f.spiffeID)
			if perr != nil {
				err = fmt.Errorf("--spiffe-id: %w", perr)
				return
			}
			key, ok := spiffe.ClientKey(id)
			if !ok {
				err = errors.New("--spiffe-id: the SPIFFE ID is too long for a client_id (128 characters as spiffe~TRUST_DOMAIN~PATH)")
				return
			}
			c.ClientID = key
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
		case "bound-tokens":
			c.TLSClientCertificateBoundAccessTokens = f.bound
		case "federated-subject":
			iss, sub, ok := strings.Cut(f.federated, "#")
			if !ok {
				err = fmt.Errorf("--federated-subject %q: want ISSUER#SUB", f.federated)
			}
			c.FederatedSubject = &backends.FederatedSubject{Issuer: iss, Subject: sub}
		case "dpop":
			c.DPoPBoundAccessTokens = f.dpop
		case "disabled":
			c.Disabled = f.disabled
		default:
			for i, m := range matchFlags {
				if m.name == fl.Name {
					*m.member(c) = f.match[i]
				}
			}
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
			if err := applyCeiling(fs, c); err != nil {
				return err
			}
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
			if err := applyCeiling(fs, c); err != nil {
				return err
			}
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
