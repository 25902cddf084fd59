// Package state is the small shared-state seam: the facts that must be the same
// on every broker replica — assertion jti values already used, revoked token
// ids, rate-limit buckets — behind small interfaces, with a bounded in-memory
// implementation for a single node and a Redis one for replicas.
//
// Every key belongs to an owner (a client, for one purpose) and counts
// against that owner's Share: one client that fills its share is refused
// (ErrShareFull) while every other client keeps recording.
//
//	st := state.NewMemory(1_000_000)
//	fresh, err := st.Once(ctx, state.Share{Owner: "jti:" + clientID, Max: 10_000}, jti, exp)
//	if err != nil || !fresh { /* replay, share full, or cannot tell: refuse (fail closed) */ }
package state
