#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ from the kustomize conformance fixtures (tests/fixtures/kustomize/*/input).

kustomization: every YAML file of every case, plus hand-made alias/anchor/merge-key inputs.
patch:         selector byte + a resource document + 0xFF + each patch found (inline or file).
kustomize_build:       flag byte + the whole input tree as `path NUL content` records separated by 0xFF.

Usage: python3 fuzz/seed_corpus.py   (from the repository root or fuzz/)
"""
import hashlib
import os
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures" / "kustomize"
CORPUS = HERE / "corpus"

EXTRA_YAML = [
    b"a: &a [1, 2]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n",
    b"base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n",
    b"---\n---\nresources: [a.yaml]\n...\n---\n",
    b"resources:\n- a.yaml\npatches:\n- path: p.yaml\n  target: {kind: Deployment, labelSelector: 'a=b'}\n",
    b"key: !!binary aGVsbG8=\nother: !!int 0x1F\nt: 2001-12-14t21:59:43.10-05:00\n",
    b"x: 1e309\ny: -.inf\nz: 0o17\nw: 1_000\n",
    b"commonLabels: {a: yes, b: on}\nnamePrefix: p-\n",
]


def put(target, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main():
    cases = sorted(p for p in FIXTURES.iterdir() if (p / "input").is_dir())
    resources = []
    for case in cases:
        inp = case / "input"
        files = sorted(p for p in inp.rglob("*") if p.is_file())
        for f in files:
            if f.suffix in (".yaml", ".yml", ".json") or f.name == "Kustomization":
                put("kustomization", f.read_bytes())
        records = []
        for f in files:
            rel = f.relative_to(inp).as_posix()
            records.append(rel.encode() + b"\0" + f.read_bytes())
        flags = b"\x01" if (case / "FLUX").exists() else b"\x00"
        put("kustomize_build", flags + b"\xff".join(records))
        for f in files:
            text = f.read_bytes()
            if b"kind: Deployment" in text or b"kind: Service" in text:
                resources.append(text.split(b"\n---\n")[0])
            if "patch" in f.name or b"op:" in text:
                for i, res in enumerate(resources[-3:]):
                    put("patch", bytes([i]) + res + b"\xff" + text)
    for data in EXTRA_YAML:
        put("kustomization", data)
    put("patch", b"\x00" + b'{"a":[1,2],"b":{"c":1}}' + b"\xff" + b'[{"op":"move","from":"/a/0","path":"/b/d"}]')
    put("patch", b"\x00" + b'{"spec":{"containers":[{"name":"a"}]}}' + b"\xff"
        + b'{"spec":{"containers":[{"name":"b"},{"$patch":"delete","name":"a"}],"$setElementOrder/containers":[{"name":"b"}]}}')
    put("patch", b"\x00" + b'{"a":{"b":1}}' + b"\xff" + b'{"a":null,"c":{"$retainKeys":["x"],"x":1}}')
    for t in ("kustomization", "patch", "kustomize_build"):
        print(t, len(list((CORPUS / t).iterdir())), "seeds")


if __name__ == "__main__":
    main()
