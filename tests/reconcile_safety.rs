//! The reconciler as an attacker probes it: URL passwords never reach status, Events or the log
//! file (mode 0600), `file://` GitRepositories are refused without `--allow-file-urls`, and an
//! invalid `--watch-label-selector` stops the controller at startup.

use crate::common;

use common::{PATIENCE, TcpServer, in_process, quiet_options, wait_until};
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

fn gitrepo_api(client: &kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "gitrepositories",
    );
    Api::namespaced_with(client.clone(), "default", &ar)
}

async fn create_gitrepository(api: &Api<DynamicObject>, name: &str, url: &str) {
    let o: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"url": url, "interval": "10m", "timeout": "5s", "ref": {"branch": "main"}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &o).await.unwrap();
}

fn condition(obj: &Value, type_: &str) -> Option<Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

/// Waits for a Ready=False condition whose reason is not the in-progress one; returns the object.
async fn wait_failed(api: &Api<DynamicObject>, name: &str) -> Value {
    wait_until(&format!("{name} failing"), PATIENCE, || async {
        let o = serde_json::to_value(api.get_opt(name).await.ok()??).ok()?;
        let ready = condition(&o, "Ready")?;
        (ready["status"] == "False" && ready["reason"] != "Progressing").then_some(o)
    })
    .await
}

async fn event_messages(client: &kube::Client, name: &str) -> Vec<String> {
    let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), "default");
    events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .filter_map(|e| e.message)
        .collect()
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn url_passwords_stay_out_of_status_events_and_the_log_file() {
    let server = TcpServer::start(quiet_options()).await;
    let client = server.client().await;
    let api = gitrepo_api(&client);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("controller.log");
    let mut controller = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["controller", "--kubeconfig"])
        .arg(&server.kubeconfig)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--log-file")
        .arg(&log)
        .env("HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("controller runs");

    let url = format!("http://alice:secret@127.0.0.1:{}/x.git", closed_port());
    create_gitrepository(&api, "leaky", &url).await;
    // Without --allow-file-urls a file:// URL is refused with a reason naming the flag.
    create_gitrepository(&api, "local", "file:///etc").await;

    let leaky = wait_failed(&api, "leaky").await;
    let status = leaky["status"].to_string();
    assert!(!status.contains("secret"), "{status}");
    let ready = condition(&leaky, "Ready").unwrap();
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("alice:xxxxx@127.0.0.1"),
        "the user stays, the password is masked: {ready}"
    );
    let messages = wait_until("a Warning event for leaky", PATIENCE, || async {
        let m = event_messages(&client, "leaky").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert!(
        messages.iter().all(|m| !m.contains("secret")),
        "{messages:?}"
    );

    let local = wait_failed(&api, "local").await;
    let ready = condition(&local, "Ready").unwrap();
    assert_eq!(ready["reason"], "URLInvalid", "{ready}");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("--allow-file-urls"),
        "{ready}"
    );
    let stalled = condition(&local, "Stalled").expect("Stalled");
    assert_eq!(stalled["status"], "True");
    assert!(local.pointer("/status/artifact").is_none());

    // Stop (the log is flushed on exit), then read the log.
    let pid = controller.id().unwrap() as i32;
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let _ = tokio::time::timeout(PATIENCE, controller.wait()).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("GitRepository/default/leaky"),
        "the run was logged: {text}"
    );
    assert!(!text.contains("secret"), "{text}");
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "log file mode {mode:o}");
}

#[tokio::test]
async fn file_urls_are_refused_by_default_in_the_library() {
    let (_cluster, client) = in_process(quiet_options());
    let data = tempfile::tempdir().unwrap();
    let controller = Controller::start(
        vec![("test".to_string(), client.clone())],
        &ControllerOptions {
            data_dir: data.path().to_path_buf(),
            ..ControllerOptions::default()
        },
    );
    let api = gitrepo_api(&client);
    create_gitrepository(&api, "local", "file:///etc").await;
    let obj = wait_failed(&api, "local").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "URLInvalid");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("--allow-file-urls"),
        "{ready}"
    );
    assert_eq!(condition(&obj, "Stalled").unwrap()["status"], "True");
    assert!(obj.pointer("/status/artifact").is_none());
    controller.shutdown().await;
}

#[tokio::test]
async fn an_image_automation_does_not_write_to_a_file_source_by_default() {
    let (_cluster, client) = in_process(quiet_options());
    let data = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let controller = Controller::start(
        vec![("test".to_string(), client.clone())],
        &ControllerOptions {
            data_dir: data.path().to_path_buf(),
            ..ControllerOptions::default()
        },
    );
    let url = format!("file://{}", remote.path().display());
    create_gitrepository(&gitrepo_api(&client), "local", &url).await;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("image.toolkit.fluxcd.io", "v1", "ImageUpdateAutomation"),
        "imageupdateautomations",
    );
    let automations: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let o: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageUpdateAutomation",
        "metadata": {"name": "auto", "namespace": "default"},
        "spec": {
            "interval": "10m",
            "sourceRef": {"kind": "GitRepository", "name": "local"},
            "git": {
                "checkout": {"ref": {"branch": "main"}},
                "commit": {"author": {"name": "bot", "email": "bot@example.com"}},
                "push": {"branch": "main"}
            },
            "update": {"path": "./", "strategy": "Setters"}
        }
    }))
    .unwrap();
    automations
        .create(&PostParams::default(), &o)
        .await
        .unwrap();
    let obj = wait_failed(&automations, "auto").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "InvalidSourceURL", "{ready}");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("--allow-file-urls"),
        "{ready}"
    );
    assert_eq!(condition(&obj, "Stalled").unwrap()["status"], "True");
    // Nothing was written to the directory the source names.
    assert_eq!(std::fs::read_dir(remote.path()).unwrap().count(), 0);
    controller.shutdown().await;
}

#[tokio::test]
async fn an_invalid_watch_label_selector_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "controller",
            "--watch-label-selector",
            "!!!",
            "--kubeconfig",
        ])
        .arg(dir.path().join("missing-kubeconfig"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--log-file")
        .arg(dir.path().join("controller.log"))
        .env("HOME", dir.path())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--watch-label-selector") && err.contains("'!!!'"),
        "{err}"
    );
    // The parser's own wording says what is wrong.
    assert!(
        err.lines()
            .next()
            .is_some_and(|l| l.len() > "invalid --watch-label-selector '!!!': ".len()),
        "{err}"
    );
}
