//! ArtifactGenerator + ExternalArtifact end to end under the bundled controller against the
//! embedded API server with a real git remote (file://): the layout of Flux's current example
//! repository (`tests/fixtures/artifact-generator`) converges from a root Kustomization; a change
//! in `apps/` only changes the apps artifact; a copy rule matching nothing or a missing source
//! leaves the generator Ready=False with source-watcher's reason and prunes nothing.

use crate::common;

use common::gitrepo::{Repo, have_git};
use common::{PATIENCE, in_process, quiet_options, wait_until};
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const NS: &str = "flux-system";

fn api(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client.clone(), NS, &ar)
}

fn git_api(c: &kube::Client) -> Api<DynamicObject> {
    api(
        c,
        "source.toolkit.fluxcd.io",
        "v1",
        "GitRepository",
        "gitrepositories",
    )
}
fn ks_api(c: &kube::Client) -> Api<DynamicObject> {
    api(
        c,
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        "kustomizations",
    )
}
fn ea_api(c: &kube::Client) -> Api<DynamicObject> {
    api(
        c,
        "source.toolkit.fluxcd.io",
        "v1",
        "ExternalArtifact",
        "externalartifacts",
    )
}
fn gen_api(c: &kube::Client) -> Api<DynamicObject> {
    api(
        c,
        "source.extensions.fluxcd.io",
        "v1beta1",
        "ArtifactGenerator",
        "artifactgenerators",
    )
}

async fn create(api: &Api<DynamicObject>, obj: Value) {
    let o: DynamicObject = serde_json::from_value(obj).expect("object");
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Option<Value> {
    api.get_opt(name)
        .await
        .ok()
        .flatten()
        .map(|o| serde_json::to_value(o).expect("json"))
}

async fn merge(api: &Api<DynamicObject>, name: &str, patch: Value) {
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");
}

fn ready(obj: &Value) -> Option<(&str, &str, &str)> {
    let c = obj
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        c["status"].as_str()?,
        c["reason"].as_str()?,
        c["message"].as_str().unwrap_or(""),
    ))
}

async fn wait_for(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    wait_until(&format!("{name}: {what}"), PATIENCE * 2, || async {
        let o = get(api, name).await?;
        pred(&o).then_some(o)
    })
    .await
}

fn is_ready(o: &Value) -> bool {
    ready(o).is_some_and(|(s, _, _)| s == "True")
}

fn artifact_revision(o: &Value) -> String {
    o.pointer("/status/artifact/revision")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Copies the fixture tree into the work tree.
fn copy_fixture(from: &Path, repo: &Repo, prefix: &str) {
    for e in std::fs::read_dir(from).expect("fixture dir") {
        let e = e.expect("entry");
        let rel = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.file_type().expect("type").is_dir() {
            copy_fixture(&e.path(), repo, &format!("{rel}/"));
        } else {
            repo.write(&rel, &std::fs::read_to_string(e.path()).expect("read"));
        }
    }
}

fn monorepo() -> (Repo, String) {
    let repo = Repo::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/artifact-generator");
    copy_fixture(&dir, &repo, "");
    let commit = repo.commit("the example layout");
    (repo, commit)
}

async fn namespace(client: &kube::Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
}

async fn config_map(client: &kube::Client, ns: &str, name: &str) -> Option<ConfigMap> {
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .expect("get cm")
}

fn start(client: &kube::Client, data: &Path) -> Controller {
    let opts = ControllerOptions {
        data_dir: data.to_path_buf(),
        health_poll: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(10),
        allow_file_urls: true,
        ..ControllerOptions::default()
    };
    Controller::start(vec![("test".to_string(), client.clone())], &opts)
}

async fn git_repository(client: &kube::Client, url: &str) {
    create(
        &git_api(client),
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": NS},
            "spec": {"url": url, "interval": "1h", "ref": {"branch": "main"}},
        }),
    )
    .await;
}

/// Asks for a new fetch, as `flux reconcile source git` does.
async fn poke(client: &kube::Client, token: &str) {
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    merge(&git_api(client), "flux-system", patch).await;
}

#[tokio::test]
async fn the_example_layout_converges_and_only_changed_artifacts_move() {
    if !have_git() {
        return;
    }
    let (repo, commit) = monorepo();
    let (_cluster, client) = in_process(quiet_options());
    namespace(&client, NS).await;
    git_repository(&client, &repo.url()).await;
    // The root Kustomization `flux bootstrap` would create.
    create(
        &ks_api(&client),
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "flux-system", "namespace": NS},
            "spec": {"interval": "1h", "path": "./clusters/staging", "prune": true,
                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
        }),
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());

    let apps = wait_for(&ks_api(&client), "apps", "applied", is_ready).await;
    let cm = config_map(&client, "podinfo", "podinfo")
        .await
        .expect("podinfo cm");
    assert_eq!(cm.data.unwrap()["message"], "hello from staging");
    assert!(
        config_map(&client, "ingress", "cluster-issuer")
            .await
            .is_some()
    );
    assert!(
        config_map(&client, "ingress", "ingress-controller")
            .await
            .is_some()
    );

    // The ExternalArtifacts: owned by the generator, Ready, content-addressed revisions, origin.
    let ea_apps = get(&ea_api(&client), "apps").await.expect("apps EA");
    let ea_infra = get(&ea_api(&client), "infra").await.expect("infra EA");
    assert_eq!(ready(&ea_apps).map(|r| r.0), Some("True"), "{ea_apps:#}");
    assert_eq!(ea_apps["spec"]["sourceRef"]["kind"], "ArtifactGenerator");
    assert_eq!(ea_apps["spec"]["sourceRef"]["name"], "flux-system");
    let apps_rev = artifact_revision(&ea_apps);
    let infra_rev = artifact_revision(&ea_infra);
    assert!(apps_rev.starts_with("latest@sha256:"), "{apps_rev}");
    assert_ne!(apps_rev, infra_rev);
    assert_eq!(
        ea_apps["status"]["artifact"]["metadata"]["org.opencontainers.image.revision"],
        format!("main@sha1:{commit}")
    );
    assert_eq!(apps["status"]["lastAppliedRevision"], apps_rev.as_str());
    // The exclude rule kept the README out of the infra artifact: the archive lists no README.
    let generator = get(&gen_api(&client), "flux-system")
        .await
        .expect("generator");
    assert_eq!(
        ready(&generator).map(|r| r.1),
        Some("Succeeded"),
        "{generator:#}"
    );
    let inventory = generator["status"]["inventory"]
        .as_array()
        .expect("inventory");
    let names: Vec<&str> = inventory
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["infra", "apps"]);
    let infra_path = ea_infra["status"]["artifact"]["path"].as_str().unwrap();
    let store =
        flotilla::controllers::source::SourceStorage::new(data.path(), "test").artifact_store();
    let archive = std::fs::read(store.path_of(infra_path).unwrap()).expect("infra archive");
    let mut entries: Vec<String> = tar::Archive::new(flate2::read::GzDecoder::new(&archive[..]))
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.header().entry_type().is_file())
        .map(|e| e.path().unwrap().to_string_lossy().to_string())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            "configs/issuer.yaml",
            "controllers/kustomization.yaml",
            "controllers/namespace.yaml",
            "controllers/settings.yaml",
        ]
    );

    // A change only in apps/: the apps artifact gets a new revision, infra keeps its own.
    repo.write(
        "apps/base/podinfo/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: podinfo\n  namespace: podinfo\ndata:\n  message: hello from base\n  extra: \"1\"\n",
    );
    let commit2 = repo.commit("apps: one more key");
    poke(&client, "1").await;
    let ea_apps2 = wait_for(&ea_api(&client), "apps", "new revision", |o| {
        artifact_revision(o) != apps_rev
    })
    .await;
    wait_for(&ks_api(&client), "apps", "applies the new revision", |o| {
        o["status"]["lastAppliedRevision"] == artifact_revision(&ea_apps2).as_str()
    })
    .await;
    let cm = config_map(&client, "podinfo", "podinfo")
        .await
        .expect("podinfo cm");
    assert_eq!(cm.data.unwrap()["extra"], "1");
    let ea_infra2 = get(&ea_api(&client), "infra").await.expect("infra EA");
    assert_eq!(
        artifact_revision(&ea_infra2),
        infra_rev,
        "infra must not move"
    );
    // The origin revision follows the monorepo commit even where the content did not change.
    wait_for(
        &ea_api(&client),
        "infra",
        "origin follows the commit",
        |o| {
            o["status"]["artifact"]["metadata"]["org.opencontainers.image.revision"]
                == format!("main@sha1:{commit2}").as_str()
        },
    )
    .await;
    controller.shutdown().await;
}

fn split_generator(apps_from: &str, source: &str) -> Value {
    json!({
        "apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
        "metadata": {"name": "split", "namespace": NS},
        "spec": {
            "sources": [{"alias": "repo", "kind": "GitRepository", "name": source}],
            "artifacts": [
                {"name": "apps", "copy": [{"from": apps_from, "to": "@artifact/"}]},
                {"name": "infra", "revision": "@repo", "copy": [{"from": "@repo/infrastructure/", "to": "@artifact/"}]},
            ],
        },
    })
}

#[tokio::test]
async fn bad_copy_rules_and_missing_sources_fail_without_pruning() {
    if !have_git() {
        return;
    }
    let (repo, commit) = monorepo();
    let (_cluster, client) = in_process(quiet_options());
    namespace(&client, NS).await;
    git_repository(&client, &repo.url()).await;
    create(
        &gen_api(&client),
        split_generator("@repo/apps/**", "flux-system"),
    )
    .await;
    create(
        &ks_api(&client),
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": NS},
            "spec": {"interval": "1h", "path": "./base/podinfo", "prune": true,
                     "sourceRef": {"kind": "ExternalArtifact", "name": "apps"}},
        }),
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    wait_for(&ks_api(&client), "apps", "applied", is_ready).await;
    let infra = get(&ea_api(&client), "infra").await.expect("infra EA");
    // `revision: "@repo"` takes the source's revision; `@repo/infrastructure/` copies the directory.
    assert_eq!(artifact_revision(&infra), format!("main@sha1:{commit}"));
    let before = artifact_revision(&get(&ea_api(&client), "apps").await.unwrap());

    // A copy rule that matches nothing: BuildFailed, the last artifact and the applied objects stay.
    merge(
        &gen_api(&client),
        "split",
        json!({"spec": split_generator("@repo/nothing-here/**", "flux-system")["spec"]}),
    )
    .await;
    let g = wait_for(&gen_api(&client), "split", "BuildFailed", |o| {
        ready(o).is_some_and(|(s, r, _)| s == "False" && r == "BuildFailed")
    })
    .await;
    let msg = ready(&g).unwrap().2;
    assert!(
        msg.contains("artifact 'apps'") && msg.contains("'@repo/nothing-here/**' matched no files"),
        "{msg}"
    );
    assert_eq!(
        artifact_revision(&get(&ea_api(&client), "apps").await.expect("apps EA kept")),
        before
    );
    assert!(get(&ea_api(&client), "infra").await.is_some());
    assert!(config_map(&client, "podinfo", "podinfo").await.is_some());

    // A missing source: SourceFetchFailed, still nothing removed.
    merge(
        &gen_api(&client),
        "split",
        json!({"spec": split_generator("@repo/apps/**", "no-such-repo")["spec"]}),
    )
    .await;
    let g = wait_for(&gen_api(&client), "split", "SourceFetchFailed", |o| {
        ready(o).is_some_and(|(s, r, _)| s == "False" && r == "SourceFetchFailed")
    })
    .await;
    let msg = ready(&g).unwrap().2;
    assert!(
        msg.contains("GitRepository 'flux-system/no-such-repo' not found"),
        "{msg}"
    );
    assert!(get(&ea_api(&client), "apps").await.is_some());
    assert!(config_map(&client, "podinfo", "podinfo").await.is_some());

    // An invalid spec stalls (terminal) with the field named.
    merge(
        &gen_api(&client),
        "split",
        json!({"spec": {"artifacts": [{"name": "apps", "copy": [{"from": "@other/x", "to": "@artifact/"}]}]}}),
    )
    .await;
    let g = wait_for(&gen_api(&client), "split", "ValidationFailed", |o| {
        ready(o).is_some_and(|(s, r, _)| s == "False" && r == "ValidationFailed")
    })
    .await;
    assert!(
        ready(&g)
            .unwrap()
            .2
            .contains("names no source alias 'other'")
    );

    // Dropping an artifact from the spec deletes its ExternalArtifact once the rest builds.
    let mut fixed = split_generator("@repo/apps/**", "flux-system");
    fixed["spec"]["artifacts"].as_array_mut().unwrap().pop();
    let patch = json!({"spec": fixed["spec"]});
    gen_api(&client)
        .patch("split", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");
    wait_until("infra EA deleted", PATIENCE * 2, || async {
        get(&ea_api(&client), "infra").await.is_none().then_some(())
    })
    .await;
    let g = wait_for(&gen_api(&client), "split", "Ready again", is_ready).await;
    assert_eq!(g["status"]["inventory"].as_array().map(Vec::len), Some(1));
    assert!(get(&ea_api(&client), "apps").await.is_some());

    // Deleting the generator deletes what it owns.
    gen_api(&client)
        .delete("split", &Default::default())
        .await
        .expect("delete");
    wait_until(
        "apps EA deleted with its generator",
        PATIENCE * 2,
        || async { get(&ea_api(&client), "apps").await.is_none().then_some(()) },
    )
    .await;
    controller.shutdown().await;
}
