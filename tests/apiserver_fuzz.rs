//! A seeded run of random, mutated and truncated bodies through every write verb (and each patch
//! content type) on built-in and custom-resource paths: the server never answers 5xx except for the
//! faults the test injects, error bodies are `Status` objects, and afterwards the store is consistent
//! (everything lists and gets, has uid and resourceVersion, and a watch from 0 replays exactly the list).

use crate::common;

use std::collections::BTreeMap;

use common::{RawResponse, raw, raw_router};
use flotilla::apiserver::Cluster;
use futures::StreamExt;
use kube::api::{Api, DynamicObject, ListParams, WatchEvent, WatchParams};
use kube::discovery::{Discovery, verbs};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

fn cluster() -> Cluster {
    Cluster::new(common::quiet_options()).expect("cluster")
}

async fn send(
    cluster: &Cluster,
    method: &str,
    path: &str,
    ct: Option<&str>,
    body: &[u8],
) -> RawResponse {
    let mut headers = vec![("accept", "application/json")];
    if let Some(ct) = ct {
        headers.push(("content-type", ct));
    }
    raw_router(&cluster.router(), method, path, &headers, body.to_vec()).await
}

struct Target {
    collection: &'static str,
    names: &'static [&'static str],
    valid: fn(&str, &mut StdRng) -> Value,
}

fn valid_cm(name: &str, rng: &mut StdRng) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": {"fz": rng.random_range(0..3).to_string()}},
        "data": {"k": rng.random::<u32>().to_string()}})
}
fn valid_secret(name: &str, rng: &mut StdRng) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"},
        "type": "Opaque", "data": {"k": if rng.random() { "aGk=" } else { "!!not-base64" }}})
}
fn valid_deployment(name: &str, rng: &mut StdRng) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": rng.random_range(0..4), "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": format!("img:{}", rng.random::<u8>()),
                    "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80}]}]}}},
        "status": {"replicas": 7}})
}
fn valid_namespace(name: &str, _rng: &mut StdRng) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}
fn valid_kustomization(name: &str, rng: &mut StdRng) -> Value {
    json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "default", "finalizers": if rng.random_bool(0.2) { json!(["fz/x"]) } else { json!([]) }},
        "spec": {"interval": "1m", "path": format!("./p{}", rng.random::<u8>()), "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "repo"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
}
fn valid_crd(name: &str, rng: &mut StdRng) -> Value {
    let _ = name;
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.fuzz.dev"},
        "spec": {"group": "fuzz.dev", "scope": if rng.random() { "Namespaced" } else { "Cluster" },
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "shortNames": ["gd"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]}]}})
}

const TARGETS: &[Target] = &[
    Target {
        collection: "/api/v1/namespaces/default/configmaps",
        names: &["fz-0", "fz-1", "fz-2"],
        valid: valid_cm,
    },
    Target {
        collection: "/api/v1/namespaces/default/secrets",
        names: &["fz-0", "fz-1"],
        valid: valid_secret,
    },
    Target {
        collection: "/apis/apps/v1/namespaces/default/deployments",
        names: &["fz-0", "fz-1"],
        valid: valid_deployment,
    },
    Target {
        collection: "/api/v1/namespaces",
        names: &["fz-a", "fz-b"],
        valid: valid_namespace,
    },
    Target {
        collection: "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/default/kustomizations",
        names: &["fz-0", "fz-1", "fz-2"],
        valid: valid_kustomization,
    },
    Target {
        collection: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        names: &["gadgets.fuzz.dev"],
        valid: valid_crd,
    },
    Target {
        collection: "/apis/fuzz.dev/v1/namespaces/default/gadgets",
        names: &["g-0", "g-1"],
        valid: |n, r| json!({"apiVersion": "fuzz.dev/v1", "kind": "Gadget", "metadata": {"name": n}, "spec": {"size": r.random_range(-5..5)}}),
    },
];

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..12) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(1e308),
        4 => serde_json::from_str("123456789012345678901234567890").unwrap_or(Value::Null),
        5 => json!(""),
        6 => json!("ünïcødé\u{0}\u{202e}"),
        7 if depth < 4 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        8 if depth < 4 => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.random_range(0..4) {
                let k = [
                    "name",
                    "namespace",
                    "metadata",
                    "spec",
                    "status",
                    "$patch",
                    "resourceVersion",
                    "uid",
                    "x",
                ][rng.random_range(0..9)];
                m.insert(k.to_string(), random_value(rng, depth + 1));
            }
            Value::Object(m)
        }
        9 => json!(-1),
        _ => json!("fz-0"),
    }
}

const METADATA_FIELDS: [&str; 13] = [
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
    "name",
    "namespace",
    "generateName",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "managedFields",
    "generation",
];

/// Replaces a random node of `v` with a random value.
fn mutate(v: &mut Value, rng: &mut StdRng) {
    let mut cur = v;
    loop {
        let children = match cur {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        if children == 0 || rng.random_bool(0.3) {
            *cur = random_value(rng, 0);
            return;
        }
        let i = rng.random_range(0..children);
        cur = match cur {
            Value::Object(m) => m.values_mut().nth(i).unwrap(),
            Value::Array(a) => &mut a[i],
            _ => unreachable!(),
        };
    }
}

fn random_json_patch(rng: &mut StdRng) -> Value {
    let paths = [
        "/metadata",
        "/metadata/name",
        "/metadata/finalizers",
        "/metadata/finalizers/-",
        "/metadata/finalizers/0",
        "/data",
        "/data/k",
        "/spec",
        "/spec/replicas",
        "/status",
        "",
        "/",
        "/~2",
        "/data/~1x",
        "/metadata/labels/a",
    ];
    let ops = ["add", "remove", "replace", "move", "copy", "test", "bogus"];
    let n = rng.random_range(0..5);
    Value::Array(
        (0..n)
            .map(|_| {
                json!({"op": ops[rng.random_range(0..ops.len())], "path": paths[rng.random_range(0..paths.len())],
                       "from": paths[rng.random_range(0..paths.len())], "value": random_value(rng, 1)})
            })
            .collect(),
    )
}

fn deep_nesting(depth: usize, yaml: bool) -> Vec<u8> {
    if yaml {
        let mut s =
            String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fz-0\ndata: ");
        s.push_str(&"[".repeat(depth));
        s.push_str(&"]".repeat(depth));
        s.into_bytes()
    } else {
        let mut s = String::from("{\"metadata\":");
        s.push_str(&"{\"a\":".repeat(depth));
        s.push('1');
        s.push_str(&"}".repeat(depth + 1));
        s.into_bytes()
    }
}

/// Requests per round; each round runs on a fresh cluster.
const REQUESTS_PER_ROUND: usize = 250;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_requests_never_5xx_and_leave_the_store_consistent() {
    // Fixed seeds for CI; FLOTILLA_FUZZ_SEED explores others.
    let base = std::env::var("FLOTILLA_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f107_111a_u64);
    for round in 0..3 {
        let seed = base.wrapping_add(round);
        let outcome = tokio::spawn(fuzz_round(seed)).await;
        if let Err(e) = outcome {
            let panic = e.into_panic();
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "fuzz round with seed {seed} failed (rerun with FLOTILLA_FUZZ_SEED={seed}):\n{msg}"
            );
        }
    }
}

async fn fuzz_round(seed: u64) {
    let c = cluster();
    let mut rng = StdRng::seed_from_u64(seed);
    // Make sure the fuzz CRD exists for part of the run.
    let crd = valid_crd("gadgets.fuzz.dev", &mut rng);
    assert_eq!(
        send(
            &c,
            "POST",
            TARGETS[5].collection,
            Some("application/json"),
            crd.to_string().as_bytes()
        )
        .await
        .status,
        201
    );

    let patch_types = [
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ];
    let mut server_errors = Vec::new();
    let mut non_status_errors = Vec::new();
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for i in 0..REQUESTS_PER_ROUND {
        let t = &TARGETS[rng.random_range(0..TARGETS.len())];
        let name = t.names[rng.random_range(0..t.names.len())];
        let verb = rng.random_range(0..8);
        let (method, ct) = match verb {
            0 | 7 => ("POST", "application/json"),
            1 => ("PUT", "application/json"),
            2..=5 => ("PATCH", patch_types[verb - 2]),
            _ => ("DELETE", "application/json"),
        };
        let mut path = if method == "POST" {
            t.collection.to_string()
        } else {
            format!("{}/{name}", t.collection)
        };
        if matches!(method, "PUT" | "PATCH") && rng.random_bool(0.2) {
            path.push_str("/status");
        }
        let mut query = Vec::new();
        if ct == "application/apply-patch+yaml" && rng.random_bool(0.9) {
            query.push("fieldManager=fuzz".to_string());
        }
        if rng.random_bool(0.1) {
            query.push("force=true".into());
        }
        if rng.random_bool(0.05) {
            query.push(
                [
                    "dryRun=All",
                    "fieldValidation=Strict",
                    "resourceVersion=abc",
                    "fieldManager=%zz",
                    "limit=-1",
                    "fieldSelector=%%%",
                    "labelSelector=((",
                ][rng.random_range(0..7)]
                .into(),
            );
        }
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let mut valid = (t.valid)(name, &mut rng);
        if method == "POST" && rng.random_bool(0.3) {
            valid["metadata"]["name"] = json!(t.names[rng.random_range(0..t.names.len())]);
        }
        let body: Vec<u8> = match rng.random_range(0..10) {
            0..=2 => match (method, ct) {
                ("PATCH", "application/json-patch+json") => {
                    random_json_patch(&mut rng).to_string().into_bytes()
                }
                ("DELETE", _) => {
                    let policy =
                        ["Background", "Foreground", "Orphan", "Bogus"][rng.random_range(0..4)];
                    json!({"propagationPolicy": policy})
                        .to_string()
                        .into_bytes()
                }
                _ => valid.to_string().into_bytes(),
            },
            3 | 4 => {
                let full = if ct == "application/json-patch+json" {
                    random_json_patch(&mut rng).to_string()
                } else {
                    valid.to_string()
                };
                let cut = rng.random_range(0..=full.len());
                full.as_bytes()[..cut].to_vec()
            }
            5 => {
                mutate(&mut valid, &mut rng);
                valid.to_string().into_bytes()
            }
            6 => {
                // Wrong types in the typed metadata every client deserialises.
                let field = METADATA_FIELDS[rng.random_range(0..METADATA_FIELDS.len())];
                valid["metadata"][field] = random_value(&mut rng, 0);
                valid.to_string().into_bytes()
            }
            7 => (0..rng.random_range(0..200))
                .map(|_| rng.random::<u8>())
                .collect(),
            8 => random_value(&mut rng, 0).to_string().into_bytes(),
            _ => deep_nesting(
                rng.random_range(100..3000),
                ct == "application/apply-patch+yaml",
            ),
        };
        let inject = rng.random_bool(0.04);
        if inject {
            c.faults().fail_next(1, 503, None);
        }
        let resp = send(&c, method, &path, Some(ct), &body).await;
        *by_status.entry(resp.status).or_default() += 1;
        let what = format!(
            "#{i} {method} {path} ({ct}) body {:?}",
            String::from_utf8_lossy(&body[..body.len().min(160)])
        );
        if inject {
            assert_eq!(
                resp.status, 503,
                "injected fault not served to the next request: {what}"
            );
            continue;
        }
        if resp.status >= 500 {
            server_errors.push(format!("{} {} <- {what}", resp.status, resp.text()));
        } else if resp.status >= 400 {
            let b = resp.json();
            if b["kind"] != "Status" || b["code"] != resp.status {
                non_status_errors.push(format!("{} {} <- {what}", resp.status, resp.text()));
            }
        }
    }
    eprintln!("fuzz seed {seed} status histogram: {by_status:?}");
    assert!(
        server_errors.is_empty(),
        "server answered 5xx:\n{}",
        server_errors.join("\n")
    );
    assert!(
        non_status_errors.is_empty(),
        "error responses without a matching Status body:\n{}",
        non_status_errors.join("\n")
    );
    assert!(
        by_status.keys().any(|s| (200..300).contains(s)),
        "some fuzzed writes should succeed"
    );

    // Namespace finalization and garbage collection may finish in the background; let them settle
    // (a wait, not an assertion).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    check_store_consistent(&c).await;
}

/// Every discovered resource lists and gets; items carry uid and resourceVersion; list RV ≥ item RVs;
/// a watch from 0 yields exactly the listed objects.
async fn check_store_consistent(c: &Cluster) {
    let client = kube::Client::new(c.router(), "default");
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery still works");
    let mut checked = 0;
    let mut futures = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if !caps.supports_operation(verbs::LIST) {
                continue;
            }
            let client = client.clone();
            futures.push(async move {
                let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
                let list = match api.list(&ListParams::default()).await {
                    Ok(list) => list,
                    Err(e) => {
                        let path = if ar.group.is_empty() {
                            format!("/api/{}/{}", ar.version, ar.plural)
                        } else {
                            format!("/apis/{}/{}/{}", ar.group, ar.version, ar.plural)
                        };
                        let body = raw(&client, "GET", &path, None, vec![]).await.text();
                        panic!("list {} fails for kube-rs: {e:?}\nbody: {body}", ar.plural)
                    }
                };
                let list_rv: u64 = list
                    .metadata
                    .resource_version
                    .as_deref()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or_else(|| panic!("list {} without numeric RV", ar.plural));
                let mut listed = BTreeMap::new();
                for item in &list.items {
                    let key = format!(
                        "{}/{}",
                        item.metadata.namespace.clone().unwrap_or_default(),
                        item.metadata.name.clone().unwrap_or_default()
                    );
                    assert!(
                        item.metadata.uid.as_deref().is_some_and(|u| !u.is_empty()),
                        "{} {key} has no uid",
                        ar.plural
                    );
                    let rv: u64 = item
                        .metadata
                        .resource_version
                        .as_deref()
                        .and_then(|r| r.parse().ok())
                        .unwrap_or_else(|| panic!("{} {key} has no numeric RV", ar.plural));
                    assert!(
                        rv <= list_rv,
                        "{} {key}: item RV {rv} > list RV {list_rv}",
                        ar.plural
                    );
                    let api_ns: Api<DynamicObject> = match &item.metadata.namespace {
                        Some(ns) => Api::namespaced_with(api.clone().into_client(), ns, &ar),
                        None => Api::all_with(api.clone().into_client(), &ar),
                    };
                    let got = api_ns
                        .get(item.metadata.name.as_deref().unwrap_or_default())
                        .await
                        .unwrap_or_else(|e| panic!("get {} {key} fails: {e:?}", ar.plural));
                    assert_eq!(got.metadata.uid, item.metadata.uid, "{} {key}", ar.plural);
                    listed.insert(key, rv);
                }
                if caps.supports_operation(verbs::WATCH) {
                    let mut stream = api
                        .watch(&WatchParams::default().timeout(1).disable_bookmarks(), "0")
                        .await
                        .unwrap_or_else(|e| panic!("watch {} fails: {e:?}", ar.plural))
                        .boxed();
                    let mut watched = BTreeMap::new();
                    while let Some(ev) = tokio::time::timeout(common::PATIENCE, stream.next())
                        .await
                        .unwrap_or_else(|_| {
                            panic!("watch {} with timeoutSeconds=1 never ends", ar.plural)
                        })
                    {
                        match ev
                            .unwrap_or_else(|e| panic!("watch {} stream error {e:?}", ar.plural))
                        {
                            WatchEvent::Added(o) => {
                                let key = format!(
                                    "{}/{}",
                                    o.metadata.namespace.clone().unwrap_or_default(),
                                    o.metadata.name.clone().unwrap_or_default()
                                );
                                let rv: u64 = o
                                    .metadata
                                    .resource_version
                                    .as_deref()
                                    .and_then(|r| r.parse().ok())
                                    .unwrap_or(0);
                                assert!(
                                    watched.insert(key.clone(), rv).is_none(),
                                    "{} {key} ADDED twice",
                                    ar.plural
                                );
                            }
                            WatchEvent::Bookmark(_) => {}
                            other => {
                                panic!("watch {} from 0 with no writes sent {other:?}", ar.plural)
                            }
                        }
                    }
                    assert_eq!(
                        watched, listed,
                        "watch from 0 of {} must yield exactly the listed objects",
                        ar.plural
                    );
                }
            });
            checked += 1;
        }
    }
    futures::future::join_all(futures).await;
    assert!(
        checked >= 10,
        "discovery found only {checked} listable resources"
    );
}
