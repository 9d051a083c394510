//! The documented reconciler template (`flotilla::controllers` module docs) as a working toy kind
//! against the embedded API server: the toy writes none of conditions, events, suspend, requestedAt,
//! finalizer or backoff, and gets every one of them from the runtime. Then one table of the
//! Kustomization's Flux events compared with kustomize-controller's documented ones.

use crate::common;

use common::gitrepo::{Repo, have_git};
use common::{PATIENCE, in_process, quiet_options, wait_until};
use flotilla::controllers::bundle::{Controller as Bundle, ControllerOptions};
use flotilla::model::kinds::{self, KindInfo};
use flotilla::runtime::{
    Adapter, Controller, Failure, FluxEvent, Run, Runtime, RuntimeOptions, Success,
};
use k8s_openapi::api::core::v1::Event;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// A kind outside flotilla's registry, served from a CRD the test installs.
static WIDGET: KindInfo = KindInfo {
    kind: "Widget",
    group: "toy.flotilla.test",
    versions: &["v1"],
    plural: "widgets",
    singular: "widget",
    short_names: &[],
    aliases: &[],
    ..kinds::KINDS[0]
};

/// The toy: `spec.mode` says what a run does; it counts runs and finalizations.
#[derive(Default)]
struct WidgetController {
    runs: AtomicUsize,
    finalized: Mutex<Vec<String>>,
}

struct WidgetSpec {
    mode: String,
}

impl Controller for WidgetController {
    const GROUP: &'static str = "toy.flotilla.test";
    const KIND: &'static str = "Widget";
    const COMPONENT: &'static str = "widget-controller";
    type Spec = WidgetSpec;

    fn parse(&self, obj: &Value) -> Result<WidgetSpec, Failure> {
        let mode = obj.pointer("/spec/mode").and_then(Value::as_str);
        match mode {
            Some(m @ ("ok" | "fail")) => Ok(WidgetSpec { mode: m.into() }),
            _ => Err(Failure::terminal(
                "InvalidMode",
                "spec.mode must be ok or fail",
            )),
        }
    }

    async fn reconcile(&self, run: &mut Run, spec: WidgetSpec) -> Result<Success, Failure> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        run.progressing("polishing the widget");
        run.write().await;
        if spec.mode == "fail" {
            return Err(Failure::transient(
                "PolishFailed",
                "the widget is scratched",
            ));
        }
        run.set("shine", json!(true));
        Ok(
            Success::ready("Succeeded", "widget is shiny", Duration::from_secs(3600))
                .event("Succeeded", "widget polished"),
        )
    }

    async fn finalize(&self, obj: Value) {
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        self.finalized.lock().unwrap().push(name);
    }
}

fn widgets(client: &kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("toy.flotilla.test", "v1", "Widget"),
        "widgets",
    );
    Api::namespaced_with(client.clone(), "default", &ar)
}

async fn install_crd(client: &kube::Client) {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        "customresourcedefinitions",
    );
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.toy.flotilla.test"},
        "spec": {"group": "toy.flotilla.test", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    Api::<DynamicObject>::all_with(client.clone(), &ar)
        .create(&PostParams::default(), &crd)
        .await
        .expect("CRD created");
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Option<Value> {
    api.get_opt(name)
        .await
        .unwrap()
        .map(|o| serde_json::to_value(o).unwrap())
}

async fn merge(api: &Api<DynamicObject>, name: &str, patch: Value) {
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn condition(obj: &Value, type_: &str) -> Option<Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

async fn wait_widget(api: &Api<DynamicObject>, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_until(what, PATIENCE, || async {
        let o = get(api, "w").await?;
        pred(&o).then_some(o)
    })
    .await
}

async fn events_of(client: &kube::Client, name: &str) -> Vec<Event> {
    let list = Api::<Event>::namespaced(client.clone(), "default")
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    list.into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .collect()
}

fn drain(rx: &mut mpsc::UnboundedReceiver<FluxEvent>) -> Vec<FluxEvent> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test]
async fn a_template_reconciler_gets_the_flux_machinery_for_free() {
    let (_cluster, client) = in_process(quiet_options());
    install_crd(&client).await;
    let toy = Arc::new(WidgetController::default());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let adapter = Adapter::with_kind(client.clone(), Arc::clone(&toy), &WIDGET).unwrap();
    let handle = Runtime::new(
        client.clone(),
        RuntimeOptions {
            events: Some(tx),
            ..RuntimeOptions::default()
        },
    )
    .register(Arc::new(adapter))
    .start();
    let api = widgets(&client);
    let w: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "toy.flotilla.test/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"}, "spec": {"mode": "ok"}
    }))
    .unwrap();
    api.create(&PostParams::default(), &w).await.unwrap();

    // Conditions, observedGeneration and the finalizer.
    let obj = wait_widget(&api, "Ready", |o| {
        condition(o, "Ready").is_some_and(|c| c["status"] == "True")
    })
    .await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "Succeeded");
    assert_eq!(ready["message"], "widget is shiny");
    assert!(condition(&obj, "Reconciling").is_none(), "{obj}");
    assert_eq!(obj["status"]["observedGeneration"], 1);
    assert_eq!(obj["status"]["shine"], true);
    assert_eq!(
        obj["metadata"]["finalizers"],
        json!(["finalizers.fluxcd.io"])
    );

    // The Normal event, on the API and to the notification sink.
    let events = events_of(&client, "w").await;
    let polished = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("Succeeded"))
        .expect("success event");
    assert_eq!(polished.type_.as_deref(), Some("Normal"));
    assert_eq!(polished.message.as_deref(), Some("widget polished"));
    assert_eq!(
        polished
            .source
            .as_ref()
            .and_then(|s| s.component.as_deref()),
        Some("widget-controller")
    );
    let sent = wait_until("notification", PATIENCE, || {
        let got = drain(&mut rx);
        async move { (!got.is_empty()).then_some(got) }
    })
    .await;
    assert_eq!(sent[0].severity, "info");
    assert_eq!(sent[0].reason, "Succeeded");
    assert_eq!(sent[0].involved_object["kind"], "Widget");
    assert_eq!(sent[0].reporting_controller, "widget-controller");

    // requestedAt runs at once and is acknowledged.
    let runs = toy.runs.load(Ordering::SeqCst);
    merge(
        &api,
        "w",
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "t1"}}}),
    )
    .await;
    wait_widget(&api, "request handled", |o| {
        o["status"]["lastHandledReconcileAt"] == "t1"
    })
    .await;
    assert_eq!(toy.runs.load(Ordering::SeqCst), runs + 1);

    // Suspended: neither a request nor a spec change runs it, and nothing is written.
    merge(&api, "w", json!({"spec": {"suspend": true}})).await;
    merge(
        &api,
        "w",
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "t2"}}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let obj = get(&api, "w").await.unwrap();
    assert_eq!(obj["status"]["lastHandledReconcileAt"], "t1");
    assert_eq!(toy.runs.load(Ordering::SeqCst), runs + 1);

    // A transient failure: Ready=False with the reason, Reconciling kept as ProgressingWithRetry,
    // a Warning event, and retries with backoff while nothing changes.
    merge(
        &api,
        "w",
        json!({"spec": {"suspend": null, "mode": "fail"}}),
    )
    .await;
    let obj = wait_widget(&api, "failure", |o| {
        condition(o, "Ready").is_some_and(|c| c["reason"] == "PolishFailed")
    })
    .await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(
        (ready["status"].as_str(), ready["message"].as_str()),
        (Some("False"), Some("the widget is scratched"))
    );
    let reconciling = condition(&obj, "Reconciling").expect("Reconciling kept");
    assert_eq!(reconciling["reason"], "ProgressingWithRetry");
    assert_eq!(
        obj["status"]["observedGeneration"], 1,
        "only success or a stall moves it"
    );
    let failed_at = toy.runs.load(Ordering::SeqCst);
    wait_until("retries without a change", PATIENCE, || async {
        (toy.runs.load(Ordering::SeqCst) >= failed_at + 2).then_some(())
    })
    .await;
    let warning = events_of(&client, "w")
        .await
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("PolishFailed"))
        .expect("warning event");
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    assert!(
        drain(&mut rx)
            .iter()
            .any(|e| e.severity == "error" && e.reason == "PolishFailed")
    );

    // A terminal failure stalls with observedGeneration current.
    merge(&api, "w", json!({"spec": {"mode": "broken"}})).await;
    let obj = wait_widget(&api, "stalled", |o| {
        condition(o, "Stalled").is_some_and(|c| c["reason"] == "InvalidMode")
    })
    .await;
    assert_eq!(
        obj["status"]["observedGeneration"],
        obj["metadata"]["generation"]
    );
    assert!(condition(&obj, "Reconciling").is_none());

    // Deletion runs the finalizer and lets the object go.
    api.delete("w", &Default::default()).await.unwrap();
    wait_until("widget gone", PATIENCE, || async {
        get(&api, "w").await.is_none().then_some(())
    })
    .await;
    assert_eq!(*toy.finalized.lock().unwrap(), ["w"]);
    handle.shutdown().await;
}

fn kustomization(name: &str, extra: Value) -> DynamicObject {
    let mut spec = json!({"interval": "10m", "retryInterval": "1m", "path": "./ok", "prune": true,
        "sourceRef": {"kind": "GitRepository", "name": "repo"}});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "default"}, "spec": spec
    }))
    .unwrap()
}

/// kustomize-controller's events (its docs/spec/v1/kustomizations.md and flux-semantics §3.9):
/// (Kustomization, type, reason, message check).
#[tokio::test]
async fn kustomization_events_match_flux() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "ok/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - cm.yaml\n",
    );
    repo.write(
        "ok/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: table\n  namespace: default\n",
    );
    repo.write(
        "broken/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - missing.yaml\n",
    );
    let commit = repo.commit("events");
    let (_cluster, client) = in_process(quiet_options());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let data = tempfile::tempdir().unwrap();
    let opts = ControllerOptions {
        data_dir: data.path().to_path_buf(),
        events: Some(tx),
        allow_file_urls: true,
        ..ControllerOptions::default()
    };
    let controller = Bundle::start(vec![("test".to_string(), client.clone())], &opts);
    let git = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
            "gitrepositories",
        ),
    );
    let repo_obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": "default"},
        "spec": {"url": repo.url(), "interval": "10m", "ref": {"branch": "main"}}
    }))
    .unwrap();
    git.create(&PostParams::default(), &repo_obj).await.unwrap();
    let ks = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
            "kustomizations",
        ),
    );
    let revision = format!("main@sha1:{commit}");
    for k in [
        kustomization("ok", json!({})),
        kustomization("broken", json!({"path": "./broken"})),
        kustomization(
            "orphan",
            json!({"sourceRef": {"kind": "GitRepository", "name": "missing"}}),
        ),
        kustomization("waits", json!({"dependsOn": [{"name": "broken"}]})),
    ] {
        ks.create(&PostParams::default(), &k).await.unwrap();
    }

    type Check = fn(&str) -> bool;
    let table: [(&str, &str, &str, Check); 4] = [
        ("ok", "Normal", "ReconciliationSucceeded", |m| {
            m.starts_with("Reconciliation finished in ") && m.ends_with(", next run in 10m0s")
        }),
        ("broken", "Warning", "BuildFailed", |m| {
            m.starts_with("kustomize build failed: ")
        }),
        ("orphan", "Warning", "ArtifactFailed", |m| {
            m == "Source 'GitRepository/default/missing' not found"
        }),
        ("waits", "Warning", "DependencyNotReady", |m| {
            m == "dependency 'default/broken' is not ready"
        }),
    ];
    let mut payloads = Vec::new();
    for (name, type_, reason, message_ok) in table {
        let event = wait_until(&format!("{reason} event on {name}"), PATIENCE, || async {
            events_of(&client, name)
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(reason))
        })
        .await;
        let message = event.message.clone().unwrap_or_default();
        assert_eq!(event.type_.as_deref(), Some(type_), "{name}: {message}");
        assert!(
            message_ok(&message),
            "{name}: unexpected message {message:?}"
        );
        assert_eq!(
            event.source.as_ref().and_then(|s| s.component.as_deref()),
            Some("kustomize-controller")
        );
        // The same event reaches the notification sink: severity from the type, the revision
        // (when the run had one) as metadata.
        let sent = wait_until(&format!("{reason} notification"), PATIENCE, || {
            payloads.extend(drain(&mut rx));
            let found = payloads
                .iter()
                .find(|e: &&FluxEvent| e.reason == reason && e.involved_object["name"] == name)
                .cloned();
            async move { found }
        })
        .await;
        let severity = if type_ == "Normal" { "info" } else { "error" };
        assert_eq!(sent.severity, severity);
        assert_eq!(sent.message, message);
        if name == "ok" || name == "broken" {
            assert_eq!(sent.metadata["revision"], revision.as_str(), "{name}");
            let annotations = event.metadata.annotations.unwrap_or_default();
            assert_eq!(
                annotations["kustomize.toolkit.fluxcd.io/revision"],
                revision
            );
        }
    }
    controller.shutdown().await;
}
