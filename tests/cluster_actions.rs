//! Action patches, on-demand fetches and Events against the embedded server over TCP, with the real
//! upstream Flux and Argo CD CRDs installed; each check also runs against a real kube-apiserver
//! (module `real`, skipped with a printed reason when its binaries are absent).

use flotilla::apiserver::{ClusterOptions, Server, ServerOptions};
use flotilla::cluster::clients::api_resource;
use flotilla::cluster::{Action, Clients, ClusterError, Contexts, KubeconfigSource};
use flotilla::model::RowKey;
use flotilla::model::lookup;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};
use std::path::PathBuf;

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

struct Env {
    _server: Option<Server>,
    _real: Option<crate::common::real_kube::RealCluster>,
    _dir: tempfile::TempDir,
    clients: Clients,
}

/// A real kube-apiserver (upstream CRDs installed by the harness) as context `dev`, seeded like
/// [`env`].
async fn real_env() -> Env {
    let real = crate::common::real_kube::RealCluster::start("dev").await;
    let dir = tempfile::tempdir().unwrap();
    let contexts = Contexts::load(&KubeconfigSource::Explicit(real.kubeconfig.clone())).unwrap();
    let env = Env {
        _server: None,
        _real: Some(real),
        _dir: dir,
        clients: Clients::new(contexts),
    };
    seed(env).await
}

async fn env() -> Env {
    let server = Server::start(ServerOptions {
        clusters: vec!["dev".into()],
        cluster: ClusterOptions {
            simulate: false,
            extra_crds: upstream_crds(),
            ..ClusterOptions::default()
        },
        ..ServerOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path).unwrap();
    let contexts = Contexts::load(&KubeconfigSource::Explicit(path)).unwrap();
    let env = Env {
        _server: Some(server),
        _real: None,
        _dir: dir,
        clients: Clients::new(contexts),
    };
    seed(env).await
}

async fn seed(env: Env) -> Env {
    for obj in [
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"name": "repo", "namespace": "default"},
               "spec": {"interval": "1m", "url": "https://example.com/repo.git", "ref": {"branch": "main"}}}),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": {"name": "apps", "namespace": "default"},
               "spec": {"interval": "10m", "path": "./apps", "prune": true,
                        "sourceRef": {"kind": "GitRepository", "name": "repo"}}}),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
               "metadata": {"name": "podinfo", "namespace": "default"},
               "spec": {"interval": "1h", "url": "https://stefanprodan.github.io/podinfo"}}),
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "podinfo", "namespace": "default"},
               "spec": {"interval": "5m", "chart": {"spec": {"chart": "podinfo",
                        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}}}),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
               "metadata": {"name": "guestbook", "namespace": "default"},
               "spec": {"project": "default",
                        "source": {"repoURL": "https://example.com/apps.git", "path": "guestbook", "targetRevision": "HEAD"},
                        "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
                        "syncPolicy": {"automated": {"prune": true, "selfHeal": true},
                                       "syncOptions": ["CreateNamespace=true"],
                                       "retry": {"limit": 3}}}}),
    ] {
        env.create(obj).await;
    }
    env
}

impl Env {
    async fn create(&self, obj: Value) {
        let kind = obj["kind"].as_str().unwrap().to_string();
        let info = lookup(&kind).unwrap();
        let version = obj["apiVersion"]
            .as_str()
            .unwrap()
            .rsplit_once('/')
            .unwrap()
            .1
            .to_string();
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.clients.client("dev").await.unwrap(),
            "default",
            &api_resource(info, &version),
        );
        let o: DynamicObject = serde_json::from_value(obj).unwrap();
        api.create(&PostParams::default(), &o).await.unwrap();
    }

    async fn get(&self, kind: &str, name: &str) -> Value {
        self.clients
            .fetch_object("dev", kind, "default", name)
            .await
            .unwrap()
    }

    async fn act(
        &self,
        kind: &'static str,
        name: &str,
        action: Action,
    ) -> Result<(), ClusterError> {
        let key = RowKey {
            context: "dev".into(),
            kind,
            namespace: "default".into(),
            name: name.into(),
        };
        self.clients.apply_action(&key, &action).await
    }
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["annotations"][key].as_str()
}

async fn flux_suspend_resume_and_reconcile_land(env: Env) {
    env.act("Kustomization", "apps", Action::Suspend)
        .await
        .unwrap();
    assert_eq!(
        env.get("Kustomization", "apps").await["spec"]["suspend"],
        true
    );
    // Reconciling a suspended object is refused, and nothing is written.
    let e = env
        .act("Kustomization", "apps", Action::Reconcile)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("resource is suspended"), "{e}");
    assert_eq!(
        annotation(
            &env.get("Kustomization", "apps").await,
            "reconcile.fluxcd.io/requestedAt"
        ),
        None
    );
    env.act("Kustomization", "apps", Action::Resume)
        .await
        .unwrap();
    let ks = env.get("Kustomization", "apps").await;
    assert!(ks["spec"].get("suspend").is_none(), "{}", ks["spec"]);
    // The rest of the spec is untouched.
    assert_eq!(ks["spec"]["path"], "./apps");

    env.act("Kustomization", "apps", Action::Reconcile)
        .await
        .unwrap();
    let token = annotation(
        &env.get("Kustomization", "apps").await,
        "reconcile.fluxcd.io/requestedAt",
    )
    .unwrap()
    .to_string();
    assert!(token.parse::<jiff::Timestamp>().is_ok(), "{token}");
}

async fn reconcile_with_source_and_helm_force_land(env: Env) {
    env.act("Kustomization", "apps", Action::ReconcileWithSource)
        .await
        .unwrap();
    let source = env.get("GitRepository", "repo").await;
    let ks = env.get("Kustomization", "apps").await;
    let key = "reconcile.fluxcd.io/requestedAt";
    assert!(annotation(&source, key).is_some());
    assert_eq!(annotation(&source, key), annotation(&ks, key));

    env.act("HelmRelease", "podinfo", Action::HelmForce)
        .await
        .unwrap();
    let hr = env.get("HelmRelease", "podinfo").await;
    assert!(annotation(&hr, key).is_some());
    assert_eq!(
        annotation(&hr, key),
        annotation(&hr, "reconcile.fluxcd.io/forceAt")
    );
    env.act("HelmRelease", "podinfo", Action::HelmReset)
        .await
        .unwrap();
    let hr = env.get("HelmRelease", "podinfo").await;
    assert_eq!(
        annotation(&hr, key),
        annotation(&hr, "reconcile.fluxcd.io/resetAt")
    );
    env.act("HelmRelease", "podinfo", Action::ReconcileWithSource)
        .await
        .unwrap();
    assert!(annotation(&env.get("HelmRepository", "podinfo").await, key).is_some());
    // Argo-only actions are refused on Flux objects.
    assert!(matches!(
        env.act("Kustomization", "apps", Action::HardRefresh).await,
        Err(ClusterError::Refused { .. })
    ));
}

async fn argo_refresh_sync_and_auto_sync_pause_land(env: Env) {
    env.act("Application", "guestbook", Action::HardRefresh)
        .await
        .unwrap();
    let a = env.get("Application", "guestbook").await;
    assert_eq!(annotation(&a, "argocd.argoproj.io/refresh"), Some("hard"));
    assert!(annotation(&a, "argocd.argoproj.io/refresh-timestamp").is_some());

    env.act("Application", "guestbook", Action::Sync { prune: true })
        .await
        .unwrap();
    let a = env.get("Application", "guestbook").await;
    assert_eq!(
        a["operation"],
        json!({
            "initiatedBy": {"username": "flotilla"},
            "retry": {"limit": 3},
            "sync": {
                "source": {"repoURL": "https://example.com/apps.git", "path": "guestbook", "targetRevision": "HEAD"},
                "prune": true,
                "syncOptions": ["CreateNamespace=true"]
            }
        })
    );
    // A second sync while the first is pending is refused.
    let e = env
        .act("Application", "guestbook", Action::Sync { prune: false })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already in progress"), "{e}");

    // Pausing auto-sync keeps prune/selfHeal/syncOptions/retry; resuming restores the block exactly.
    let before = a["spec"]["syncPolicy"].clone();
    env.act("Application", "guestbook", Action::Suspend)
        .await
        .unwrap();
    let paused = env.get("Application", "guestbook").await;
    assert_eq!(paused["spec"]["syncPolicy"]["automated"]["enabled"], false);
    assert_eq!(paused["spec"]["syncPolicy"]["automated"]["prune"], true);
    assert_eq!(paused["spec"]["syncPolicy"]["automated"]["selfHeal"], true);
    assert_eq!(
        paused["spec"]["syncPolicy"]["syncOptions"],
        before["syncOptions"]
    );
    assert_eq!(paused["spec"]["syncPolicy"]["retry"], before["retry"]);
    env.act("Application", "guestbook", Action::Resume)
        .await
        .unwrap();
    assert_eq!(
        env.get("Application", "guestbook").await["spec"]["syncPolicy"],
        before
    );
}

async fn fetch_object_and_events(env: Env) {
    let ks = env.get("Kustomization", "apps").await;
    assert_eq!(ks["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(ks["spec"]["sourceRef"]["name"], "repo");
    assert!(ks["metadata"]["uid"].as_str().is_some());
    // Missing object and unknown kind.
    let e = env
        .clients
        .fetch_object("dev", "Kustomization", "default", "nope")
        .await
        .unwrap_err();
    assert!(matches!(e, ClusterError::NotFound { .. }), "{e}");
    assert!(matches!(
        env.clients
            .fetch_object("dev", "ConfigMap", "default", "x")
            .await,
        Err(ClusterError::UnknownKind(_))
    ));
    assert!(matches!(
        env.clients
            .fetch_object("nope", "Kustomization", "default", "x")
            .await,
        Err(ClusterError::UnknownContext { .. })
    ));
    let missing = RowKey {
        context: "dev".into(),
        kind: "Kustomization",
        namespace: "default".into(),
        name: "nope".into(),
    };
    assert!(matches!(
        env.clients.apply_action(&missing, &Action::Suspend).await,
        Err(ClusterError::NotFound { .. })
    ));

    // Events about the Kustomization, not about others.
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(env.clients.client("dev").await.unwrap(), "default");
    for (name, kind, obj, reason, time) in [
        (
            "e2",
            "Kustomization",
            "apps",
            "ReconciliationSucceeded",
            "2026-01-01T00:00:20Z",
        ),
        (
            "e1",
            "Kustomization",
            "apps",
            "Progressing",
            "2026-01-01T00:00:10Z",
        ),
        (
            "e3",
            "GitRepository",
            "repo",
            "NewArtifact",
            "2026-01-01T00:00:30Z",
        ),
        (
            "e4",
            "Kustomization",
            "other",
            "Progressing",
            "2026-01-01T00:00:40Z",
        ),
    ] {
        let e = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {"kind": kind, "name": obj, "namespace": "default",
                               "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
            "reason": reason, "message": "m", "type": "Normal",
            "lastTimestamp": time, "firstTimestamp": time
        }))
        .unwrap();
        events.create(&PostParams::default(), &e).await.unwrap();
    }
    let got = env
        .clients
        .events_for("dev", "Kustomization", "default", "apps")
        .await
        .unwrap();
    let reasons: Vec<&str> = got.iter().map(|e| e["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, vec!["Progressing", "ReconciliationSucceeded"]);
}

/// Each check against the embedded server (module `embedded`) and a real kube-apiserver (`real`).
macro_rules! both_servers_env {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::env().await).await
                }
            )*
        }
        mod real {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::require_real_kube!();
                    super::$name(super::real_env().await).await
                }
            )*
        }
    };
}

both_servers_env!(
    flux_suspend_resume_and_reconcile_land,
    reconcile_with_source_and_helm_force_land,
    argo_refresh_sync_and_auto_sync_pause_land,
    fetch_object_and_events,
);
