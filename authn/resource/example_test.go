package resource_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/tokenbroker/tokenbroker/authn/resource"
)

// Protecting an API route: tokens from the issuer, for this API, with a
// scope, bound to the caller's certificate when the token says so.
func ExampleNew() {
	v, err := resource.New(context.Background(), resource.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com"})
	if err != nil {
		return // (no broker in this example)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.Middleware(resource.Scopes("orders:read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := resource.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s\n", claims.ClientID)
	})))
}

// Behind a TLS-terminating proxy, DPoP proofs name the URL clients use; API
// replicas share one replay store so a proof works once across all of them.
func ExampleDPoPConfig() {
	v, err := resource.New(context.Background(), resource.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com",
		DPoP: resource.DPoPConfig{BaseURL: "https://api.example.com" /* , Replay: state.NewRedis(client, "orders-api:") */}})
	if err != nil {
		return // (no broker in this example)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.Middleware(resource.Scopes("orders:read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := resource.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s, bound to DPoP key %s\n", claims.ClientID, claims.DPoPThumbprint())
	})))
}
