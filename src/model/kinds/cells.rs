//! The per-kind readers behind the registry's fn pointers: table cells and the REVISION cell, read
//! tolerantly from an object (a missing or malformed field gives an empty cell).

use crate::model::conditions::field::{at, i64_at, str_at};
use crate::model::health;
use serde_json::Value;

/// One per-kind table column: its title and how to read its cell.
#[derive(Debug, Clone, Copy)]
pub struct CellColumn {
    /// Column header, e.g. `URL`.
    pub title: &'static str,
    /// Reads the cell from the object and the object's own namespace (for defaulted references).
    pub value: fn(&Value, &str) -> String,
}

const fn column(title: &'static str, value: fn(&Value, &str) -> String) -> CellColumn {
    CellColumn { title, value }
}

fn text(obj: &Value, path: &[&str]) -> String {
    str_at(obj, path).unwrap_or("").to_string()
}

/// `spec.url` as `URL`, its password masked.
pub const URL: CellColumn = column("URL", |o, _| {
    crate::model::redact::redacted(&text(o, &["spec", "url"]))
});
/// `spec.sourceRef` as `Kind/ns/name` (a GitRepository by default).
pub const SOURCE_REF: CellColumn = column("SOURCE", |o, ns| {
    reference(at(o, &["spec", "sourceRef"]), "GitRepository", ns)
});
/// Kustomization `spec.path` (`./` when unset).
pub const PATH: CellColumn = column("PATH", |o, _| {
    str_at(o, &["spec", "path"]).unwrap_or("./").to_string()
});
/// GitRepository `spec.ref` as source-controller resolves it.
pub const GIT_REF: CellColumn = column("REF", |o, _| git_ref(at(o, &["spec", "ref"])));
/// OCIRepository `spec.ref`.
pub const OCI_REF: CellColumn = column("REF", |o, _| oci_ref(at(o, &["spec", "ref"])));
/// HelmChart `spec.chart`.
pub const CHART: CellColumn = column("CHART", |o, _| text(o, &["spec", "chart"]));
/// HelmChart `spec.version` (`*` when unset).
pub const CHART_VERSION: CellColumn = column("VERSION", |o, _| {
    str_at(o, &["spec", "version"]).unwrap_or("*").to_string()
});
/// HelmChart `spec.sourceRef` as `Kind/name`.
pub const CHART_SOURCE: CellColumn = column("SOURCE", |o, _| {
    match (
        str_at(o, &["spec", "sourceRef", "kind"]),
        str_at(o, &["spec", "sourceRef", "name"]),
    ) {
        (Some(k), Some(n)) => format!("{k}/{n}"),
        (None, Some(n)) => format!("HelmRepository/{n}"),
        _ => String::new(),
    }
});
/// Bucket `spec.endpoint`.
pub const ENDPOINT: CellColumn = column("ENDPOINT", |o, _| text(o, &["spec", "endpoint"]));
/// Bucket `spec.bucketName`.
pub const BUCKET: CellColumn = column("BUCKET", |o, _| text(o, &["spec", "bucketName"]));
/// HelmRelease chart name, or `Kind/ns/name` of a `chartRef`.
pub const RELEASE_CHART: CellColumn = column("CHART", helm_release_chart);
/// HelmRelease installed chart version, else the requested one.
pub const RELEASE_VERSION: CellColumn = column("VERSION", |o, _| {
    helm_installed(o)
        .and_then(|h| str_at(h, &["chartVersion"]))
        .or_else(|| at(o, &["spec", "chart", "spec"]).and_then(|c| str_at(c, &["version"])))
        .unwrap_or("")
        .to_string()
});
/// ImageRepository `spec.image`.
pub const IMAGE: CellColumn = column("IMAGE", |o, _| text(o, &["spec", "image"]));
/// ImageRepository `status.lastScanResult.tagCount`.
pub const TAGS: CellColumn = column("TAGS", |o, _| {
    i64_at(o, &["status", "lastScanResult", "tagCount"])
        .map(|n| n.to_string())
        .unwrap_or_default()
});
/// ImagePolicy `name:tag` from `status.latestRef` (v1) or `status.latestImage` (v1beta2).
pub const LATEST_IMAGE: CellColumn = column("LATEST IMAGE", |o, _| {
    match (
        str_at(o, &["status", "latestRef", "name"]),
        str_at(o, &["status", "latestRef", "tag"]),
    ) {
        (Some(n), Some(t)) => format!("{n}:{t}"),
        _ => text(o, &["status", "latestImage"]),
    }
});
/// Argo CD `status.sync.status`.
pub const SYNC: CellColumn = column("SYNC", |o, _| {
    health::argo_sync_status(o).as_str().to_string()
});
/// Argo CD `status.health.status`.
pub const HEALTH: CellColumn = column("HEALTH", |o, _| health::argo_health(o).as_str().to_string());
/// Argo CD `spec.project`.
pub const PROJECT: CellColumn = column("PROJECT", |o, _| text(o, &["spec", "project"]));
/// Argo CD destination `server-or-name/namespace`.
pub const DESTINATION: CellColumn = column("DESTINATION", |o, _| {
    let target = str_at(o, &["spec", "destination", "server"])
        .or_else(|| str_at(o, &["spec", "destination", "name"]))
        .unwrap_or("");
    match str_at(o, &["spec", "destination", "namespace"]) {
        Some(ns) => format!("{target}/{ns}"),
        None => target.to_string(),
    }
});

/// REVISION of a kind without one.
pub fn no_revision(_: &Value) -> Option<String> {
    None
}

/// REVISION of a Flux source: `status.artifact.revision`.
pub fn artifact_revision(obj: &Value) -> Option<String> {
    owned(str_at(obj, &["status", "artifact", "revision"]))
}

/// REVISION of a Kustomization: last applied, else last attempted.
pub fn applied_revision(obj: &Value) -> Option<String> {
    owned(
        str_at(obj, &["status", "lastAppliedRevision"])
            .or_else(|| str_at(obj, &["status", "lastAttemptedRevision"])),
    )
}

/// REVISION of a HelmRelease: the installed chart version, else the applied/attempted revision.
pub fn release_revision(obj: &Value) -> Option<String> {
    owned(
        helm_installed(obj)
            .and_then(|h| str_at(h, &["chartVersion"]))
            .or_else(|| str_at(obj, &["status", "lastAppliedRevision"]))
            .or_else(|| str_at(obj, &["status", "lastAttemptedRevision"])),
    )
}

/// REVISION of an ImageRepository: the scan's revision.
pub fn scan_revision(obj: &Value) -> Option<String> {
    owned(str_at(obj, &["status", "lastScanResult", "revision"]))
}

/// REVISION of an ImagePolicy: the latest tag (v1 `latestRef`, v1beta2 `latestImage`).
pub fn latest_tag(obj: &Value) -> Option<String> {
    owned(
        str_at(obj, &["status", "latestRef", "tag"])
            .or_else(|| str_at(obj, &["status", "latestImage"]).and_then(image_tag)),
    )
}

/// REVISION of an ImageUpdateAutomation: the source revision it last saw.
pub fn observed_source_revision(obj: &Value) -> Option<String> {
    owned(str_at(obj, &["status", "observedSourceRevision"]))
}

/// REVISION of an Argo CD Application: the synced revision (the first of several), shortened.
pub fn sync_revision(obj: &Value) -> Option<String> {
    str_at(obj, &["status", "sync", "revision"])
        .or_else(|| {
            at(obj, &["status", "sync", "revisions"])
                .and_then(|r| r.get(0))
                .and_then(Value::as_str)
        })
        .map(short_revision)
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_string)
}

/// Shortens a 40/64-hex commit or digest to 7 characters, leaving tags and versions alone.
pub fn short_revision(rev: &str) -> String {
    let (prefix, hex) = match rev.rsplit_once(':') {
        Some((p, h)) => (Some(p), h),
        None => (None, rev),
    };
    if hex.len() >= 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let short = &hex[..7];
        match prefix {
            Some(p) => format!("{p}:{short}"),
            None => short.to_string(),
        }
    } else {
        rev.to_string()
    }
}

/// The tag of an image reference `name:tag` (a `:` after the last `/`), ignoring any digest.
pub fn image_tag(image: &str) -> Option<&str> {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.rsplit_once(':')
        .map(|(_, t)| t)
        .filter(|t| !t.is_empty())
}

/// `Kind/ns/name` of a reference object, defaulting kind and namespace.
pub fn reference(r: Option<&Value>, default_kind: &str, own_ns: &str) -> String {
    let Some(r) = r else {
        return String::new();
    };
    let Some(name) = str_at(r, &["name"]) else {
        return String::new();
    };
    let kind = str_at(r, &["kind"]).unwrap_or(default_kind);
    let ns = str_at(r, &["namespace"]).unwrap_or(own_ns);
    format!("{kind}/{ns}/{name}")
}

/// A GitRepository `spec.ref` as one cell (`branch main`, `tag v1`, `commit 1a2b3c4`, …).
pub fn git_ref(r: Option<&Value>) -> String {
    let Some(r) = r else {
        return "branch master".to_string();
    };
    let get = |k: &str| str_at(r, &[k]);
    // The order source-controller's clone code checks them in (commit wins, branch is the default).
    match (
        get("commit"),
        get("name"),
        get("tag"),
        get("semver"),
        get("branch"),
    ) {
        (Some(c), _, _, _, Some(b)) => format!("branch {b}@{}", short_revision(c)),
        (Some(c), ..) => format!("commit {}", short_revision(c)),
        (_, Some(n), ..) => format!("name {n}"),
        (_, _, Some(t), ..) => format!("tag {t}"),
        (_, _, _, Some(s), _) => format!("semver {s}"),
        (_, _, _, _, Some(b)) => format!("branch {b}"),
        _ => "branch master".to_string(),
    }
}

fn oci_ref(r: Option<&Value>) -> String {
    let get = |k: &str| r.and_then(|r| str_at(r, &[k]));
    match (get("digest"), get("semver"), get("tag")) {
        (Some(d), ..) => format!("digest {}", short_revision(d)),
        (_, Some(s), _) => format!("semver {s}"),
        (_, _, Some(t)) => format!("tag {t}"),
        _ => "tag latest".to_string(),
    }
}

/// The newest entry of a HelmRelease's `status.history` (what is installed).
fn helm_installed(obj: &Value) -> Option<&Value> {
    at(obj, &["status", "history"])
        .and_then(|h| h.get(0))
        .filter(|h| h.is_object())
}

fn helm_release_chart(obj: &Value, own_ns: &str) -> String {
    at(obj, &["spec", "chart", "spec"])
        .and_then(|c| str_at(c, &["chart"]))
        .map(str::to_string)
        .or_else(|| {
            at(obj, &["spec", "chartRef"])
                .map(|r| reference(Some(r), "OCIRepository", own_ns))
                .filter(|s| !s.is_empty())
        })
        .or_else(|| {
            helm_installed(obj)
                .and_then(|h| str_at(h, &["chartName"]))
                .map(str::to_string)
        })
        .unwrap_or_default()
}
