package awssm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tokenbroker/tokenbroker/backends"
)

var _ backends.Warmer = (*Store)(nil)

// WarmClients lists the client secrets by prefix and reads them with
// BatchGetSecretValue, 20 at a time. Secrets mid-rotation (with an
// AWSPENDING or AWSPREVIOUS version) are read in full with GetSecrets.
func (s *Store) WarmClients(ctx context.Context) ([]*backends.ClientEntry, error) {
	names, stages, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	prefix := s.cfg.Prefix + "/clients/"
	var out []*backends.ClientEntry
	var missed []string // listed, but neither read nor refused as invalid
	for chunk := range slices.Chunk(names, 20) {
		cctx, cancel := s.ctx(ctx)
		res, err := s.c.BatchGetSecretValue(cctx, &sm.BatchGetSecretValueInput{SecretIdList: chunk})
		cancel()
		if err != nil {
			return nil, classify(err, "BatchGetSecretValue")
		}
		got := make(map[string]bool, len(res.SecretValues))
		for _, v := range res.SecretValues {
			got[aws.ToString(v.Name)] = true
			got[aws.ToString(v.ARN)] = true
		}
		for _, name := range chunk {
			// Per-item failures (BatchGetSecretValue's Errors) and names the
			// answer left out: the read is not the whole registry.
			if !got[name] {
				missed = append(missed, strings.TrimPrefix(name, prefix))
			}
		}
		for _, v := range res.SecretValues {
			name := aws.ToString(v.Name)
			id := strings.TrimPrefix(name, prefix)
			if multiStage(stages[name]) {
				c, err := s.GetClient(ctx, id)
				if err != nil {
					if !errors.Is(err, backends.ErrNotFound) && !errors.Is(err, backends.ErrInvalidRecord) {
						missed = append(missed, id)
					}
					continue
				}
				set, err := s.GetSecrets(ctx, id)
				if err != nil {
					if !errors.Is(err, backends.ErrNotFound) && !errors.Is(err, backends.ErrInvalidRecord) {
						missed = append(missed, id)
					}
					continue
				}
				out = append(out, &backends.ClientEntry{Client: c, Secrets: set})
				continue
			}
			// An invalid document is skipped: a load of that one client
			// reports it (ErrInvalidRecord) when it is asked for.
			d, err := parseDoc(aws.ToString(v.SecretString))
			if err != nil || d.client == nil {
				continue
			}
			if d.client.ClientID == "" {
				d.client.ClientID = id
			}
			if d.client.ClientID != id {
				continue // a document naming another client never stands in for it
			}
			d.client.Revision = aws.ToString(v.VersionId)
			set := d.set
			set.Revision = d.client.Revision
			out = append(out, &backends.ClientEntry{Client: d.client, Secrets: &set})
		}
	}
	if len(missed) > 0 {
		return out, fmt.Errorf("%w: %d of %d clients not read (first: %q)", backends.ErrIncomplete, len(missed), len(names), missed[0])
	}
	return out, nil
}

func multiStage(versions map[string][]string) bool {
	for _, st := range versions {
		if slices.Contains(st, "AWSPENDING") || slices.Contains(st, "AWSPREVIOUS") {
			return true
		}
	}
	return false
}
