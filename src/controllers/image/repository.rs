//! ImageRepository reconcile (flux-semantics §4): decide whether to scan, list the tags, drop
//! excluded ones, store the descending list in the [`TagStore`], and report `lastScanResult`.

use std::time::Duration;

use jiff::Timestamp;
use regex::Regex;
use serde_json::{Value, json};

use super::registry::{
    Credentials, ImageName, RegistryClient, RegistryError, RegistryOptions,
    credentials_from_secret_data,
};
use super::{ObjectMeta, RunResult, TagStore, failure_requeue};
use crate::model::conditions::format_time;
use crate::runtime::{Failure, Run, Success};

/// Flux's default `exclusionList`: signature tags.
pub const DEFAULT_EXCLUSION: &str = "^.*\\.sig$";
/// Most entries `exclusionList` may have.
pub const MAX_EXCLUSIONS: usize = 25;
/// Tags reported in `lastScanResult.latestTags`.
const LATEST_TAGS: usize = 10;

/// Why a scan runs now (the `Reconciling` message is `scanning: <reason>`), or when it is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanDecision {
    /// Scan now, for this reason.
    Scan(&'static str),
    /// Not due; run again after this long.
    Wait(Duration),
}

/// The §4 scan rule, in Flux's order.
pub fn scan_decision(
    status: &Value,
    requested_at: Option<&str>,
    canonical: &str,
    exclusions: &[String],
    stored_tags: Option<usize>,
    interval: Duration,
    now: Timestamp,
) -> ScanDecision {
    let scan_time = status
        .get("lastScanResult")
        .and_then(|r| r.get("scanTime"))
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok());
    let Some(scan_time) = scan_time else {
        return ScanDecision::Scan("first scan");
    };
    let handled = status.get("lastHandledReconcileAt").and_then(Value::as_str);
    if requested_at.is_some() && requested_at != handled {
        return ScanDecision::Scan("reconcile requested");
    }
    if status.get("canonicalImageName").and_then(Value::as_str) != Some(canonical) {
        return ScanDecision::Scan("new image name");
    }
    let observed: Vec<&str> = status
        .get("observedExclusionList")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if observed != exclusions.iter().map(String::as_str).collect::<Vec<_>>() {
        return ScanDecision::Scan("updated exclusion list");
    }
    if stored_tags.unwrap_or(0) == 0 {
        return ScanDecision::Scan("no tags in database");
    }
    let elapsed = now.duration_since(scan_time);
    let elapsed = Duration::try_from(elapsed).unwrap_or(Duration::ZERO);
    let remaining = interval.saturating_sub(elapsed);
    if remaining < Duration::from_secs(1) {
        ScanDecision::Scan("triggered by interval")
    } else {
        ScanDecision::Wait(remaining)
    }
}

/// Drops tags matching any exclusion and sorts the rest descending by bytes.
pub fn filter_and_sort(mut tags: Vec<String>, exclusions: &[Regex]) -> Vec<String> {
    tags.retain(|t| !exclusions.iter().any(|re| re.is_match(t)));
    tags.sort_by(|a, b| b.as_bytes().cmp(a.as_bytes()));
    tags
}

/// `spec.exclusionList` (default `^.*\.sig$`), or an error for more than 25 entries / non-strings.
pub fn exclusion_list(spec: &Value) -> Result<Vec<String>, String> {
    match spec.get("exclusionList") {
        None | Some(Value::Null) => Ok(vec![DEFAULT_EXCLUSION.to_string()]),
        Some(Value::Array(items)) => {
            if items.len() > MAX_EXCLUSIONS {
                return Err(format!(
                    "spec.exclusionList has {} entries, at most {MAX_EXCLUSIONS} are allowed",
                    items.len()
                ));
            }
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("spec.exclusionList entries must be strings: {v}"))
                })
                .collect()
        }
        Some(other) => Err(format!("spec.exclusionList must be a list, got {other}")),
    }
}

fn compile_exclusions(list: &[String]) -> Result<Vec<Regex>, String> {
    list.iter()
        .map(|p| {
            regex::RegexBuilder::new(p)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("failed to compile exclusion regex '{p}': {e}"))
        })
        .collect()
}

/// Registry access settings from an ImageRepository spec (credentials looked up by the caller).
pub(crate) fn registry_options(
    spec: &Value,
    interval: Duration,
    credentials: Option<Credentials>,
) -> Result<RegistryOptions, String> {
    let timeout = super::duration_field(spec, "timeout")?
        .unwrap_or(interval)
        .max(Duration::from_secs(1));
    Ok(RegistryOptions {
        insecure: spec.get("insecure").and_then(Value::as_bool) == Some(true),
        credentials,
        timeout,
    })
}

/// Credentials from `spec.secretRef` (a `kubernetes.io/dockerconfigjson` Secret in `namespace`).
pub(crate) async fn credentials_for(
    client: &kube::Client,
    spec: &Value,
    namespace: &str,
    image: &ImageName,
) -> Result<Option<Credentials>, RegistryError> {
    let Some(secret) = spec
        .get("secretRef")
        .and_then(|r| r.get("name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return Ok(None);
    };
    let data = crate::runtime::status_io::read_secret_data(client, namespace, secret)
        .await
        .map_err(|e| RegistryError::Authentication {
            registry: image.registry.clone(),
            message: e,
        })?;
    credentials_from_secret_data(&data, &image.registry)
}

/// The parsed spec of an ImageRepository.
pub struct RepositorySpec {
    interval: Duration,
    image: ImageName,
    exclusions: Vec<String>,
}

/// Reads the spec; an invalid interval, image or exclusion list stalls the object.
pub fn parse_repository(obj: &Value) -> Result<RepositorySpec, Failure> {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let interval = match super::duration_field(spec, "interval") {
        Ok(Some(i)) => i,
        Ok(None) => {
            return Err(Failure::terminal(
                "InvalidInterval",
                "spec.interval is required",
            ));
        }
        Err(e) => return Err(Failure::terminal("InvalidInterval", e)),
    };
    let image_text = spec.get("image").and_then(Value::as_str).unwrap_or("");
    let image = ImageName::parse(image_text)
        .map_err(|e| Failure::terminal("ImageURLInvalid", e.to_string()))?;
    let exclusions =
        exclusion_list(spec).map_err(|e| Failure::terminal("ReadOperationFailed", e))?;
    Ok(RepositorySpec {
        interval,
        image,
        exclusions,
    })
}

/// Reconciles one ImageRepository (see the module docs). `store` holds the scanned tags.
pub async fn reconcile_image_repository(
    obj: &Value,
    client: &kube::Client,
    store: &TagStore,
    now: Timestamp,
) -> RunResult {
    let mut run = Run::detached(obj, now);
    let result = match parse_repository(obj) {
        Ok(spec) => scan(&mut run, spec, client, store).await,
        Err(f) => Err(f),
    };
    RunResult::concluded(run, result)
}

/// The steps: decide → credentials → list tags → filter → store → `lastScanResult`.
pub(crate) async fn scan(
    run: &mut Run,
    spec: RepositorySpec,
    client: &kube::Client,
    store: &TagStore,
) -> Result<Success, Failure> {
    let obj = run.object().clone();
    let meta = ObjectMeta::of(&obj);
    let RepositorySpec {
        interval,
        image,
        exclusions,
    } = spec;
    let canonical = image.canonical();
    let stored = store
        .tags(meta.namespace, meta.name)
        .ok()
        .flatten()
        .map(|t| t.len());
    let decision = scan_decision(
        run.status(),
        run.requested_at(),
        &canonical,
        &exclusions,
        stored,
        interval,
        run.now(),
    );
    let reason = match decision {
        ScanDecision::Wait(remaining) => {
            return Ok(Success::ready(
                "Succeeded",
                success_message(run.status()),
                remaining,
            ));
        }
        ScanDecision::Scan(reason) => reason,
    };
    run.retry_progress(&format!("scanning: {reason}"));
    let fail = |err: &RegistryError| {
        Failure::transient(err.reason(), format!("scan failed: {err}"))
            .retry_after(err.retry_after().unwrap_or(failure_requeue(interval)))
    };
    let compiled = compile_exclusions(&exclusions).map_err(|e| fail(&RegistryError::Request(e)))?;
    let credentials = credentials_for(client, meta.spec, meta.namespace, &image)
        .await
        .map_err(|e| fail(&e))?;
    let options = registry_options(meta.spec, interval, credentials)
        .map_err(|e| Failure::terminal("InvalidInterval", e))?;
    let tags = match RegistryClient::new(image, options) {
        Ok(mut registry) => registry.list_tags().await,
        Err(e) => Err(e),
    };
    let tags = filter_and_sort(tags.map_err(|e| fail(&e))?, &compiled);
    let revision = store
        .set_tags(meta.namespace, meta.name, &tags)
        .map_err(|e| {
            Failure::transient("StorageOperationFailed", format!("scan failed: {e}"))
                .retry_after(failure_requeue(interval))
        })?;
    let mut result = json!({
        "revision": revision,
        "tagCount": tags.len(),
        "scanTime": format_time(run.now()),
    });
    if !tags.is_empty() {
        result["latestTags"] = json!(tags.iter().take(LATEST_TAGS).collect::<Vec<_>>());
    }
    run.set("lastScanResult", result);
    run.set("canonicalImageName", json!(canonical));
    run.set("observedExclusionList", json!(exclusions));
    let message = success_message(run.status());
    Ok(Success::ready("Succeeded", message.clone(), interval).event("Succeeded", message))
}

/// `successful scan: found <n> tags with checksum <rev>` from `lastScanResult`.
fn success_message(status: &Value) -> String {
    let result = status.get("lastScanResult");
    let count = result
        .and_then(|r| r.get("tagCount"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let revision = result
        .and_then(|r| r.get("revision"))
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("successful scan: found {count} tags with checksum {revision}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn scan_reasons_in_flux_order() {
        let default = vec![DEFAULT_EXCLUSION.to_string()];
        let now = at("2026-08-01T10:05:00Z");
        let minute = Duration::from_secs(60);
        let decide = |status: &Value, req: Option<&str>, name: &str, stored: Option<usize>| {
            scan_decision(status, req, name, &default, stored, minute, now)
        };
        assert_eq!(
            decide(&json!({}), None, "a", Some(1)),
            ScanDecision::Scan("first scan")
        );
        let scanned = json!({
            "lastScanResult": {"scanTime": "2026-08-01T10:04:30Z", "tagCount": 3},
            "canonicalImageName": "a",
            "observedExclusionList": [DEFAULT_EXCLUSION],
            "lastHandledReconcileAt": "t1",
        });
        assert_eq!(
            decide(&scanned, Some("t2"), "a", Some(3)),
            ScanDecision::Scan("reconcile requested")
        );
        assert_eq!(
            decide(&scanned, Some("t1"), "b", Some(3)),
            ScanDecision::Scan("new image name")
        );
        assert_eq!(
            scan_decision(&scanned, None, "a", &[], Some(3), minute, now),
            ScanDecision::Scan("updated exclusion list")
        );
        assert_eq!(
            decide(&scanned, None, "a", None),
            ScanDecision::Scan("no tags in database")
        );
        assert_eq!(
            decide(&scanned, None, "a", Some(3)),
            ScanDecision::Wait(Duration::from_secs(30))
        );
        let later = at("2026-08-01T10:05:29.5Z");
        assert_eq!(
            scan_decision(&scanned, None, "a", &default, Some(3), minute, later),
            ScanDecision::Scan("triggered by interval")
        );
    }

    #[test]
    fn exclusions_filter_and_sort_descending() {
        let re = compile_exclusions(&[DEFAULT_EXCLUSION.to_string()]).expect("valid");
        let tags = ["1.0.0", "sha256-abc.sig", "1.0.10", "1.0.9", "latest"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            filter_and_sort(tags, &re),
            ["latest", "1.0.9", "1.0.10", "1.0.0"]
        );
        assert!(compile_exclusions(&["(".to_string()]).is_err());
    }

    #[test]
    fn exclusion_list_defaults_and_limits() {
        assert_eq!(
            exclusion_list(&json!({})).expect("default"),
            [DEFAULT_EXCLUSION]
        );
        assert_eq!(
            exclusion_list(&json!({"exclusionList": []})).expect("empty"),
            Vec::<String>::new()
        );
        let many: Vec<String> = (0..26).map(|i| format!("^{i}$")).collect();
        assert!(exclusion_list(&json!({ "exclusionList": many })).is_err());
        assert!(exclusion_list(&json!({"exclusionList": [1]})).is_err());
        assert!(exclusion_list(&json!({"exclusionList": "x"})).is_err());
    }
}
