//! The console end to end without a terminal: three embedded clusters (dev and staging on one server
//! with the real upstream Flux and Argo CD CRDs from ../shared/crds; production on another with the
//! built-in compact CRDs serving Flux v1 and v1beta2), seeded with Ready, failing, suspended and
//! progressing objects. SessionSet updates feed `App::update`; the effects the App returns are run
//! against the clusters the way the console runtime runs them, and their results fed back.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use flotilla::apiserver::{ClusterOptions, Server, ServerOptions};
use flotilla::cluster::clients::api_resource;
use flotilla::cluster::{
    Clients, ContextState, Contexts, EventWatch, KubeconfigSource, ObjectEvent, SessionOptions,
    SessionSet, Update,
};
use flotilla::model::health::Health;
use flotilla::model::lookup;
use flotilla::tui::{App, Effect, Event, Keymap, Settings, Theme, ViewKind, view};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Generous bound for "soon" (never a speed assertion).
const PATIENCE: Duration = Duration::from_secs(60);

fn upstream_crds() -> Vec<Value> {
    let mut out = Vec::new();
    for dir in ["/work/shared/crds/flux", "/work/shared/crds/argocd"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let docs: Vec<Value> = serde_saphyr::from_str_multiple(&text).unwrap();
            out.extend(
                docs.into_iter()
                    .filter(|d| d["kind"] == "CustomResourceDefinition"),
            );
        }
    }
    out
}

fn argo_crds() -> Vec<Value> {
    upstream_crds()
        .into_iter()
        .filter(|c| c["spec"]["group"] == "argoproj.io")
        .collect()
}

fn ready(status: &str, reason: &str, message: &str) -> Value {
    json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": status, "reason": reason,
        "message": message, "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]})
}

fn ks(api_version: &str, name: &str, suspend: bool) -> Value {
    json!({"apiVersion": api_version, "kind": "Kustomization",
           "metadata": {"name": name, "namespace": "flux-system"},
           "spec": {"interval": "10m", "path": "./deploy", "prune": true, "suspend": suspend,
                    "sourceRef": {"kind": "GitRepository", "name": "fleet"}}})
}

fn git(name: &str) -> Value {
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": name, "namespace": "flux-system"},
           "spec": {"interval": "1m", "url": "https://example.com/fleet.git", "ref": {"branch": "main"}}})
}

fn helm_release(name: &str) -> Value {
    json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
           "metadata": {"name": name, "namespace": "flux-system"},
           "spec": {"interval": "5m", "chart": {"spec": {"chart": "podinfo", "version": "6.x",
                    "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}}})
}

fn application(name: &str) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": name, "namespace": "argocd"},
           "spec": {"project": "default",
                    "source": {"repoURL": "https://example.com/apps.git", "path": name, "targetRevision": "HEAD"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
                    "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}}})
}

struct Harness {
    app: App,
    clients: Clients,
    updates: UnboundedReceiver<Update>,
    results: UnboundedReceiver<Event>,
    results_tx: UnboundedSender<Event>,
    object_events: UnboundedReceiver<ObjectEvent>,
    object_tx: UnboundedSender<ObjectEvent>,
    watch: Option<EventWatch>,
    contexts: Vec<String>,
}

impl Harness {
    /// Runs effects like the console runtime does (results come back as events).
    fn run(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            let clients = self.clients.clone();
            let tx = self.results_tx.clone();
            match effect {
                Effect::Apply { targets, action } => {
                    for key in targets {
                        let (clients, tx, action) = (clients.clone(), tx.clone(), action.clone());
                        tokio::spawn(async move {
                            let result = clients
                                .apply_action(&key, &action)
                                .await
                                .map_err(|e| e.to_string());
                            let _ = tx.send(Event::ActionDone {
                                key,
                                action: action.name(),
                                result,
                            });
                        });
                    }
                }
                Effect::Fetch(key) => {
                    tokio::spawn(async move {
                        let result = clients
                            .fetch_object(&key.context, key.kind, &key.namespace, &key.name)
                            .await
                            .map_err(|e| e.to_string());
                        let _ = tx.send(Event::Fetched { key, result });
                    });
                }
                Effect::FetchEvents(key) => {
                    tokio::spawn(async move {
                        let result = clients
                            .events_for(&key.context, key.kind, &key.namespace, &key.name)
                            .await
                            .map(|evs| {
                                evs.iter()
                                    .filter_map(|e| ObjectEvent::from_value(&key.context, e))
                                    .collect()
                            })
                            .map_err(|e| e.to_string());
                        let _ = tx.send(Event::EventsFetched { key, result });
                    });
                }
                Effect::WatchEvents => {
                    self.watch = Some(
                        EventWatch::start(
                            &self.clients,
                            &self.contexts,
                            None,
                            self.object_tx.clone(),
                        )
                        .unwrap(),
                    );
                }
                Effect::FetchTree(key) => {
                    let views = flotilla::cli::console::ConsoleViews::new(clients, None);
                    tokio::spawn(async move {
                        let result = views.health_tree(&key).await.map(Box::new);
                        let _ = tx.send(Event::TreeFetched { key, result });
                    });
                }
                Effect::FetchDiff(key) => {
                    let views = flotilla::cli::console::ConsoleViews::new(clients, None);
                    tokio::spawn(async move {
                        let result = views.diff(&key).await;
                        let _ = tx.send(Event::DiffFetched { key, result });
                    });
                }
                Effect::FetchReport(request) => {
                    let views = flotilla::cli::console::ConsoleViews::new(clients, None);
                    tokio::spawn(async move {
                        let result = views.report(&request).await;
                        let _ = tx.send(Event::ReportFetched { request, result });
                    });
                }
                Effect::Copy { .. } | Effect::Quit | Effect::Extension(_) => {}
            }
        }
    }

    fn keys(&mut self, s: &str) {
        for c in s.chars() {
            let ev = match c {
                '\n' => KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
                '\x1b' => KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
                '\x04' => KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL),
                '\x13' => KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL),
                c => KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
            };
            let fx = self.app.update(Event::Key(ev));
            self.run(fx);
        }
    }

    /// Feeds updates, results and Events into the App until `done` holds.
    async fn until(&mut self, what: &str, done: impl Fn(&App) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            self.app.refresh_view();
            if done(&self.app) {
                return;
            }
            let ev = tokio::select! {
                Some(u) = self.updates.recv() => Event::Cluster(u),
                Some(e) = self.results.recv() => e,
                Some(e) = self.object_events.recv() => Event::ObjectEvent(e),
                _ = tokio::time::sleep_until(deadline) => panic!("timed out waiting for {what}: flash {:?}", self.app.flash),
            };
            let fx = self.app.update(ev);
            self.run(fx);
        }
    }

    fn select(&mut self, context: &str, name: &str) {
        self.keys("g");
        for _ in 0..50 {
            let k = self.app.selected_key().unwrap();
            if k.context == context && k.name == name {
                return;
            }
            self.keys("j");
        }
        panic!("no row {context}/{name}");
    }

    fn health(&self, context: &str, name: &str) -> Option<Health> {
        self.app
            .store
            .rows()
            .find(|r| r.context == context && r.name == name)
            .map(|r| r.health)
    }
}

async fn api(
    clients: &Clients,
    context: &str,
    kind: &str,
    version: &str,
    ns: &str,
) -> Api<DynamicObject> {
    let info = lookup(kind).unwrap();
    Api::namespaced_with(
        clients.client(context).await.unwrap(),
        ns,
        &api_resource(info, version),
    )
}

/// Creates `obj` and sets its status (through /status where the CRD has that subresource; Argo CD's
/// CRDs have none, so there the status goes in with the object).
async fn create(clients: &Clients, context: &str, mut obj: Value, mut status: Option<Value>) {
    let argo = obj["apiVersion"]
        .as_str()
        .unwrap()
        .starts_with("argoproj.io/");
    if argo && let Some(s) = status.take() {
        obj["status"] = s;
    }
    let av = obj["apiVersion"].as_str().unwrap();
    let version = av.rsplit_once('/').unwrap().1;
    let kind = obj["kind"].as_str().unwrap();
    let ns = obj["metadata"]["namespace"].as_str().unwrap();
    let name = obj["metadata"]["name"].as_str().unwrap().to_string();
    let api = api(clients, context, kind, version, ns).await;
    api.create(
        &PostParams::default(),
        &serde_json::from_value(obj.clone()).unwrap(),
    )
    .await
    .unwrap();
    if let Some(status) = status {
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();
    }
}

async fn get(clients: &Clients, context: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
    clients.fetch_object(context, kind, ns, name).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_over_three_clusters_acts_and_survives_a_dead_one() {
    let first = Server::start(ServerOptions {
        clusters: vec!["dev".into(), "staging".into()],
        cluster: ClusterOptions {
            simulate: false,
            builtin_crds: false,
            extra_crds: upstream_crds(),
            ..ClusterOptions::default()
        },
        ..ServerOptions::default()
    })
    .await
    .unwrap();
    let second = Server::start(ServerOptions {
        clusters: vec!["production".into()],
        cluster: ClusterOptions {
            simulate: false,
            builtin_crds: true,
            extra_crds: argo_crds(),
            ..ClusterOptions::default()
        },
        ..ServerOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
    first.write_kubeconfig(&a).unwrap();
    second.write_kubeconfig(&b).unwrap();
    let contexts = Contexts::load(&KubeconfigSource::List(vec![a, b])).unwrap();
    let selected = contexts.select(&[]).unwrap();
    assert_eq!(selected.len(), 3);
    let clients = Clients::new(contexts);

    for ctx in ["dev", "staging", "production"] {
        let ns: Api<k8s_openapi::api::core::v1::Namespace> =
            Api::all(clients.client(ctx).await.unwrap());
        for name in ["flux-system", "argocd"] {
            ns.create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
            )
            .await
            .unwrap();
        }
    }
    let v1 = "kustomize.toolkit.fluxcd.io/v1";
    create(
        &clients,
        "dev",
        ks(v1, "apps", false),
        Some(ready(
            "True",
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:1a2b3c4",
        )),
    )
    .await;
    create(
        &clients,
        "dev",
        ks(v1, "infra", false),
        Some(ready(
            "False",
            "BuildFailed",
            "kustomize build failed: accumulating resources",
        )),
    )
    .await;
    create(
        &clients,
        "dev",
        git("fleet"),
        Some(ready("True", "Succeeded", "stored artifact")),
    )
    .await;
    create(
        &clients,
        "staging",
        ks(v1, "apps", true),
        Some(ready(
            "True",
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:1a2b3c4",
        )),
    )
    .await;
    create(&clients, "staging", helm_release("podinfo"), Some(json!({"observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "Progressing", "message": "Running 'upgrade' action", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "Running 'upgrade' action", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}))).await;
    create(
        &clients,
        "production",
        ks("kustomize.toolkit.fluxcd.io/v1beta2", "legacy", false),
        Some(ready(
            "True",
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:1a2b3c4",
        )),
    )
    .await;
    create(&clients, "production", application("guestbook"), Some(json!({"sync": {"status": "Synced", "revision": "abc"}, "health": {"status": "Healthy"}}))).await;
    create(&clients, "production", application("broken"), Some(json!({"sync": {"status": "OutOfSync"}, "health": {"status": "Degraded", "message": "Deployment has 0 ready replicas"}}))).await;

    let (tx, updates) = unbounded_channel();
    let sessions = SessionSet::start(
        &clients,
        &selected,
        SessionOptions {
            retry_min: Duration::from_millis(200),
            retry_max: Duration::from_secs(2),
            ..SessionOptions::default()
        },
        tx,
    )
    .unwrap();
    let (results_tx, results) = unbounded_channel();
    let (object_tx, object_events) = unbounded_channel();
    let mut h = Harness {
        app: App::new(
            Settings::default(),
            Keymap::builtin_default(),
            Theme::builtin_default(),
            &selected,
            ViewKind::All,
        ),
        clients: clients.clone(),
        updates,
        results,
        results_tx,
        object_events,
        object_tx,
        watch: None,
        contexts: selected.clone(),
    };
    h.app
        .update(Event::Tick(jiff::Timestamp::now().as_second()));
    h.until("every context live with 8 rows", |app| {
        app.contexts.states.iter().all(|(_, s)| s.is_live()) && app.store.len() == 8
    })
    .await;
    let counts = h.app.store.counts();
    assert_eq!(
        (counts.failing, counts.suspended, counts.progressing),
        (2, 1, 1),
        "{counts:?}"
    );
    assert_eq!(h.health("production", "legacy"), Some(Health::Ready));

    // A change in any cluster shows up.
    let dev_ks = api(&clients, "dev", "Kustomization", "v1", "flux-system").await;
    dev_ks
        .patch_status("apps", &PatchParams::default(), &Patch::Merge(json!({"status": ready("False", "HealthCheckFailed", "timeout waiting for Deployment/podinfo")})))
        .await
        .unwrap();
    h.until("dev/apps failing", |app| {
        app.store
            .rows()
            .any(|r| r.context == "dev" && r.name == "apps" && r.health == Health::Failing)
    })
    .await;

    // Resume the suspended staging Kustomization: spec.suspend is removed.
    h.select("staging", "apps");
    h.keys("ry");
    h.until("resume done", |app| {
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("resume") && f.text.contains("done"))
    })
    .await;
    let obj = get(&clients, "staging", "Kustomization", "flux-system", "apps")
        .await
        .unwrap();
    assert!(
        obj["spec"].get("suspend").is_none_or(|v| v == false),
        "{obj}"
    );
    h.until("staging/apps no longer suspended", |app| {
        app.store
            .rows()
            .any(|r| r.context == "staging" && r.name == "apps" && !r.suspended)
    })
    .await;

    // Reconcile dev/apps: requestedAt lands; the row shows progress until lastHandledReconcileAt catches up.
    h.select("dev", "apps");
    h.keys("Ry");
    let key = h.app.selected_key().unwrap();
    assert!(h.app.pending.contains_key(&key));
    h.until("reconcile done", |app| {
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("reconcile") && f.text.contains("done"))
    })
    .await;
    let obj = get(&clients, "dev", "Kustomization", "flux-system", "apps")
        .await
        .unwrap();
    let token = obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(h.app.pending.contains_key(&key));
    let mut t = Terminal::new(TestBackend::new(160, 14)).unwrap();
    t.draw(|f| view::render(&h.app, f)).unwrap();
    assert!(format!("{}", t.backend()).contains("⟳ reconcile requested"));
    // Play the controller: it records the token it handled.
    let mut status = ready(
        "True",
        "ReconciliationSucceeded",
        "Applied revision: main@sha1:1a2b3c4",
    );
    status["lastHandledReconcileAt"] = json!(token);
    dev_ks
        .patch_status(
            "apps",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();
    h.until("progress cleared", |app| !app.pending.contains_key(&key))
        .await;

    // Argo CD: sync writes an operation; pausing auto-sync keeps prune/selfHeal.
    h.select("production", "guestbook");
    h.keys("\x13y");
    h.until("sync done", |app| {
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("sync") && f.text.contains("done"))
    })
    .await;
    let obj = get(&clients, "production", "Application", "argocd", "guestbook")
        .await
        .unwrap();
    assert_eq!(
        obj["operation"]["initiatedBy"]["username"], "flotilla",
        "{obj}"
    );
    assert_eq!(
        obj["operation"]["sync"]["source"]["path"], "guestbook",
        "{obj}"
    );
    h.keys("sy");
    h.until("suspend done", |app| {
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.starts_with("suspend") && f.text.contains("done"))
    })
    .await;
    let obj = get(&clients, "production", "Application", "argocd", "guestbook")
        .await
        .unwrap();
    assert_eq!(
        obj["spec"]["syncPolicy"]["automated"],
        json!({"enabled": false, "prune": true, "selfHeal": true})
    );

    // Detail view: conditions and the object's Events.
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(clients.client("dev").await.unwrap(), "flux-system");
    events
        .create(&PostParams::default(), &serde_json::from_value(json!({
            "metadata": {"name": "infra.1", "namespace": "flux-system"},
            "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                               "namespace": "flux-system", "name": "infra"},
            "type": "Warning", "reason": "BuildFailed", "message": "kustomize build failed: accumulating resources",
            "count": 1, "lastTimestamp": "2026-01-01T00:00:00Z", "source": {"component": "kustomize-controller"}})).unwrap())
        .await
        .unwrap();
    h.select("dev", "infra");
    h.keys("\n");
    h.until("detail loaded", |app| matches!(&app.focus, flotilla::tui::Focus::Detail(d)
        if matches!(d.events, flotilla::tui::detail::Loaded::Ready(_)) && matches!(d.object, flotilla::tui::detail::Loaded::Ready(_)))).await;
    let mut t = Terminal::new(TestBackend::new(140, 24)).unwrap();
    t.draw(|f| view::render(&h.app, f)).unwrap();
    let s = format!("{}", t.backend());
    assert!(
        s.contains("BuildFailed") && s.contains("kustomize build failed") && s.contains("./deploy"),
        "{s}"
    );
    h.keys("\x1b");

    // :events watches every context and lists the Event.
    h.keys(":events\n");
    h.until("the Event in :events", |app| {
        app.events
            .items
            .iter()
            .any(|e| e.name == "infra" && e.context == "dev")
    })
    .await;
    h.keys("\x1b");

    // Delete with confirmation: the object and its row go.
    h.select("dev", "infra");
    h.keys("\x04y");
    h.until("dev/infra gone", |app| {
        !app.store
            .rows()
            .any(|r| r.context == "dev" && r.name == "infra")
    })
    .await;
    assert!(
        get(&clients, "dev", "Kustomization", "flux-system", "infra")
            .await
            .is_none()
    );

    // production dies: only its rows go stale; the others stay live.
    second.shutdown().await;
    h.until("production stale", |app| {
        matches!(
            app.contexts.state("production"),
            Some(ContextState::Stale { .. })
        )
    })
    .await;
    assert!(
        h.app
            .contexts
            .state("dev")
            .is_some_and(ContextState::is_live)
    );
    assert!(
        h.app
            .contexts
            .state("staging")
            .is_some_and(ContextState::is_live)
    );
    assert_eq!(h.app.store.rows_in("production").count(), 3);
    let mut t = Terminal::new(TestBackend::new(140, 14)).unwrap();
    t.draw(|f| view::render(&h.app, f)).unwrap();
    let s = format!("{}", t.backend());
    assert!(s.contains("production:stale"), "{s}");
    sessions.shutdown().await;
    first.shutdown().await;
}
