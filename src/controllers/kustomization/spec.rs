//! Typed, tolerant reading of a Flux Kustomization's `spec` (v1 and v1beta2): unknown fields are
//! ignored, absent fields take Flux's defaults, and a known field of the wrong shape is an error
//! naming the field.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

// The Go duration grammar lives in `model` (every layer parses and prints durations); re-exported
// here for the Kustomization reconciler's callers.
pub use crate::model::time::{format_duration, parse_duration};

/// Why a spec could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A required field is absent.
    #[error("{field} is required")]
    Missing {
        /// Dotted path of the field, e.g. `spec.sourceRef.name`.
        field: String,
    },
    /// A field has the wrong type or an invalid value.
    #[error("{field}: {message}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

fn invalid(field: &str, message: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A reference to the source providing the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    /// `GitRepository`, `OCIRepository`, `Bucket` or `ExternalArtifact`.
    pub kind: String,
    /// Source name.
    pub name: String,
    /// Source namespace (defaults to the Kustomization's namespace).
    pub namespace: String,
    /// Optional apiVersion as written.
    pub api_version: Option<String>,
}

/// What happens to applied objects when the Kustomization is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeletionPolicy {
    /// Delete iff `prune: true` (the default).
    #[default]
    MirrorPrune,
    /// Always delete.
    Delete,
    /// Delete and wait until the objects are gone.
    WaitForTermination,
    /// Never delete.
    Orphan,
}

impl DeletionPolicy {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MirrorPrune => "MirrorPrune",
            Self::Delete => "Delete",
            Self::WaitForTermination => "WaitForTermination",
            Self::Orphan => "Orphan",
        }
    }
}

/// An object to health-check (`spec.healthChecks[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckRef {
    /// apiVersion (default `apps/v1`).
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (may be empty for cluster-scoped objects).
    pub namespace: String,
}

/// A dependency (`spec.dependsOn[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyRef {
    /// Name of the Kustomization depended on.
    pub name: String,
    /// Its namespace (defaults to the Kustomization's namespace).
    pub namespace: String,
    /// CEL readiness expression, if any.
    pub ready_expr: Option<String>,
}

/// An image override (`spec.images[]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageOverride {
    /// Image name to match.
    pub name: String,
    /// Replacement name.
    pub new_name: Option<String>,
    /// Replacement tag.
    pub new_tag: Option<String>,
    /// Replacement digest.
    pub digest: Option<String>,
}

/// How post-build substitution decides whether to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubstituteStrategy {
    /// Only when at least one variable resolved.
    #[default]
    WithVariables,
    /// Always, even without variables.
    Always,
}

/// A ConfigMap or Secret providing variables (`spec.postBuild.substituteFrom[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstituteReference {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    /// Name in the Kustomization's namespace.
    pub name: String,
    /// Tolerate NotFound.
    pub optional: bool,
}

/// `spec.postBuild`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PostBuild {
    /// Inline variables (win over `substituteFrom`).
    pub substitute: BTreeMap<String, String>,
    /// Variable sources, in order (later wins).
    pub substitute_from: Vec<SubstituteReference>,
    /// When substitution runs.
    pub strategy: SubstituteStrategy,
}

/// `spec.commonMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommonMetadata {
    /// Labels forced onto every object.
    pub labels: BTreeMap<String, String>,
    /// Annotations forced onto every object.
    pub annotations: BTreeMap<String, String>,
}

/// The parsed spec of a Kustomization.
#[derive(Debug, Clone, PartialEq)]
pub struct KustomizationSpec {
    /// The artifact source.
    pub source_ref: SourceRef,
    /// Path inside the artifact (empty = root).
    pub path: String,
    /// Run period after success.
    pub interval: Duration,
    /// Run period after a failure (defaults to `interval`).
    pub retry_interval: Duration,
    /// Health-check / termination timeout (interval − 30s unless set; at least 30s).
    pub timeout: Duration,
    /// Garbage-collect objects leaving the inventory.
    pub prune: bool,
    /// What deletion of the Kustomization does.
    pub deletion_policy: DeletionPolicy,
    /// Health-check every applied object.
    pub wait: bool,
    /// Objects to health-check when `wait` is false.
    pub health_checks: Vec<HealthCheckRef>,
    /// Dependencies.
    pub depends_on: Vec<DependencyRef>,
    /// Namespace override.
    pub target_namespace: Option<String>,
    /// Name prefix override.
    pub name_prefix: Option<String>,
    /// Name suffix override.
    pub name_suffix: Option<String>,
    /// Patches appended to the root kustomization (`{patch, target}` objects as written).
    pub patches: Vec<Value>,
    /// Legacy (v1beta2) `patchesStrategicMerge`.
    pub patches_strategic_merge: Vec<Value>,
    /// Legacy (v1beta2) `patchesJson6902`.
    pub patches_json6902: Vec<Value>,
    /// Image overrides.
    pub images: Vec<ImageOverride>,
    /// Components appended to the root kustomization.
    pub components: Vec<String>,
    /// Drop missing components instead of failing.
    pub ignore_missing_components: bool,
    /// Post-build substitution, if configured.
    pub post_build: Option<PostBuild>,
    /// Metadata forced onto every object.
    pub common_metadata: Option<CommonMetadata>,
    /// `buildMetadata` for the root kustomization.
    pub build_metadata: Vec<String>,
    /// Recreate objects on immutable-field errors.
    pub force: bool,
    /// Do not reconcile.
    pub suspend: bool,
    /// Service account to impersonate.
    pub service_account_name: Option<String>,
    /// `spec.decryption`: SOPS decryption of the built objects and generator sources.
    pub decryption: Option<Decryption>,
}

/// `spec.decryption`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decryption {
    /// `provider` (only `sops` exists).
    pub provider: String,
    /// `secretRef.name`: the Secret in the Kustomization's namespace holding the keys.
    pub secret_ref: Option<String>,
    /// `serviceAccountName` (used by Flux for cloud KMS workload identity only).
    pub service_account_name: Option<String>,
}

/// Reads a whole Kustomization object: its spec with namespace defaults from `metadata.namespace`.
pub fn parse_kustomization(obj: &Value) -> Result<KustomizationSpec, SpecError> {
    let ns = obj
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let empty = Value::Object(Map::new());
    let spec = match obj.get("spec") {
        None | Some(Value::Null) => &empty,
        Some(v @ Value::Object(_)) => v,
        Some(_) => return Err(invalid("spec", "must be an object")),
    };
    parse_spec(spec, ns)
}

/// Reads a Kustomization `spec` value; `namespace` is the Kustomization's own namespace.
pub fn parse_spec(spec: &Value, namespace: &str) -> Result<KustomizationSpec, SpecError> {
    let f = Fields {
        obj: spec.as_object(),
        prefix: "spec",
    };
    if spec.as_object().is_none() {
        return Err(invalid("spec", "must be an object"));
    }
    let source_ref = {
        let sr = f.object("sourceRef")?.ok_or(SpecError::Missing {
            field: "spec.sourceRef".into(),
        })?;
        let sf = Fields {
            obj: Some(sr),
            prefix: "spec.sourceRef",
        };
        SourceRef {
            kind: sf.required_str("kind")?,
            name: sf.required_str("name")?,
            namespace: sf
                .string("namespace")?
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| namespace.to_string()),
            api_version: sf.string("apiVersion")?,
        }
    };
    let interval = match f.string("interval")? {
        Some(s) => parse_duration(&s).map_err(|m| invalid("spec.interval", m))?,
        None => {
            return Err(SpecError::Missing {
                field: "spec.interval".into(),
            });
        }
    };
    let retry_interval = match f.string("retryInterval")? {
        Some(s) => parse_duration(&s).map_err(|m| invalid("spec.retryInterval", m))?,
        None => interval,
    };
    let explicit_timeout = match f.string("timeout")? {
        Some(s) => Some(parse_duration(&s).map_err(|m| invalid("spec.timeout", m))?),
        None => None,
    };
    let deletion_policy = match f.string("deletionPolicy")?.as_deref() {
        None | Some("") | Some("MirrorPrune") => DeletionPolicy::MirrorPrune,
        Some("Delete") => DeletionPolicy::Delete,
        Some("WaitForTermination") => DeletionPolicy::WaitForTermination,
        Some("Orphan") => DeletionPolicy::Orphan,
        Some(other) => {
            return Err(invalid(
                "spec.deletionPolicy",
                format!(
                    "unsupported value {other:?} (one of MirrorPrune, Delete, WaitForTermination, Orphan)"
                ),
            ));
        }
    };
    let health_checks = f
        .objects("healthChecks")?
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let p = format!("spec.healthChecks[{i}]");
            let hf = Fields {
                obj: Some(o),
                prefix: &p,
            };
            Ok(HealthCheckRef {
                api_version: hf
                    .string("apiVersion")?
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "apps/v1".into()),
                kind: hf.required_str("kind")?,
                name: hf.required_str("name")?,
                namespace: hf.string("namespace")?.unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>, SpecError>>()?;
    let depends_on = f
        .objects("dependsOn")?
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let p = format!("spec.dependsOn[{i}]");
            let df = Fields {
                obj: Some(o),
                prefix: &p,
            };
            Ok(DependencyRef {
                name: df.required_str("name")?,
                namespace: df
                    .string("namespace")?
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| namespace.to_string()),
                ready_expr: df.string("readyExpr")?.filter(|s| !s.is_empty()),
            })
        })
        .collect::<Result<Vec<_>, SpecError>>()?;
    let images = f
        .objects("images")?
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let p = format!("spec.images[{i}]");
            let imf = Fields {
                obj: Some(o),
                prefix: &p,
            };
            Ok(ImageOverride {
                name: imf.required_str("name")?,
                new_name: imf.string("newName")?.filter(|s| !s.is_empty()),
                new_tag: imf.string("newTag")?.filter(|s| !s.is_empty()),
                digest: imf.string("digest")?.filter(|s| !s.is_empty()),
            })
        })
        .collect::<Result<Vec<_>, SpecError>>()?;
    let patches = f
        .objects("patches")?
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let p = format!("spec.patches[{i}]");
            let pf = Fields {
                obj: Some(o),
                prefix: &p,
            };
            pf.required_str("patch")?;
            pf.object("target")?;
            Ok(Value::Object(o.clone()))
        })
        .collect::<Result<Vec<_>, SpecError>>()?;
    let post_build = match f.object("postBuild")? {
        None => None,
        Some(pb) => Some(parse_post_build(pb)?),
    };
    let common_metadata = match f.object("commonMetadata")? {
        None => None,
        Some(cm) => {
            let cf = Fields {
                obj: Some(cm),
                prefix: "spec.commonMetadata",
            };
            Some(CommonMetadata {
                labels: cf.string_map("labels")?,
                annotations: cf.string_map("annotations")?,
            })
        }
    };
    Ok(KustomizationSpec {
        source_ref,
        path: f.string("path")?.unwrap_or_default(),
        interval,
        retry_interval,
        timeout: effective_timeout(interval, explicit_timeout),
        prune: f.bool("prune")?.unwrap_or(false),
        deletion_policy,
        wait: f.bool("wait")?.unwrap_or(false),
        health_checks,
        depends_on,
        target_namespace: f.string("targetNamespace")?.filter(|s| !s.is_empty()),
        name_prefix: f.string("namePrefix")?.filter(|s| !s.is_empty()),
        name_suffix: f.string("nameSuffix")?.filter(|s| !s.is_empty()),
        patches,
        patches_strategic_merge: f.array("patchesStrategicMerge")?.to_vec(),
        patches_json6902: f.array("patchesJson6902")?.to_vec(),
        images,
        components: f.strings("components")?,
        ignore_missing_components: f.bool("ignoreMissingComponents")?.unwrap_or(false),
        post_build,
        common_metadata,
        build_metadata: f.strings("buildMetadata")?,
        force: f.bool("force")?.unwrap_or(false),
        suspend: f.bool("suspend")?.unwrap_or(false),
        service_account_name: f.string("serviceAccountName")?.filter(|s| !s.is_empty()),
        decryption: f.object("decryption")?.map(parse_decryption).transpose()?,
    })
}

fn parse_decryption(d: &Map<String, Value>) -> Result<Decryption, SpecError> {
    let f = Fields {
        obj: Some(d),
        prefix: "spec.decryption",
    };
    let secret_ref = match f.object("secretRef")? {
        Some(r) => Fields {
            obj: Some(r),
            prefix: "spec.decryption.secretRef",
        }
        .string("name")?
        .filter(|s| !s.is_empty()),
        None => None,
    };
    Ok(Decryption {
        provider: f.string("provider")?.unwrap_or_default(),
        secret_ref,
        service_account_name: f.string("serviceAccountName")?.filter(|s| !s.is_empty()),
    })
}

fn parse_post_build(pb: &Map<String, Value>) -> Result<PostBuild, SpecError> {
    let f = Fields {
        obj: Some(pb),
        prefix: "spec.postBuild",
    };
    let substitute_from = f
        .objects("substituteFrom")?
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let p = format!("spec.postBuild.substituteFrom[{i}]");
            let sf = Fields {
                obj: Some(o),
                prefix: &p,
            };
            let kind = sf.required_str("kind")?;
            if kind != "ConfigMap" && kind != "Secret" {
                return Err(invalid(
                    &format!("{p}.kind"),
                    format!("unsupported kind {kind:?} (ConfigMap or Secret)"),
                ));
            }
            Ok(SubstituteReference {
                kind,
                name: sf.required_str("name")?,
                optional: sf.bool("optional")?.unwrap_or(false),
            })
        })
        .collect::<Result<Vec<_>, SpecError>>()?;
    let strategy = match f.string("substituteStrategy")?.as_deref() {
        None | Some("") | Some("WithVariables") => SubstituteStrategy::WithVariables,
        Some("Always") => SubstituteStrategy::Always,
        Some(other) => {
            return Err(invalid(
                "spec.postBuild.substituteStrategy",
                format!("unsupported value {other:?} (WithVariables or Always)"),
            ));
        }
    };
    Ok(PostBuild {
        substitute: f.string_map("substitute")?,
        substitute_from,
        strategy,
    })
}

/// Flux's `GetTimeout`: the explicit timeout or interval − 30s, never below 30s.
pub fn effective_timeout(interval: Duration, timeout: Option<Duration>) -> Duration {
    let min = Duration::from_secs(30);
    timeout
        .unwrap_or_else(|| interval.saturating_sub(min))
        .max(min)
}

/// Typed access to the fields of one JSON object, with error paths.
struct Fields<'a> {
    obj: Option<&'a Map<String, Value>>,
    prefix: &'a str,
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.and_then(|o| o.get(key)).filter(|v| !v.is_null())
    }
    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.prefix)
    }
    fn string(&self, key: &str) -> Result<Option<String>, SpecError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(&self.path(key), "must be a string")),
        }
    }
    fn required_str(&self, key: &str) -> Result<String, SpecError> {
        match self.string(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(SpecError::Missing {
                field: self.path(key),
            }),
        }
    }
    fn bool(&self, key: &str) -> Result<Option<bool>, SpecError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(invalid(&self.path(key), "must be a boolean")),
        }
    }
    fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, SpecError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(invalid(&self.path(key), "must be an object")),
        }
    }
    fn array(&self, key: &str) -> Result<&'a [Value], SpecError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(invalid(&self.path(key), "must be a list")),
        }
    }
    fn objects(&self, key: &str) -> Result<Vec<&'a Map<String, Value>>, SpecError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_object().ok_or_else(|| {
                    invalid(&format!("{}[{i}]", self.path(key)), "must be an object")
                })
            })
            .collect()
    }
    fn strings(&self, key: &str) -> Result<Vec<String>, SpecError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid(&format!("{}[{i}]", self.path(key)), "must be a string"))
            })
            .collect()
    }
    fn string_map(&self, key: &str) -> Result<BTreeMap<String, String>, SpecError> {
        let Some(m) = self.object(key)? else {
            return Ok(BTreeMap::new());
        };
        m.iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(invalid(
                    &format!("{}.{k}", self.path(key)),
                    "must be a string",
                )),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ks(spec: Value) -> Value {
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": {"name": "apps", "namespace": "flux-system"}, "spec": spec})
    }

    #[test]
    fn minimal_spec_takes_flux_defaults() {
        let s = parse_kustomization(&ks(json!({
            "interval": "10m", "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"}
        })))
        .unwrap();
        assert_eq!(s.source_ref.namespace, "flux-system");
        assert_eq!(s.interval, Duration::from_secs(600));
        assert_eq!(s.retry_interval, Duration::from_secs(600));
        assert_eq!(s.timeout, Duration::from_secs(570));
        assert_eq!(s.deletion_policy, DeletionPolicy::MirrorPrune);
        assert!(s.prune && !s.wait && !s.force && !s.suspend);
        assert_eq!(s.path, "");
        assert!(s.post_build.is_none());
    }

    #[test]
    fn timeout_is_at_least_thirty_seconds() {
        assert_eq!(
            effective_timeout(Duration::from_secs(45), None),
            Duration::from_secs(30)
        );
        assert_eq!(
            effective_timeout(Duration::from_secs(600), Some(Duration::from_secs(5))),
            Duration::from_secs(30)
        );
        assert_eq!(
            effective_timeout(Duration::from_secs(60), Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn full_v1_spec_reads_every_field() {
        let s = parse_kustomization(&ks(json!({
            "interval": "1h", "retryInterval": "2m", "timeout": "3m", "path": "./apps/production",
            "prune": true, "wait": true, "force": true, "suspend": true,
            "deletionPolicy": "WaitForTermination",
            "sourceRef": {"kind": "GitRepository", "name": "apps", "namespace": "shared"},
            "healthChecks": [{"kind": "Deployment", "name": "podinfo", "namespace": "apps"},
                             {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "name": "x", "namespace": "y"}],
            "dependsOn": [{"name": "infra"}, {"name": "crds", "namespace": "other", "readyExpr": "true"}],
            "targetNamespace": "apps", "namePrefix": "p-", "nameSuffix": "-s",
            "patches": [{"patch": "- op: remove\n  path: /x", "target": {"kind": "Deployment"}}],
            "images": [{"name": "podinfo", "newTag": "6.5.0"}],
            "components": ["../components/a"], "ignoreMissingComponents": true,
            "postBuild": {"substitute": {"cluster": "prod"},
                          "substituteFrom": [{"kind": "ConfigMap", "name": "vars"}, {"kind": "Secret", "name": "s", "optional": true}],
                          "substituteStrategy": "Always"},
            "commonMetadata": {"labels": {"team": "a"}, "annotations": {"x": "y"}},
            "serviceAccountName": "deployer"
        })))
        .unwrap();
        assert_eq!(s.source_ref.namespace, "shared");
        assert_eq!(s.retry_interval, Duration::from_secs(120));
        assert_eq!(s.timeout, Duration::from_secs(180));
        assert_eq!(s.deletion_policy, DeletionPolicy::WaitForTermination);
        assert_eq!(s.health_checks[0].api_version, "apps/v1");
        assert_eq!(s.health_checks[1].api_version, "helm.toolkit.fluxcd.io/v2");
        assert_eq!(s.depends_on[0].namespace, "flux-system");
        assert_eq!(s.depends_on[1].namespace, "other");
        assert_eq!(s.depends_on[1].ready_expr.as_deref(), Some("true"));
        assert_eq!(s.target_namespace.as_deref(), Some("apps"));
        assert_eq!(s.images[0].new_tag.as_deref(), Some("6.5.0"));
        assert_eq!(s.patches.len(), 1);
        let pb = s.post_build.unwrap();
        assert_eq!(pb.strategy, SubstituteStrategy::Always);
        assert!(pb.substitute_from[1].optional);
        assert_eq!(s.common_metadata.unwrap().labels["team"], "a");
        assert_eq!(s.service_account_name.as_deref(), Some("deployer"));
        assert!(s.ignore_missing_components && s.wait && s.force && s.suspend);
    }

    #[test]
    fn v1beta2_legacy_patch_fields_are_kept() {
        let s = parse_kustomization(&ks(json!({
            "interval": "5m", "prune": false, "sourceRef": {"kind": "GitRepository", "name": "r"},
            "patchesStrategicMerge": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}],
            "patchesJson6902": [{"target": {"kind": "X", "name": "y"}, "patch": []}],
            "validation": "client"
        })))
        .unwrap();
        assert_eq!(s.patches_strategic_merge.len(), 1);
        assert_eq!(s.patches_json6902.len(), 1);
    }

    #[test]
    fn errors_name_the_field() {
        let src = json!({"kind": "GitRepository", "name": "r"});
        let cases = [
            (
                json!({"interval": "10x", "sourceRef": src}),
                "spec.interval",
            ),
            (
                json!({"interval": "1m", "timeout": "5", "sourceRef": src}),
                "spec.timeout",
            ),
            (
                json!({"interval": "1m", "retryInterval": 5, "sourceRef": src}),
                "spec.retryInterval",
            ),
            (json!({"interval": "1m"}), "spec.sourceRef"),
            (
                json!({"interval": "1m", "sourceRef": {"kind": "GitRepository"}}),
                "spec.sourceRef.name",
            ),
            (
                json!({"interval": "1m", "sourceRef": src, "prune": "yes"}),
                "spec.prune",
            ),
            (
                json!({"interval": "1m", "sourceRef": src, "deletionPolicy": "Nope"}),
                "spec.deletionPolicy",
            ),
            (
                json!({"interval": "1m", "sourceRef": src, "healthChecks": [{"kind": "Deployment"}]}),
                "spec.healthChecks[0].name",
            ),
            (
                json!({"interval": "1m", "sourceRef": src, "postBuild": {"substitute": {"a": 1}}}),
                "spec.postBuild.substitute.a",
            ),
            (
                json!({"interval": "1m", "sourceRef": src, "postBuild": {"substituteFrom": [{"kind": "Pod", "name": "x"}]}}),
                "spec.postBuild.substituteFrom[0].kind",
            ),
            (
                json!({"interval": "1m", "sourceRef": src, "components": [1]}),
                "spec.components[0]",
            ),
            (json!({"sourceRef": src}), "spec.interval"),
        ];
        for (spec, field) in cases {
            let err = parse_kustomization(&ks(spec.clone())).unwrap_err();
            assert!(err.to_string().starts_with(field), "{spec}: {err}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        for v in [
            json!(null),
            json!(1),
            json!({"spec": []}),
            json!({"spec": {"interval": "99999999999999999999h", "sourceRef": {"kind": "G", "name": "n"}}}),
            json!({"metadata": 3, "spec": {"sourceRef": 1}}),
        ] {
            assert!(parse_kustomization(&v).is_err(), "{v}");
        }
    }
}
