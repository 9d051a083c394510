#!/usr/bin/env python3
"""Generates the large kustomize repository used by the `flotilla build` vs `kubectl kustomize` benchmark.

Layout: base/ holds 500 resources (Deployments, Services, ConfigMaps; 2 generators); overlays/o00..o19 each
put a distinct namePrefix, labels, a strategic-merge patch and a JSON 6902 patch on top of the base; the
root kustomization.yaml includes all 20 overlays, so one build yields 20 x 502 objects.

Usage: gen_kustomize_repo.py OUT_DIR [--resources 500] [--overlays 20]
"""
import argparse
import os


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def deployment(i):
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i:03d}
  labels:
    app: app-{i:03d}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app-{i:03d}
  template:
    metadata:
      labels:
        app: app-{i:03d}
    spec:
      containers:
        - name: main
          image: registry.example.com/team/app-{i:03d}:1.0.{i}
          ports:
            - containerPort: 8080
          env:
            - name: MODE
              value: base
          envFrom:
            - configMapRef:
                name: shared-config
          volumeMounts:
            - name: config
              mountPath: /etc/app
      volumes:
        - name: config
          configMap:
            name: app-config-{i:03d}
"""


def service(i):
    return f"""apiVersion: v1
kind: Service
metadata:
  name: app-{i:03d}
spec:
  selector:
    app: app-{i:03d}
  ports:
    - port: 80
      targetPort: 8080
"""


def configmap(i):
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config-{i:03d}
data:
  index: "{i}"
  settings.yaml: |
    level: info
    id: {i}
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--resources", type=int, default=500)
    p.add_argument("--overlays", type=int, default=20)
    a = p.parse_args()
    n_apps = a.resources // 3
    files = []
    for i in range(n_apps):
        write(f"{a.out}/base/apps/app-{i:03d}.yaml", deployment(i) + "---\n" + service(i) + "---\n" + configmap(i))
        files.append(f"apps/app-{i:03d}.yaml")
    extra = a.resources - 3 * n_apps
    for j in range(extra):
        write(f"{a.out}/base/extra/cm-{j}.yaml", configmap(1000 + j))
        files.append(f"extra/cm-{j}.yaml")
    write(f"{a.out}/base/shared.env", "LOG_LEVEL=info\nREGION=eu-west-1\n")
    write(f"{a.out}/base/kustomization.yaml",
          "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
          + "".join(f"  - {f}\n" for f in files)
          + "configMapGenerator:\n  - name: shared-config\n    envs:\n      - shared.env\n"
          + "secretGenerator:\n  - name: shared-secret\n    literals:\n      - token=s3cr3t\n"
          + "labels:\n  - pairs:\n      team: platform\n    includeSelectors: false\n")
    overlays = []
    for o in range(a.overlays):
        name = f"o{o:02d}"
        overlays.append(f"overlays/{name}")
        write(f"{a.out}/overlays/{name}/kustomization.yaml", f"""apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namePrefix: {name}-
resources:
  - ../../base
labels:
  - pairs:
      overlay: {name}
    includeSelectors: true
commonAnnotations:
  flotilla.dev/overlay: {name}
images:
  - name: registry.example.com/team/app-001
    newTag: 2.{o}.0
patches:
  - target:
      kind: Deployment
    patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: any
      spec:
        replicas: {o % 5 + 2}
        template:
          spec:
            containers:
              - name: main
                env:
                  - name: MODE
                    value: {name}
  - target:
      kind: Service
    patch: |-
      - op: add
        path: /metadata/labels
        value:
          exposed: "true"
""")
    write(f"{a.out}/kustomization.yaml",
          "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
          + "".join(f"  - {o}\n" for o in overlays))


if __name__ == "__main__":
    main()
