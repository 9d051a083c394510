#!/usr/bin/env bash
# Real-world check (issue 13): renders public charts a developer has checked out locally with both
# the real `helm template` (v4.3.1, tests/tools/install-helm.sh) and `flotilla helm template`, and
# reports identical/different per chart. No chart content is committed; nothing is downloaded.
#
# Usage:
#   tests/tools/helm-realworld.sh [-w WORKDIR] [--keep] [CHART_DIR…]
#
# With CHART_DIR arguments, each directory is rendered as is (dependencies already in charts/).
# Without, charts are assembled under WORKDIR (default: a temp dir) from local checkouts named by
# these variables (a git work tree, a bare repository, or a plain directory copy of the repository);
# a missing one skips its charts:
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

# extract SRC PATH DEST: copies PATH to DEST from SRC, which is a git checkout or bare repository
# (PATH at HEAD) or a plain directory (PATH as it is on disk).
extract() {
  local gd="$1" path="$2" dest="$3"
  rm -rf "$dest" && mkdir -p "$dest"
  [ -d "$gd/.git" ] && gd="$gd/.git"
  if git --git-dir="$gd" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    git --git-dir="$gd" archive HEAD "$path" | tar -x -C "$dest" --strip-components="$(tr -cd / <<<"$path/" | wc -c)"
  elif [ -d "$gd/$path" ]; then
    cp -a "$gd/$path/." "$dest/"
  else
    echo "extract: $gd is neither a git checkout nor a directory holding $path" >&2
    return 1
  fi
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
# Fields a chart fills from random functions differ between two `helm` runs too, so both outputs
# are compared with these values masked (each mask names the field and the shape of its value):
#   admin-password: "<base64>"        grafana's Secret, randAlphaNum 40 (standalone and in kps)
#   checksum/secret: <sha256>         grafana's pod annotation, the hash of that Secret
#   name: <release>-<chart>-…-test-<5> podinfo's test pods, randAlphaNum 5 | lower
# helm is run twice as a check that the masks cover every random field: a line that still differs
# between the two masked helm outputs makes the chart DIFFERENT ("unmasked random lines").
masks=(
  -e 's/^( *admin-password: )"[A-Za-z0-9+\/=]+"$/\1<random: randAlphaNum password>/'
  -e 's/^( *checksum\/secret: )[0-9a-f]{64}$/\1<random: sha256 of a random Secret>/'
  -e 's/^( *name: [a-z0-9-]+-test-)[a-z0-9]{5}$/\1<random: randAlphaNum 5>/'
)
mask() { sed -E "${masks[@]}" "$1" >"$2"; }
# variant NAME CHART [ARGS…]: renders with both engines and compares around the masked fields.
variant() {
  local name="$1" chart="$2"; shift 2
  local h="$out/$name.helm.yaml" h2="$out/$name.helm2.yaml" f="$out/$name.flotilla.yaml"
  local hs=0 fs=0
  (cd "$(dirname "$chart")" && "$helm" template rel "./$(basename "$chart")" "$@") >"$h" 2>"$h.err" || hs=$?
  (cd "$(dirname "$chart")" && "$helm" template rel "./$(basename "$chart")" "$@") >"$h2" 2>/dev/null || true
  (cd "$(dirname "$chart")" && "$flotilla" helm template rel "./$(basename "$chart")" "$@") >"$f" 2>"$f.err" || fs=$?
  local hm="$out/$name.helm.masked" h2m="$out/$name.helm2.masked" fm="$out/$name.flotilla.masked"
  mask "$h" "$hm"; mask "$h2" "$h2m"; mask "$f" "$fm"
  local masked unmasked note=""
  masked="$(grep -c '<random: ' "$hm" || true)"
  unmasked="$(diff "$hm" "$h2m" | grep -c '^<' || true)"
  [ "$masked" = 0 ] || note=", $masked random fields masked"
  if [ "$hs" = 0 ] && [ "$fs" = 0 ] && [ "$unmasked" = 0 ] && cmp -s "$hm" "$fm"; then
    same=$((same + 1)); printf 'identical  %-40s (%s lines%s)\n' "$name" "$(wc -l <"$h")" "$note"
  else
    diff=$((diff + 1))
    local first; first="$(diff "$hm" "$fm" | head -n 1 || true)"
    [ "$unmasked" = 0 ] || note="$note, $unmasked unmasked random lines (see diff $hm $h2m)"
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
