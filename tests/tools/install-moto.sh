#!/usr/bin/env bash
# Installs the S3 server the Bucket tests run against (`moto_server` from PyPI's moto[server]) into
# a virtualenv in a cache dir and prints the path of `moto_server`. The wheels are downloaded once
# and kept by version beside the venv, so a rebuilt venv installs offline (`--no-index`).
set -euo pipefail

moto_ver="5.2.1"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/flotilla-ci/moto-${moto_ver}"
bin="$cache/venv/bin/moto_server"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

py="$(command -v python3 || true)"
[ -n "$py" ] || { echo "install-moto: python3 not found" >&2; exit 1; }
mkdir -p "$cache"
if [ ! -f "$cache/wheels/.complete" ]; then
  rm -rf "$cache/wheels"
  "$py" -m pip download -q "moto[server]==${moto_ver}" -d "$cache/wheels" >&2
  touch "$cache/wheels/.complete"
fi
rm -rf "$cache/venv.tmp"
"$py" -m venv "$cache/venv.tmp" >&2
"$cache/venv.tmp/bin/pip" install -q --no-index --find-links "$cache/wheels" "moto[server]==${moto_ver}" >&2
rm -rf "$cache/venv"
mv "$cache/venv.tmp" "$cache/venv"
# The venv's scripts name the interpreter by the path they were installed at; rewrite it.
sed -i "1s|^#!.*venv.tmp/bin/python.*|#!$cache/venv/bin/python|" "$cache/venv/bin/moto_server"
echo "$bin"
