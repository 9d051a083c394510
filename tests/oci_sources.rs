//! OCIRepository (and OCI Helm charts) through the bundled controller against the embedded API
//! server and a real `docker-registry` on loopback: artifacts published with `flotilla push
//! artifact` (the CLI binary), with `skopeo` from a hand-made OCI layout, and with raw registry API
//! calls for the bad inputs (tampered blob, `../` entries). Skips with a printed reason when the
//! registry (or skopeo for its test) is not installed.

use crate::common;
use crate::image_support;

use common::{PATIENCE, TestCluster, quiet_options, wait_until};
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use image_support::{Registry, start_registry};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn api(client: &kube::Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::namespaced_with(client.clone(), "default", &ar)
}

fn oci_repos(client: &kube::Client) -> Api<DynamicObject> {
    api(
        client,
        "source.toolkit.fluxcd.io",
        "OCIRepository",
        "ocirepositories",
    )
}

async fn create(api: &Api<DynamicObject>, obj: Value) {
    let o: DynamicObject = serde_json::from_value(obj).unwrap();
    api.create(&PostParams::default(), &o).await.unwrap();
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Waits until the object's Ready condition satisfies `pred`; returns the object.
async fn wait_ready(api: &Api<DynamicObject>, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_until(&format!("{name} Ready condition"), PATIENCE, || async {
        let o = serde_json::to_value(api.get_opt(name).await.ok()??).ok()?;
        let ready = condition(&o, "Ready")?;
        pred(ready).then_some(o)
    })
    .await
}

fn oci_repository(name: &str, url: &str, reference: Value, extra: Value) -> Value {
    let mut spec = json!({"url": url, "interval": "10m", "ref": reference});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec
    })
}

fn start(client: &kube::Client, data: &Path) -> Controller {
    let opts = ControllerOptions {
        data_dir: data.to_path_buf(),
        ..ControllerOptions::default()
    };
    Controller::start(vec![("test".to_string(), client.clone())], &opts)
}

fn stored(data: &Path, obj: &Value) -> Vec<u8> {
    let path = obj["status"]["artifact"]["path"].as_str().unwrap();
    std::fs::read(data.join("test/artifacts").join(path)).unwrap()
}

/// The regular files of a tar.gz, by path.
fn files_of(tgz: &[u8]) -> std::collections::BTreeMap<String, String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let mut out = std::collections::BTreeMap::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_file() {
            let p = e.path().unwrap().display().to_string();
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            out.insert(p, s);
        }
    }
    out
}

async fn request_reconcile(api: &Api<DynamicObject>, name: &str, token: &str) {
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

/// Runs `flotilla push artifact … -o json`; returns the pushed manifest digest.
fn cli_push(url: &str, dir: &Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["push", "artifact", url, "--path"])
        .arg(dir)
        .args([
            "--source",
            "https://git.example.com/org/apps",
            "--revision",
            "main@sha1:0123456789abcdef0123456789abcdef01234567",
            "-o",
            "json",
        ])
        .args(extra)
        .env("DOCKER_CONFIG", dir.join("no-docker-config"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "push failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["digest"].as_str().unwrap().to_string()
}

/// A directory with one ConfigMap manifest whose data says `greeting`.
fn manifests(greeting: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cm.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-oci\n  namespace: default\ndata:\n  greeting: {greeting}\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("NOTES.md"), "not deployed\n").unwrap();
    dir
}

/// A tar.gz of (path, body) entries written as given (names unchecked, for bad input).
fn raw_tgz(entries: &[(&str, &str)]) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(enc);
    for (path, body) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // set_path refuses `..`; write the name bytes directly to model a hostile archive.
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        tar.append(&h, body.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Pushes blobs and a manifest with plain registry API calls; returns the manifest digest.
async fn raw_push(
    reg: &Registry,
    repo: &str,
    tag: &str,
    config: (&str, &[u8]),
    layers: &[(&str, &[u8])],
) -> String {
    let http = reqwest::Client::new();
    let auth = |r: reqwest::RequestBuilder| match &reg.auth {
        Some((u, p)) => r.basic_auth(u, Some(p)),
        None => r,
    };
    let push = |bytes: Vec<u8>| {
        let http = http.clone();
        let base = format!("http://{}", reg.addr);
        let repo = repo.to_string();
        let auth = &auth;
        async move {
            let digest = sha256(&bytes);
            let start = auth(http.post(format!("{base}/v2/{repo}/blobs/uploads/")))
                .send()
                .await
                .unwrap();
            let loc = start.headers()["location"].to_str().unwrap().to_string();
            let loc = if loc.starts_with("http") {
                loc
            } else {
                format!("{base}{loc}")
            };
            let sep = if loc.contains('?') { '&' } else { '?' };
            let put = auth(http.put(format!("{loc}{sep}digest={digest}")))
                .body(bytes)
                .send()
                .await
                .unwrap();
            assert_eq!(put.status().as_u16(), 201);
            digest
        }
    };
    let config_digest = push(config.1.to_vec()).await;
    let mut descs = Vec::new();
    for (mt, bytes) in layers {
        let d = push(bytes.to_vec()).await;
        descs.push(json!({"mediaType": mt, "digest": d, "size": bytes.len()}));
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config.0, "digest": config_digest, "size": config.1.len()},
        "layers": descs,
    }))
    .unwrap();
    let put = auth(http.put(format!("http://{}/v2/{repo}/manifests/{tag}", reg.addr)))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 201);
    sha256(&manifest)
}

/// The registry's file holding a blob (to tamper with it).
fn blob_file(reg: &Registry, digest: &str) -> std::path::PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    reg.dir
        .path()
        .join("storage/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

/// The layer digest of a pushed manifest.
async fn layer_digest(reg: &Registry, repo: &str, reference: &str) -> String {
    let body = reqwest::Client::new()
        .get(format!(
            "http://{}/v2/{repo}/manifests/{reference}",
            reg.addr
        ))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let m: Value = serde_json::from_slice(&body).unwrap();
    m["layers"][0]["digest"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn pushed_artifact_becomes_ready_and_a_kustomization_applies_it() {
    let Some(reg) = start_registry(None).await else {
        return;
    };
    let tc = TestCluster::embedded(quiet_options()).await;
    let client = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let src = manifests("hello");
    let url = format!("oci://{}/apps/site", reg.addr);
    let digest = cli_push(&format!("{url}:v1.0.0"), src.path(), &[]);
    let repos = oci_repos(&client);
    create(
        &repos,
        oci_repository(
            "site",
            &url,
            json!({"tag": "v1.0.0"}),
            json!({"ignore": "*.md"}),
        ),
    )
    .await;
    let obj = wait_ready(&repos, "site", |c| c["status"] == "True").await;
    let revision = format!("v1.0.0@{digest}");
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "Succeeded");
    assert_eq!(
        ready["message"],
        format!("stored artifact for digest '{revision}'")
    );
    assert_eq!(
        condition(&obj, "ArtifactInStorage").unwrap()["status"],
        "True"
    );
    let a = &obj["status"]["artifact"];
    assert_eq!(a["revision"], revision);
    assert_eq!(
        a["path"],
        format!(
            "ocirepository/default/site/{}.tar.gz",
            digest.trim_start_matches("sha256:")
        )
    );
    assert_eq!(
        a["metadata"]["org.opencontainers.image.source"],
        "https://git.example.com/org/apps"
    );
    assert_eq!(
        a["metadata"]["org.opencontainers.image.revision"],
        "main@sha1:0123456789abcdef0123456789abcdef01234567"
    );
    let bytes = stored(data.path(), &obj);
    assert_eq!(a["digest"], sha256(&bytes));
    let files = files_of(&bytes);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["cm.yaml"],
        "ignore applied"
    );
    assert!(files["cm.yaml"].contains("greeting: hello"));
    let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), "default");
    let list = events.list(&Default::default()).await.unwrap().items;
    assert!(
        list.iter()
            .any(|e| e.reason.as_deref() == Some("NewArtifact")
                && e.message.as_deref().is_some_and(|m| m.starts_with(&format!(
                    "stored artifact with revision '{revision}' from '{url}'"
                )))),
        "NewArtifact event"
    );

    // A Kustomization reading the OCIRepository applies its content.
    let ks = api(
        &client,
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
    );
    create(
        &ks,
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "site", "namespace": "default"},
            "spec": {"interval": "10m", "path": "./", "prune": true,
                     "sourceRef": {"kind": "OCIRepository", "name": "site"}}
        }),
    )
    .await;
    let k = wait_ready(&ks, "site", |c| c["status"] == "True").await;
    assert_eq!(k["status"]["lastAppliedRevision"], revision);
    assert_eq!(
        k["status"]["lastAppliedOriginRevision"],
        "main@sha1:0123456789abcdef0123456789abcdef01234567"
    );
    let cms = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), "default");
    let cm = cms.get("from-oci").await.unwrap();
    assert_eq!(cm.data.unwrap()["greeting"], "hello");

    // A new push under the same tag: the next reconcile picks up the new digest, the
    // Kustomization follows.
    let src2 = manifests("again");
    let digest2 = cli_push(&format!("{url}:v1.0.0"), src2.path(), &[]);
    assert_ne!(digest, digest2);
    request_reconcile(&repos, "site", "2026-12-08T01:00:00Z").await;
    wait_ready(&repos, "site", |c| {
        c["message"] == format!("stored artifact for digest 'v1.0.0@{digest2}'")
    })
    .await;
    wait_until(
        "ConfigMap updated from the new artifact",
        PATIENCE,
        || async {
            let cm = cms.get("from-oci").await.ok()?;
            (cm.data?.get("greeting")? == "again").then_some(())
        },
    )
    .await;
    controller.shutdown().await;
}

#[tokio::test]
async fn semver_picks_the_highest_tag_and_digest_refs_pin() {
    let Some(reg) = start_registry(None).await else {
        return;
    };
    let tc = TestCluster::embedded(quiet_options()).await;
    let client = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let url = format!("oci://{}/apps/ver", reg.addr);
    let mut digests = std::collections::HashMap::new();
    for v in ["1.0.0", "1.4.2", "2.0.0", "1.5.0-rc.1"] {
        let src = manifests(v);
        digests.insert(v, cli_push(&format!("{url}:{v}"), src.path(), &[]));
    }
    let repos = oci_repos(&client);
    create(
        &repos,
        oci_repository("ver", &url, json!({"semver": ">=1.0.0 <2.0.0"}), json!({})),
    )
    .await;
    create(
        &repos,
        oci_repository(
            "filtered",
            &url,
            json!({"semver": "*", "semverFilter": "^1\\.0"}),
            json!({}),
        ),
    )
    .await;
    create(
        &repos,
        oci_repository(
            "pinned",
            &url,
            json!({"digest": digests["2.0.0"], "tag": "1.0.0", "semver": "*"}),
            json!({}),
        ),
    )
    .await;
    let obj = wait_ready(&repos, "ver", |c| c["status"] == "True").await;
    assert_eq!(
        obj["status"]["artifact"]["revision"],
        format!("1.4.2@{}", digests["1.4.2"])
    );
    let obj = wait_ready(&repos, "filtered", |c| c["status"] == "True").await;
    assert_eq!(
        obj["status"]["artifact"]["revision"],
        format!("1.0.0@{}", digests["1.0.0"])
    );
    let obj = wait_ready(&repos, "pinned", |c| c["status"] == "True").await;
    assert_eq!(obj["status"]["artifact"]["revision"], digests["2.0.0"]);
    assert!(files_of(&stored(data.path(), &obj))["cm.yaml"].contains("greeting: 2.0.0"));

    // No tag in range: Flux's reason and message.
    create(
        &repos,
        oci_repository("none", &url, json!({"semver": ">=9"}), json!({})),
    )
    .await;
    let obj = wait_ready(&repos, "none", |c| c["status"] == "False").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "OCIArtifactPullFailed");
    assert_eq!(
        ready["message"],
        "failed to determine artifact reference: no match found for semver: >=9"
    );
    assert_eq!(condition(&obj, "FetchFailed").unwrap()["status"], "True");
    controller.shutdown().await;
}

#[tokio::test]
async fn plain_image_layer_copied_by_media_type_from_a_skopeo_push() {
    let Some(reg) = start_registry(None).await else {
        return;
    };
    if Command::new("skopeo").arg("--version").output().is_err() {
        eprintln!("SKIP: skopeo is not installed");
        return;
    }
    // A hand-made OCI image layout: config, a first layer of another type, the tar.gz layer.
    let layout = tempfile::tempdir().unwrap();
    let blobs = layout.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let write = |bytes: &[u8]| {
        let d = sha256(bytes);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), bytes).unwrap();
        d
    };
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let notes = b"plain text layer".to_vec();
    let content = raw_tgz(&[("deploy/cm.yaml", "kind: ConfigMap\n")]);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": write(config), "size": config.len()},
        "layers": [
            {"mediaType": "text/plain", "digest": write(&notes), "size": notes.len()},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": write(&content), "size": content.len()}
        ],
        "annotations": {"org.opencontainers.image.source": "hand-made"}
    }))
    .unwrap();
    let manifest_digest = write(&manifest);
    std::fs::write(
        layout.path().join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(
        layout.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false", "--preserve-digests"])
        .arg(format!("oci:{}:v1", layout.path().display()))
        .arg(format!("docker://{}/plain/image:v1", reg.addr))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tc = TestCluster::embedded(quiet_options()).await;
    let client = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let repos = oci_repos(&client);
    let url = format!("oci://{}/plain/image", reg.addr);
    create(
        &repos,
        oci_repository(
            "copy",
            &url,
            json!({"tag": "v1"}),
            json!({"layerSelector": {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "operation": "copy"}}),
        ),
    )
    .await;
    create(
        &repos,
        oci_repository(
            "extract",
            &url,
            json!({"tag": "v1"}),
            json!({"layerSelector": {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}}),
        ),
    )
    .await;
    let obj = wait_ready(&repos, "copy", |c| c["status"] == "True").await;
    assert_eq!(
        obj["status"]["artifact"]["revision"],
        format!("v1@{manifest_digest}")
    );
    assert_eq!(stored(data.path(), &obj), content, "copied byte for byte");
    assert_eq!(obj["status"]["observedLayerSelector"]["operation"], "copy");
    assert_eq!(
        obj["status"]["artifact"]["metadata"]["org.opencontainers.image.source"],
        "hand-made"
    );
    let obj = wait_ready(&repos, "extract", |c| c["status"] == "True").await;
    assert_eq!(
        files_of(&stored(data.path(), &obj))["deploy/cm.yaml"],
        "kind: ConfigMap\n"
    );
    // Without a selector the first layer (not a tar.gz) is used and fails to extract.
    create(
        &repos,
        oci_repository("first", &url, json!({"tag": "v1"}), json!({})),
    )
    .await;
    let obj = wait_ready(&repos, "first", |c| c["status"] == "False").await;
    assert_eq!(
        condition(&obj, "Ready").unwrap()["reason"],
        "OCIArtifactLayerOperationFailed"
    );
    controller.shutdown().await;
}

#[tokio::test]
async fn dockerconfigjson_secret_authenticates_against_htpasswd() {
    let Some(reg) = start_registry(Some(("flux", "s3cret"))).await else {
        return;
    };
    let src = manifests("private");
    let url = format!("oci://{}/private/app", reg.addr);
    let digest = cli_push(
        &format!("{url}:v1"),
        src.path(),
        &["--creds", "flux:s3cret"],
    );
    let tc = TestCluster::embedded(quiet_options()).await;
    let client = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let repos = oci_repos(&client);
    create(
        &repos,
        oci_repository("anon", &url, json!({"tag": "v1"}), json!({})),
    )
    .await;
    let obj = wait_ready(&repos, "anon", |c| c["status"] == "False").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "OCIArtifactPullFailed");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("authentication"),
        "{ready}"
    );

    let config = json!({"auths": {reg.addr.clone(): {"username": "flux", "password": "s3cret"}}});
    let secrets = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), "default");
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "regcred"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": config.to_string()}
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    create(
        &repos,
        oci_repository(
            "authed",
            &url,
            json!({"tag": "v1"}),
            json!({"secretRef": {"name": "regcred"}}),
        ),
    )
    .await;
    let obj = wait_ready(&repos, "authed", |c| c["status"] == "True").await;
    assert_eq!(
        obj["status"]["artifact"]["revision"],
        format!("v1@{digest}")
    );

    // A missing Secret: AuthenticationFailed, nothing secret in the message.
    create(
        &repos,
        oci_repository(
            "nosecret",
            &url,
            json!({"tag": "v1"}),
            json!({"secretRef": {"name": "missing"}}),
        ),
    )
    .await;
    let obj = wait_ready(&repos, "nosecret", |c| c["status"] == "False").await;
    assert_eq!(
        condition(&obj, "Ready").unwrap()["reason"],
        "AuthenticationFailed"
    );
    let text = serde_json::to_string(&obj).unwrap();
    assert!(!text.contains("s3cret"));
    controller.shutdown().await;
}

#[tokio::test]
async fn tampered_blob_and_unsafe_entries_fail_and_keep_the_last_artifact() {
    let Some(reg) = start_registry(None).await else {
        return;
    };
    let tc = TestCluster::embedded(quiet_options()).await;
    let client = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let repos = oci_repos(&client);
    let url = format!("oci://{}/bad/app", reg.addr);
    let good = cli_push(&format!("{url}:v1"), manifests("good").path(), &[]);
    create(
        &repos,
        oci_repository("app", &url, json!({"tag": "v1"}), json!({})),
    )
    .await;
    let obj = wait_ready(&repos, "app", |c| c["status"] == "True").await;
    let first = obj["status"]["artifact"].clone();
    assert_eq!(first["revision"], format!("v1@{good}"));

    // The next push's layer is altered on the registry's disk: digest mismatch.
    let next = cli_push(&format!("{url}:v1"), manifests("next").path(), &[]);
    let layer = layer_digest(&reg, "bad/app", &next).await;
    std::fs::write(blob_file(&reg, &layer), raw_tgz(&[("cm.yaml", "evil")])).unwrap();
    request_reconcile(&repos, "app", "2026-12-08T01:10:00Z").await;
    let obj = wait_ready(&repos, "app", |c| c["status"] == "False").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "OCIArtifactLayerOperationFailed");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("digest mismatch"),
        "{ready}"
    );
    assert_eq!(obj["status"]["artifact"], first, "last artifact kept");
    assert_eq!(
        condition(&obj, "ArtifactOutdated").unwrap()["status"],
        "True"
    );

    // A layer with a `../` entry is refused.
    raw_push(
        &reg,
        "bad/app",
        "v1",
        ("application/vnd.cncf.flux.config.v1+json", b"{}"),
        &[(
            "application/vnd.cncf.flux.content.v1.tar+gzip",
            &raw_tgz(&[("../escape.yaml", "x")]),
        )],
    )
    .await;
    request_reconcile(&repos, "app", "2026-12-08T01:11:00Z").await;
    let obj = wait_ready(&repos, "app", |c| {
        c["status"] == "False"
            && c["message"]
                .as_str()
                .is_some_and(|m| m.contains("escape.yaml"))
    })
    .await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "OCIArtifactLayerOperationFailed");
    assert_eq!(obj["status"]["artifact"], first, "last artifact kept");
    assert!(!data.path().join("test/escape.yaml").exists());
    assert!(!data.path().join("test/oci/escape.yaml").exists());

    // A layer with a symlink pointing out of the tree is refused too.
    let link = {
        let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(enc);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        tar.append_link(&mut h, "passwd.yaml", "/etc/passwd")
            .unwrap();
        tar.into_inner().unwrap().finish().unwrap()
    };
    raw_push(
        &reg,
        "bad/app",
        "v1",
        ("application/vnd.cncf.flux.config.v1+json", b"{}"),
        &[("application/vnd.cncf.flux.content.v1.tar+gzip", &link)],
    )
    .await;
    request_reconcile(&repos, "app", "2026-12-08T01:12:00Z").await;
    let obj = wait_ready(&repos, "app", |c| {
        c["status"] == "False"
            && c["message"]
                .as_str()
                .is_some_and(|m| m.contains("passwd.yaml"))
    })
    .await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "OCIArtifactLayerOperationFailed");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("links are not allowed"),
        "{ready}"
    );
    assert_eq!(obj["status"]["artifact"], first, "last artifact kept");
    controller.shutdown().await;
}

#[tokio::test]
async fn unreachable_registry_is_a_pull_failure() {
    let tc = TestCluster::embedded(quiet_options()).await;
    let client = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let repos = oci_repos(&client);
    // A bound-then-closed port: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    create(
        &repos,
        oci_repository(
            "down",
            &format!("oci://127.0.0.1:{port}/apps/x"),
            json!({"tag": "v1"}),
            json!({"timeout": "5s"}),
        ),
    )
    .await;
    let obj = wait_ready(&repos, "down", |c| c["status"] == "False").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "OCIArtifactPullFailed");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .starts_with("failed to determine artifact digest: "),
        "{ready}"
    );
    assert_eq!(condition(&obj, "FetchFailed").unwrap()["status"], "True");
    assert!(obj["status"].get("artifact").is_none());
    // An invalid URL stalls.
    create(
        &repos,
        oci_repository("badurl", "https://example.com/x", json!({}), json!({})),
    )
    .await;
    let obj = wait_ready(&repos, "badurl", |c| c["status"] == "False").await;
    assert_eq!(condition(&obj, "Ready").unwrap()["reason"], "URLInvalid");
    assert_eq!(condition(&obj, "Stalled").unwrap()["status"], "True");
    controller.shutdown().await;
}

#[tokio::test]
async fn diff_artifact_reports_local_changes() {
    let Some(reg) = start_registry(None).await else {
        return;
    };
    let src = manifests("same");
    let url = format!("oci://{}/diff/app:v1", reg.addr);
    cli_push(&url, src.path(), &[]);
    let diff = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_flotilla"))
            .args(["diff", "artifact", &url, "--path"])
            .arg(dir)
            .env("DOCKER_CONFIG", dir.join("none"))
            .output()
            .unwrap()
    };
    let out = diff(src.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    std::fs::write(src.path().join("cm.yaml"), "changed\n").unwrap();
    std::fs::write(src.path().join("extra.yaml"), "x\n").unwrap();
    let out = diff(src.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("~ cm.yaml") && text.contains("+ extra.yaml"),
        "{text}"
    );
}

/// A chart archive `<name>/{Chart.yaml,values.yaml,templates/cm.yaml}` written for these tests.
fn chart_tgz(name: &str, version: &str) -> Vec<u8> {
    let files = [
        (
            "Chart.yaml",
            format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
        ),
        ("values.yaml", format!("greeting: hello-{version}\n")),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting }}\n".to_string(),
        ),
    ];
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(enc);
    for (path, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, format!("{name}/{path}"), body.as_bytes())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// The reference helm binary (PATH, else the cache `tests/tools/install-helm.sh` fills); never
/// downloads.
fn helm_binary() -> Option<std::path::PathBuf> {
    let works = |p: &Path| {
        Command::new(p)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(Path::new("helm")) {
        return Some("helm".into());
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))?;
    let cached = cache.join("flotilla-ci/helm-2.0.0/helm");
    works(&cached).then_some(cached)
}

#[tokio::test]
async fn helm_chart_from_an_oci_helm_repository() {
    let Some(reg) = start_registry(None).await else {
        return;
    };
    let helm = helm_binary();
    let mut archives = std::collections::HashMap::new();
    let work = tempfile::tempdir().unwrap();
    for v in ["1.0.0", "1.5.0", "2.0.0"] {
        let tgz = chart_tgz("demo", v);
        archives.insert(v, tgz.clone());
        match &helm {
            Some(helm) => {
                let file = work.path().join(format!("demo-{v}.tgz"));
                std::fs::write(&file, &tgz).unwrap();
                let out = Command::new(helm)
                    .arg("push")
                    .arg(&file)
                    .arg(format!("oci://{}/charts", reg.addr))
                    .arg("--plain-http")
                    .env("HOME", work.path())
                    .env("HELM_CONFIG_HOME", work.path().join("helm-config"))
                    .env("HELM_CACHE_HOME", work.path().join("helm-cache"))
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "helm push: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => {
                eprintln!("no helm CLI (tests/tools/install-helm.sh): pushing the chart by hand");
                raw_push(
                    &reg,
                    "charts/demo",
                    v,
                    (
                        "application/vnd.cncf.helm.config.v1+json",
                        format!(r#"{{"name":"demo","version":"{v}"}}"#).as_bytes(),
                    ),
                    &[("application/vnd.cncf.helm.chart.content.v1.tar+gzip", &tgz)],
                )
                .await;
            }
        }
    }
    let tc = TestCluster::embedded(quiet_options()).await;
    let client = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let repos = api(
        &client,
        "source.toolkit.fluxcd.io",
        "HelmRepository",
        "helmrepositories",
    );
    let charts = api(
        &client,
        "source.toolkit.fluxcd.io",
        "HelmChart",
        "helmcharts",
    );
    create(
        &repos,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": {"name": "oci-charts", "namespace": "default"},
            "spec": {"type": "oci", "url": format!("oci://{}/charts", reg.addr), "interval": "10m"}
        }),
    )
    .await;
    let chart = |name: &str, version: &str| {
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmChart",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"chart": "demo", "version": version, "interval": "10m",
                     "sourceRef": {"kind": "HelmRepository", "name": "oci-charts"}}
        })
    };
    create(&charts, chart("ranged", ">=1.0.0 <2.0.0")).await;
    create(&charts, chart("exact", "1.0.0")).await;
    create(&charts, chart("missing", ">=9")).await;
    let obj = wait_ready(&charts, "ranged", |c| c["status"] == "True").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "ChartPullSucceeded");
    assert_eq!(ready["message"], "pulled 'demo' chart with version '1.5.0'");
    assert_eq!(obj["status"]["artifact"]["revision"], "1.5.0");
    assert_eq!(stored(data.path(), &obj), archives["1.5.0"]);
    let obj = wait_ready(&charts, "exact", |c| c["status"] == "True").await;
    assert_eq!(stored(data.path(), &obj), archives["1.0.0"]);
    let obj = wait_ready(&charts, "missing", |c| c["status"] == "False").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "ChartReferenceError");
    assert!(
        ready["message"].as_str().unwrap().starts_with(
            "chart reference error: failed to get chart version for remote reference: "
        ),
        "{ready}"
    );
    controller.shutdown().await;
}
