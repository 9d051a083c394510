//! The reconciler runtime's scheduling rules against the embedded API server, with a recording
//! reconciler in place of a real one: bounded concurrency and the queue/in-flight counters, Flux's
//! triggers (new object, generation change, requestedAt change — and not status or label edits),
//! requeue after the time a run asks for, dependants woken by a signal change, and the finalizer.

use crate::common;

use common::{PATIENCE, in_process, quiet_options, wait_until};
use flotilla::model::kinds::{self, KindInfo};
use flotilla::model::selector::LabelSelector;
use flotilla::runtime::{
    Dependency, Next, ObjectKey, Outcome, Reconciler, Runtime, RuntimeOptions,
};
use futures::future::BoxFuture;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Counts runs per object and the most runs seen at once; each run takes `work`.
#[derive(Default)]
struct Recorder {
    runs: Mutex<HashMap<String, usize>>,
    running: AtomicUsize,
    max_running: AtomicUsize,
    finalized: Mutex<Vec<String>>,
    work: Duration,
    requeue: Option<Duration>,
}

impl Recorder {
    fn runs_of(&self, name: &str) -> usize {
        self.runs.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

struct Fake(Arc<Recorder>);

fn ks_kind() -> &'static KindInfo {
    kinds::by_group_kind("kustomize.toolkit.fluxcd.io", "Kustomization").unwrap()
}

impl Reconciler for Fake {
    fn kind(&self) -> &'static KindInfo {
        ks_kind()
    }
    fn reconcile(&self, obj: Value) -> BoxFuture<'static, Outcome> {
        let rec = Arc::clone(&self.0);
        Box::pin(async move {
            let now = rec.running.fetch_add(1, Ordering::SeqCst) + 1;
            rec.max_running.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(rec.work).await;
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
            *rec.runs.lock().unwrap().entry(name).or_default() += 1;
            rec.running.fetch_sub(1, Ordering::SeqCst);
            let next = rec.requeue.map(Next::After).unwrap_or(Next::Wait);
            Outcome::new(next, "recorded")
        })
    }
    fn finalize(&self, obj: Value) -> BoxFuture<'static, ()> {
        let rec = Arc::clone(&self.0);
        Box::pin(async move {
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
            rec.finalized.lock().unwrap().push(name);
        })
    }
    fn depends_on(&self, obj: &Value) -> Vec<Dependency> {
        let mut deps: Vec<Dependency> = obj
            .pointer("/spec/dependsOn")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|d| d["name"].as_str())
                    .map(|n| ObjectKey::new("Kustomization", "default", n).into())
                    .collect()
            })
            .unwrap_or_default();
        // `spec.selectDependencies`: every Kustomization of the namespace matching this selector.
        if let Some(sel) = obj
            .pointer("/spec/selectDependencies")
            .and_then(Value::as_str)
        {
            deps.push(Dependency::Selector {
                kind: "Kustomization",
                namespace: "default".into(),
                selector: LabelSelector::parse(sel).unwrap(),
            });
        }
        deps
    }
    fn signal(&self, obj: &Value) -> Option<String> {
        obj.pointer("/status/lastAppliedRevision")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

fn ks_api(client: &kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        "kustomizations",
    );
    Api::namespaced_with(client.clone(), "default", &ar)
}

async fn create(api: &Api<DynamicObject>, name: &str, spec: Value) {
    let o: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec
    }))
    .unwrap();
    api.create(&PostParams::default(), &o).await.unwrap();
}

async fn merge(api: &Api<DynamicObject>, name: &str, patch: Value) {
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(600)).await;
}

#[tokio::test]
async fn concurrency_is_bounded_and_reported() {
    let (_cluster, client) = in_process(quiet_options());
    let rec = Arc::new(Recorder {
        work: Duration::from_millis(300),
        ..Recorder::default()
    });
    let handle = Runtime::new(
        client.clone(),
        RuntimeOptions {
            concurrency: 3,
            ..RuntimeOptions::default()
        },
    )
    .register(Arc::new(Fake(Arc::clone(&rec))))
    .start();
    let api = ks_api(&client);
    for i in 0..12 {
        create(&api, &format!("ks-{i}"), json!({"interval": "1h"})).await;
    }
    let stats = handle.stats();
    let (mut saw_queue, mut saw_in_flight) = (0, 0);
    wait_until("12 runs", PATIENCE, || {
        saw_queue = saw_queue.max(stats.queue_len());
        saw_in_flight = saw_in_flight.max(stats.in_flight());
        let done = (0..12).all(|i| rec.runs_of(&format!("ks-{i}")) >= 1);
        async move { done.then_some(()) }
    })
    .await;
    assert_eq!(
        rec.max_running.load(Ordering::SeqCst),
        3,
        "never more than 3 at once"
    );
    assert!(
        (1..=3).contains(&saw_in_flight),
        "in_flight reported: {saw_in_flight}"
    );
    assert!(saw_queue >= 1, "waiting keys reported in queue_len");
    settle().await;
    assert_eq!(stats.in_flight(), 0);
    assert_eq!(stats.queue_len(), 0);
    assert_eq!(stats.runs(), 12, "each object ran exactly once");
    handle.shutdown().await;
}

#[tokio::test]
async fn runs_on_generation_and_request_changes_only() {
    let (_cluster, client) = in_process(quiet_options());
    let rec = Arc::new(Recorder::default());
    let handle = Runtime::new(client.clone(), RuntimeOptions::default())
        .register(Arc::new(Fake(Arc::clone(&rec))))
        .start();
    let api = ks_api(&client);
    create(&api, "a", json!({"interval": "1h"})).await;
    wait_until("first run", PATIENCE, || async {
        (rec.runs_of("a") == 1).then_some(())
    })
    .await;
    // The finalizer was added before the first run.
    let obj = api.get("a").await.unwrap();
    assert_eq!(
        obj.metadata.finalizers,
        Some(vec!["finalizers.fluxcd.io".to_string()])
    );

    // A label edit and a status write do not trigger.
    merge(&api, "a", json!({"metadata": {"labels": {"team": "x"}}})).await;
    api.patch_status(
        "a",
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": {"x": 1}})),
    )
    .await
    .unwrap();
    settle().await;
    assert_eq!(rec.runs_of("a"), 1, "no run for label or status edits");

    // A spec change (generation) and a requestedAt change do.
    merge(&api, "a", json!({"spec": {"interval": "2h"}})).await;
    wait_until("run on generation", PATIENCE, || async {
        (rec.runs_of("a") == 2).then_some(())
    })
    .await;
    merge(
        &api,
        "a",
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}}),
    )
    .await;
    wait_until("run on request", PATIENCE, || async {
        (rec.runs_of("a") == 3).then_some(())
    })
    .await;
    // The same token again is no new request.
    merge(&api, "a", json!({"metadata": {"labels": {"team": "y"}}})).await;
    settle().await;
    assert_eq!(rec.runs_of("a"), 3);

    // Deletion runs the finalizer and lets the object go.
    api.delete("a", &Default::default()).await.unwrap();
    wait_until("object gone", PATIENCE, || async {
        api.get_opt("a").await.unwrap().is_none().then_some(())
    })
    .await;
    assert_eq!(*rec.finalized.lock().unwrap(), vec!["a".to_string()]);
    handle.shutdown().await;
}

#[tokio::test]
async fn requeues_after_the_delay_and_wakes_dependants() {
    let (_cluster, client) = in_process(quiet_options());
    let rec = Arc::new(Recorder {
        requeue: Some(Duration::from_millis(300)),
        ..Recorder::default()
    });
    let handle = Runtime::new(client.clone(), RuntimeOptions::default())
        .register(Arc::new(Fake(Arc::clone(&rec))))
        .start();
    let api = ks_api(&client);
    create(&api, "base", json!({"interval": "1h"})).await;
    create(
        &api,
        "app",
        json!({"interval": "1h", "dependsOn": [{"name": "base"}]}),
    )
    .await;
    // Requeue after 300 ms: several runs within a couple of seconds without any change.
    wait_until("three runs of base", PATIENCE, || async {
        (rec.runs_of("base") >= 3).then_some(())
    })
    .await;

    // A signal change on base (its applied revision) runs app at once.
    let before = rec.runs_of("app");
    handle.shutdown().await;
    let rec2 = Arc::new(Recorder::default());
    let handle = Runtime::new(client.clone(), RuntimeOptions::default())
        .register(Arc::new(Fake(Arc::clone(&rec2))))
        .start();
    wait_until("initial runs", PATIENCE, || async {
        (rec2.runs_of("app") == 1 && rec2.runs_of("base") == 1).then_some(())
    })
    .await;
    api.patch_status(
        "base",
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": {"lastAppliedRevision": "main@sha1:1"}})),
    )
    .await
    .unwrap();
    wait_until("app woken by base's signal", PATIENCE, || async {
        (rec2.runs_of("app") == 2).then_some(())
    })
    .await;
    assert_eq!(
        rec2.runs_of("base"),
        1,
        "base itself is not re-run by its own status"
    );
    assert!(before >= 1);
    handle.shutdown().await;
}

#[tokio::test]
async fn dependants_by_label_selector_wake_on_matching_objects_only() {
    let (_cluster, client) = in_process(quiet_options());
    let rec = Arc::new(Recorder::default());
    let handle = Runtime::new(client.clone(), RuntimeOptions::default())
        .register(Arc::new(Fake(Arc::clone(&rec))))
        .start();
    let api = ks_api(&client);
    for (name, team) in [("one", "a"), ("two", "b")] {
        create(&api, name, json!({"interval": "1h"})).await;
        merge(&api, name, json!({"metadata": {"labels": {"team": team}}})).await;
    }
    create(
        &api,
        "watcher",
        json!({"interval": "1h", "selectDependencies": "team=a"}),
    )
    .await;
    wait_until("initial runs", PATIENCE, || async {
        (rec.runs_of("watcher") == 1 && rec.runs_of("one") == 1 && rec.runs_of("two") == 1)
            .then_some(())
    })
    .await;
    let signal = |rev: &str| json!({"status": {"lastAppliedRevision": rev}});
    // A signal change of an unselected object wakes nothing.
    api.patch_status("two", &PatchParams::default(), &Patch::Merge(&signal("r1")))
        .await
        .unwrap();
    settle().await;
    assert_eq!(rec.runs_of("watcher"), 1, "team=b is not selected");
    // One of a selected object runs the dependant.
    api.patch_status("one", &PatchParams::default(), &Patch::Merge(&signal("r1")))
        .await
        .unwrap();
    wait_until("watcher woken by a selected object", PATIENCE, || async {
        (rec.runs_of("watcher") == 2).then_some(())
    })
    .await;
    // Relabelled into the selection, the other one counts too.
    merge(&api, "two", json!({"metadata": {"labels": {"team": "a"}}})).await;
    api.patch_status("two", &PatchParams::default(), &Patch::Merge(&signal("r2")))
        .await
        .unwrap();
    wait_until(
        "watcher woken by a newly selected object",
        PATIENCE,
        || async { (rec.runs_of("watcher") == 3).then_some(()) },
    )
    .await;
    handle.shutdown().await;
}
