#!/usr/bin/env bash
# Builds the reference `sops` CLI (the oracle for src/sops) from its Go module into a cache dir and
# prints its path. Needs Go; the binary is cached by version so later runs are instant.
set -euo pipefail

sops_ver="v3.13.3"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/flotilla-ci/sops-${sops_ver}"
bin="$cache/sops"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "install-sops: go not found" >&2; exit 1; }
mkdir -p "$cache"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A throwaway GOPATH/bin keeps the user's own Go setup untouched; the module cache is shared.
GOBIN="$work/bin" GOFLAGS=-mod=mod nice -n 5 go install "github.com/getsops/sops/v3/cmd/sops@${sops_ver}" >&2
install -m 0755 "$work/bin/sops" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$bin"
