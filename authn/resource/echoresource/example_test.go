package echoresource_test

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tokenbroker/tokenbroker/authn/resource"
	"github.com/tokenbroker/tokenbroker/authn/resource/echoresource"
)

// Protecting Echo routes: the same verifier as for net/http, adapted.
func ExampleMiddleware() {
	v, err := resource.New(context.Background(), resource.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com"})
	if err != nil {
		return // (no broker in this example)
	}
	e := echo.New()
	e.GET("/orders", func(c echo.Context) error {
		claims, _ := echoresource.Claims(c)
		return c.String(http.StatusOK, "hello "+claims.ClientID)
	}, echoresource.Middleware(v, resource.Scopes("orders:read")))
}
