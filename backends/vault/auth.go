package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	vapi "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
)

// Auth logs the broker in to Vault.
type Auth interface {
	Login(ctx context.Context, c *vapi.Client) (*vapi.Secret, error)
}

// Token authenticates with a static token (renewed while renewable).
func Token(t string) Auth { return tokenAuth(t) }

type tokenAuth string

func (t tokenAuth) Login(ctx context.Context, c *vapi.Client) (*vapi.Secret, error) {
	c.SetToken(string(t))
	s, err := c.Auth().Token().LookupSelfWithContext(ctx)
	var re *vapi.ResponseError
	if errors.As(err, &re) && re.StatusCode == 403 && !strings.Contains(strings.Join(re.Errors, " "), "invalid token") {
		// A valid token whose policy lacks lookup-self (no default policy): usable, not renewable by us.
		return &vapi.Secret{Auth: &vapi.SecretAuth{ClientToken: string(t)}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vault token: %w", err)
	}
	// Shape the lookup into an auth secret so the renewal logic treats every method alike.
	ttl, _ := s.TokenTTL()
	renewable, _ := s.TokenIsRenewable()
	return &vapi.Secret{Auth: &vapi.SecretAuth{ClientToken: string(t), LeaseDuration: int(ttl.Seconds()), Renewable: renewable}}, nil
}

// AppRole authenticates with a role id and secret id.
func AppRole(roleID, secretID string, mount string) (Auth, error) {
	opts := []approle.LoginOption{}
	if mount != "" {
		opts = append(opts, approle.WithMountPath(mount))
	}
	a, err := approle.NewAppRoleAuth(roleID, &approle.SecretID{FromString: secretID}, opts...)
	if err != nil {
		return nil, fmt.Errorf("vault approle: %w", err)
	}
	return vaultAuthMethod{a}, nil
}

// Cert authenticates with the TLS client certificate configured on the
// client (Config.ClientCert/ClientKey) against the cert auth method.
func Cert(role, mount string) Auth {
	if mount == "" {
		mount = "cert"
	}
	return certAuth{role: role, mount: mount}
}

type certAuth struct{ role, mount string }

func (a certAuth) Login(ctx context.Context, c *vapi.Client) (*vapi.Secret, error) {
	body := map[string]any{}
	if a.role != "" {
		body["name"] = a.role
	}
	s, err := c.Logical().WriteWithContext(ctx, "auth/"+a.mount+"/login", body)
	if err != nil {
		return nil, fmt.Errorf("vault cert login: %w", err)
	}
	return s, nil
}

type vaultAuthMethod struct{ m vapi.AuthMethod }

func (v vaultAuthMethod) Login(ctx context.Context, c *vapi.Client) (*vapi.Secret, error) {
	return v.m.Login(ctx, c)
}

// loginKeeper keeps the client's token alive: it renews with Vault's
// LifetimeWatcher and logs in again when renewal ends, so the token never
// silently expires.
type loginKeeper struct {
	client *vapi.Client
	auth   Auth
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startLogin(ctx context.Context, c *vapi.Client, a Auth, log *slog.Logger) (*loginKeeper, error) {
	k := &loginKeeper{client: c, auth: a, log: log}
	secret, err := k.loginOnce(ctx)
	if err != nil {
		return nil, err
	}
	kctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	k.wg.Go(func() { k.run(kctx, secret) })
	return k, nil
}

func (k *loginKeeper) loginOnce(ctx context.Context) (*vapi.Secret, error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := k.auth.Login(lctx, k.client)
	if err != nil {
		return nil, err
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return nil, errors.New("vault login returned no token")
	}
	k.client.SetToken(s.Auth.ClientToken)
	return s, nil
}

func (k *loginKeeper) run(ctx context.Context, secret *vapi.Secret) {
	backoff := time.Second
	for {
		if secret != nil && secret.Auth != nil && secret.Auth.LeaseDuration > 0 {
			k.watch(ctx, secret)
		} else if secret != nil {
			<-ctx.Done() // a non-expiring token (e.g. a dev root token): nothing to renew
		}
		if ctx.Err() != nil {
			return
		}
		var err error
		secret, err = k.loginOnce(ctx)
		if err != nil {
			k.log.Warn("vault: login failed; retrying", "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, time.Minute)
			secret = nil
			continue
		}
		backoff = time.Second
		k.log.Info("vault: logged in again", "ttl", time.Duration(secret.Auth.LeaseDuration)*time.Second)
	}
}

// watch renews until renewal ends (max TTL reached, or not renewable: then
// it returns near expiry so the caller logs in again).
func (k *loginKeeper) watch(ctx context.Context, secret *vapi.Secret) {
	if !secret.Auth.Renewable {
		wait := time.Duration(float64(secret.Auth.LeaseDuration)*0.8) * time.Second
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		return
	}
	w, err := k.client.NewLifetimeWatcher(&vapi.LifetimeWatcherInput{Secret: secret})
	if err != nil {
		k.log.Warn("vault: cannot watch the token; will log in again", "err", err)
		return
	}
	go w.Start()
	defer w.Stop()
	ttl := time.Duration(secret.Auth.LeaseDuration) * time.Second
	margin := max(ttl/4, 250*time.Millisecond)
	deadline := time.Now().Add(ttl)
	for {
		// Never wait for the watcher past the point where the token may lapse.
		timer := time.NewTimer(time.Until(deadline) - margin)
		select {
		case err := <-w.DoneCh():
			timer.Stop()
			if err != nil {
				k.log.Warn("vault: token renewal ended", "err", err)
			}
			return
		case r := <-w.RenewCh():
			timer.Stop()
			k.log.Debug("vault: token renewed", "at", r.RenewedAt)
			if r.Secret == nil || r.Secret.Auth == nil {
				continue
			}
			lease := time.Duration(r.Secret.Auth.LeaseDuration) * time.Second
			deadline = r.RenewedAt.Add(lease)
			// A renewal shorter than the token's TTL means its max TTL is near:
			// log in again now, while the current token still works.
			if lease < ttl {
				k.log.Info("vault: token reached its max TTL; logging in again")
				return
			}
		case <-timer.C:
			k.log.Info("vault: token close to expiry without a renewal; logging in again")
			return
		case <-ctx.Done():
			timer.Stop()
			return
		}
	}
}

func (k *loginKeeper) stop() {
	k.cancel()
	k.wg.Wait()
}
