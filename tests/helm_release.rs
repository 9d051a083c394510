//! Helm release storage and actions (issue 14, the release side): install, upgrade, rollback and
//! uninstall of a tiny chart written for these tests, stored as Helm's release Secrets, against the
//! embedded server and a real kube-apiserver (`both_servers!`), and interoperability with the real
//! helm CLI (`tests/tools/install-helm.sh`; skipped with a printed reason when absent).

use crate::common::{PATIENCE, TcpServer, TestCluster};
use flotilla::apiserver::ClusterOptions;
use flotilla::controllers::helmrelease::{ActionError, Helm, ReleaseOptions};
use flotilla::helm::release::Status;
use kube::Client;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm-release/tiny")
}

fn sim_options() -> ClusterOptions {
    ClusterOptions {
        simulate: true,
        rollout_delay: Duration::from_millis(100),
        ..ClusterOptions::default()
    }
}

fn opts(values: Value) -> ReleaseOptions {
    let mut o = ReleaseOptions::new("demo", "default");
    o.values = values.as_object().cloned().unwrap_or_default();
    o.wait = true;
    o.timeout = PATIENCE;
    o.poll = Duration::from_millis(100);
    o
}

async fn get(client: &Client, path: &str) -> Option<Value> {
    let req = http::Request::get(path).body(Vec::new()).unwrap();
    client.request::<Value>(req).await.ok()
}

async fn configmap(client: &Client, name: &str) -> Option<Value> {
    get(
        client,
        &format!("/api/v1/namespaces/default/configmaps/{name}"),
    )
    .await
}

async fn secret(client: &Client, name: &str) -> Option<Value> {
    get(
        client,
        &format!("/api/v1/namespaces/default/secrets/{name}"),
    )
    .await
}

async fn statuses(helm: &Helm) -> Vec<(u64, String)> {
    helm.history("demo")
        .await
        .unwrap()
        .iter()
        .map(|r| (r.version, r.info.status.as_str().to_string()))
        .collect()
}

fn st(v: &[(u64, &str)]) -> Vec<(u64, String)> {
    v.iter().map(|(n, s)| (*n, s.to_string())).collect()
}

async fn release_lifecycle(tc: TestCluster) {
    let client = tc.client().await;
    let helm = Helm::new(client.clone(), "default");

    // Install: objects carry Helm's marks, revision 1 is deployed, the hook ran.
    let v1 = helm.install(&chart(), &opts(json!({}))).await.unwrap();
    assert_eq!(v1.info.status, Status::Deployed);
    assert_eq!(v1.info.description, "Install complete");
    let cm = configmap(&client, "demo-settings")
        .await
        .expect("ConfigMap installed");
    assert_eq!(cm["data"]["greeting"], "hello");
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "Helm"
    );
    assert_eq!(
        cm["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "demo"
    );
    assert_eq!(
        cm["metadata"]["annotations"]["meta.helm.sh/release-namespace"],
        "default"
    );
    assert_eq!(
        cm["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"],
        "demo"
    );
    let managers: Vec<&str> = cm["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"helm-controller"), "{managers:?}");
    assert!(
        get(
            &client,
            "/apis/apps/v1/namespaces/default/deployments/demo-web"
        )
        .await
        .is_some()
    );
    assert!(
        configmap(&client, "demo-hook").await.is_some(),
        "post-install hook applied"
    );
    assert_eq!(v1.hooks.len(), 1);
    assert_eq!(v1.hooks[0].last_run.phase, "Succeeded");
    let mut s1 = secret(&client, "sh.helm.release.v1.demo.v1")
        .await
        .expect("release Secret");
    // Helm v4 stamps modifiedAt (Unix seconds) on every write.
    let stamp = s1["metadata"]["labels"]
        .as_object_mut()
        .and_then(|l| l.remove("modifiedAt"));
    assert!(stamp.is_some(), "{s1}");
    assert_eq!(s1["type"], "helm.sh/release.v1");
    assert_eq!(
        s1["metadata"]["labels"],
        json!({"name": "demo", "owner": "helm", "status": "deployed", "version": "1"})
    );
    assert_eq!(statuses(&helm).await, st(&[(1, "deployed")]));

    // Upgrade with new values: v2 deployed, v1 superseded, the new object exists.
    let v2 = helm
        .upgrade(&chart(), &opts(json!({"greeting": "bye", "extra": "yes"})))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.info.description, "Upgrade complete");
    assert_eq!(v2.info.first_deployed, v1.info.first_deployed);
    assert_eq!(
        statuses(&helm).await,
        st(&[(1, "superseded"), (2, "deployed")])
    );
    assert_eq!(
        configmap(&client, "demo-settings").await.unwrap()["data"]["greeting"],
        "bye"
    );
    assert!(secret(&client, "demo-extra").await.is_some());

    // Rollback to v1: v3 carries v1's manifest and values, the object v1 lacked is deleted.
    let v3 = helm.rollback(&opts(json!({})), None).await.unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(v3.info.description, "Rollback to 1");
    assert_eq!(v3.manifest, v1.manifest);
    assert_eq!(v3.config, v1.config);
    assert_eq!(
        statuses(&helm).await,
        st(&[(1, "superseded"), (2, "superseded"), (3, "deployed")])
    );
    assert_eq!(
        configmap(&client, "demo-settings").await.unwrap()["data"]["greeting"],
        "hello"
    );
    crate::common::wait_until("demo-extra pruned", PATIENCE, || async {
        secret(&client, "demo-extra").await.is_none().then_some(())
    })
    .await;

    // Uninstall: objects and records are gone.
    let gone = helm.uninstall(&opts(json!({}))).await.unwrap();
    assert_eq!(gone.info.status, Status::Uninstalled);
    assert_eq!(gone.info.description, "Uninstallation complete");
    crate::common::wait_until("release objects deleted", PATIENCE, || async {
        let cm = configmap(&client, "demo-settings").await;
        let dep = get(
            &client,
            "/apis/apps/v1/namespaces/default/deployments/demo-web",
        )
        .await;
        (cm.is_none() && dep.is_none()).then_some(())
    })
    .await;
    assert!(helm.history("demo").await.unwrap().is_empty());
    assert!(matches!(
        helm.upgrade(&chart(), &opts(json!({}))).await,
        Err(ActionError::NotFound(_))
    ));
}

async fn failed_upgrade_keeps_the_previous_release(tc: TestCluster) {
    let client = tc.client().await;
    let helm = Helm::new(client.clone(), "default");
    helm.install(&chart(), &opts(json!({}))).await.unwrap();
    // A second install of the same name is refused as helm does.
    assert!(matches!(
        helm.install(&chart(), &opts(json!({}))).await,
        Err(ActionError::InUse(_))
    ));
    // An invalid object name: the server rejects the dry-run, nothing of the stage is written.
    let err = helm
        .upgrade(
            &chart(),
            &opts(json!({"greeting": "changed", "extra": "yes", "extraName": "Not_A_Valid_Name"})),
        )
        .await
        .unwrap_err();
    let ActionError::Failed {
        release,
        description,
    } = err
    else {
        panic!("expected a failed release, got {err:?}");
    };
    assert!(
        description.starts_with("Upgrade \"demo\" failed: "),
        "{description}"
    );
    assert!(description.contains("Not_A_Valid_Name"), "{description}");
    assert_eq!(release.version, 2);
    assert_eq!(statuses(&helm).await, st(&[(1, "deployed"), (2, "failed")]));
    let stored = helm.storage().get("demo", 2).await.unwrap().unwrap();
    assert_eq!(stored.info.description, description);
    assert_eq!(
        configmap(&client, "demo-settings").await.unwrap()["data"]["greeting"],
        "hello",
        "the previous release's objects are intact"
    );
    // The next upgrade after a failure works and supersedes the deployed revision.
    helm.upgrade(&chart(), &opts(json!({"greeting": "fixed"})))
        .await
        .unwrap();
    assert_eq!(
        statuses(&helm).await,
        st(&[(1, "superseded"), (2, "failed"), (3, "deployed")])
    );
}

both_servers!(sim_options;
    release_lifecycle,
    failed_upgrade_keeps_the_previous_release,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_capped_at_max_history() {
    let tc = TestCluster::embedded(sim_options()).await;
    let helm = Helm::new(tc.client().await, "default");
    let mut o = opts(json!({}));
    o.wait = false;
    o.max_history = 3;
    helm.install(&chart(), &o).await.unwrap();
    for i in 0..4 {
        o.values = json!({"greeting": format!("v{i}")})
            .as_object()
            .cloned()
            .unwrap();
        helm.upgrade(&chart(), &o).await.unwrap();
    }
    assert_eq!(
        statuses(&helm).await,
        st(&[(3, "superseded"), (4, "superseded"), (5, "deployed")])
    );
}

/// The reference helm binary (`helm` on PATH, as `.ci/run` sets it up, else the cache
/// `tests/tools/install-helm.sh` fills), or None with the reason printed. Never downloads.
fn helm_binary() -> Option<PathBuf> {
    let works = |p: &Path| {
        std::process::Command::new(p)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(Path::new("helm")) {
        return Some(PathBuf::from("helm"));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let cached = cache.join("flotilla-ci/helm-2.0.0/helm");
    if works(&cached) {
        return Some(cached);
    }
    eprintln!("skipping: no helm CLI (run tests/tools/install-helm.sh; .ci/run puts it on PATH)");
    None
}

/// Runs helm with an isolated home against `kubeconfig`; returns (ok, stdout, stderr).
fn run_helm(helm: &Path, home: &Path, kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(helm)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .env("HELM_CACHE_HOME", home.join("helm-cache"))
        .env("HELM_CONFIG_HOME", home.join("helm-config"))
        .env("HELM_DATA_HOME", home.join("helm-data"))
        .output()
        .expect("helm runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// helm reads what flotilla wrote; when `helm_writes`, a release helm installed is read and
/// upgraded by flotilla and helm then reads flotilla's revision.
async fn interop(client: Client, kubeconfig: &Path, home: &Path, helm_writes: bool) {
    let Some(bin) = helm_binary() else { return };
    let h = |args: &[&str]| run_helm(&bin, home, kubeconfig, args);
    let actions = Helm::new(client.clone(), "default");
    let mut o = opts(json!({"greeting": "from-flotilla"}));
    o.wait = false;
    let v1 = actions.install(&chart(), &o).await.unwrap();
    o.values = json!({"greeting": "again"}).as_object().cloned().unwrap();
    actions.upgrade(&chart(), &o).await.unwrap();

    let (ok, list, err) = h(&["list", "-A", "-o", "json"]);
    assert!(ok, "helm list: {err}");
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["name"], "demo", "{list}");
    assert_eq!(list[0]["revision"], "2");
    assert_eq!(list[0]["status"], "deployed");
    assert_eq!(list[0]["chart"], "tiny-0.1.0");
    let (ok, manifest, err) = h(&[
        "get",
        "manifest",
        "demo",
        "-n",
        "default",
        "--revision",
        "1",
    ]);
    assert!(ok, "helm get manifest: {err}");
    assert_eq!(manifest.trim_end(), v1.manifest.trim_end());
    let (ok, values, err) = h(&["get", "values", "demo", "-n", "default", "-o", "json"]);
    assert!(ok, "helm get values: {err}");
    assert_eq!(
        serde_json::from_str::<Value>(&values).unwrap(),
        json!({"greeting": "again"})
    );
    let (ok, hist, err) = h(&["history", "demo", "-n", "default", "-o", "json"]);
    assert!(ok, "helm history: {err}");
    let hist: Value = serde_json::from_str(&hist).unwrap();
    assert_eq!(hist[0]["status"], "superseded");
    assert_eq!(hist[0]["description"], "Install complete");
    assert_eq!(hist[1]["status"], "deployed");
    assert_eq!(hist[1]["description"], "Upgrade complete");
    assert_eq!(hist[1]["app_version"], "1.0.0");

    // flotilla's own history command prints the same rows helm does.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "helm",
            "history",
            "demo",
            "-n",
            "default",
            "-o",
            "json",
            "--kubeconfig",
        ])
        .arg(kubeconfig)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ours, hist);
    let (_, helm_table, _) = h(&["history", "demo", "-n", "default"]);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["helm", "history", "demo", "-n", "default", "--kubeconfig"])
        .arg(kubeconfig)
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), helm_table);

    let (ok, _, err) = h(&[
        "install",
        "native",
        chart().to_str().unwrap(),
        "-n",
        "default",
        "--set",
        "greeting=from-helm",
    ]);
    if !helm_writes {
        // helm's storage driver POSTs the release Secret as protobuf, which the embedded server
        // answers 415 (JSON/YAML only, see shared/docs/kube-wire.md).
        assert!(!ok);
        assert!(err.contains("unknown format"), "{err}");
        eprintln!("skipping helm-writes half: the embedded server does not accept protobuf bodies");
        return;
    }
    assert!(ok, "helm install: {err}");
    let theirs = actions.history("native").await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].info.status, Status::Deployed);
    assert_eq!(theirs[0].info.description, "Install complete");
    assert_eq!(
        theirs[0].config,
        json!({"greeting": "from-helm"})
            .as_object()
            .cloned()
            .unwrap()
    );
    let mut n = ReleaseOptions::new("native", "default");
    n.values = json!({"greeting": "adopted"}).as_object().cloned().unwrap();
    let v2 = actions.upgrade(&chart(), &n).await.unwrap();
    assert_eq!(v2.version, 2);
    let cm = configmap(&client, "native-settings").await.unwrap();
    assert_eq!(cm["data"]["greeting"], "adopted");
    let (ok, hist, err) = h(&["history", "native", "-n", "default", "-o", "json"]);
    assert!(ok, "helm history: {err}");
    let hist: Value = serde_json::from_str(&hist).unwrap();
    assert_eq!(hist[0]["status"], "superseded");
    assert_eq!(hist[1]["status"], "deployed");
    assert_eq!(hist[1]["revision"], 2);
    let (ok, values, _) = h(&["get", "values", "native", "-n", "default", "-o", "json"]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&values).unwrap(),
        json!({"greeting": "adopted"})
    );
    // helm upgrades flotilla's revision in turn.
    let (ok, _, err) = h(&[
        "upgrade",
        "native",
        chart().to_str().unwrap(),
        "-n",
        "default",
    ]);
    assert!(ok, "helm upgrade of flotilla's revision: {err}");
    assert_eq!(actions.history("native").await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_cli_reads_flotillas_releases_on_the_embedded_server() {
    let server = TcpServer::start(sim_options()).await;
    interop(
        server.client().await,
        &server.kubeconfig,
        server.dir.path(),
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_cli_and_flotilla_share_releases_on_a_real_server() {
    crate::require_real_kube!();
    let tc = TestCluster::real(sim_options()).await;
    let real = tc.real_cluster().unwrap();
    interop(tc.client().await, &real.kubeconfig, &real.dir, true).await;
}
