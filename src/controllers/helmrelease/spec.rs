//! The typed `spec` of a HelmRelease (`helm.toolkit.fluxcd.io/v2`) with Flux's defaults, and the
//! names derived from it (release name, HelmChart name, namespaces).

use crate::model::time::parse_duration;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// An invalid HelmRelease spec (the object stalls until it changes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid HelmRelease spec.{field}: {message}")]
pub struct SpecError {
    /// The field path below `spec`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A reference to another object (`sourceRef`, `chartRef`, `dependsOn[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjRef {
    /// Kind (empty for dependsOn).
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (defaulted to the HelmRelease's).
    pub namespace: String,
}

/// `spec.chart.spec`: the HelmChart template.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartTemplate {
    /// Chart name (or path for GitRepository/Bucket sources).
    pub chart: String,
    /// Version (range), `*` by default.
    pub version: String,
    /// The source (HelmRepository, GitRepository, Bucket).
    pub source: ObjRef,
    /// `interval` of the HelmChart (the HelmRelease's when absent).
    pub interval: Option<String>,
    /// `reconcileStrategy`.
    pub reconcile_strategy: Option<String>,
    /// `valuesFiles`.
    pub values_files: Vec<String>,
    /// `ignoreMissingValuesFiles`.
    pub ignore_missing_values_files: bool,
    /// `spec.chart.metadata` labels/annotations for the HelmChart.
    pub metadata: Option<Value>,
}

/// Where the chart comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartSource {
    /// `spec.chart.spec`: a HelmChart the release creates and owns.
    Template(ChartTemplate),
    /// `spec.chartRef`: an existing HelmChart or OCIRepository.
    Ref(ObjRef),
}

/// `valuesFrom[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuesReference {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    /// Name in the HelmRelease's namespace.
    pub name: String,
    /// Key, `values.yaml` by default.
    pub values_key: String,
    /// Where the value goes (Helm's `--set` path), if not merged at the root.
    pub target_path: Option<String>,
    /// A missing object or key is not an error.
    pub optional: bool,
}

/// `remediation` of install or upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remediation {
    /// Retries after a failure (negative: unlimited).
    pub retries: i64,
    /// Remediate the last failure when no retries remain.
    pub remediate_last_failure: Option<bool>,
    /// Upgrade only: uninstall instead of rolling back.
    pub uninstall: bool,
}

impl Remediation {
    /// Whether `failures` failed attempts exhaust the retries.
    pub fn exhausted(&self, failures: u64) -> bool {
        self.retries >= 0 && failures > self.retries as u64
    }

    /// Install: remediate the last failure (default false). Upgrade: default `retries > 0`.
    pub fn remediate_last(&self, upgrade: bool) -> bool {
        self.remediate_last_failure
            .unwrap_or(upgrade && self.retries > 0)
    }
}

/// The CRD policy of install/upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrdPolicy {
    /// Don't touch CRDs.
    Skip,
    /// Create new CRDs only.
    Create,
    /// Create and replace CRDs.
    CreateReplace,
}

/// `spec.install` / `spec.upgrade` / `spec.rollback` / `spec.uninstall` settings used here.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// Timeout (the release's `spec.timeout` when absent).
    pub timeout: Duration,
    /// Don't wait for resources.
    pub disable_wait: bool,
    /// Don't run hooks.
    pub disable_hooks: bool,
    /// Remediation (install/upgrade).
    pub remediation: Remediation,
    /// CRD policy.
    pub crds: CrdPolicy,
    /// Uninstall: keep history.
    pub keep_history: bool,
}

/// `driftDetection.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftMode {
    /// Not checked.
    Disabled,
    /// Reported with an event.
    Warn,
    /// Corrected.
    Enabled,
}

/// `driftDetection.ignore[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct IgnoreRule {
    /// JSON pointers ignored.
    pub paths: Vec<String>,
    /// Target selector (kind, name, namespace, group); `None` = every object.
    pub target: Option<Map<String, Value>>,
}

/// The typed HelmRelease spec.
#[derive(Debug, Clone, PartialEq)]
pub struct HelmReleaseSpec {
    /// The chart.
    pub chart: ChartSource,
    /// `interval`.
    pub interval: Duration,
    /// `timeout` (default 5m).
    pub timeout: Duration,
    /// Release name (Flux's default, shortened).
    pub release_name: String,
    /// Where the objects go.
    pub target_namespace: String,
    /// Where the release Secrets live.
    pub storage_namespace: String,
    /// `serviceAccountName`.
    pub service_account_name: Option<String>,
    /// `maxHistory` (default 5; 0 = unlimited).
    pub max_history: usize,
    /// `dependsOn`.
    pub depends_on: Vec<ObjRef>,
    /// Inline values.
    pub values: Map<String, Value>,
    /// `valuesFrom`.
    pub values_from: Vec<ValuesReference>,
    /// `install`.
    pub install: Action,
    /// `upgrade`.
    pub upgrade: Action,
    /// `rollback`.
    pub rollback: Action,
    /// `uninstall`.
    pub uninstall: Action,
    /// `test.enable`.
    pub test: bool,
    /// `test.ignoreFailures`.
    pub test_ignore_failures: bool,
    /// `driftDetection.mode`.
    pub drift: DriftMode,
    /// `driftDetection.ignore`.
    pub drift_ignore: Vec<IgnoreRule>,
    /// `postRenderers` as given.
    pub post_renderers: Vec<Value>,
}

/// Flux's `spec.timeout` default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Helm's limit on release names.
const MAX_RELEASE_NAME: usize = 53;

/// Flux's release name: `[<targetNamespace>-]<name>`, shortened to 53 characters with a hash.
pub fn release_name(name: &str, target_namespace: Option<&str>) -> String {
    let full = match target_namespace.filter(|t| !t.is_empty()) {
        Some(t) => format!("{t}-{name}"),
        None => name.to_string(),
    };
    shorten_name(&full)
}

/// Helm-controller's shortening: the first 40 characters, `-`, 12 hex digits of the sha256.
pub fn shorten_name(name: &str) -> String {
    if name.len() <= MAX_RELEASE_NAME {
        return name.to_string();
    }
    let hash = format!("{:x}", Sha256::digest(name.as_bytes()));
    let cut: String = name.chars().take(40).collect();
    format!("{cut}-{}", &hash[..12])
}

/// The HelmChart a `chart.spec` release owns: `<namespace>-<name>`.
pub fn helm_chart_name(namespace: &str, name: &str) -> String {
    format!("{namespace}-{name}")
}

fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn duration(m: &Map<String, Value>, key: &str, field: &str) -> Result<Option<Duration>, SpecError> {
    match m.get(key).and_then(Value::as_str) {
        Some(t) => parse_duration(t).map(Some).map_err(|e| invalid(field, e)),
        None => Ok(None),
    }
}

fn obj_ref(v: &Value, field: &str, namespace: &str) -> Result<ObjRef, SpecError> {
    let m = v
        .as_object()
        .ok_or_else(|| invalid(field, "must be an object"))?;
    Ok(ObjRef {
        kind: text(m, "kind").unwrap_or_default(),
        name: text(m, "name").ok_or_else(|| invalid(field, "name is required"))?,
        namespace: text(m, "namespace").unwrap_or_else(|| namespace.to_string()),
    })
}

fn action(
    spec: &Map<String, Value>,
    key: &str,
    default_timeout: Duration,
) -> Result<Action, SpecError> {
    let empty = Map::new();
    let m = spec.get(key).and_then(Value::as_object).unwrap_or(&empty);
    let rem = m
        .get("remediation")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let crds = match m.get("crds").and_then(Value::as_str) {
        None => {
            if key == "install" {
                CrdPolicy::Create
            } else {
                CrdPolicy::Skip
            }
        }
        Some("Skip") => CrdPolicy::Skip,
        Some("Create") => CrdPolicy::Create,
        Some("CreateReplace") => CrdPolicy::CreateReplace,
        Some(other) => {
            return Err(invalid(
                &format!("{key}.crds"),
                format!("unsupported value {other:?} (Skip, Create, CreateReplace)"),
            ));
        }
    };
    Ok(Action {
        timeout: duration(m, "timeout", &format!("{key}.timeout"))?.unwrap_or(default_timeout),
        disable_wait: m.get("disableWait").and_then(Value::as_bool) == Some(true),
        disable_hooks: m.get("disableHooks").and_then(Value::as_bool) == Some(true),
        remediation: Remediation {
            retries: rem.get("retries").and_then(Value::as_i64).unwrap_or(0),
            remediate_last_failure: rem.get("remediateLastFailure").and_then(Value::as_bool),
            uninstall: rem.get("strategy").and_then(Value::as_str) == Some("uninstall"),
        },
        crds,
        keep_history: m.get("keepHistory").and_then(Value::as_bool) == Some(true),
    })
}

/// Parses a HelmRelease object's spec.
pub fn parse_helm_release(obj: &Value) -> Result<HelmReleaseSpec, SpecError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let empty = Map::new();
    let spec = obj.get("spec").and_then(Value::as_object).unwrap_or(&empty);
    let chart = if let Some(r) = spec.get("chartRef") {
        let r = obj_ref(r, "chartRef", namespace)?;
        if !matches!(r.kind.as_str(), "HelmChart" | "OCIRepository") {
            return Err(invalid(
                "chartRef.kind",
                format!("unsupported kind {:?} (HelmChart, OCIRepository)", r.kind),
            ));
        }
        ChartSource::Ref(r)
    } else if let Some(c) = spec.get("chart").and_then(Value::as_object) {
        let cs = c
            .get("spec")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("chart.spec", "is required"))?;
        ChartSource::Template(ChartTemplate {
            chart: text(cs, "chart").ok_or_else(|| invalid("chart.spec.chart", "is required"))?,
            version: text(cs, "version").unwrap_or_else(|| "*".into()),
            source: obj_ref(
                cs.get("sourceRef").unwrap_or(&Value::Null),
                "chart.spec.sourceRef",
                namespace,
            )?,
            interval: text(cs, "interval"),
            reconcile_strategy: text(cs, "reconcileStrategy"),
            values_files: cs
                .get("valuesFiles")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            ignore_missing_values_files: cs
                .get("ignoreMissingValuesFiles")
                .and_then(Value::as_bool)
                == Some(true),
            metadata: c.get("metadata").cloned(),
        })
    } else {
        return Err(invalid("chart", "one of chart or chartRef is required"));
    };
    let interval = duration(spec, "interval", "interval")?
        .ok_or_else(|| invalid("interval", "is required"))?;
    let timeout = duration(spec, "timeout", "timeout")?.unwrap_or(DEFAULT_TIMEOUT);
    let target_namespace = text(spec, "targetNamespace");
    let release_name = match text(spec, "releaseName") {
        Some(r) => r,
        None => release_name(name, target_namespace.as_deref()),
    };
    let mut depends_on = Vec::new();
    for (i, d) in spec
        .get("dependsOn")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        depends_on.push(obj_ref(d, &format!("dependsOn[{i}]"), namespace)?);
    }
    let mut values_from = Vec::new();
    for (i, v) in spec
        .get("valuesFrom")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let field = format!("valuesFrom[{i}]");
        let m = v
            .as_object()
            .ok_or_else(|| invalid(&field, "must be an object"))?;
        let kind = text(m, "kind").unwrap_or_default();
        if !matches!(kind.as_str(), "ConfigMap" | "Secret") {
            return Err(invalid(
                &format!("{field}.kind"),
                format!("unsupported kind {kind:?} (ConfigMap, Secret)"),
            ));
        }
        values_from.push(ValuesReference {
            kind,
            name: text(m, "name").ok_or_else(|| invalid(&field, "name is required"))?,
            values_key: text(m, "valuesKey").unwrap_or_else(|| "values.yaml".into()),
            target_path: text(m, "targetPath"),
            optional: m.get("optional").and_then(Value::as_bool) == Some(true),
        });
    }
    let drift = spec.get("driftDetection").and_then(Value::as_object);
    let drift_mode = match drift.and_then(|d| d.get("mode")).and_then(Value::as_str) {
        None | Some("disabled") => DriftMode::Disabled,
        Some("warn") => DriftMode::Warn,
        Some("enabled") => DriftMode::Enabled,
        Some(other) => {
            return Err(invalid(
                "driftDetection.mode",
                format!("unsupported value {other:?} (enabled, warn, disabled)"),
            ));
        }
    };
    let drift_ignore = drift
        .and_then(|d| d.get("ignore"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_object)
                .map(|r| IgnoreRule {
                    paths: r
                        .get("paths")
                        .and_then(Value::as_array)
                        .map(|p| {
                            p.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                    target: r.get("target").and_then(Value::as_object).cloned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let test = spec.get("test").and_then(Value::as_object);
    Ok(HelmReleaseSpec {
        chart,
        interval,
        timeout,
        release_name,
        target_namespace: target_namespace.unwrap_or_else(|| namespace.to_string()),
        storage_namespace: text(spec, "storageNamespace").unwrap_or_else(|| namespace.to_string()),
        service_account_name: text(spec, "serviceAccountName"),
        max_history: spec
            .get("maxHistory")
            .and_then(Value::as_u64)
            .map_or(5, |n| n as usize),
        depends_on,
        values: spec
            .get("values")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        values_from,
        install: action(spec, "install", timeout)?,
        upgrade: action(spec, "upgrade", timeout)?,
        rollback: action(spec, "rollback", timeout)?,
        uninstall: action(spec, "uninstall", timeout)?,
        test: test.and_then(|t| t.get("enable")).and_then(Value::as_bool) == Some(true),
        test_ignore_failures: test
            .and_then(|t| t.get("ignoreFailures"))
            .and_then(Value::as_bool)
            == Some(true),
        drift: drift_mode,
        drift_ignore,
        post_renderers: spec
            .get("postRenderers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn release_names_follow_flux() {
        assert_eq!(release_name("web", None), "web");
        assert_eq!(release_name("web", Some("apps")), "apps-web");
        let long = "a".repeat(60);
        let s = release_name(&long, None);
        assert_eq!(s.len(), 53);
        assert!(s.starts_with(&"a".repeat(40)));
    }

    #[test]
    fn defaults() {
        let s = parse_helm_release(&json!({
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {"interval": "5m", "chart": {"spec": {"chart": "web",
                "sourceRef": {"kind": "HelmRepository", "name": "repo"}}}}
        }))
        .unwrap();
        assert_eq!(s.release_name, "web");
        assert_eq!(s.storage_namespace, "apps");
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.max_history, 5);
        let ChartSource::Template(t) = &s.chart else {
            panic!("template")
        };
        assert_eq!(t.version, "*");
        assert_eq!(t.source.namespace, "apps");
        assert!(!s.upgrade.remediation.remediate_last(true));
        assert!(s.upgrade.remediation.exhausted(1));
    }
}
