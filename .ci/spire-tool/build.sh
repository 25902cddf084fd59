#!/usr/bin/env bash
# Builds the pinned real SPIRE (v1.13.3 server and agent, from the Go module
# proxy) once and caches the binaries outside the work tree; prints the folder
# holding spire-server and spire-agent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${TOKENBROKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tokenbroker}"
dir="$cache/spire-v1.13.3"
for b in spire-server spire-agent; do
  if [ ! -x "$dir/$b" ]; then
    mkdir -p "$dir"
    echo "building SPIRE v1.13.3 $b (first time: ~5 min) into $dir" >&2
    (cd "$here" && GOFLAGS=-mod=readonly go build -o "$dir/$b.tmp" "github.com/spiffe/spire/cmd/$b")
    mv "$dir/$b.tmp" "$dir/$b"
  fi
done
echo "$dir"
