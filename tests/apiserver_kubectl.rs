//! kube-wire.md §A18, kubectl part: kubectl 1.32 against a Server over TCP, with a per-test HOME,
//! KUBECONFIG and KUBECACHEDIR. Skipped (with a printed reason) when kubectl is not installed.

use crate::common;

use common::{PATIENCE, TcpServer, configmap, wait_until};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

async fn server() -> TcpServer {
    TcpServer::start(common::quiet_options()).await
}

fn kustomizations() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        "kustomizations",
    )
}

/// The header row of kubectl table output, split into column names.
fn header(out: &str) -> Vec<String> {
    out.lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The table row whose NAME column (or second column with -A) is `name`.
fn row<'a>(out: &'a str, name: &str) -> Option<&'a str> {
    out.lines()
        .skip(1)
        .find(|l| l.split_whitespace().any(|c| c == name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_version_and_api_resources() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    let out = k.run(&["version", "-o", "json"]).await;
    let v: Value = serde_json::from_str(out.ok()).expect("version JSON");
    let git = v["serverVersion"]["gitVersion"]
        .as_str()
        .unwrap_or_default();
    assert!(git.starts_with("v1.33"), "server advertises 1.33: {v}");
    assert_eq!(v["serverVersion"]["major"], "1");
    assert!(!out.stderr.contains("could not parse"), "{}", out.stderr);

    let out = k.run(&["api-resources"]).await;
    let text = out.ok();
    let has = |name: &str, needles: &[&str]| {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("api-resources lacks {name}:\n{text}"));
        for n in needles {
            assert!(
                line.split_whitespace().any(|c| c == *n),
                "{name} line lacks {n}: {line}"
            );
        }
    };
    has("configmaps", &["cm", "v1", "true", "ConfigMap"]);
    has("namespaces", &["ns", "v1", "false", "Namespace"]);
    has("deployments", &["deploy", "apps/v1", "true", "Deployment"]);
    has(
        "kustomizations",
        &[
            "ks",
            "kustomize.toolkit.fluxcd.io/v1",
            "true",
            "Kustomization",
        ],
    );
    has(
        "customresourcedefinitions",
        &["crd,crds", "apiextensions.k8s.io/v1", "false"],
    );
    assert!(
        out.stderr.trim().is_empty(),
        "api-resources complained: {}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_variants() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    let client = s.client().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    api.create(
        &PostParams::default(),
        &configmap("alpha", &[("app", "a")], &[("k", "v")]),
    )
    .await
    .unwrap();
    api.create(
        &PostParams::default(),
        &configmap("beta", &[("app", "b")], &[]),
    )
    .await
    .unwrap();
    let sys: Api<ConfigMap> = Api::namespaced(client, "kube-system");
    let mut cm = configmap("gamma", &[("app", "a")], &[]);
    cm.metadata.namespace = Some("kube-system".into());
    sys.create(&PostParams::default(), &cm).await.unwrap();

    let out = k.run(&["get", "cm"]).await;
    let text = out.ok();
    assert_eq!(header(text)[0], "NAME");
    assert!(
        row(text, "alpha").is_some() && row(text, "beta").is_some(),
        "{text}"
    );
    assert!(
        row(text, "gamma").is_none(),
        "default namespace only: {text}"
    );

    let out = k.run(&["get", "configmaps", "-A"]).await;
    let text = out.ok();
    assert_eq!(&header(text)[..2], ["NAMESPACE", "NAME"], "{text}");
    let g = row(text, "gamma").unwrap_or_else(|| panic!("-A shows kube-system: {text}"));
    assert!(g.starts_with("kube-system"), "{g}");

    let out = k.run(&["get", "cm", "alpha", "-o", "yaml"]).await;
    let doc: Value = serde_saphyr::from_str(out.ok()).expect("yaml");
    assert_eq!(doc["kind"], "ConfigMap");
    assert_eq!(doc["apiVersion"], "v1");
    assert_eq!(doc["metadata"]["name"], "alpha");
    assert_eq!(doc["data"]["k"], "v");

    let out = k
        .run(&["get", "cm", "-A", "-l", "app=a", "-o", "name"])
        .await;
    let mut names: Vec<&str> = out.ok().lines().collect();
    names.sort();
    assert_eq!(names, ["configmap/alpha", "configmap/gamma"]);

    let out = k
        .run(&[
            "get",
            "cm",
            "--field-selector",
            "metadata.name=beta",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(out.ok().trim(), "configmap/beta");
    let out = k
        .run(&[
            "get",
            "cm",
            "-A",
            "--field-selector",
            "metadata.namespace=kube-system",
            "-o",
            "name",
        ])
        .await;
    assert!(
        out.ok().lines().all(|l| l != "configmap/alpha"),
        "{}",
        out.stdout
    );

    let out = k.run(&["get", "cm", "missing"]).await;
    assert!(out.failed().contains("not found"), "{}", out.stderr);
}

const CM_V1: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: default\ndata:\n  a: \"1\"\n";
const CM_V2: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: default\ndata:\n  a: \"2\"\n  b: \"3\"\n";
const KS_V1: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: default\nspec:\n  interval: 5m\n  path: ./apps\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: repo\n";
const KS_V2: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: default\nspec:\n  interval: 10m\n  path: ./apps\n  sourceRef:\n    kind: GitRepository\n    name: repo\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_create_update_builtin_and_cr() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    let client = s.client().await;

    let out = k.run_stdin(&["apply", "-f", "-"], CM_V1).await;
    assert!(
        out.ok().contains("configmap/applied created"),
        "{}",
        out.stdout
    );
    let out = k.run_stdin(&["apply", "-f", "-"], CM_V1).await;
    assert!(
        out.ok().contains("configmap/applied unchanged"),
        "{}",
        out.stdout
    );
    let out = k.run_stdin(&["apply", "-f", "-"], CM_V2).await;
    assert!(
        out.ok().contains("configmap/applied configured"),
        "{}",
        out.stdout
    );
    let cm = Api::<ConfigMap>::default_namespaced(client.clone())
        .get("applied")
        .await
        .unwrap();
    let data = cm.data.unwrap();
    assert_eq!((data["a"].as_str(), data["b"].as_str()), ("2", "3"));
    assert!(
        cm.metadata
            .annotations
            .unwrap_or_default()
            .contains_key("kubectl.kubernetes.io/last-applied-configuration"),
        "client-side apply stores last-applied"
    );

    let out = k.run_stdin(&["apply", "-f", "-"], KS_V1).await;
    assert!(
        out.ok()
            .contains("kustomization.kustomize.toolkit.fluxcd.io/apps created"),
        "{}",
        out.stdout
    );
    let out = k.run_stdin(&["apply", "-f", "-"], KS_V2).await;
    assert!(out.ok().contains("configured"), "{}", out.stdout);
    let ks = Api::<DynamicObject>::namespaced_with(client, "default", &kustomizations())
        .get("apps")
        .await
        .unwrap();
    assert_eq!(ks.data["spec"]["interval"], "10m");
    assert!(
        ks.data["spec"].get("prune").is_none(),
        "field dropped from the applied config is removed: {:?}",
        ks.data
    );

    // Multi-document file with both.
    let both = format!("{CM_V1}---\n{KS_V1}");
    let file = s.dir.path().join("both.yaml");
    std::fs::write(&file, both).unwrap();
    let out = k.run(&["apply", "-f", file.to_str().unwrap()]).await;
    let text = out.ok();
    assert!(
        text.contains("configmap/applied configured")
            && text.contains("kustomization.kustomize.toolkit.fluxcd.io/apps configured"),
        "{text}"
    );

    // kubectl create -f on an existing object fails with AlreadyExists.
    let out = k.run_stdin(&["create", "-f", "-"], CM_V1).await;
    assert!(out.failed().contains("already exists"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_server_side() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    let out = k
        .run_stdin(&["apply", "--server-side", "-f", "-"], CM_V1)
        .await;
    assert!(
        out.ok().contains("configmap/applied serverside-applied"),
        "{}",
        out.stdout
    );
    let out = k
        .run_stdin(&["apply", "--server-side", "-f", "-"], KS_V1)
        .await;
    assert!(out.ok().contains("serverside-applied"), "{}", out.stdout);
    let client = s.client().await;
    let cm = Api::<ConfigMap>::default_namespaced(client.clone())
        .get("applied")
        .await
        .unwrap();
    let managers: Vec<_> = cm
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.manager, m.operation))
        .collect();
    assert!(
        managers.contains(&(Some("kubectl".into()), Some("Apply".into()))),
        "{managers:?}"
    );

    // Another manager changing the same field conflicts; --force-conflicts takes it over.
    let other = CM_V1.replace("a: \"1\"", "a: \"9\"");
    let out = k
        .run_stdin(
            &[
                "apply",
                "--server-side",
                "--field-manager",
                "other",
                "-f",
                "-",
            ],
            &other,
        )
        .await;
    let err = out.failed();
    assert!(
        err.contains("conflict") && err.contains("kubectl") && err.contains(".data.a"),
        "{err}"
    );
    let out = k
        .run_stdin(
            &[
                "apply",
                "--server-side",
                "--field-manager",
                "other",
                "--force-conflicts",
                "-f",
                "-",
            ],
            &other,
        )
        .await;
    out.ok();
    let cm = Api::<ConfigMap>::default_namespaced(client)
        .get("applied")
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap()["a"], "9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_diff() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    k.run_stdin(&["apply", "-f", "-"], CM_V1).await.ok();
    let rv_before = Api::<ConfigMap>::default_namespaced(s.client().await)
        .get("applied")
        .await
        .unwrap()
        .metadata
        .resource_version;
    let same = k.run_stdin(&["diff", "-f", "-"], CM_V1).await;
    assert_eq!(same.code, Some(0), "no differences → exit 0: {same:?}");
    let changed = k.run_stdin(&["diff", "-f", "-"], CM_V2).await;
    assert_eq!(changed.code, Some(1), "differences → exit 1: {changed:?}");
    assert!(
        changed.stdout.contains("+  a: \"2\"") || changed.stdout.contains("+  b: \"3\""),
        "{}",
        changed.stdout
    );
    // diff uses dryRun: nothing was written.
    let after = Api::<ConfigMap>::default_namespaced(s.client().await)
        .get("applied")
        .await
        .unwrap();
    assert_eq!(
        after.metadata.resource_version, rv_before,
        "dry run must not persist"
    );
    assert_eq!(after.data.unwrap()["a"], "1");
    // A new object diffs as an addition.
    let new = k.run_stdin(&["diff", "-f", "-"], KS_V1).await;
    assert_eq!(new.code, Some(1), "{new:?}");
    assert!(
        Api::<DynamicObject>::namespaced_with(s.client().await, "default", &kustomizations())
            .get_opt("apps")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_patch_three_types_and_label() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    let client = s.client().await;
    let deploy: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]},
                    {"name": "sidecar", "image": "envoy:1"}]}}}
    }))
    .unwrap();
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    deps.create(&PostParams::default(), &deploy).await.unwrap();

    // Strategic (default): containers merge by name.
    let out = k
        .run(&["patch", "deployment", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:2","env":[{"name":"B","value":"2"}]}]}}}}"#])
        .await;
    assert!(
        out.ok().contains("deployment.apps/web patched"),
        "{}",
        out.stdout
    );
    let d = deps.get("web").await.unwrap();
    let pod = d.spec.unwrap().template.spec.unwrap();
    let images: Vec<_> = pod
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.image.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        images,
        [
            ("web", "nginx:2".to_string()),
            ("sidecar", "envoy:1".to_string())
        ]
    );
    let env: Vec<_> = pod.containers[0]
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.name)
        .collect();
    // apimachinery's normalizeElementOrder: patch items (B) come before server-only items (A) whose
    // relative position cannot be compared.
    assert_eq!(env, ["B", "A"], "env merged by name");
    assert_eq!(d.metadata.generation, Some(2));

    // Merge: lists replaced wholesale.
    k.run(&[
        "patch",
        "deployment",
        "web",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":3}}"#,
    ])
    .await
    .ok();
    assert_eq!(
        deps.get("web").await.unwrap().spec.unwrap().replicas,
        Some(3)
    );

    // JSON patch, including a failing test.
    k.run(&["patch", "deployment", "web", "--type", "json", "-p", r#"[{"op":"test","path":"/spec/replicas","value":3},{"op":"replace","path":"/spec/replicas","value":5}]"#])
        .await
        .ok();
    assert_eq!(
        deps.get("web").await.unwrap().spec.unwrap().replicas,
        Some(5)
    );
    let bad = k
        .run(&[
            "patch",
            "deployment",
            "web",
            "--type",
            "json",
            "-p",
            r#"[{"op":"test","path":"/spec/replicas","value":1}]"#,
        ])
        .await;
    bad.failed();

    // Custom resources take merge and JSON patches.
    Api::<DynamicObject>::namespaced_with(client.clone(), "default", &kustomizations())
        .create(
            &PostParams::default(),
            &DynamicObject::new("ks1", &kustomizations()).data(json!({"spec": {"path": "./a"}})),
        )
        .await
        .unwrap();
    k.run(&[
        "patch",
        "ks",
        "ks1",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ])
    .await
    .ok();
    k.run(&[
        "patch",
        "kustomization",
        "ks1",
        "--type",
        "json",
        "-p",
        r#"[{"op":"add","path":"/spec/path","value":"./b"}]"#,
    ])
    .await
    .ok();
    let ks = Api::<DynamicObject>::namespaced_with(client.clone(), "default", &kustomizations())
        .get("ks1")
        .await
        .unwrap();
    assert_eq!(
        (
            ks.data["spec"]["suspend"].clone(),
            ks.data["spec"]["path"].clone()
        ),
        (json!(true), json!("./b"))
    );

    // label / annotate
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &configmap("lbl", &[], &[]))
        .await
        .unwrap();
    assert!(
        k.run(&["label", "cm", "lbl", "tier=web"])
            .await
            .ok()
            .contains("configmap/lbl labeled")
    );
    k.run(&["annotate", "cm", "lbl", "note=hi"]).await.ok();
    let cm = cms.get("lbl").await.unwrap();
    assert_eq!(cm.metadata.labels.unwrap()["tier"], "web");
    assert_eq!(cm.metadata.annotations.unwrap()["note"], "hi");
    k.run(&["label", "cm", "lbl", "tier=api"]).await.failed();
    k.run(&["label", "cm", "lbl", "--overwrite", "tier=api"])
        .await
        .ok();
    assert_eq!(
        cms.get("lbl").await.unwrap().metadata.labels.unwrap()["tier"],
        "api"
    );
    k.run(&["label", "cm", "lbl", "tier-"]).await.ok();
    assert!(
        !cms.get("lbl")
            .await
            .unwrap()
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("tier")
    );
    let out = k.run(&["label", "ks", "ks1", "team=core"]).await;
    out.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_with_and_without_finalizer() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client().await);
    cms.create(&PostParams::default(), &configmap("plain", &[], &[]))
        .await
        .unwrap();
    let out = k.run(&["delete", "cm", "plain"]).await;
    assert!(
        out.ok().contains("configmap \"plain\" deleted"),
        "{}",
        out.stdout
    );
    assert!(cms.get_opt("plain").await.unwrap().is_none());

    let mut fin = configmap("held", &[], &[]);
    fin.metadata.finalizers = Some(vec!["example.dev/hold".into()]);
    cms.create(&PostParams::default(), &fin).await.unwrap();
    // kubectl waits (list + watch with a field selector) until the object is really gone.
    let deleting = {
        let k = k.clone();
        tokio::spawn(async move { k.run(&["delete", "cm", "held", "--timeout=60s"]).await })
    };
    let marked = wait_until("deletionTimestamp set", PATIENCE, || async {
        cms.get("held")
            .await
            .ok()
            .filter(|c| c.metadata.deletion_timestamp.is_some())
    })
    .await;
    assert_eq!(
        marked.metadata.finalizers.as_deref(),
        Some(&["example.dev/hold".to_string()][..])
    );
    assert!(
        !deleting.is_finished(),
        "kubectl delete must wait for the finalizer"
    );
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("finalizer removed");
    let out = tokio::time::timeout(PATIENCE * 2, deleting)
        .await
        .expect("kubectl delete returns")
        .unwrap();
    assert!(
        out.ok().contains("configmap \"held\" deleted"),
        "{}",
        out.stdout
    );
    assert!(cms.get_opt("held").await.unwrap().is_none());

    // --wait=false returns at once and leaves the object terminating.
    cms.create(&PostParams::default(), &fin).await.unwrap();
    k.run(&["delete", "cm", "held", "--wait=false"]).await.ok();
    let cm = cms.get("held").await.unwrap();
    assert!(cm.metadata.deletion_timestamp.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_sees_added_modified_deleted() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client().await);
    cms.create(&PostParams::default(), &configmap("before", &[], &[]))
        .await
        .unwrap();
    let mut w = k.spawn(&["get", "cm", "-w", "--output-watch-events"]);
    w.line_matching("existing object listed", |l| l.contains("before"))
        .await;
    cms.create(&PostParams::default(), &configmap("watched", &[], &[]))
        .await
        .unwrap();
    w.line_matching("ADDED watched", |l| {
        l.contains("ADDED") && l.contains("watched")
    })
    .await;
    cms.patch(
        "watched",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    w.line_matching("MODIFIED watched", |l| {
        l.contains("MODIFIED") && l.contains("watched")
    })
    .await;
    cms.delete("watched", &Default::default()).await.unwrap();
    w.line_matching("DELETED watched", |l| {
        l.contains("DELETED") && l.contains("watched")
    })
    .await;
    let headers = w.seen.iter().filter(|l| l.starts_with("EVENT")).count();
    assert!(
        headers <= 1,
        "one table header only (watch events as Table rows): {:#?}",
        w.seen
    );
    assert!(
        w.child.try_wait().unwrap().is_none(),
        "kubectl get -w must keep running"
    );
}

const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.dev
spec:
  group: example.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_wait_for_crd_established_then_use_it() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    // Warm the discovery cache first, so kubectl must notice the new kind.
    k.run(&["api-resources"]).await.ok();
    let out = k.run_stdin(&["apply", "-f", "-"], WIDGET_CRD).await;
    assert!(
        out.ok()
            .contains("customresourcedefinition.apiextensions.k8s.io/widgets.example.dev created"),
        "{}",
        out.stdout
    );
    let out = k
        .run(&[
            "wait",
            "--for=condition=established",
            "crd/widgets.example.dev",
            "--timeout=30s",
        ])
        .await;
    assert!(out.ok().contains("condition met"), "{}", out.stdout);
    let widget = "apiVersion: example.dev/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: default\nspec:\n  size: 7\n";
    let out = k.run_stdin(&["apply", "-f", "-"], widget).await;
    assert!(
        out.ok().contains("widget.example.dev/w1 created"),
        "{}",
        out.stdout
    );
    let out = k.run(&["get", "wg"]).await;
    let text = out.ok();
    assert_eq!(header(text), ["NAME", "SIZE", "AGE"], "{text}");
    let r = row(text, "w1").unwrap_or_else(|| panic!("{text}"));
    assert_eq!(r.split_whitespace().nth(1), Some("7"), "{r}");
    let age = r.split_whitespace().nth(2).unwrap_or_default();
    assert!(
        age.ends_with('s') || age.ends_with('m'),
        "age rendered like kubectl (e.g. 3s): {r}"
    );
    let out = k.run(&["delete", "crd", "widgets.example.dev"]).await;
    out.ok();
    let out = k.run(&["get", "widgets.example.dev"]).await;
    out.failed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_table_shows_crd_printer_columns() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    let client = s.client().await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &kustomizations());
    api.create(
        &PostParams::default(),
        &DynamicObject::new("infra", &kustomizations()).data(json!({"spec": {"path": "./infra"}})),
    )
    .await
    .unwrap();
    api.patch_status(
        "infra",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
            "message": "Applied revision main@sha1:abc", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})),
    )
    .await
    .unwrap();
    let out = k.run(&["get", "ks", "-A"]).await;
    let text = out.ok();
    assert_eq!(
        header(text),
        ["NAMESPACE", "NAME", "AGE", "READY", "STATUS"],
        "{text}"
    );
    let r = row(text, "infra").unwrap_or_else(|| panic!("{text}"));
    let cells: Vec<_> = r.split_whitespace().collect();
    assert_eq!(cells[0], "default");
    assert_eq!(cells[3], "True", "{r}");
    assert!(r.contains("Applied revision main@sha1:abc"), "{r}");

    let gitrepos = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "gitrepositories",
    );
    Api::<DynamicObject>::namespaced_with(client, "default", &gitrepos)
        .create(
            &PostParams::default(),
            &DynamicObject::new("repo", &gitrepos)
                .data(json!({"spec": {"url": "https://example.dev/repo.git"}})),
        )
        .await
        .unwrap();
    let out = k.run(&["get", "gitrepo"]).await;
    let text = out.ok();
    assert_eq!(
        header(text),
        ["NAME", "URL", "AGE", "READY", "STATUS"],
        "{text}"
    );
    assert!(
        row(text, "repo").is_some_and(|r| r.contains("https://example.dev/repo.git")),
        "{text}"
    );
    // Wide output and labels work from the table's object metadata.
    let out = k.run(&["get", "ks", "--show-labels"]).await;
    assert!(
        header(out.ok()).contains(&"LABELS".to_string()),
        "{}",
        out.stdout
    );
}

/// The kubeconfig the Server writes works with kubectl as is (client-go sends no bearer token to an
/// `http://` server, so the token must reach the server another way) and only with the right token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_works_with_the_written_kubeconfig() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    let out = k.run(&["get", "namespaces", "-o", "name"]).await;
    assert!(
        out.ok().lines().any(|l| l == "namespace/kube-system"),
        "{}",
        out.stdout
    );
    let out = k.run(&["version", "-o", "json"]).await;
    out.ok();
    let out = k.run(&["config", "get-contexts", "-o", "name"]).await;
    assert_eq!(out.ok().trim(), "default");
    // The same kubeconfig with another token is refused.
    let token = &s.server.clusters()[0].token;
    let text = std::fs::read_to_string(&s.kubeconfig).unwrap();
    assert!(text.contains(token.as_str()));
    let forged = s.dir.path().join("forged-kubeconfig");
    std::fs::write(
        &forged,
        text.replace(token.as_str(), &"0".repeat(token.len())),
    )
    .unwrap();
    let bad = common::Kubectl::new(s.dir.path(), &forged);
    let out = bad.run(&["get", "namespaces"]).await;
    let err = out.failed();
    assert!(
        err.contains("Unauthorized")
            || err.contains("must be logged in")
            || err.contains("credentials"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_categories_wide_columns_and_imperative_create() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    let client = s.client().await;
    Api::<DynamicObject>::namespaced_with(client.clone(), "default", &kustomizations())
        .create(
            &PostParams::default(),
            &DynamicObject::new("cat", &kustomizations()).data(json!({"spec": {"path": "./"}})),
        )
        .await
        .unwrap();
    let images = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("image.toolkit.fluxcd.io", "v1", "ImageRepository"),
        "imagerepositories",
    );
    Api::<DynamicObject>::namespaced_with(client, "default", &images)
        .create(
            &PostParams::default(),
            &DynamicObject::new("img", &images).data(json!({"spec": {"image": "ghcr.io/x/y"}})),
        )
        .await
        .unwrap();
    // The compact CRDs carry the `fluxcd` category.
    let out = k.run(&["get", "fluxcd", "-A", "-o", "name"]).await;
    let text = out.ok();
    assert!(
        text.lines()
            .any(|l| l == "kustomization.kustomize.toolkit.fluxcd.io/cat")
            && text
                .lines()
                .any(|l| l == "imagerepository.image.toolkit.fluxcd.io/img"),
        "{text}"
    );
    // priority > 0 columns only with -o wide.
    let narrow = header(k.run(&["get", "imagerepositories"]).await.ok());
    let out = k.run(&["get", "imagerepositories", "-o", "wide"]).await;
    let wide = header(out.ok());
    assert!(!narrow.contains(&"LAST".to_string()), "{narrow:?}");
    assert!(
        wide.contains(&"LAST".to_string()),
        "wide shows `Last scan`: {wide:?}"
    );
    // Imperative generators POST protobuf: refused with 415 (kubectl fails cleanly) …
    let out = k
        .run(&["create", "configmap", "imp", "--from-literal=a=1"])
        .await;
    let err = out.failed();
    assert!(
        err.contains("unknown format")
            || err.contains("415")
            || err.contains("UnsupportedMediaType")
            || err.contains("media type"),
        "{err}"
    );
    // … and the documented workaround works.
    let yaml = k
        .run(&[
            "create",
            "configmap",
            "imp",
            "--from-literal=a=1",
            "--dry-run=client",
            "-o",
            "yaml",
        ])
        .await;
    let out = k.run_stdin(&["apply", "-f", "-"], yaml.ok()).await;
    assert!(out.ok().contains("configmap/imp created"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_contexts_reach_isolated_clusters() {
    require_kubectl!();
    let s = TcpServer::start_many(&["dev", "staging"], common::quiet_options()).await;
    let k = s.kubectl();
    let out = k.run(&["config", "get-contexts", "-o", "name"]).await;
    assert_eq!(out.ok().lines().collect::<Vec<_>>(), ["dev", "staging"]);
    let out = k.run(&["config", "current-context"]).await;
    assert_eq!(out.ok().trim(), "dev");
    k.run_stdin(&["apply", "-f", "-"], CM_V1).await.ok();
    let out = k
        .run(&["get", "cm", "applied", "--context", "staging"])
        .await;
    assert!(out.failed().contains("not found"), "{}", out.stderr);
    k.run_stdin(&["apply", "--context", "staging", "-f", "-"], CM_V2)
        .await
        .ok();
    let dev = k
        .run(&["get", "cm", "applied", "-o", "jsonpath={.data.a}"])
        .await;
    let staging = k
        .run(&[
            "get",
            "cm",
            "applied",
            "--context",
            "staging",
            "-o",
            "jsonpath={.data.a}",
        ])
        .await;
    assert_eq!((dev.ok(), staging.ok()), ("1", "2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_rollout_status_and_wait_with_the_simulator() {
    require_kubectl!();
    let s = TcpServer::start(flotilla::apiserver::ClusterOptions {
        simulate: true,
        rollout_delay: std::time::Duration::from_millis(200),
        ..flotilla::apiserver::ClusterOptions::default()
    })
    .await;
    let k = s.kubectl();
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n";
    k.run_stdin(&["apply", "-f", "-"], deploy).await.ok();
    let out = k
        .run(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    assert!(
        out.ok().contains("successfully rolled out"),
        "{}",
        out.stdout
    );
    let out = k
        .run(&[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "--timeout=60s",
        ])
        .await;
    assert!(out.ok().contains("condition met"), "{}", out.stdout);
    let out = k.run(&["get", "deployment", "web"]).await;
    let text = out.ok();
    assert_eq!(
        header(text),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{text}"
    );
    assert!(
        row(text, "web").is_some_and(|r| r.contains("2/2")),
        "{text}"
    );
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\n  namespace: default\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox:1\n";
    k.run_stdin(&["apply", "-f", "-"], job).await.ok();
    let out = k
        .run(&[
            "wait",
            "--for=condition=complete",
            "job/once",
            "--timeout=60s",
        ])
        .await;
    assert!(out.ok().contains("condition met"), "{}", out.stdout);
}

/// A real apiserver lets manager `kubectl` take over fields listed in the last-applied annotation
/// without conflicts (apimachinery's lastAppliedManager), so `kubectl apply` users can switch to
/// `kubectl apply --server-side`. Not spelled out in kube-wire.md §A10.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_side_apply_takes_over_client_side_apply() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    k.run_stdin(&["apply", "-f", "-"], CM_V1).await.ok();
    // kubectl migrates the client-side-apply manager's fields (csaupgrade) and applies: no conflict.
    let out = k
        .run_stdin(&["apply", "--server-side", "-f", "-"], CM_V2)
        .await;
    assert!(out.ok().contains("serverside-applied"), "{}", out.stdout);
    let cm = Api::<ConfigMap>::default_namespaced(s.client().await)
        .get("applied")
        .await
        .unwrap();
    let data = cm.data.clone().unwrap();
    assert_eq!((data["a"].as_str(), data["b"].as_str()), ("2", "3"));
    let managers: Vec<String> = cm
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"kubectl".to_string()), "{managers:?}");
    // Dropping a field from the server-side config now removes it.
    let out = k
        .run_stdin(&["apply", "--server-side", "-f", "-"], CM_V1)
        .await;
    out.ok();
    let cm = Api::<ConfigMap>::default_namespaced(s.client().await)
        .get("applied")
        .await
        .unwrap();
    assert!(
        !cm.data.unwrap().contains_key("b"),
        "b removed after the manager dropped it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_everyday_commands() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n";
    k.run_stdin(&["apply", "-f", "-"], deploy).await.ok();
    for n in ["c1", "c2", "c3"] {
        let cm = CM_V1.replace("name: applied", &format!("name: {n}"));
        k.run_stdin(&["create", "-f", "-"], &cm).await.ok();
    }
    // `get all` uses the "all" category.
    let out = k.run(&["get", "all", "-o", "name"]).await;
    assert!(
        out.ok().lines().any(|l| l == "deployment.apps/web"),
        "{}",
        out.stdout
    );
    // Paging through kubectl's chunked list.
    let out = k.run(&["get", "cm", "--chunk-size=1", "-o", "name"]).await;
    let names: Vec<&str> = out
        .ok()
        .lines()
        .filter(|l| l.starts_with("configmap/c"))
        .collect();
    assert_eq!(names, ["configmap/c1", "configmap/c2", "configmap/c3"]);
    // Output formats computed client-side from the object.
    let out = k
        .run(&[
            "get",
            "cm",
            "-o",
            "custom-columns=N:.metadata.name,A:.data.a",
            "--sort-by=.metadata.name",
        ])
        .await;
    assert!(
        out.ok()
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["c2", "1"]),
        "{}",
        out.stdout
    );
    // replace -f with a changed object.
    let out = k.run(&["get", "cm", "c1", "-o", "json"]).await;
    let mut obj: Value = serde_json::from_str(out.ok()).unwrap();
    obj["data"]["a"] = json!("changed");
    let out = k.run_stdin(&["replace", "-f", "-"], &obj.to_string()).await;
    assert!(out.ok().contains("configmap/c1 replaced"), "{}", out.stdout);
    // Server-side diff (forced: kubectl-create owns .data.a, exactly as on a real cluster).
    let changed = CM_V2.replace("name: applied", "name: c2");
    let out = k
        .run_stdin(
            &["diff", "--server-side", "--force-conflicts", "-f", "-"],
            &changed,
        )
        .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    // delete -f and delete by label.
    let out = k.run(&["delete", "cm", "-l", "missing=label"]).await;
    out.ok();
    let out = k.run(&["delete", "cm", "c1", "c2", "c3"]).await;
    assert_eq!(out.ok().lines().count(), 3, "{}", out.stdout);
    // Namespace lifecycle through kubectl.
    let out = k
        .run_stdin(
            &["apply", "-f", "-"],
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
        )
        .await;
    out.ok();
    let cm = CM_V1.replace("namespace: default", "namespace: team");
    k.run_stdin(&["apply", "-f", "-"], &cm).await.ok();
    let out = k
        .run(&["delete", "namespace", "team", "--timeout=60s"])
        .await;
    assert!(
        out.ok().contains("namespace \"team\" deleted"),
        "{}",
        out.stdout
    );
    let out = k.run(&["get", "namespace", "team"]).await;
    assert!(out.failed().contains("not found"));
}

/// `kubectl scale` PATCHes the `/scale` subresource (autoscaling/v1 Scale) of built-in workloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_uses_the_scale_subresource() {
    require_kubectl!();
    let s = server().await;
    let k = s.kubectl();
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n";
    k.run_stdin(&["apply", "-f", "-"], deploy).await.ok();
    let out = k.run(&["scale", "deployment", "web", "--replicas=3"]).await;
    assert!(
        out.ok().contains("deployment.apps/web scaled"),
        "{}",
        out.stdout
    );
    let out = k
        .run(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .await;
    assert_eq!(out.ok(), "3");
    // `get --raw` would drop the kubeconfig server URL's path, which carries the token here.
    let out = k
        .run(&[
            "get",
            "deployment",
            "web",
            "--subresource=scale",
            "-o",
            "json",
        ])
        .await;
    let scale: Value = serde_json::from_str(out.ok()).expect("Scale JSON");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 3);
}
