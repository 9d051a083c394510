#!/usr/bin/env bash
# End-to-end benchmark of `flotilla diff ks NAME --path DIR` against the embedded API server over TCP:
# 500 desired ConfigMaps built from a local kustomization (50 changed, 450 unchanged) plus 10 inventory
# entries that would be pruned. Each run is a whole process: kubeconfig, GET of the Kustomization,
# kustomize build, 500 live GETs + 500 server-side-apply dry runs over loopback HTTP, normalise, mask,
# `similar` hunks, text output.
#
# Usage: benches/diff_e2e.sh [path/to/flotilla]   (default target/release/flotilla; needs kubectl, hyperfine)
set -euo pipefail
bin=${1:-target/release/flotilla}
bin=$(realpath "$bin")
for tool in kubectl hyperfine; do
  command -v "$tool" >/dev/null || { echo "diff_e2e: $tool is required" >&2; exit 2; }
done
work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin" apiserver --clusters bench --kubeconfig-out "$work/kc" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do [ -s "$work/kc" ] && kubectl --kubeconfig "$work/kc" get ns >/dev/null 2>&1 && break; sleep 0.1; done
k() { kubectl --kubeconfig "$work/kc" "$@"; }

mkdir -p "$work/repo/app"
{
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources: [configmaps.yaml]"
} >"$work/repo/app/kustomization.yaml"
desired() { # $1 = value suffix for the changed objects
  for i in $(seq 1 500); do
    v="v1"; [ "$i" -le 50 ] && v="$1"
    printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%03d\n  namespace: bench\n  labels: {app: bench, tier: "%d", kustomize.toolkit.fluxcd.io/name: bench, kustomize.toolkit.fluxcd.io/namespace: flux-system}\ndata:\n  key: "value-%s"\n  other: "%s"\n' "$i" $((i % 7)) "$v" "$(printf 'x%.0s' $(seq 1 40))"
  done
}
desired v2 >"$work/repo/app/configmaps.yaml"
# (`kubectl create namespace` posts protobuf, which the embedded server answers 415: kube-wire.md)
printf "apiVersion: v1\nkind: Namespace\nmetadata: {name: bench}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: flux-system}\n" | k apply -f - >/dev/null
desired v1 >"$work/live.yaml"
for i in $(seq 501 510); do
  printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%03d\n  namespace: bench\ndata: {key: old}\n' "$i" >>"$work/live.yaml"
done
k apply --server-side --field-manager kustomize-controller -f "$work/live.yaml" >/dev/null
entries=$(for i in $(seq 1 510); do printf '{"id":"bench_cm-%03d__ConfigMap","v":"v1"},' "$i"; done)
cat <<YAML | k apply -f - >/dev/null
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: bench, namespace: flux-system}
spec:
  interval: 10m
  path: ./app
  prune: true
  sourceRef: {kind: GitRepository, name: bench}
YAML
k -n flux-system patch kustomization bench --subresource=status --type=merge \
  -p "{\"status\":{\"inventory\":{\"entries\":[${entries%,}]}}}" >/dev/null

set +e
"$bin" diff ks bench -n flux-system --path "$work/repo/app" --kubeconfig "$work/kc" >"$work/out.txt" 2>&1
rc=$?
set -e
echo "diff_e2e: exit $rc; $(grep -c '^' "$work/out.txt") lines of output; summary: $(tail -n 1 "$work/out.txt")"
[ "$rc" -eq 1 ] || { echo "diff_e2e: expected exit 1 (changes)"; cat "$work/out.txt" | tail -20; exit 2; }
hyperfine --warmup 2 --runs 15 -i --export-json "$work/times.json" \
  "$bin diff ks bench -n flux-system --path $work/repo/app --kubeconfig $work/kc"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("diff_e2e: median %.1f ms over %d runs" % (r["median"]*1000, len(r["times"])))' "$work/times.json"
