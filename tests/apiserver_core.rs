//! Core behaviour of the embedded API server through an in-process kube::Client and raw requests.

use flotilla::apiserver::{Cluster, ClusterOptions, Server, ServerOptions};
use futures::{StreamExt, TryStreamExt};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::{ApiResource, Discovery};
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

fn cluster() -> Cluster {
    Cluster::new(ClusterOptions {
        simulate: false,
        ..ClusterOptions::default()
    })
    .unwrap()
}

fn client(c: &Cluster) -> kube::Client {
    kube::Client::new(c.router(), "default")
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"a": "1"}})).unwrap()
}

async fn raw(
    c: &Cluster,
    method: &str,
    uri: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(axum::body::Body::from(body))
        .unwrap();
    let resp = c.router().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn discovery_finds_core_apps_and_crd_groups() {
    let c = cluster();
    let d = Discovery::new(client(&c)).run().await.unwrap();
    let groups: Vec<String> = d.groups().map(|g| g.name().to_string()).collect();
    assert!(
        groups.contains(&"".to_string()) || groups.contains(&"core".to_string()) || d.has_group("")
    );
    assert!(d.has_group("apps"));
    assert!(d.has_group("kustomize.toolkit.fluxcd.io"));
    let (ar, caps) = d
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .unwrap();
    assert_eq!(ar.plural, "deployments");
    assert!(caps.operations.iter().any(|o| o == "watch"));
}

#[tokio::test]
async fn crud_conflicts_and_not_found() {
    let c = cluster();
    let api: Api<ConfigMap> = Api::namespaced(client(&c), "default");
    let created = api
        .create(&PostParams::default(), &cm("demo"))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    assert!(!rv.is_empty());
    assert!(created.metadata.uid.is_some());
    let err = api
        .create(&PostParams::default(), &cm("demo"))
        .await
        .unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.reason == "AlreadyExists" && s.code == 409));
    assert!(api.get_opt("missing").await.unwrap().is_none());

    let mut changed = created.clone();
    changed.data = Some([("a".to_string(), "2".to_string())].into());
    let updated = api
        .replace("demo", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version.as_deref(),
        Some(rv.as_str())
    );
    // The first object's RV is stale now.
    let err = api
        .replace("demo", &PostParams::default(), &changed)
        .await
        .unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.reason == "Conflict" && s.code == 409));

    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(
        list.metadata
            .resource_version
            .is_some_and(|r| !r.is_empty())
    );

    api.delete("demo", &DeleteParams::default()).await.unwrap();
    assert!(api.get_opt("demo").await.unwrap().is_none());
    let err = api
        .delete("demo", &DeleteParams::default())
        .await
        .unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 404));
}

#[tokio::test]
async fn create_in_missing_namespace_is_404_and_terminating_is_403() {
    let c = cluster();
    let api: Api<ConfigMap> = Api::namespaced(client(&c), "nope");
    let err = api
        .create(&PostParams::default(), &cm("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 404 && s.message == "namespaces \"nope\" not found")
    );
    let ns: Api<Namespace> = Api::all(client(&c));
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata":{"name":"gone"}})).unwrap(),
    )
    .await
    .unwrap();
    // A finalizer-holding object keeps the namespace terminating.
    let api: Api<ConfigMap> = Api::namespaced(client(&c), "gone");
    let mut held = cm("held");
    held.metadata.finalizers = Some(vec!["example.dev/keep".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    ns.delete("gone", &DeleteParams::default()).await.unwrap();
    let got = ns.get("gone").await.unwrap();
    assert_eq!(got.status.unwrap().phase.as_deref(), Some("Terminating"));
    let err = api
        .create(&PostParams::default(), &cm("late"))
        .await
        .unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 403));
    assert!(
        api.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
}

#[tokio::test]
async fn watch_sees_changes_and_stale_rv_gets_in_band_410() {
    let c = cluster();
    let api: Api<ConfigMap> = Api::namespaced(client(&c), "default");
    let first = api.create(&PostParams::default(), &cm("w1")).await.unwrap();
    let start = first.metadata.resource_version.unwrap();
    let mut stream = api
        .watch(&WatchParams::default().timeout(10), &start)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &cm("w2")).await.unwrap();
    api.delete("w1", &DeleteParams::default()).await.unwrap();
    let ev = stream.try_next().await.unwrap().unwrap();
    assert!(matches!(ev, WatchEvent::Added(o) if o.metadata.name.as_deref() == Some("w2")));
    let ev = stream.try_next().await.unwrap().unwrap();
    assert!(
        matches!(ev, WatchEvent::Deleted(o) if o.metadata.name.as_deref() == Some("w1") && o.metadata.resource_version.is_some())
    );

    c.faults().compact_history();
    let mut stale = api
        .watch(&WatchParams::default().timeout(10), &start)
        .await
        .unwrap()
        .boxed();
    let ev = stale.try_next().await.unwrap().unwrap();
    assert!(matches!(ev, WatchEvent::Error(e) if e.code == 410));
}

#[tokio::test]
async fn watch_from_zero_sends_synthetic_added_and_bookmark_on_timeout() {
    let c = cluster();
    let api: Api<ConfigMap> = Api::namespaced(client(&c), "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let events: Vec<_> = api
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap()
        .collect()
        .await;
    assert!(
        matches!(&events[0], Ok(WatchEvent::Added(o)) if o.metadata.name.as_deref() == Some("a"))
    );
    assert!(matches!(events.last(), Some(Ok(WatchEvent::Bookmark(_)))));
}

#[tokio::test]
async fn paging_follows_continue_tokens() {
    let c = cluster();
    let api: Api<ConfigMap> = Api::namespaced(client(&c), "default");
    for n in ["p1", "p2", "p3"] {
        api.create(&PostParams::default(), &cm(n)).await.unwrap();
    }
    let page = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let token = page.metadata.continue_.clone().unwrap();
    // A write between pages does not change the snapshot.
    api.create(&PostParams::default(), &cm("p0")).await.unwrap();
    let rest = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    let names: Vec<_> = rest
        .items
        .iter()
        .filter_map(|o| o.metadata.name.clone())
        .collect();
    assert_eq!(names, ["p3"]);
    assert!(rest.metadata.continue_.is_none());
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let c = cluster();
    let api: Api<ConfigMap> = Api::namespaced(client(&c), "default");
    let mut o = cm("fin");
    o.metadata.finalizers = Some(vec!["example.dev/keep".into()]);
    api.create(&PostParams::default(), &o).await.unwrap();
    let r = api.delete("fin", &DeleteParams::default()).await.unwrap();
    let pending = r.left().expect("object while finalizers are pending");
    assert!(pending.metadata.deletion_timestamp.is_some());
    // Adding a finalizer while deleting is refused.
    let err = api
        .patch(
            "fin",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata":{"finalizers":["example.dev/keep","x/y"]}})),
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 422));
    api.patch(
        "fin",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata":{"finalizers":null}})),
    )
    .await
    .unwrap();
    assert!(api.get_opt("fin").await.unwrap().is_none());
}

#[tokio::test]
async fn crd_registration_serves_custom_resources() {
    let c = cluster();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client(&c));
    let crd = json!({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
        "metadata":{"name":"widgets.example.dev"},
        "spec":{"group":"example.dev","scope":"Namespaced",
          "names":{"plural":"widgets","kind":"Widget","shortNames":["wg"]},
          "versions":[
            {"name":"v1","served":true,"storage":true,"subresources":{"status":{}},
             "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}},
            {"name":"v1beta1","served":true,"storage":false,
             "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}});
    let created = crds
        .create(
            &PostParams::default(),
            &serde_json::from_value(crd).unwrap(),
        )
        .await
        .unwrap();
    let conds = created.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );

    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.dev", "v1beta1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client(&c), "default", &ar);
    let w: DynamicObject =
        serde_json::from_value(json!({"apiVersion":"example.dev/v1beta1","kind":"Widget",
        "metadata":{"name":"w1"},"spec":{"size":1}}))
        .unwrap();
    let made = api.create(&PostParams::default(), &w).await.unwrap();
    assert_eq!(made.metadata.generation, Some(1));
    assert_eq!(
        made.types.as_ref().map(|t| t.api_version.as_str()),
        Some("example.dev/v1beta1")
    );
    let (status, body) = raw(
        &c,
        "GET",
        "/apis/example.dev/v1/namespaces/default/widgets/w1",
        "",
        vec![],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["apiVersion"], "example.dev/v1");

    crds.delete("widgets.example.dev", &DeleteParams::default())
        .await
        .unwrap();
    let (status, _) = raw(
        &c,
        "GET",
        "/apis/example.dev/v1/namespaces/default/widgets/w1",
        "",
        vec![],
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_input_gets_status_errors() {
    let c = cluster();
    let url = "/api/v1/namespaces/default/configmaps";
    let (s, body) = raw(&c, "POST", url, "application/json", b"{not json".to_vec()).await;
    assert_eq!(s, 400);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["code"], 400);
    let (s, body) = raw(
        &c,
        "POST",
        url,
        "application/vnd.kubernetes.protobuf",
        b"k8s\0".to_vec(),
    )
    .await;
    assert_eq!(s, 415);
    assert_eq!(body["reason"], "UnsupportedMediaType");
    let big = vec![b' '; 4 * 1024 * 1024];
    let (s, _) = raw(&c, "POST", url, "application/json", big).await;
    assert_eq!(s, 413);
    let (s, body) = raw(&c, "GET", "/api/v1/nothings", "", vec![]).await;
    assert_eq!(s, 404);
    assert_eq!(body["reason"], "NotFound");
    let (s, _) = raw(&c, "POST", url, "application/json", b"[1,2]".to_vec()).await;
    assert_eq!(s, 400);
    let deep = "[".repeat(100_000);
    let (s, _) = raw(&c, "POST", url, "application/json", deep.into_bytes()).await;
    assert_eq!(s, 400);
    let (s, _) = raw(&c, "GET", "/version", "", vec![]).await;
    assert_eq!(s, 200);
    assert_eq!(
        c.object_count(),
        4 + flotilla::model::crd::compact_crds().len()
    );
}

#[tokio::test]
async fn tcp_server_requires_token_and_kubeconfig_loads() {
    let server = Server::start(ServerOptions {
        clusters: vec!["dev".into(), "prod".into()],
        cluster: ClusterOptions {
            simulate: false,
            builtin_crds: false,
            ..ClusterOptions::default()
        },
        ..ServerOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kc");
    server.write_kubeconfig(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(
        kc,
        &kube::config::KubeConfigOptions {
            context: Some("prod".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    let ns: Api<Namespace> = Api::all(client);
    let list = ns.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 4);

    let url = format!("{}/api/v1/namespaces", server.clusters()[0].url());
    let unauth = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
            .output()
    })
    .await
    .unwrap();
    if let Ok(out) = unauth {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
    }
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .unwrap();
}

fn widget_crd() -> Value {
    json!({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
        "metadata":{"name":"widgets.example.dev"},
        "spec":{"group":"example.dev","scope":"Namespaced",
          "names":{"plural":"widgets","kind":"Widget"},
          "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},
             "additionalPrinterColumns":[{"name":"Size","type":"integer","jsonPath":".spec.size"}],
             "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}})
}

async fn widgets(c: &Cluster) -> Api<DynamicObject> {
    let (s, _) = raw(
        c,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "application/json",
        widget_crd().to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, 201);
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.dev", "v1", "Widget"),
        "widgets",
    );
    Api::namespaced_with(client(c), "default", &ar)
}

#[tokio::test]
async fn server_side_apply_conflicts_force_and_no_op() {
    let c = cluster();
    let api = widgets(&c).await;
    let applied = json!({"apiVersion":"example.dev/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":1,"color":"red"}});
    let a = api
        .patch("w", &PatchParams::apply("alice"), &Patch::Apply(&applied))
        .await
        .unwrap();
    let rv = a.metadata.resource_version.clone();
    // Same apply again: a no-op keeps the RV.
    let again = api
        .patch("w", &PatchParams::apply("alice"), &Patch::Apply(&applied))
        .await
        .unwrap();
    assert_eq!(again.metadata.resource_version, rv);
    let bob = json!({"apiVersion":"example.dev/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":2}});
    let err = api
        .patch("w", &PatchParams::apply("bob"), &Patch::Apply(&bob))
        .await
        .unwrap_err();
    let kube::Error::Api(s) = &err else {
        panic!("{err}")
    };
    assert_eq!(s.code, 409);
    assert_eq!(s.reason, "Conflict");
    assert_eq!(
        s.message,
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.size"
    );
    let forced = api
        .patch("w", &PatchParams::apply("bob").force(), &Patch::Apply(&bob))
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["size"], 2);
    assert_eq!(forced.metadata.generation, Some(2));
    // alice drops color from her config: it is removed.
    let alice2 =
        json!({"apiVersion":"example.dev/v1","kind":"Widget","metadata":{"name":"w"},"spec":{}});
    let after = api
        .patch("w", &PatchParams::apply("alice"), &Patch::Apply(&alice2))
        .await
        .unwrap();
    assert!(after.data["spec"].get("color").is_none());
    // Apply without a field manager is refused.
    let (s, body) = raw(
        &c,
        "PATCH",
        "/apis/example.dev/v1/namespaces/default/widgets/w",
        "application/apply-patch+yaml",
        bob.to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    // force on a non-apply patch is refused.
    let (s, _) = raw(
        &c,
        "PATCH",
        "/apis/example.dev/v1/namespaces/default/widgets/w?force=true",
        "application/merge-patch+json",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(s, 422);
    // Strategic merge patch on a custom resource is 415.
    let (s, _) = raw(
        &c,
        "PATCH",
        "/apis/example.dev/v1/namespaces/default/widgets/w",
        "application/strategic-merge-patch+json",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(s, 415);
}

#[tokio::test]
async fn status_writes_do_not_bump_generation_and_main_writes_ignore_status() {
    let c = cluster();
    let api = widgets(&c).await;
    let w: DynamicObject =
        serde_json::from_value(json!({"apiVersion":"example.dev/v1","kind":"Widget",
        "metadata":{"name":"s"},"spec":{"size":1},"status":{"phase":"ignored"}}))
        .unwrap();
    let made = api.create(&PostParams::default(), &w).await.unwrap();
    assert!(made.data.get("status").is_none());
    let st = api
        .patch_status(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"status":{"phase":"Ready"},"spec":{"size":9}})),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"]["phase"], "Ready");
    assert_eq!(st.data["spec"]["size"], 1);
    assert_eq!(st.metadata.generation, Some(1));
    assert_ne!(st.metadata.resource_version, made.metadata.resource_version);
    let spec = api
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec":{"size":2},"status":{"phase":"nope"}})),
        )
        .await
        .unwrap();
    assert_eq!(spec.metadata.generation, Some(2));
    assert_eq!(spec.data["status"]["phase"], "Ready");
    // Label-only change: no generation bump.
    let l = api
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata":{"labels":{"x":"y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(l.metadata.generation, Some(2));
    // PUT of a custom resource without resourceVersion is 422.
    let mut body = serde_json::to_value(&l).unwrap();
    body["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let (s, _) = raw(
        &c,
        "PUT",
        "/apis/example.dev/v1/namespaces/default/widgets/s",
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn label_selector_watch_sees_transitions() {
    let c = cluster();
    let api: Api<ConfigMap> = Api::namespaced(client(&c), "default");
    let first = api.create(&PostParams::default(), &cm("t")).await.unwrap();
    let mut stream = api
        .watch(
            &WatchParams::default().labels("app=x").timeout(10),
            first.metadata.resource_version.as_deref().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    let label = |v: Value| Patch::Merge(json!({"metadata":{"labels":{"app":v}}}));
    api.patch("t", &PatchParams::default(), &label(json!("x")))
        .await
        .unwrap();
    api.patch("t", &PatchParams::default(), &label(json!("y")))
        .await
        .unwrap();
    assert!(matches!(
        stream.try_next().await.unwrap(),
        Some(WatchEvent::Added(_))
    ));
    assert!(matches!(
        stream.try_next().await.unwrap(),
        Some(WatchEvent::Deleted(_))
    ));
    let listed = api
        .list(&ListParams::default().labels("app=y"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let (s, body) = raw(
        &c,
        "GET",
        "/api/v1/configmaps?labelSelector=app%20in%20(",
        "",
        vec![],
    )
    .await;
    assert_eq!(s, 400, "{body}");
}

#[tokio::test]
async fn kube_runtime_watcher_initializes_and_streaming_lists_end_with_bookmark() {
    use kube::runtime::watcher::{self, Event};
    let c = cluster();
    let api: Api<ConfigMap> = Api::namespaced(client(&c), "default");
    api.create(&PostParams::default(), &cm("r1")).await.unwrap();
    for config in [
        watcher::Config::default(),
        watcher::Config::default().streaming_lists(),
    ] {
        let mut s = watcher::watcher(api.clone(), config).boxed();
        assert!(matches!(s.try_next().await.unwrap(), Some(Event::Init)));
        assert!(matches!(
            s.try_next().await.unwrap(),
            Some(Event::InitApply(_))
        ));
        assert!(matches!(s.try_next().await.unwrap(), Some(Event::InitDone)));
    }
}

#[tokio::test]
async fn table_and_metadata_representations() {
    let c = cluster();
    let api = widgets(&c).await;
    let w: DynamicObject =
        serde_json::from_value(json!({"apiVersion":"example.dev/v1","kind":"Widget",
        "metadata":{"name":"t1"},"spec":{"size":7}}))
        .unwrap();
    api.create(&PostParams::default(), &w).await.unwrap();
    let req = http::Request::builder()
        .uri("/apis/example.dev/v1/namespaces/default/widgets")
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = c.router().oneshot(req).await.unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("as=Table")
    );
    let t: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["columnDefinitions"][1]["name"], "Size");
    assert_eq!(t["rows"][0]["cells"][1], 7);
    let metas = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(metas.items[0].metadata.name.as_deref(), Some("t1"));
}

#[tokio::test]
async fn dry_run_gc_and_deletecollection() {
    let c = cluster();
    let api: Api<ConfigMap> = Api::namespaced(client(&c), "default");
    let dry = api
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &cm("dry"),
        )
        .await
        .unwrap();
    assert_eq!(dry.metadata.name.as_deref(), Some("dry"));
    assert!(api.get_opt("dry").await.unwrap().is_none());
    let owner = api
        .create(&PostParams::default(), &cm("owner"))
        .await
        .unwrap();
    let mut dep = cm("dep");
    dep.metadata.owner_references = Some(vec![
        serde_json::from_value(json!({"apiVersion":"v1","kind":"ConfigMap","name":"owner",
            "uid": owner.metadata.uid.clone().unwrap()}))
        .unwrap(),
    ]);
    api.create(&PostParams::default(), &dep).await.unwrap();
    api.delete("owner", &DeleteParams::default()).await.unwrap();
    assert!(api.get_opt("dep").await.unwrap().is_none());
    for n in ["c1", "c2"] {
        let mut o = cm(n);
        o.metadata.labels = Some([("k".to_string(), "v".to_string())].into());
        api.create(&PostParams::default(), &o).await.unwrap();
    }
    api.create(&PostParams::default(), &cm("c3")).await.unwrap();
    let gone = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("k=v"),
        )
        .await
        .unwrap();
    assert_eq!(gone.left().unwrap().items.len(), 2);
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
}

#[tokio::test]
async fn faults_fail_requests_and_close_watches() {
    let c = cluster();
    let (s, body) = raw(
        &c,
        "POST",
        "/flotilla/admin/faults",
        "application/json",
        br#"{"failNext":{"count":1,"status":429,"retryAfterSeconds":2}}"#.to_vec(),
    )
    .await;
    assert_eq!((s, body), (200, json!({"ok": true})));
    let (s, body) = raw(&c, "GET", "/api/v1/namespaces", "", vec![]).await;
    assert_eq!(s, 429);
    assert_eq!(body["code"], 429);
    let (s, _) = raw(&c, "GET", "/api/v1/namespaces", "", vec![]).await;
    assert_eq!(s, 200);
    let api: Api<ConfigMap> = Api::namespaced(client(&c), "default");
    let stream = api.watch(&WatchParams::default(), "0").await.unwrap();
    c.faults().close_watches();
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(5), stream.collect::<Vec<_>>())
        .await
        .unwrap();
    // The stream ends cleanly: nothing but the closing bookmark (the watch asked for bookmarks).
    assert!(
        matches!(rest.as_slice(), [Ok(WatchEvent::Bookmark(_))]),
        "{rest:?}"
    );
    let plain = api
        .watch(&WatchParams::default().disable_bookmarks(), "0")
        .await
        .unwrap();
    c.faults().close_watches();
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(5), plain.collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(rest.is_empty(), "{rest:?}");
}
