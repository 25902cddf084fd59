// Package state is the small shared-state seam: the facts that must be the same
// on every broker replica — assertion jti values already used, revoked token
// ids — behind one interface, with a bounded in-memory implementation for a
// single node (a Redis implementation joins for scale-out).
//
//	st := state.NewMemory(100_000)
//	fresh, err := st.Once(ctx, "jti:"+clientID+":"+jti, exp)
//	if err != nil || !fresh { /* replay, or cannot tell: refuse (fail closed) */ }
package state
