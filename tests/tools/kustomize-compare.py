#!/usr/bin/env python3
"""Compares `flotilla build` with `kubectl kustomize` over every kustomization directory of checked-out
repositories (issue 18): the rerunnable real-world fidelity check. Nothing it reads is committed.

Usage: tests/tools/kustomize-compare.py [--flotilla BIN] [--kubectl BIN] [--jobs N] [--list]
                                        [--only CATEGORY] [--diff DIR] REPO_DIR...

Every directory holding `kustomization.yaml`, `kustomization.yml` or `Kustomization` is built by both
tools (flotilla with the repository as its boundary, kubectl with its defaults) and put in one category:

  identical        same bytes on stdout (and the same warnings on stderr)
  same-warnings-differ  same bytes on stdout, different stderr lines (deprecation warnings)
  same-data        same documents after parsing, other text
  different        both built, the documents differ
  flotilla-error   kubectl built it, flotilla failed
  kubectl-error    flotilla built it, kubectl failed
  both-error       both failed
  remote           the kustomization (or one it includes) names a remote resource; counted apart

Prints the counts and, with --list, one line per directory. --diff DIR writes both outputs of every
non-identical directory there for inspection. Needs Python 3 with PyYAML for the same-data check.
"""

import argparse
import concurrent.futures
import os
import re
import subprocess
import sys

try:
    import yaml
except ImportError:  # the byte comparison still works; same-data becomes "different"
    yaml = None

NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CATEGORIES = (
    "identical",
    "same-warnings-differ",
    "same-data",
    "different",
    "flotilla-error",
    "kubectl-error",
    "both-error",
    "remote",
)
REMOTE = re.compile(r"^(https?://|git::|git@|ssh://|github\.com/|gitlab\.com/|bitbucket\.org/)")


def kustomization_dirs(repo):
    out = []
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if any(n in filenames for n in NAMES):
            out.append(dirpath)
    return sorted(out)


def kustomization_file(d):
    for n in NAMES:
        p = os.path.join(d, n)
        if os.path.isfile(p):
            return p
    return None


def uses_remote(d, seen=None):
    """Whether `d`'s kustomization, or one it includes locally, lists a remote resource."""
    seen = seen if seen is not None else set()
    real = os.path.realpath(d)
    if real in seen:
        return False
    seen.add(real)
    f = kustomization_file(d)
    if f is None or yaml is None:
        return False
    try:
        with open(f, encoding="utf-8") as fh:
            k = yaml.safe_load(fh)
    except Exception:
        return False
    if not isinstance(k, dict):
        return False
    for field in ("resources", "bases", "components"):
        for entry in k.get(field) or []:
            if not isinstance(entry, str):
                continue
            if REMOTE.match(entry):
                return True
            sub = os.path.join(d, entry)
            if os.path.isdir(sub) and uses_remote(sub, seen):
                return True
    return False


def run(cmd, timeout):
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return -1, b"", b"timeout"


def parse(text):
    if yaml is None:
        return None
    try:
        return list(yaml.safe_load_all(text))
    except Exception:
        return None


def warning_lines(stderr):
    return sorted(line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip())


def compare(repo, d, args):
    fl_rc, fl_out, fl_err = run([args.flotilla, "build", "--root", repo, d], args.timeout)
    kc_rc, kc_out, kc_err = run([args.kubectl, "kustomize", d], args.timeout)
    detail = ""
    if uses_remote(d):
        cat = "remote"
    elif fl_rc != 0 and kc_rc != 0:
        cat = "both-error"
    elif fl_rc != 0:
        cat = "flotilla-error"
        detail = fl_err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        detail = detail[0][:200]
    elif kc_rc != 0:
        cat = "kubectl-error"
        detail = kc_err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        detail = detail[0][:200]
    elif fl_out == kc_out:
        cat = "identical" if warning_lines(fl_err) == warning_lines(kc_err) else "same-warnings-differ"
    else:
        a, b = parse(fl_out), parse(kc_out)
        cat = "same-data" if a is not None and a == b else "different"
    if args.diff and cat not in ("identical", "remote", "both-error"):
        base = os.path.join(args.diff, os.path.relpath(d, args.common).replace(os.sep, "__"))
        os.makedirs(args.diff, exist_ok=True)
        for suffix, data in (
            (".flotilla.yaml", fl_out),
            (".flotilla.err", fl_err),
            (".kubectl.yaml", kc_out),
            (".kubectl.err", kc_err),
        ):
            with open(base + suffix, "wb") as fh:
                fh.write(data)
    return d, cat, detail


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repos", nargs="+", help="checked-out repositories (each is flotilla's --root)")
    ap.add_argument("--flotilla", default="target/debug/flotilla")
    ap.add_argument("--kubectl", default="kubectl")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--list", action="store_true", help="one line per directory")
    ap.add_argument("--only", choices=CATEGORIES, help="list only this category")
    ap.add_argument("--diff", help="write both outputs of non-identical directories here")
    args = ap.parse_args()
    args.flotilla = os.path.abspath(args.flotilla) if os.sep in args.flotilla else args.flotilla
    repos = [os.path.abspath(r) for r in args.repos]
    args.common = os.path.commonpath(repos) if len(repos) > 1 else os.path.dirname(repos[0])
    work = [(r, d) for r in repos for d in kustomization_dirs(r)]
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for res in pool.map(lambda rd: compare(rd[0], rd[1], args), work):
            results.append(res)
    counts = {c: 0 for c in CATEGORIES}
    for d, cat, detail in results:
        counts[cat] += 1
        if args.list and (args.only is None or args.only == cat):
            rel = os.path.relpath(d, args.common)
            print(f"{cat:22} {rel}" + (f"  -- {detail}" if detail else ""))
    print(f"{len(results)} kustomization directories in {len(repos)} repositories")
    for c in CATEGORIES:
        print(f"  {c:22} {counts[c]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
