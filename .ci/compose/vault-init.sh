#!/usr/bin/env sh
# Runs once in the hashicorp/vault image (docker-compose.yml, service
# vault-init) against the dev Vault: the broker's minimal policy
# (docs/backends.md), an AppRole with a fixed role_id, and a fresh secret-id
# written where only the broker's volume sees it.
set -eu
until vault status >/dev/null 2>&1; do sleep 1; done
vault policy write tokenbroker - <<'HCL'
path "secret/data/tokenbroker/*"     { capabilities = ["create", "read", "update"] }
path "secret/metadata/tokenbroker/*" { capabilities = ["list", "read", "delete"] }
path "sys/internal/ui/mounts/secret" { capabilities = ["read"] }
path "sys/capabilities-self"         { capabilities = ["update"] }
path "auth/token/lookup-self"        { capabilities = ["read"] }
path "auth/token/renew-self"         { capabilities = ["update"] }
HCL
vault auth list | grep -q '^approle/' || vault auth enable approle
vault write auth/approle/role/tokenbroker token_policies=tokenbroker token_ttl=1h token_max_ttl=24h secret_id_ttl=0
vault write auth/approle/role/tokenbroker/role-id role_id=tokenbroker
vault write -field=secret_id -f auth/approle/role/tokenbroker/secret-id >/approle/secret-id
# The broker's user (the image's UID) reads it; nobody else.
chown 65532:65532 /approle/secret-id
chmod 0400 /approle/secret-id
echo "vault-init: policy, AppRole tokenbroker and its secret-id ready"
