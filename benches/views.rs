//! Views benchmarks (issue 7):
//! - `views_tree/build_and_render_2000`: the health tree of a Kustomization with 2,000 inventory
//!   objects, built and rendered to text from already-fetched objects (target < 100 ms).
//! - `views_tree/console_frame_2000`: the same tree handed to the console (`t` pressed, the fetched
//!   tree arriving as an event, folds computed) and a full 120×40 frame drawn with the tree overlay.
//! - `views_diff/500_objects_in_process`: `diff_kustomization` of 500 desired ConfigMaps (50 of
//!   them changed) against the embedded server in-process: 500 reads + 500 SSA dry runs,
//!   normalise, mask, hunks (target < 1 s end to end).
//!
//! `expect()` here is only on fixture setup and TestBackend drawing: a benchmark whose fixture cannot be
//! built or drawn measures nothing, so it stops with the message instead of reporting a number.

use criterion::Criterion;
use flotilla::apiserver::{Cluster, ClusterOptions};
use flotilla::cluster::{ContextState, Update};
use flotilla::controllers::kustomization::stages::prepare_apply;
use flotilla::model::row::{Row, RowKey};
use flotilla::model::tree::{self, ObjectIndex};
use flotilla::tui::{App, Event, Keymap, Settings, Theme, ViewKind, view};
use flotilla::views::Fetched;
use flotilla::views::diff::{self, live::LiveClient};
use kube::api::{Api, Patch, PatchParams};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};
use std::hint::black_box;

const TREE_OBJECTS: usize = 2000;
const DIFF_OBJECTS: usize = 500;

fn deployment(i: usize) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": format!("app-{i}"), "namespace": "apps", "generation": 1},
           "spec": {"replicas": 1},
           "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
                      "availableReplicas": 1,
                      "conditions": [{"type": "Available", "status": "True"},
                                     {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}})
}

fn tree_input() -> (Value, ObjectIndex) {
    let mut entries = Vec::new();
    let mut index = ObjectIndex::new();
    for i in 0..TREE_OBJECTS {
        let (id, obj) = match i % 4 {
            0 => {
                let mut d = deployment(i);
                // The last Deployment is stuck, so the tree opens its 500-member group.
                if i + 4 >= TREE_OBJECTS {
                    d["status"]["conditions"][1] = json!({"type": "Progressing", "status": "False",
                        "reason": "ProgressDeadlineExceeded", "message": "timed out progressing"});
                }
                (format!("apps_app-{i}_apps_Deployment"), d)
            }
            1 => (
                format!("apps_svc-{i}__Service"),
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("svc-{i}"), "namespace": "apps"}}),
            ),
            2 => (
                format!("apps_cm-{i}__ConfigMap"),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}"), "namespace": "apps"}}),
            ),
            _ => (
                format!("apps_sa-{i}__ServiceAccount"),
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": format!("sa-{i}"), "namespace": "apps"}}),
            ),
        };
        entries.push(json!({"id": id, "v": "v1"}));
        index.insert(obj);
    }
    let ks = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system", "generation": 1},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}},
        "status": {"observedGeneration": 1, "inventory": {"entries": entries},
                   "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "message": "ok"}]}});
    (ks, index)
}

fn config_map(i: usize, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": format!("cm-{i}"), "namespace": "default"},
           "data": {"key": value, "other": "same"}})
}

/// A console showing `:ks` with the Kustomization selected and `t` pressed (the tree is loading).
fn console_on(ks: &Value, key: &RowKey) -> App {
    let mut app = App::new(
        Settings::default(),
        Keymap::builtin_default(),
        Theme::builtin_default(),
        std::slice::from_ref(&key.context),
        ViewKind::All,
    );
    app.update(Event::Resize(120, 40));
    app.update(Event::Cluster(Update::Context {
        context: key.context.clone(),
        state: ContextState::Live,
    }));
    if let Some(row) = Row::from_object(&key.context, ks) {
        app.update(Event::Cluster(Update::Upsert(Box::new(row))));
    }
    app.update(Event::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('t'),
    )));
    app
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let (ks, index) = tree_input();
    let source = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": "flux-system", "generation": 1},
        "status": {"observedGeneration": 1, "artifact": {"revision": "main@sha1:0123abc"},
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "stored"}]}});
    {
        let mut g = c.benchmark_group("views_tree");
        g.bench_function("build_and_render_2000", |b| {
            b.iter(|| {
                let t = tree::kustomization_tree(black_box(&ks), Some(&source), black_box(&index));
                black_box(tree::render_text(&t))
            })
        });
        let key = RowKey {
            context: "dev".into(),
            kind: "Kustomization",
            namespace: "flux-system".into(),
            name: "apps".into(),
        };
        let mut term = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
        let frame = |term: &mut Terminal<TestBackend>| {
            let mut app = console_on(&ks, &key);
            let t = tree::kustomization_tree(black_box(&ks), Some(&source), black_box(&index));
            app.update(Event::TreeFetched {
                key: key.clone(),
                result: Ok(Box::new(Fetched {
                    value: t,
                    warnings: Vec::new(),
                })),
            });
            term.draw(|f| view::render(&app, f)).expect("draw");
        };
        // Measure the tree overlay, not a table that ignored the key.
        frame(&mut term);
        let drawn = format!("{}", term.backend());
        assert!(
            drawn.contains("Root cause: Deployment/apps/app-1996")
                && drawn.contains("Deployment/apps/app-1900 Current"),
            "the tree overlay is not on screen:\n{drawn}"
        );
        g.bench_function("console_frame_2000", |b| b.iter(|| frame(&mut term)));
        g.finish();
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cluster = Cluster::new(ClusterOptions {
        simulate: false,
        ..ClusterOptions::default()
    })
    .expect("cluster");
    // The client's buffer service spawns onto the runtime it is created in.
    let _in_runtime = rt.enter();
    let client = kube::Client::new(cluster.router(), "default");
    let live = LiveClient::new(client.clone());
    let desired: Vec<Value> = (0..DIFF_OBJECTS)
        .map(|i| config_map(i, if i % 10 == 0 { "new" } else { "old" }))
        .collect();
    let stages = prepare_apply(desired, "apps", "flux-system", None, &[]);
    rt.block_on(async {
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
            client.clone(),
            "default",
            &kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
        );
        // Live state: what a previous apply of the old values left.
        let old = prepare_apply(
            (0..DIFF_OBJECTS).map(|i| config_map(i, "old")).collect(),
            "apps",
            "flux-system",
            None,
            &[],
        );
        for o in old.iter().flat_map(|s| s.objects.iter()) {
            let name = o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            api.patch(
                &name,
                &PatchParams::apply("kustomize-controller").force(),
                &Patch::Apply(o),
            )
            .await
            .expect("seed apply");
        }
    });
    {
        let mut g = c.benchmark_group("views_diff");
        g.sample_size(10);
        g.bench_function("500_objects_in_process", |b| {
            b.iter(|| {
                let report = rt.block_on(diff::diff_kustomization(&live, &json!({}), &stages));
                assert_eq!(report.summary().changed, DIFF_OBJECTS / 10);
                black_box(report)
            })
        });
        g.finish();
    }
    c.final_summary();
}
