// Package jsonappend writes JSON without reflection for the token
// endpoint's hot documents (the access token's claims in authn/accesstoken,
// the token response in broker). What it writes is byte for byte what
// encoding/json writes for the same value: FuzzString checks that here, and
// the fuzz targets of its callers check their whole documents.
//
//	b = append(b, `{"iss":`...)
//	b = jsonappend.String(b, issuer)
package jsonappend
