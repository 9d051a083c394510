//! `flotilla controller` as users run it: the real binary against `flotilla apiserver`, one context
//! chosen with `--context`, `-v` summaries on stderr, `--namespace` and `--watch-label-selector`
//! filtering, and a clean exit on SIGTERM.

use crate::common;

use common::gitrepo::{Repo, have_git};
use common::{PATIENCE, wait_until};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, BufReader};

async fn client_for(kubeconfig: &Path, ctx: &str) -> kube::Client {
    let kc = Kubeconfig::read_from(kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(
        kc,
        &KubeConfigOptions {
            context: Some(ctx.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

fn gitrepo_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "gitrepositories",
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

async fn create(api: &Api<DynamicObject>, obj: Value) {
    let o: DynamicObject = serde_json::from_value(obj).unwrap();
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
}

fn gitrepository(name: &str, ns: &str, url: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"url": url, "interval": "10m", "ref": {"branch": "main"}}
    })
}

fn has_status(obj: &Option<DynamicObject>) -> bool {
    obj.as_ref().is_some_and(|o| {
        o.data
            .get("status")
            .is_some_and(|s| s.get("conditions").is_some())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_cli_reconciles_one_context_and_stops_on_sigterm() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    );
    let commit = repo.commit("one");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kc.yaml");
    let _server = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "apiserver",
            "--clusters",
            "dev,prod",
            "--no-simulate",
            "--kubeconfig-out",
        ])
        .arg(&kubeconfig)
        .env("HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("apiserver runs");
    let path = kubeconfig.clone();
    wait_until("kubeconfig written", PATIENCE, || {
        let path = path.clone();
        async move { path.exists().then_some(()) }
    })
    .await;
    let dev = client_for(&kubeconfig, "dev").await;
    let prod = client_for(&kubeconfig, "prod").await;
    let dev_api = gitrepo_api(&dev, "default");
    wait_until("dev serving", PATIENCE, || {
        let api = dev_api.clone();
        async move { api.list(&Default::default()).await.ok() }
    })
    .await;
    let team = json!({"team": "platform"});
    create(
        &dev_api,
        gitrepository("wanted", "default", &repo.url(), team.clone()),
    )
    .await;
    create(
        &dev_api,
        gitrepository("unlabelled", "default", &repo.url(), json!({})),
    )
    .await;
    create(
        &gitrepo_api(&prod, "default"),
        gitrepository("other-context", "default", &repo.url(), team),
    )
    .await;

    let mut controller = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "controller",
            "--allow-file-urls",
            "-v",
            "--context",
            "dev",
            "--namespace",
            "default",
        ])
        .args(["--watch-label-selector", "team=platform", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--log-file")
        .arg(dir.path().join("controller.log"))
        .env("HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("controller runs");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let stderr = controller.stderr.take().unwrap();
    let reader = tokio::spawn(async move {
        let mut r = BufReader::new(stderr).lines();
        while let Ok(Some(l)) = r.next_line().await {
            sink.lock().unwrap().push(l);
        }
    });

    // `-v`: one summary line per reconcile, naming the context and the object.
    let expected = format!("stored artifact for revision 'main@sha1:{commit}'");
    let l = lines.clone();
    wait_until("a -v summary line", PATIENCE, || {
        let l = l.clone();
        let expected = expected.clone();
        async move {
            l.lock()
                .unwrap()
                .iter()
                .find(|x| {
                    x.starts_with("dev GitRepository/default/wanted") && x.contains(&expected)
                })
                .cloned()
        }
    })
    .await;
    // The label selector and the context choice keep the others untouched.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !has_status(&dev_api.get_opt("unlabelled").await.unwrap()),
        "label selector honoured"
    );
    let prod_obj = gitrepo_api(&prod, "default")
        .get_opt("other-context")
        .await
        .unwrap();
    assert!(!has_status(&prod_obj), "only --context dev is reconciled");

    // SIGTERM: a clean stop with exit code 0.
    let pid = controller.id().unwrap() as i32;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(PATIENCE, controller.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    let _ = reader.await;
    let all = lines.lock().unwrap().join("\n");
    assert!(all.contains("stopping"), "{all}");
}

#[tokio::test]
async fn controller_cli_rejects_unknown_contexts_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kc.yaml");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\ncontexts:\n- name: only\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user: {}\ncurrent-context: only\n",
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["controller", "--context", "nope", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("HOME", dir.path())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope") && err.contains("only"), "{err}");
}
