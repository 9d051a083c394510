//! `flotilla get` end to end: the real binary against a spawned `flotilla apiserver` with Ready,
//! failing, suspended and Argo CD objects in two clusters; output formats, filters, exit codes, and
//! a dead third context that is reported while the live ones are still printed. The same checks run
//! against real kube-apiservers (`real_*`, skipped with a printed reason when not built).

use crate::console_support;

use console_support::{ApiserverProcess, application, git, hr, ks, ready};
use serde_json::{Value, json};
use std::path::Path;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn get(kubeconfig: &Path, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .arg("get")
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env_remove("KUBECONFIG")
        .output()
        .await
        .expect("flotilla get runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn get_json(kubeconfig: &Path, args: &[&str]) -> (Run, Vec<Value>) {
    let run = get(kubeconfig, &[args, &["-o", "json"]].concat()).await;
    let v: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("JSON output ({e}):\n{}\n{}", run.stdout, run.stderr));
    let items = v["items"].as_array().cloned().unwrap_or_default();
    (run, items)
}

fn keys(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            format!(
                "{}/{}/{}/{}",
                i["context"].as_str().unwrap(),
                i["kind"].as_str().unwrap(),
                i["namespace"].as_str().unwrap(),
                i["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// Two clusters (`dev`, `prod`): a `flotilla apiserver`, or real kube-apiservers when `real`.
async fn seeded_on(real: bool) -> ApiserverProcess {
    let server = if real {
        ApiserverProcess::real(&["dev", "prod"]).await
    } else {
        ApiserverProcess::start(&["dev", "prod"]).await
    };
    let ok = || {
        ready(
            "True",
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:1a2b3c4",
        )
    };
    server
        .create(
            "dev",
            ks(
                "apps",
                "flux-system",
                json!({"app": "web", "tier": "front"}),
            ),
            Some(ok()),
        )
        .await;
    server
        .create(
            "dev",
            ks("infra", "flux-system", json!({"app": "infra"})),
            Some(ready(
                "False",
                "BuildFailed",
                "kustomize build failed:\naccumulating resources",
            )),
        )
        .await;
    server
        .create(
            "dev",
            git("fleet", "flux-system"),
            Some(ready("True", "Succeeded", "stored artifact")),
        )
        .await;
    let mut paused = ks("apps", "web", json!({"app": "web"}));
    paused["spec"]["suspend"] = json!(true);
    server.create("prod", paused, Some(ok())).await;
    server
        .create(
            "prod",
            hr("podinfo", "web"),
            Some(ready("True", "UpgradeSucceeded", "Helm upgrade succeeded")),
        )
        .await;
    server
        .create(
            "prod",
            application("guestbook"),
            Some(json!({"sync": {"status": "Synced", "revision": "abc"}, "health": {"status": "Healthy"}})),
        )
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_lists_both_clusters_in_every_format() {
    get_lists_both_clusters_in_every_format_on(seeded_on(false).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_get_lists_both_clusters_in_every_format() {
    crate::require_real_kube!();
    get_lists_both_clusters_in_every_format_on(seeded_on(true).await).await
}

async fn get_lists_both_clusters_in_every_format_on(server: ApiserverProcess) {
    let kc = server.kubeconfig.clone();

    // JSON: every object of both clusters, sorted by context, kind, namespace, name.
    let (run, items) = get_json(&kc, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        keys(&items),
        [
            "dev/GitRepository/flux-system/fleet",
            "dev/Kustomization/flux-system/apps",
            "dev/Kustomization/flux-system/infra",
            "prod/Application/argocd/guestbook",
            "prod/HelmRelease/web/podinfo",
            "prod/Kustomization/web/apps",
        ]
    );
    let infra = &items[2];
    assert_eq!(infra["ready"], "False");
    assert_eq!(infra["health"], "Failing");
    assert_eq!(infra["reason"], "BuildFailed");
    assert_eq!(
        infra["message"],
        "kustomize build failed:\naccumulating resources"
    );
    assert_eq!(
        infra["revision"],
        "main@sha1:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
    );
    assert_eq!(infra["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(infra["labels"], json!({"app": "infra"}));
    assert!(infra["created"].as_str().is_some_and(|c| c.ends_with('Z')));
    assert!(infra["age"].is_string());
    let paused = &items[5];
    assert_eq!(paused["suspended"], true);
    assert_eq!(paused["health"], "Suspended");
    let app = &items[3];
    assert_eq!(
        (app["ready"].as_str(), app["reason"].as_str()),
        (Some("True"), Some("Healthy"))
    );
    assert_eq!(app["message"], "Synced, Healthy");

    // YAML carries the same document.
    let run = get(&kc, &["-o", "yaml"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let yaml: Value = serde_saphyr::from_str(&run.stdout).expect("valid YAML");
    assert_eq!(keys(yaml["items"].as_array().unwrap()), keys(&items));
    assert_eq!(yaml["items"][2]["message"], infra["message"]);

    // The table: a header, one line per object in the same order, messages on one line.
    let run = get(&kc, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{}", run.stdout);
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "CONTEXT",
            "KIND",
            "NAMESPACE",
            "NAME",
            "READY",
            "REASON",
            "REVISION",
            "SUSPENDED",
            "AGE",
            "RECONCILED",
            "MESSAGE"
        ]
    );
    let ready_at = lines[0].find("READY").unwrap();
    for (line, key) in lines[1..].iter().zip(keys(&items)) {
        let mut cols = line.split_whitespace();
        let parts: Vec<&str> = key.split('/').collect();
        assert_eq!(cols.next(), Some(parts[0]), "{line}");
        assert_eq!(cols.next(), Some(parts[1]), "{line}");
        assert_eq!(cols.next(), Some(parts[2]), "{line}");
        assert_eq!(cols.next(), Some(parts[3]), "{line}");
        assert!(
            ["True", "False", "Unknown"]
                .iter()
                .any(|r| line[ready_at..].starts_with(r)),
            "READY column aligned: {line}"
        );
    }
    assert!(
        lines[3].contains("BuildFailed")
            && lines[3].ends_with("kustomize build failed: accumulating resources"),
        "{}",
        lines[3]
    );
    assert!(lines[6].contains(" yes "), "suspended shows: {}", lines[6]);

    // Kind aliases, one context, one namespace, a name, a label selector.
    let (_, items) = get_json(&kc, &["ks"]).await;
    assert_eq!(
        keys(&items),
        [
            "dev/Kustomization/flux-system/apps",
            "dev/Kustomization/flux-system/infra",
            "prod/Kustomization/web/apps"
        ]
    );
    let (_, items) = get_json(&kc, &["kustomizations", "apps", "--context", "prod"]).await;
    assert_eq!(keys(&items), ["prod/Kustomization/web/apps"]);
    let (_, items) = get_json(&kc, &["all", "-n", "web"]).await;
    assert_eq!(
        keys(&items),
        [
            "prod/HelmRelease/web/podinfo",
            "prod/Kustomization/web/apps"
        ]
    );
    let (_, items) = get_json(&kc, &["hr", "-A"]).await;
    assert_eq!(keys(&items), ["prod/HelmRelease/web/podinfo"]);
    let (_, items) = get_json(&kc, &["app"]).await;
    assert_eq!(keys(&items), ["prod/Application/argocd/guestbook"]);
    let (_, items) = get_json(&kc, &["-l", "app=web,tier!=front"]).await;
    assert_eq!(keys(&items), ["prod/Kustomization/web/apps"]);

    // Nothing matches: an empty list (JSON) or a note on stderr (table), exit 0.
    let (run, items) = get_json(&kc, &["bucket"]).await;
    assert_eq!((run.code, items.len()), (Some(0), 0));
    let run = get(&kc, &["bucket"]).await;
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.is_empty() && run.stderr.contains("No GitOps objects found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_for_failing_objects_and_errors() {
    exit_codes_for_failing_objects_and_errors_on(seeded_on(false).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_exit_codes_for_failing_objects_and_errors() {
    crate::require_real_kube!();
    exit_codes_for_failing_objects_and_errors_on(seeded_on(true).await).await
}

async fn exit_codes_for_failing_objects_and_errors_on(server: ApiserverProcess) {
    let kc = server.kubeconfig.clone();

    // --fail-on-not-ready: 1 while a listed object fails, 0 when the listed ones do not.
    let run = get(&kc, &["--fail-on-not-ready"]).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("infra"), "still prints: {}", run.stdout);
    let run = get(&kc, &["ks", "--context", "prod", "--fail-on-not-ready"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let run = get(&kc, &["gr", "--fail-on-not-ready"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let run = get(&kc, &["ks", "infra", "-o", "json", "--fail-on-not-ready"]).await;
    assert_eq!(run.code, Some(1));

    // Unknown kind: 2, before contacting any cluster.
    let run = get(&kc, &["pods"]).await;
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("unknown kind \"pods\""),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());

    // Unknown context: 2, named; the known one is still printed.
    let run = get(
        &kc,
        &["ks", "--context", "nope", "--context", "dev", "-o", "json"],
    )
    .await;
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("\"nope\""), "{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).expect("JSON despite the error");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(2));

    // Only an unknown context: the error alone, no "No GitOps objects found." before it.
    let run = get(&kc, &["--context", "nope"]).await;
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("\"nope\""), "{}", run.stderr);
    assert!(!run.stderr.contains("No GitOps objects"), "{}", run.stderr);
    // A malformed label selector: 2, named.
    let run = get(&kc, &["-l", "a=("]).await;
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    // Global flags before the subcommand work as after it.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["--context", "dev", "get", "ks", "-o", "json"])
        .env_remove("KUBECONFIG")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["items"]
            .as_array()
            .is_some_and(|i| !i.is_empty() && i.iter().all(|o| o["context"] == "dev")),
        "{v}"
    );

    // A name found nowhere: 2.
    let run = get(&kc, &["ks", "missing"]).await;
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("\"missing\" not found"),
        "{}",
        run.stderr
    );

    // A dead context (nothing listens on its port): 2, named on stderr; the live ones still print.
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = std::fs::read_to_string(&kc).unwrap();
    let mut config: Value = serde_saphyr::from_str(&text).unwrap();
    config["clusters"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "gone",
        "cluster": {"server": format!("http://127.0.0.1:{dead_port}")}}));
    let user = config["contexts"][0]["context"]["user"].clone();
    config["contexts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "gone",
        "context": {"cluster": "gone", "user": user}}));
    let with_dead = server.dir.path().join("with-dead.json");
    std::fs::write(&with_dead, serde_json::to_string(&config).unwrap()).unwrap();
    let run = get(&with_dead, &["-o", "json"]).await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("context gone") && run.stderr.contains("cannot reach"),
        "{}",
        run.stderr
    );
    let v: Value = serde_json::from_str(&run.stdout).expect("JSON despite the dead context");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(6));
    let run = get(&with_dead, &["--context", "dev"]).await;
    assert_eq!(run.code, Some(0), "only the live context: {}", run.stderr);

    // Unusable kubeconfig: 2.
    let run = get(&server.dir.path().join("absent.yaml"), &[]).await;
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("absent.yaml"), "{}", run.stderr);
}

#[test]
fn help_has_examples() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["get", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for want in [
        "Examples:",
        "--fail-on-not-ready",
        "-o, --output",
        "Exit status",
    ] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }
}
