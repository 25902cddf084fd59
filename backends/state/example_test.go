package state_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/state"
)

func ExampleNewMemory() {
	st := state.NewMemory(1000)
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	first, _ := st.Once(ctx, "jti:client:abc", exp)
	replay, _ := st.Once(ctx, "jti:client:abc", exp)
	fmt.Println(first, replay)
	// Output: true false
}
