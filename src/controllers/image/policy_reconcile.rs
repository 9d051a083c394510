//! ImagePolicy reconcile (flux-semantics §5.1): read the referenced ImageRepository's stored tags,
//! run the policy, reflect the digest when asked, and report `latestRef`/`observedPreviousRef`.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::policy::{CompiledPolicy, PolicySpec};
use super::registry::{ImageName, RegistryClient};
use super::repository::{credentials_for, registry_options};
use super::setters::LatestRef;
use super::{EventType, ObjectMeta, RunResult, StatusWriter, TagStore, failure_requeue};

/// Requeue while the repository has no tags yet (Flux's "retrying in 30s").
const NO_TAGS_RETRY: Duration = Duration::from_secs(30);

/// `spec.digestReflectionPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestReflection {
    /// No digest (default).
    Never,
    /// Look the digest up once per chosen tag.
    IfNotPresent,
    /// Look the digest up on every run (needs `interval`).
    Always,
}

impl DigestReflection {
    /// Reads the field; unknown values are an error message.
    pub fn from_spec(spec: &Value) -> Result<DigestReflection, String> {
        match spec.get("digestReflectionPolicy").and_then(Value::as_str) {
            None | Some("") | Some("Never") => Ok(DigestReflection::Never),
            Some("IfNotPresent") => Ok(DigestReflection::IfNotPresent),
            Some("Always") => Ok(DigestReflection::Always),
            Some(other) => Err(format!(
                "spec.digestReflectionPolicy must be Never, IfNotPresent or Always, got '{other}'"
            )),
        }
    }
}

/// Reads `status.latestRef` (or any `{name, tag, digest?}` object).
pub fn latest_ref_of(value: Option<&Value>) -> Option<LatestRef> {
    let v = value?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let r = LatestRef {
        name: text("name"),
        tag: text("tag"),
        digest: text("digest"),
    };
    (!r.name.is_empty() && !r.tag.is_empty()).then_some(r)
}

/// `{name, tag, digest?}` (digest omitted when empty, as the API does).
pub fn latest_ref_value(r: &LatestRef) -> Value {
    let mut v = json!({"name": r.name, "tag": r.tag});
    if !r.digest.is_empty() {
        v["digest"] = json!(r.digest);
    }
    v
}

/// The Ready message of a resolved policy.
pub fn resolved_message(latest: &LatestRef, previous: Option<&LatestRef>) -> String {
    let mut message = format!(
        "Latest image tag for {} resolved to {}",
        latest.name, latest.tag
    );
    if !latest.digest.is_empty() {
        message.push_str(&format!(" with digest {}", latest.digest));
    }
    if let Some(prev) = previous.filter(|p| *p != latest) {
        message.push_str(&format!(" (previously {})", prev.image()));
    }
    message
}

/// Whether an ImageRepository's `accessFrom` admits a policy from a namespace with these labels.
pub fn access_allowed(repo: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    let Some(selectors) = repo
        .get("spec")
        .and_then(|s| s.get("accessFrom"))
        .and_then(|a| a.get("namespaceSelectors"))
        .and_then(Value::as_array)
    else {
        return false;
    };
    selectors.iter().any(|sel| {
        let wanted = sel.get("matchLabels").and_then(Value::as_object);
        wanted.is_none_or(|w| w.iter().all(|(k, v)| labels.get(k) == Some(v)))
    })
}

/// Reconciles one ImagePolicy. Tags come from `store`; digests from the registry of the
/// referenced ImageRepository (its `secretRef`, `insecure`, `timeout`).
pub async fn reconcile_image_policy(
    obj: &Value,
    client: &kube::Client,
    store: &TagStore,
    now: Timestamp,
) -> RunResult {
    let meta = ObjectMeta::of(obj);
    if meta.suspended() {
        return RunResult::suspended(meta.status);
    }
    let mut out = StatusWriter::new(meta.status.clone(), meta.generation, now);
    let finish = |mut out: StatusWriter,
                  kind: Outcome,
                  reason: &str,
                  message: String,
                  requeue_after: Option<Duration>| {
        match kind {
            Outcome::Stalled => out.stalled(reason, &message),
            Outcome::Retry => out.retrying(reason, &message, "reconciliation in progress"),
        }
        out.handled(meta.requested_at);
        RunResult {
            status: out.status,
            requeue_after,
            events: vec![(EventType::Warning, reason.to_string(), message)],
        }
    };
    let compiled =
        match PolicySpec::from_spec_json(meta.spec).and_then(|s| CompiledPolicy::compile(&s)) {
            Ok(c) => c,
            Err(e) => return finish(out, Outcome::Stalled, "InvalidPolicy", e.to_string(), None),
        };
    let reflection = match DigestReflection::from_spec(meta.spec) {
        Ok(r) => r,
        Err(e) => return finish(out, Outcome::Stalled, "InvalidPolicy", e, None),
    };
    let interval = match super::duration_field(meta.spec, "interval") {
        Ok(i) => i,
        Err(e) => return finish(out, Outcome::Stalled, "InvalidPolicy", e, None),
    };
    if reflection == DigestReflection::Always && interval.is_none() {
        return finish(
            out,
            Outcome::Stalled,
            "IntervalNotConfigured",
            "spec.interval must be set when spec.digestReflectionPolicy is Always".into(),
            None,
        );
    }
    let retry_every = failure_requeue(interval.unwrap_or(Duration::from_secs(60)));
    let repo_ref = meta.spec.get("imageRepositoryRef");
    let repo_name = repo_ref
        .and_then(|r| r.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let repo_ns = repo_ref
        .and_then(|r| r.get("namespace"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(meta.namespace);
    if repo_name.is_empty() {
        return finish(
            out,
            Outcome::Stalled,
            "InvalidPolicy",
            "spec.imageRepositoryRef.name is required".into(),
            None,
        );
    }
    let repo = match super::get_object(
        client,
        "image.toolkit.fluxcd.io",
        "v1",
        "ImageRepository",
        "imagerepositories",
        repo_ns,
        repo_name,
    )
    .await
    {
        Ok(Some(r)) => r,
        Ok(None) => {
            let message = format!("referenced ImageRepository '{repo_ns}/{repo_name}' not found");
            return finish(
                out,
                Outcome::Retry,
                "DependencyNotReady",
                message,
                Some(retry_every),
            );
        }
        Err(e) => {
            return finish(
                out,
                Outcome::Retry,
                "DependencyNotReady",
                e,
                Some(retry_every),
            );
        }
    };
    if repo_ns != meta.namespace {
        let labels = match super::get_object(
            client,
            "",
            "v1",
            "Namespace",
            "namespaces",
            "",
            meta.namespace,
        )
        .await
        {
            Ok(ns) => ns
                .and_then(|n| {
                    n.pointer("/metadata/labels")
                        .and_then(Value::as_object)
                        .cloned()
                })
                .unwrap_or_default(),
            Err(e) => return finish(out, Outcome::Retry, "AccessDenied", e, Some(retry_every)),
        };
        if !access_allowed(&repo, &labels) {
            let message = format!(
                "cannot access ImageRepository '{repo_ns}/{repo_name}': its spec.accessFrom does not admit namespace '{}'",
                meta.namespace
            );
            return finish(
                out,
                Outcome::Retry,
                "AccessDenied",
                message,
                Some(retry_every),
            );
        }
    }
    let tags = match store.tags(repo_ns, repo_name) {
        Ok(Some(t)) if !t.is_empty() => t,
        Ok(_) | Err(_) => {
            return finish(
                out,
                Outcome::Retry,
                "DependencyNotReady",
                "retrying in 30s error: no tags in database".into(),
                Some(NO_TAGS_RETRY),
            );
        }
    };
    let selection = match compiled.latest(&tags) {
        Ok(s) => s,
        Err(e) => {
            let kind = if e.is_stalled() {
                Outcome::Stalled
            } else {
                Outcome::Retry
            };
            let requeue = (!e.is_stalled()).then_some(retry_every);
            return finish(out, kind, e.reason(), e.to_string(), requeue);
        }
    };
    let repo_spec = repo.get("spec").unwrap_or(&Value::Null);
    let image = repo_spec
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let previous = latest_ref_of(out.get("latestRef"));
    let mut latest = LatestRef {
        name: image.clone(),
        tag: selection.tag,
        digest: String::new(),
    };
    let reuse_digest = previous
        .as_ref()
        .filter(|p| p.name == latest.name && p.tag == latest.tag && !p.digest.is_empty())
        .map(|p| p.digest.clone());
    let look_up = match reflection {
        DigestReflection::Never => false,
        DigestReflection::IfNotPresent => reuse_digest.is_none(),
        DigestReflection::Always => true,
    };
    if reflection == DigestReflection::IfNotPresent
        && let Some(d) = reuse_digest
    {
        latest.digest = d;
    }
    if look_up {
        match fetch_digest(client, repo_spec, repo_ns, &image, &latest.tag).await {
            Ok(d) => latest.digest = d,
            Err((reason, message)) => {
                let message = format!("failed to reflect digest of {}: {message}", latest.image());
                return finish(out, Outcome::Retry, reason, message, Some(retry_every));
            }
        }
    }
    let mut events = Vec::new();
    let changed = previous.as_ref() != Some(&latest);
    if changed && let Some(prev) = &previous {
        out.set("observedPreviousRef", latest_ref_value(prev));
    }
    out.set("latestRef", latest_ref_value(&latest));
    let observed_previous = latest_ref_of(out.get("observedPreviousRef"));
    let message = resolved_message(&latest, observed_previous.as_ref());
    out.ready("Succeeded", &message);
    out.handled(meta.requested_at);
    if changed {
        events.push((EventType::Normal, "Succeeded".to_string(), message));
    }
    RunResult {
        status: out.status,
        requeue_after: if reflection == DigestReflection::Always {
            interval
        } else {
            None
        },
        events,
    }
}

enum Outcome {
    Stalled,
    Retry,
}

/// HEADs the manifest of `image:tag` with the repository's access settings.
async fn fetch_digest(
    client: &kube::Client,
    repo_spec: &Value,
    repo_ns: &str,
    image: &str,
    tag: &str,
) -> Result<String, (&'static str, String)> {
    let name = ImageName::parse(image).map_err(|e| (e.reason(), e.to_string()))?;
    let interval = super::duration_field(repo_spec, "interval")
        .ok()
        .flatten()
        .unwrap_or(Duration::from_secs(60));
    let credentials = credentials_for(client, repo_spec, repo_ns, &name)
        .await
        .map_err(|e| (e.reason(), e.to_string()))?;
    let options = registry_options(repo_spec, interval, credentials)
        .map_err(|e| ("ReadOperationFailed", e))?;
    let mut registry =
        RegistryClient::new(name, options).map_err(|e| (e.reason(), e.to_string()))?;
    registry
        .manifest_digest(tag)
        .await
        .map_err(|e| (e.reason(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, tag: &str, digest: &str) -> LatestRef {
        LatestRef {
            name: name.into(),
            tag: tag.into(),
            digest: digest.into(),
        }
    }

    #[test]
    fn ready_message_variants() {
        let now = r("ghcr.io/app", "1.0.1", "");
        assert_eq!(
            resolved_message(&now, None),
            "Latest image tag for ghcr.io/app resolved to 1.0.1"
        );
        assert_eq!(
            resolved_message(&now, Some(&now)),
            "Latest image tag for ghcr.io/app resolved to 1.0.1"
        );
        let prev = r("ghcr.io/app", "1.0.0", "sha256:aa");
        let with_digest = r("ghcr.io/app", "1.0.1", "sha256:bb");
        assert_eq!(
            resolved_message(&with_digest, Some(&prev)),
            "Latest image tag for ghcr.io/app resolved to 1.0.1 with digest sha256:bb (previously ghcr.io/app:1.0.0@sha256:aa)"
        );
    }

    #[test]
    fn latest_ref_round_trip_and_tolerance() {
        let v = latest_ref_value(&r("a", "1", ""));
        assert_eq!(v, json!({"name": "a", "tag": "1"}));
        assert_eq!(latest_ref_of(Some(&v)), Some(r("a", "1", "")));
        assert_eq!(latest_ref_of(Some(&json!({"name": 1, "tag": []}))), None);
        assert_eq!(latest_ref_of(Some(&json!("x"))), None);
        assert_eq!(latest_ref_of(None), None);
    }

    #[test]
    fn access_from_selectors() {
        let labels: serde_json::Map<String, Value> =
            serde_json::from_value(json!({"team": "a", "env": "dev"})).expect("map");
        let repo = |access: Value| json!({"spec": {"accessFrom": access}});
        assert!(!access_allowed(&json!({"spec": {}}), &labels));
        assert!(access_allowed(
            &repo(json!({"namespaceSelectors": [{}]})),
            &labels
        ));
        assert!(access_allowed(
            &repo(
                json!({"namespaceSelectors": [{"matchLabels": {"team": "b"}}, {"matchLabels": {"team": "a"}}]})
            ),
            &labels
        ));
        assert!(!access_allowed(
            &repo(json!({"namespaceSelectors": [{"matchLabels": {"team": "a", "env": "prod"}}]})),
            &labels
        ));
        assert!(!access_allowed(
            &repo(json!({"namespaceSelectors": []})),
            &labels
        ));
    }

    #[test]
    fn digest_reflection_values() {
        assert_eq!(
            DigestReflection::from_spec(&json!({})),
            Ok(DigestReflection::Never)
        );
        assert_eq!(
            DigestReflection::from_spec(&json!({"digestReflectionPolicy": "Always"})),
            Ok(DigestReflection::Always)
        );
        assert!(
            DigestReflection::from_spec(&json!({"digestReflectionPolicy": "Sometimes"})).is_err()
        );
    }
}
