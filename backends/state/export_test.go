package state

// NoBatch makes r send each Once alone (benchmarks compare the two).
func NoBatch(r *Redis) { r.noBatch = true }
