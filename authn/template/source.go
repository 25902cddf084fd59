package template

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
)

// Lister reads every registered client (a backends.ClientStore).
type Lister interface {
	ListClients(ctx context.Context) ([]string, error)
	GetClient(ctx context.Context, id string) (*backends.Client, error)
}

// ErrAmbiguous is wrapped when a workload identity matches a template and
// is held by a registered client too: the request is refused, never
// resolved to either (the identity must be named by its client_id).
var ErrAmbiguous = errors.New("identity held by a registered client and matched by a template")

// Index knows which workload identities registered clients hold
// (Identities), so that a template is never applied to one of them. It is
// loaded from the store at start and refreshed every interval in the
// background (the last good index kept when a refresh fails): a client
// registered on another replica meanwhile is seen within one interval.
type Index struct {
	set      *Set
	store    Lister
	log      *slog.Logger
	interval time.Duration

	mu  sync.RWMutex
	ids map[string]string // identity → client_id

	stop chan struct{}
	once sync.Once
	done chan struct{}
}

// DefaultIndexRefresh is how often an Index re-reads the registry.
const DefaultIndexRefresh = time.Minute

// NewIndex loads the registered identities (an error only when the
// registry cannot be read: no index, no templates). A template that could
// match one of them is logged at error level, naming both, and requests for
// that identity are refused (ErrAmbiguous) — the same answer as for a client
// registered after start. It is not a start error: a registration is not
// the operator's configuration (RFC 7591 lets an initial access token's
// holder name a tls_client_auth_san_uri), and one must never stop a reload
// or another replica's start. interval ≤ 0: DefaultIndexRefresh.
func NewIndex(ctx context.Context, set *Set, store Lister, log *slog.Logger, interval time.Duration) (*Index, error) {
	if interval <= 0 {
		interval = DefaultIndexRefresh
	}
	if log == nil {
		log = slog.Default()
	}
	x := &Index{set: set, store: store, log: log, interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
	ids, conflicts, err := x.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("client templates: reading the registered clients: %w", err)
	}
	for _, c := range conflicts {
		log.Error("client templates: ambiguous identity; requests for it are refused", "conflict", c)
	}
	x.ids = ids
	go x.loop()
	return x, nil
}

func (x *Index) load(ctx context.Context) (map[string]string, []string, error) {
	clients, err := x.clients(ctx)
	if err != nil {
		return nil, nil, err
	}
	ids := map[string]string{}
	var conflicts []string
	for _, c := range clients {
		for _, ident := range Identities(c) {
			ids[ident] = c.ClientID
			if t, ok := x.set.Conflict(ident); ok {
				conflicts = append(conflicts, fmt.Sprintf("template %q could match %.200q, the identity of registered client %q", t.Name, ident, c.ClientID))
			}
		}
	}
	return ids, conflicts, nil
}

func (x *Index) loop() {
	defer close(x.done)
	t := time.NewTicker(x.interval)
	defer t.Stop()
	for {
		select {
		case <-x.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), x.interval)
			_ = x.Refresh(ctx)
			cancel()
		}
	}
}

// clients reads every registered client: in a few bulk calls when the
// store can (backends.Warmer: Secrets Manager's BatchGetSecretValue), else
// one list and one read per client.
func (x *Index) clients(ctx context.Context) ([]*backends.Client, error) {
	if w, ok := x.store.(backends.Warmer); ok {
		entries, err := w.WarmClients(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]*backends.Client, 0, len(entries))
		for _, e := range entries {
			out = append(out, e.Client)
		}
		return out, nil
	}
	list, err := x.store.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*backends.Client, 0, len(list))
	for _, id := range list {
		c, err := x.store.GetClient(ctx, id)
		if errors.Is(err, backends.ErrNotFound) || errors.Is(err, backends.ErrInvalidRecord) {
			continue // deleted meanwhile, or refused on its own
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Refresh re-reads the registry now. On failure the last index stays.
func (x *Index) Refresh(ctx context.Context) error {
	ids, conflicts, err := x.load(ctx)
	if err != nil {
		x.log.Warn("client templates: registry re-read failed; keeping the last index", "err", err)
		return err
	}
	for _, c := range conflicts {
		x.log.Warn("client templates: ambiguous identity; requests for it are refused", "conflict", c)
	}
	x.mu.Lock()
	x.ids = ids
	x.mu.Unlock()
	return nil
}

// Registered returns the client_id of the registered client holding identity id.
func (x *Index) Registered(id string) (string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	c, ok := x.ids[id]
	return c, ok
}

// Close stops the background refresh; safe to call twice.
func (x *Index) Close() error {
	x.once.Do(func() { close(x.stop); <-x.done })
	return nil
}

// Source is the client source the Authenticator reads through: registered
// clients from the wrapped source (the client cache), and for a SPIFFE ID
// no registry can hold as a client_id, the client its matching template
// synthesizes — unless a registered client holds that identity (refused:
// ErrAmbiguous).
type Source struct {
	inner authn.ClientSource
	set   *Set
	index *Index
}

var _ authn.WorkloadSource = (*Source)(nil)

// NewSource wraps inner.
func NewSource(inner authn.ClientSource, set *Set, index *Index) *Source {
	return &Source{inner: inner, set: set, index: index}
}

// Get is the wrapped source's answer; for a SPIFFE ID it does not hold (a
// source that maps SPIFFE IDs to registered clients answers first: the
// registered client wins), the template's client (Workload).
func (s *Source) Get(ctx context.Context, id string) (*backends.ClientEntry, error) {
	e, err := s.inner.Get(ctx, id)
	if errors.Is(err, backends.ErrNotFound) && strings.HasPrefix(id, spiffeScheme) {
		return s.Workload(ctx, id)
	}
	return e, err
}

// Workload resolves a SPIFFE ID through the templates. Anything else, or
// an ID no template matches, is backends.ErrNotFound.
func (s *Source) Workload(_ context.Context, id string) (*backends.ClientEntry, error) {
	if !strings.HasPrefix(id, spiffeScheme) {
		return nil, fmt.Errorf("no template for %.64q: %w", id, backends.ErrNotFound)
	}
	t, ok := s.set.MatchSPIFFE(id)
	if !ok {
		return nil, fmt.Errorf("no template matches %.200q: %w", id, backends.ErrNotFound)
	}
	if c, held := s.index.Registered(id); held {
		return nil, fmt.Errorf("template %q: %w %q: %w", t.Name, ErrAmbiguous, c, backends.ErrNotFound)
	}
	return t.Entry(id), nil
}
