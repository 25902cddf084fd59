package awssm

import (
	"context"
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
	for chunk := range slices.Chunk(names, 20) {
		cctx, cancel := s.ctx(ctx)
		res, err := s.c.BatchGetSecretValue(cctx, &sm.BatchGetSecretValueInput{SecretIdList: chunk})
		cancel()
		if err != nil {
			return nil, classify(err, "BatchGetSecretValue")
		}
		for _, v := range res.SecretValues {
			name := aws.ToString(v.Name)
			id := strings.TrimPrefix(name, prefix)
			if multiStage(stages[name]) {
				c, err := s.GetClient(ctx, id)
				if err != nil {
					continue
				}
				set, err := s.GetSecrets(ctx, id)
				if err != nil {
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
