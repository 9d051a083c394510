//! The typed subset of an Application's spec the reconciler acts on, read from the object as
//! written (absent fields take Argo's defaults).

use serde_json::Value;
use std::time::Duration;

use super::strings;

/// Why a spec cannot be used (`InvalidSpecError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

/// `spec.source` (single-source Applications).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Source {
    /// `repoURL`.
    pub repo_url: String,
    /// `targetRevision` (`HEAD` when empty).
    pub target_revision: String,
    /// `path` inside the repository.
    pub path: String,
    /// `chart` (a Helm repository chart; not fetched by flotilla).
    pub chart: Option<String>,
    /// `directory`.
    pub directory: Directory,
    /// `kustomize`, as written.
    pub kustomize: Option<Value>,
    /// `helm`, as written.
    pub helm: Option<Value>,
    /// The source as written, for `comparedTo`, `history` and `syncResult`.
    pub raw: Value,
}

/// `spec.source.directory`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    /// `recurse`.
    pub recurse: bool,
    /// `include` glob.
    pub include: Option<String>,
    /// `exclude` glob.
    pub exclude: Option<String>,
}

/// `spec.destination`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destination {
    /// `server` as written (defaulted to the in-cluster URL when only `name` is given).
    pub server: String,
    /// `namespace` (may be empty).
    pub namespace: String,
}

/// `spec.syncPolicy.automated` when in effect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Automated {
    /// `prune`.
    pub prune: bool,
    /// `selfHeal`.
    pub self_heal: bool,
    /// `allowEmpty`.
    pub allow_empty: bool,
}

/// Sync options (`syncPolicy.syncOptions` or an operation's own list).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// `CreateNamespace=true`.
    pub create_namespace: bool,
    /// `ServerSideApply=true` (flotilla always applies server-side; kept for the record).
    pub server_side_apply: bool,
    /// `PruneLast=true`.
    pub prune_last: bool,
    /// `ApplyOutOfSyncOnly=true`.
    pub apply_out_of_sync_only: bool,
}

impl SyncOptions {
    /// Reads a `syncOptions` list (`Key=true`).
    pub fn parse(list: Option<&Value>) -> SyncOptions {
        let mut o = SyncOptions::default();
        for item in list.and_then(Value::as_array).into_iter().flatten() {
            let Some((k, v)) = item.as_str().and_then(|s| s.split_once('=')) else {
                continue;
            };
            let on = v.trim().eq_ignore_ascii_case("true");
            match k.trim() {
                "CreateNamespace" => o.create_namespace = on,
                "ServerSideApply" => o.server_side_apply = on,
                "PruneLast" => o.prune_last = on,
                "ApplyOutOfSyncOnly" => o.apply_out_of_sync_only = on,
                _ => {}
            }
        }
        o
    }
}

/// `spec.syncPolicy.retry`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// `limit` (negative = unlimited).
    pub limit: i64,
    /// `backoff.duration` (default 5 s).
    pub duration: Duration,
    /// `backoff.factor` (default 2).
    pub factor: f64,
    /// `backoff.maxDuration` (default 3 min).
    pub max_duration: Duration,
}

impl Retry {
    /// Reads a `retry` block; `None` when absent.
    pub fn parse(v: Option<&Value>) -> Option<Retry> {
        let v = v.filter(|v| v.is_object())?;
        let dur = |p: &str, d: Duration| {
            v.pointer(p)
                .and_then(Value::as_str)
                .and_then(|s| crate::model::time::parse_duration(s).ok())
                .unwrap_or(d)
        };
        Some(Retry {
            limit: v.get("limit").and_then(Value::as_i64).unwrap_or(0),
            duration: dur("/backoff/duration", Duration::from_secs(5)),
            factor: v
                .pointer("/backoff/factor")
                .and_then(Value::as_f64)
                .unwrap_or(2.0),
            max_duration: dur("/backoff/maxDuration", Duration::from_secs(180)),
        })
    }

    /// The wait before retry number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let secs = self.duration.as_secs_f64() * self.factor.max(1.0).powi(attempt as i32 - 1);
        Duration::from_secs_f64(secs.min(self.max_duration.as_secs_f64()).max(0.0))
    }
}

/// One `spec.ignoreDifferences` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreDifference {
    /// `group` (empty = core).
    pub group: String,
    /// `kind`.
    pub kind: String,
    /// `name` (empty = any).
    pub name: String,
    /// `namespace` (empty = any).
    pub namespace: String,
    /// `jsonPointers`.
    pub json_pointers: Vec<String>,
    /// `jqPathExpressions` (the `.a.b`, `.a[]?.b` subset).
    pub jq_paths: Vec<String>,
    /// `managedFieldsManagers`.
    pub managers: Vec<String>,
}

/// The typed Application spec.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSpec {
    /// `project` (default `default`).
    pub project: String,
    /// `source`.
    pub source: Source,
    /// `destination`.
    pub destination: Destination,
    /// `syncPolicy.automated`, when present and not `enabled: false`.
    pub automated: Option<Automated>,
    /// `syncPolicy.syncOptions`.
    pub sync_options: SyncOptions,
    /// `syncPolicy.syncOptions` as written (copied into automated operations).
    pub sync_options_raw: Value,
    /// `syncPolicy.retry`.
    pub retry: Option<Retry>,
    /// `syncPolicy.retry` as written.
    pub retry_raw: Value,
    /// `ignoreDifferences`.
    pub ignore_differences: Vec<IgnoreDifference>,
    /// `ignoreDifferences` as written (for `comparedTo`).
    pub ignore_differences_raw: Value,
    /// `revisionHistoryLimit` (default 10).
    pub revision_history_limit: usize,
    /// `destination` as written (for `comparedTo`).
    pub destination_raw: Value,
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or("").to_string()
}

fn strings_at(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the spec of an Application object.
pub fn parse(obj: &Value) -> Result<AppSpec, SpecError> {
    let spec = obj
        .get("spec")
        .filter(|s| s.is_object())
        .ok_or_else(|| SpecError("spec is required".into()))?;
    if spec
        .get("sources")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err(SpecError(
            "multi-source applications (spec.sources) are not supported by flotilla yet".into(),
        ));
    }
    let raw = spec
        .get("source")
        .filter(|s| s.is_object())
        .cloned()
        .ok_or_else(|| SpecError("spec.source or spec.sources is required".into()))?;
    let repo_url = text(raw.get("repoURL"));
    if repo_url.is_empty() {
        return Err(SpecError("spec.source.repoURL is required".into()));
    }
    let chart = raw
        .get("chart")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let dir = raw.get("directory");
    let source = Source {
        repo_url,
        target_revision: text(raw.get("targetRevision")),
        path: text(raw.get("path")),
        chart,
        directory: Directory {
            recurse: dir
                .and_then(|d| d.get("recurse"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            include: dir
                .and_then(|d| d.get("include"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            exclude: dir
                .and_then(|d| d.get("exclude"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        },
        kustomize: raw.get("kustomize").filter(|v| v.is_object()).cloned(),
        helm: raw.get("helm").filter(|v| v.is_object()).cloned(),
        raw: raw.clone(),
    };
    let dest = spec.get("destination").cloned().unwrap_or(Value::Null);
    let server = text(dest.get("server"));
    let name = text(dest.get("name"));
    let server = match (server.is_empty(), name.is_empty()) {
        (false, false) => {
            return Err(SpecError(
                "application destination can't have both name and server defined".into(),
            ));
        }
        (true, true) => return Err(SpecError("Destination server missing from app spec".into())),
        (false, true) => server,
        (true, false) if name == strings::IN_CLUSTER_NAME => strings::IN_CLUSTER_SERVER.to_string(),
        (true, false) => return Err(SpecError(strings::cluster_name_not_found(&name))),
    };
    if server.trim_end_matches('/') != strings::IN_CLUSTER_SERVER {
        return Err(SpecError(strings::cluster_not_found(&server)));
    }
    let destination = Destination {
        server,
        namespace: text(dest.get("namespace")),
    };
    let policy = spec.get("syncPolicy");
    let automated = policy
        .and_then(|p| p.get("automated"))
        .filter(|a| a.is_object());
    let automated = automated
        .filter(|a| a.get("enabled").and_then(Value::as_bool) != Some(false))
        .map(|a| {
            let flag = |k: &str| a.get(k).and_then(Value::as_bool).unwrap_or(false);
            Automated {
                prune: flag("prune"),
                self_heal: flag("selfHeal"),
                allow_empty: flag("allowEmpty"),
            }
        });
    let sync_options_raw = policy
        .and_then(|p| p.get("syncOptions"))
        .cloned()
        .unwrap_or(Value::Null);
    let retry_raw = policy
        .and_then(|p| p.get("retry"))
        .cloned()
        .unwrap_or(Value::Null);
    let ignore_differences_raw = spec
        .get("ignoreDifferences")
        .cloned()
        .unwrap_or(Value::Null);
    let ignore_differences = ignore_differences_raw
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| IgnoreDifference {
                    group: text(d.get("group")),
                    kind: text(d.get("kind")),
                    name: text(d.get("name")),
                    namespace: text(d.get("namespace")),
                    json_pointers: strings_at(d, "jsonPointers"),
                    jq_paths: strings_at(d, "jqPathExpressions"),
                    managers: strings_at(d, "managedFieldsManagers"),
                })
                .collect()
        })
        .unwrap_or_default();
    let project = text(spec.get("project"));
    Ok(AppSpec {
        project: if project.is_empty() {
            "default".into()
        } else {
            project
        },
        source,
        destination,
        automated,
        sync_options: SyncOptions::parse(policy.and_then(|p| p.get("syncOptions"))),
        sync_options_raw,
        retry: Retry::parse(policy.and_then(|p| p.get("retry"))),
        retry_raw,
        ignore_differences,
        ignore_differences_raw,
        revision_history_limit: spec
            .get("revisionHistoryLimit")
            .and_then(Value::as_u64)
            .map(|n| n as usize)
            .unwrap_or(10),
        destination_raw: dest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(spec: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "argocd"}, "spec": spec})
    }

    #[test]
    fn reads_source_destination_and_policy() {
        let s = parse(&app(json!({
            "source": {"repoURL": "https://g/r.git", "path": "p", "targetRevision": "v1",
                       "directory": {"recurse": true, "include": "*.yaml"}},
            "destination": {"name": "in-cluster", "namespace": "web"},
            "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true", "PruneLast=true"],
                           "retry": {"limit": 2, "backoff": {"duration": "1s", "factor": 3}}}
        })))
        .unwrap();
        assert_eq!(s.project, "default");
        assert_eq!(s.destination.server, strings::IN_CLUSTER_SERVER);
        assert_eq!(s.destination.namespace, "web");
        assert!(s.source.directory.recurse);
        assert_eq!(
            s.automated,
            Some(Automated {
                prune: true,
                ..Automated::default()
            })
        );
        assert!(s.sync_options.create_namespace && s.sync_options.prune_last);
        let r = s.retry.unwrap();
        assert_eq!(r.limit, 2);
        assert_eq!(r.delay(1), Duration::from_secs(1));
        assert_eq!(r.delay(3), Duration::from_secs(9));
    }

    #[test]
    fn automated_disabled_and_bad_destinations() {
        let s = parse(&app(json!({
            "source": {"repoURL": "u"},
            "destination": {"server": "https://kubernetes.default.svc"},
            "syncPolicy": {"automated": {"enabled": false, "selfHeal": true}}
        })))
        .unwrap();
        assert_eq!(s.automated, None);
        let e = parse(&app(json!({"source": {"repoURL": "u"},
            "destination": {"server": "https://other:6443"}})))
        .unwrap_err();
        assert!(e.0.contains("there are no clusters with this URL"), "{e}");
        assert!(parse(&app(json!({"destination": {"name": "in-cluster"}}))).is_err());
        assert!(parse(&json!({"spec": 3})).is_err());
    }
}
