//! The desired objects of a Kustomization, exactly as the reconciler computes them before apply:
//! build (Flux overlay) → post-build substitution → apply preparation (normalise, commonMetadata,
//! owner labels) → stages. Shared by the controller's pipeline and `flotilla diff`.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use serde_json::Value;
use std::path::Path;

use super::error::ReconcileError;
use super::spec::KustomizationSpec;
use super::stages;
use super::{overlay, substitute};
use crate::apply::stages::Stage;

/// Builds the apply stages of a Kustomization named `ks_name` in `ks_namespace` from an extracted
/// artifact (or any local directory laid out like one). `sources[i]` is the fetched object of
/// `spec.postBuild.substituteFrom[i]` (`None` when NotFound); see [`substitute_sources`]. `keys`
/// decrypt SOPS files (`spec.decryption`); see [`super::decrypt::load_keys`].
pub fn desired_stages(
    artifact_dir: &Path,
    spec: &KustomizationSpec,
    ks_name: &str,
    ks_namespace: &str,
    sources: &[Option<&Value>],
    keys: Option<&std::sync::Arc<crate::sops::KeyRing>>,
) -> Result<Vec<Stage>, ReconcileError> {
    let objects = overlay::build_manifests_with_keys(artifact_dir, spec, keys)?;
    let objects = substitute_objects(objects, spec, sources)?;
    Ok(stages::prepare_apply(
        objects,
        ks_name,
        ks_namespace,
        spec.common_metadata.as_ref(),
        &[],
    ))
}

/// Post-build substitution of built objects with the fetched `substituteFrom` sources (strict mode,
/// as current Flux).
pub fn substitute_objects(
    objects: Vec<Value>,
    spec: &KustomizationSpec,
    sources: &[Option<&Value>],
) -> Result<Vec<Value>, ReconcileError> {
    let Some(pb) = &spec.post_build else {
        return Ok(objects);
    };
    let vars = substitute::collect_variables(pb, sources)
        .map_err(|e| ReconcileError::BuildFailed(e.to_string()))?;
    substitute::substitute_all(objects, Some(pb), &vars, true)
        .map_err(|e| ReconcileError::BuildFailed(e.to_string()))
}

/// Fetches the ConfigMaps and Secrets of `spec.postBuild.substituteFrom` from `namespace`, in
/// order (`None` for each one NotFound).
pub async fn substitute_sources(
    client: &kube::Client,
    spec: &KustomizationSpec,
    namespace: &str,
) -> Result<Vec<Option<Value>>, ReconcileError> {
    let Some(pb) = &spec.post_build else {
        return Ok(Vec::new());
    };
    let mut sources = Vec::new();
    for r in &pb.substitute_from {
        let got = if r.kind == "Secret" {
            Api::<Secret>::namespaced(client.clone(), namespace)
                .get_opt(&r.name)
                .await
                .map(|o| o.and_then(|s| serde_json::to_value(s).ok()))
        } else {
            Api::<ConfigMap>::namespaced(client.clone(), namespace)
                .get_opt(&r.name)
                .await
                .map(|o| o.and_then(|c| serde_json::to_value(c).ok()))
        };
        let got = got.map_err(|e| {
            ReconcileError::BuildFailed(format!(
                "substitute from '{}/{}' error: {e}",
                r.kind, r.name
            ))
        })?;
        sources.push(got);
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::kustomization::spec::parse_kustomization;
    use serde_json::json;

    #[test]
    fn builds_substitutes_and_labels_like_the_reconciler() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(
            app.join("cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  env: ${ENV}\n  greeting: ${G:=hi}\n",
        )
        .unwrap();
        let ks = json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"interval": "10m", "path": "./app", "prune": true, "targetNamespace": "apps",
                     "sourceRef": {"kind": "GitRepository", "name": "repo"},
                     "postBuild": {"substitute": {"ENV": "dev"},
                                   "substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]}}
        });
        let spec = parse_kustomization(&ks).unwrap();
        let vars = json!({"data": {"G": "hello"}});
        let stages = desired_stages(
            dir.path(),
            &spec,
            "apps",
            "flux-system",
            &[Some(&vars)],
            None,
        )
        .unwrap();
        let cm = &stages[0].objects[0];
        assert_eq!(cm["metadata"]["namespace"], "apps");
        assert_eq!(cm["data"], json!({"env": "dev", "greeting": "hello"}));
        assert_eq!(
            cm["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"],
            "apps"
        );
        // A missing non-optional source is a build failure, as in the reconciler.
        let err =
            desired_stages(dir.path(), &spec, "apps", "flux-system", &[None], None).unwrap_err();
        assert_eq!(err.reason(), "BuildFailed");
        let mut missing = spec.clone();
        missing.path = "./nope".into();
        let err = desired_stages(
            dir.path(),
            &missing,
            "apps",
            "flux-system",
            &[Some(&vars)],
            None,
        )
        .unwrap_err();
        assert_eq!(err.reason(), "ArtifactFailed");
    }
}
