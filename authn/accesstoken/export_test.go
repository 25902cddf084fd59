package accesstoken

// AppendClaims exposes appendClaims to the external tests.
var AppendClaims = appendClaims
