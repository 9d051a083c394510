//! HelmRelease views: the objects of the deployed release as Helm's release storage records them
//! (for the health tree), and `flotilla diff hr` — what the chart would render now, with the
//! values composed as the reconciler composes them, against the cluster.

use serde_json::Value;
use std::path::{Path, PathBuf};

use super::diff::{self, DiffReport, live::LiveClient};
use super::{ViewError, must_get};
use crate::controllers::helmrelease::actions::{Helm, OWNER_GROUP, ReleaseOptions};
use crate::controllers::helmrelease::reconciler::unpack_chart;
use crate::controllers::helmrelease::spec::{
    self, ChartSource, HelmReleaseSpec, parse_helm_release,
};
use crate::controllers::helmrelease::values;
use crate::controllers::source::{Artifact, SourceStorage};
use crate::helm::release::{Release, Status};
use crate::model::tree::ObjectRef;

/// Largest chart archive downloaded for a diff.
const CHART_LIMIT: u64 = 64 << 20;

fn options(hr: &Value, spec: &HelmReleaseSpec) -> ReleaseOptions {
    let text = |p: &str| hr.pointer(p).and_then(Value::as_str).unwrap_or("");
    let mut o = ReleaseOptions::new(&spec.release_name, &spec.target_namespace);
    o.owner = crate::apply::policy::Owner::new(
        OWNER_GROUP,
        text("/metadata/name"),
        text("/metadata/namespace"),
    );
    o.post_renderers = spec.post_renderers.clone();
    o
}

/// The latest deployed revision of a HelmRelease's release (else its latest), if storage has one.
async fn current_release(
    live: &LiveClient,
    spec: &HelmReleaseSpec,
) -> Result<Option<Release>, String> {
    let helm = Helm::new(live.client().clone(), &spec.storage_namespace);
    let history = helm
        .history(&spec.release_name)
        .await
        .map_err(|e| e.to_string())?;
    Ok(history
        .iter()
        .rev()
        .find(|r| r.info.status == Status::Deployed)
        .or(history.last())
        .cloned())
}

/// The objects of the HelmRelease's deployed release, decoded from release storage (namespaces
/// defaulted as Helm applies them); `None` when there is no release record.
pub async fn release_objects(live: &LiveClient, hr: &Value) -> Result<Option<Vec<Value>>, String> {
    let spec = parse_helm_release(hr).map_err(|e| e.to_string())?;
    let Some(rel) = current_release(live, &spec).await? else {
        return Ok(None);
    };
    let helm = Helm::new(live.client().clone(), &spec.storage_namespace);
    helm.objects_of(&rel, &options(hr, &spec))
        .map(Some)
        .map_err(|e| e.to_string())
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The chart source of a HelmRelease (its HelmChart, or `chartRef`).
fn chart_source(hr: &Value, spec: &HelmReleaseSpec) -> ObjectRef {
    let ns = hr
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = hr
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (kind, namespace, name) = match &spec.chart {
        ChartSource::Template(t) => (
            "HelmChart".to_string(),
            t.source.namespace.clone(),
            spec::helm_chart_name(ns, name),
        ),
        ChartSource::Ref(r) => (r.kind.clone(), r.namespace.clone(), r.name.clone()),
    };
    ObjectRef {
        group: "source.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        kind,
        namespace,
        name,
    }
}

/// The chart archive bytes: from the controller's data directory when it holds the artifact,
/// else downloaded from `status.artifact.url`.
async fn chart_bytes(
    source: &Value,
    data_dir: Option<&Path>,
    context: &str,
) -> Result<Vec<u8>, String> {
    let a = source
        .pointer("/status/artifact")
        .ok_or("the chart source has no artifact yet")?;
    let artifact = Artifact::from_status(a).ok_or("the chart source's artifact is incomplete")?;
    let mut why = Vec::new();
    if let Some(dir) = data_dir {
        let store = SourceStorage::new(dir, context).artifact_store();
        let read = store
            .path_of(&artifact.path)
            .map_err(|e| e.to_string())
            .and_then(|p| std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display())));
        match read {
            Ok(b) => {
                crate::controllers::source::artifact::verify_digest(
                    &b,
                    &artifact.digest,
                    &artifact.path,
                )?;
                return Ok(b);
            }
            Err(e) => why.push(format!("not in {}: {e}", store.root().display())),
        }
    }
    match a.get("url").and_then(Value::as_str) {
        Some(url) if !url.is_empty() => crate::controllers::source::artifact::download(
            url,
            &artifact.digest,
            CHART_LIMIT,
            std::time::Duration::from_secs(60),
        )
        .await
        .map_err(|e| {
            why.push(e);
            format!(
                "chart artifact not reachable from here ({})",
                why.join("; ")
            )
        }),
        _ => {
            why.push("status.artifact.url is empty".into());
            Err(format!(
                "chart artifact not reachable from here ({})",
                why.join("; ")
            ))
        }
    }
}

/// `flotilla diff hr`: the chart rendered now with the composed values, dry-run applied and
/// compared with the cluster; objects of the deployed release the chart no longer renders show
/// as deletions. Secret values are masked.
pub async fn helm_release_diff(
    live: &LiveClient,
    target: &ObjectRef,
    data_dir: Option<&Path>,
    context: &str,
) -> Result<DiffReport, ViewError> {
    if target.kind != "HelmRelease" {
        return Err(ViewError::Unsupported {
            view: "diff",
            object: target.display(),
            supported: "HelmRelease",
        });
    }
    let fail = |message: String| ViewError::Desired {
        object: target.display(),
        message,
    };
    let hr = must_get(live, target).await?;
    let spec = parse_helm_release(&hr).map_err(|e| fail(e.to_string()))?;
    let source_ref = chart_source(&hr, &spec);
    let source = must_get(live, &source_ref).await?;
    let bytes = chart_bytes(&source, data_dir, context)
        .await
        .map_err(&fail)?;
    let scratch = Scratch(std::env::temp_dir().join(format!(
        "flotilla-diff-hr-{}",
        uuid::Uuid::new_v4().simple()
    )));
    let dir = scratch.0.join("chart");
    unpack_chart(&bytes, &dir).map_err(&fail)?;
    let mut opts = options(&hr, &spec);
    opts.values = values::compose(
        live.client(),
        &target.namespace,
        &spec.values_from,
        &spec.values,
    )
    .await
    .map_err(&fail)?;
    let current = current_release(live, &spec).await.map_err(&fail)?;
    let desired = Helm::desired_objects(&dir, &opts, current.is_some())
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut stale = Vec::new();
    if let Some(rel) = &current {
        let helm = Helm::new(live.client().clone(), &spec.storage_namespace);
        let old = helm
            .objects_of(rel, &opts)
            .map_err(|e| fail(e.to_string()))?;
        let wanted: std::collections::HashSet<String> =
            desired.iter().map(|o| ObjectRef::of(o).display()).collect();
        stale = old
            .into_iter()
            .filter(|o| !wanted.contains(&ObjectRef::of(o).display()))
            .collect();
    }
    Ok(diff::diff_objects(live, &desired, &stale).await)
}
