package spiffe

// WithClock is withClock, for tests of the bundle's age.
var WithClock = withClock
