//! Helm's release record as Helm v3/v4 store it: the JSON shape (`pkg/release`), its encoding in a
//! Secret (`sh.helm.release.v1.<name>.v<N>`, type `helm.sh/release.v1`, `data.release` = the base64
//! text of gzip(JSON), which the API then base64s again), the statuses and the hooks found in a
//! rendered chart. Pure: no I/O. Fields this code does not know are kept when re-encoding, so a
//! record written by the real helm survives a read-modify-write by flotilla.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// The Secret type Helm's secret driver writes.
pub const SECRET_TYPE: &str = "helm.sh/release.v1";
/// The `owner` label value of every release Secret.
pub const OWNER: &str = "helm";
/// Labels the storage driver owns (everything else on the Secret is a release label).
pub const SYSTEM_LABELS: [&str; 6] = [
    "name",
    "owner",
    "status",
    "version",
    "createdAt",
    "modifiedAt",
];
/// Largest decompressed release accepted (a release Secret is at most 1 MiB compressed).
pub const MAX_DECODED: u64 = 64 << 20;

/// Errors decoding or encoding a release record.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The Secret has no `data.release`.
    #[error("release Secret {secret}: data.release is missing")]
    Missing {
        /// The Secret's name.
        secret: String,
    },
    /// A base64 layer does not decode.
    #[error("release {what}: invalid base64: {msg}")]
    Base64 {
        /// Which layer (Secret name and layer).
        what: String,
        /// The decoder's message.
        msg: String,
    },
    /// The gzip stream is corrupt or too large.
    #[error("release {what}: {msg}")]
    Gzip {
        /// The Secret or release.
        what: String,
        /// What went wrong.
        msg: String,
    },
    /// The JSON does not match Helm's release shape.
    #[error("release {what}: invalid JSON: {msg}")]
    Json {
        /// The Secret or release.
        what: String,
        /// serde's message.
        msg: String,
    },
}

/// A release's status (`pkg/release/common` Status), unknown strings kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Status {
    /// `unknown`.
    #[default]
    Unknown,
    /// `deployed`: the release in service.
    Deployed,
    /// `uninstalled`.
    Uninstalled,
    /// `superseded`: replaced by a later revision.
    Superseded,
    /// `failed`.
    Failed,
    /// `uninstalling`.
    Uninstalling,
    /// `pending-install`.
    PendingInstall,
    /// `pending-upgrade`.
    PendingUpgrade,
    /// `pending-rollback`.
    PendingRollback,
    /// Any other string.
    Other(String),
}

impl Status {
    /// The string Helm writes.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Unknown => "unknown",
            Status::Deployed => "deployed",
            Status::Uninstalled => "uninstalled",
            Status::Superseded => "superseded",
            Status::Failed => "failed",
            Status::Uninstalling => "uninstalling",
            Status::PendingInstall => "pending-install",
            Status::PendingUpgrade => "pending-upgrade",
            Status::PendingRollback => "pending-rollback",
            Status::Other(s) => s,
        }
    }

    /// Whether an operation is under way (Helm refuses another one then).
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            Status::PendingInstall | Status::PendingUpgrade | Status::PendingRollback
        )
    }
}

impl From<String> for Status {
    fn from(s: String) -> Status {
        match s.as_str() {
            "unknown" => Status::Unknown,
            "deployed" => Status::Deployed,
            "uninstalled" => Status::Uninstalled,
            "superseded" => Status::Superseded,
            "failed" => Status::Failed,
            "uninstalling" => Status::Uninstalling,
            "pending-install" => Status::PendingInstall,
            "pending-upgrade" => Status::PendingUpgrade,
            "pending-rollback" => Status::PendingRollback,
            _ => Status::Other(s),
        }
    }
}

impl From<Status> for String {
    fn from(s: Status) -> String {
        s.as_str().to_string()
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_empty_str(s: &str) -> bool {
    s.is_empty()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_i(n: &i64) -> bool {
    *n == 0
}

/// `info`: when and how the release was deployed. Times are Go RFC 3339 (nanosecond) text, `""`
/// for Go's zero time, as helm writes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Info {
    /// First deployment of this release name.
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub first_deployed: String,
    /// This revision's deployment.
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub last_deployed: String,
    /// Deletion time (`""` when not deleted; helm v4 then omits the key).
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub deleted: String,
    /// Human-readable description ("Install complete", "Upgrade \"x\" failed: …").
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub description: String,
    /// The status.
    #[serde(default)]
    pub status: Status,
    /// The rendered NOTES.txt.
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub notes: String,
    /// Fields this code does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A hook's last execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookExecution {
    /// Start time (`""` never ran).
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub started_at: String,
    /// Completion time.
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub completed_at: String,
    /// `Unknown`, `Running`, `Succeeded` or `Failed` (helm always writes the key).
    #[serde(default)]
    pub phase: String,
    /// Fields this code does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A hook: a rendered document annotated `helm.sh/hook`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    /// metadata.name.
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub name: String,
    /// kind.
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub kind: String,
    /// The template path (`chart/templates/x.yaml`).
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub path: String,
    /// The rendered document.
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub manifest: String,
    /// Events (`pre-install`, `post-upgrade`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// The last execution.
    #[serde(default)]
    pub last_run: HookExecution,
    /// `helm.sh/hook-weight`.
    #[serde(default, skip_serializing_if = "is_zero_i")]
    pub weight: i64,
    /// `helm.sh/hook-delete-policy` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete_policies: Vec<String>,
    /// Fields this code does not model (`output_log_policies`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A release revision as helm stores it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// The release name.
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub name: String,
    /// Deployment information.
    #[serde(default)]
    pub info: Info,
    /// The chart (metadata, values, templates, files, …) kept as helm wrote it.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub chart: Value,
    /// The user-supplied values.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub config: Map<String, Value>,
    /// The rendered manifests (hooks excluded), `---\n# Source: …` blocks.
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub manifest: String,
    /// The hooks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Hook>,
    /// The revision (1, 2, …).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u64,
    /// The release namespace.
    #[serde(default, skip_serializing_if = "is_empty_str")]
    pub namespace: String,
    /// Release labels: stored as the Secret's labels, not in the JSON.
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
    /// Fields this code does not model (`apply_method`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Release {
    /// `chart.metadata.<key>` as text ("" when absent).
    pub fn chart_meta(&self, key: &str) -> &str {
        self.chart
            .get("metadata")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `NAME-VERSION` of the chart, as `helm history` prints it.
    pub fn chart_label(&self) -> String {
        format!("{}-{}", self.chart_meta("name"), self.chart_meta("version"))
    }

    /// The name of the Secret holding this revision.
    pub fn secret_name(&self) -> String {
        secret_name(&self.name, self.version)
    }
}

/// `sh.helm.release.v1.<name>.v<version>`.
pub fn secret_name(name: &str, version: u64) -> String {
    format!("sh.helm.release.v1.{name}.v{version}")
}

/// Encodes a release as the text the secret driver stores: base64(gzip(JSON)).
pub fn encode(release: &Release) -> Result<String, ReleaseError> {
    let json = serde_json::to_vec(release).map_err(|e| ReleaseError::Json {
        what: release.secret_name(),
        msg: e.to_string(),
    })?;
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    let gzip_err = |e: std::io::Error| ReleaseError::Gzip {
        what: release.secret_name(),
        msg: e.to_string(),
    };
    gz.write_all(&json).map_err(gzip_err)?;
    let bytes = gz.finish().map_err(gzip_err)?;
    Ok(STANDARD.encode(bytes))
}

/// Decodes the secret driver's text (base64 of gzip(JSON), or of plain JSON as old helm wrote).
pub fn decode(text: &[u8], what: &str) -> Result<Release, ReleaseError> {
    let raw = STANDARD
        .decode(text.trim_ascii())
        .map_err(|e| ReleaseError::Base64 {
            what: what.to_string(),
            msg: e.to_string(),
        })?;
    let json = if raw.starts_with(&[0x1f, 0x8b, 0x08]) {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .take(MAX_DECODED + 1)
            .read_to_end(&mut out)
            .map_err(|e| ReleaseError::Gzip {
                what: what.to_string(),
                msg: format!("invalid gzip: {e}"),
            })?;
        if out.len() as u64 > MAX_DECODED {
            return Err(ReleaseError::Gzip {
                what: what.to_string(),
                msg: format!("decompressed release larger than {MAX_DECODED} bytes"),
            });
        }
        out
    } else {
        raw
    };
    serde_json::from_slice(&json).map_err(|e| ReleaseError::Json {
        what: what.to_string(),
        msg: e.to_string(),
    })
}

/// The Secret (as API JSON) that stores `release` in `storage_namespace`.
pub fn to_secret(release: &Release, storage_namespace: &str) -> Result<Value, ReleaseError> {
    let text = encode(release)?;
    let mut labels = Map::new();
    for (k, v) in &release.labels {
        if !SYSTEM_LABELS.contains(&k.as_str()) {
            labels.insert(k.clone(), Value::String(v.clone()));
        }
    }
    labels.insert("name".into(), Value::String(release.name.clone()));
    labels.insert("owner".into(), Value::String(OWNER.into()));
    labels.insert(
        "status".into(),
        Value::String(release.info.status.as_str().into()),
    );
    labels.insert("version".into(), Value::String(release.version.to_string()));
    // Helm v4 stamps every write with the Unix time.
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    labels.insert("modifiedAt".into(), Value::String(unix.to_string()));
    Ok(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": release.secret_name(),
            "namespace": storage_namespace,
            "labels": labels,
        },
        "type": SECRET_TYPE,
        "data": {"release": STANDARD.encode(text.as_bytes())},
    }))
}

/// Reads a release from its Secret (API JSON): decodes `data.release` and takes the release
/// labels from the Secret's labels.
pub fn from_secret(secret: &Value) -> Result<Release, ReleaseError> {
    let name = secret
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
        .to_string();
    let data = secret
        .pointer("/data/release")
        .and_then(Value::as_str)
        .ok_or_else(|| ReleaseError::Missing {
            secret: name.clone(),
        })?;
    let inner = STANDARD
        .decode(data.trim())
        .map_err(|e| ReleaseError::Base64 {
            what: format!("Secret {name} data.release"),
            msg: e.to_string(),
        })?;
    let mut release = decode(&inner, &format!("Secret {name}"))?;
    if let Some(labels) = secret
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
    {
        for (k, v) in labels {
            if let Some(v) = v.as_str()
                && !SYSTEM_LABELS.contains(&k.as_str())
            {
                release.labels.insert(k.clone(), v.to_string());
            }
        }
    }
    Ok(release)
}

/// Hook events helm knows (others drop the document, as `helm template` does).
pub const HOOK_EVENTS: [&str; 9] = [
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
];

/// A rendered chart split the way helm stores it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    /// The release manifest: `---\n# Source: <path>\n<document>\n` for each non-hook document.
    pub manifest: String,
    /// The non-hook documents as objects, in install order.
    pub objects: Vec<Value>,
    /// The hooks (last_run empty).
    pub hooks: Vec<Hook>,
}

/// Splits text in `helm template`'s output shape (`---\n# Source: path\n…` blocks) into `(path,
/// document)` pairs.
pub fn source_blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for block in text.split("---\n# Source: ") {
        let Some((path, doc)) = block.split_once('\n') else {
            continue;
        };
        let doc = doc.strip_suffix('\n').unwrap_or(doc);
        out.push((path.to_string(), doc.to_string()));
    }
    out
}

/// The objects of a release manifest (empty and comment-only documents skipped).
pub fn manifest_objects(manifest: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (path, doc) in source_blocks(manifest) {
        let v = super::yaml::parse_yaml_json(&doc).map_err(|e| format!("{path}: {e}"))?;
        if v.is_object() {
            out.push(v);
        }
    }
    Ok(out)
}

/// Splits `helm template` output (with hooks) into the release manifest, its objects and hooks.
pub fn split_rendered(text: &str) -> Result<Rendered, String> {
    let mut r = Rendered::default();
    let mut docs: Vec<(String, String)> = Vec::new();
    for (path, doc) in source_blocks(text) {
        let v = super::yaml::parse_yaml_json(&doc).map_err(|e| format!("{path}: {e}"))?;
        let annotation = |k: &str| {
            v.pointer("/metadata/annotations")
                .and_then(|a| a.get(k))
                .and_then(Value::as_str)
        };
        match annotation("helm.sh/hook") {
            Some(events) => {
                let events: Vec<String> = events
                    .split(',')
                    .map(str::trim)
                    .filter(|e| HOOK_EVENTS.contains(e))
                    .map(str::to_string)
                    .collect();
                if events.is_empty() {
                    continue;
                }
                let weight = annotation("helm.sh/hook-weight")
                    .and_then(|w| w.trim().parse().ok())
                    .unwrap_or(0);
                let delete_policies = annotation("helm.sh/hook-delete-policy")
                    .map(|p| {
                        p.split(',')
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                let text_of = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("");
                r.hooks.push(Hook {
                    name: text_of("/metadata/name").to_string(),
                    kind: text_of("/kind").to_string(),
                    path,
                    manifest: doc,
                    events,
                    weight,
                    delete_policies,
                    ..Hook::default()
                });
            }
            None => {
                docs.push((path, doc));
                if v.is_object() {
                    r.objects.push(v);
                }
            }
        }
    }
    // `helm template` trims the end of the last manifest; the release keeps the template's
    // final newline, which nearly every template has.
    if let Some((_, last)) = docs.last_mut()
        && !last.ends_with('\n')
    {
        last.push('\n');
    }
    for (path, doc) in docs {
        r.manifest
            .push_str(&format!("---\n# Source: {path}\n{doc}\n"));
    }
    Ok(r)
}

/// The hooks for `event` in helm's execution order: by weight, then name.
pub fn hooks_for<'a>(hooks: &'a [Hook], event: &str) -> Vec<&'a Hook> {
    let mut out: Vec<&Hook> = hooks
        .iter()
        .filter(|h| h.events.iter().any(|e| e == event))
        .collect();
    out.sort_by(|a, b| a.weight.cmp(&b.weight).then_with(|| a.name.cmp(&b.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_their_strings() {
        for s in [
            "unknown",
            "deployed",
            "uninstalled",
            "superseded",
            "failed",
            "uninstalling",
            "pending-install",
            "pending-upgrade",
            "pending-rollback",
            "mystery",
        ] {
            assert_eq!(Status::from(s.to_string()).as_str(), s);
        }
        assert!(Status::PendingUpgrade.is_pending());
        assert!(!Status::Deployed.is_pending());
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let json = serde_json::json!({
            "name": "web",
            "info": {"first_deployed": "2026-12-07T21:00:00.123456789Z",
                     "status": "deployed", "resources": {"v1/ConfigMap": []}},
            "chart": {"metadata": {"name": "tiny", "version": "0.1.0"}, "lock": null},
            "config": {"a": 1},
            "hooks": [{"name": "h", "last_run": {"phase": "", "x": 1}, "output_log_policies": ["a"]}],
            "version": 2,
            "namespace": "apps",
            "apply_method": "ssa"
        });
        let r: Release = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(r.info.status, Status::Deployed);
        assert_eq!(r.chart_label(), "tiny-0.1.0");
        assert_eq!(serde_json::to_value(&r).unwrap(), json);
        let text = encode(&r).unwrap();
        let back = decode(text.as_bytes(), "test").unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn secrets_carry_helms_labels_and_double_base64() {
        let mut r = Release {
            name: "web".into(),
            namespace: "apps".into(),
            version: 3,
            ..Release::default()
        };
        r.info.status = Status::Superseded;
        r.labels.insert("team".into(), "a".into());
        r.labels.insert("status".into(), "ignored".into());
        let mut s = to_secret(&r, "apps").unwrap();
        let stamp = s["metadata"]["labels"]
            .as_object_mut()
            .and_then(|l| l.remove("modifiedAt"));
        assert!(stamp.is_some_and(|t| t.as_str().is_some_and(|t| t.parse::<u64>().is_ok())));
        assert_eq!(s["metadata"]["name"], "sh.helm.release.v1.web.v3");
        assert_eq!(s["type"], SECRET_TYPE);
        assert_eq!(
            s["metadata"]["labels"],
            serde_json::json!({"name": "web", "owner": "helm", "status": "superseded",
                               "version": "3", "team": "a"})
        );
        let inner = STANDARD
            .decode(s["data"]["release"].as_str().unwrap())
            .unwrap();
        // The stored value is itself base64 text (of gzip).
        let gz = STANDARD.decode(&inner).unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let back = from_secret(&s).unwrap();
        assert_eq!(back.labels.get("team").map(String::as_str), Some("a"));
        assert_eq!(back.labels.len(), 1);
        assert_eq!(back.version, 3);
    }

    #[test]
    fn bad_records_are_errors_naming_the_secret() {
        let s = serde_json::json!({"metadata": {"name": "sh.helm.release.v1.x.v1"}, "data": {}});
        assert!(
            from_secret(&s)
                .unwrap_err()
                .to_string()
                .contains("sh.helm.release.v1.x.v1")
        );
        let s = serde_json::json!({"metadata": {"name": "x"}, "data": {"release": "!!"}});
        assert!(matches!(from_secret(&s), Err(ReleaseError::Base64 { .. })));
        let not_json = STANDARD.encode(STANDARD.encode(b"{nope"));
        let s = serde_json::json!({"metadata": {"name": "x"}, "data": {"release": not_json}});
        assert!(matches!(from_secret(&s), Err(ReleaseError::Json { .. })));
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(b"{\"name\":").unwrap();
        let mut bytes = gz.finish().unwrap();
        bytes.truncate(bytes.len() - 4);
        assert!(decode(STANDARD.encode(bytes).as_bytes(), "x").is_err());
    }

    #[test]
    fn rendered_output_splits_into_manifest_and_ordered_hooks() {
        let text = "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n\
---\n# Source: c/templates/h.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: late\n  annotations:\n    helm.sh/hook: post-install,bogus\n    helm.sh/hook-weight: \"5\"\n    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded\n\n\
---\n# Source: c/templates/h2.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: early\n  annotations:\n    helm.sh/hook: post-install\n    helm.sh/hook-weight: \"-1\"\n\n\
---\n# Source: c/templates/h3.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: dropped\n  annotations:\n    helm.sh/hook: bogus\n";
        let r = split_rendered(text).unwrap();
        assert_eq!(
            r.manifest,
            "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n\n"
        );
        assert_eq!(r.objects.len(), 1);
        assert_eq!(r.hooks.len(), 2);
        assert_eq!(r.hooks[0].events, vec!["post-install".to_string()]);
        assert_eq!(r.hooks[0].weight, 5);
        assert_eq!(r.hooks[0].delete_policies.len(), 2);
        let order: Vec<&str> = hooks_for(&r.hooks, "post-install")
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(order, ["early", "late"]);
        assert!(hooks_for(&r.hooks, "pre-delete").is_empty());
        assert_eq!(manifest_objects(&r.manifest).unwrap(), r.objects);
    }

    /// Release Secrets written by the real helm v4.3.1 (`helm install demo tiny --set
    /// greeting=hi`, then `helm upgrade demo tiny --set extra=yes`) against a kube-apiserver, for
    /// this project's chart `tests/fixtures/helm-release/tiny`.
    const HELM_SECRETS: &str =
        include_str!("../../tests/fixtures/helm-release/helm-v4-secrets.json");

    fn helm_secret(version: u64) -> Value {
        let list: Value = serde_json::from_str(HELM_SECRETS).unwrap();
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["metadata"]["name"] == format!("sh.helm.release.v1.demo.v{version}"))
            .cloned()
            .unwrap()
    }

    /// The JSON inside a release Secret, undecoded into our types.
    fn raw_json(secret: &Value) -> Value {
        let inner = STANDARD
            .decode(secret["data"]["release"].as_str().unwrap())
            .unwrap();
        let gz = STANDARD.decode(inner).unwrap();
        let mut json = Vec::new();
        GzDecoder::new(gz.as_slice())
            .read_to_end(&mut json)
            .unwrap();
        serde_json::from_slice(&json).unwrap()
    }

    #[test]
    fn releases_written_by_helm_decode_and_round_trip() {
        let s1 = helm_secret(1);
        assert_eq!(s1["type"], SECRET_TYPE);
        let r1 = from_secret(&s1).unwrap();
        assert_eq!(r1.name, "demo");
        assert_eq!(r1.namespace, "default");
        assert_eq!(r1.version, 1);
        assert_eq!(r1.info.status, Status::Superseded);
        assert_eq!(r1.info.description, "Install complete");
        assert_eq!(r1.chart_label(), "tiny-0.1.0");
        assert_eq!(r1.chart_meta("appVersion"), "1.0.0");
        assert_eq!(
            r1.config,
            serde_json::json!({"greeting": "hi"})
                .as_object()
                .cloned()
                .unwrap()
        );
        assert!(
            r1.manifest
                .contains("# Source: tiny/templates/configmap.yaml")
        );
        assert_eq!(r1.hooks.len(), 1);
        assert_eq!(r1.hooks[0].events, ["post-install", "post-upgrade"]);
        assert_eq!(r1.hooks[0].weight, 5);
        assert_eq!(r1.hooks[0].delete_policies, ["before-hook-creation"]);
        assert!(r1.labels.is_empty());
        let r2 = from_secret(&helm_secret(2)).unwrap();
        assert_eq!(r2.info.status, Status::Deployed);
        assert_eq!(r2.info.description, "Upgrade complete");
        assert_eq!(r2.info.first_deployed, r1.info.first_deployed);
        // Re-encoding keeps every field helm wrote, in helm's shapes.
        for (secret, rel) in [(&s1, &r1), (&helm_secret(2), &r2)] {
            assert_eq!(serde_json::to_value(rel).unwrap(), raw_json(secret));
            let again = to_secret(rel, "default").unwrap();
            assert_eq!(raw_json(&again), raw_json(secret));
            let mut labels = secret["metadata"]["labels"].clone();
            let mut ours = again["metadata"]["labels"].clone();
            for l in [&mut labels, &mut ours] {
                l.as_object_mut().and_then(|m| m.remove("modifiedAt"));
            }
            assert_eq!(ours, labels);
        }
    }

    #[test]
    fn our_render_stores_the_manifest_and_hooks_helm_stores() {
        let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/helm-release/tiny");
        let opts = crate::helm::TemplateOptions {
            release_name: "demo".into(),
            namespace: "default".into(),
            set: vec!["greeting=hi".into()],
            ..Default::default()
        };
        let text = crate::helm::template(&chart, &opts).unwrap();
        let ours = split_rendered(&text).unwrap();
        let helm = from_secret(&helm_secret(1)).unwrap();
        assert_eq!(ours.manifest, helm.manifest);
        assert_eq!(ours.hooks.len(), helm.hooks.len());
        for (a, b) in ours.hooks.iter().zip(&helm.hooks) {
            assert_eq!(
                (&a.name, &a.kind, &a.path, &a.manifest),
                (&b.name, &b.kind, &b.path, &b.manifest)
            );
            assert_eq!(
                (&a.events, a.weight, &a.delete_policies),
                (&b.events, b.weight, &b.delete_policies)
            );
        }
    }
}
