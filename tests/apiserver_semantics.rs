//! Object semantics from kube-wire.md §A2–§A13 beyond the §A18 checklist, through kube-rs, in-process
//! and over TCP: names, namespaces, selectors, dry runs, collections, garbage collection, CRD
//! validation and removal, multi-version CRs, metadata-only reads.

use crate::common;

use common::{Env, PATIENCE, configmap, wait_until};
use flotilla::apiserver::ClusterOptions;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use serde_json::json;

fn options() -> ClusterOptions {
    common::quiet_options()
}

both_transports!(options;
    version_and_health,
    generate_name_and_sorted_lists,
    namespaces_are_required_labelled_and_cascade,
    label_selector_grammar,
    dry_run_changes_nothing,
    delete_collection_and_owner_gc,
    crd_validation_and_removal,
    multi_version_cr_answers_in_requested_version,
    metadata_only_reads,
    streaming_list_watcher_completes_init,
    event_field_selectors,
    apply_merges_keyed_lists_between_managers,
    status_subresource_get_and_replace,
    discovery_documents_and_openapi,
    watch_from_rv_replays_changes_in_order,
    metadata_watcher_sees_changes,
);

fn status_of(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn version_and_health(env: Env) {
    let v = env.client.apiserver_version().await.expect("version");
    assert_eq!((v.major.as_str(), v.minor.as_str()), ("1", "33"));
    assert!(v.git_version.starts_with("v1.33."), "{}", v.git_version);
    for path in ["/healthz", "/readyz", "/livez"] {
        let r = common::raw(&env.client, "GET", path, None, vec![]).await;
        assert_eq!(r.status, 200, "{path}");
    }
}

async fn generate_name_and_sorted_lists(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    let mut cm = ConfigMap::default();
    cm.metadata.generate_name = Some("gen-".into());
    let a = api
        .create(&PostParams::default(), &cm)
        .await
        .expect("generateName");
    let name = a.name_any();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    assert!(
        name[4..]
            .chars()
            .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
        "{name}"
    );
    let b = api.create(&PostParams::default(), &cm).await.unwrap();
    assert_ne!(b.name_any(), name);
    for n in ["zeta", "alpha", "mid"] {
        api.create(&PostParams::default(), &configmap(n, &[], &[]))
            .await
            .unwrap();
    }
    let sys: Api<ConfigMap> = Api::namespaced(env.client.clone(), "kube-public");
    let mut other = configmap("aaa", &[], &[]);
    other.metadata.namespace = Some("kube-public".into());
    sys.create(&PostParams::default(), &other).await.unwrap();
    let all: Api<ConfigMap> = Api::all(env.client.clone());
    let keys: Vec<(String, String)> = all
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|c| (c.namespace().unwrap_or_default(), c.name_any()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "lists are sorted by (namespace, name)");
    assert!(keys.contains(&("kube-public".into(), "aaa".into())));
}

async fn namespaces_are_required_labelled_and_cascade(env: Env) {
    let nss: Api<Namespace> = Api::all(env.client.clone());
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    for seeded in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            names.iter().any(|n| n == seeded),
            "{seeded} seeded: {names:?}"
        );
    }
    let team: Api<ConfigMap> = Api::namespaced(env.client.clone(), "team");
    let mut cm = configmap("c", &[], &[]);
    cm.metadata.namespace = Some("team".into());
    let s = status_of(
        team.create(&PostParams::default(), &cm)
            .await
            .expect_err("no namespace"),
    );
    assert_eq!(s.code, 404);
    assert_eq!(s.message, "namespaces \"team\" not found");

    let mut ns = Namespace::default();
    ns.metadata.name = Some("team".into());
    let created = nss.create(&PostParams::default(), &ns).await.unwrap();
    assert_eq!(created.labels()["kubernetes.io/metadata.name"], "team");
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );
    // The label is re-set even if a client removes it.
    let relabelled = nss
        .patch(
            "team",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"kubernetes.io/metadata.name": null, "x": "y"}}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        relabelled
            .labels()
            .get("kubernetes.io/metadata.name")
            .map(String::as_str),
        Some("team")
    );

    team.create(&PostParams::default(), &cm)
        .await
        .expect("created in team");
    let mut held = configmap("held", &[], &[]);
    held.metadata.namespace = Some("team".into());
    held.metadata.finalizers = Some(vec!["example.dev/hold".into()]);
    team.create(&PostParams::default(), &held).await.unwrap();

    nss.delete("team", &DeleteParams::default())
        .await
        .expect("namespace delete");
    let terminating = nss
        .get("team")
        .await
        .expect("still there while content is finalizing");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    // Creating in a terminating namespace is forbidden.
    let mut late = configmap("late", &[], &[]);
    late.metadata.namespace = Some("team".into());
    let s = status_of(
        team.create(&PostParams::default(), &late)
            .await
            .expect_err("terminating"),
    );
    assert_eq!(s.code, 403, "{s:?}");
    assert!(s.is_forbidden());
    wait_until(
        "plain object in the namespace deleted",
        PATIENCE,
        || async { team.get_opt("c").await.unwrap().is_none().then_some(()) },
    )
    .await;
    // Release the finalizer: then the namespace disappears.
    team.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    wait_until("namespace removed", PATIENCE, || async {
        nss.get_opt("team").await.unwrap().is_none().then_some(())
    })
    .await;
}

async fn label_selector_grammar(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    for (n, labels) in [
        ("a", vec![("env", "prod"), ("tier", "web")]),
        ("b", vec![("env", "dev"), ("tier", "web")]),
        ("c", vec![("env", "qa")]),
        ("d", vec![]),
    ] {
        api.create(&PostParams::default(), &configmap(n, &labels, &[]))
            .await
            .unwrap();
    }
    let names = |sel: &'static str| {
        let api = api.clone();
        async move {
            let mut v: Vec<String> = api
                .list(&ListParams::default().labels(sel))
                .await
                .unwrap_or_else(|e| panic!("selector {sel}: {e:?}"))
                .items
                .iter()
                .map(|c| c.name_any())
                .collect();
            v.sort();
            v
        }
    };
    assert_eq!(names("env=prod").await, ["a"]);
    assert_eq!(names("env==prod").await, ["a"]);
    assert_eq!(
        names("env!=prod").await,
        ["b", "c", "d"],
        "!= matches objects without the key too"
    );
    assert_eq!(names("env in (dev,qa)").await, ["b", "c"]);
    assert_eq!(names("env notin (dev,qa)").await, ["a", "d"]);
    assert_eq!(names("tier").await, ["a", "b"]);
    assert_eq!(names("!tier").await, ["c", "d"]);
    assert_eq!(names("tier=web,env!=dev").await, ["a"]);
    let fields: Vec<String> = api
        .list(&ListParams::default().fields("metadata.name!=a,metadata.namespace=default"))
        .await
        .unwrap()
        .items
        .iter()
        .map(|c| c.name_any())
        .collect();
    assert!(
        fields.iter().all(|n| n != "a") && fields.len() >= 3,
        "{fields:?}"
    );
}

async fn dry_run_changes_nothing(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let would = api
        .create(&dry, &configmap("dry", &[], &[("a", "1")]))
        .await
        .expect("dry-run create");
    assert_eq!(would.name_any(), "dry");
    assert!(
        api.get_opt("dry").await.unwrap().is_none(),
        "dry-run create persists nothing"
    );

    let real = api
        .create(
            &PostParams::default(),
            &configmap("dry", &[], &[("a", "1")]),
        )
        .await
        .unwrap();
    let rv = real.resource_version();
    let mut changed = real.clone();
    changed.data = Some([("a".to_string(), "2".to_string())].into());
    let r = api
        .replace("dry", &dry, &changed)
        .await
        .expect("dry-run replace");
    assert_eq!(
        r.data.unwrap()["a"],
        "2",
        "dry run returns the would-be object"
    );
    let p = api
        .patch(
            "dry",
            &PatchParams::default().dry_run(),
            &Patch::Merge(json!({"data": {"a": "3"}})),
        )
        .await
        .expect("dry-run patch");
    assert_eq!(p.data.unwrap()["a"], "3");
    api.delete("dry", &DeleteParams::default().dry_run())
        .await
        .expect("dry-run delete");
    let now = api.get("dry").await.expect("still exists");
    assert_eq!(now.resource_version(), rv, "no RV bump from dry runs");
    assert_eq!(now.data.unwrap()["a"], "1");
}

async fn delete_collection_and_owner_gc(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    for n in ["x1", "x2", "keep"] {
        let labels: Vec<(&str, &str)> = if n == "keep" {
            vec![]
        } else {
            vec![("batch", "x")]
        };
        api.create(&PostParams::default(), &configmap(n, &labels, &[]))
            .await
            .unwrap();
    }
    let deleted = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("batch=x"),
        )
        .await
        .expect("deletecollection");
    if let Some(list) = deleted.left() {
        let mut names: Vec<_> = list.items.iter().map(|c| c.name_any()).collect();
        names.sort();
        assert_eq!(names, ["x1", "x2"]);
    }
    assert!(
        api.get_opt("x1").await.unwrap().is_none() && api.get_opt("x2").await.unwrap().is_none()
    );
    assert!(api.get_opt("keep").await.unwrap().is_some());

    // Background garbage collection follows ownerReferences (by uid), transitively.
    let owner = api
        .create(&PostParams::default(), &configmap("owner", &[], &[]))
        .await
        .unwrap();
    let owned_by = |parent: &ConfigMap, name: &str| {
        let mut c = configmap(name, &[], &[]);
        c.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: parent.name_any(),
                uid: parent.uid().unwrap(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
        ]);
        c
    };
    let child = api
        .create(&PostParams::default(), &owned_by(&owner, "child"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &owned_by(&child, "grandchild"))
        .await
        .unwrap();
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    wait_until("dependents collected", PATIENCE, || async {
        (api.get_opt("child").await.unwrap().is_none()
            && api.get_opt("grandchild").await.unwrap().is_none())
        .then_some(())
    })
    .await;
    assert!(
        api.get_opt("keep").await.unwrap().is_some(),
        "unrelated object survives GC"
    );
}

const VERSIONS: [&str; 2] = ["v1", "v1beta1"];

fn gadget_crd(name: &str, plural: &str, scope: &str, storage: &[bool]) -> serde_json::Value {
    let versions: Vec<_> = storage
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({"name": VERSIONS[i], "served": true, "storage": s,
                   "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}})
        })
        .collect();
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {"group": "example.dev", "scope": scope,
                 "names": {"plural": plural, "kind": "Gadget"}, "versions": versions}})
}

async fn crd_validation_and_removal(env: Env) {
    let crds: Api<CustomResourceDefinition> = Api::all(env.client.clone());
    let create = |v: serde_json::Value| {
        let crds = crds.clone();
        async move {
            let crd: CustomResourceDefinition = serde_json::from_value(v).unwrap();
            crds.create(&PostParams::default(), &crd).await
        }
    };
    for (why, bad) in [
        (
            "name must be plural.group",
            gadget_crd("gizmos.example.dev", "gadgets", "Namespaced", &[true]),
        ),
        (
            "scope must be Namespaced or Cluster",
            gadget_crd("gadgets.example.dev", "gadgets", "Galaxy", &[true]),
        ),
        (
            "exactly one storage version",
            gadget_crd(
                "gadgets.example.dev",
                "gadgets",
                "Namespaced",
                &[true, true],
            ),
        ),
        (
            "a storage version is required",
            gadget_crd("gadgets.example.dev", "gadgets", "Namespaced", &[false]),
        ),
    ] {
        let s = status_of(create(bad).await.expect_err(why));
        assert_eq!(s.code, 422, "{why}: {s:?}");
    }
    create(gadget_crd(
        "gadgets.example.dev",
        "gadgets",
        "Namespaced",
        &[true],
    ))
    .await
    .expect("valid CRD");
    let crd = crds.get("gadgets.example.dev").await.unwrap();
    assert_eq!(
        crd.spec.names.singular.as_deref(),
        Some("gadget"),
        "singular defaulted"
    );
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.dev", "v1", "Gadget"),
        "gadgets",
    );
    let gadgets: Api<DynamicObject> = Api::namespaced_with(env.client.clone(), "default", &ar);
    gadgets
        .create(
            &PostParams::default(),
            &DynamicObject::new("g1", &ar).data(json!({"spec": {"n": 1}})),
        )
        .await
        .unwrap();
    // A CR without a status subresource bumps generation on any non-metadata change.
    let g = gadgets
        .patch(
            "g1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"x": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(g.metadata.generation, Some(2));
    assert_eq!(
        g.data["status"]["x"], 1,
        "without a status subresource .status is ordinary data"
    );

    crds.delete("gadgets.example.dev", &DeleteParams::default())
        .await
        .expect("CRD delete");
    wait_until("CRD gone", PATIENCE, || async {
        crds.get_opt("gadgets.example.dev")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let s = status_of(
        gadgets
            .list(&ListParams::default())
            .await
            .expect_err("route removed"),
    );
    assert_eq!(s.code, 404);
    // Re-creating the CRD does not resurrect old objects.
    create(gadget_crd(
        "gadgets.example.dev",
        "gadgets",
        "Namespaced",
        &[true],
    ))
    .await
    .unwrap();
    let list = gadgets
        .list(&ListParams::default())
        .await
        .expect("served again");
    assert!(
        list.items.is_empty(),
        "CRs were deleted with their CRD: {:?}",
        list.items
    );
}

async fn multi_version_cr_answers_in_requested_version(env: Env) {
    // The builtin compact Kustomization CRD serves v1 and v1beta2.
    let v1 = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        "kustomizations",
    );
    let beta = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1beta2", "Kustomization"),
        "kustomizations",
    );
    let a1: Api<DynamicObject> = Api::namespaced_with(env.client.clone(), "default", &v1);
    let ab: Api<DynamicObject> = Api::namespaced_with(env.client.clone(), "default", &beta);
    a1.create(
        &PostParams::default(),
        &DynamicObject::new("mv", &v1).data(json!({"spec": {"path": "./"}})),
    )
    .await
    .unwrap();
    let got = ab.get("mv").await.expect("read through the other version");
    assert_eq!(
        got.types.as_ref().map(|t| t.api_version.as_str()),
        Some("kustomize.toolkit.fluxcd.io/v1beta2")
    );
    let list = ab.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.types.kind, "KustomizationList");
    assert!(list.items.iter().all(|i| {
        i.types
            .as_ref()
            .is_some_and(|t| t.api_version.ends_with("/v1beta2"))
    }));
    let mut stream = ab
        .watch(&kube::api::WatchParams::default().timeout(1), "0")
        .await
        .unwrap()
        .boxed();
    while let Some(ev) = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("watch ends")
    {
        if let Ok(kube::api::WatchEvent::Added(o)) = ev {
            assert_eq!(
                o.types.map(|t| t.api_version),
                Some("kustomize.toolkit.fluxcd.io/v1beta2".to_string())
            );
        }
    }
}

async fn metadata_only_reads(env: Env) {
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    api.create(
        &PostParams::default(),
        &configmap("meta", &[("k", "v")], &[("big", "data")]),
    )
    .await
    .unwrap();
    let m = api.get_metadata("meta").await.expect("get_metadata");
    assert_eq!(m.metadata.name.as_deref(), Some("meta"));
    assert_eq!(m.metadata.labels.unwrap()["k"], "v");
    let list = api
        .list_metadata(&ListParams::default())
        .await
        .expect("list_metadata");
    assert!(
        list.items
            .iter()
            .any(|i| i.metadata.name.as_deref() == Some("meta"))
    );
    // Table for kubectl-style listing, through a raw request.
    let r = common::raw_router(
        &env.cluster.router(),
        "GET",
        "/api/v1/namespaces/default/configmaps",
        &[(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    let t = r.json();
    assert_eq!(t["kind"], "Table", "{}", r.text());
    assert!(r.content_type.contains("as=Table"), "{}", r.content_type);
    let cols: Vec<_> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(cols.first().map(String::as_str), Some("Name"));
    let row = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cells"][0] == "meta")
        .expect("row for meta");
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
}

async fn streaming_list_watcher_completes_init(env: Env) {
    use kube::runtime::watcher::{self, Event};
    let api: Api<ConfigMap> = Api::default_namespaced(env.traced.clone());
    for n in ["s1", "s2"] {
        api.create(
            &PostParams::default(),
            &configmap(n, &[("suite", "stream")], &[]),
        )
        .await
        .unwrap();
    }
    let cfg = watcher::Config::default()
        .labels("suite=stream")
        .streaming_lists();
    let mut stream = watcher::watcher(api.clone(), cfg).boxed();
    let mut init = Vec::new();
    loop {
        let ev = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("streaming list must end with InitDone (initial-events-end bookmark)")
            .expect("open")
            .expect("no error");
        match ev {
            Event::Init => {}
            Event::InitApply(cm) => init.push(cm.name_any()),
            Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    init.sort();
    assert_eq!(init, ["s1", "s2"]);
    api.create(
        &PostParams::default(),
        &configmap("s3", &[("suite", "stream")], &[]),
    )
    .await
    .unwrap();
    loop {
        let ev = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Event::Apply(cm) = ev {
            assert_eq!(cm.name_any(), "s3");
            break;
        }
    }
    // No LIST was needed: one watch with sendInitialEvents.
    let entries = env.log.entries();
    assert!(
        !entries.iter().any(|r| r.is_list_of("configmaps")),
        "{entries:#?}"
    );
    assert!(entries.iter().any(|r| r.is_watch_of("configmaps")
        && r.query.get("sendInitialEvents").map(String::as_str) == Some("true")));
}

async fn event_field_selectors(env: Env) {
    use k8s_openapi::api::core::v1::{Event, ObjectReference};
    let api: Api<Event> = Api::default_namespaced(env.client.clone());
    for (name, target, reason, type_) in [
        ("e1", "web", "Scheduled", "Normal"),
        ("e2", "web", "BackOff", "Warning"),
        ("e3", "db", "Scheduled", "Normal"),
    ] {
        let ev = Event {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: Some("Pod".into()),
                name: Some(target.into()),
                namespace: Some("default".into()),
                api_version: Some("v1".into()),
                ..Default::default()
            },
            reason: Some(reason.into()),
            type_: Some(type_.into()),
            message: Some("m".into()),
            ..Default::default()
        };
        api.create(&PostParams::default(), &ev)
            .await
            .expect("event created");
    }
    let names = |sel: &'static str| {
        let api = api.clone();
        async move {
            let mut v: Vec<String> = api
                .list(&ListParams::default().fields(sel))
                .await
                .unwrap_or_else(|e| panic!("field selector {sel}: {e:?}"))
                .items
                .iter()
                .map(|e| e.name_any())
                .collect();
            v.sort();
            v
        }
    };
    assert_eq!(names("involvedObject.name=web").await, ["e1", "e2"]);
    assert_eq!(
        names("involvedObject.kind=Pod,reason=Scheduled").await,
        ["e1", "e3"]
    );
    assert_eq!(names("type=Warning").await, ["e2"]);
    assert_eq!(
        names("involvedObject.namespace=default,type!=Warning").await,
        ["e1", "e3"]
    );
}

fn web_deployment(manager_containers: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "shared", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "shared"}},
                 "template": {"metadata": {"labels": {"app": "shared"}},
                              "spec": {"containers": manager_containers}}}})
}

async fn apply_merges_keyed_lists_between_managers(env: Env) {
    use k8s_openapi::api::apps::v1::Deployment;
    let api: Api<Deployment> = Api::default_namespaced(env.client.clone());
    let names = |d: &Deployment| -> Vec<String> {
        d.spec
            .clone()
            .unwrap()
            .template
            .spec
            .unwrap()
            .containers
            .iter()
            .map(|c| c.name.clone())
            .collect()
    };
    let web = json!([{"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]);
    api.patch(
        "shared",
        &PatchParams::apply("app"),
        &Patch::Apply(web_deployment(web)),
    )
    .await
    .expect("app applies");
    // Another manager adds its own container: containers merge by name.
    let side = json!([{"name": "proxy", "image": "envoy:1"}]);
    let d = api
        .patch(
            "shared",
            &PatchParams::apply("mesh"),
            &Patch::Apply(web_deployment(side.clone())),
        )
        .await
        .expect("mesh applies");
    assert_eq!(
        names(&d),
        ["web", "proxy"],
        "applier's items first, other managers' after"
    );
    // The first manager re-applies without B: its env var B goes, the proxy container stays.
    let web2 = json!([{"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]}]);
    let d = api
        .patch(
            "shared",
            &PatchParams::apply("app"),
            &Patch::Apply(web_deployment(web2)),
        )
        .await
        .unwrap();
    assert_eq!(names(&d), ["web", "proxy"]);
    let env_names: Vec<String> = d.spec.clone().unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(env_names, ["A"]);
    // Same re-apply by mesh is a no-op.
    let rv = d.resource_version();
    let d = api
        .patch(
            "shared",
            &PatchParams::apply("mesh"),
            &Patch::Apply(web_deployment(side)),
        )
        .await
        .unwrap();
    assert_eq!(d.resource_version(), rv);
    // mesh owning a different image for web conflicts.
    let steal = json!([{"name": "web", "image": "nginx:2"}]);
    let s = status_of(
        api.patch(
            "shared",
            &PatchParams::apply("mesh"),
            &Patch::Apply(web_deployment(steal)),
        )
        .await
        .expect_err("conflict on web's image"),
    );
    assert_eq!(s.code, 409);
    let field = s
        .details
        .as_ref()
        .and_then(|d| d.causes.first())
        .map(|c| c.field.clone())
        .unwrap_or_default();
    assert_eq!(
        field, ".spec.template.spec.containers[name=\"web\"].image",
        "{s:?}"
    );
}

async fn status_subresource_get_and_replace(env: Env) {
    use k8s_openapi::api::apps::v1::Deployment;
    let api: Api<Deployment> = Api::default_namespaced(env.client.clone());
    let mut dep: Deployment =
        serde_json::from_value(web_deployment(json!([{"name": "web", "image": "nginx:1"}])))
            .unwrap();
    dep.status = Some(k8s_openapi::api::apps::v1::DeploymentStatus {
        replicas: Some(9),
        ..Default::default()
    });
    let created = api.create(&PostParams::default(), &dep).await.unwrap();
    assert!(
        created.status.as_ref().and_then(|s| s.replicas).is_none(),
        "create drops .status"
    );
    let got = api.get_status("shared").await.expect("get_status");
    assert_eq!(
        got.spec, created.spec,
        "GET /status returns the whole object"
    );
    let mut body = got.clone();
    body.status = Some(k8s_openapi::api::apps::v1::DeploymentStatus {
        replicas: Some(2),
        ..Default::default()
    });
    body.spec.as_mut().unwrap().replicas = Some(42);
    let replaced = api
        .replace_status("shared", &PostParams::default(), &body)
        .await
        .expect("replace_status");
    assert_eq!(replaced.status.and_then(|s| s.replicas), Some(2));
    assert_ne!(
        replaced.spec.unwrap().replicas,
        Some(42),
        "status writes ignore spec"
    );
    assert_eq!(replaced.metadata.generation, created.metadata.generation);
}

async fn discovery_documents_and_openapi(env: Env) {
    let get = |path: String| {
        let client = env.client.clone();
        async move {
            let r = common::raw(&client, "GET", &path, None, vec![]).await;
            assert_eq!(r.status, 200, "GET {path}: {}", r.text());
            r.json()
        }
    };
    let api = get("/api".into()).await;
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], json!(["v1"]));
    let apis = get("/apis".into()).await;
    assert_eq!(apis["kind"], "APIGroupList");
    let group = |name: &str| {
        apis["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("/apis lacks {name}"))
    };
    let versions = |g: &serde_json::Value| -> Vec<String> {
        g["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_str().unwrap().to_string())
            .collect()
    };
    let ks = group("kustomize.toolkit.fluxcd.io");
    assert_eq!(versions(&ks), ["v1", "v1beta2"], "GA before beta");
    assert_eq!(ks["preferredVersion"]["version"], "v1");
    assert_eq!(
        versions(&group("helm.toolkit.fluxcd.io")),
        ["v2", "v2beta2"]
    );
    assert_eq!(versions(&group("notification.toolkit.fluxcd.io"))[0], "v1");
    assert_eq!(group("apps")["preferredVersion"]["groupVersion"], "apps/v1");
    for g in apis["groups"].as_array().unwrap() {
        assert!(
            !versions(g).is_empty(),
            "group {} without versions breaks kube-rs",
            g["name"]
        );
    }

    let apps = get("/apis/apps/v1".into()).await;
    assert_eq!(apps["kind"], "APIResourceList");
    assert_eq!(apps["groupVersion"], "apps/v1");
    let res = |list: &serde_json::Value, name: &str| {
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{} lacks {name}", list["groupVersion"]))
    };
    let d = res(&apps, "deployments");
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["namespaced"], true);
    let mut verbs: Vec<String> = serde_json::from_value(d["verbs"].clone()).unwrap();
    verbs.sort();
    assert_eq!(
        verbs,
        [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ]
    );
    let st = res(&apps, "deployments/status");
    let mut verbs: Vec<String> = serde_json::from_value(st["verbs"].clone()).unwrap();
    verbs.sort();
    assert_eq!(verbs, ["get", "patch", "update"]);
    let ksl = get("/apis/kustomize.toolkit.fluxcd.io/v1".into()).await;
    let k = res(&ksl, "kustomizations");
    assert_eq!(k["shortNames"], json!(["ks"]));
    assert_eq!(k["singularName"], "kustomization");
    res(&ksl, "kustomizations/status");
    let core = get("/api/v1".into()).await;
    assert_eq!(res(&core, "namespaces")["namespaced"], false);
    assert_eq!(res(&core, "configmaps")["shortNames"], json!(["cm"]));

    // OpenAPI v3: every served GV, with a PATCH operation carrying the GVK and fieldValidation.
    let root = get("/openapi/v3".into()).await;
    for gv in [
        "api/v1",
        "apis/apps/v1",
        "apis/kustomize.toolkit.fluxcd.io/v1",
        "apis/apiextensions.k8s.io/v1",
    ] {
        assert!(
            root["paths"][gv]["serverRelativeURL"].is_string(),
            "openapi root lacks {gv}: {root}"
        );
    }
    let url = root["paths"]["apis/kustomize.toolkit.fluxcd.io/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let doc = get(url.clone()).await;
    let patch_ops: Vec<&serde_json::Value> = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .filter_map(|p| p.get("patch"))
        .collect();
    let ks_op = patch_ops
        .iter()
        .find(|op| op["x-kubernetes-group-version-kind"]["kind"] == "Kustomization")
        .expect("a PATCH op for Kustomization");
    assert!(
        ks_op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"),
        "{ks_op}"
    );
    // A new CRD shows up in the root with a new document URL.
    let crds: Api<CustomResourceDefinition> = Api::all(env.client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(gadget_crd(
        "gadgets.example.dev",
        "gadgets",
        "Namespaced",
        &[true],
    ))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let root2 = get("/openapi/v3".into()).await;
    assert!(
        root2["paths"]["apis/example.dev/v1"]["serverRelativeURL"].is_string(),
        "{root2}"
    );
    let disc = get("/apis/example.dev/v1".into()).await;
    res(&disc, "gadgets");
}

async fn watch_from_rv_replays_changes_in_order(env: Env) {
    use kube::api::{WatchEvent, WatchParams};
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    api.create(&PostParams::default(), &configmap("ra", &[("w", "1")], &[]))
        .await
        .unwrap();
    let b = api
        .create(&PostParams::default(), &configmap("rb", &[("w", "1")], &[]))
        .await
        .unwrap();
    let from = b.resource_version().unwrap();
    api.patch(
        "rb",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    api.delete("ra", &DeleteParams::default()).await.unwrap();
    api.create(&PostParams::default(), &configmap("rc", &[("w", "1")], &[]))
        .await
        .unwrap();
    api.create(&PostParams::default(), &configmap("other", &[], &[]))
        .await
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().labels("w=1").timeout(1), &from)
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    let mut rvs = Vec::new();
    while let Some(ev) = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("watch ends after timeoutSeconds")
    {
        let (kind, o) = match ev.expect("event") {
            WatchEvent::Added(o) => ("ADDED", o),
            WatchEvent::Modified(o) => ("MODIFIED", o),
            WatchEvent::Deleted(o) => ("DELETED", o),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(e) => panic!("{e:?}"),
        };
        rvs.push(o.resource_version().unwrap().parse::<u64>().unwrap());
        seen.push(format!("{kind} {}", o.name_any()));
    }
    assert_eq!(
        seen,
        ["MODIFIED rb", "DELETED ra", "ADDED rc"],
        "only changes after the RV, in order, selector applied"
    );
    assert!(
        rvs.windows(2).all(|w| w[0] < w[1]),
        "increasing RVs: {rvs:?}"
    );
    assert!(rvs[0] > from.parse::<u64>().unwrap());
}

async fn metadata_watcher_sees_changes(env: Env) {
    use kube::runtime::watcher::{self, Event};
    let api: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    api.create(
        &PostParams::default(),
        &configmap("m1", &[("suite", "meta")], &[("big", "x")]),
    )
    .await
    .unwrap();
    // `Api<PartialObjectMeta<K>>` makes metadata-only requests (Accept: PartialObjectMetadata).
    let meta: Api<kube::core::PartialObjectMeta<ConfigMap>> =
        Api::default_namespaced(env.client.clone());
    let mut stream =
        watcher::watcher(meta, watcher::Config::default().labels("suite=meta")).boxed();
    let mut init = Vec::new();
    loop {
        match tokio::time::timeout(PATIENCE, stream.next())
            .await
            .unwrap()
            .unwrap()
            .expect("metadata event")
        {
            Event::Init => {}
            Event::InitApply(m) => init.push(m.metadata.name.unwrap()),
            Event::InitDone => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(init, ["m1"]);
    api.patch(
        "m1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"a": "b"}}})),
    )
    .await
    .unwrap();
    match tokio::time::timeout(PATIENCE, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        Event::Apply(m) => assert_eq!(m.metadata.annotations.unwrap()["a"], "b"),
        other => panic!("{other:?}"),
    }
}
