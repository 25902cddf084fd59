package certs

// DNKey exposes DN.key to the external tests.
func DNKey(d DN) string { return d.key() }
