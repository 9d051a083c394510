//! The real Flux (14) and Argo CD (3) CRDs from /work/shared/crds apply with `kubectl apply -f` on a
//! server without the builtin compact CRDs, and an object of each kind can be created, listed with
//! `kubectl get <short name or plural> -A`, patched, watched and deleted.

use crate::common;

use std::path::Path;

use common::TcpServer;
use flotilla::apiserver::ClusterOptions;
use futures::StreamExt;
use serde_json::{Value, json};

const CRD_DIR: &str = "/work/shared/crds";

/// What the test needs to know about one CRD.
#[derive(Debug, Clone)]
struct Kind {
    group: String,
    version: String,
    kind: String,
    plural: String,
    short: Option<String>,
    namespaced: bool,
}

fn load_kinds() -> Vec<Kind> {
    let mut kinds = Vec::new();
    for family in ["flux", "argocd"] {
        let dir = Path::new(CRD_DIR).join(family);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for crd in common::yaml_documents(&text) {
                if crd["kind"] != "CustomResourceDefinition" {
                    continue;
                }
                let spec = &crd["spec"];
                let versions = spec["versions"].as_array().expect("versions");
                let storage = versions
                    .iter()
                    .find(|v| v["storage"] == true)
                    .expect("a storage version");
                kinds.push(Kind {
                    group: spec["group"].as_str().unwrap().to_string(),
                    version: storage["name"].as_str().unwrap().to_string(),
                    kind: spec["names"]["kind"].as_str().unwrap().to_string(),
                    plural: spec["names"]["plural"].as_str().unwrap().to_string(),
                    short: spec["names"]["shortNames"][0].as_str().map(str::to_string),
                    namespaced: spec["scope"] == "Namespaced",
                });
            }
        }
    }
    kinds
}

/// A plausible minimal spec per kind (in case the server validates required fields).
fn sample_spec(kind: &str) -> Value {
    match kind {
        "GitRepository" => {
            json!({"url": "https://github.com/example/repo", "interval": "5m", "ref": {"branch": "main"}})
        }
        "OCIRepository" => json!({"url": "oci://ghcr.io/example/manifests", "interval": "5m"}),
        "HelmRepository" => json!({"url": "https://charts.example.dev", "interval": "5m"}),
        "HelmChart" => {
            json!({"chart": "podinfo", "interval": "5m", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}})
        }
        "Bucket" => {
            json!({"bucketName": "manifests", "endpoint": "minio.example.dev", "interval": "5m"})
        }
        "ExternalArtifact" => json!({}),
        "Kustomization" => {
            json!({"interval": "5m", "path": "./apps", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "repo"}})
        }
        "HelmRelease" => {
            json!({"interval": "5m", "chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}})
        }
        "ImageRepository" => json!({"image": "ghcr.io/example/app", "interval": "5m"}),
        "ImagePolicy" => {
            json!({"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}})
        }
        "ImageUpdateAutomation" => {
            json!({"interval": "5m", "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "git": {"commit": {"author": {"email": "bot@example.dev", "name": "bot"}}}})
        }
        "Alert" => {
            json!({"providerRef": {"name": "slack"}, "eventSources": [{"kind": "Kustomization", "name": "*"}]})
        }
        "Provider" => json!({"type": "slack", "channel": "general"}),
        "Receiver" => {
            json!({"type": "github", "resources": [{"kind": "GitRepository", "name": "repo"}], "secretRef": {"name": "token"}})
        }
        "Application" => json!({"project": "default",
            "source": {"repoURL": "https://github.com/example/repo", "path": "apps", "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "default"}}),
        "ApplicationSet" => json!({"generators": [{"list": {"elements": [{"env": "dev"}]}}],
            "template": {"metadata": {"name": "{{env}}"}, "spec": {"project": "default",
                "source": {"repoURL": "https://github.com/example/repo", "path": "apps", "targetRevision": "HEAD"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "default"}}}}),
        "AppProject" => {
            json!({"sourceRepos": ["*"], "destinations": [{"namespace": "*", "server": "*"}]})
        }
        _ => json!({}),
    }
}

#[test]
fn the_crd_directory_has_fourteen_flux_and_three_argo_kinds() {
    let kinds = load_kinds();
    let flux = kinds
        .iter()
        .filter(|k| k.group.ends_with("fluxcd.io"))
        .count();
    let argo = kinds.iter().filter(|k| k.group == "argoproj.io").count();
    assert_eq!((flux, argo), (14, 3), "{kinds:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_flux_and_argo_crds_apply_and_serve_every_kind() {
    require_kubectl!();
    let s = TcpServer::start(ClusterOptions {
        builtin_crds: false,
        ..common::quiet_options()
    })
    .await;
    let k = s.kubectl();
    // Nothing preinstalled.
    let out = k.run(&["get", "crds", "-o", "name"]).await;
    assert_eq!(out.ok().trim(), "", "builtin_crds=false installs no CRDs");

    for family in ["flux", "argocd"] {
        let dir = format!("{CRD_DIR}/{family}");
        let out = k.run(&["apply", "-f", &dir]).await;
        let text = out.ok();
        assert!(
            text.lines().all(|l| l.ends_with(" created")),
            "every CRD in {dir} created:\n{text}\n{}",
            out.stderr
        );
    }
    let out = k
        .run(&[
            "wait",
            "--for=condition=established",
            "crd",
            "--all",
            "--timeout=60s",
        ])
        .await;
    out.ok();
    let kinds = load_kinds();
    let out = k.run(&["get", "crds", "-o", "name"]).await;
    assert_eq!(out.ok().lines().count(), kinds.len(), "{}", out.stdout);
    // Re-applying the same files changes nothing.
    let out = k.run(&["apply", "-f", &format!("{CRD_DIR}/flux")]).await;
    assert!(
        out.ok().lines().all(|l| l.ends_with(" unchanged")),
        "{}",
        out.stdout
    );

    // Exercise the kinds a few at a time.
    let results: Vec<(String, Result<(), String>)> = futures::stream::iter(kinds.clone())
        .map(|kind| {
            let k = k.clone();
            async move {
                let name = kind.kind.clone();
                let r = tokio::spawn(async move { exercise(&k, &kind).await })
                    .await
                    .map_err(|e| {
                        let msg = e.into_panic();
                        msg.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| msg.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default()
                    });
                (name, r)
            }
        })
        .buffer_unordered(3)
        .collect()
        .await;
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|(kind, r)| r.err().map(|e| format!("{kind}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "kinds failing:\n{}",
        failures.join("\n\n")
    );
}

/// create → get -A → watch (ADDED, MODIFIED, DELETED) across patch and delete.
async fn exercise(k: &common::Kubectl, kind: &Kind) {
    let resource = format!("{}.{}", kind.plural, kind.group);
    let ns_args: Vec<&str> = if kind.namespaced {
        vec!["-n", "default"]
    } else {
        vec![]
    };
    let mut obj = json!({
        "apiVersion": format!("{}/{}", kind.group, kind.version),
        "kind": kind.kind,
        "metadata": {"name": "sample"},
        "spec": sample_spec(&kind.kind),
    });
    if kind.namespaced {
        obj["metadata"]["namespace"] = json!("default");
    }
    let out = k.run_stdin(&["apply", "-f", "-"], &obj.to_string()).await;
    assert!(
        out.ok().contains(&format!(
            "{}.{}/sample created",
            kind.kind.to_lowercase(),
            kind.group
        )),
        "{}",
        out.stdout
    );

    let short = kind.short.clone().unwrap_or_else(|| kind.plural.clone());
    let out = k.run(&["get", &short, "-A"]).await;
    let text = out.ok();
    let row = text
        .lines()
        .find(|l| l.split_whitespace().any(|c| c == "sample"))
        .unwrap_or_else(|| panic!("`kubectl get {short} -A` lacks sample:\n{text}"));
    if kind.namespaced {
        assert!(row.starts_with("default "), "{row}");
    }

    let mut w = k.spawn(&["get", &resource, "-A", "-w", "--output-watch-events"]);
    w.line_matching("ADDED sample", |l| l.contains("sample"))
        .await;

    let mut patch = vec![
        "patch",
        resource.as_str(),
        "sample",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"labels":{"patched":"yes"}}}"#,
    ];
    patch.extend(&ns_args);
    let out = k.run(&patch).await;
    assert!(out.ok().contains("patched"), "{}", out.stdout);
    w.line_matching("MODIFIED sample", |l| {
        l.contains("MODIFIED") && l.contains("sample")
    })
    .await;
    let mut get = vec![
        "get",
        resource.as_str(),
        "sample",
        "-o",
        "jsonpath={.metadata.labels.patched}",
    ];
    get.extend(&ns_args);
    assert_eq!(k.run(&get).await.ok().trim(), "yes");

    let mut del = vec!["delete", resource.as_str(), "sample"];
    del.extend(&ns_args);
    let out = k.run(&del).await;
    assert!(out.ok().contains("deleted"), "{}", out.stdout);
    w.line_matching("DELETED sample", |l| {
        l.contains("DELETED") && l.contains("sample")
    })
    .await;
    let mut get = vec!["get", resource.as_str(), "sample"];
    get.extend(&ns_args);
    assert!(k.run(&get).await.failed().contains("not found"));
}
