package jsonappend

import "encoding/json"

// String appends s as a JSON string. Plain printable ASCII (every token,
// scope and client_id in practice) is copied; anything else goes through
// encoding/json, so escaping rules stay encoding/json's.
func String(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil { // cannot happen for a string
				return append(b, `""`...)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
