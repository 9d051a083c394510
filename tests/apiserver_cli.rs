//! `flotilla apiserver`: writes a kubeconfig, prints one line per cluster, serves until SIGTERM and
//! exits 0.

use crate::common;

use common::{PATIENCE, wait_until};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_serves_clusters_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kc.yaml");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "apiserver",
            "--clusters",
            "dev,prod",
            "--no-simulate",
            "--kubeconfig-out",
            kubeconfig.to_str().unwrap(),
        ])
        .env("HOME", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("flotilla runs");
    let path = kubeconfig.clone();
    wait_until("kubeconfig written", PATIENCE, || {
        let path = path.clone();
        async move { path.exists().then_some(()) }
    })
    .await;
    // Both contexts answer.
    for ctx in ["dev", "prod"] {
        let kc = Kubeconfig::read_from(&kubeconfig).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(
            kc,
            &KubeConfigOptions {
                context: Some(ctx.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let client = kube::Client::try_from(cfg).unwrap();
        let ns: Api<Namespace> = Api::all(client);
        let list = wait_until(&format!("{ctx} serving"), PATIENCE, || {
            let ns = ns.clone();
            async move { ns.list(&ListParams::default()).await.ok() }
        })
        .await;
        assert!(
            list.items
                .iter()
                .any(|n| n.metadata.name.as_deref() == Some("kube-system"))
        );
    }
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}; stdout:\n{stdout}");
    assert!(
        stdout.contains(kubeconfig.to_str().unwrap()),
        "prints the kubeconfig path:\n{stdout}"
    );
    for ctx in ["dev", "prod"] {
        assert!(
            stdout.lines().any(|l| {
                let mut cols = l.split_whitespace();
                cols.next() == Some(ctx)
                    && cols
                        .next()
                        .is_some_and(|u| u.starts_with("http://127.0.0.1:"))
            }),
            "prints a `{ctx}  http://127.0.0.1:PORT` line:\n{stdout}"
        );
    }
}
