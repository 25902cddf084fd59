package kmstest

import (
	"slices"
	"strings"
)

func (s *Server) putAlias(b []byte, create bool) (any, string, string) {
	var in struct{ AliasName, TargetKeyId string }
	if typ, msg := decode(b, &in); typ != "" {
		return nil, typ, msg
	}
	if !strings.HasPrefix(in.AliasName, "alias/") || strings.HasPrefix(in.AliasName, "alias/aws/") || len(in.AliasName) > 256 {
		return nil, "ValidationException", "Alias must start with the prefix \"alias/\" and must not begin with \"alias/aws/\"."
	}
	// The target must be a key id or key ARN, never an alias.
	if strings.Contains(in.TargetKeyId, "alias/") {
		return nil, "ValidationException", "TargetKeyId must be a key ID or key ARN."
	}
	k, typ, msg := s.resolve(in.TargetKeyId)
	if typ != "" {
		return nil, typ, msg
	}
	if k.state == "PendingDeletion" {
		return nil, "KMSInvalidStateException", k.arn + " is pending deletion."
	}
	a, exists := s.aliases[in.AliasName]
	switch {
	case create && exists:
		return nil, "AlreadyExistsException", "An alias with the name " + s.aliasARN(in.AliasName) + " already exists"
	case !create && !exists:
		return nil, "NotFoundException", "Alias " + s.aliasARN(in.AliasName) + " is not found."
	case create:
		s.aliases[in.AliasName] = &alias{name: in.AliasName, target: k.id, created: s.now(), updated: s.now()}
	default:
		if old := s.keys[a.target]; old.spec != k.spec {
			// KMS: the new key must have the same type and key usage.
			return nil, "ValidationException", "The new target key must have the same key spec and key usage as the current one."
		}
		a.target, a.updated = k.id, s.now()
	}
	return map[string]any{}, "", ""
}

func (s *Server) listAliases(b []byte) (any, string, string) {
	var in struct {
		KeyId, Marker string
		Limit         int
	}
	if typ, msg := decode(b, &in); typ != "" {
		return nil, typ, msg
	}
	if in.Limit == 0 {
		in.Limit = 50
	}
	if in.Limit < 1 || in.Limit > 100 {
		return nil, "ValidationException", "Limit must be between 1 and 100"
	}
	filter := ""
	if in.KeyId != "" {
		k, typ, msg := s.resolve(in.KeyId)
		if typ != "" {
			return nil, typ, msg
		}
		filter = k.id
	}
	var names []string
	for n, a := range s.aliases {
		if filter == "" || a.target == filter {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	start := 0
	if in.Marker != "" {
		start = len(names)
		for i, n := range names {
			if n == in.Marker {
				start = i
			}
		}
	}
	var out []map[string]any
	i := start
	for ; i < len(names) && len(out) < in.Limit; i++ {
		a := s.aliases[names[i]]
		out = append(out, map[string]any{"AliasName": a.name, "AliasArn": s.aliasARN(a.name), "TargetKeyId": a.target,
			"CreationDate": float64(a.created.UnixNano()) / 1e9, "LastUpdatedDate": float64(a.updated.UnixNano()) / 1e9})
	}
	res := map[string]any{"Aliases": out, "Truncated": i < len(names)}
	if i < len(names) {
		res["NextMarker"] = names[i]
	}
	return res, "", ""
}
