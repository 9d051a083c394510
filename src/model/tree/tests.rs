use super::*;
use serde_json::json;

const NOW: i64 = 1_700_000_000;

fn ks(name: &str, ns: &str, entries: &[(&str, &str)], ready: (&str, &str, &str)) -> Value {
    let entries: Vec<Value> = entries
        .iter()
        .map(|(id, v)| json!({"id": id, "v": v}))
        .collect();
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns, "generation": 1},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./apps"},
        "status": {
            "observedGeneration": 1,
            "lastAppliedRevision": "main@sha1:abc",
            "inventory": {"entries": entries},
            "conditions": [{"type": "Ready", "status": ready.0, "reason": ready.1, "message": ready.2}]
        }
    })
}

fn git(ready: bool) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": "default", "generation": 1},
        "status": {
            "observedGeneration": 1,
            "artifact": {"revision": "main@sha1:abc"},
            "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}, "reason": "x", "message": "stored artifact"}]
        }
    })
}

fn config_map(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}})
}

fn deployment(ns: &str, name: &str, broken: bool) -> Value {
    let progressing = if broken {
        json!({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-1\" has timed out progressing."})
    } else {
        json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "ok"})
    };
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
            "readyReplicas": if broken {0} else {1}, "availableReplicas": if broken {0} else {1},
            "conditions": [
                {"type": "Available", "status": if broken {"False"} else {"True"}},
                progressing
            ]
        }
    })
}

const OK: (&str, &str, &str) = (
    "True",
    "ReconciliationSucceeded",
    "Applied revision: main@sha1:abc",
);

#[test]
fn inventory_ids_parse_like_flux() {
    let r = ObjectRef::from_inventory_entry(&json!({"id": "apps_web_apps_Deployment", "v": "v1"}))
        .unwrap();
    assert_eq!(
        (
            r.namespace.as_str(),
            r.name.as_str(),
            r.group.as_str(),
            r.kind.as_str()
        ),
        ("apps", "web", "apps", "Deployment")
    );
    assert_eq!(r.api_version(), "apps/v1");
    let r = ObjectRef::from_inventory_entry(
        &json!({"id": "_system__foo_rbac.authorization.k8s.io_ClusterRole", "v": "v1"}),
    )
    .unwrap();
    assert_eq!(r.name, "system:foo");
    assert_eq!(r.display(), "ClusterRole/system:foo");
    let r = ObjectRef::from_inventory_entry(&json!({"id": "default_podinfo__Service", "v": "v1"}))
        .unwrap();
    assert_eq!(r.api_version(), "v1");
    for bad in [
        json!({"id": "nounderscore"}),
        json!({"id": 3}),
        json!("x"),
        json!({"id": "a__"}),
        json!({}),
    ] {
        assert_eq!(ObjectRef::from_inventory_entry(&bad), None, "{bad}");
    }
}

#[test]
fn broken_deployment_is_the_root_cause_and_the_focus() {
    let root = ks(
        "apps",
        "default",
        &[
            ("apps_cfg__ConfigMap", "v1"),
            ("apps_web_apps_Deployment", "v1"),
            ("apps_api_apps_Deployment", "v1"),
        ],
        (
            "False",
            "HealthCheckFailed",
            "health check failed after 20s: failed early due to stalled resources",
        ),
    );
    let index: ObjectIndex = [
        config_map("apps", "cfg"),
        deployment("apps", "web", true),
        deployment("apps", "api", false),
    ]
    .into_iter()
    .collect();
    let tree = kustomization_tree_at(&root, Some(&git(true)), &index, NOW);
    let rc = tree.root_cause.clone().expect("root cause");
    assert_eq!(rc.object.display(), "Deployment/apps/web");
    assert_eq!(rc.status, "Failed");
    assert!(
        rc.message.contains("has timed out progressing"),
        "{}",
        rc.message
    );
    // source → ks → Deployment group → web
    assert_eq!(rc.path, vec![0, 1, 0]);
    assert_eq!(tree.focus_path, Some(vec![0, 1, 0]));
    let group = tree.node_at(&[0, 1]).unwrap();
    assert_eq!(group.role, NodeRole::KindGroup);
    assert_eq!(group.health, Health::Failing);
    assert_eq!(group.label(), "Deployment (2)");
    assert_eq!(group.message, "1 of 2 not ready");
    let text = render_text(&tree);
    assert_eq!(
        text,
        "Root cause: Deployment/apps/web Failed: Progress deadline exceeded: ReplicaSet \"web-1\" has timed out progressing.\n\
GitRepository/default/repo Current (main@sha1:abc)\n\
└── Kustomization/default/apps Failing (main@sha1:abc): health check failed after 20s: failed early due to stalled resources\n\
\u{20}   ├── ConfigMap (1) Ready\n\
\u{20}   │   └── ConfigMap/apps/cfg Current\n\
\u{20}   └── Deployment (2) Failing: 1 of 2 not ready\n\
\u{20}       ├── Deployment/apps/web Failed: Progress deadline exceeded: ReplicaSet \"web-1\" has timed out progressing.\n\
\u{20}       └── Deployment/apps/api Current\n"
    );
}

#[test]
fn nested_kustomizations_expand_recursively_and_cycles_stop() {
    let top = ks(
        "flux-system",
        "flux-system",
        &[
            (
                "flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization",
                "v1",
            ),
            (
                "flux-system_flux-system_kustomize.toolkit.fluxcd.io_Kustomization",
                "v1",
            ),
        ],
        OK,
    );
    // apps lists top again: a cycle must not recurse forever.
    let apps = ks(
        "apps",
        "flux-system",
        &[
            ("apps_cfg__ConfigMap", "v1"),
            (
                "flux-system_flux-system_kustomize.toolkit.fluxcd.io_Kustomization",
                "v1",
            ),
        ],
        OK,
    );
    let index: ObjectIndex = [top.clone(), apps, config_map("apps", "cfg")]
        .into_iter()
        .collect();
    let tree = kustomization_tree_at(&top, None, &index, NOW);
    // No source fetched: the source node says NotFound; the rest is expanded.
    assert_eq!(tree.root.role, NodeRole::Source);
    assert_eq!(tree.root.status, "NotFound");
    let ks_node = &tree.root.children[0];
    assert_eq!(
        ks_node.children.len(),
        1,
        "self skipped: {:?}",
        ks_node.children
    );
    let nested = &ks_node.children[0].children[0];
    assert_eq!(nested.role, NodeRole::Owner);
    assert_eq!(nested.object.name, "apps");
    let cm_group = &nested.children[0];
    assert_eq!(cm_group.children[0].object.display(), "ConfigMap/apps/cfg");
    let back = &nested.children[1].children[0];
    assert_eq!(back.role, NodeRole::Object, "cycle cut");
    // What to fetch includes the nested inventory once apps is known.
    let refs = kustomization_refs(&top, &index);
    let shown: Vec<String> = refs.iter().map(ObjectRef::display).collect();
    assert!(
        shown.contains(&"ConfigMap/apps/cfg".to_string()),
        "{shown:?}"
    );
    assert!(
        shown.contains(&"GitRepository/flux-system/repo".to_string()),
        "{shown:?}"
    );
    assert_eq!(refs.len(), 3, "{shown:?}");
}

#[test]
fn missing_objects_are_not_found_and_empty_inventories_render() {
    let root = ks("apps", "default", &[("apps_gone__Secret", "v1")], OK);
    let tree = kustomization_tree_at(&root, Some(&git(true)), &ObjectIndex::new(), NOW);
    let rc = tree.root_cause.unwrap();
    assert_eq!(rc.status, "NotFound");
    assert_eq!(rc.object.display(), "Secret/apps/gone");

    let empty = ks("apps", "default", &[], OK);
    let tree = kustomization_tree_at(&empty, Some(&git(true)), &ObjectIndex::new(), NOW);
    assert_eq!(tree.root_cause, None);
    assert_eq!(tree.focus_path, None);
    assert_eq!(
        render_text(&tree),
        "GitRepository/default/repo Current (main@sha1:abc)\n└── Kustomization/default/apps Current (main@sha1:abc)\n"
    );
}

#[test]
fn malformed_kustomizations_never_panic() {
    let index = ObjectIndex::new();
    for bad in [
        json!(null),
        json!("text"),
        json!({"status": {"inventory": {"entries": "no"}}}),
        json!({"status": {"inventory": {"entries": [1, null, {"id": 5}]}}, "spec": {"sourceRef": 7}}),
        json!({"kind": "Kustomization", "spec": {"sourceRef": {"kind": "GitRepository", "name": ["x"]}}}),
    ] {
        let tree = kustomization_tree_at(&bad, None, &index, NOW);
        let _ = render_text(&tree);
        let _ = kustomization_refs(&bad, &index);
        let _ = application_tree_at(&bad, &index, NOW);
    }
}

#[test]
fn long_chains_of_nested_kustomizations_stop_at_the_nesting_limit() {
    let mut objects = Vec::new();
    for i in 0..100 {
        let child = format!("ns_k{}_kustomize.toolkit.fluxcd.io_Kustomization", i + 1);
        objects.push(ks(&format!("k{i}"), "ns", &[(&child, "v1")], OK));
    }
    let index: ObjectIndex = objects.iter().cloned().collect();
    let tree = kustomization_tree_at(&objects[0], None, &index, NOW);
    let mut depth = 0;
    let mut node = &tree.root;
    while let Some(c) = node.children.first() {
        node = c;
        depth += 1;
    }
    assert!(depth < 3 * MAX_NESTING + 4, "depth {depth}");
    assert_eq!(node.role, NodeRole::Object);
}

#[test]
fn argo_application_tree_uses_inline_health_then_live_objects() {
    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": "argocd"},
        "status": {
            "sync": {"status": "OutOfSync", "revision": "abc123"},
            "health": {"status": "Degraded", "message": "one failing"},
            "resources": [
                {"group": "", "version": "v1", "kind": "Service", "namespace": "gb", "name": "ui", "status": "Synced", "health": {"status": "Healthy"}},
                {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "gb", "name": "ui", "status": "OutOfSync", "health": {"status": "Degraded", "message": "Deployment \"ui\" exceeded its progress deadline"}},
                {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "gb", "name": "redis", "status": "Synced"},
                {"group": "", "version": "v1", "kind": "ConfigMap", "namespace": "gb", "name": "unfetched", "status": "Synced"},
                "not an object"
            ]
        }
    });
    let index: ObjectIndex = [deployment("gb", "redis", false)].into_iter().collect();
    let tree = application_tree_at(&app, &index, NOW);
    assert_eq!(tree.root.status, "Degraded");
    assert_eq!(tree.root.detail, "sync OutOfSync abc123");
    let rc = tree.root_cause.unwrap();
    assert_eq!(rc.object.display(), "Deployment/gb/ui");
    assert_eq!(
        rc.message,
        "Deployment \"ui\" exceeded its progress deadline"
    );
    let deployments = &tree.root.children[1];
    assert_eq!(deployments.children[0].detail, "sync OutOfSync");
    assert_eq!(
        deployments.children[1].status, "Current",
        "from the live object"
    );
    assert_eq!(tree.root.children[2].children[0].status, "Unknown");
}

#[test]
fn json_output_names_roles_and_root_cause() {
    let root = ks("apps", "default", &[("apps_web_apps_Deployment", "v1")], OK);
    let index: ObjectIndex = [deployment("apps", "web", true)].into_iter().collect();
    let tree = kustomization_tree_at(&root, Some(&git(true)), &index, NOW);
    let v = serde_json::to_value(&tree).unwrap();
    assert_eq!(v["root"]["role"], "source");
    assert_eq!(v["root"]["children"][0]["role"], "owner");
    assert_eq!(v["root"]["children"][0]["children"][0]["role"], "kindGroup");
    assert_eq!(v["rootCause"]["object"]["name"], "web");
    assert_eq!(
        v["root"]["children"][0]["children"][0]["children"][0]["health"],
        "Failing"
    );
}

#[test]
fn source_commit_is_added_to_the_source_node_only() {
    let root = ks("apps", "default", &[], OK);
    let index = ObjectIndex::new();
    let commit = CommitInfo {
        id: "abc".into(),
        subject: "Scale podinfo to 3".into(),
        author: "Ada".into(),
        time: Some(NOW - 300),
    };
    let mut tree = kustomization_tree_at(&root, Some(&git(true)), &index, NOW);
    let revision = tree.root.detail.clone();
    tree.set_source_commit(&commit, NOW);
    assert_eq!(
        tree.root.detail,
        format!("{revision} \"Scale podinfo to 3\" by Ada, 5m ago")
    );
    // An Argo CD Application's tree has no source node: nothing is attached.
    let app = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"namespace": "argocd", "name": "guestbook"}});
    let mut bare = application_tree_at(&app, &index, NOW);
    let before = bare.root.detail.clone();
    bare.set_source_commit(&commit, NOW);
    assert_eq!(bare.root.detail, before);
    let unknown_time = CommitInfo {
        time: None,
        ..commit
    };
    assert_eq!(unknown_time.describe(NOW), "\"Scale podinfo to 3\" by Ada");
}
