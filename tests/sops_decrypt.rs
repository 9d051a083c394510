//! SOPS decryption against the real `sops` CLI's files: the committed fixtures (encrypted by
//! `sops` with the committed test keys) decrypt to what `sops --decrypt` printed; when `sops` is on
//! PATH, freshly encrypted files decrypt byte for byte to its output; tampered values, MACs and IVs
//! are refused; a Kustomization with `spec.decryption` applies the plaintext Secret, a wrong key
//! fails the build without pruning, and plaintext never reaches status, events or the log.

use crate::common;

use common::gitrepo::{Repo, have_git};
use common::{PATIENCE, in_process, wait_until};
use flotilla::apiserver::ClusterOptions;
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use flotilla::sops::{self, Format, KeyRing, SopsError};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn read_text(rel: &str) -> String {
    String::from_utf8(read(rel)).expect("utf-8 fixture")
}

fn keys() -> KeyRing {
    let mut k = KeyRing::new();
    k.add_key_file("age.agekey", &read("age.agekey")).unwrap();
    k.add_key_file("pgp.asc", &read("pgp.asc")).unwrap();
    k
}

/// The format sops uses for a fixture name (`blob.age.pem` is binary).
fn format_of(name: &str) -> Format {
    if name.ends_with(".pem") {
        Format::Binary
    } else {
        Format::for_path(Path::new(name))
    }
}

#[test]
fn committed_fixtures_decrypt_to_the_committed_plaintext() {
    let keys = keys();
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("encrypted"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "fixtures present: {names:?}");
    for name in &names {
        let enc = read(&format!("encrypted/{name}"));
        let want = read(&format!("expected/{name}"));
        assert!(sops::is_encrypted(&enc, format_of(name)), "{name}");
        let got = sops::decrypt(name, &enc, format_of(name), &keys)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&got.text),
            String::from_utf8_lossy(&want),
            "{name}"
        );
    }
}

#[test]
fn only_the_matching_key_opens_a_file() {
    let enc = read("encrypted/secret.pgp.yaml");
    let mut pgp_only = KeyRing::new();
    pgp_only.add_pgp("pgp.asc", &read_text("pgp.asc")).unwrap();
    assert!(sops::decrypt("s", &enc, Format::Yaml, &pgp_only).is_ok());

    let enc = read("encrypted/secret.age.yaml");
    let mut other = KeyRing::new();
    other
        .add_age("other.agekey", &read_text("other.agekey"))
        .unwrap();
    let err = sops::decrypt("secret.age.yaml", &enc, Format::Yaml, &other).unwrap_err();
    assert!(matches!(err, SopsError::DataKey { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.starts_with("secret.age.yaml:"), "{msg}");
    assert!(msg.contains("age age1"), "names the recipients: {msg}");
    let err = sops::decrypt("x", &enc, Format::Yaml, &KeyRing::new()).unwrap_err();
    assert!(matches!(err, SopsError::DataKey { .. }), "{err}");
}

/// Replaces the first occurrence of `field` (e.g. `data:`) inside an `ENC[…]` value at or after
/// `anchor` by flipping one base64 character right after it.
fn tamper(text: &str, anchor: &str, field: &str) -> String {
    let start = text.find(anchor).expect("anchor") + anchor.len();
    let at = start + text[start..].find(field).expect("field") + field.len();
    let mut bytes = text.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn tampered_ciphertext_mac_and_iv_are_refused() {
    let keys = keys();
    let text = read_text("encrypted/secret.age.yaml");
    assert!(sops::decrypt("s", text.as_bytes(), Format::Yaml, &keys).is_ok());

    let cases = [
        ("ciphertext", tamper(&text, "password: ENC[", "data:")),
        ("iv", tamper(&text, "password: ENC[", "iv:")),
        ("tag", tamper(&text, "password: ENC[", "tag:")),
        ("mac", tamper(&text, "mac: ENC[", "data:")),
    ];
    for (what, bad) in cases {
        let err =
            sops::decrypt("secret.yaml", bad.as_bytes(), Format::Yaml, &keys).expect_err(what);
        let msg = err.to_string();
        assert!(msg.starts_with("secret.yaml:"), "{what}: {msg}");
        if what == "mac" {
            assert!(
                matches!(err, SopsError::MacMismatch { .. }),
                "{what}: {msg}"
            );
        } else {
            assert!(matches!(err, SopsError::Value { .. }), "{what}: {msg}");
            assert!(msg.contains("stringData") || msg.contains("data:"), "{msg}");
        }
    }
    // An unencrypted value changed after encryption breaks the MAC too.
    let relabeled = text.replacen("app: db", "app: dc", 1);
    assert_ne!(relabeled, text);
    let err = sops::decrypt("s", relabeled.as_bytes(), Format::Yaml, &keys).unwrap_err();
    assert!(matches!(err, SopsError::MacMismatch { .. }), "{err}");
    // …unless the file only MACs encrypted values.
    let maconly = read_text("encrypted/secret.maconly.yaml").replacen("app: db", "app: dc", 1);
    assert!(sops::decrypt("s", maconly.as_bytes(), Format::Yaml, &keys).is_ok());

    // Other formats refuse tampering the same way.
    let env = read_text("encrypted/app.age.env");
    let bad = tamper(&env, "DB_PASSWORD=ENC[", "data:");
    assert!(sops::decrypt("e", bad.as_bytes(), Format::Dotenv, &keys).is_err());
    let json = read_text("encrypted/config.age.json");
    let bad = tamper(&json, "\"token\": \"ENC[", "iv:");
    assert!(sops::decrypt("j", bad.as_bytes(), Format::Json, &keys).is_err());
}

#[test]
fn malformed_files_are_errors_not_panics() {
    let keys = keys();
    for (bytes, format) in [
        (b"a: 1\n".as_slice(), Format::Yaml),
        (b"sops: 3\n", Format::Yaml),
        (b"sops:\n  mac: x\n", Format::Yaml),
        (b"{\"sops\": []}", Format::Json),
        (b"[1]", Format::Json),
        (b"NOEQUALS\n", Format::Dotenv),
        (b"\xff\xfe", Format::Yaml),
        (b"a: [", Format::Yaml),
    ] {
        assert!(sops::decrypt("bad", bytes, format, &keys).is_err());
    }
}

/// The `sops` CLI: $SOPS, else on PATH. None (with the reason printed) when absent.
fn sops_cli() -> Option<PathBuf> {
    let candidate = std::env::var_os("SOPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("sops"));
    let ok = Command::new(&candidate)
        .args(["--version", "--disable-version-check"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "skipping the live sops comparison: no sops CLI on PATH (tests/tools/install-sops.sh builds it; .ci/run puts it on PATH)"
        );
    }
    ok.then_some(candidate)
}

#[test]
fn freshly_encrypted_files_decrypt_byte_for_byte_like_sops() {
    let Some(sops_bin) = sops_cli() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let gnupg = dir.path().join("gnupg");
    std::fs::create_dir(&gnupg).unwrap();
    let have_gpg = Command::new("gpg")
        .args(["--batch", "--quiet", "--import"])
        .arg(fixtures().join("pgp.asc"))
        .env("GNUPGHOME", &gnupg)
        .output()
        .is_ok_and(|o| o.status.success());
    let age_key = fixtures().join("age.agekey");
    let recipient = read_text("age.agekey")
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .unwrap();
    let fingerprint = read_text("pgp.fingerprint").trim().to_string();
    let run = |args: &[&str], file: &Path| -> Vec<u8> {
        let out = Command::new(&sops_bin)
            .args(args)
            .arg(file)
            .current_dir(dir.path())
            .env("SOPS_AGE_KEY_FILE", &age_key)
            .env("GNUPGHOME", &gnupg)
            .output()
            .expect("sops runs");
        assert!(
            out.status.success(),
            "sops {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let keys = keys();
    let regex = "^(data|stringData)$";
    let mut cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("secret.yaml", "yaml", vec!["--encrypted-regex", regex]),
        (
            "secret.yaml",
            "yaml",
            vec!["--encrypted-regex", regex, "--mac-only-encrypted"],
        ),
        ("values.yaml", "yaml", vec![]),
        (
            "values.yaml",
            "yaml",
            vec!["--unencrypted-suffix", "_unencrypted"],
        ),
        (
            "values.yaml",
            "yaml",
            vec!["--unencrypted-regex", "^(name|list)$"],
        ),
        ("multi.yaml", "yaml", vec![]),
        ("config.json", "json", vec![]),
        ("app.env", "dotenv", vec![]),
        ("blob.pem", "binary", vec![]),
    ];
    if have_gpg {
        cases.push(("secret.yaml", "yaml", vec!["--pgp", fingerprint.as_str()]));
    } else {
        eprintln!("gpg is not available: the fresh OpenPGP case is skipped");
    }
    for (i, (src, ty, extra)) in cases.iter().enumerate() {
        let (src, ty) = (*src, *ty);
        let mut args = vec!["--encrypt", "--input-type", ty, "--output-type", ty];
        if !extra.contains(&"--pgp") {
            args.extend(["--age", recipient.as_str()]);
        }
        args.extend(extra.iter().copied());
        let enc = run(&args, &fixtures().join("plain").join(src));
        let enc_path = dir.path().join(format!("case{i}"));
        std::fs::write(&enc_path, &enc).unwrap();
        let want = run(
            &["--decrypt", "--input-type", ty, "--output-type", ty],
            &enc_path,
        );
        let format = match ty {
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" => Format::Dotenv,
            _ => Format::Binary,
        };
        let got = sops::decrypt(src, &enc, format, &keys)
            .unwrap_or_else(|e| panic!("case {i} {src} {extra:?}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&got.text),
            String::from_utf8_lossy(&want),
            "case {i}: {src} {extra:?}"
        );
    }
}

#[test]
fn build_decrypt_with_prints_the_plaintext_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("secret.yaml"),
        read("encrypted/secret.age.yaml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("app.env"), read("encrypted/app.age.env")).unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources:\n- secret.yaml\nsecretGenerator:\n- name: app\n  envs:\n  - app.env\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["build", "--flux", "--decrypt-with"])
        .arg(fixtures().join("age.agekey"))
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("password: c3VwZXItc2VjcmV0LXBhc3N3b3Jk"),
        "{stdout}"
    );
    assert!(!stdout.contains("ENC["), "{stdout}");
    assert!(!stdout.contains("sops:"), "{stdout}");
    // hunter2, base64-encoded by the secretGenerator.
    assert!(stdout.contains("DB_PASSWORD: aHVudGVyMg=="), "{stdout}");

    // Without the key the build fails naming the file; with a wrong key too.
    let out = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["build", "--flux", "--decrypt-with"])
        .arg(fixtures().join("other.agekey"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("secret.yaml"), "{stderr}");
    assert!(stderr.contains("decryption failed"), "{stderr}");
}

// --- the reconciler ---

fn api(client: &kube::Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::namespaced_with(client.clone(), "default", &ar)
}

fn ks_api(client: &kube::Client) -> Api<DynamicObject> {
    api(
        client,
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
    )
}

async fn create(api: &Api<DynamicObject>, obj: Value) {
    let o: DynamicObject = serde_json::from_value(obj).expect("object");
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
}

fn ready(obj: &Value) -> Option<&Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

async fn wait_ks(client: &kube::Client, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let api = ks_api(client);
    wait_until(
        &format!("Kustomization secrets: {what}"),
        PATIENCE,
        || async {
            let o = serde_json::to_value(api.get_opt("secrets").await.ok()??).ok()?;
            if !pred(&o) {
                // Shown with the failure when the wait times out.
                eprintln!("Kustomization secrets status: {}", o["status"]);
            }
            pred(&o).then_some(o)
        },
    )
    .await
}

async fn key_secret(client: &kube::Client, entry: &str, key_file: &str) {
    let s: Secret = serde_json::from_value(json!({
        "metadata": {"name": "sops-keys", "namespace": "default"},
        "data": {entry: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, read(key_file))}
    }))
    .unwrap();
    let api = Api::<Secret>::namespaced(client.clone(), "default");
    let pp = PatchParams::apply("test").force();
    api.patch("sops-keys", &pp, &Patch::Apply(&s))
        .await
        .expect("key secret");
}

async fn app_secret(client: &kube::Client, name: &str) -> Option<Secret> {
    Api::<Secret>::namespaced(client.clone(), "apps")
        .get_opt(name)
        .await
        .expect("get secret")
}

fn data(s: &Secret, key: &str) -> String {
    let d = s.data.as_ref().expect("data");
    String::from_utf8(d[key].0.clone()).unwrap()
}

/// Plaintext values of the fixtures that must never show up outside the applied Secrets.
const PLAINTEXT: [&str; 3] = ["super-secret-password", "hunter2", "postgres://admin@db"];

async fn assert_no_plaintext_in_events(client: &kube::Client) {
    let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), "default");
    for e in events.list(&Default::default()).await.unwrap().items {
        let m = e.message.unwrap_or_default();
        for p in PLAINTEXT {
            assert!(!m.contains(p), "event leaks plaintext: {m}");
        }
    }
}

#[tokio::test]
async fn a_kustomization_applies_decrypted_secrets_and_a_wrong_key_prunes_nothing() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "apps/kustomization.yaml",
        "resources:\n- secret.yaml\n- configmap.yaml\nsecretGenerator:\n- name: app\n  envs:\n  - app.env\n",
    );
    repo.write("apps/secret.yaml", &read_text("encrypted/secret.age.yaml"));
    repo.write("apps/app.env", &read_text("encrypted/app.age.env"));
    repo.write(
        "apps/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\ndata:\n  a: b\n",
    );
    let first = repo.commit("encrypted secrets");

    let (_cluster, client) = in_process(ClusterOptions::default());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "apps"}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    key_secret(&client, "age.agekey", "age.agekey").await;
    create(
        &api(
            &client,
            "source.toolkit.fluxcd.io",
            "GitRepository",
            "gitrepositories",
        ),
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": "default"},
            "spec": {"url": repo.url(), "interval": "10m", "ref": {"branch": "main"}}
        }),
    )
    .await;
    let data_dir = tempfile::tempdir().unwrap();
    let opts = ControllerOptions {
        data_dir: data_dir.path().to_path_buf(),
        health_poll: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(10),
        allow_file_urls: true,
        ..ControllerOptions::default()
    };
    let controller = Controller::start(vec![("test".to_string(), client.clone())], &opts);
    create(
        &ks_api(&client),
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "secrets", "namespace": "default"},
            "spec": {
                "interval": "10m", "retryInterval": "1s", "timeout": "20s",
                "path": "./apps", "prune": true, "targetNamespace": "apps",
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                "decryption": {"provider": "sops", "secretRef": {"name": "sops-keys"}}
            }
        }),
    )
    .await;

    let obj = wait_ks(&client, "applied", |o| {
        ready(o).is_some_and(|r| r["status"] == "True")
    })
    .await;
    assert_eq!(
        obj["status"]["lastAppliedRevision"],
        format!("main@sha1:{first}")
    );
    let secret = app_secret(&client, "db-credentials")
        .await
        .expect("secret applied");
    // data values are the plaintext base64 strings; stringData was merged into data.
    assert_eq!(data(&secret, "password"), "super-secret-password");
    assert_eq!(data(&secret, "username"), "admin");
    assert_eq!(data(&secret, "url"), "postgres://admin@db:5432/app");
    assert!(data(&secret, "config.ini").contains("port = 5432"));
    let generated = Api::<Secret>::namespaced(client.clone(), "apps")
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|s| {
            s.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("app-"))
        })
        .expect("generated secret");
    assert_eq!(data(&generated, "DB_PASSWORD"), "hunter2");
    assert_eq!(data(&generated, "MULTI"), "one\\ntwo");
    assert_no_plaintext_in_events(&client).await;

    // A wrong key: the next revision fails to build, BuildFailed naming the file, and nothing
    // of the old revision is pruned.
    key_secret(&client, "age.agekey", "other.agekey").await;
    repo.remove("apps/configmap.yaml");
    repo.write(
        "apps/kustomization.yaml",
        "resources:\n- secret.yaml\nsecretGenerator:\n- name: app\n  envs:\n  - app.env\n",
    );
    repo.commit("drop the configmap");
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}});
    api(
        &client,
        "source.toolkit.fluxcd.io",
        "GitRepository",
        "gitrepositories",
    )
    .patch("repo", &PatchParams::default(), &Patch::Merge(&patch))
    .await
    .unwrap();
    let failed = wait_ks(&client, "failing", |o| {
        ready(o).is_some_and(|r| r["status"] == "False" && r["reason"] == "BuildFailed")
    })
    .await;
    let msg = ready(&failed).unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("decryption failed"), "{msg}");
    assert!(
        msg.contains("secret.yaml") || msg.contains("app.env"),
        "{msg}"
    );
    assert_eq!(
        failed["status"]["lastAppliedRevision"],
        format!("main@sha1:{first}")
    );
    assert!(
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), "apps")
            .get_opt("plain")
            .await
            .unwrap()
            .is_some(),
        "nothing pruned after a failed decryption"
    );
    let status = failed["status"].to_string();
    for p in PLAINTEXT {
        assert!(!status.contains(p), "status leaks plaintext: {status}");
    }
    assert_no_plaintext_in_events(&client).await;
    controller.shutdown().await;
}

#[tokio::test]
async fn plaintext_stays_out_of_the_controller_log_at_trace_level() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("apps/secret.yaml", &read_text("encrypted/secret.age.yaml"));
    repo.write("apps/app.env", &read_text("encrypted/app.age.env"));
    repo.write(
        "apps/kustomization.yaml",
        "resources:\n- secret.yaml\nsecretGenerator:\n- name: app\n  envs:\n  - app.env\n",
    );
    repo.commit("encrypted");
    let server = common::TcpServer::start(common::quiet_options()).await;
    let client = server.client().await;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "apps"}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    key_secret(&client, "age.agekey", "age.agekey").await;
    create(
        &api(
            &client,
            "source.toolkit.fluxcd.io",
            "GitRepository",
            "gitrepositories",
        ),
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": "default"},
            "spec": {"url": repo.url(), "interval": "10m", "ref": {"branch": "main"}}
        }),
    )
    .await;
    create(
        &ks_api(&client),
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "secrets", "namespace": "default"},
            "spec": {
                "interval": "10m", "retryInterval": "1s", "timeout": "20s",
                "path": "./apps", "prune": true, "targetNamespace": "apps",
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                "decryption": {"provider": "sops", "secretRef": {"name": "sops-keys"}}
            }
        }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("controller.log");
    let mut controller = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["controller", "--allow-file-urls", "--kubeconfig"])
        .arg(&server.kubeconfig)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--log-file")
        .arg(&log)
        .env("HOME", dir.path())
        .env("FLOTILLA_LOG", "flotilla=trace")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("controller runs");
    wait_ks(&client, "applied", |o| {
        ready(o).is_some_and(|r| r["status"] == "True")
    })
    .await;
    let secret = app_secret(&client, "db-credentials")
        .await
        .expect("applied");
    assert_eq!(data(&secret, "username"), "admin");

    let pid = controller.id().unwrap() as i32;
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let _ = tokio::time::timeout(PATIENCE, controller.wait()).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("secrets"), "the run was logged: {text}");
    for p in PLAINTEXT {
        assert!(!text.contains(p), "the log leaks {p:?}");
    }
}
