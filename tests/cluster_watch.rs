//! The watch layer against the real embedded API server over TCP: three clusters in two kubeconfig
//! files, seeded through kube::Client, watched by SessionSet. The checks that need no embedded-only
//! fault hook also run against three real kube-apiservers with the upstream CRDs (module `real`).

use flotilla::apiserver::{Cluster, ClusterOptions, Server, ServerOptions};
use flotilla::cluster::clients::api_resource;
use flotilla::cluster::{
    Clients, ContextState, Contexts, KubeconfigSource, SessionOptions, SessionSet, Store, Update,
};
use flotilla::model::lookup;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

const WAIT: Duration = Duration::from_secs(90);

struct Env {
    /// dev + staging.
    first: Option<Server>,
    /// production.
    second: Option<Server>,
    dir: tempfile::TempDir,
    files: Vec<PathBuf>,
    clients: Clients,
    /// dev, staging, production as real kube-apiservers (instead of `first`/`second`).
    _real: Vec<crate::common::real_kube::RealCluster>,
}

/// The same three contexts in the same two files, each a real kube-apiserver with the upstream
/// Flux and Argo CD CRDs.
async fn real_env() -> Env {
    use crate::common::real_kube::{RealCluster, write_combined_kubeconfig};
    let (dev, staging, production) = tokio::join!(
        RealCluster::start("dev"),
        RealCluster::start("staging"),
        RealCluster::start("production")
    );
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    write_combined_kubeconfig(&a, &[&dev, &staging]);
    write_combined_kubeconfig(&b, &[&production]);
    let files = vec![a, b];
    let contexts = Contexts::load(&KubeconfigSource::List(files.clone())).unwrap();
    Env {
        first: None,
        second: None,
        dir,
        files,
        clients: Clients::new(contexts),
        _real: vec![dev, staging, production],
    }
}

fn options(builtin_crds: bool, extra_crds: Vec<Value>) -> ClusterOptions {
    ClusterOptions {
        simulate: false,
        builtin_crds,
        extra_crds,
        ..ClusterOptions::default()
    }
}

async fn env(cluster: ClusterOptions) -> Env {
    let first = Server::start(ServerOptions {
        clusters: vec!["dev".into(), "staging".into()],
        cluster: cluster.clone(),
        ..ServerOptions::default()
    })
    .await
    .unwrap();
    let second = Server::start(ServerOptions {
        clusters: vec!["production".into()],
        cluster,
        ..ServerOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    first.write_kubeconfig(&a).unwrap();
    second.write_kubeconfig(&b).unwrap();
    let files = vec![a, b];
    let contexts = Contexts::load(&KubeconfigSource::List(files.clone())).unwrap();
    Env {
        first: Some(first),
        second: Some(second),
        dir,
        files,
        clients: Clients::new(contexts),
        _real: Vec::new(),
    }
}

impl Env {
    fn cluster(&self, name: &str) -> Cluster {
        [&self.first, &self.second]
            .into_iter()
            .flatten()
            .flat_map(|s| s.clusters())
            .find(|c| c.cluster.name() == name)
            .map(|c| c.cluster.clone())
            .unwrap()
    }

    async fn api(&self, context: &str, kind: &str, ns: &str) -> Api<DynamicObject> {
        let info = lookup(kind).unwrap();
        let ar = api_resource(info, info.preferred_version());
        Api::namespaced_with(self.clients.client(context).await.unwrap(), ns, &ar)
    }

    async fn create(&self, context: &str, obj: Value) {
        let kind = obj["kind"].as_str().unwrap().to_string();
        let ns = obj["metadata"]["namespace"].as_str().unwrap().to_string();
        let o: DynamicObject = serde_json::from_value(obj).unwrap();
        self.api(context, &kind, &ns)
            .await
            .create(&PostParams::default(), &o)
            .await
            .unwrap();
    }

    async fn create_namespace(&self, context: &str, name: &str) {
        let api: Api<k8s_openapi::api::core::v1::Namespace> =
            Api::all(self.clients.client(context).await.unwrap());
        let ns = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        api.create(&PostParams::default(), &ns).await.unwrap();
    }
}

fn ks(name: &str, ns: &str) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"interval": "10m", "path": "./deploy", "prune": true,
                 "sourceRef": {"kind": "GitRepository", "name": "repo"}}
    })
}

fn git(name: &str, ns: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"interval": "1m", "url": "https://example.com/repo.git", "ref": {"branch": "main"}}
    })
}

fn app(name: &str, ns: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"project": "default",
                 "source": {"repoURL": "https://example.com/apps.git", "path": "guestbook", "targetRevision": "HEAD"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"}}
    })
}

fn test_options() -> SessionOptions {
    SessionOptions {
        retry_min: Duration::from_millis(200),
        retry_max: Duration::from_secs(2),
        rediscover_every: Duration::from_secs(2),
        ..SessionOptions::default()
    }
}

/// Applies updates to a Store and remembers states, kinds and which kinds of update arrived.
struct Collector {
    rx: UnboundedReceiver<Update>,
    store: Store,
    states: BTreeMap<String, ContextState>,
    history: Vec<(String, ContextState)>,
    kinds: BTreeMap<String, Vec<(String, String)>>,
    upserts: Vec<(String, String)>,
    removes: Vec<(String, String)>,
}

impl Collector {
    fn new(rx: UnboundedReceiver<Update>) -> Collector {
        Collector {
            rx,
            store: Store::default(),
            states: BTreeMap::new(),
            history: Vec::new(),
            kinds: BTreeMap::new(),
            upserts: Vec::new(),
            removes: Vec::new(),
        }
    }

    fn apply(&mut self, u: Update) {
        match &u {
            Update::Context { context, state } => {
                self.states.insert(context.clone(), state.clone());
                self.history.push((context.clone(), state.clone()));
            }
            Update::Kinds { context, kinds } => {
                self.kinds.insert(
                    context.clone(),
                    kinds
                        .iter()
                        .map(|(k, v)| (k.kind.to_string(), v.clone()))
                        .collect(),
                );
            }
            Update::Upsert(row) => self.upserts.push((row.context.clone(), row.name.clone())),
            Update::Remove(key) => self.removes.push((key.context.clone(), key.name.clone())),
            Update::Resync { .. } => {}
        }
        self.store.apply(u);
    }

    async fn until(&mut self, what: &str, cond: impl Fn(&Collector) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !cond(self) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(u)) => self.apply(u),
                Ok(None) => panic!("update channel closed while waiting for {what}"),
                Err(_) => panic!(
                    "timed out waiting for {what}; states {:?}; rows {:?}",
                    self.states,
                    self.names()
                ),
            }
        }
    }

    fn state(&self, context: &str) -> Option<&ContextState> {
        self.states.get(context)
    }

    fn live(&self, context: &str) -> bool {
        self.state(context) == Some(&ContextState::Live)
    }

    fn has(&self, context: &str, kind: &str, name: &str) -> bool {
        self.store
            .rows()
            .any(|r| r.context == context && r.kind.kind == kind && r.name == name)
    }

    fn names(&self) -> Vec<String> {
        self.store
            .rows()
            .map(|r| format!("{}/{}/{}/{}", r.context, r.kind.kind, r.namespace, r.name))
            .collect()
    }

    fn names_in(&self, context: &str) -> Vec<String> {
        self.store
            .rows_in(context)
            .map(|r| format!("{}/{}/{}", r.kind.kind, r.namespace, r.name))
            .collect()
    }
}

fn start(env: &Env, contexts: &[&str], opts: SessionOptions) -> (SessionSet, Collector) {
    let (tx, rx) = unbounded_channel();
    let names: Vec<String> = contexts.iter().map(|s| s.to_string()).collect();
    let set = SessionSet::start(&env.clients, &names, opts, tx).unwrap();
    (set, Collector::new(rx))
}

async fn seed(env: &Env) {
    env.create("dev", ks("apps", "default")).await;
    env.create("dev", git("repo", "default")).await;
    env.create("staging", app("guestbook", "default")).await;
    env.create("staging", ks("infra", "default")).await;
    env.create("production", ks("apps", "default")).await;
    env.create("production", git("repo", "default")).await;
}

const ALL: &[&str] = &["dev", "staging", "production"];

#[tokio::test]
async fn contexts_merge_go_live_and_follow_changes() {
    contexts_merge_go_live_and_follow_changes_on(env(options(true, Vec::new())).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_contexts_merge_go_live_and_follow_changes() {
    crate::require_real_kube!();
    contexts_merge_go_live_and_follow_changes_on(real_env().await).await
}

async fn contexts_merge_go_live_and_follow_changes_on(env: Env) {
    let contexts = env.clients.contexts();
    assert_eq!(contexts.names(), vec!["dev", "staging", "production"]);
    assert_eq!(contexts.current(), Some("dev"));
    assert_eq!(contexts.files(), env.files.as_slice());
    assert_eq!(contexts.select(&[]).unwrap().len(), 3);
    seed(&env).await;

    let (set, mut c) = start(&env, ALL, test_options());
    c.until("all live with seeded rows", |c| {
        ALL.iter().all(|ctx| c.live(ctx))
            && c.has("dev", "Kustomization", "apps")
            && c.has("dev", "GitRepository", "repo")
            && c.has("staging", "Application", "guestbook")
            && c.has("staging", "Kustomization", "infra")
            && c.has("production", "Kustomization", "apps")
            && c.has("production", "GitRepository", "repo")
    })
    .await;
    assert_eq!(c.store.len(), 6, "{:?}", c.names());
    // Discovery picked the newest registry version of every preinstalled kind.
    let dev_kinds = &c.kinds["dev"];
    assert!(dev_kinds.contains(&("Kustomization".into(), "v1".into())));
    assert!(dev_kinds.contains(&("HelmRelease".into(), "v2".into())));
    assert!(dev_kinds.contains(&("Application".into(), "v1alpha1".into())));
    assert_eq!(dev_kinds.len(), flotilla::model::KINDS.len());
    assert_eq!(
        env.clients
            .served_version("production", "Kustomization")
            .as_deref(),
        Some("v1")
    );

    // A change in any cluster arrives as an Upsert.
    env.api("staging", "Kustomization", "default")
        .await
        .patch(
            "infra",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await
        .unwrap();
    env.create("production", app("new-app", "default")).await;
    c.until("upserts from staging and production", |c| {
        c.store
            .rows_in("staging")
            .any(|r| r.name == "infra" && r.suspended)
            && c.has("production", "Application", "new-app")
    })
    .await;
    assert!(c.upserts.contains(&("staging".into(), "infra".into())));
    assert!(c.upserts.contains(&("production".into(), "new-app".into())));

    // A delete arrives as a Remove.
    env.api("dev", "GitRepository", "default")
        .await
        .delete("repo", &DeleteParams::default())
        .await
        .unwrap();
    c.until("removal", |c| !c.has("dev", "GitRepository", "repo"))
        .await;
    assert!(c.removes.contains(&("dev".into(), "repo".into())));
    assert!(c.has("production", "GitRepository", "repo"));
    let counts = c.store.counts_by_context();
    // The suspended Kustomization, and the Application without auto-sync (manual sync only).
    assert_eq!(counts["staging"].suspended, 2);
    assert_eq!(counts["dev"].total, 1, "{:?}", c.names_in("dev"));
    set.shutdown().await;
}

/// A TCP forwarder in front of a cluster; `kill` drops the listener and every open connection, the way
/// a crashed server or a network cut looks to a client.
struct Proxy {
    port: u16,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> =
            Default::default();
        let inner = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
                inner.lock().unwrap().push(task);
            }
        });
        tasks.lock().unwrap().push(accept);
        Proxy { port, tasks }
    }

    fn kill(&self) {
        for t in self.tasks.lock().unwrap().iter() {
            t.abort();
        }
    }
}

#[tokio::test]
async fn a_dead_server_goes_stale_keeping_rows_while_others_stay_live() {
    let env = env(options(true, Vec::new())).await;
    seed(&env).await;
    // production is reached through a proxy that can be killed.
    let production = env.second.as_ref().unwrap().clusters()[0].addr;
    let proxy = Proxy::start(production).await;
    let mut kc = env.clients.contexts().kubeconfig().clone();
    for cluster in &mut kc.clusters {
        if cluster.name == "production"
            && let Some(c) = cluster.cluster.as_mut()
            && let Some(server) = c.server.as_mut()
        {
            *server = server.replace(
                &production.to_string(),
                &format!("127.0.0.1:{}", proxy.port),
            );
        }
    }
    let clients = Clients::new(Contexts::from_kubeconfig(kc));
    let (tx, rx) = unbounded_channel();
    let names: Vec<String> = ALL.iter().map(|s| s.to_string()).collect();
    let set = SessionSet::start(&clients, &names, test_options(), tx).unwrap();
    let mut c = Collector::new(rx);
    c.until("all live", |c| {
        ALL.iter().all(|ctx| c.live(ctx)) && c.store.rows_in("production").count() == 2
    })
    .await;
    proxy.kill();
    c.until("production stale", |c| {
        matches!(c.state("production"), Some(ContextState::Stale { .. }))
    })
    .await;
    // Rows are kept (the console dims them).
    assert_eq!(
        c.names_in("production"),
        vec!["GitRepository/default/repo", "Kustomization/default/apps"]
    );
    // The others are still live and still follow changes.
    env.create("dev", app("after", "default")).await;
    c.until("dev upsert after the outage", |c| {
        c.has("dev", "Application", "after")
    })
    .await;
    assert!(c.live("dev") && c.live("staging"));
    assert!(
        c.history
            .iter()
            .filter(|(ctx, _)| ctx != "production")
            .all(|(_, s)| matches!(s, ContextState::Connecting | ContextState::Live)),
        "{:?}",
        c.history
    );
    if let Some(ContextState::Stale { since, message }) = c.state("production") {
        assert!(*since > 0);
        assert!(!message.is_empty());
    }
    assert_eq!(c.store.rows_in("production").count(), 2);
    set.shutdown().await;
}

#[tokio::test]
async fn a_closed_port_is_unreachable_without_blocking_the_others() {
    let env = env(options(true, Vec::new())).await;
    seed(&env).await;
    // A third kubeconfig file with a context whose server port is closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = env.dir.path().join("dead.yaml");
    std::fs::write(
        &dead,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster:\n    server: http://127.0.0.1:{port}\nusers:\n- name: dead\n  user:\n    token: x\ncontexts:\n- name: dead\n  context:\n    cluster: dead\n    user: dead\n"
        ),
    )
    .unwrap();
    let mut files = env.files.clone();
    files.push(dead);
    let clients = Clients::new(Contexts::load(&KubeconfigSource::List(files)).unwrap());
    let (tx, rx) = unbounded_channel();
    let names: Vec<String> = ["dead", "dev", "staging", "production"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let set = SessionSet::start(&clients, &names, test_options(), tx).unwrap();
    let mut c = Collector::new(rx);
    c.until("others live, dead unreachable", |c| {
        ALL.iter().all(|ctx| c.live(ctx))
            && matches!(c.state("dead"), Some(ContextState::Unreachable { .. }))
            && c.store.len() == 6
    })
    .await;
    assert_eq!(c.store.rows_in("dead").count(), 0);
    // It keeps retrying without ever claiming to be live.
    tokio::time::sleep(Duration::from_secs(1)).await;
    while let Ok(u) = c.rx.try_recv() {
        c.apply(u);
    }
    assert!(matches!(
        c.state("dead"),
        Some(ContextState::Unreachable { .. })
    ));
    // Fetching from it fails with an error naming the context.
    let e = clients
        .fetch_object("dead", "Kustomization", "default", "x")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("dead"), "{e}");
    set.shutdown().await;
}

#[tokio::test]
async fn forbidden_is_shown_as_such_and_recovers() {
    let env = env(options(true, Vec::new())).await;
    seed(&env).await;
    env.cluster("staging")
        .faults()
        .fail_next(1_000_000, 403, None);
    let (set, mut c) = start(&env, ALL, test_options());
    c.until("staging forbidden, others live", |c| {
        matches!(c.state("staging"), Some(ContextState::Forbidden { .. }))
            && c.live("dev")
            && c.live("production")
    })
    .await;
    assert_eq!(c.store.rows_in("staging").count(), 0);
    if let Some(ContextState::Forbidden { message }) = c.state("staging") {
        assert!(message.contains("403"), "{message}");
    }
    // RBAC fixed: the session recovers on its own.
    env.cluster("staging").faults().fail_next(0, 403, None);
    c.until("staging live", |c| {
        c.live("staging") && c.has("staging", "Application", "guestbook")
    })
    .await;
    set.shutdown().await;
}

#[tokio::test]
async fn a_wrong_token_is_forbidden_not_empty() {
    let env = env(options(true, Vec::new())).await;
    let mut kc = env.clients.contexts().kubeconfig().clone();
    for user in &mut kc.auth_infos {
        if let Some(info) = user.auth_info.as_mut() {
            info.token = Some("wrong".to_string().into());
        }
    }
    // The token also rides in the server path; drop it there.
    for cluster in &mut kc.clusters {
        if let Some(c) = cluster.cluster.as_mut()
            && let Some(server) = c.server.as_mut()
            && let Some(i) = server.find("/flotilla-token/")
        {
            server.truncate(i);
        }
    }
    let clients = Clients::new(Contexts::from_kubeconfig(kc));
    let (tx, rx) = unbounded_channel();
    let set = SessionSet::start(&clients, &["dev".to_string()], test_options(), tx).unwrap();
    let mut c = Collector::new(rx);
    c.until("dev forbidden", |c| {
        matches!(c.state("dev"), Some(ContextState::Forbidden { message }) if message.contains("unauthorized"))
    })
    .await;
    set.shutdown().await;
}

#[tokio::test]
async fn watch_faults_recover_with_the_right_rows() {
    let env = env(options(true, Vec::new())).await;
    seed(&env).await;
    let (set, mut c) = start(&env, &["dev"], test_options());
    c.until("dev live", |c| c.live("dev") && c.store.len() == 2)
        .await;
    let faults = env.cluster("dev").faults();

    // Watches closed: resumed from the last resourceVersion, changes still arrive.
    faults.close_watches();
    env.create("dev", ks("after-close", "default")).await;
    c.until("row after close_watches", |c| {
        c.has("dev", "Kustomization", "after-close")
    })
    .await;

    // History compacted: ERROR 410 → re-list; changes made meanwhile are there.
    faults.compact_history();
    faults.close_watches();
    env.create("dev", ks("after-compact", "default")).await;
    env.api("dev", "Kustomization", "default")
        .await
        .delete("after-close", &DeleteParams::default())
        .await
        .unwrap();
    c.until("rows after compaction", |c| {
        c.has("dev", "Kustomization", "after-compact")
            && !c.has("dev", "Kustomization", "after-close")
    })
    .await;

    // Five 500s on whatever comes next (watch restarts, re-lists, discovery).
    env.api("dev", "Kustomization", "default")
        .await
        .delete("apps", &DeleteParams::default())
        .await
        .unwrap();
    faults.fail_next(5, 500, None);
    faults.close_watches();
    c.until("the 500s are consumed", |c| {
        !c.has("dev", "Kustomization", "apps")
    })
    .await;
    // The write below may itself meet an injected 500 if some are left: retry it.
    let mut created = false;
    for _ in 0..10 {
        let o: DynamicObject = serde_json::from_value(ks("after-500", "default")).unwrap();
        if env
            .api("dev", "Kustomization", "default")
            .await
            .create(&PostParams::default(), &o)
            .await
            .is_ok()
        {
            created = true;
            break;
        }
    }
    assert!(created);
    let expected = |c: &Collector| {
        c.live("dev")
            && c.names_in("dev")
                == vec![
                    "GitRepository/default/repo",
                    "Kustomization/default/after-500",
                    "Kustomization/default/after-compact",
                ]
    };
    c.until("final rows after 500s", expected).await;
    set.shutdown().await;
}

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

#[tokio::test]
async fn real_upstream_crds_are_discovered_and_watched() {
    let crds = upstream_crds();
    assert!(crds.len() >= 17);
    real_upstream_crds_are_discovered_and_watched_on(env(options(false, crds)).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_server_upstream_crds_are_discovered_and_watched() {
    crate::require_real_kube!();
    real_upstream_crds_are_discovered_and_watched_on(real_env().await).await
}

async fn real_upstream_crds_are_discovered_and_watched_on(env: Env) {
    seed(&env).await;
    let (set, mut c) = start(&env, ALL, test_options());
    c.until("all live with rows", |c| {
        ALL.iter().all(|ctx| c.live(ctx)) && c.store.len() == 6
    })
    .await;
    let kinds = &c.kinds["staging"];
    for expected in [
        ("Kustomization", "v1"),
        ("GitRepository", "v1"),
        ("HelmRelease", "v2"),
        ("Application", "v1alpha1"),
        ("ApplicationSet", "v1alpha1"),
        ("Alert", "v1beta3"),
    ] {
        assert!(
            kinds.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} not in {kinds:?}"
        );
    }
    let guestbook = c
        .store
        .rows_in("staging")
        .find(|r| r.name == "guestbook")
        .unwrap();
    assert_eq!(guestbook.version, "v1alpha1");
    set.shutdown().await;
}

#[tokio::test]
async fn namespace_restriction_and_crds_installed_later() {
    // No CRDs at first: discovery finds nothing, the context is live with no kinds.
    let env = env(options(false, Vec::new())).await;
    let (set, mut c) = start(
        &env,
        &["dev"],
        SessionOptions {
            namespace: Some("team-a".into()),
            ..test_options()
        },
    );
    c.until("dev live without kinds", |c| {
        c.live("dev") && c.kinds.get("dev").is_some_and(Vec::is_empty)
    })
    .await;
    // Install the Kustomization CRD: rediscovery picks it up.
    let crd = upstream_crds()
        .into_iter()
        .find(|c| c["metadata"]["name"] == "kustomizations.kustomize.toolkit.fluxcd.io")
        .unwrap();
    let crd_api: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(env.clients.client("dev").await.unwrap());
    crd_api
        .create(
            &PostParams::default(),
            &serde_json::from_value(crd).unwrap(),
        )
        .await
        .unwrap();
    env.create_namespace("dev", "team-a").await;
    env.create("dev", ks("mine", "team-a")).await;
    env.create("dev", ks("theirs", "default")).await;
    c.until("kustomization kind discovered and listed", |c| {
        c.kinds
            .get("dev")
            .is_some_and(|k| k.contains(&("Kustomization".into(), "v1".into())))
            && c.live("dev")
            && c.has("dev", "Kustomization", "mine")
    })
    .await;
    // Only the namespace asked for.
    assert!(!c.has("dev", "Kustomization", "theirs"));
    set.shutdown().await;
}

#[tokio::test]
async fn a_hung_server_times_out_without_blocking_the_others() {
    let env = env(options(true, Vec::new())).await;
    seed(&env).await;
    env.cluster("staging")
        .faults()
        .set_latency(Duration::from_secs(3600));
    let clients = Clients::with_timeouts(
        env.clients.contexts().clone(),
        flotilla::cluster::Timeouts {
            connect: Duration::from_secs(1),
            request: Duration::from_secs(1),
        },
    );
    let (tx, rx) = unbounded_channel();
    let names: Vec<String> = ALL.iter().map(|s| s.to_string()).collect();
    let set = SessionSet::start(&clients, &names, test_options(), tx).unwrap();
    let mut c = Collector::new(rx);
    c.until("dev and production live, staging unreachable", |c| {
        c.live("dev")
            && c.live("production")
            && matches!(c.state("staging"), Some(ContextState::Unreachable { message }) if message.contains("no answer"))
            && c.store.len() == 4
    })
    .await;
    let e = clients
        .fetch_object("staging", "Application", "default", "guestbook")
        .await
        .unwrap_err();
    assert!(
        matches!(e, flotilla::cluster::ClusterError::Timeout { .. }),
        "{e}"
    );
    set.shutdown().await;
}
