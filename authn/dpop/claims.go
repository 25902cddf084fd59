package dpop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	josejson "github.com/go-jose/go-jose/v4/json"
)

// claims are a proof's claims (RFC 9449 §4.2).
type claims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

func (c *claims) marshal() ([]byte, error) { return json.Marshal(c) }

// received is the wire form the Verifier reads: go-jose's json, which
// matches member names case-sensitively (a "HTM" is not "htm").
type received struct {
	JTI   *string             `json:"jti"`
	HTM   *string             `json:"htm"`
	HTU   *string             `json:"htu"`
	IAT   josejson.RawMessage `json:"iat"`
	ATH   *string             `json:"ath"`
	Nonce *string             `json:"nonce"`
}

// parseClaims reads a proof's payload; every claim has the type RFC 9449
// §4.2 gives it, and the required ones are present.
func parseClaims(payload []byte) (*received, time.Time, error) {
	if err := checkJSON(payload, nil); err != nil {
		return nil, time.Time{}, fmt.Errorf("claims: %w", err)
	}
	var r received
	if err := josejson.Unmarshal(payload, &r); err != nil {
		return nil, time.Time{}, errors.New("claims are malformed")
	}
	switch {
	case r.JTI == nil || *r.JTI == "":
		return nil, time.Time{}, errors.New("no jti")
	case len(*r.JTI) > MaxJTILength:
		return nil, time.Time{}, fmt.Errorf("jti longer than %d bytes", MaxJTILength)
	case r.HTM == nil || r.HTU == nil:
		return nil, time.Time{}, errors.New("no htm or htu")
	case len(r.IAT) == 0 || string(r.IAT) == "null":
		return nil, time.Time{}, errors.New("no iat")
	case r.Nonce != nil && len(*r.Nonce) > MaxNonceLength:
		return nil, time.Time{}, errors.New("nonce too long")
	}
	// A NumericDate is a JSON number (RFC 7519 §2), never a string.
	if c := r.IAT[0]; c != '-' && (c < '0' || c > '9') {
		return nil, time.Time{}, errors.New("iat is not a NumericDate")
	}
	f, err := josejson.Number(r.IAT).Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return nil, time.Time{}, errors.New("iat is not a NumericDate")
	}
	sec, frac := math.Modf(f)
	return &r, time.Unix(int64(sec), int64(frac*1e9)), nil
}

// checkJSON refuses what two JSON parsers could read differently: a value
// that is not one object, a member name twice in one object (also when the
// two differ only in case: encoding/json would match either), and nesting
// deeper than maxDepth. visit, when set, sees each top-level member name
// and, for a member whose value is an object, each of that object's member
// names (inner != ""), in one pass.
func checkJSON(b []byte, visit func(outer, inner string) error) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	t, err := d.Token()
	if err != nil || t != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	if err := checkObject(d, 1, "", visit); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// checkObject reads the members of an object whose '{' was read; outer is
// the top-level member it is the value of ("" for the top level itself).
func checkObject(d *json.Decoder, depth int, outer string, visit func(outer, inner string) error) error {
	seen := map[string]bool{}
	for {
		t, err := d.Token()
		if err != nil {
			return errors.New("malformed JSON")
		}
		if t == json.Delim('}') {
			return nil
		}
		name, _ := t.(string)
		fold := strings.ToLower(name)
		if seen[fold] {
			return fmt.Errorf("member %.40q appears twice", name)
		}
		seen[fold] = true
		if visit != nil && depth <= 2 {
			o, in := name, ""
			if depth == 2 {
				o, in = outer, name
			}
			if err := visit(o, in); err != nil {
				return err
			}
		}
		next := ""
		if depth == 1 {
			next = name
		}
		if err := checkValue(d, depth, next, visit); err != nil {
			return err
		}
	}
}

func checkValue(d *json.Decoder, depth int, outer string, visit func(outer, inner string) error) error {
	t, err := d.Token()
	if err != nil {
		return errors.New("malformed JSON")
	}
	switch t {
	case json.Delim('{'), json.Delim('['):
		if depth+1 > maxDepth {
			return fmt.Errorf("nested deeper than %d", maxDepth)
		}
		if t == json.Delim('{') {
			if outer == "" {
				visit = nil // only the top level and its objects' members are visited
			}
			return checkObject(d, depth+1, outer, visit)
		}
		for d.More() {
			if err := checkValue(d, depth+1, "", nil); err != nil {
				return err
			}
		}
		if t, err := d.Token(); err != nil || t != json.Delim(']') {
			return errors.New("malformed JSON")
		}
	}
	return nil
}
