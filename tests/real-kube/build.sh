#!/usr/bin/env bash
# Builds the real kube-apiserver (k8s.io/kubernetes) and etcd (go.etcd.io/etcd/server/v3) at the
# versions pinned in this directory's go.mod, for flotilla's "real" test tier (tests/common/real_kube.rs).
# Binaries are cached by version; the script prints the directory holding them. Idempotent: a rerun
# with both binaries present prints the directory and exits at once.
#
#   FLOTILLA_REAL_KUBE_DIR="$(tests/real-kube/build.sh)"
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

kube_version="v1.37.2"
etcd_version="v3.7.0"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/flotilla-ci/real-kube-${kube_version}-etcd-${etcd_version}"

if [ -x "$cache/kube-apiserver" ] && [ -x "$cache/etcd" ]; then
  echo "$cache"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "real-kube: go is not installed" >&2; exit 1; }
mkdir -p "$cache"
cd "$here"
start=$(date +%s)
# The machine is shared: a low priority keeps the tests and other builds responsive.
echo "real-kube: building kube-apiserver ${kube_version} and etcd ${etcd_version} (first time: 10-25 min)" >&2
# Build into temporary names, then rename, so an interrupted build never leaves a half binary cached.
nice -n 10 go build -trimpath -o "$cache/etcd.tmp" ./etcd >&2
# Stamp the version the way Kubernetes' release build does, so /version (and kubectl's skew check)
# report the real release instead of v0.0.0-master.
v=k8s.io/component-base/version
minor="${kube_version#v1.}"; minor="${minor%%.*}"
ldflags="-X $v.gitVersion=${kube_version} -X $v.gitMajor=1 -X $v.gitMinor=${minor} -X $v.gitTreeState=clean"
nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$cache/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
mv "$cache/etcd.tmp" "$cache/etcd"
mv "$cache/kube-apiserver.tmp" "$cache/kube-apiserver"
echo "real-kube: built in $(( $(date +%s) - start ))s" >&2
echo "$cache"
