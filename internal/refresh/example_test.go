package refresh_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tokenbroker/tokenbroker/internal/refresh"
)

func ExampleEvery() {
	loaded := make(chan struct{}, 1)
	loop := refresh.Every(context.Background(), 10*time.Millisecond, func(ctx context.Context) {
		select {
		case loaded <- struct{}{}: // reload here; keep the last good value on error
		default:
		}
	})
	<-loaded
	loop.Stop()
	loop.Stop() // safe twice
	fmt.Println("reloaded in the background, then stopped")
	// Output: reloaded in the background, then stopped
}
