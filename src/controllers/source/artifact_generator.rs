//! The ArtifactGenerator reconciler (`source.extensions.fluxcd.io/v1beta1`, Flux's source-watcher):
//! reads the artifacts of `spec.sources` (GitRepository, OCIRepository, Bucket, HelmChart,
//! ExternalArtifact) from the local store, builds each `spec.artifacts[]` entry with its `copy`
//! operations into a reproducible archive, stores it, and writes the ExternalArtifact objects it
//! owns; `status.inventory` lists them and ExternalArtifacts no longer declared are deleted (only
//! after every artifact built, so a failed build never takes anything away).
//!
//! Revision: `latest@sha256:<archive digest>` (the archive is normalised, so the digest depends on
//! the content only), or the revision of the source named by `revision: "@alias"`.

mod copy;

pub use copy::{CopyError, CopyOp, Strategy, glob_match, merge_values};

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::artifact::{
    Artifact, ArtifactStore, DEFAULT_EXTRACT_LIMIT, DEFAULT_RETENTION, artifact_path, write_archive,
};
use super::controller::ADVERTISED_ADDRESS;
use super::exclusions::Exclusions;
use super::external_artifact::{self, Producer};
use super::helm_index::store_bytes;
use crate::model::kinds;
use crate::runtime::events::EventType;
use crate::runtime::{Adapter, Controller, Dependency, Failure, Run, Success, dynamic_api};

/// `BuildFailed` (source-watcher's spelling in code).
pub const BUILD_FAILED: &str = "BuildFailed";
/// `SourceFetchFailed`.
pub const SOURCE_FETCH_FAILED: &str = "SourceFetchFailed";
/// `ReconciliationFailed`.
pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
/// `ValidationFailed` (stalled).
pub const VALIDATION_FAILED: &str = "ValidationFailed";
/// The API group of the kind.
pub const GROUP: &str = "source.extensions.fluxcd.io";
/// How often a Ready generator is rebuilt without a source change (source changes trigger it at once).
pub const RESYNC: Duration = Duration::from_secs(600);
/// The annotation source-watcher reads to pause a generator (`Disabled`).
pub const RECONCILE_ANNOTATION: &str = "source.extensions.fluxcd.io/reconcile";

const SOURCE_KINDS: [&str; 5] = [
    "GitRepository",
    "OCIRepository",
    "Bucket",
    "HelmChart",
    "ExternalArtifact",
];

/// One `spec.sources[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenSource {
    /// The alias copy operations use.
    pub alias: String,
    /// The source Kind.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its namespace (defaults to the generator's).
    pub namespace: String,
}

/// One `spec.artifacts[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenArtifact {
    /// The ExternalArtifact name.
    pub name: String,
    /// `@alias` whose revision is the artifact's.
    pub revision: Option<String>,
    /// `@alias` whose revision goes into the artifact metadata as its origin.
    pub origin_revision: Option<String>,
    /// The copy operations, in order.
    pub copy: Vec<CopyOp>,
}

/// The parsed spec.
#[derive(Debug, Clone)]
pub struct GeneratorSpec {
    /// The sources.
    pub sources: Vec<GenSource>,
    /// The artifacts.
    pub artifacts: Vec<GenArtifact>,
    /// True when the reconcile annotation says `Disabled`.
    pub disabled: bool,
}

fn invalid(message: String) -> Failure {
    Failure::terminal(VALIDATION_FAILED, message)
}

fn valid_alias(a: &str) -> bool {
    !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn alias_ref(
    field: &str,
    v: Option<&str>,
    aliases: &BTreeSet<String>,
) -> Result<Option<String>, Failure> {
    let Some(v) = v.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let a = v
        .strip_prefix('@')
        .ok_or_else(|| invalid(format!("{field} '{v}' must be '@<alias>'")))?;
    if !aliases.contains(a) {
        return Err(invalid(format!("{field} '{v}' names no source alias")));
    }
    Ok(Some(a.to_string()))
}

/// Parses and validates the spec (every error is terminal: `Stalled`, `ValidationFailed`).
pub fn parse_spec(obj: &Value) -> Result<GeneratorSpec, Failure> {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let text = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).map(str::to_string);
    let mut sources = Vec::new();
    let mut aliases = BTreeSet::new();
    for (i, s) in spec
        .get("sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let alias = text(s, "alias").unwrap_or_default();
        if !valid_alias(&alias) {
            return Err(invalid(format!(
                "spec.sources[{i}].alias '{alias}' must be non-empty alphanumerics, '-' or '_'"
            )));
        }
        if !aliases.insert(alias.clone()) {
            return Err(invalid(format!(
                "spec.sources[{i}]: duplicate alias '{alias}'"
            )));
        }
        let kind = text(s, "kind").unwrap_or_default();
        if !SOURCE_KINDS.contains(&kind.as_str()) {
            return Err(invalid(format!(
                "spec.sources[{i}].kind '{kind}' is not one of {}",
                SOURCE_KINDS.join(", ")
            )));
        }
        let name = text(s, "name").unwrap_or_default();
        if name.is_empty() {
            return Err(invalid(format!("spec.sources[{i}].name is required")));
        }
        sources.push(GenSource {
            alias,
            kind,
            name,
            namespace: text(s, "namespace").unwrap_or_else(|| ns.to_string()),
        });
    }
    if sources.is_empty() {
        return Err(invalid("spec.sources must list at least one source".into()));
    }
    let mut artifacts = Vec::new();
    let mut names = BTreeSet::new();
    for (i, a) in spec
        .get("artifacts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = text(a, "name").unwrap_or_default();
        if !valid_name(&name) {
            return Err(invalid(format!(
                "spec.artifacts[{i}].name '{name}' is not a valid Kubernetes name"
            )));
        }
        if !names.insert(name.clone()) {
            return Err(invalid(format!(
                "spec.artifacts[{i}]: duplicate name '{name}'"
            )));
        }
        let revision = alias_ref(
            &format!("spec.artifacts[{i}].revision"),
            a.get("revision").and_then(Value::as_str),
            &aliases,
        )?;
        let origin_revision = alias_ref(
            &format!("spec.artifacts[{i}].originRevision"),
            a.get("originRevision").and_then(Value::as_str),
            &aliases,
        )?;
        let mut ops = Vec::new();
        for (j, c) in a
            .get("copy")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let field = format!("spec.artifacts[{i}].copy[{j}]");
            let from = text(c, "from").unwrap_or_default();
            let (alias, pattern) =
                copy::parse_from(&from).map_err(|m| invalid(format!("{field}: {m}")))?;
            if !aliases.contains(&alias) {
                return Err(invalid(format!(
                    "{field}: from '{from}' names no source alias '{alias}'"
                )));
            }
            let to = copy::parse_to(&text(c, "to").unwrap_or_default())
                .map_err(|m| invalid(format!("{field}: {m}")))?;
            let strategy = Strategy::parse(c.get("strategy").and_then(Value::as_str))
                .map_err(|m| invalid(format!("{field}: {m}")))?;
            let exclude = c
                .get("exclude")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            ops.push(CopyOp {
                alias,
                pattern,
                to,
                exclude,
                strategy,
                from_text: from,
            });
        }
        if ops.is_empty() {
            return Err(invalid(format!(
                "spec.artifacts[{i}].copy must list at least one operation"
            )));
        }
        artifacts.push(GenArtifact {
            name,
            revision,
            origin_revision,
            copy: ops,
        });
    }
    if artifacts.is_empty() {
        return Err(invalid(
            "spec.artifacts must list at least one artifact".into(),
        ));
    }
    let disabled = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(RECONCILE_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case("disabled"));
    Ok(GeneratorSpec {
        sources,
        artifacts,
        disabled,
    })
}

/// Reconciles ArtifactGenerator objects of one cluster.
pub struct ArtifactGeneratorReconciler {
    client: kube::Client,
    store: ArtifactStore,
    work_dir: PathBuf,
    advertised: String,
}

/// A fetched source: its artifact and where it was unpacked.
struct Fetched {
    artifact: Artifact,
    dir: PathBuf,
}

/// One built artifact, ready to publish.
struct Built {
    name: String,
    artifact: Artifact,
    origin: Option<String>,
}

impl ArtifactGeneratorReconciler {
    /// A reconciler reading and writing artifacts in `store`, building under `work_dir`.
    pub fn new(client: kube::Client, store: ArtifactStore, work_dir: PathBuf) -> Self {
        ArtifactGeneratorReconciler {
            client,
            store,
            work_dir,
            advertised: ADVERTISED_ADDRESS.to_string(),
        }
    }

    /// Advertises artifacts under `addr` instead of [`ADVERTISED_ADDRESS`].
    pub fn with_advertised_address(mut self, addr: impl Into<String>) -> Self {
        self.advertised = addr.into();
        self
    }

    /// Reads a source object and its `status.artifact`.
    async fn source_artifact(&self, s: &GenSource) -> Result<Artifact, Failure> {
        let fail = |m: String| Failure::transient(SOURCE_FETCH_FAILED, m);
        let info = kinds::by_group_kind("source.toolkit.fluxcd.io", &s.kind)
            .ok_or_else(|| fail(format!("source kind '{}' is not served", s.kind)))?;
        let api = dynamic_api(&self.client, info, "v1", Some(&s.namespace));
        let obj = api.get_opt(&s.name).await.map_err(|e| {
            fail(format!(
                "failed to get source {} '{}/{}': {e}",
                s.kind, s.namespace, s.name
            ))
        })?;
        let obj = obj
            .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
            .ok_or_else(|| {
                fail(format!(
                    "source {} '{}/{}' not found",
                    s.kind, s.namespace, s.name
                ))
            })?;
        obj.pointer("/status/artifact")
            .and_then(Artifact::from_status)
            .ok_or_else(|| {
                fail(format!(
                    "source {} '{}/{}' is not ready: it has no artifact",
                    s.kind, s.namespace, s.name
                ))
            })
    }

    /// Fetches every source into `dir/<alias>`.
    async fn fetch_sources(
        &self,
        spec: &GeneratorSpec,
        dir: &Path,
    ) -> Result<BTreeMap<String, Fetched>, Failure> {
        let mut out = BTreeMap::new();
        for s in &spec.sources {
            let artifact = self.source_artifact(s).await?;
            let dest = dir.join(&s.alias);
            let (store, a, d) = (self.store.clone(), artifact.clone(), dest.clone());
            tokio::task::spawn_blocking(move || store.extract(&a, &d))
                .await
                .map_err(|e| Failure::transient(SOURCE_FETCH_FAILED, e.to_string()))?
                .map_err(|e| {
                    Failure::transient(
                        SOURCE_FETCH_FAILED,
                        format!(
                            "failed to extract the artifact of {} '{}/{}': {e}",
                            s.kind, s.namespace, s.name
                        ),
                    )
                })?;
            out.insert(
                s.alias.clone(),
                Fetched {
                    artifact,
                    dir: dest,
                },
            );
        }
        Ok(out)
    }

    /// Builds one artifact from the fetched sources and stores it (unless the same archive is
    /// already stored).
    fn build(
        &self,
        ns: &str,
        a: &GenArtifact,
        sources: &BTreeMap<String, Fetched>,
        out: &Path,
    ) -> Result<Built, Failure> {
        let build_fail =
            |m: String| Failure::transient(BUILD_FAILED, format!("artifact '{}': {m}", a.name));
        std::fs::create_dir_all(out).map_err(|e| build_fail(e.to_string()))?;
        for op in &a.copy {
            // Parsing checked every alias; a missing one is an internal error reported as such.
            let src = sources
                .get(&op.alias)
                .ok_or_else(|| build_fail(format!("unknown alias '{}'", op.alias)))?;
            copy::apply(op, &src.dir, out, DEFAULT_EXTRACT_LIMIT)
                .map_err(|e| build_fail(e.to_string()))?;
        }
        let (summary, bytes) = write_archive(out, &Exclusions::new(Vec::new()), Vec::new())
            .map_err(|e| build_fail(e.to_string()))?;
        let revision = match &a.revision {
            Some(alias) => sources
                .get(alias)
                .map(|s| s.artifact.revision.clone())
                .unwrap_or_default(),
            None => format!("latest@{}", summary.digest),
        };
        let hex = summary.digest.trim_start_matches("sha256:");
        let rel = artifact_path("ExternalArtifact", ns, &a.name, &format!("{hex}.tar.gz"))
            .map_err(|e| build_fail(e.to_string()))?;
        let storage = |m: String| {
            Failure::transient(
                RECONCILIATION_FAILED,
                format!("artifact '{}': storage failed: {m}", a.name),
            )
        };
        let artifact = match self.store.path_of(&rel) {
            Ok(p) if p.is_file() => Artifact {
                path: rel,
                revision,
                digest: summary.digest.clone(),
                size: summary.size,
                last_update_time: std::fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| jiff::Timestamp::try_from(t).ok())
                    .and_then(|t| jiff::Timestamp::from_second(t.as_second()).ok())
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            },
            _ => store_bytes(&self.store, &rel, &revision, &bytes)
                .map_err(|e| storage(e.to_string()))?,
        };
        super::helm_index::gc_files(&self.store, &artifact, DEFAULT_RETENTION);
        let origin = a
            .origin_revision
            .as_ref()
            .and_then(|alias| sources.get(alias))
            .map(|s| s.artifact.revision.clone());
        Ok(Built {
            name: a.name.clone(),
            artifact,
            origin,
        })
    }

    /// Deletes the ExternalArtifacts (and their archives) of `names`.
    async fn delete_artifacts(&self, ns: &str, names: &[String]) -> Result<(), Failure> {
        for n in names {
            external_artifact::delete(&self.client, ns, n)
                .await
                .map_err(|e| Failure::transient(RECONCILIATION_FAILED, e.to_string()))?;
            if let Err(e) = self.store.remove_object("ExternalArtifact", ns, n) {
                tracing::warn!(error = %e, "cannot remove the archives of ExternalArtifact {ns}/{n}");
            }
        }
        Ok(())
    }

    async fn run(
        &self,
        run: &mut Run,
        spec: &GeneratorSpec,
        tmp: &Path,
    ) -> Result<Success, Failure> {
        let (ns, name) = (run.namespace().to_string(), run.name().to_string());
        run.progressing("fetching sources");
        let sources = self.fetch_sources(spec, &tmp.join("sources")).await?;
        run.progressing(&format!("building {} artifact(s)", spec.artifacts.len()));
        let mut built = Vec::new();
        for a in &spec.artifacts {
            let out = tmp.join("out").join(&a.name);
            built.push(self.build(&ns, a, &sources, &out)?);
        }
        let old: Vec<Value> = run
            .status()
            .get("inventory")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let old_digest = |n: &str| {
            old.iter()
                .find(|e| e.get("name").and_then(Value::as_str) == Some(n))
                .and_then(|e| e.get("digest"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let producer = Producer {
            api_version: format!("{GROUP}/v1beta1"),
            kind: "ArtifactGenerator".into(),
            name: name.clone(),
            namespace: ns.clone(),
            uid: run
                .object()
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        let mut inventory = Vec::new();
        let mut changed = Vec::new();
        for b in &built {
            let mut status = b.artifact.status_value(&self.advertised);
            if let Some(o) = &b.origin {
                status["metadata"] = json!({"org.opencontainers.image.revision": o});
            }
            external_artifact::upsert(&self.client, &ns, &b.name, &producer, status)
                .await
                .map_err(|e| Failure::transient(RECONCILIATION_FAILED, e.to_string()))?;
            if old_digest(&b.name).as_deref() != Some(b.artifact.digest.as_str()) {
                changed.push(format!("{}@{}", b.name, b.artifact.revision));
            }
            inventory.push(json!({
                "name": b.name,
                "namespace": ns,
                "digest": b.artifact.digest,
                "filename": b.artifact.path.rsplit('/').next().unwrap_or(""),
            }));
        }
        // Only now that every artifact built and was published: drop the ones no longer declared.
        let declared: BTreeSet<&str> = built.iter().map(|b| b.name.as_str()).collect();
        let stale: Vec<String> = old
            .iter()
            .filter_map(|e| e.get("name").and_then(Value::as_str))
            .filter(|n| !declared.contains(n))
            .map(str::to_string)
            .collect();
        self.delete_artifacts(&ns, &stale).await?;
        run.set("inventory", Value::Array(inventory));
        if !changed.is_empty() {
            run.record(
                EventType::Normal,
                "ArtifactGenerated",
                &format!("generated {}", changed.join(", ")),
            );
        }
        if !stale.is_empty() {
            run.record(
                EventType::Normal,
                "GarbageCollectionSucceeded",
                &format!("deleted ExternalArtifact(s) {}", stale.join(", ")),
            );
        }
        Ok(Success::ready(
            "Succeeded",
            format!(
                "reconciliation succeeded, generated {} artifact(s)",
                built.len()
            ),
            RESYNC,
        ))
    }
}

impl Controller for ArtifactGeneratorReconciler {
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = "ArtifactGenerator";
    const VERSION: &'static str = "v1beta1";
    const COMPONENT: &'static str = "source-watcher";
    type Spec = GeneratorSpec;

    fn parse(&self, obj: &Value) -> Result<GeneratorSpec, Failure> {
        parse_spec(obj)
    }

    /// Fetch sources → build every artifact → publish the ExternalArtifacts → garbage-collect.
    async fn reconcile(&self, run: &mut Run, spec: GeneratorSpec) -> Result<Success, Failure> {
        if spec.disabled {
            return Ok(Success::ready(
                "Succeeded",
                format!("reconciliation is disabled by the {RECONCILE_ANNOTATION} annotation"),
                RESYNC,
            )
            .wait());
        }
        run.backoff_cap(RESYNC);
        run.begin().await;
        let tmp = self
            .work_dir
            .join(run.namespace())
            .join(run.name())
            .join(uuid::Uuid::new_v4().simple().to_string());
        let result = self.run(run, &spec, &tmp).await;
        let _ = std::fs::remove_dir_all(&tmp);
        result
    }

    async fn finalize(&self, obj: Value) {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        let names: Vec<String> = obj
            .pointer("/status/inventory")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("name").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        if let Err(e) = self.delete_artifacts(&ns, &names).await {
            tracing::warn!(error = ?e, "cannot delete the ExternalArtifacts of ArtifactGenerator {ns}");
        }
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let _ = std::fs::remove_dir_all(self.work_dir.join(&ns).join(name));
    }

    fn depends_on(&self, obj: &Value) -> Vec<Dependency> {
        let Ok(spec) = parse_spec(obj) else {
            return Vec::new();
        };
        spec.sources
            .iter()
            .filter_map(|s| {
                let k = kinds::by_group_kind("source.toolkit.fluxcd.io", &s.kind)?;
                Some(crate::runtime::ObjectKey::new(k.kind, &s.namespace, &s.name).into())
            })
            .collect()
    }
}

/// The runtime adapter of the ArtifactGenerator reconciler.
pub type ArtifactGeneratorKind = Adapter<ArtifactGeneratorReconciler>;

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(spec: Value) -> Value {
        json!({"metadata": {"name": "gen", "namespace": "flux-system"}, "spec": spec})
    }

    #[test]
    fn parses_the_decomposition_example() {
        let s = parse_spec(&generator(json!({
            "sources": [{"alias": "repo", "kind": "GitRepository", "name": "mono"}],
            "artifacts": [
                {"name": "apps", "originRevision": "@repo",
                 "copy": [{"from": "@repo/apps/**", "to": "@artifact/"}]},
                {"name": "infra", "revision": "@repo",
                 "copy": [{"from": "@repo/infra/", "to": "@artifact/", "exclude": ["*.md"], "strategy": "Overwrite"}]},
            ],
        })))
        .unwrap();
        assert_eq!(s.sources[0].namespace, "flux-system");
        assert_eq!(s.artifacts[0].origin_revision.as_deref(), Some("repo"));
        assert_eq!(s.artifacts[1].copy[0].pattern, "infra/");
        assert_eq!(s.artifacts[1].copy[0].exclude, vec!["*.md"]);
    }

    #[test]
    fn invalid_specs_stall_with_the_field() {
        let cases = [
            (json!({"sources": [], "artifacts": []}), "spec.sources"),
            (
                json!({"sources": [{"alias": "a b", "kind": "GitRepository", "name": "x"}]}),
                "spec.sources[0].alias",
            ),
            (
                json!({"sources": [{"alias": "a", "kind": "GitRepository", "name": "x"}, {"alias": "a", "kind": "Bucket", "name": "y"}]}),
                "duplicate alias 'a'",
            ),
            (
                json!({"sources": [{"alias": "a", "kind": "HelmRepository", "name": "x"}]}),
                "spec.sources[0].kind",
            ),
            (
                json!({"sources": [{"alias": "a", "kind": "GitRepository", "name": "x"}],
                       "artifacts": [{"name": "o", "copy": [{"from": "@b/x", "to": "@artifact/"}]}]}),
                "names no source alias 'b'",
            ),
            (
                json!({"sources": [{"alias": "a", "kind": "GitRepository", "name": "x"}],
                       "artifacts": [{"name": "o", "copy": [{"from": "@a/x", "to": "@artifact/../../etc"}]}]}),
                "must not contain '..'",
            ),
            (
                json!({"sources": [{"alias": "a", "kind": "GitRepository", "name": "x"}],
                       "artifacts": [{"name": "o", "revision": "@zz", "copy": [{"from": "@a/x", "to": "@artifact/"}]}]}),
                "spec.artifacts[0].revision",
            ),
            (
                json!({"sources": [{"alias": "a", "kind": "GitRepository", "name": "x"}],
                       "artifacts": [{"name": "Bad_Name", "copy": [{"from": "@a/x", "to": "@artifact/"}]}]}),
                "spec.artifacts[0].name",
            ),
        ];
        for (spec, want) in cases {
            let e = parse_spec(&generator(spec)).unwrap_err();
            assert!(e.is_terminal());
            let text = format!("{e:?}");
            assert!(text.contains(want), "{want}: {text}");
            assert!(text.contains(VALIDATION_FAILED), "{text}");
        }
    }
}
