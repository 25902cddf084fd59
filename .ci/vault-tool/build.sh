#!/usr/bin/env bash
# Builds the pinned real Vault server (v1.21.0, from the Go module proxy) once
# and caches the binary outside the work tree; prints its path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${TOKENBROKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tokenbroker}"
bin="$cache/vault-v1.21.0/vault"
if [ ! -x "$bin" ]; then
  mkdir -p "$(dirname "$bin")"
  echo "building Vault v1.21.0 (first time: ~8 min) into $bin" >&2
  (cd "$here" && GOFLAGS=-mod=readonly go build -o "$bin.tmp" github.com/hashicorp/vault)
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
