package kmstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// sign answers Sign outside the lock, so that calls run concurrently.
func (s *Server) sign(w http.ResponseWriter, b []byte) {
	var in struct {
		KeyId, MessageType, SigningAlgorithm string
		Message                              []byte
		GrantTokens                          []string
		DryRun                               bool
	}
	if typ, msg := decode(b, &in); typ != "" {
		fail(w, typ, msg)
		return
	}
	s.mu.Lock()
	k, typ, msg := s.resolve(in.KeyId)
	if typ == "" {
		typ, msg = usable(k)
	}
	delay := s.signDelay
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.inFlight--; s.mu.Unlock() }()
	if typ != "" {
		fail(w, typ, msg)
		return
	}
	if delay > 0 {
		time.Sleep(delay) // the modelled HSM round trip
	}
	s.mu.Lock()
	lie := s.misSign > 0
	if lie {
		s.misSign--
	}
	s.mu.Unlock()
	if lie {
		in.MessageType, in.Message = "RAW", append([]byte("not the digest asked for: "), in.Message...)
	}
	sig, typ, msg := signWith(k, in.SigningAlgorithm, in.MessageType, in.Message)
	if typ != "" {
		fail(w, typ, msg)
		return
	}
	s.mu.Lock()
	if s.corrupt > 0 {
		s.corrupt--
		sig = sig[:len(sig)-1]
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"KeyId": k.arn, "Signature": sig, "SigningAlgorithm": in.SigningAlgorithm})
}

// signWith signs as KMS does: SHA-256 of a RAW message (at most 4096
// bytes) or a 32-byte DIGEST as given; ECDSA answers DER.
func signWith(k *key, alg, msgType string, msg []byte) ([]byte, string, string) {
	ok := false
	for _, a := range algorithms(k.spec) {
		ok = ok || a == alg
	}
	if !ok {
		return nil, "InvalidKeyUsageException", "Signing algorithm " + alg + " is not valid for " + k.arn + "."
	}
	if !strings.HasSuffix(alg, "_SHA_256") {
		return nil, "ValidationException", "kmstest models SHA-256 signing algorithms only"
	}
	var digest []byte
	switch msgType {
	case "", "RAW":
		if len(msg) == 0 || len(msg) > 4096 {
			return nil, "ValidationException", "Message must be 1 to 4096 bytes"
		}
		d := sha256.Sum256(msg)
		digest = d[:]
	case "DIGEST":
		if len(msg) != sha256.Size {
			return nil, "ValidationException", "Digest is invalid length for algorithm " + alg + "."
		}
		digest = msg
	default:
		return nil, "ValidationException", "MessageType " + msgType + " is not RAW or DIGEST"
	}
	var sig []byte
	var err error
	switch p := k.priv.(type) {
	case *ecdsa.PrivateKey:
		sig, err = ecdsa.SignASN1(rand.Reader, p, digest)
	case *rsa.PrivateKey:
		if strings.HasPrefix(alg, "RSASSA_PSS") {
			sig, err = rsa.SignPSS(rand.Reader, p, crypto.SHA256, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, p, crypto.SHA256, digest)
		}
	}
	if err != nil {
		return nil, "KMSInternalException", err.Error()
	}
	return sig, "", ""
}
