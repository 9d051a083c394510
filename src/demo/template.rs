//! The `demo/` directory, embedded in the binary so `flotilla demo` works from any directory.
//!
//! The list is written out by hand (include_bytes! needs literal paths); a test checks that it
//! matches `demo/` on disk, file for file and byte for byte.

/// One embedded file of `demo/`.
#[derive(Debug, Clone, Copy)]
pub struct TemplateFile<'a> {
    /// Path relative to `demo/`, `/`-separated.
    pub path: &'a str,
    /// The file's bytes.
    pub content: &'a [u8],
}

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(TemplateFile {
            path: $path,
            content: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/", $path)),
        }),*]
    };
}

/// Every file of `demo/`.
pub const TEMPLATE: &[TemplateFile<'static>] = embed![
    "README.md",
    "apps/base/checkout/deployment.yaml",
    "apps/base/checkout/hpa.yaml",
    "apps/base/checkout/kustomization.yaml",
    "apps/base/checkout/service.yaml",
    "apps/base/podinfo/deployment.yaml",
    "apps/base/podinfo/hpa.yaml",
    "apps/base/podinfo/kustomization.yaml",
    "apps/base/podinfo/service.yaml",
    "apps/overlays/dev/kustomization.yaml",
    "apps/overlays/production/deployment-production.yaml",
    "apps/overlays/production/hpa-production.yaml",
    "apps/overlays/production/kustomization.yaml",
    "apps/overlays/staging/kustomization.yaml",
    "argocd/applications.yaml",
    "argocd/platform-project.yaml",
    "clusters/dev/apps.yaml",
    "clusters/dev/flux-system/gotk-sync.yaml",
    "clusters/dev/infrastructure.yaml",
    "clusters/production/apps.yaml",
    "clusters/production/flux-system/gotk-sync.yaml",
    "clusters/production/image-automation.yaml",
    "clusters/production/infrastructure.yaml",
    "clusters/staging/apps.yaml",
    "clusters/staging/flux-system/gotk-sync.yaml",
    "clusters/staging/infrastructure.yaml",
    "infrastructure/db-credentials.sops.yaml",
    "infrastructure/kustomization.yaml",
    "infrastructure/namespaces.yaml",
    "infrastructure/platform-config.yaml",
    "keys/demo.agekey",
    "registry/catalogue.yaml",
];

/// Directories of `demo/` that drive the demo itself rather than belong in the Git repository.
const NOT_IN_REPOSITORY: &[&str] = &["keys/", "registry/"];

/// The demo's age identity (for the Secret the demo creates), within `demo/`.
pub const AGE_KEY_PATH: &str = "keys/demo.agekey";

/// The registry catalogue's path within `demo/`.
pub const CATALOGUE_PATH: &str = "registry/catalogue.yaml";

/// The files the demo Git repository starts with.
pub fn repository_files() -> Vec<TemplateFile<'static>> {
    TEMPLATE
        .iter()
        .filter(|f| !NOT_IN_REPOSITORY.iter().any(|d| f.path.starts_with(d)))
        .copied()
        .collect()
}

/// One embedded file by path.
pub fn file(path: &str) -> Option<&'static [u8]> {
    TEMPLATE.iter().find(|f| f.path == path).map(|f| f.content)
}

/// The Argo CD objects the demo creates (with status) in the production cluster, as YAML texts.
pub fn argocd_files() -> Vec<TemplateFile<'static>> {
    TEMPLATE
        .iter()
        .filter(|f| f.path.starts_with("argocd/"))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn on_disk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read demo dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                on_disk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("below root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&path).expect("read file"));
            }
        }
    }

    #[test]
    fn the_embedded_list_matches_demo_on_disk() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
        let mut disk = BTreeMap::new();
        on_disk(&root, &root, &mut disk);
        let embedded: BTreeMap<String, Vec<u8>> = TEMPLATE
            .iter()
            .map(|f| (f.path.to_string(), f.content.to_vec()))
            .collect();
        let missing: Vec<&String> = disk.keys().filter(|k| !embedded.contains_key(*k)).collect();
        let extra: Vec<&String> = embedded.keys().filter(|k| !disk.contains_key(*k)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "src/demo/template.rs is out of date: not embedded {missing:?}, gone from disk {extra:?}"
        );
        assert_eq!(disk, embedded);
    }

    #[test]
    fn the_repository_holds_the_gitops_tree_but_not_the_catalogue() {
        let paths: Vec<&str> = repository_files().iter().map(|f| f.path).collect();
        assert!(paths.contains(&"clusters/dev/flux-system/gotk-sync.yaml"));
        assert!(paths.contains(&"apps/overlays/production/kustomization.yaml"));
        assert!(!paths.contains(&CATALOGUE_PATH));
        assert!(file(CATALOGUE_PATH).is_some());
        assert_eq!(argocd_files().len(), 2);
    }

    /// Writes the repository files to a fresh directory (as a GitRepository artifact would hold them).
    fn checkout() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for f in repository_files() {
            let path = dir.path().join(f.path);
            std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
            std::fs::write(&path, f.content).expect("write");
        }
        dir
    }

    fn flux_build(root: &Path, dir: &str) -> Vec<serde_json::Value> {
        let opts = crate::kustomize::BuildOptions {
            order: crate::kustomize::SortOrder::Fifo,
            flux: true,
            boundary: Some(root.to_path_buf()),
            ..Default::default()
        };
        crate::kustomize::build(&root.join(dir), &opts)
            .unwrap_or_else(|e| panic!("flotilla build {dir} --flux failed: {e}"))
    }

    fn ids(objs: &[serde_json::Value]) -> Vec<String> {
        objs.iter()
            .map(|o| {
                let s = |p: &str| o.pointer(p).and_then(|v| v.as_str()).unwrap_or("");
                format!(
                    "{}/{}/{}",
                    s("/kind"),
                    s("/metadata/namespace"),
                    s("/metadata/name")
                )
            })
            .collect()
    }

    #[test]
    fn every_directory_builds_as_flux_would() {
        let repo = checkout();
        let root = repo.path();
        for cluster in ["dev", "staging", "production"] {
            let objs = flux_build(root, &format!("clusters/{cluster}"));
            let ids = ids(&objs);
            for want in [
                "GitRepository/flux-system/flux-system",
                "Kustomization/flux-system/flux-system",
                "Kustomization/flux-system/infrastructure",
                "Kustomization/flux-system/apps",
            ] {
                assert!(
                    ids.contains(&want.to_string()),
                    "{cluster}: {want} in {ids:?}"
                );
            }
            let apps = objs
                .iter()
                .find(|o| o["kind"] == "Kustomization" && o["metadata"]["name"] == "apps")
                .expect("apps");
            assert_eq!(apps["spec"]["dependsOn"][0]["name"], "infrastructure");
            assert_eq!(apps["spec"]["path"], format!("./apps/overlays/{cluster}"));
            let automation = ids.iter().any(|i| i.starts_with("ImageUpdateAutomation/"));
            assert_eq!(automation, cluster == "production", "{cluster}: {ids:?}");
        }
        let infra = ids(&flux_build(root, "infrastructure"));
        assert!(
            infra.contains(&"Namespace//podinfo".to_string()),
            "{infra:?}"
        );
        assert!(infra.contains(&"ConfigMap/flux-system/platform-config".to_string()));
        assert!(infra.contains(&"Secret/checkout/checkout-db".to_string()));
        assert_eq!(flux_build(root, "argocd").len(), 4);
    }

    fn image_of(objs: &[serde_json::Value], name: &str) -> String {
        objs.iter()
            .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == name)
            .and_then(|d| d.pointer("/spec/template/spec/containers/0/image"))
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("Deployment {name} has an image"))
            .to_string()
    }

    #[test]
    fn overlays_set_replicas_images_and_config_per_environment() {
        let repo = checkout();
        let root = repo.path();
        let mut seen = Vec::new();
        for (env, replicas) in [("dev", 1), ("staging", 2), ("production", 3)] {
            let objs = flux_build(root, &format!("apps/overlays/{env}"));
            let kinds: Vec<String> = ids(&objs);
            for want in [
                "Deployment/podinfo/podinfo",
                "Service/podinfo/podinfo",
                "HorizontalPodAutoscaler/checkout/checkout",
            ] {
                assert!(
                    kinds.contains(&want.to_string()),
                    "{env}: {want} in {kinds:?}"
                );
            }
            let podinfo = objs
                .iter()
                .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "podinfo")
                .expect("podinfo");
            assert_eq!(podinfo["spec"]["replicas"], replicas, "{env}");
            // The generated ConfigMap's hashed name is what the Deployment refers to.
            let cm_ref = podinfo
                .pointer("/spec/template/spec/containers/0/envFrom/0/configMapRef/name")
                .and_then(|v| v.as_str())
                .expect("configMapRef");
            assert!(cm_ref.starts_with("podinfo-config-"), "{cm_ref}");
            assert!(
                kinds.contains(&format!("ConfigMap/podinfo/{cm_ref}")),
                "{kinds:?}"
            );
            seen.push((env, image_of(&objs, "podinfo"), image_of(&objs, "checkout")));
        }
        assert_eq!(seen[0].1, "ghcr.io/stefanprodan/podinfo:6.0.3");
        assert_eq!(seen[1].2, "ghcr.io/flotilla-demo/checkout:1.5.0-broken");
        assert!(!seen[0].2.contains("broken") && !seen[2].2.contains("broken"));
        assert_eq!(seen[2].1, "ghcr.io/stefanprodan/podinfo:6.0.0");
    }

    #[test]
    fn production_carries_the_setter_marker_on_its_image_tag() {
        let text = String::from_utf8_lossy(
            file("apps/overlays/production/kustomization.yaml").expect("embedded"),
        )
        .into_owned();
        let markers = crate::controllers::image::setters::find_markers(&text);
        assert_eq!(markers.len(), 1, "{markers:?}");
        assert_eq!(markers[0].1, "flux-system:podinfo:tag");
        let automation = String::from_utf8_lossy(
            file("clusters/production/image-automation.yaml").expect("embedded"),
        )
        .into_owned();
        assert!(automation.contains("path: ./apps/overlays/production"));
        assert!(automation.contains("${DEMO_REGISTRY}/stefanprodan/podinfo"));
    }
}
