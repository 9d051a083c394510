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
