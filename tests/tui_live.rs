//! Real `Update`s from a SessionSet watching the embedded server, fed into `App::update`: the context
//! goes live and a Kustomization created in the cluster appears in the console's table and header.

use flotilla::apiserver::{ClusterOptions, Server, ServerOptions};
use flotilla::cluster::clients::api_resource;
use flotilla::cluster::{
    Clients, ContextState, Contexts, KubeconfigSource, SessionOptions, SessionSet,
};
use flotilla::model::lookup;
use flotilla::tui::{App, Event, Keymap, Settings, Theme, ViewKind, view};
use kube::api::{Api, DynamicObject, PostParams};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc::unbounded_channel;

/// Generous bound for "soon" (not a speed assertion).
const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_updates_reach_the_console_state() {
    let server = Server::start(ServerOptions {
        clusters: vec!["dev".into()],
        cluster: ClusterOptions {
            simulate: false,
            ..ClusterOptions::default()
        },
        ..ServerOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kc).unwrap();
    let contexts = Contexts::load(&KubeconfigSource::Explicit(kc)).unwrap();
    let selected = contexts.select(&[]).unwrap();
    let clients = Clients::new(contexts);
    let (tx, mut rx) = unbounded_channel();
    let sessions = SessionSet::start(&clients, &selected, SessionOptions::default(), tx).unwrap();
    let mut app = App::new(
        Settings::default(),
        Keymap::builtin_default(),
        Theme::builtin_default(),
        &selected,
        ViewKind::All,
    );

    let ns: Api<k8s_openapi::api::core::v1::Namespace> =
        Api::all(clients.client("dev").await.unwrap());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "flux-system"}})).unwrap(),
    )
    .await
    .unwrap();
    let info = lookup("ks").unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(
        clients.client("dev").await.unwrap(),
        "flux-system",
        &api_resource(info, info.preferred_version()),
    );
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "spec": {"interval": "10m", "path": "./deploy", "prune": true,
                 "sourceRef": {"kind": "GitRepository", "name": "repo"}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap();

    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let live = app.contexts.state("dev") == Some(&ContextState::Live);
        if live && app.visible_rows().iter().any(|r| r.name == "podinfo") {
            break;
        }
        let update = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the row and the live state arrive")
            .expect("sessions keep the channel open");
        app.update(Event::Cluster(update));
    }
    let mut term = Terminal::new(TestBackend::new(100, 10)).unwrap();
    term.draw(|f| view::render(&app, f)).unwrap();
    let screen = format!("{}", term.backend());
    assert!(screen.contains("dev:live"), "{screen}");
    assert!(screen.contains("podinfo"), "{screen}");
    assert!(screen.contains("Kustomization"), "{screen}");
    sessions.shutdown().await;
}
