package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
)

// Name is the Vault backend's name in the registry (the configuration's
// backend type).
const Name = "vault"

// Settings configure the Vault backend as the process opens it; the
// fields not documented here are the Config fields of the same name.
type Settings struct {
	Address, Mount, Prefix        string
	CACert, ClientCert, ClientKey string
	Timeout                       time.Duration
	ReadOnly                      bool
	// PKIMounts are PKI engines whose issuers the broker trusts for
	// tls_client_auth (Store.PKIRoots); the process runtime reads them.
	PKIMounts []string
	Auth      AuthSettings
}

// AuthSettings choose how the broker logs in to Vault.
type AuthSettings struct {
	// Method is token, approle or cert.
	Method string
	// TokenFile holds the token (token); RoleID and SecretIDFile the
	// AppRole credentials (approle); CertRole the cert auth role (cert).
	TokenFile, RoleID, SecretIDFile, CertRole string
	// Mount of the auth method (default: its type's name).
	Mount string
}

// maxCredentialFile bounds a token or secret_id file.
const maxCredentialFile = 4096

func init() {
	backends.Register(Name, backends.Driver[Settings]{
		Validate: validateSettings,
		Check:    func(s *Settings) error { _, err := s.auth(); return err },
		Open: func(ctx context.Context, s *Settings, o backends.OpenOptions) (backends.Store, error) {
			auth, err := s.auth()
			if err != nil {
				return nil, err
			}
			return New(ctx, Config{Address: s.Address, Mount: s.Mount, Prefix: s.Prefix, Auth: auth, CACert: s.CACert,
				ClientCert: s.ClientCert, ClientKey: s.ClientKey, Timeout: s.Timeout, ReadOnly: s.ReadOnly, Logger: o.Logger})
		},
		// What the store logged in and connected with, by content: a
		// credential or CA rotated in place must open a new store on reload.
		Files: func(s *Settings) []string {
			return []string{s.Auth.TokenFile, s.Auth.SecretIDFile, s.ClientCert, s.ClientKey, s.CACert}
		},
	})
}

func validateSettings(s *Settings, n backends.Needs) error {
	var errs []error
	bad := func(field, format string, a ...any) { errs = append(errs, backends.FieldErrorf(field, format, a...)) }
	if s.Address == "" {
		bad("Address", "required for the vault backend")
	}
	switch s.Auth.Method {
	case "token":
		if s.Auth.TokenFile == "" {
			bad("Auth.TokenFile", "required for token auth")
		}
	case "approle":
		if s.Auth.RoleID == "" {
			bad("Auth.RoleID", "required for approle auth")
		}
		if s.Auth.SecretIDFile == "" {
			bad("Auth.SecretIDFile", "required for approle auth")
		}
	case "cert":
		if s.ClientCert == "" {
			bad("ClientCert", "required for cert auth")
		}
		if s.ClientKey == "" {
			bad("ClientKey", "required for cert auth")
		}
	default:
		bad("Auth.Method", "%q is not token, approle or cert", s.Auth.Method)
	}
	if s.ReadOnly && n.Writes {
		bad("ReadOnly", "registration is enabled, and it writes client records")
	}
	return errors.Join(errs...)
}

// auth reads the credentials the settings name; it connects to nothing.
func (s *Settings) auth() (Auth, error) {
	switch s.Auth.Method {
	case "token":
		b, err := readCredential(s.Auth.TokenFile)
		if err != nil {
			return nil, &backends.FieldError{Field: "Auth.TokenFile", Err: err}
		}
		return Token(b), nil
	case "approle":
		b, err := readCredential(s.Auth.SecretIDFile)
		if err != nil {
			return nil, &backends.FieldError{Field: "Auth.SecretIDFile", Err: err}
		}
		return AppRole(s.Auth.RoleID, b, s.Auth.Mount)
	case "cert":
		return Cert(s.Auth.CertRole, s.Auth.Mount), nil
	}
	return nil, backends.FieldErrorf("Auth.Method", "%q is not token, approle or cert", s.Auth.Method)
}

// readCredential reads a bounded credential file, trimmed.
func readCredential(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCredentialFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxCredentialFile {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxCredentialFile)
	}
	return strings.TrimSpace(string(b)), nil
}
