//! ImageUpdateAutomation against real git remotes: a bare repository over file:// and over
//! `git daemon` on loopback, with the embedded API server holding the GitRepository and the
//! ImagePolicies. Checks the commit (only the marker line changes), the rendered message, the
//! author, pushes, "no change → no commit", a rejected push retried on the moved branch (over
//! `git daemon`, whose receive-pack runs the test's hook), and the bad inputs (missing policy, non-YAML file, removed template field).

use crate::image_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use flotilla::apiserver::{Cluster, ClusterOptions};
use flotilla::controllers::image::{EventType, RunResult, reconcile_image_update_automation};
use image_support::{git, have_git};
use jiff::Timestamp;
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

const APP_YAML: &str = "# The web deployment.\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: registry.local/team/app:1.0.0 # {\"$imagepolicy\": \"default:app\"}\n          ports:   [ 8080 ]   # odd spacing stays\n";
const KUSTOMIZATION: &str =
    "images:\n  - name: app\n    newTag: 1.0.0 # {\"$imagepolicy\": \"default:app:tag\"}\n";
const MISSING_POLICY: &str = "kind: ConfigMap\nmetadata:\n  name: other\ndata:\n  image: x:1 # {\"$imagepolicy\": \"default:missing\"}\n";
const NOT_YAML: &str = "key: [unclosed # {\"$imagepolicy\": \"default:app\"}\n\t- : :\n";

const TEMPLATE: &str = "Update images in {{ .AutomationObject }}\n\n{{ range $file, $objects := .Changed.FileChanges -}}\n{{ range $obj, $changes := $objects -}}\n{{ range $changes -}}\n- {{ $file }} {{ $obj.Kind }}/{{ $obj.Name }}: {{ .OldValue }} -> {{ .NewValue }}\n{{ end -}}\n{{ end -}}\n{{ end -}}\ncluster: {{ .Values.cluster }}\n";

fn cluster() -> (Cluster, Client) {
    let cluster = Cluster::new(ClusterOptions {
        simulate: false,
        ..ClusterOptions::default()
    })
    .expect("cluster starts");
    let client = Client::new(cluster.router(), "default");
    (cluster, client)
}

fn api(client: &Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::namespaced_with(client.clone(), "default", &resource)
}

async fn create(api: &Api<DynamicObject>, obj: Value) {
    let dynamic: DynamicObject = serde_json::from_value(obj).expect("dynamic");
    api.create(&PostParams::default(), &dynamic)
        .await
        .expect("create");
}

async fn set_policy(client: &Client, name: &str, tag: &str) {
    let policies = api(
        client,
        "image.toolkit.fluxcd.io",
        "ImagePolicy",
        "imagepolicies",
    );
    if policies.get_opt(name).await.expect("get").is_none() {
        create(
            &policies,
            json!({
                "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"imageRepositoryRef": {"name": name}, "policy": {"semver": {"range": ">=1.0.0"}}},
            }),
        )
        .await;
    }
    policies
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"latestRef": {"name": "registry.local/team/app", "tag": tag}}}),
            ),
        )
        .await
        .expect("patch status");
}

async fn git_repository(client: &Client, url: &str) {
    create(
        &api(
            client,
            "source.toolkit.fluxcd.io",
            "GitRepository",
            "gitrepositories",
        ),
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": "default"},
            "spec": {"url": url, "interval": "1m", "ref": {"branch": "main"}, "timeout": "20s"},
        }),
    )
    .await;
}

fn automation(template: &str) -> Value {
    json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
        "metadata": {"name": "auto", "namespace": "default", "generation": 1},
        "spec": {
            "interval": "5m",
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            "git": {
                "checkout": {"ref": {"branch": "main"}},
                "commit": {
                    "author": {"name": "Flux Bot", "email": "flux@example.com"},
                    "messageTemplate": template,
                    "messageTemplateValues": {"cluster": "prod-eu"},
                },
                "push": {"branch": "main"},
            },
            "update": {"strategy": "Setters", "path": "./deploy"},
        }
    })
}

/// A bare remote with `main` holding the fixture files; returns (bare path, work clone path).
fn remote(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let bare = root.join("remote.git");
    let work = root.join("work");
    std::fs::create_dir_all(&bare).expect("mkdir");
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    std::fs::create_dir_all(work.join("deploy/sub")).expect("mkdir");
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("deploy/app.yaml"), APP_YAML).expect("write");
    std::fs::write(work.join("deploy/sub/kustomization.yaml"), KUSTOMIZATION).expect("write");
    std::fs::write(work.join("deploy/other.yaml"), MISSING_POLICY).expect("write");
    std::fs::write(work.join("deploy/broken.yaml"), NOT_YAML).expect("write");
    std::fs::write(
        work.join("README.md"),
        "outside the update path: image: x # {\"$imagepolicy\": \"default:app\"}\n",
    )
    .expect("write");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "initial"]);
    git(&work, &["push", "-q", bare.to_str().expect("utf8"), "main"]);
    (bare, work)
}

fn head(bare: &Path) -> String {
    git(bare, &["rev-parse", "refs/heads/main"])
        .trim()
        .to_string()
}

fn ready(status: &Value) -> (String, String, String) {
    let c = status["conditions"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or(Value::Null);
    (
        c["status"].as_str().unwrap_or("").to_string(),
        c["reason"].as_str().unwrap_or("").to_string(),
        c["message"].as_str().unwrap_or("").to_string(),
    )
}

fn with_status(mut obj: Value, result: &RunResult) -> Value {
    obj["status"] = result.status.clone();
    obj
}

async fn commits_exactly_the_marker_lines(url: &str, bare: &Path, client: &Client) {
    let data = tempfile::tempdir().expect("tempdir");
    let before = head(bare);
    set_policy(client, "app", "1.0.1").await;
    let obj = automation(TEMPLATE);
    let result =
        reconcile_image_update_automation(&obj, client, data.path(), Timestamp::now()).await;
    let (st, reason, message) = ready(&result.status);
    assert_eq!(
        (st.as_str(), reason.as_str()),
        ("True", "Succeeded"),
        "{message}"
    );
    assert!(message.starts_with("repository up-to-date"), "{message}");
    assert!(
        message.contains("skipped broken.yaml"),
        "non-YAML file reported: {message}"
    );
    assert!(
        message.contains("other.yaml:5: no ImagePolicy 'default:missing'"),
        "{message}"
    );
    let after = head(bare);
    assert_ne!(before, after, "a commit was pushed to {url}");
    assert_eq!(result.status["lastPushCommit"], after);
    assert_eq!(
        result.status["observedSourceRevision"],
        format!("main@sha1:{after}")
    );
    assert_eq!(
        result.status["observedPolicies"],
        json!({"app": {"name": "registry.local/team/app", "tag": "1.0.1"}})
    );
    assert!(result.status["lastPushTime"].is_string());
    assert!(result.status["lastAutomationRunTime"].is_string());
    // Exactly the two marker lines changed, in two files.
    let stat = git(bare, &["diff", "--numstat", &before, &after]);
    let mut lines: Vec<&str> = stat.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "1\t1\tdeploy/app.yaml",
            "1\t1\tdeploy/sub/kustomization.yaml"
        ],
        "{stat}"
    );
    let app = git(bare, &["show", &format!("{after}:deploy/app.yaml")]);
    assert_eq!(
        app,
        APP_YAML.replace(
            "registry.local/team/app:1.0.0",
            "registry.local/team/app:1.0.1"
        )
    );
    let kustomization = git(
        bare,
        &["show", &format!("{after}:deploy/sub/kustomization.yaml")],
    );
    assert_eq!(
        kustomization,
        KUSTOMIZATION.replace("newTag: 1.0.0", "newTag: 1.0.1")
    );
    assert_eq!(
        git(bare, &["show", &format!("{after}:deploy/broken.yaml")]),
        NOT_YAML
    );
    let parent = git(bare, &["rev-parse", &format!("{after}^")]);
    assert_eq!(parent.trim(), before);
    let author = git(bare, &["log", "-1", "--format=%an <%ae>|%cn <%ce>", &after]);
    assert_eq!(
        author.trim(),
        "Flux Bot <flux@example.com>|Flux Bot <flux@example.com>"
    );
    let body = git(bare, &["log", "-1", "--format=%B", &after]);
    assert_eq!(
        body.trim_end(),
        "Update images in default/auto\n\n\
         - app.yaml Deployment/web: registry.local/team/app:1.0.0 -> registry.local/team/app:1.0.1\n\
         - sub/kustomization.yaml /: 1.0.0 -> 1.0.1\n\
         cluster: prod-eu"
    );
    let pushed = result
        .events
        .iter()
        .find(|e| e.0 == EventType::Normal)
        .expect("push event");
    assert!(
        pushed.2.starts_with(&format!(
            "pushed commit '{}' to branch 'main'\nUpdate images in",
            &after[..7]
        )),
        "{}",
        pushed.2
    );

    // Same policies, same head: no new commit.
    let obj = with_status(obj, &result);
    let again =
        reconcile_image_update_automation(&obj, client, data.path(), Timestamp::now()).await;
    assert_eq!(ready(&again.status).0, "True");
    assert_eq!(head(bare), after, "no change, no commit");
    // A new tag: the next commit.
    set_policy(client, "app", "1.1.0").await;
    let obj = with_status(obj, &again);
    let next = reconcile_image_update_automation(&obj, client, data.path(), Timestamp::now()).await;
    assert_eq!(ready(&next.status).0, "True", "{}", next.status);
    let newest = head(bare);
    assert_ne!(newest, after);
    assert_eq!(next.status["lastPushCommit"], newest);
    assert!(git(bare, &["show", &format!("{newest}:deploy/app.yaml")]).contains("app:1.1.0 # {"));
}

#[tokio::test]
async fn file_remote_commit_push_and_no_change() {
    if !have_git() {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let (bare, _work) = remote(root.path());
    let url = format!("file://{}", bare.display());
    let (_cluster, client) = cluster();
    git_repository(&client, &url).await;
    commits_exactly_the_marker_lines(&url, &bare, &client).await;
}

/// `git daemon` on loopback, killed by its own handle on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves `root` (holding `remote.git`) with `git daemon`, receive-pack enabled; None (with a
/// printed reason) when it cannot start.
async fn serve(root: &Path) -> Option<(Daemon, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let child = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", root.display()),
            &root.display().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        eprintln!("SKIP: git daemon cannot be started");
        return None;
    };
    let daemon = Daemon(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((daemon, format!("git://127.0.0.1:{port}/remote.git")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("SKIP: git daemon did not start (is git-daemon installed?)");
    None
}

#[tokio::test]
async fn git_daemon_remote_commit_and_push() {
    if !have_git() {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let (bare, _work) = remote(root.path());
    let Some((_daemon, url)) = serve(root.path()).await else {
        return;
    };
    let (_cluster, client) = cluster();
    git_repository(&client, &url).await;
    commits_exactly_the_marker_lines(&url, &bare, &client).await;
}

#[tokio::test]
async fn rejected_push_is_redone_on_the_moved_branch_once() {
    if !have_git() {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let (bare, work) = remote(root.path());
    // Someone else's commit, waiting on a side branch; the hook moves main to it and rejects
    // our first push, as if the branch had moved between our fetch and push.
    std::fs::write(work.join("deploy/extra.yaml"), "kind: ConfigMap\n").expect("write");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "concurrent change"]);
    git(
        &work,
        &[
            "push",
            "-q",
            bare.to_str().expect("utf8"),
            "main:refs/heads/next",
        ],
    );
    let moved = git(&bare, &["rev-parse", "refs/heads/next"])
        .trim()
        .to_string();
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\nif [ ! -f \"$GIT_DIR/moved-once\" ]; then\n  touch \"$GIT_DIR/moved-once\"\n  env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main refs/heads/next\n  echo 'main moved' >&2\n  exit 1\nfi\nexit 0\n",
    )
    .expect("hook");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    // Over the network transport (the git CLI pushes, receive-pack runs the hook); file://
    // pushes happen in-process and are covered by the automation module's own tests.
    let Some((_daemon, url)) = serve(root.path()).await else {
        return;
    };
    let (_cluster, client) = cluster();
    git_repository(&client, &url).await;
    set_policy(&client, "app", "1.0.1").await;
    let data = tempfile::tempdir().expect("tempdir");
    let result = reconcile_image_update_automation(
        &automation(TEMPLATE),
        &client,
        data.path(),
        Timestamp::now(),
    )
    .await;
    assert_eq!(ready(&result.status).0, "True", "{}", result.status);
    let after = head(&bare);
    assert_eq!(
        git(&bare, &["rev-parse", &format!("{after}^")]).trim(),
        moved,
        "redone on the moved head"
    );
    assert!(git(&bare, &["show", &format!("{after}:deploy/app.yaml")]).contains("app:1.0.1 # {"));
    assert_eq!(
        git(&bare, &["show", &format!("{after}:deploy/extra.yaml")]),
        "kind: ConfigMap\n"
    );

    // A remote that always rejects: Ready=False GitOperationFailed, nothing pushed.
    std::fs::write(&hook, "#!/bin/sh\necho 'protected branch' >&2\nexit 1\n").expect("hook");
    set_policy(&client, "app", "1.2.0").await;
    let obj = with_status(automation(TEMPLATE), &result);
    let failed =
        reconcile_image_update_automation(&obj, &client, data.path(), Timestamp::now()).await;
    let (st, reason, message) = ready(&failed.status);
    assert_eq!(
        (st.as_str(), reason.as_str()),
        ("False", "GitOperationFailed")
    );
    assert!(
        message.starts_with("failed to update source: "),
        "{message}"
    );
    assert!(message.contains("protected branch"), "{message}");
    assert_eq!(head(&bare), after);
    assert_eq!(
        failed.status["lastPushCommit"], after,
        "last push unchanged"
    );
}

#[tokio::test]
async fn bad_templates_selectors_and_sources_give_clear_conditions() {
    if !have_git() {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let (bare, _work) = remote(root.path());
    let (_cluster, client) = cluster();
    let data = tempfile::tempdir().expect("tempdir");
    set_policy(&client, "app", "1.0.1").await;
    let before = head(&bare);
    let run = |obj: Value| {
        let client = client.clone();
        let dir = data.path().to_path_buf();
        async move { reconcile_image_update_automation(&obj, &client, &dir, Timestamp::now()).await }
    };

    // No GitRepository yet: retried SourceManagerFailed.
    let missing = run(automation(TEMPLATE)).await;
    let (st, reason, message) = ready(&missing.status);
    assert_eq!(
        (st.as_str(), reason.as_str()),
        ("False", "SourceManagerFailed")
    );
    assert!(
        message.contains("GitRepository 'default/fleet' not found"),
        "{message}"
    );
    assert!(missing.requeue_after.is_some());
    git_repository(&client, &format!("file://{}", bare.display())).await;

    let removed = run(automation("{{ range .Updated.Images }}{{ . }}{{ end }}")).await;
    assert_eq!(ready(&removed.status).1, "RemovedTemplateField");
    assert!(removed.requeue_after.is_none());

    let unsupported = run(automation("{{ .Values.cluster | upper }}")).await;
    let (_, reason, message) = ready(&unsupported.status);
    assert_eq!(reason, "InvalidMessageTemplate");
    assert!(
        message.contains("unsupported template construct"),
        "{message}"
    );

    let mut bad_selector = automation(TEMPLATE);
    bad_selector["spec"]["policySelector"] =
        json!({"matchExpressions": [{"key": "a", "operator": "Near"}]});
    assert_eq!(
        ready(&run(bad_selector).await.status).1,
        "InvalidPolicySelector"
    );

    let mut wrong_kind = automation(TEMPLATE);
    wrong_kind["spec"]["sourceRef"]["kind"] = json!("OCIRepository");
    assert_eq!(
        ready(&run(wrong_kind).await.status).1,
        "InvalidSourceConfiguration"
    );

    let mut escape = automation(TEMPLATE);
    escape["spec"]["update"]["path"] = json!("../..");
    assert_eq!(ready(&run(escape).await.status).1, "InvalidPath");

    // A selector matching no policy: nothing to change, Ready True, no commit.
    let mut selective = automation(TEMPLATE);
    selective["spec"]["policySelector"] = json!({"matchLabels": {"team": "none"}});
    let quiet = run(selective).await;
    assert_eq!(ready(&quiet.status).0, "True", "{}", quiet.status);
    assert_eq!(quiet.status["observedPolicies"], json!({}));
    assert_eq!(
        head(&bare),
        before,
        "nothing committed by any of the failing runs"
    );
}
