//! ImagePolicy reconcile (flux-semantics §5.1): read the referenced ImageRepository's stored tags,
//! run the policy, reflect the digest when asked, and report `latestRef`/`observedPreviousRef`.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::policy::{CompiledPolicy, PolicySpec};
use super::registry::{ImageName, RegistryClient};
use super::repository::{credentials_for, registry_options};
use super::setters::LatestRef;
use super::{ObjectMeta, RunResult, TagStore, failure_requeue};
use crate::runtime::{Failure, Next, Run, Success};

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

/// The parsed spec of an ImagePolicy.
pub struct PolicyRunSpec {
    compiled: CompiledPolicy,
    reflection: DigestReflection,
    interval: Option<Duration>,
    repo_name: String,
    repo_namespace: Option<String>,
}

/// Reads the spec; an invalid policy, reflection, interval or repository reference stalls.
pub fn parse_policy(obj: &Value) -> Result<PolicyRunSpec, Failure> {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let invalid = |e: String| Failure::terminal("InvalidPolicy", e);
    let compiled = PolicySpec::from_spec_json(spec)
        .and_then(|s| CompiledPolicy::compile(&s))
        .map_err(|e| invalid(e.to_string()))?;
    let reflection = DigestReflection::from_spec(spec).map_err(invalid)?;
    let interval = super::duration_field(spec, "interval").map_err(invalid)?;
    if reflection == DigestReflection::Always && interval.is_none() {
        return Err(Failure::terminal(
            "IntervalNotConfigured",
            "spec.interval must be set when spec.digestReflectionPolicy is Always",
        ));
    }
    let repo_ref = spec.get("imageRepositoryRef");
    let text = |k: &str| {
        repo_ref
            .and_then(|r| r.get(k))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
    };
    let Some(repo_name) = text("name") else {
        return Err(invalid("spec.imageRepositoryRef.name is required".into()));
    };
    Ok(PolicyRunSpec {
        compiled,
        reflection,
        interval,
        repo_name,
        repo_namespace: text("namespace"),
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
    let mut run = Run::detached(obj, now);
    let result = match parse_policy(obj) {
        Ok(spec) => decide(&mut run, spec, client, store).await,
        Err(f) => Err(f),
    };
    RunResult::concluded(run, result)
}

/// The steps: the repository (and its `accessFrom`) → its stored tags → the policy → the digest
/// when asked → `latestRef`/`observedPreviousRef`.
pub(crate) async fn decide(
    run: &mut Run,
    spec: PolicyRunSpec,
    client: &kube::Client,
    store: &TagStore,
) -> Result<Success, Failure> {
    run.retry_progress("reconciliation in progress");
    let namespace = ObjectMeta::of(run.object()).namespace.to_string();
    let retry_every = failure_requeue(spec.interval.unwrap_or(Duration::from_secs(60)));
    let retry = |reason: &str, message: String| {
        Failure::transient(reason, message).retry_after(retry_every)
    };
    let repo_ns = spec
        .repo_namespace
        .clone()
        .unwrap_or_else(|| namespace.clone());
    let repo_name = spec.repo_name.as_str();
    let repo = referenced_repository(client, &namespace, &repo_ns, repo_name)
        .await
        .map_err(|(reason, message)| retry(reason, message))?;
    let tags = match store.tags(&repo_ns, repo_name) {
        Ok(Some(t)) if !t.is_empty() => t,
        Ok(_) | Err(_) => {
            let message = "retrying in 30s error: no tags in database";
            return Err(
                Failure::transient("DependencyNotReady", message).retry_after(NO_TAGS_RETRY)
            );
        }
    };
    let selection = spec.compiled.latest(&tags).map_err(|e| {
        if e.is_stalled() {
            Failure::terminal(e.reason(), e.to_string())
        } else {
            retry(e.reason(), e.to_string())
        }
    })?;
    let repo_spec = repo.get("spec").unwrap_or(&Value::Null);
    let image = repo_spec
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let previous = latest_ref_of(run.status().get("latestRef"));
    let mut latest = LatestRef {
        name: image.clone(),
        tag: selection.tag,
        digest: String::new(),
    };
    let reuse_digest = previous
        .as_ref()
        .filter(|p| p.name == latest.name && p.tag == latest.tag && !p.digest.is_empty())
        .map(|p| p.digest.clone());
    let look_up = match spec.reflection {
        DigestReflection::Never => false,
        DigestReflection::IfNotPresent => reuse_digest.is_none(),
        DigestReflection::Always => true,
    };
    if spec.reflection == DigestReflection::IfNotPresent
        && let Some(d) = reuse_digest
    {
        latest.digest = d;
    }
    if look_up {
        match fetch_digest(client, repo_spec, &repo_ns, &image, &latest.tag).await {
            Ok(d) => latest.digest = d,
            Err((reason, message)) => {
                let message = format!("failed to reflect digest of {}: {message}", latest.image());
                return Err(retry(reason, message));
            }
        }
    }
    let changed = previous.as_ref() != Some(&latest);
    if changed && let Some(prev) = &previous {
        run.set("observedPreviousRef", latest_ref_value(prev));
    }
    run.set("latestRef", latest_ref_value(&latest));
    let observed_previous = latest_ref_of(run.status().get("observedPreviousRef"));
    let message = resolved_message(&latest, observed_previous.as_ref());
    let success = Success::ready("Succeeded", message.clone(), Duration::ZERO);
    let success = match spec.interval {
        Some(i) if spec.reflection == DigestReflection::Always => Success {
            next: Next::After(i),
            ..success
        },
        _ => success.wait(),
    };
    Ok(if changed {
        success.event("Succeeded", message)
    } else {
        success
    })
}

/// The referenced ImageRepository, if it exists and its `accessFrom` admits `namespace`;
/// otherwise the retried failure's (reason, message).
async fn referenced_repository(
    client: &kube::Client,
    namespace: &str,
    repo_ns: &str,
    repo_name: &str,
) -> Result<Value, (&'static str, String)> {
    let repo = super::get_object(
        client,
        "image.toolkit.fluxcd.io",
        "v1",
        "ImageRepository",
        "imagerepositories",
        repo_ns,
        repo_name,
    )
    .await
    .map_err(|e| ("DependencyNotReady", e))?
    .ok_or_else(|| {
        let message = format!("referenced ImageRepository '{repo_ns}/{repo_name}' not found");
        ("DependencyNotReady", message)
    })?;
    if repo_ns != namespace {
        let ns = super::get_object(client, "", "v1", "Namespace", "namespaces", "", namespace)
            .await
            .map_err(|e| ("AccessDenied", e))?;
        let labels = ns
            .and_then(|n| {
                n.pointer("/metadata/labels")
                    .and_then(Value::as_object)
                    .cloned()
            })
            .unwrap_or_default();
        if !access_allowed(&repo, &labels) {
            let message = format!(
                "cannot access ImageRepository '{repo_ns}/{repo_name}': its spec.accessFrom does not admit namespace '{namespace}'"
            );
            return Err(("AccessDenied", message));
        }
    }
    Ok(repo)
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
