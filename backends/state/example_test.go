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
	share := state.Share{Owner: "jti:client", Max: 100} // client's live jtis
	first, _ := st.Once(ctx, share, "abc", exp)
	replay, _ := st.Once(ctx, share, "abc", exp)
	fmt.Println(first, replay)
	// Output: true false
}
