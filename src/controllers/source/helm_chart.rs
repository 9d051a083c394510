//! The HelmChart reconciler (`source.toolkit.fluxcd.io/v1`), as source-controller runs it: a chart
//! pulled from a HelmRepository (version range resolved against the stored index, archive
//! downloaded, checked against the index digest and loaded as a chart), or packaged from a path
//! inside a GitRepository/Bucket artifact (`reconcileStrategy` ChartVersion or Revision), with
//! `valuesFiles` merged into the packaged `values.yaml`. The artifact is
//! `helmchart/<ns>/<name>/<chart>-<version>.tgz` with the chart version as revision.
//!
//! Conditions and messages follow source-controller's chart builder: `ChartPullSucceeded`
//! "pulled 'podinfo' chart with version '6.5.0'", `ChartPackageSucceeded` "packaged …", and build
//! errors "<summary>: <cause>" with reasons `ChartReferenceError`/`ChartPullError` (on
//! `FetchFailed`) or `ValuesFilesError`/`ChartPackageError` (on `BuildFailed`). Charts from an
//! OCI HelmRepository are pulled from the registry ([`oci`]).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::artifact::{Artifact, ArtifactStore, DEFAULT_RETENTION, artifact_path};
use super::controller::{
    ADVERTISED_ADDRESS, ARTIFACT_OUTDATED, FETCH_FAILED, STORAGE_OPERATION_FAILED,
};
use super::controller::{artifact_in_storage, remove_artifacts};
use super::helm_index::{
    HttpFetcher, IndexFile, MAX_CHART_SIZE, gc_files, read_artifact, resolve_chart_url,
    sha256_digest, store_bytes,
};
use super::helm_repository::{DEFAULT_TIMEOUT, duration_field, repository_auth};
use crate::model::conditions::ConditionStatus;
use crate::model::kinds;
use crate::model::redact::redact;
use crate::runtime::events::EventType;
use crate::runtime::{Adapter, Controller, Failure, ObjectKey, Run, Success, dynamic_api};

mod oci;

/// `BuildFailed`: the chart could not be packaged (values files, packaging).
pub const BUILD_FAILED: &str = "BuildFailed";
/// Largest total a source artifact may unpack to when a chart is packaged from it.
const SOURCE_EXTRACT_LIMIT: u64 = 256 << 20;

/// Reconciles HelmChart objects of one cluster.
pub struct HelmChartReconciler {
    client: kube::Client,
    store: ArtifactStore,
    work_dir: PathBuf,
    advertised: String,
}

/// How a chart from a GitRepository/Bucket gets a new artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileStrategy {
    /// When the chart version changes.
    ChartVersion,
    /// When the source revision changes (version `<version>+<12 hex of the revision>`).
    Revision,
}

/// The parsed spec of a HelmChart.
pub struct HelmChartSpec {
    chart: String,
    version: String,
    source_kind: String,
    source_name: String,
    interval: Duration,
    strategy: ReconcileStrategy,
    values_files: Vec<String>,
    ignore_missing_values_files: bool,
}

/// Flux's chart build error reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BuildReason {
    /// `ChartReferenceError` (persistent).
    Reference,
    /// `ChartPullError`.
    Pull,
    /// `ValuesFilesError` (persistent).
    ValuesFiles,
    /// `ChartPackageError`.
    Package,
}

impl BuildReason {
    fn reason(self) -> &'static str {
        match self {
            BuildReason::Reference => "ChartReferenceError",
            BuildReason::Pull => "ChartPullError",
            BuildReason::ValuesFiles => "ValuesFilesError",
            BuildReason::Package => "ChartPackageError",
        }
    }

    fn summary(self) -> &'static str {
        match self {
            BuildReason::Reference => "chart reference error",
            BuildReason::Pull => "chart pull error",
            BuildReason::ValuesFiles => "values files merge error",
            BuildReason::Package => "chart package error",
        }
    }
}

/// A build error as source-controller reports it: `FetchFailed` for reference/pull errors,
/// `BuildFailed` for values/packaging errors; reference and values errors stall.
fn build_error(run: &mut Run, why: BuildReason, cause: impl std::fmt::Display) -> Failure {
    let message = format!("{}: {cause}", why.summary());
    let condition = match why {
        BuildReason::Reference | BuildReason::Pull => {
            run.remove_condition(BUILD_FAILED);
            FETCH_FAILED
        }
        BuildReason::ValuesFiles | BuildReason::Package => {
            run.remove_condition(FETCH_FAILED);
            BUILD_FAILED
        }
    };
    let f = match why {
        BuildReason::Reference | BuildReason::ValuesFiles => {
            Failure::terminal(why.reason(), message)
        }
        BuildReason::Pull | BuildReason::Package => Failure::transient(why.reason(), message),
    };
    f.with_condition(condition, ConditionStatus::True)
}

fn parse_spec(obj: &Value) -> Result<HelmChartSpec, Failure> {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let text = |p: &str| spec.pointer(p).and_then(Value::as_str).map(str::to_string);
    let invalid = |m: String| {
        Failure::terminal("InvalidSpec", m).with_condition(FETCH_FAILED, ConditionStatus::True)
    };
    let chart = text("/chart").unwrap_or_default();
    if chart.is_empty() {
        return Err(invalid("spec.chart is required".to_string()));
    }
    let source_kind = text("/sourceRef/kind").unwrap_or_default();
    let source_name = text("/sourceRef/name").unwrap_or_default();
    if source_name.is_empty() {
        return Err(invalid("spec.sourceRef.name is required".to_string()));
    }
    if !matches!(
        source_kind.as_str(),
        "HelmRepository" | "GitRepository" | "Bucket"
    ) {
        return Err(invalid(format!(
            "spec.sourceRef.kind: unsupported source kind '{source_kind}' (expected HelmRepository, GitRepository or Bucket)"
        )));
    }
    let strategy = match text("/reconcileStrategy").as_deref() {
        None | Some("") | Some("ChartVersion") => ReconcileStrategy::ChartVersion,
        Some("Revision") => ReconcileStrategy::Revision,
        Some(other) => {
            return Err(invalid(format!(
                "spec.reconcileStrategy: unsupported value '{other}' (expected ChartVersion or Revision)"
            )));
        }
    };
    let values_files = spec
        .get("valuesFiles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(HelmChartSpec {
        chart,
        version: text("/version")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "*".to_string()),
        source_kind,
        source_name,
        interval: duration_field(&spec, "interval", Duration::from_secs(600))?,
        strategy,
        values_files,
        ignore_missing_values_files: spec
            .get("ignoreMissingValuesFiles")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// What a build produced.
struct Build {
    name: String,
    version: String,
    packaged: bool,
    values_files: Vec<String>,
}

impl Build {
    fn reason(&self) -> &'static str {
        if self.packaged {
            "ChartPackageSucceeded"
        } else {
            "ChartPullSucceeded"
        }
    }

    /// source-controller's `Build.Summary`.
    fn summary(&self) -> String {
        let action = if self.packaged { "packaged" } else { "pulled" };
        let mut s = format!(
            "{action} '{}' chart with version '{}'",
            self.name, self.version
        );
        if !self.values_files.is_empty() {
            s.push_str(&format!(
                " and merged values files [{}]",
                self.values_files.join(" ")
            ));
        }
        s
    }
}

/// A chart's files below its top directory.
type ChartFiles = Vec<(String, Vec<u8>)>;

fn chart_yaml(files: &ChartFiles) -> Result<Value, String> {
    let (_, bytes) = files
        .iter()
        .find(|(p, _)| p == "Chart.yaml")
        .ok_or_else(|| "Chart.yaml file is missing".to_string())?;
    let text = std::str::from_utf8(bytes).map_err(|e| format!("Chart.yaml is not UTF-8: {e}"))?;
    let meta: Value =
        serde_saphyr::from_str(text).map_err(|e| format!("cannot load Chart.yaml: {e}"))?;
    let field = |k: &str| {
        meta.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if field("name").is_empty() {
        return Err("validation: chart.metadata.name is required".to_string());
    }
    if field("version").is_empty() {
        return Err("validation: chart.metadata.version is required".to_string());
    }
    Ok(meta)
}

/// Deep merge of `over` into `base` (maps merged key by key, anything else replaced), as
/// Flux's `MergeMaps` does for values files.
fn merge_maps(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_maps(existing, v)
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Merges `paths` (looked up with `read`) in order; missing files are skipped when `ignore_missing`.
/// Returns the merged YAML and the files that were found.
fn merge_values_files(
    paths: &[String],
    ignore_missing: bool,
    read: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<(String, Vec<String>), String> {
    let mut merged = Value::Object(serde_json::Map::new());
    let mut found = Vec::new();
    for p in paths {
        let Some(bytes) = read(p) else {
            if ignore_missing {
                continue;
            }
            return Err(format!("no values file found at path '{p}'"));
        };
        let text = String::from_utf8_lossy(&bytes);
        let values: Value = if text.trim().is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            serde_saphyr::from_str(&text)
                .map_err(|e| format!("unmarshaling values from '{p}' failed: {e}"))?
        };
        if !values.is_object() && !values.is_null() {
            return Err(format!("values file '{p}' is not a YAML mapping"));
        }
        if values.is_object() {
            merge_maps(&mut merged, values);
        }
        found.push(p.clone());
    }
    let yaml = serde_saphyr::to_string(&merged).map_err(|e| format!("cannot write values: {e}"))?;
    Ok((yaml, found))
}

/// A reproducible `.tgz` of the chart files below `<top>/` (mode 0644, mtime 0, sorted).
fn package(top: &str, files: &ChartFiles) -> Result<Vec<u8>, String> {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(enc);
    for (path, bytes) in sorted {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{top}/{path}"), bytes.as_slice())
            .map_err(|e| format!("cannot archive {path}: {e}"))?;
    }
    let enc = tar
        .into_inner()
        .map_err(|e| format!("cannot finish the archive: {e}"))?;
    enc.finish()
        .map_err(|e| format!("cannot compress the archive: {e}"))
}

/// Reads a chart directory into its files, honouring `.helmignore`; links are refused.
fn read_chart_dir(dir: &Path) -> Result<ChartFiles, String> {
    let rules = match std::fs::read_to_string(dir.join(".helmignore")) {
        Ok(t) => crate::helm::ignore::Rules::parse(&t).map_err(|e| e.to_string())?,
        Err(_) => crate::helm::ignore::Rules::defaults(),
    };
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    let mut total: u64 = 0;
    while let Some((d, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("cannot read {rel:?}: {e}"))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read {rel:?}: {e}"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let meta = std::fs::symlink_metadata(entry.path())
                .map_err(|e| format!("cannot stat {path}: {e}"))?;
            if meta.file_type().is_symlink() {
                return Err(format!("chart file {path} is a symbolic link"));
            }
            if rules.ignored(&path, meta.is_dir()) {
                continue;
            }
            if meta.is_dir() {
                stack.push((entry.path(), path));
            } else if meta.is_file() {
                total += meta.len();
                if total > crate::helm::archive::MAX_CHART_SIZE {
                    return Err(format!(
                        "chart is larger than the maximum size {}",
                        crate::helm::archive::MAX_CHART_SIZE
                    ));
                }
                let bytes =
                    std::fs::read(entry.path()).map_err(|e| format!("cannot read {path}: {e}"))?;
                out.push((path, bytes));
            }
        }
    }
    Ok(out)
}

/// `dir/rel` when `rel` stays inside `dir` (Flux's secure join refuses escapes).
fn join_inside(dir: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = dir.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// The first 12 hex characters of a source revision (`main@sha1:<hex>`, `sha256:<hex>`).
fn short_revision(rev: &str) -> String {
    let hex = rev.rsplit(':').next().unwrap_or(rev);
    let hex = hex.rsplit('/').next().unwrap_or(hex);
    hex.chars().take(12).collect()
}

/// `version` with its build metadata replaced by `meta` (Masterminds `SetMetadata`).
fn with_metadata(version: &str, meta: &str) -> String {
    let core = version.split_once('+').map_or(version, |(c, _)| c);
    format!("{core}+{meta}")
}

impl HelmChartReconciler {
    /// A reconciler storing chart artifacts in `store`, unpacking sources under `work_dir`.
    pub fn new(client: kube::Client, store: ArtifactStore, work_dir: PathBuf) -> Self {
        HelmChartReconciler {
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

    /// The source object, with its artifact (Flux: `SourceUnavailable`, `NoSourceArtifact`).
    async fn source(
        &self,
        run: &mut Run,
        spec: &HelmChartSpec,
    ) -> Result<(Value, Option<Artifact>), Failure> {
        let ns = run.namespace().to_string();
        let unavailable = |m: String| {
            Failure::transient("SourceUnavailable", format!("failed to get source: {m}"))
                .with_condition(FETCH_FAILED, ConditionStatus::True)
        };
        let info = kinds::by_group_kind("source.toolkit.fluxcd.io", &spec.source_kind)
            .ok_or_else(|| unavailable(format!("unknown kind {}", spec.source_kind)))?;
        let api = dynamic_api(&self.client, info, "v1", Some(&ns));
        let obj = match api.get_opt(&spec.source_name).await {
            Ok(Some(o)) => serde_json::to_value(o).unwrap_or(Value::Null),
            Ok(None) => {
                return Err(unavailable(format!(
                    "{}.{} \"{}\" not found",
                    info.plural, info.group, spec.source_name
                )));
            }
            Err(e) => return Err(unavailable(e.to_string())),
        };
        let oci = obj.pointer("/spec/type").and_then(Value::as_str) == Some("oci");
        let artifact = obj
            .pointer("/status/artifact")
            .and_then(Artifact::from_status)
            .filter(|a| self.store.exists(a));
        if artifact.is_none() && !oci {
            let m = format!(
                "no artifact available for {} source '{}'",
                spec.source_kind, spec.source_name
            );
            // Runs again when the source's artifact changes (dependency), or after a while.
            return Err(Failure::waiting(
                "NoSourceArtifact",
                m,
                spec.interval.min(Duration::from_secs(30)),
            )
            .with_condition(FETCH_FAILED, ConditionStatus::Unknown));
        }
        Ok((obj, artifact))
    }

    /// The early exit: the stored artifact already is this chart version with these values files.
    fn up_to_date(&self, run: &mut Run, name: &str, version: &str, values: &[String]) -> bool {
        let current = run.status().get("artifact").and_then(Artifact::from_status);
        let observed_name = run
            .status()
            .get("observedChartName")
            .and_then(Value::as_str);
        let observed_values: Vec<String> = run
            .status()
            .get("observedValuesFiles")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let Some(cur) = current else {
            return false;
        };
        let same = cur.revision == version
            && observed_name == Some(name)
            && observed_values == values
            && self.store.exists(&cur);
        if same {
            // The storage address may have changed since the artifact was stored.
            run.set("artifact", cur.status_value(&self.advertised));
        }
        same
    }

    /// Marks the new chart as outdating the stored one and shows progress (written at once).
    async fn announce(&self, run: &mut Run, name: &str, version: &str) {
        let m = format!("new '{name}' chart with version '{version}'");
        if run.status().get("artifact").is_some() {
            run.set_condition(ARTIFACT_OUTDATED, ConditionStatus::True, "NewChart", &m);
        }
        run.progressing(&format!("building artifact: {m}"));
        run.write().await;
    }

    /// Pulls the chart from a HelmRepository (`type: default`).
    async fn pull_from_repository(
        &self,
        run: &mut Run,
        spec: &HelmChartSpec,
        repo: &Value,
        index_artifact: &Artifact,
    ) -> Result<(Build, Option<Vec<u8>>), Failure> {
        let bytes = read_artifact(&self.store, index_artifact).map_err(|e| {
            build_error(run, BuildReason::Pull, format!("failed to load index: {e}"))
        })?;
        let index = IndexFile::parse(&bytes).map_err(|e| {
            build_error(run, BuildReason::Pull, format!("failed to load index: {e}"))
        })?;
        let cv = index.get(&spec.chart, &spec.version).map_err(|e| {
            build_error(
                run,
                BuildReason::Reference,
                format!("failed to get chart version for remote reference: {e}"),
            )
        })?;
        let (name, version) = (cv.name.clone(), cv.version.clone());
        if self.up_to_date(run, &name, &version, &spec.values_files) {
            let packaged = !spec.values_files.is_empty();
            return Ok((
                Build {
                    name,
                    version,
                    packaged,
                    values_files: spec.values_files.clone(),
                },
                None,
            ));
        }
        self.announce(run, &name, &version).await;
        let repo_url = repo
            .pointer("/spec/url")
            .and_then(Value::as_str)
            .unwrap_or("");
        let pull = |run: &mut Run, m: String| {
            build_error(
                run,
                BuildReason::Pull,
                format!("failed to download chart for remote reference: {m}"),
            )
        };
        let Some(first) = cv.urls.first() else {
            return Err(pull(
                run,
                format!("chart '{name}' version '{version}' has no downloadable URLs"),
            ));
        };
        let url = resolve_chart_url(repo_url, first).map_err(|m| pull(run, m))?;
        let ns = run.namespace().to_string();
        let text = |p: &str| repo.pointer(p).and_then(Value::as_str).map(str::to_string);
        let auth = repository_auth(
            &self.client,
            &ns,
            text("/spec/secretRef/name").as_deref(),
            text("/spec/certSecretRef/name").as_deref(),
        )
        .await?;
        // Flux sends the repository's credentials to another host only with passCredentials.
        let same_host = reqwest::Url::parse(&url).ok().map(|u| u.origin())
            == reqwest::Url::parse(repo_url).ok().map(|u| u.origin());
        let pass = repo
            .pointer("/spec/passCredentials")
            .and_then(Value::as_bool)
            == Some(true);
        let mut auth = auth;
        if !same_host && !pass {
            auth.basic = None;
        }
        let timeout = repo
            .pointer("/spec/timeout")
            .and_then(Value::as_str)
            .and_then(|t| crate::model::time::parse_duration(t).ok())
            .unwrap_or(DEFAULT_TIMEOUT);
        let fetcher =
            HttpFetcher::new(&auth, timeout, &url).map_err(|e| pull(run, e.to_string()))?;
        let archive = fetcher
            .get(&url, MAX_CHART_SIZE)
            .await
            .map_err(|e| pull(run, e.to_string()))?;
        if let Some(want) = &cv.digest {
            let got = sha256_digest(&archive);
            if got.trim_start_matches("sha256:") != want.trim_start_matches("sha256:") {
                return Err(pull(
                    run,
                    format!(
                        "digest mismatch for chart '{name}' version '{version}' from '{}': index has sha256:{}, downloaded archive is {got}",
                        redact(&url),
                        want.trim_start_matches("sha256:")
                    ),
                ));
            }
        }
        let files = crate::helm::archive::unpack(&format!("{name}-{version}.tgz"), &archive)
            .map_err(|e| pull(run, format!("failed to load chart '{name}': {e}")))?;
        let meta = chart_yaml(&files)
            .map_err(|e| pull(run, format!("failed to load chart '{name}': {e}")))?;
        let chart_name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&name)
            .to_string();
        if spec.values_files.is_empty() {
            return Ok((
                Build {
                    name,
                    version,
                    packaged: false,
                    values_files: Vec::new(),
                },
                Some(archive),
            ));
        }
        let (bytes, found) = self.repackage(run, spec, files, &chart_name, None, |_| None)?;
        Ok((
            Build {
                name,
                version,
                packaged: true,
                values_files: found,
            },
            Some(bytes),
        ))
    }

    /// Merges the values files into `values.yaml` (paths looked up in the chart, or with
    /// `outside` first for sources where they are relative to the source root), optionally sets
    /// the version, and packages the chart.
    fn repackage(
        &self,
        run: &mut Run,
        spec: &HelmChartSpec,
        mut files: ChartFiles,
        chart_name: &str,
        set_version: Option<&str>,
        outside: impl Fn(&str) -> Option<Vec<u8>>,
    ) -> Result<(Vec<u8>, Vec<String>), Failure> {
        let mut found = Vec::new();
        if !spec.values_files.is_empty() {
            let lookup = |p: &str| {
                outside(p).or_else(|| {
                    files
                        .iter()
                        .find(|(f, _)| f == p.trim_start_matches("./"))
                        .map(|(_, b)| b.clone())
                })
            };
            let (yaml, f) =
                merge_values_files(&spec.values_files, spec.ignore_missing_values_files, lookup)
                    .map_err(|e| build_error(run, BuildReason::ValuesFiles, e))?;
            found = f;
            files.retain(|(p, _)| p != "values.yaml");
            files.push(("values.yaml".to_string(), yaml.into_bytes()));
        }
        if let Some(v) = set_version {
            let mut meta =
                chart_yaml(&files).map_err(|e| build_error(run, BuildReason::Package, e))?;
            if let Some(m) = meta.as_object_mut() {
                m.insert("version".to_string(), json!(v));
            }
            let yaml = serde_saphyr::to_string(&meta).map_err(|e| {
                build_error(
                    run,
                    BuildReason::Package,
                    format!("cannot write Chart.yaml: {e}"),
                )
            })?;
            files.retain(|(p, _)| p != "Chart.yaml");
            files.push(("Chart.yaml".to_string(), yaml.into_bytes()));
        }
        let bytes =
            package(chart_name, &files).map_err(|e| build_error(run, BuildReason::Package, e))?;
        Ok((bytes, found))
    }

    /// Packages the chart at `spec.chart` inside a GitRepository/Bucket artifact.
    async fn package_from_source(
        &self,
        run: &mut Run,
        spec: &HelmChartSpec,
        artifact: &Artifact,
    ) -> Result<(Build, Option<Vec<u8>>), Failure> {
        let dir = self
            .work_dir
            .join(format!("src-{}", uuid::Uuid::new_v4().simple()));
        let result = self.package_from_source_in(run, spec, artifact, &dir).await;
        // Best effort: only a temporary copy of the source.
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    async fn package_from_source_in(
        &self,
        run: &mut Run,
        spec: &HelmChartSpec,
        artifact: &Artifact,
        dir: &Path,
    ) -> Result<(Build, Option<Vec<u8>>), Failure> {
        let (store, a, d) = (self.store.clone(), artifact.clone(), dir.to_path_buf());
        let extracted = tokio::task::spawn_blocking(move || {
            store.extract_with_limit(&a, &d, SOURCE_EXTRACT_LIMIT)
        })
        .await;
        match extracted {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(Failure::transient(
                    "StorageOperationFailed",
                    format!("failed to extract source artifact: {e}"),
                )
                .with_condition(STORAGE_OPERATION_FAILED, ConditionStatus::True));
            }
            Err(e) => {
                return Err(Failure::transient(
                    "StorageOperationFailed",
                    format!("failed to extract source artifact: {e}"),
                ));
            }
        }
        let reference = |run: &mut Run, m: String| {
            build_error(
                run,
                BuildReason::Reference,
                format!("failed to load chart from path '{}': {m}", spec.chart),
            )
        };
        let Some(chart_dir) = join_inside(dir, &spec.chart) else {
            return Err(reference(run, "path leaves the source".to_string()));
        };
        if !chart_dir.is_dir() {
            return Err(reference(
                run,
                "no such directory in the source artifact".to_string(),
            ));
        }
        let files = read_chart_dir(&chart_dir).map_err(|m| reference(run, m))?;
        let meta = chart_yaml(&files).map_err(|m| reference(run, m))?;
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let chart_version = meta
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let version = match spec.strategy {
            ReconcileStrategy::ChartVersion => chart_version.clone(),
            ReconcileStrategy::Revision => {
                with_metadata(&chart_version, &short_revision(&artifact.revision))
            }
        };
        if self.up_to_date(run, &name, &version, &spec.values_files) {
            return Ok((
                Build {
                    name,
                    version,
                    packaged: true,
                    values_files: spec.values_files.clone(),
                },
                None,
            ));
        }
        self.announce(run, &name, &version).await;
        // Values files are relative to the source root for GitRepository/Bucket charts.
        let root = dir.to_path_buf();
        let outside = |p: &str| {
            join_inside(&root, p)
                .filter(|f| f.is_file())
                .and_then(|f| std::fs::read(f).ok())
        };
        let set_version = (version != chart_version).then_some(version.as_str());
        let (bytes, found) = self.repackage(run, spec, files, &name, set_version, outside)?;
        Ok((
            Build {
                name,
                version,
                packaged: true,
                values_files: found,
            },
            Some(bytes),
        ))
    }

    /// Stores a new build as the artifact and records Flux's event.
    fn store(
        &self,
        run: &mut Run,
        build: &Build,
        bytes: &[u8],
        source_revision: Option<&str>,
    ) -> Result<(), Failure> {
        let (ns, name) = (run.namespace().to_string(), run.name().to_string());
        let storage = |reason: &str, message: String| {
            Failure::transient(reason, message)
                .with_condition(STORAGE_OPERATION_FAILED, ConditionStatus::True)
        };
        let file = format!("{}-{}.tgz", build.name, build.version);
        let rel = artifact_path("HelmChart", &ns, &name, &file)
            .map_err(|e| storage("StorageOperationFailed", e.to_string()))?;
        let artifact = store_bytes(&self.store, &rel, &build.version, bytes)
            .map_err(|e| storage(e.reason(), e.to_string()))?;
        gc_files(&self.store, &artifact, DEFAULT_RETENTION);
        run.set("artifact", artifact.status_value(&self.advertised));
        run.set("observedChartName", json!(build.name));
        if let Some(rev) = source_revision {
            run.set("observedSourceArtifactRevision", json!(rev));
        }
        run.set_revision(&build.version);
        run.record(EventType::Normal, build.reason(), &build.summary());
        Ok(())
    }
}

impl Controller for HelmChartReconciler {
    const GROUP: &'static str = "source.toolkit.fluxcd.io";
    const KIND: &'static str = "HelmChart";
    const COMPONENT: &'static str = "source-controller";
    type Spec = HelmChartSpec;

    fn parse(&self, obj: &Value) -> Result<HelmChartSpec, Failure> {
        parse_spec(obj)
    }

    async fn reconcile(&self, run: &mut Run, spec: HelmChartSpec) -> Result<Success, Failure> {
        run.backoff_cap(spec.interval);
        run.begin().await;
        let (source, artifact) = self.source(run, &spec).await?;
        let (build, bytes) = if spec.source_kind == "HelmRepository" {
            match artifact.as_ref() {
                Some(index) => {
                    self.pull_from_repository(run, &spec, &source, index)
                        .await?
                }
                // An OCI HelmRepository has no index artifact (oci.rs).
                None => self.pull_from_oci(run, &spec, &source).await?,
            }
        } else {
            let Some(a) = artifact.as_ref() else {
                return Err(Failure::waiting(
                    "NoSourceArtifact",
                    format!(
                        "no artifact available for {} source '{}'",
                        spec.source_kind, spec.source_name
                    ),
                    Duration::from_secs(30),
                ));
            };
            self.package_from_source(run, &spec, a).await?
        };
        if let Some(bytes) = &bytes {
            self.store(
                run,
                &build,
                bytes,
                artifact.as_ref().map(|a| a.revision.as_str()),
            )?;
        }
        if build.values_files.is_empty() {
            run.remove("observedValuesFiles");
        } else {
            run.set("observedValuesFiles", json!(build.values_files));
        }
        Ok(artifact_in_storage(
            run,
            &[
                FETCH_FAILED,
                BUILD_FAILED,
                ARTIFACT_OUTDATED,
                STORAGE_OPERATION_FAILED,
            ],
            build.reason(),
            build.summary(),
            spec.interval,
        ))
    }

    async fn finalize(&self, obj: Value) {
        remove_artifacts(&self.store, "HelmChart", &obj);
    }

    fn depends_on(&self, obj: &Value) -> Vec<crate::runtime::Dependency> {
        let Ok(spec) = parse_spec(obj) else {
            return Vec::new();
        };
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        match kinds::by_group_kind("source.toolkit.fluxcd.io", &spec.source_kind) {
            Some(k) => vec![ObjectKey::new(k.kind, ns, &spec.source_name).into()],
            None => Vec::new(),
        }
    }

    fn signal(&self, obj: &Value) -> Option<String> {
        let ready = crate::model::conditions::is_true(obj, crate::model::conditions::READY);
        let rev = obj
            .pointer("/status/artifact/revision")
            .and_then(Value::as_str)
            .unwrap_or("");
        Some(format!("{ready}|{rev}"))
    }
}

/// The runtime adapter of the HelmChart reconciler.
pub type HelmChartKind = Adapter<HelmChartReconciler>;

/// Chart files of a packaged archive by path (for tests and callers inspecting artifacts).
pub fn archive_files(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    crate::helm::archive::unpack("chart.tgz", bytes)
        .map(|f| f.into_iter().collect())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_match_flux() {
        let b = Build {
            name: "podinfo".into(),
            version: "6.5.0".into(),
            packaged: false,
            values_files: vec![],
        };
        assert_eq!(b.summary(), "pulled 'podinfo' chart with version '6.5.0'");
        assert_eq!(b.reason(), "ChartPullSucceeded");
        let b = Build {
            packaged: true,
            values_files: vec!["a.yaml".into(), "b.yaml".into()],
            ..b
        };
        assert_eq!(
            b.summary(),
            "packaged 'podinfo' chart with version '6.5.0' and merged values files [a.yaml b.yaml]"
        );
    }

    #[test]
    fn revision_metadata_is_twelve_hex() {
        assert_eq!(
            short_revision("main@sha1:0123456789abcdef0123456789abcdef01234567"),
            "0123456789ab"
        );
        assert_eq!(with_metadata("1.2.3+old", "abc"), "1.2.3+abc");
        assert_eq!(with_metadata("1.2.3", "abc"), "1.2.3+abc");
    }

    #[test]
    fn values_files_merge_in_order() {
        let files: BTreeMap<&str, &str> = [
            ("a.yaml", "x: 1\nm:\n  k: a\n  j: a\n"),
            ("b.yaml", "y: 2\nm:\n  k: b\n"),
        ]
        .into_iter()
        .collect();
        let read = |p: &str| files.get(p).map(|s| s.as_bytes().to_vec());
        let (yaml, found) =
            merge_values_files(&["a.yaml".into(), "b.yaml".into()], false, read).unwrap();
        let v: Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(v, json!({"x": 1, "y": 2, "m": {"k": "b", "j": "a"}}));
        assert_eq!(found, vec!["a.yaml", "b.yaml"]);
        let e = merge_values_files(&["c.yaml".into()], false, read).unwrap_err();
        assert_eq!(e, "no values file found at path 'c.yaml'");
        let (_, found) =
            merge_values_files(&["c.yaml".into(), "a.yaml".into()], true, read).unwrap();
        assert_eq!(found, vec!["a.yaml"]);
    }

    #[test]
    fn packages_round_trip_through_the_helm_loader() {
        let files: ChartFiles = vec![
            (
                "Chart.yaml".into(),
                b"apiVersion: v2\nname: c\nversion: 1.0.0\n".to_vec(),
            ),
            ("templates/cm.yaml".into(), b"kind: ConfigMap\n".to_vec()),
        ];
        let bytes = package("c", &files).unwrap();
        let back = archive_files(&bytes).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back["templates/cm.yaml"], b"kind: ConfigMap\n");
        assert_eq!(package("c", &files).unwrap(), bytes, "reproducible");
    }

    #[test]
    fn paths_stay_inside() {
        let d = Path::new("/x");
        assert_eq!(
            join_inside(d, "charts/a"),
            Some(PathBuf::from("/x/charts/a"))
        );
        assert_eq!(join_inside(d, "./a"), Some(PathBuf::from("/x/a")));
        assert_eq!(join_inside(d, "../a"), None);
    }
}
