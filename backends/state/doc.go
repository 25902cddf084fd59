// Package state is the small shared-state seam: the facts that must be the same
// on every broker replica — assertion jti values already used, revoked token
// ids, rate-limit buckets — behind small interfaces, with a bounded in-memory
// implementation for a single node and a Redis one for replicas.
//
// Every key belongs to an owner (a client, for one purpose) and counts
// against that owner's Share: one client that fills its share is refused
// (ErrShareFull) while every other client keeps recording. Many owners
// together (sybil clients) cannot fill a Memory store either: each owner
// keeps a floor of keys, and keys beyond owners' floors take at most half of
// it (ErrFull past that). Redis judges expiry by its own clock (TIME), never
// a replica's.
//
//	st := state.NewMemory(1_000_000, state.WithFloor(1_000))
//	fresh, err := st.Once(ctx, state.Share{Owner: "jti:" + clientID, Max: 10_000}, jti, exp)
//	if err != nil || !fresh { /* replay, share full, or cannot tell: refuse (fail closed) */ }
package state
