//! The console's view overlays (health tree, diff, dependsOn, trace, image decisions): whole-screen
//! snapshots (TestBackend + insta) with data built by hand, and the key flows on `App::update`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use flotilla::cluster::{ContextState, Update};
use flotilla::model::Row;
use flotilla::model::depends::depends_on_view;
use flotilla::model::row::RowKey;
use flotilla::model::trace;
use flotilla::model::tree::{self, HealthTree, ObjectIndex, ObjectRef};
use flotilla::tui::report_view::{ReportData, ReportRequest};
use flotilla::tui::{App, Effect, Event, Focus, Keymap, Settings, Theme, ViewKind, view};
use flotilla::views::Fetched;
use flotilla::views::diff::{Change, DiffReport, ObjectError, object_diff};
use flotilla::views::images::decisions::ImageTarget;
use flotilla::views::images::report::ImageDecisions;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};

/// 2026-01-01T01:00:00Z.
const NOW: i64 = 1_767_229_200 + 3600;

fn ks(name: &str, ids: &[String], ready: (&str, &str, &str), deps: &[&str]) -> Value {
    let entries: Vec<Value> = ids.iter().map(|id| json!({"id": id, "v": "v1"})).collect();
    let deps: Vec<Value> = deps.iter().map(|d| json!({"name": d})).collect();
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system", "generation": 1,
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"interval": "10m", "path": format!("./apps/{name}"), "prune": true, "dependsOn": deps,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
        "status": {"observedGeneration": 1, "lastAppliedRevision": "main@sha1:0123abc",
                   "inventory": {"entries": entries},
                   "conditions": [{"type": "Ready", "status": ready.0, "reason": ready.1, "message": ready.2,
                                   "lastTransitionTime": "2026-01-01T00:30:00Z"}]}
    })
}

fn git() -> Value {
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": "flux-system", "namespace": "flux-system", "generation": 1},
           "spec": {"url": "http://git.local/fleet.git", "ref": {"branch": "main"}},
           "status": {"observedGeneration": 1, "artifact": {"revision": "main@sha1:0123abc"},
                      "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
                                      "message": "stored artifact", "lastTransitionTime": "2026-01-01T00:10:00Z"}]}})
}

fn deployment(name: &str, broken: bool) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": "apps", "generation": 1,
                        "labels": {"kustomize.toolkit.fluxcd.io/name": "apps",
                                   "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}},
           "spec": {"replicas": 2},
           "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                      "readyReplicas": if broken {1} else {2}, "availableReplicas": if broken {1} else {2},
                      "conditions": [{"type": "Available", "status": "True"},
                                     if broken {json!({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                                       "message": format!("ReplicaSet \"{name}-7d9\" has timed out progressing.")})}
                                     else {json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"})}]}})
}

fn image_policy() -> Value {
    json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
           "metadata": {"name": "podinfo", "namespace": "flux-system", "generation": 1},
           "spec": {"imageRepositoryRef": {"name": "podinfo"}, "policy": {"semver": {"range": ">=1.0.0"}}},
           "status": {"observedGeneration": 1, "latestRef": {"name": "registry.local/podinfo", "tag": "1.2.0"},
                      "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "1.2.0"}]}})
}

fn upsert(obj: &Value) -> Event {
    Event::Cluster(Update::Upsert(Box::new(
        Row::from_object("staging", obj).unwrap(),
    )))
}

/// The failing `apps` Kustomization's tree: source → apps → Deployments (one broken) and a Service.
fn failing_tree() -> HealthTree {
    let apps = ks(
        "apps",
        &[
            "apps_podinfo_apps_Deployment".into(),
            "apps_frontend_apps_Deployment".into(),
            "apps_podinfo__Service".into(),
        ],
        (
            "False",
            "HealthCheckFailed",
            "health check failed after 5m0s",
        ),
        &["infrastructure"],
    );
    let index: ObjectIndex = [
        deployment("podinfo", true),
        deployment("frontend", false),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "podinfo", "namespace": "apps"}}),
    ]
    .into_iter()
    .collect();
    tree::kustomization_tree_at(&apps, Some(&git()), &index, NOW)
}

fn deep_tree() -> HealthTree {
    let mut objects = Vec::new();
    for i in 0..6 {
        objects.push(ks(
            &format!("level{i}"),
            &[
                format!(
                    "flux-system_level{}_kustomize.toolkit.fluxcd.io_Kustomization",
                    i + 1
                ),
                format!("apps_cm{i}__ConfigMap"),
            ],
            ("True", "ReconciliationSucceeded", "Applied"),
            &[],
        ));
        objects.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": format!("cm{i}"), "namespace": "apps"}}));
    }
    objects.push(ks(
        "level6",
        &["apps_missing__ConfigMap".into()],
        (
            "False",
            "HealthCheckFailed",
            "ConfigMap/apps/missing not found",
        ),
        &[],
    ));
    let index: ObjectIndex = objects.iter().cloned().collect();
    tree::kustomization_tree_at(&objects[0], None, &index, NOW)
}

fn app() -> App {
    let mut app = App::new(
        Settings::default(),
        Keymap::builtin_default(),
        Theme::builtin_default(),
        &["staging".to_string()],
        ViewKind::All,
    );
    app.update(Event::Tick(NOW));
    app.update(Event::Cluster(Update::Context {
        context: "staging".into(),
        state: ContextState::Live,
    }));
    app.update(Event::Resize(80, 24));
    app
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::render(app, f)).unwrap();
    format!("{}", t.backend())
}

/// Draws at sizes down to one cell: nothing may panic.
fn draws_at_every_size(app: &App) {
    for (w, h) in [(80, 24), (120, 40), (40, 10), (20, 5), (5, 2), (1, 1)] {
        screen(app, w, h);
    }
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn typed(app: &mut App, s: &str) -> Vec<Effect> {
    s.chars().flat_map(|c| key(app, KeyCode::Char(c))).collect()
}

fn apps_key() -> RowKey {
    RowKey {
        context: "staging".into(),
        kind: "Kustomization",
        namespace: "flux-system".into(),
        name: "apps".into(),
    }
}

/// The console on `:ks` with the `apps` row selected.
fn on_apps() -> App {
    let mut app = app();
    app.update(upsert(&ks(
        "apps",
        &[],
        (
            "False",
            "HealthCheckFailed",
            "health check failed after 5m0s",
        ),
        &[],
    )));
    typed(&mut app, ":ks");
    key(&mut app, KeyCode::Enter);
    app
}

fn tree_answer(tree: HealthTree) -> Event {
    Event::TreeFetched {
        key: apps_key(),
        result: Ok(Box::new(Fetched {
            value: tree,
            warnings: Vec::new(),
        })),
    }
}

#[test]
fn tree_opens_live_and_keeps_the_users_folds() {
    let mut app = on_apps();
    assert_eq!(typed(&mut app, "t"), vec![Effect::FetchTree(apps_key())]);
    assert!(screen(&app, 80, 24).contains("loading…"));
    // No second fetch while the first runs.
    assert!(app.update(Event::Tick(NOW + 5)).is_empty());
    app.update(tree_answer(failing_tree()));
    let s = screen(&app, 80, 24);
    insta::assert_snapshot!("tree_failing", s);
    assert!(
        s.contains("Root cause: Deployment/apps/podinfo Failed"),
        "{s}"
    );
    draws_at_every_size(&app);
    // Live: two seconds after the last request the tree is asked again.
    assert_eq!(
        app.update(Event::Tick(NOW + 7)),
        vec![Effect::FetchTree(apps_key())]
    );
    // The user closes the Deployments group (the selection's parent) and the refresh keeps it.
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Left);
    let Focus::Tree(v) = &app.focus else {
        panic!("tree closed")
    };
    let closed = v.visible().len();
    let selected = v.selected.clone();
    app.update(tree_answer(failing_tree()));
    let Focus::Tree(v) = &app.focus else {
        panic!("tree closed")
    };
    assert_eq!(v.visible().len(), closed);
    assert_eq!(v.selected, selected);
    key(&mut app, KeyCode::Enter);
    let Focus::Tree(v) = &app.focus else {
        panic!("tree closed")
    };
    assert!(v.visible().len() > closed);
    // Esc goes back to the table; later answers are ignored.
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.focus, Focus::Table));
    app.update(tree_answer(failing_tree()));
    assert!(matches!(app.focus, Focus::Table));
    assert!(app.update(Event::Tick(NOW + 60)).is_empty());
}

#[test]
fn tree_snapshots_deep_empty_and_error() {
    let mut app = on_apps();
    typed(&mut app, "t");
    app.update(tree_answer(deep_tree()));
    insta::assert_snapshot!("tree_deep", screen(&app, 80, 24));
    draws_at_every_size(&app);
    // Scrolling to the bottom and back does not panic and keeps a selection.
    typed(&mut app, "GggG");
    key(&mut app, KeyCode::PageUp);
    key(&mut app, KeyCode::PageDown);

    let mut app = on_apps();
    typed(&mut app, "t");
    let empty = ks(
        "apps",
        &[],
        (
            "True",
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:0123abc",
        ),
        &[],
    );
    app.update(tree_answer(tree::kustomization_tree_at(
        &empty,
        Some(&git()),
        &ObjectIndex::new(),
        NOW,
    )));
    insta::assert_snapshot!("tree_empty_inventory", screen(&app, 80, 24));

    app.update(Event::TreeFetched {
        key: apps_key(),
        result: Err("Kustomization/flux-system/apps not found".into()),
    });
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("cannot fetch the tree: Kustomization/flux-system/apps not found"),
        "{s}"
    );
}

#[test]
fn trace_of_a_deployment_from_the_tree_and_back() {
    let mut app = on_apps();
    typed(&mut app, "t");
    app.update(tree_answer(failing_tree()));
    // The tree opens on the broken Deployment: T traces it.
    let fx = typed(&mut app, "T");
    let request = ReportRequest::Trace {
        context: "staging".into(),
        object: ObjectRef {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: "apps".into(),
            name: "podinfo".into(),
        },
    };
    assert_eq!(fx, vec![Effect::FetchReport(request.clone())]);
    let manager = ks(
        "apps",
        &[],
        (
            "False",
            "HealthCheckFailed",
            "health check failed after 5m0s",
        ),
        &[],
    );
    let t = trace::trace(&deployment("podinfo", true), Some(&manager), Some(&git()));
    app.update(Event::ReportFetched {
        request,
        result: Ok(ReportData::Trace(t)),
    });
    let s = screen(&app, 80, 24);
    insta::assert_snapshot!("trace_deployment", s);
    assert!(s.contains("Kustomization:  apps"), "{s}");
    draws_at_every_size(&app);
    // Copy, then Esc returns to the tree (not the table).
    let fx = typed(&mut app, "c");
    assert!(
        matches!(&fx[..], [Effect::Copy { text, .. }] if text.contains("Deployment/podinfo")),
        "{fx:?}"
    );
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.focus, Focus::Tree(_)));
    // `i` on the Deployment asks for its image decisions.
    let fx = typed(&mut app, "i");
    assert!(
        matches!(&fx[..], [Effect::FetchReport(ReportRequest::Images(t))] if t.kind == "Deployment" && t.name == "podinfo"),
        "{fx:?}"
    );
}

fn secret(password: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "apps"},
           "type": "Opaque", "data": {"password": password, "user": "YWRtaW4="}})
}

fn obj_ref(kind: &str, group: &str, name: &str) -> ObjectRef {
    ObjectRef {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        namespace: "apps".into(),
        name: name.into(),
    }
}

fn small_report() -> DiffReport {
    let mut before = deployment("podinfo", false);
    let mut after = before.clone();
    after["spec"]["replicas"] = json!(3);
    before["metadata"]["resourceVersion"] = json!("12");
    DiffReport {
        objects: vec![
            object_diff(
                obj_ref("Deployment", "apps", "podinfo"),
                Change::Drifted,
                Some(&before),
                Some(&after),
            ),
            object_diff(
                obj_ref("Secret", "", "creds"),
                Change::Drifted,
                Some(&secret("aHVudGVyMg==")),
                Some(&secret("c2VjcmV0")),
            ),
            object_diff(
                obj_ref("ConfigMap", "", "old"),
                Change::Deleted,
                Some(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "old", "namespace": "apps"}, "data": {"a": "b"}})),
                None,
            ),
        ],
        errors: vec![ObjectError {
            object: obj_ref("Service", "", "broken"),
            message: "dry-run: field is immutable".into(),
        }],
    }
}

#[test]
fn diff_with_a_masked_secret_unified_and_side_by_side() {
    let mut app = on_apps();
    assert_eq!(typed(&mut app, "x"), vec![Effect::FetchDiff(apps_key())]);
    app.update(Event::DiffFetched {
        key: apps_key(),
        result: Ok(small_report()),
    });
    let s = screen(&app, 80, 24);
    insta::assert_snapshot!("diff_masked_secret", s);
    assert!(!s.contains("aHVudGVyMg"), "{s}");
    assert!(
        s.contains("*** (before)") && s.contains("*** (after)"),
        "{s}"
    );
    assert!(
        s.contains("0 created · 2 changed · 1 deleted by prune · 0 unchanged · 1 error(s)"),
        "{s}"
    );
    draws_at_every_size(&app);
    typed(&mut app, "s");
    let s = screen(&app, 100, 24);
    insta::assert_snapshot!("diff_side_by_side", s);
    draws_at_every_size(&app);
    // y copies the hunk at the top line (after n jumps to one), Y the whole diff.
    typed(&mut app, "s");
    assert!(typed(&mut app, "y").is_empty(), "no hunk at the top line");
    typed(&mut app, "nn");
    let fx = typed(&mut app, "y");
    assert!(
        matches!(&fx[..], [Effect::Copy { text, what }] if text.starts_with("--- Secret/apps/creds (live)") && what == "hunk 1 of Secret/apps/creds"),
        "{fx:?}"
    );
    let fx = typed(&mut app, "Y");
    assert!(
        matches!(&fx[..], [Effect::Copy { text, .. }] if text.contains("+++ Deployment/apps/podinfo (desired)") && text.contains("--- ConfigMap/apps/old (live)")),
        "{fx:?}"
    );
    // / searches; Esc clears the search, a second Esc closes.
    typed(&mut app, "/replicas");
    key(&mut app, KeyCode::Enter);
    let Focus::Diff(v) = &app.focus else {
        panic!("diff closed")
    };
    assert!(v.rows[v.scroll].text.contains("replicas"));
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.focus, Focus::Diff(_)));
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.focus, Focus::Table));
}

#[test]
fn big_diff_scrolled_and_errors() {
    let before = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big", "namespace": "apps"},
        "data": (0..80).map(|i| (format!("key{i:02}"), json!(format!("value {i}")))).collect::<serde_json::Map<_, _>>()});
    let mut after = before.clone();
    for i in [3, 4, 30, 58, 77] {
        after["data"][format!("key{i:02}")] = json!(format!("changed {i}"));
    }
    let report = DiffReport {
        objects: vec![object_diff(
            obj_ref("ConfigMap", "", "big"),
            Change::Drifted,
            Some(&before),
            Some(&after),
        )],
        errors: Vec::new(),
    };
    let mut app = on_apps();
    typed(&mut app, "x");
    app.update(Event::DiffFetched {
        key: apps_key(),
        result: Ok(report),
    });
    typed(&mut app, "nnn");
    key(&mut app, KeyCode::Down);
    insta::assert_snapshot!("diff_big_scrolled", screen(&app, 80, 24));
    typed(&mut app, "G");
    key(&mut app, KeyCode::PageUp);
    draws_at_every_size(&app);
    typed(&mut app, "N");
    app.update(Event::DiffFetched {
        key: apps_key(),
        result: Err("Kustomization/flux-system/apps: artifact main@sha1:0123abc of GitRepository/flux-system/flux-system is not reachable from here (status.artifact.url is empty); use flotilla diff --path".into()),
    });
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("cannot diff: Kustomization/flux-system/apps: artifact"),
        "{s}"
    );
}

#[test]
fn depends_on_chain_of_three_with_the_blocker() {
    let infra = ks(
        "infrastructure",
        &[],
        (
            "False",
            "HealthCheckFailed",
            "Deployment/infra/ingress not ready",
        ),
        &[],
    );
    let platform = ks(
        "platform",
        &[],
        (
            "False",
            "DependencyNotReady",
            "dependency 'flux-system/infrastructure' is not ready",
        ),
        &["infrastructure"],
    );
    let apps = ks(
        "apps",
        &[],
        (
            "False",
            "DependencyNotReady",
            "dependency 'flux-system/platform' is not ready",
        ),
        &["platform"],
    );
    let mut app = app();
    for o in [&infra, &platform, &apps] {
        app.update(upsert(o));
    }
    typed(&mut app, ":ks");
    key(&mut app, KeyCode::Enter);
    // The STATUS cell names the root blocker, not the direct dependency.
    let s = screen(&app, 180, 24);
    let blocked: Vec<&str> = s
        .lines()
        .filter(|l| l.contains("blocked by flux-system/infrastructur"))
        .collect();
    assert_eq!(blocked.len(), 2, "{s}");
    assert!(!s.contains("blocked by flux-system/platform"), "{s}");
    let fx = typed(&mut app, "D");
    let request = ReportRequest::DependsOn(apps_key());
    assert_eq!(fx, vec![Effect::FetchReport(request.clone())]);
    let view = depends_on_view(&apps, &[infra.clone(), platform.clone(), apps.clone()]);
    app.update(Event::ReportFetched {
        request,
        result: Ok(ReportData::DependsOn(Box::new(view))),
    });
    let s = screen(&app, 80, 24);
    insta::assert_snapshot!("depends_chain", s);
    assert!(s.contains("blocked by flux-system/infrastructure"), "{s}");
    draws_at_every_size(&app);
    key(&mut app, KeyCode::Esc);
    // The detail view shows the same line.
    let fx = key(&mut app, KeyCode::Enter);
    assert_eq!(fx.len(), 2);
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("blocked by flux-system/infrastructure (HealthCheckFailed)"),
        "{s}"
    );
    // T from the detail view traces the Kustomization; Esc returns to the detail view.
    let fx = typed(&mut app, "T");
    assert!(
        matches!(&fx[..], [Effect::FetchReport(ReportRequest::Trace { object, .. })] if object.kind == "Kustomization" && object.name == "apps"),
        "{fx:?}"
    );
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.focus, Focus::Detail(_)));
}

#[test]
fn image_reports_with_an_error_and_with_decisions() {
    let mut app = app();
    app.update(upsert(&image_policy()));
    typed(&mut app, ":imagepolicies");
    key(&mut app, KeyCode::Enter);
    let target = ImageTarget {
        context: "staging".into(),
        kind: "ImagePolicy".into(),
        namespace: "flux-system".into(),
        name: "podinfo".into(),
    };
    let request = ReportRequest::Images(target);
    assert_eq!(
        typed(&mut app, "i"),
        vec![Effect::FetchReport(request.clone())]
    );
    app.update(Event::ReportFetched {
        request: request.clone(),
        result: Err("image decisions for ImagePolicy flux-system/podinfo: not built yet".into()),
    });
    insta::assert_snapshot!("images_error", screen(&app, 80, 24));
    key(&mut app, KeyCode::Esc);
    typed(&mut app, "i");
    let decisions = filled_decisions();
    app.update(Event::ReportFetched {
        request,
        result: Ok(ReportData::Images(Box::new(decisions))),
    });
    let s = screen(&app, 80, 24);
    insta::assert_snapshot!("images_filled", s);
    assert!(s.contains("ImagePolicy flux-system/podinfo"), "{s}");
    assert!(s.contains("6.0.3"), "the chosen tag is listed: {s}");
    assert!(
        s.contains("production"),
        "the running image's context is listed: {s}"
    );
    draws_at_every_size(&app);
}

#[test]
fn view_keys_refuse_kinds_they_do_not_apply_to() {
    let mut app = app();
    app.update(upsert(&git()));
    typed(&mut app, ":gitrepositories");
    key(&mut app, KeyCode::Enter);
    for k in ["t", "D", "x", "i"] {
        assert!(typed(&mut app, k).is_empty(), "{k}");
        assert!(matches!(app.focus, Focus::Table), "{k}");
        assert!(app.flash.as_ref().is_some_and(|f| f.error), "{k}");
    }
    // Trace applies to any row.
    assert!(matches!(
        &typed(&mut app, "T")[..],
        [Effect::FetchReport(ReportRequest::Trace { .. })]
    ));
}

/// Decisions as `views::images::decisions` fills them: one policy with a scan, tag fates from the
/// real policy explanation, a marker and two running images (one behind).
fn filled_decisions() -> ImageDecisions {
    use flotilla::controllers::image::policy::{CompiledPolicy, PolicyChoice, PolicySpec};
    use flotilla::views::images::report::{
        AutomationDecisions, ImageRef, MarkerRef, PolicyDecisions, RepositoryScan, RunningImage,
        TagDecisions, tag_rows,
    };
    let tags = ["6.0.3", "6.0.2", "6.0.1", "latest", "7.0.0-rc.1"];
    let spec = PolicySpec {
        choice: PolicyChoice::SemVer {
            range: ">=6.0.0 <7.0.0".to_string(),
        },
        filter: None,
    };
    let explanation = CompiledPolicy::compile(&spec)
        .expect("valid")
        .explain(&tags);
    let (rows, omitted) = tag_rows(&explanation, Some("6.0.2"), false);
    let image = "registry.demo/podinfo";
    let running = |context: &str, tag: &str| RunningImage {
        context: context.into(),
        kind: "Deployment".into(),
        namespace: "podinfo".into(),
        name: "podinfo".into(),
        container: "podinfo".into(),
        image: format!("{image}:{tag}"),
        current: tag == "6.0.3",
    };
    ImageDecisions {
        policy: "flux-system/podinfo".into(),
        target: "ImagePolicy flux-system/podinfo (context production)".into(),
        notice: None,
        sections: vec![PolicyDecisions {
            context: "production".into(),
            namespace: "flux-system".into(),
            name: "podinfo".into(),
            rule: Some(explanation.policy.clone()),
            latest: Some(ImageRef {
                name: image.into(),
                tag: "6.0.3".into(),
                digest: String::new(),
            }),
            repository: RepositoryScan {
                namespace: "flux-system".into(),
                name: "podinfo".into(),
                image: Some(image.into()),
                tag_count: Some(tags.len() as u64),
                scan_time: Some("2026-11-27T16:00:00Z".into()),
                ..RepositoryScan::default()
            },
            tags: TagDecisions {
                source: Some(format!("registry {image}")),
                total: tags.len(),
                chosen: explanation.chosen.clone(),
                rows,
                omitted,
                ..TagDecisions::default()
            },
            automations: vec![AutomationDecisions {
                namespace: "flux-system".into(),
                name: "podinfo".into(),
                source: "GitRepository flux-system/flux-system".into(),
                update_path: "./apps/overlays/production".into(),
                last_push_commit: Some("4f2c9e1".into()),
                markers: vec![MarkerRef {
                    file: "apps/overlays/production/kustomization.yaml".into(),
                    line: 12,
                    setter: "flux-system:podinfo:tag".into(),
                    value: Some("6.0.3".into()),
                    expected: Some("6.0.3".into()),
                }],
                ..AutomationDecisions::default()
            }],
            running: vec![running("production", "6.0.3"), running("staging", "6.0.2")],
            ..PolicyDecisions::default()
        }],
    }
}

/// The console on `:ks` with the `apps` row selected and `keymap` laid over the default keymap.
fn remapped(keymap: &str) -> App {
    let mut app = on_apps();
    let mut km = Keymap::builtin_default();
    km.overlay("test.yaml", keymap).unwrap();
    app.keymap = km;
    app
}

#[test]
fn remapped_dialog_keys_confirm_and_cancel() {
    let mut app = remapped("dialog:\n  confirm: [o]\n");
    typed(&mut app, "s");
    assert!(matches!(app.focus, Focus::Confirm(_)));
    // The dialog's hint follows the keymap.
    let s = screen(&app, 80, 24);
    assert!(s.contains("o: yes   n/esc: no"), "{s}");
    // y no longer confirms (nothing else binds it in the dialog), o does.
    assert!(typed(&mut app, "y").is_empty());
    assert!(matches!(app.focus, Focus::Confirm(_)));
    let fx = typed(&mut app, "o");
    assert!(
        matches!(&fx[..], [Effect::Apply { targets, .. }] if targets == &vec![apps_key()]),
        "{fx:?}"
    );
    assert!(matches!(app.focus, Focus::Table));
    // Remapping cancel keeps esc working through global `back`; the old `n` is gone.
    let mut app = remapped("dialog:\n  cancel: [q]\n");
    typed(&mut app, "s");
    assert!(typed(&mut app, "n").is_empty());
    assert!(matches!(app.focus, Focus::Confirm(_)));
    typed(&mut app, "q");
    assert!(matches!(app.focus, Focus::Table));
    typed(&mut app, "s");
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.focus, Focus::Table));
}

#[test]
fn remapped_picker_keys_show_all_and_pick() {
    let mut app = remapped("picker:\n  show_all: [A]\n  pick: [p]\n");
    typed(&mut app, ":ctx");
    key(&mut app, KeyCode::Enter);
    assert!(matches!(app.focus, Focus::Contexts(_)));
    typed(&mut app, " ");
    assert!(app.scope.hidden.contains("staging"));
    typed(&mut app, "a");
    assert!(
        app.scope.hidden.contains("staging"),
        "a is not show_all any more"
    );
    typed(&mut app, "A");
    assert!(app.scope.hidden.is_empty());
    key(&mut app, KeyCode::Enter);
    assert!(
        matches!(app.focus, Focus::Contexts(_)),
        "enter is not pick any more"
    );
    typed(&mut app, "p");
    assert!(matches!(app.focus, Focus::Table));
    // The namespace picker shares the scope: p picks there too.
    typed(&mut app, ":ns");
    key(&mut app, KeyCode::Enter);
    assert!(matches!(app.focus, Focus::Namespaces(_)));
    typed(&mut app, "jp");
    assert_eq!(app.scope.namespace.as_deref(), Some("flux-system"));
}

#[test]
fn remapped_yaml_and_overlay_keys_search_and_scroll() {
    let mut app = remapped("yaml:\n  next_match: [m]\noverlay:\n  down: [J]\n");
    let fx = typed(&mut app, "y");
    assert_eq!(fx, vec![Effect::Fetch(apps_key())]);
    let obj = ks("apps", &[], ("True", "Succeeded", "ok"), &[]);
    app.update(Event::Fetched {
        key: apps_key(),
        result: Ok(obj),
    });
    let scroll = |app: &App| match &app.focus {
        Focus::Yaml(y) => y.scroll,
        other => panic!("yaml closed: {other:?}"),
    };
    typed(&mut app, "j");
    assert_eq!(scroll(&app), 0, "j no longer scrolls");
    typed(&mut app, "J");
    assert_eq!(scroll(&app), 1);
    // "name" is on two lines (metadata.name, sourceRef.name): n no longer steps, m does.
    typed(&mut app, "/name");
    key(&mut app, KeyCode::Enter);
    let first = scroll(&app);
    typed(&mut app, "n");
    assert_eq!(scroll(&app), first);
    typed(&mut app, "m");
    assert_ne!(scroll(&app), first);
}

#[test]
fn remapped_detail_key_opens_the_yaml() {
    let mut app = remapped("detail:\n  yaml: [Y]\n");
    key(&mut app, KeyCode::Enter);
    assert!(matches!(app.focus, Focus::Detail(_)));
    // The detail's help is the longest (object actions, views, scrolling): it must fit 80×24.
    typed(&mut app, "?");
    insta::assert_snapshot!("help_detail", screen(&app, 80, 24));
    typed(&mut app, "?");
    assert!(matches!(app.focus, Focus::Detail(_)));
    assert!(typed(&mut app, "y").is_empty());
    assert!(matches!(app.focus, Focus::Detail(_)));
    assert_eq!(typed(&mut app, "Y"), vec![Effect::Fetch(apps_key())]);
    assert!(matches!(app.focus, Focus::Yaml(_)));
}

#[test]
fn remapped_tree_keys_fold() {
    let mut app = remapped("tree:\n  collapse: [h]\n  expand: [l]\n");
    typed(&mut app, "t");
    app.update(tree_answer(failing_tree()));
    let state = |app: &App| match &app.focus {
        Focus::Tree(v) => (v.visible().len(), v.selected.clone()),
        other => panic!("tree closed: {other:?}"),
    };
    let open = state(&app);
    key(&mut app, KeyCode::Left);
    assert_eq!(state(&app), open, "left no longer folds");
    // To the Deployments group, then close it.
    typed(&mut app, "hh");
    let closed = state(&app);
    assert!(closed.0 < open.0);
    key(&mut app, KeyCode::Right);
    assert_eq!(state(&app), closed, "right no longer unfolds");
    typed(&mut app, "l");
    assert!(state(&app).0 > closed.0);
}

#[test]
fn remapped_diff_key_and_help_of_the_focused_scope() {
    let mut app = remapped("diff:\n  side_by_side: [v]\n");
    typed(&mut app, "x");
    app.update(Event::DiffFetched {
        key: apps_key(),
        result: Ok(small_report()),
    });
    let side = |app: &App| match &app.focus {
        Focus::Diff(v) => v.side_by_side,
        other => panic!("diff closed: {other:?}"),
    };
    typed(&mut app, "s");
    assert!(!side(&app), "s no longer switches");
    typed(&mut app, "v");
    assert!(side(&app));
    // ? lists the diff's keys (with the remap) and the global ones it uses, not the table's.
    typed(&mut app, "?");
    assert!(matches!(&app.focus, Focus::Help(under) if matches!(**under, Focus::Diff(_))));
    let s = screen(&app, 80, 24);
    insta::assert_snapshot!("help_diff_remapped", s);
    assert!(s.contains("help: diff keys"), "{s}");
    assert!(s.contains("v             unified / side by side"), "{s}");
    assert!(
        s.contains("next hunk / match") && s.contains("scroll down"),
        "{s}"
    );
    assert!(
        !s.contains("command prompt") && !s.contains("sort by name"),
        "{s}"
    );
    draws_at_every_size(&app);
    // Any key closes help back to the diff, as it was.
    typed(&mut app, "z");
    assert!(side(&app));
}
