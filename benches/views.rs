//! Views benchmarks (issue 7):
//! - `views_tree/build_and_render_2000`: the health tree of a Kustomization with 2,000 inventory
//!   objects, built and rendered to text from already-fetched objects (target < 100 ms).
//! - `views_diff/500_objects_in_process`: `diff_kustomization` of 500 desired ConfigMaps (50 of
//!   them changed) against the embedded server in-process: 500 reads + 500 SSA dry runs,
//!   normalise, mask, hunks (target < 1 s end to end).

use criterion::Criterion;
use flotilla::apiserver::{Cluster, ClusterOptions};
use flotilla::diff::{self, live::LiveClient};
use flotilla::model::tree::{self, ObjectIndex};
use flotilla::reconcile::kustomization::stages::prepare_apply;
use kube::api::{Api, Patch, PatchParams};
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
            0 => (format!("apps_app-{i}_apps_Deployment"), deployment(i)),
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

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let (ks, index) = tree_input();
    {
        let mut g = c.benchmark_group("views_tree");
        g.bench_function("build_and_render_2000", |b| {
            b.iter(|| {
                let t = tree::kustomization_tree(black_box(&ks), None, black_box(&index));
                black_box(tree::render_text(&t))
            })
        });
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
