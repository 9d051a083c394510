//! The kustomization Flux builds: `spec.path` securely joined inside the artifact, the root
//! kustomization found or generated, Flux's spec overlay written into it (targetNamespace,
//! namePrefix/Suffix, patches, components, images, buildMetadata), then `kustomize build` in Flux
//! mode with accumulation (FIFO) order. Works on a scratch copy, so the artifact stays untouched.

use serde_json::{Map, Value, json};
use std::path::{Component, Path, PathBuf};

use super::error::ReconcileError;
use super::spec::{ImageOverride, KustomizationSpec};
use crate::kustomize::yaml::{parse_documents_yaml11, to_yaml};
use crate::kustomize::{
    BuildOptions, KUSTOMIZATION_FILE_NAMES, RemoteResources, SortOrder,
    build_with_root_kustomization, flux_generated_kustomization,
};

/// Most symlinks followed while resolving one path.
const MAX_LINKS: usize = 255;

/// Joins `unsafe_path` under `root` so the result never leaves `root`: `..` stops at the root and
/// symlinks are resolved as if `root` were `/` (filepath-securejoin semantics).
pub fn secure_join(root: &Path, unsafe_path: &str) -> PathBuf {
    let mut parts: Vec<String> = Vec::new();
    let mut pending: Vec<String> = split(unsafe_path);
    pending.reverse();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." | "" => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        let candidate = parts
            .iter()
            .fold(root.to_path_buf(), |p, c| p.join(c))
            .join(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() && links < MAX_LINKS => {
                links += 1;
                let Ok(target) = std::fs::read_link(&candidate) else {
                    parts.push(part);
                    continue;
                };
                let target = target.to_string_lossy().to_string();
                if target.starts_with('/') {
                    parts.clear();
                }
                let mut more = split(&target);
                more.reverse();
                pending.extend(more);
            }
            _ => parts.push(part),
        }
    }
    parts.iter().fold(root.to_path_buf(), |p, c| p.join(c))
}

fn split(p: &str) -> Vec<String> {
    p.split('/').map(str::to_string).collect()
}

/// Resolves `spec.path` inside the artifact; a missing directory is `ArtifactFailed`
/// "kustomization path not found: …".
pub fn resolve_path(artifact_dir: &Path, spec_path: &str) -> Result<PathBuf, ReconcileError> {
    let dir = secure_join(artifact_dir, spec_path);
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(dir),
        Ok(_) => Err(ReconcileError::ArtifactFailed(format!(
            "kustomization path not found: {} is not a directory",
            dir.display()
        ))),
        Err(e) => Err(ReconcileError::ArtifactFailed(format!(
            "kustomization path not found: stat {}: {}",
            dir.display(),
            io_message(&e)
        ))),
    }
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => e.to_string(),
    }
}

/// Builds the manifests of a Kustomization from an extracted artifact: the full Flux step 6 up to
/// (not including) substitution. Every object is checked for apiVersion, kind and name. The
/// artifact directory is only read (the overlaid root kustomization is served from memory), so
/// many Kustomizations can build from one extracted artifact at once.
pub fn build_manifests(
    artifact_dir: &Path,
    spec: &KustomizationSpec,
) -> Result<Vec<Value>, ReconcileError> {
    build_manifests_with(artifact_dir, spec, &RemoteResources::Unsupported, None)
}

/// [`build_manifests`] with SOPS decryption and remote bases refused (the diff view: no network).
pub fn build_manifests_with_keys(
    artifact_dir: &Path,
    spec: &KustomizationSpec,
    keys: Option<&std::sync::Arc<crate::sops::KeyRing>>,
) -> Result<Vec<Value>, ReconcileError> {
    build_manifests_with(artifact_dir, spec, &RemoteResources::Unsupported, keys)
}

/// [`build_manifests`] with remote bases handled by `remote` (the controller's loader, or
/// refused with `--no-remote-bases`) and SOPS decryption (`spec.decryption`): encrypted files are
/// decrypted in memory as the build reads them, encrypted Secret entries after it.
pub fn build_manifests_with(
    artifact_dir: &Path,
    spec: &KustomizationSpec,
    remote: &RemoteResources,
    keys: Option<&std::sync::Arc<crate::sops::KeyRing>>,
) -> Result<Vec<Value>, ReconcileError> {
    let source_dir = resolve_path(artifact_dir, &spec.path)?;
    let (_, text) = flux_kustomization(&source_dir, spec, artifact_dir)?;
    let opts = BuildOptions {
        order: SortOrder::Fifo,
        flux: true,
        boundary: Some(artifact_dir.to_path_buf()),
        remote: remote.clone(),
        source_filter: keys.map(|k| {
            super::decrypt::prefetching_source_filter(
                std::sync::Arc::clone(k),
                artifact_dir,
                &source_dir,
            )
        }),
    };
    let objects = build_with_root_kustomization(&source_dir, &opts, &text)
        .map_err(|e| ReconcileError::BuildFailed(format!("kustomize build failed: {e}")))?;
    for o in &objects {
        check_object(o)?;
    }
    match keys {
        Some(k) => super::decrypt::decrypt_secret_entries(objects, k),
        None => Ok(objects),
    }
}

/// Flux requires apiVersion, kind and metadata.name on every built object.
pub fn check_object(obj: &Value) -> Result<(), ReconcileError> {
    let present = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    if present(obj.get("apiVersion"))
        && present(obj.get("kind"))
        && present(obj.get("metadata").and_then(|m| m.get("name")))
    {
        Ok(())
    } else {
        Err(ReconcileError::BuildFailed(format!(
            "failed to decode Kubernetes apiVersion, kind and name from: {obj}"
        )))
    }
}

/// The Flux-overlaid root kustomization of `dir`: its path (the existing file, else
/// `kustomization.yaml`) and YAML text. `boundary` confines the generated resource walk.
pub fn flux_kustomization(
    dir: &Path,
    spec: &KustomizationSpec,
    boundary: &Path,
) -> Result<(PathBuf, String), ReconcileError> {
    let fail = |m: String| ReconcileError::BuildFailed(format!("kustomize build failed: {m}"));
    let existing = KUSTOMIZATION_FILE_NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file());
    let (file, mut kust) = match existing {
        Some(file) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| fail(format!("{}: {e}", file.display())))?;
            let docs = parse_documents_yaml11(&text).map_err(|e| {
                fail(format!(
                    "{}:{}:{}: {}",
                    file.display(),
                    e.line,
                    e.column,
                    e.message
                ))
            })?;
            let mut kust = match docs.into_iter().next() {
                Some(Value::Object(m)) => m,
                Some(_) => {
                    return Err(fail(format!(
                        "{}: not a kustomization mapping",
                        file.display()
                    )));
                }
                None => {
                    return Err(fail(format!(
                        "{}: kustomization.yaml is empty",
                        file.display()
                    )));
                }
            };
            let no_resources = kust
                .get("resources")
                .is_none_or(|r| r.as_array().is_none_or(Vec::is_empty));
            if no_resources {
                // Keeps an otherwise empty kustomization buildable, as Flux does.
                kust.insert("buildMetadata".into(), json!(["originAnnotations"]));
            }
            (file, kust)
        }
        None => (
            dir.join("kustomization.yaml"),
            flux_generated_kustomization(dir, boundary).map_err(|e| fail(e.to_string()))?,
        ),
    };
    apply_overlay(&mut kust, spec, dir)?;
    Ok((file, to_yaml(&Value::Object(kust))))
}

/// Writes the Flux-overlaid root kustomization into `dir` (a scratch copy): the existing file
/// rewritten, or a generated one. `boundary` confines the generated resource walk.
pub fn write_flux_kustomization(
    dir: &Path,
    spec: &KustomizationSpec,
    boundary: &Path,
) -> Result<PathBuf, ReconcileError> {
    let (file, text) = flux_kustomization(dir, spec, boundary)?;
    std::fs::write(&file, text).map_err(|e| {
        ReconcileError::BuildFailed(format!("kustomize build failed: {}: {e}", file.display()))
    })?;
    Ok(file)
}

/// Appends to the list `key` of a kustomization (a non-list value is replaced, as Flux's typed
/// decode would drop it).
fn extend_list(kust: &mut Map<String, Value>, key: &str, items: impl IntoIterator<Item = Value>) {
    let entry = kust.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if !entry.is_array() {
        *entry = Value::Array(Vec::new());
    }
    if let Value::Array(a) = entry {
        a.extend(items);
    }
}

/// Applies the Kustomization spec fields onto a root kustomization mapping.
fn apply_overlay(
    kust: &mut Map<String, Value>,
    spec: &KustomizationSpec,
    dir: &Path,
) -> Result<(), ReconcileError> {
    if let Some(ns) = &spec.target_namespace {
        kust.insert("namespace".into(), json!(ns));
    }
    if let Some(p) = &spec.name_prefix {
        kust.insert("namePrefix".into(), json!(p));
    }
    if let Some(s) = &spec.name_suffix {
        kust.insert("nameSuffix".into(), json!(s));
    }
    if !spec.patches.is_empty() {
        extend_list(kust, "patches", spec.patches.iter().cloned());
    }
    if !spec.patches_strategic_merge.is_empty() {
        let entries = spec
            .patches_strategic_merge
            .iter()
            .map(|p| Value::String(p.to_string()));
        extend_list(kust, "patchesStrategicMerge", entries);
    }
    if !spec.patches_json6902.is_empty() {
        let entries = spec.patches_json6902.iter().map(|p| {
            let mut p = p.clone();
            if let Some(ops) = p.get("patch").filter(|v| !v.is_string()).cloned() {
                p["patch"] = Value::String(ops.to_string());
            }
            p
        });
        extend_list(kust, "patchesJson6902", entries);
    }
    let components: Vec<Value> = spec
        .components
        .iter()
        .filter(|c| !spec.ignore_missing_components || dir.join(c).exists())
        .map(|c| json!(c))
        .collect();
    if let Some(bad) = spec
        .components
        .iter()
        .find(|c| c.starts_with('/') || c.contains("://"))
    {
        return Err(ReconcileError::BuildFailed(format!(
            "kustomize build failed: component '{bad}' must be a local relative path"
        )));
    }
    if !components.is_empty() {
        extend_list(kust, "components", components);
    }
    if !spec.images.is_empty() {
        extend_list(kust, "images", []);
        if let Some(Value::Array(images)) = kust.get_mut("images") {
            merge_images(images, &spec.images);
        }
    }
    if !spec.build_metadata.is_empty() {
        kust.insert("buildMetadata".into(), json!(spec.build_metadata));
    }
    Ok(())
}

/// Merges image overrides by `name`: newName replaced if set; newTag and digest replaced together
/// if either is set; unknown names appended.
fn merge_images(images: &mut Vec<Value>, overrides: &[ImageOverride]) {
    for o in overrides {
        let existing = images
            .iter_mut()
            .find(|i| i.get("name").and_then(Value::as_str) == Some(o.name.as_str()))
            .and_then(Value::as_object_mut);
        match existing {
            Some(img) => {
                if let Some(n) = &o.new_name {
                    img.insert("newName".into(), json!(n));
                }
                if o.new_tag.is_some() || o.digest.is_some() {
                    img.remove("newTag");
                    img.remove("digest");
                    if let Some(t) = &o.new_tag {
                        img.insert("newTag".into(), json!(t));
                    }
                    if let Some(d) = &o.digest {
                        img.insert("digest".into(), json!(d));
                    }
                }
            }
            None => {
                let mut img = Map::new();
                img.insert("name".into(), json!(o.name));
                if let Some(n) = &o.new_name {
                    img.insert("newName".into(), json!(n));
                }
                if let Some(t) = &o.new_tag {
                    img.insert("newTag".into(), json!(t));
                }
                if let Some(d) = &o.digest {
                    img.insert("digest".into(), json!(d));
                }
                images.push(Value::Object(img));
            }
        }
    }
}

/// Whether a path is lexically relative and stays inside its base.
pub fn is_local_relative(p: &str) -> bool {
    let mut depth = 0i32;
    for c in Path::new(p).components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => depth -= 1,
            Component::CurDir => {}
            _ => return false,
        }
    }
    depth >= 0 && !p.contains("://")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::kustomization::spec::parse_spec;
    use crate::kustomize::yaml::parse_documents;
    use std::fs;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn spec(extra: Value) -> KustomizationSpec {
        let mut s = json!({"interval": "5m", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "r"}});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        parse_spec(&s, "flux-system").unwrap()
    }

    const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: ghcr.io/stefanprodan/podinfo:6.0.0\n";
    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: b\n";

    fn names(objs: &[Value]) -> Vec<String> {
        objs.iter()
            .map(|o| {
                format!(
                    "{}/{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn secure_join_stays_inside() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        assert_eq!(secure_join(root, "../../etc"), root.join("etc"));
        assert_eq!(
            secure_join(root, "./apps/../apps/prod/"),
            root.join("apps/prod")
        );
        assert_eq!(secure_join(root, "/abs/x"), root.join("abs/x"));
        assert_eq!(secure_join(root, ""), root.to_path_buf());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
            assert_eq!(secure_join(root, "link/passwd"), root.join("etc/passwd"));
            std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
            let _ = secure_join(root, "loop/x");
        }
    }

    #[test]
    fn missing_path_is_artifact_failed() {
        let d = tempfile::tempdir().unwrap();
        let err = build_manifests(d.path(), &spec(json!({"path": "./nope"}))).unwrap_err();
        assert_eq!(err.reason(), "ArtifactFailed");
        assert!(
            err.to_string()
                .starts_with("kustomization path not found: stat "),
            "{err}"
        );
        assert!(
            err.to_string().ends_with("nope: no such file or directory"),
            "{err}"
        );
    }

    #[test]
    fn generated_kustomization_with_overlay() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "apps/deploy.yaml", DEPLOY);
        write(d.path(), "apps/sub/cm.yml", CM);
        write(d.path(), "apps/README.md", "not yaml: [");
        let objs = build_manifests(
            d.path(),
            &spec(
                json!({"path": "apps", "targetNamespace": "prod", "namePrefix": "p-",
                          "images": [{"name": "ghcr.io/stefanprodan/podinfo", "newTag": "6.5.0"}]}),
            ),
        )
        .unwrap();
        assert_eq!(
            names(&objs),
            ["Deployment/prod/p-web", "ConfigMap/prod/p-cfg"]
        );
        assert_eq!(
            objs[0]["spec"]["template"]["spec"]["containers"][0]["image"],
            "ghcr.io/stefanprodan/podinfo:6.5.0"
        );
        assert!(
            !d.path().join("apps/kustomization.yaml").exists(),
            "artifact untouched"
        );
    }

    #[test]
    fn empty_directory_builds_nothing() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("empty")).unwrap();
        assert!(
            build_manifests(d.path(), &spec(json!({"path": "empty"})))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn bad_yaml_in_generated_dir_fails_build() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "x/a.yaml", "foo: bar\n");
        let err = build_manifests(d.path(), &spec(json!({"path": "x"}))).unwrap_err();
        assert_eq!(err.reason(), "BuildFailed");
        assert!(
            err.to_string()
                .contains("failed to decode Kubernetes YAML from"),
            "{err}"
        );
    }

    #[test]
    fn existing_kustomization_gets_patches_images_and_components() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "app/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: dev\nresources:\n- deploy.yaml\nimages:\n- name: ghcr.io/stefanprodan/podinfo\n  newName: registry.local/podinfo\n  newTag: 6.1.0\n",
        );
        write(d.path(), "app/deploy.yaml", DEPLOY);
        write(
            d.path(),
            "components/cm/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- cm.yaml\n",
        );
        write(d.path(), "components/cm/cm.yaml", CM);
        let objs = build_manifests(
            d.path(),
            &spec(json!({"path": "./app", "nameSuffix": "-x",
                "patches": [{"patch": "- op: add\n  path: /metadata/labels\n  value: {patched: \"yes\"}", "target": {"kind": "Deployment"}}],
                "images": [{"name": "ghcr.io/stefanprodan/podinfo", "digest": "sha256:abc"}],
                "components": ["../components/cm", "../components/missing"], "ignoreMissingComponents": true})),
        )
        .unwrap();
        assert_eq!(
            names(&objs),
            ["Deployment/dev/web-x", "ConfigMap/dev/cfg-x"]
        );
        assert_eq!(objs[0]["metadata"]["labels"]["patched"], "yes");
        assert_eq!(
            objs[0]["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.local/podinfo@sha256:abc"
        );
        let err = build_manifests(
            d.path(),
            &spec(json!({"path": "./app", "components": ["../components/missing"]})),
        )
        .unwrap_err();
        assert_eq!(err.reason(), "BuildFailed");
        assert!(
            err.to_string().starts_with("kustomize build failed: "),
            "{err}"
        );
    }

    #[test]
    fn kustomization_without_resources_gets_origin_annotations() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "c/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nconfigMapGenerator:\n- name: gen\n  literals:\n  - a=b\n",
        );
        let file = write_flux_kustomization(
            &d.path().join("c"),
            &spec(json!({"targetNamespace": "t"})),
            d.path(),
        )
        .unwrap();
        let written = parse_documents(&fs::read_to_string(file).unwrap())
            .unwrap()
            .remove(0);
        assert_eq!(written["buildMetadata"], json!(["originAnnotations"]));
        assert_eq!(written["namespace"], "t");
        assert_eq!(written["configMapGenerator"][0]["name"], "gen");
        // An explicit spec.buildMetadata replaces it.
        let file = write_flux_kustomization(
            &d.path().join("c"),
            &spec(json!({"buildMetadata": ["transformerAnnotations"]})),
            d.path(),
        )
        .unwrap();
        let written = parse_documents(&fs::read_to_string(file).unwrap())
            .unwrap()
            .remove(0);
        assert_eq!(written["buildMetadata"], json!(["transformerAnnotations"]));
    }

    #[test]
    fn malformed_root_kustomization_is_build_failed() {
        let d = tempfile::tempdir().unwrap();
        for (i, text) in ["- a\n- b\n", "resources: [\n", "", "# only a comment\n"]
            .iter()
            .enumerate()
        {
            let dir = format!("k{i}");
            write(d.path(), &format!("{dir}/kustomization.yaml"), text);
            let err = build_manifests(d.path(), &spec(json!({"path": dir}))).unwrap_err();
            assert_eq!(err.reason(), "BuildFailed", "{text:?}: {err}");
        }
        write(d.path(), "ok/cm.yaml", CM);
        let err = build_manifests(
            d.path(),
            &spec(json!({"path": "ok", "components": ["/etc"]})),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("must be a local relative path"),
            "{err}"
        );
    }

    #[test]
    fn image_merge_rule() {
        let mut images = vec![
            json!({"name": "a", "newName": "x", "newTag": "1", "digest": "sha256:d"}),
            json!({"name": "b", "newTag": "2"}),
        ];
        merge_images(
            &mut images,
            &[
                ImageOverride {
                    name: "a".into(),
                    new_tag: Some("9".into()),
                    ..Default::default()
                },
                ImageOverride {
                    name: "b".into(),
                    new_name: Some("y".into()),
                    ..Default::default()
                },
                ImageOverride {
                    name: "c".into(),
                    digest: Some("sha256:e".into()),
                    ..Default::default()
                },
            ],
        );
        assert_eq!(
            images,
            vec![
                json!({"name": "a", "newName": "x", "newTag": "9"}),
                json!({"name": "b", "newName": "y", "newTag": "2"}),
                json!({"name": "c", "digest": "sha256:e"}),
            ]
        );
    }

    #[test]
    fn objects_need_identity() {
        assert!(
            check_object(
                &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
            )
            .is_ok()
        );
        assert!(
            check_object(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}))
                .is_err()
        );
        assert!(check_object(&json!(null)).is_err());
    }

    #[test]
    fn local_relative_paths() {
        assert!(is_local_relative("../components/a"));
        assert!(!is_local_relative("/abs"));
        assert!(!is_local_relative("https://github.com/x"));
    }
}
