//! kube-wire.md §A18, kube-rs part: every check runs against the embedded API server both in-process
//! (`kube::Client::new(cluster.router(), ..)`) and over TCP (Server + written kubeconfig).

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Env, PATIENCE, TrackedWatch, configmap};
use flotilla::apiserver::ClusterOptions;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::discovery::Discovery;
use kube::runtime::watcher;
use serde_json::{Value, json};

fn options() -> ClusterOptions {
    common::quiet_options()
}

/// Small event ring so a burst of writes overflows it.
fn small_history() -> ClusterOptions {
    ClusterOptions {
        history: 16,
        ..common::quiet_options()
    }
}

both_transports!(options;
    discovery_finds_core_apps_and_new_crd_group,
    crud_get_opt_and_already_exists,
    stale_replace_is_conflict,
    merge_json_and_apply_patches,
    apply_conflict_and_force_transfers_ownership,
    apply_dropping_a_field_removes_it,
    noop_apply_keeps_rv_and_emits_no_event,
    status_patch_keeps_generation_spec_change_bumps_it,
    watcher_yields_init_sequence_then_changes,
    paging_with_page_size_one,
    closed_watch_resumes_from_bookmark_rv,
    finalizer_helper_completes_deletion,
    crd_established_immediately,
);

mod overflow {
    use super::{ring_overflow_relists_without_hot_loop, small_history};
    crate::both_transports!(small_history; ring_overflow_relists_without_hot_loop);
}

fn api_error(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error (Status), got {other:?}"),
    }
}

fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.dev"},
        "spec": {
            "group": "example.dev",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}}
            }]
        }
    }))
    .expect("valid CRD")
}

fn widget_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.dev", "v1", "Widget"),
        "widgets",
    )
}

fn kustomization_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        "kustomizations",
    )
}

async fn discovery_finds_core_apps_and_new_crd_group(env: Env) {
    let crds: Api<CustomResourceDefinition> = Api::all(env.client.clone());
    crds.create(&PostParams::default(), &widget_crd())
        .await
        .expect("CRD created");
    let discovery = Discovery::new(env.client.clone())
        .run()
        .await
        .expect("discovery runs");
    assert!(discovery.has_group(""), "core group missing");
    assert!(discovery.has_group("apps"), "apps group missing");
    assert!(
        discovery.has_group("example.dev"),
        "new CRD's group missing"
    );
    let (cm, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap"))
        .expect("ConfigMap discovered");
    assert_eq!(cm.plural, "configmaps");
    assert!(
        caps.supports_operation("watch"),
        "configmaps must support watch"
    );
    let (dep, _) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .expect("Deployment discovered");
    assert_eq!(dep.plural, "deployments");
    let (widget, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.dev", "v1", "Widget"))
        .expect("Widget discovered");
    assert_eq!(widget.plural, "widgets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(
        caps.subresources
            .iter()
            .any(|(r, _)| r.plural == "widgets/status"
                || r.plural == "status"
                || r.plural.ends_with("status")),
        "widgets/status subresource not discovered: {:?}",
        caps.subresources
    );
    // The CR is immediately usable through the discovered resource.
    let api: Api<DynamicObject> = Api::namespaced_with(env.client.clone(), "default", &widget);
    let w = DynamicObject::new("w1", &widget).data(json!({"spec": {"size": 1}}));
    api.create(&PostParams::default(), &w)
        .await
        .expect("widget created");
}

async fn crud_get_opt_and_already_exists(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    let created = api
        .create(
            &PostParams::default(),
            &configmap("crud", &[], &[("a", "1")]),
        )
        .await
        .expect("created");
    let meta = &created.metadata;
    assert!(
        meta.uid.as_deref().is_some_and(|u| !u.is_empty()),
        "uid assigned"
    );
    assert!(
        meta.resource_version
            .as_deref()
            .is_some_and(|r| !r.is_empty())
    );
    assert!(
        meta.creation_timestamp.is_some(),
        "creationTimestamp assigned"
    );

    let got = api.get("crud").await.expect("get");
    assert_eq!(got.data, created.data);
    assert_eq!(got.metadata.uid, created.metadata.uid);

    let list = api.list(&ListParams::default()).await.expect("list");
    assert!(
        list.metadata
            .resource_version
            .as_deref()
            .is_some_and(|r| !r.is_empty())
    );
    assert!(
        list.items
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some("crud"))
    );

    let again = api
        .create(
            &PostParams::default(),
            &configmap("crud", &[], &[("a", "2")]),
        )
        .await
        .expect_err("second create must fail");
    let status = api_error(again);
    assert!(
        status.is_already_exists(),
        "expected AlreadyExists, got {status:?}"
    );
    assert_eq!(status.code, 409);

    let mut changed = got.clone();
    changed.data = Some(BTreeMap::from([("a".to_string(), "3".to_string())]));
    let replaced = api
        .replace("crud", &PostParams::default(), &changed)
        .await
        .expect("replace");
    assert_eq!(replaced.data.as_ref().unwrap()["a"], "3");
    assert_eq!(replaced.metadata.uid, created.metadata.uid, "uid immutable");
    assert_ne!(
        replaced.metadata.resource_version,
        got.metadata.resource_version
    );

    api.delete("crud", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(api.get_opt("crud").await.expect("get_opt").is_none());
    assert!(
        api.get_opt("never-existed")
            .await
            .expect("get_opt")
            .is_none()
    );
    let missing = api_error(api.get("crud").await.expect_err("get after delete"));
    assert!(missing.is_not_found(), "{missing:?}");
}

async fn stale_replace_is_conflict(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    let v1 = api
        .create(
            &PostParams::default(),
            &configmap("stale", &[], &[("a", "1")]),
        )
        .await
        .expect("created");
    let mut v2 = v1.clone();
    v2.data = Some(BTreeMap::from([("a".to_string(), "2".to_string())]));
    api.replace("stale", &PostParams::default(), &v2)
        .await
        .expect("first replace");
    let mut v3 = v1.clone();
    v3.data = Some(BTreeMap::from([("a".to_string(), "3".to_string())]));
    let status = api_error(
        api.replace("stale", &PostParams::default(), &v3)
            .await
            .expect_err("stale RV must conflict"),
    );
    assert!(status.is_conflict(), "{status:?}");
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    let now = api.get("stale").await.expect("get");
    assert_eq!(
        now.data.unwrap()["a"],
        "2",
        "the conflicting write must not land"
    );
}

async fn merge_json_and_apply_patches(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    api.create(
        &PostParams::default(),
        &configmap("patched", &[], &[("a", "1")]),
    )
    .await
    .expect("created");

    let merged = api
        .patch(
            "patched",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "web"}}, "data": {"b": "2"}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(merged.labels()["tier"], "web");
    let data = merged.data.clone().unwrap();
    assert_eq!((data["a"].as_str(), data["b"].as_str()), ("1", "2"));

    // JSON patch with a passing `test`.
    let ops = json_patch(json!([
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "replace", "path": "/data/a", "value": "10"},
        {"op": "remove", "path": "/data/b"}
    ]));
    let jsoned = api
        .patch("patched", &PatchParams::default(), &ops)
        .await
        .expect("json patch");
    let data = jsoned.data.clone().unwrap();
    assert_eq!(data.get("a").map(String::as_str), Some("10"));
    assert!(!data.contains_key("b"), "removed by JSON patch");

    // A failing `test` rejects the whole patch with 422.
    let ops = json_patch(json!([
        {"op": "test", "path": "/data/a", "value": "nope"},
        {"op": "replace", "path": "/data/a", "value": "20"}
    ]));
    let status = api_error(
        api.patch("patched", &PatchParams::default(), &ops)
            .await
            .expect_err("failed test op"),
    );
    assert_eq!(status.code, 422, "{status:?}");
    assert_eq!(api.get("patched").await.unwrap().data.unwrap()["a"], "10");

    // Server-side apply creates (201 path) and updates.
    let applied = api
        .patch(
            "applied",
            &PatchParams::apply("alpha"),
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "applied", "namespace": "default"},
                "data": {"x": "1"}
            })),
        )
        .await
        .expect("apply creates");
    assert_eq!(applied.data.as_ref().unwrap()["x"], "1");
    let mf = applied.metadata.managed_fields.clone().unwrap_or_default();
    let alpha = mf
        .iter()
        .find(|m| m.manager.as_deref() == Some("alpha"))
        .expect("alpha has a managedFields entry");
    assert_eq!(alpha.operation.as_deref(), Some("Apply"));
    let fields = serde_json::to_value(&alpha.fields_v1).unwrap();
    assert!(
        fields.pointer("/f:data/f:x").is_some(),
        "alpha must own .data.x: {fields}"
    );
}

/// A JSON patch (RFC 6902) from JSON, without naming the json-patch crate.
fn json_patch(ops: Value) -> Patch<()> {
    Patch::Json(serde_json::from_value(ops).expect("valid JSON patch"))
}

async fn apply_conflict_and_force_transfers_ownership(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    let body = |v: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "owned", "namespace": "default"}, "data": {"x": v}})
    };
    api.patch(
        "owned",
        &PatchParams::apply("alpha"),
        &Patch::Apply(body("1")),
    )
    .await
    .expect("alpha applies");
    // Same value from another manager: shared ownership, no conflict.
    api.patch(
        "owned",
        &PatchParams::apply("gamma"),
        &Patch::Apply(body("1")),
    )
    .await
    .expect("equal value is not a conflict");
    let status = api_error(
        api.patch(
            "owned",
            &PatchParams::apply("beta"),
            &Patch::Apply(body("2")),
        )
        .await
        .expect_err("beta conflicts with alpha"),
    );
    assert_eq!(status.code, 409, "{status:?}");
    assert!(status.is_conflict());
    let causes = status
        .details
        .as_ref()
        .map(|d| d.causes.clone())
        .unwrap_or_default();
    assert!(
        causes
            .iter()
            .any(|c| c.reason == "FieldManagerConflict" && c.field == ".data.x"),
        "expected a FieldManagerConflict cause on .data.x, got {causes:?}"
    );
    assert!(
        status.message.contains("alpha"),
        "message names the owner: {}",
        status.message
    );
    assert_eq!(
        api.get("owned").await.unwrap().data.unwrap()["x"],
        "1",
        "nothing written"
    );

    let forced = api
        .patch(
            "owned",
            &PatchParams::apply("beta").force(),
            &Patch::Apply(body("2")),
        )
        .await
        .expect("forced apply");
    assert_eq!(forced.data.as_ref().unwrap()["x"], "2");
    let mf = forced.metadata.managed_fields.clone().unwrap_or_default();
    let owns_x = |m: &str| {
        mf.iter().any(|e| {
            e.manager.as_deref() == Some(m)
                && serde_json::to_value(&e.fields_v1)
                    .ok()
                    .and_then(|v| v.pointer("/f:data/f:x").cloned())
                    .is_some()
        })
    };
    assert!(owns_x("beta"), "beta owns .data.x after force: {mf:?}");
    assert!(!owns_x("alpha"), "alpha lost .data.x: {mf:?}");
    assert!(!owns_x("gamma"), "gamma lost .data.x: {mf:?}");
    // alpha now conflicts in turn.
    let status = api_error(
        api.patch(
            "owned",
            &PatchParams::apply("alpha"),
            &Patch::Apply(body("1")),
        )
        .await
        .expect_err("alpha now conflicts with beta"),
    );
    assert_eq!(status.code, 409);
}

async fn apply_dropping_a_field_removes_it(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    let apply = |data: Value, labels: Value| {
        Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "dropper", "namespace": "default", "labels": labels}, "data": data}))
    };
    api.patch(
        "dropper",
        &PatchParams::apply("alpha"),
        &apply(
            json!({"a": "1", "b": "2"}),
            json!({"keep": "y", "drop": "y"}),
        ),
    )
    .await
    .expect("first apply");
    // Another manager owns c; alpha must not remove it.
    api.patch(
        "dropper",
        &PatchParams::apply("other"),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "dropper", "namespace": "default"}, "data": {"c": "3"}})),
    )
    .await
    .expect("other applies");
    let after = api
        .patch(
            "dropper",
            &PatchParams::apply("alpha"),
            &apply(json!({"a": "1"}), json!({"keep": "y"})),
        )
        .await
        .expect("second apply");
    let data = after.data.clone().unwrap();
    assert_eq!(data.get("a").map(String::as_str), Some("1"));
    assert!(
        !data.contains_key("b"),
        "b dropped from alpha's config is removed: {data:?}"
    );
    assert_eq!(
        data.get("c").map(String::as_str),
        Some("3"),
        "other's field stays"
    );
    let labels = after.labels();
    assert!(
        labels.contains_key("keep") && !labels.contains_key("drop"),
        "{labels:?}"
    );
}

async fn noop_apply_keeps_rv_and_emits_no_event(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "steady", "namespace": "default", "labels": {"a": "b"}}, "data": {"x": "1"}});
    let first = api
        .patch(
            "steady",
            &PatchParams::apply("alpha"),
            &Patch::Apply(body.clone()),
        )
        .await
        .expect("apply");
    let rv = first.metadata.resource_version.clone().unwrap();
    let mut events = api
        .watch(&WatchParams::default(), &rv)
        .await
        .expect("watch opens")
        .boxed();

    let again = api
        .patch(
            "steady",
            &PatchParams::apply("alpha"),
            &Patch::Apply(body.clone()),
        )
        .await
        .expect("no-op apply");
    assert_eq!(
        again.metadata.resource_version.as_deref(),
        Some(rv.as_str()),
        "no-op apply keeps RV"
    );
    assert_eq!(
        again.metadata.managed_fields, first.metadata.managed_fields,
        "not even managedFields time changes"
    );
    let merged = api
        .patch(
            "steady",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"x": "1"}})),
        )
        .await
        .expect("no-op merge patch");
    assert_eq!(
        merged.metadata.resource_version.as_deref(),
        Some(rv.as_str()),
        "no-op merge patch keeps RV"
    );
    let replaced = api
        .replace("steady", &PostParams::default(), &again)
        .await
        .expect("no-op replace");
    assert_eq!(
        replaced.metadata.resource_version.as_deref(),
        Some(rv.as_str()),
        "no-op replace keeps RV"
    );

    // A real change to another object marks the end: nothing about `steady` may come before it.
    api.create(&PostParams::default(), &configmap("marker", &[], &[]))
        .await
        .expect("marker");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let ev = tokio::time::timeout_at(deadline, events.try_next())
            .await
            .expect("marker event arrives")
            .expect("watch stream healthy")
            .expect("watch stream open");
        match ev {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                let name = o.metadata.name.clone().unwrap_or_default();
                assert_ne!(name, "steady", "a no-op write emitted an event: {o:?}");
                if name == "marker" {
                    break;
                }
            }
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("watch error: {e:?}"),
        }
    }
}

async fn status_patch_keeps_generation_spec_change_bumps_it(env: Env) {
    // A CR with a status subresource (builtin compact Kustomization CRD).
    let ks = kustomization_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(env.client.clone(), "default", &ks);
    let obj = DynamicObject::new("gen", &ks)
        .data(json!({"spec": {"path": "./a", "interval": "1m"}, "status": {"ignored": true}}));
    let created = api
        .create(&PostParams::default(), &obj)
        .await
        .expect("created");
    assert_eq!(created.metadata.generation, Some(1));
    assert!(
        created
            .data
            .get("status")
            .is_none_or(|s| s.get("ignored").is_none()),
        "create drops .status"
    );

    let st = api
        .patch_status(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"observedGeneration": 1}, "spec": {"path": "./sneaky"}}),
            ),
        )
        .await
        .expect("patch_status");
    assert_eq!(
        st.metadata.generation,
        Some(1),
        "status write keeps generation"
    );
    assert_eq!(st.data["status"]["observedGeneration"], 1);
    assert_eq!(
        st.data["spec"]["path"], "./a",
        "status endpoint ignores spec changes"
    );
    assert_ne!(
        st.metadata.resource_version, created.metadata.resource_version,
        "status write bumps RV"
    );

    let labelled = api
        .patch(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"l": "v"}}})),
        )
        .await
        .expect("label patch");
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata change keeps generation"
    );

    let spec = api
        .patch(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"path": "./b"}, "status": {"observedGeneration": 99}})),
        )
        .await
        .expect("spec patch");
    assert_eq!(
        spec.metadata.generation,
        Some(2),
        "spec change bumps generation"
    );
    assert_eq!(
        spec.data["status"]["observedGeneration"], 1,
        "main endpoint ignores status"
    );

    // Same for a built-in kind with a status subresource.
    let deps: Api<Deployment> = Api::default_namespaced(env.client.clone());
    let dep: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}
    }))
    .unwrap();
    let d = deps
        .create(&PostParams::default(), &dep)
        .await
        .expect("deployment");
    assert_eq!(d.metadata.generation, Some(1));
    let d = deps
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observedGeneration": 1, "replicas": 1}})),
        )
        .await
        .expect("deployment status");
    assert_eq!(d.metadata.generation, Some(1));
    let d = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("scale");
    assert_eq!(d.metadata.generation, Some(2));
}

async fn watcher_yields_init_sequence_then_changes(env: Env) {
    use kube::runtime::watcher::Event;
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    for n in ["w-a", "w-b"] {
        api.create(
            &PostParams::default(),
            &configmap(n, &[("suite", "watcher")], &[]),
        )
        .await
        .unwrap();
    }
    api.create(&PostParams::default(), &configmap("w-other", &[], &[]))
        .await
        .unwrap();
    let mut stream = watcher(
        api.clone(),
        watcher::Config::default().labels("suite=watcher"),
    )
    .boxed();
    let mut next = async || {
        tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("watcher event in time")
            .expect("watcher stream open")
            .expect("watcher event without error")
    };
    assert!(matches!(next().await, Event::Init));
    let mut names = Vec::new();
    loop {
        match next().await {
            Event::InitApply(cm) => names.push(cm.metadata.name.unwrap()),
            Event::InitDone => break,
            other => panic!("unexpected during init: {other:?}"),
        }
    }
    names.sort();
    assert_eq!(names, ["w-a", "w-b"]);

    api.create(
        &PostParams::default(),
        &configmap("w-c", &[("suite", "watcher")], &[]),
    )
    .await
    .unwrap();
    match next().await {
        Event::Apply(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("w-c")),
        other => panic!("expected Apply(w-c), got {other:?}"),
    }
    api.patch(
        "w-a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    match next().await {
        Event::Apply(cm) => {
            assert_eq!(cm.metadata.name.as_deref(), Some("w-a"));
            assert_eq!(cm.data.unwrap()["k"], "v");
        }
        other => panic!("expected Apply(w-a), got {other:?}"),
    }
    api.delete("w-b", &DeleteParams::default()).await.unwrap();
    match next().await {
        Event::Delete(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("w-b")),
        other => panic!("expected Delete(w-b), got {other:?}"),
    }
    // Leaving the selector reads as a delete.
    api.patch(
        "w-c",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"suite": "gone"}}})),
    )
    .await
    .unwrap();
    match next().await {
        Event::Delete(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("w-c")),
        other => panic!("expected Delete(w-c) on selector exit, got {other:?}"),
    }
}

async fn paging_with_page_size_one(env: Env) {
    use kube::runtime::watcher::Event;
    let api: Api<ConfigMap> = Api::default_namespaced(env.traced.clone());
    let want = ["p-1", "p-2", "p-3"];
    for n in want {
        api.create(
            &PostParams::default(),
            &configmap(n, &[("suite", "paging")], &[]),
        )
        .await
        .unwrap();
    }
    let lp = ListParams::default().labels("suite=paging").limit(1);
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut p = lp.clone();
        if let Some(t) = &token {
            p = p.continue_token(t);
        }
        let page = api.list(&p).await.expect("page");
        pages += 1;
        assert!(
            page.items.len() <= 1,
            "limit=1 page had {} items",
            page.items.len()
        );
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        token = page.metadata.continue_.clone().filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
        assert!(pages < 10, "paging does not terminate");
    }
    assert_eq!(
        names, want,
        "pages in (namespace, name) order, no duplicates"
    );

    let mut stream = watcher(
        api.clone(),
        watcher::Config::default()
            .labels("suite=paging")
            .page_size(1),
    )
    .boxed();
    let mut init = Vec::new();
    loop {
        let ev = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("event")
            .expect("open")
            .expect("ok");
        match ev {
            Event::Init => {}
            Event::InitApply(cm) => init.push(cm.metadata.name.unwrap()),
            Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(init, want);
    let limited = env
        .log
        .entries()
        .into_iter()
        .filter(|r| {
            r.is_list_of("configmaps") && r.query.get("limit").map(String::as_str) == Some("1")
        })
        .count();
    assert!(
        limited >= 6,
        "expected ≥ 6 limit=1 list requests (3 manual + 3 watcher pages), saw {limited}"
    );
}

async fn closed_watch_resumes_from_bookmark_rv(env: Env) {
    use kube::runtime::watcher::Event;
    let api: Api<ConfigMap> = Api::default_namespaced(env.traced.clone());
    let plain: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    plain
        .create(
            &PostParams::default(),
            &configmap("bm-1", &[("suite", "bm")], &[]),
        )
        .await
        .unwrap();
    let mut stream = watcher(api, watcher::Config::default().labels("suite=bm")).boxed();
    loop {
        let ev = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if matches!(ev, Event::InitDone) {
            break;
        }
    }
    // kube-runtime opens the watch lazily, on the first poll after InitDone: make sure it is open
    // (an event arrives through it) before advancing the revision and closing it.
    plain
        .create(
            &PostParams::default(),
            &configmap("bm-0", &[("suite", "bm")], &[]),
        )
        .await
        .unwrap();
    loop {
        let ev = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Event::Apply(cm) = ev
            && cm.metadata.name.as_deref() == Some("bm-0")
        {
            break;
        }
    }
    // Advance the store revision with a write the watch does not select.
    let secrets: Api<Secret> = Api::default_namespaced(env.client.clone());
    let mut s = Secret::default();
    s.metadata.name = Some("unrelated".into());
    let s = secrets.create(&PostParams::default(), &s).await.unwrap();
    let current: u64 = s.metadata.resource_version.unwrap().parse().unwrap();

    let before = env.log.len();
    env.cluster.faults().close_watches();
    // Keep polling the stream so the watcher can react.
    let log = env.log.clone();
    let rewatch = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(r) = log
                .since(before)
                .into_iter()
                .find(|r| r.is_watch_of("configmaps"))
            {
                return r;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
        }
    })
    .await
    .expect("watcher re-watches after the server closed the stream");
    let rv: u64 = rewatch
        .query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .expect("re-watch carries a resourceVersion");
    assert_eq!(
        rv, current,
        "re-watch should resume from the bookmark sent before closing (current RV), not re-list or fall behind"
    );
    assert!(
        !env.log
            .since(before)
            .iter()
            .any(|r| r.is_list_of("configmaps")),
        "a cleanly closed watch must not cause a re-list"
    );
    // And the resumed watch delivers new changes.
    plain
        .create(
            &PostParams::default(),
            &configmap("bm-2", &[("suite", "bm")], &[]),
        )
        .await
        .unwrap();
    loop {
        let ev = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .unwrap()
            .unwrap();
        if let Ok(Event::Apply(cm)) = ev
            && cm.metadata.name.as_deref() == Some("bm-2")
        {
            break;
        }
    }
}

async fn finalizer_helper_completes_deletion(env: Env) {
    use kube::runtime::controller::Action;
    use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
    const FIN: &str = "flotilla.test/cleanup";
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    let cm = api
        .create(&PostParams::default(), &configmap("fin", &[], &[]))
        .await
        .unwrap();
    // First pass adds the finalizer (JSON patch with `test`).
    finalizer(&api, FIN, Arc::new(cm), |_ev| async {
        Ok::<_, std::convert::Infallible>(Action::await_change())
    })
    .await
    .expect("finalizer added");
    let cm = api.get("fin").await.unwrap();
    assert_eq!(
        cm.metadata.finalizers.as_deref(),
        Some(&[FIN.to_string()][..])
    );
    let gen_before = cm.metadata.generation;

    let deleted = api
        .delete("fin", &DeleteParams::default())
        .await
        .expect("delete");
    let marked = deleted
        .left()
        .expect("delete with finalizers returns the object");
    assert!(
        marked.metadata.deletion_timestamp.is_some(),
        "deletionTimestamp set"
    );
    let cm = api
        .get("fin")
        .await
        .expect("still there while finalizer pending");
    assert!(cm.metadata.deletion_timestamp.is_some());
    if let (Some(a), Some(b)) = (gen_before, cm.metadata.generation) {
        assert_eq!(b, a + 1, "setting deletionTimestamp bumps generation");
    }
    // Repeated delete is idempotent.
    let again = api
        .delete("fin", &DeleteParams::default())
        .await
        .expect("delete again");
    assert!(again.is_left());
    // Adding a finalizer while deleting is rejected.
    let err = api
        .patch(
            "fin",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": [FIN, "other/x"]}})),
        )
        .await
        .expect_err("new finalizer on deleting object");
    assert_eq!(api_error(err).code, 422);

    let mut cleaned = false;
    finalizer(&api, FIN, Arc::new(cm), |ev| {
        if matches!(ev, FinalizerEvent::Cleanup(_)) {
            cleaned = true;
        }
        async { Ok::<_, std::convert::Infallible>(Action::await_change()) }
    })
    .await
    .expect("finalizer removed");
    assert!(cleaned, "cleanup ran");
    assert!(
        api.get_opt("fin").await.unwrap().is_none(),
        "object gone once the finalizer is removed"
    );
}

async fn crd_established_immediately(env: Env) {
    use kube::runtime::wait::{await_condition, conditions::is_crd_established};
    let crds: Api<CustomResourceDefinition> = Api::all(env.client.clone());
    crds.create(&PostParams::default(), &widget_crd())
        .await
        .unwrap();
    let crd = tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(crds.clone(), "widgets.example.dev", is_crd_established()),
    )
    .await
    .expect("Established without delay")
    .expect("await_condition ok")
    .expect("CRD exists");
    let status = crd.status.expect("CRD status filled");
    let names = status.accepted_names.expect("acceptedNames");
    assert_eq!(names.kind, "Widget");
    assert_eq!(
        status.stored_versions.as_deref(),
        Some(&["v1".to_string()][..])
    );
    assert_eq!(
        crd.spec.names.list_kind.as_deref(),
        Some("WidgetList"),
        "listKind defaulted"
    );
    // Served right away.
    let api: Api<DynamicObject> =
        Api::namespaced_with(env.client.clone(), "default", &widget_resource());
    let list = api
        .list(&ListParams::default())
        .await
        .expect("widgets list");
    assert!(list.items.is_empty());
}

async fn ring_overflow_relists_without_hot_loop(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.traced.clone());
    let plain: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    for i in 0..3 {
        plain
            .create(
                &PostParams::default(),
                &configmap(&format!("o-{i}"), &[("suite", "overflow")], &[("n", "0")]),
            )
            .await
            .unwrap();
    }
    let lp = ListParams::default().labels("suite=overflow");
    let tracked = TrackedWatch::start(
        api,
        watcher::Config::default().labels("suite=overflow"),
        false,
    );
    tracked.wait_ready().await;
    assert_eq!(tracked.inits(), 1);

    // Hold the watcher's reconnect, end its stream, and overflow the 16-event ring meanwhile.
    env.log.hold_watches();
    let before = env.log.len();
    env.cluster.faults().close_watches();
    for round in 1..=15 {
        for i in 0..3 {
            plain
                .patch(
                    &format!("o-{i}"),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"n": round.to_string()}})),
                )
                .await
                .unwrap();
        }
    }
    plain.delete("o-2", &DeleteParams::default()).await.unwrap();
    plain
        .create(
            &PostParams::default(),
            &configmap("o-new", &[("suite", "overflow")], &[]),
        )
        .await
        .unwrap();
    env.log.release_watches();

    tracked.wait_matches_store(&plain, &lp).await;
    assert!(
        tracked.inits() >= 2,
        "ERROR 410 must make the watcher re-list (Init again)"
    );
    // No hot loop: after converging, the watcher sits on one long watch.
    let settled = env.log.len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let extra = env.log.since(settled);
    assert!(
        extra.len() <= 2,
        "watcher keeps hammering the server: {extra:#?}"
    );
    let after = env.log.since(before);
    let lists = after.iter().filter(|r| r.is_list_of("configmaps")).count();
    let watches = after.iter().filter(|r| r.is_watch_of("configmaps")).count();
    assert!(
        (1..=3).contains(&lists),
        "expected one re-list, saw {lists}: {after:#?}"
    );
    assert!(
        watches <= 4,
        "expected few watch requests, saw {watches}: {after:#?}"
    );
    assert!(
        after.iter().all(|r| r.status < 400),
        "a stale watch must be a 200 with an ERROR event, never an HTTP error: {after:#?}"
    );
}
