#!/usr/bin/env bash
# Real-world check (issue 13): renders public charts a developer has checked out locally with both
# the real `helm template` (v4.3.1, tests/tools/install-helm.sh) and `flotilla helm template`, and
# reports identical/different per chart. No chart content is committed; nothing is downloaded.
#
# Usage:
#   tests/tools/helm-realworld.sh [-w WORKDIR] [--keep] [CHART_DIR…]
#
# With CHART_DIR arguments, each directory is rendered as is (dependencies already in charts/).
# Without, charts are assembled under WORKDIR (default: a temp dir) from local git checkouts (a
# work tree or a bare repository) named by these variables; a missing one skips its charts:
#   PROM_GIT     prometheus-community/helm-charts  → kube-prometheus-stack (with crds,
#                kube-state-metrics, prometheus-node-exporter, prometheus-windows-exporter and
#                grafana vendored into charts/), kube-state-metrics, prometheus-node-exporter
#   GRAFANA_GIT  grafana-community/helm-charts (or grafana/helm-charts before the move) → grafana
#   PODINFO_GIT  stefanprodan/podinfo            → podinfo
#   INGRESS_GIT  kubernetes/ingress-nginx        → ingress-nginx
#   CERTMGR_GIT  cert-manager/cert-manager       → cert-manager (deploy/charts/cert-manager)
#   BITNAMI_GIT  bitnami/charts                  → nginx, redis, postgresql (with bitnami/common)
# Each chart renders as `template rel CHART` with default values (plus the chart's ci/*.yaml
# values files as extra variants when REALWORLD_CI=1).
#
# Environment: FLOTILLA (binary, default target/debug/flotilla, built if missing), HELM (default:
# tests/tools/install-helm.sh). Exit status: 0 when every chart is identical, 1 otherwise.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="" keep=0 charts=()
while [ $# -gt 0 ]; do
  case "$1" in
    -w) work="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) charts+=("$(cd "$1" && pwd)"); shift ;;
  esac
done
helm="${HELM:-$("$root/tests/tools/install-helm.sh")}"
flotilla="${FLOTILLA:-$root/target/debug/flotilla}"
[ -x "$flotilla" ] || (cd "$root" && cargo build --quiet)
if [ -z "$work" ]; then
  work="$(mktemp -d)"
  [ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

# extract GITDIR PATH DEST: copies PATH at HEAD of a checkout or bare repository to DEST.
extract() {
  local gd="$1" path="$2" dest="$3"
  [ -d "$gd/.git" ] && gd="$gd/.git"
  rm -rf "$dest" && mkdir -p "$dest"
  git --git-dir="$gd" archive HEAD "$path" | tar -x -C "$dest" --strip-components="$(tr -cd / <<<"$path/" | wc -c)"
}

if [ "${#charts[@]}" -eq 0 ]; then
  if [ -n "${PROM_GIT:-}" ]; then
    for c in kube-state-metrics prometheus-node-exporter prometheus-windows-exporter kube-prometheus-stack; do
      extract "$PROM_GIT" "charts/$c" "$work/$c"
    done
    kps="$work/kube-prometheus-stack"
    mkdir -p "$kps/charts"
    for c in kube-state-metrics prometheus-node-exporter prometheus-windows-exporter; do
      cp -r "$work/$c" "$kps/charts/$c"
    done
    if [ -n "${GRAFANA_GIT:-}" ]; then
      extract "$GRAFANA_GIT" charts/grafana "$kps/charts/grafana"
    else
      echo "note: GRAFANA_GIT unset; kube-prometheus-stack renders with --set grafana.enabled=false" >&2
    fi
    charts+=("$work/kube-state-metrics" "$work/prometheus-node-exporter" "$kps")
  fi
  if [ -n "${GRAFANA_GIT:-}" ]; then
    extract "$GRAFANA_GIT" charts/grafana "$work/grafana"
    charts+=("$work/grafana")
  fi
  [ -z "${PODINFO_GIT:-}" ] || { extract "$PODINFO_GIT" charts/podinfo "$work/podinfo"; charts+=("$work/podinfo"); }
  [ -z "${INGRESS_GIT:-}" ] || { extract "$INGRESS_GIT" charts/ingress-nginx "$work/ingress-nginx"; charts+=("$work/ingress-nginx"); }
  [ -z "${CERTMGR_GIT:-}" ] || { extract "$CERTMGR_GIT" deploy/charts/cert-manager "$work/cert-manager"; charts+=("$work/cert-manager"); }
  if [ -n "${BITNAMI_GIT:-}" ]; then
    for c in nginx redis postgresql; do
      extract "$BITNAMI_GIT" "bitnami/$c" "$work/$c"
      extract "$BITNAMI_GIT" bitnami/common "$work/$c/charts/common"
      charts+=("$work/$c")
    done
  fi
fi
[ "${#charts[@]}" -gt 0 ] || { echo "no charts: pass CHART_DIRs or set PROM_GIT/PODINFO_GIT/… (see --help)" >&2; exit 2; }

same=0 diff=0 out="$work/out"
mkdir -p "$out"
# variant NAME CHART [ARGS…]: renders with both engines and compares. Charts that draw random
# values (randAlphaNum passwords, genCA certificates) differ between two `helm` runs too: such
# lines, found by rendering with helm twice, are masked, and the rest must be identical.
variant() {
  local name="$1" chart="$2"; shift 2
  local h="$out/$name.helm.yaml" h2="$out/$name.helm2.yaml" f="$out/$name.flotilla.yaml"
  local hs=0 fs=0 masked=0
  (cd "$(dirname "$chart")" && "$helm" template rel "./$(basename "$chart")" "$@") >"$h" 2>"$h.err" || hs=$?
  (cd "$(dirname "$chart")" && "$helm" template rel "./$(basename "$chart")" "$@") >"$h2" 2>/dev/null || true
  (cd "$(dirname "$chart")" && "$flotilla" helm template rel "./$(basename "$chart")" "$@") >"$f" 2>"$f.err" || fs=$?
  local hm="$h" fm="$f"
  if ! cmp -s "$h" "$h2" && [ "$(wc -l <"$h")" = "$(wc -l <"$h2")" ]; then
    # Mask the lines that differ between the two helm runs in both outputs.
    hm="$out/$name.helm.masked" fm="$out/$name.flotilla.masked"
    awk 'NR==FNR{l[FNR]=$0; next} l[FNR]!=$0{print FNR}' "$h" "$h2" >"$out/$name.random-lines"
    masked="$(wc -l <"$out/$name.random-lines")"
    awk 'NR==FNR{m[$1];next} {print (FNR in m) ? "<random>" : $0}' "$out/$name.random-lines" "$h" >"$hm"
    awk 'NR==FNR{m[$1];next} {print (FNR in m) ? "<random>" : $0}' "$out/$name.random-lines" "$f" >"$fm"
  fi
  local note=""
  [ "$masked" = 0 ] || note=", $masked random lines masked"
  if [ "$hs" = 0 ] && [ "$fs" = 0 ] && cmp -s "$hm" "$fm"; then
    same=$((same + 1)); printf 'identical  %-40s (%s lines%s)\n' "$name" "$(wc -l <"$h")" "$note"
  else
    diff=$((diff + 1))
    local first; first="$(diff "$hm" "$fm" | head -n 1 || true)"
    printf 'DIFFERENT  %-40s helm exit %s, flotilla exit %s, %s diff lines%s, first: %s\n' "$name" "$hs" "$fs" \
      "$(diff "$hm" "$fm" | grep -c '^[<>]' || true)" "$note" "${first:-(stderr) $(head -c 200 "$f.err")}"
  fi
}
for c in "${charts[@]}"; do
  n="$(basename "$c")"
  args=()
  if [ "$n" = kube-prometheus-stack ] && [ ! -d "$c/charts/grafana" ]; then args=(--set grafana.enabled=false); fi
  variant "$n" "$c" "${args[@]}"
  if [ "${REALWORLD_CI:-0}" = 1 ] && [ -d "$c/ci" ]; then
    for v in "$c"/ci/*.yaml; do
      [ -e "$v" ] || continue
      variant "$n+$(basename "$v" .yaml)" "$c" "${args[@]}" -f "$v"
    done
  fi
done
echo "identical: $same, different: $diff (outputs in $out)"
[ "$diff" = 0 ]
