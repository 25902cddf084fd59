package authn

// ObserveParity reports every refusal's parity spend to f (nil: stop).
func ObserveParity(f func(table, std bool)) { parityObserved = f }
