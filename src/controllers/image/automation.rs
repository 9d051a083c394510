//! ImageUpdateAutomation reconcile (flux-semantics §6): check out the GitRepository's ref with
//! gix ([`crate::controllers::source::git::fetch`]), rewrite setter markers under `update.path`
//! with the latest refs of the namespace's ImagePolicies, commit the changed files with gix
//! (a new tree over the checked-out commit in the fetch cache, so nothing partial is ever
//! committed), and push. A `file://` source is written in-process (the commit's objects go into
//! the remote's object database and the branch moves with a ref transaction that requires the
//! fetched value, [`crate::controllers::source::git_local`]), so no `git` binary is needed; other
//! URLs are pushed with the `git` CLI (gix has no push). A rejected push is retried once on a
//! fresh fetch of the branch.
//!
//! Work files live under `<data_dir>/image-automation/<namespace>/<name>/`, so each automation
//! has its own fetch cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::message_template::{MessageTemplate, TemplateError, TemplateValue};
use super::policy_reconcile::latest_ref_of;
use super::setters::{ObjectId, PolicyRefs, SetterRun, apply_setters_to_dir};
use super::{EventType, ObjectMeta, RunResult};
use crate::controllers::source::git_local;
use crate::controllers::source::git_ref::commit_of_revision;
use crate::controllers::source::{
    Checkout, GitAuth, GitCredentials, GitError, GitRef, fetch, remote_head, revision_string,
};
use crate::model::conditions::format_time;
use crate::runtime::{Failure, Run, Success};

/// Commit message when `messageTemplate` is empty.
pub const DEFAULT_MESSAGE: &str = "Update from image update automation";
/// `timeout` of a GitRepository without one.
const DEFAULT_GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a run did not succeed; each maps to a condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AutomationError {
    /// Terminal: Stalled with this reason.
    #[error("{message}")]
    Stalled {
        /// Condition reason.
        reason: &'static str,
        /// Message.
        message: String,
    },
    /// Transient: Ready=False with this reason, retried.
    #[error("{message}")]
    Retry {
        /// Condition reason.
        reason: &'static str,
        /// Message.
        message: String,
    },
}

fn stalled(reason: &'static str, message: impl Into<String>) -> AutomationError {
    AutomationError::Stalled {
        reason,
        message: message.into(),
    }
}

fn retry(reason: &'static str, message: impl Into<String>) -> AutomationError {
    AutomationError::Retry {
        reason,
        // Messages quote the source URL and git's output; neither may show a password.
        message: crate::model::redact::redacted(&message.into()),
    }
}

/// Converts a `metav1.LabelSelector` (`matchLabels`, `matchExpressions`) into selector syntax.
pub fn label_selector_string(selector: &Value) -> Result<String, String> {
    let mut parts = Vec::new();
    if selector.is_null() {
        return Ok(String::new());
    }
    let obj = selector
        .as_object()
        .ok_or_else(|| "policySelector must be an object".to_string())?;
    if let Some(labels) = obj.get("matchLabels").filter(|v| !v.is_null()) {
        let labels = labels
            .as_object()
            .ok_or_else(|| "policySelector.matchLabels must be an object".to_string())?;
        for (k, v) in labels {
            let v = v
                .as_str()
                .ok_or_else(|| format!("policySelector.matchLabels.{k} must be a string"))?;
            check_label_part(k)?;
            check_label_part(v)?;
            parts.push(format!("{k}={v}"));
        }
    }
    if let Some(exprs) = obj.get("matchExpressions").filter(|v| !v.is_null()) {
        let exprs = exprs
            .as_array()
            .ok_or_else(|| "policySelector.matchExpressions must be a list".to_string())?;
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let op = e.get("operator").and_then(Value::as_str).unwrap_or("");
            check_label_part(key)?;
            if key.is_empty() {
                return Err("policySelector.matchExpressions: key is required".to_string());
            }
            let values: Vec<&str> = match e.get("values") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .ok_or_else(|| format!("values of '{key}' must be strings"))
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(format!("values of '{key}' must be a list")),
            };
            for v in &values {
                check_label_part(v)?;
            }
            match op {
                "In" | "NotIn" => {
                    if values.is_empty() {
                        return Err(format!(
                            "policySelector: operator {op} on '{key}' needs at least one value"
                        ));
                    }
                    let word = if op == "In" { "in" } else { "notin" };
                    parts.push(format!("{key} {word} ({})", values.join(",")));
                }
                "Exists" | "DoesNotExist" => {
                    if !values.is_empty() {
                        return Err(format!(
                            "policySelector: operator {op} on '{key}' takes no values"
                        ));
                    }
                    parts.push(if op == "Exists" {
                        key.to_string()
                    } else {
                        format!("!{key}")
                    });
                }
                other => {
                    return Err(format!(
                        "policySelector: '{other}' is not a valid label selector operator"
                    ));
                }
            }
        }
    }
    Ok(parts.join(","))
}

fn check_label_part(s: &str) -> Result<(), String> {
    if s.len() > 316
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    {
        return Err(format!(
            "policySelector: '{s}' is not a valid label key or value"
        ));
    }
    Ok(())
}

/// The template data of §6.3 for one run.
pub fn template_data(
    namespace: &str,
    name: &str,
    run: &SetterRun,
    values: &Map<String, Value>,
) -> TemplateValue {
    fn text(s: &str) -> TemplateValue {
        TemplateValue::Text(s.to_string())
    }
    fn object(id: &ObjectId) -> TemplateValue {
        TemplateValue::Struct {
            fields: vec![
                ("APIVersion".into(), text(&id.api_version)),
                ("Kind".into(), text(&id.kind)),
                ("Name".into(), text(&id.name)),
                ("Namespace".into(), text(&id.namespace)),
            ],
            display: format!(
                "{{{{{} {}}} {{{} {}}}}}",
                id.api_version, id.kind, id.name, id.namespace
            ),
        }
    }
    // Go sorts struct map keys field by field: APIVersion, Kind, Name, Namespace.
    let key = |id: &ObjectId| {
        (
            id.api_version.clone(),
            id.kind.clone(),
            id.name.clone(),
            id.namespace.clone(),
        )
    };
    type Triple = (String, String, String);
    let change = |(old, new, setter): &Triple| TemplateValue::Struct {
        fields: vec![
            ("OldValue".into(), text(old)),
            ("NewValue".into(), text(new)),
            ("Setter".into(), text(setter)),
        ],
        display: format!("{{{old} {new} {setter}}}"),
    };
    let mut files = Vec::new();
    type SortKey = (String, String, String, String);
    let mut objects: BTreeMap<SortKey, (ObjectId, Vec<Triple>)> = BTreeMap::new();
    let mut all: Vec<Triple> = Vec::new();
    for (path, per_object) in run.file_changes() {
        let mut sorted: Vec<(&ObjectId, Vec<&super::setters::Change>)> =
            per_object.into_iter().collect();
        sorted.sort_by_key(|(id, _)| key(id));
        let mut entries = Vec::new();
        for (id, changes) in sorted {
            let triples: Vec<Triple> = changes
                .iter()
                .map(|c| (c.old_value.clone(), c.new_value.clone(), c.setter.clone()))
                .collect();
            entries.push((
                object(id),
                TemplateValue::List(triples.iter().map(change).collect()),
            ));
            let slot = objects
                .entry(key(id))
                .or_insert_with(|| (id.clone(), Vec::new()));
            slot.1.extend(triples.iter().cloned());
            for t in triples {
                if !all.contains(&t) {
                    all.push(t);
                }
            }
        }
        files.push((text(path), TemplateValue::Map(entries)));
    }
    let objects = TemplateValue::Map(
        objects
            .into_values()
            .map(|(id, triples)| {
                (
                    object(&id),
                    TemplateValue::List(triples.iter().map(change).collect()),
                )
            })
            .collect(),
    );
    let changed = TemplateValue::Struct {
        fields: vec![
            ("FileChanges".into(), TemplateValue::Map(files)),
            ("Objects".into(), objects),
            (
                "Changes".into(),
                TemplateValue::List(all.iter().map(change).collect()),
            ),
        ],
        display: "{map[...]}".into(),
    };
    let mut value_entries: Vec<(String, &Value)> =
        values.iter().map(|(k, v)| (k.clone(), v)).collect();
    value_entries.sort_by(|a, b| a.0.cmp(&b.0));
    let values = TemplateValue::Map(
        value_entries
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => text(s),
                    Value::Null => TemplateValue::Nil,
                    other => TemplateValue::Text(other.to_string()),
                };
                (text(&k), v)
            })
            .collect(),
    );
    TemplateValue::Struct {
        fields: vec![
            (
                "AutomationObject".into(),
                TemplateValue::Struct {
                    fields: vec![
                        ("Name".into(), text(name)),
                        ("Namespace".into(), text(namespace)),
                    ],
                    display: format!("{namespace}/{name}"),
                },
            ),
            ("Changed".into(), changed),
            ("Values".into(), values),
        ],
        display: String::new(),
    }
}

/// Everything the git part of a run needs, read from the objects.
#[derive(Debug, Clone)]
struct GitPlan {
    url: String,
    auth: Option<GitAuth>,
    timeout: Duration,
    checkout: GitRef,
    checkout_branch: Option<String>,
    push_branch: String,
    refspec: Option<String>,
    push_options: Vec<String>,
    update_path: String,
    author_name: String,
    author_email: String,
}

impl GitPlan {
    fn switch_branch(&self) -> bool {
        self.checkout_branch.as_deref() != Some(self.push_branch.as_str())
    }
}

/// A finished update: what was committed and pushed (None when nothing changed).
#[derive(Debug)]
struct Applied {
    pushed: Option<(String, String)>,
    /// `observedSourceRevision`.
    revision: String,
    run: SetterRun,
}

impl From<AutomationError> for Failure {
    fn from(e: AutomationError) -> Failure {
        match e {
            AutomationError::Stalled { reason, message } => Failure::terminal(reason, message),
            AutomationError::Retry { reason, message } => Failure::transient(reason, message),
        }
    }
}

/// Reconciles one ImageUpdateAutomation; work files go under `data_dir` (see the module docs).
/// This detached form (tests, tools) accepts `file://` sources; the controller's adapter refuses
/// them unless it runs with `--allow-file-urls`.
pub async fn reconcile_image_update_automation(
    obj: &Value,
    client: &kube::Client,
    data_dir: &Path,
    now: Timestamp,
) -> RunResult {
    let mut run = Run::detached(obj, now);
    let result = automate(&mut run, client, data_dir, true).await;
    RunResult::concluded(run, result)
}

/// The run interval (`spec.interval`, 1m when absent or invalid).
pub(crate) fn automation_interval(obj: &Value) -> Duration {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    super::duration_field(spec, "interval")
        .ok()
        .flatten()
        .unwrap_or(Duration::from_secs(60))
}

/// The steps: policies → plan → update, commit and push → `observedPolicies`, push status, events.
pub(crate) async fn automate(
    run: &mut Run,
    client: &kube::Client,
    data_dir: &Path,
    allow_file_urls: bool,
) -> Result<Success, Failure> {
    let now = run.now();
    run.set("lastAutomationRunTime", json!(format_time(now)));
    run.retry_progress("reconciliation in progress");
    let obj = run.object().clone();
    let meta = ObjectMeta::of(&obj);
    let interval = automation_interval(&obj);
    let work_dir = data_dir
        .join("image-automation")
        .join(sanitize(meta.namespace))
        .join(sanitize(meta.name));
    let status = run.status().clone();
    let (applied, observed, message) =
        self::run(&meta, client, &work_dir, &status, now, allow_file_urls)
            .await
            .map_err(|e| Failure::from(e).retry_after(super::failure_requeue(interval)))?;
    run.set("observedPolicies", observed);
    run.set("observedSourceRevision", json!(applied.revision));
    let mut ready = "repository up-to-date".to_string();
    let notes = run_notes(&applied.run);
    if !notes.is_empty() {
        ready.push_str(&format!(" ({notes})"));
        run.record(EventType::Warning, "Succeeded", &notes);
    }
    if let Some((commit, branch)) = &applied.pushed {
        run.set("lastPushCommit", json!(commit));
        run.set("lastPushTime", json!(format_time(now)));
        let refspec = meta
            .spec
            .pointer("/git/push/refspec")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
            .map(|r| format!(" and refspecs '{r}'"))
            .unwrap_or_default();
        let pushed = format!(
            "pushed commit '{}' to branch '{branch}'{refspec}\n{message}",
            &commit[..commit.len().min(7)]
        );
        run.record(EventType::Normal, "Succeeded", &pushed);
    }
    Ok(Success::ready("Succeeded", ready, interval))
}

/// Skipped files and markers naming unknown policies, for the Ready message.
fn run_notes(run: &SetterRun) -> String {
    let mut notes = Vec::new();
    for p in &run.problems {
        notes.push(format!("skipped {}: {}", p.path, p.reason));
    }
    for (path, marker) in run.unknown_policies() {
        notes.push(format!(
            "{path}:{}: no ImagePolicy '{}' with a latest image in this namespace",
            marker.line, marker.setter
        ));
    }
    notes.join("; ")
}

fn sanitize(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() || clean.starts_with('.') {
        format!("_{clean}")
    } else {
        clean
    }
}

/// The run proper: Ok((applied, observedPolicies, commit message)).
async fn run(
    meta: &ObjectMeta<'_>,
    client: &kube::Client,
    work_dir: &Path,
    status: &Value,
    now: Timestamp,
    allow_file_urls: bool,
) -> Result<(Applied, Value, String), AutomationError> {
    let spec = meta.spec;
    let template_text = spec
        .pointer("/git/commit/messageTemplate")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .unwrap_or(DEFAULT_MESSAGE);
    let template = MessageTemplate::parse(template_text).map_err(|e| template_error(&e))?;
    let selector = label_selector_string(spec.get("policySelector").unwrap_or(&Value::Null))
        .map_err(|e| stalled("InvalidPolicySelector", e))?;
    let (refs, observed) = list_policies(client, meta.namespace, &selector).await?;
    let plan = plan(meta, client, spec, allow_file_urls).await?;
    let observed_changed = status.get("observedPolicies") != Some(&observed);
    let full_sync = observed_changed || plan.switch_branch() || plan.refspec.is_some();
    let git_dir = work_dir.to_path_buf();
    if !full_sync && let Some(prev) = status.get("observedSourceRevision").and_then(Value::as_str) {
        let p = plan.clone();
        let dir = git_dir.clone();
        let head =
            blocking(move || remote_head(&p.url, &p.checkout, p.auth.as_ref(), p.timeout, &dir))
                .await
                .map_err(git_failure)?;
        if head.commit == commit_of_revision(prev) {
            return Ok((
                Applied {
                    pushed: None,
                    revision: prev.to_string(),
                    run: SetterRun::default(),
                },
                observed,
                String::new(),
            ));
        }
    }
    let values = spec
        .pointer("/git/commit/messageTemplateValues")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let (namespace, name) = (meta.namespace.to_string(), meta.name.to_string());
    let mut last_error = None;
    for _attempt in 0..2 {
        let p = plan.clone();
        let dir = git_dir.clone();
        let refs = refs.clone();
        let template = template.clone();
        let values = values.clone();
        let (namespace, name) = (namespace.clone(), name.clone());
        let outcome = blocking(move || {
            update_once(&p, &dir, &refs, now, |run| {
                template
                    .render(&template_data(&namespace, &name, run, &values))
                    .map_err(|e| template_error(&e))
            })
        })
        .await;
        match outcome {
            Ok((applied, message)) => return Ok((applied, observed, message)),
            Err(UpdateFailure::PushRejected(msg)) => last_error = Some(msg),
            Err(UpdateFailure::Other(e)) => return Err(e),
        }
    }
    Err(retry(
        "GitOperationFailed",
        format!(
            "failed to update source: {}",
            last_error.unwrap_or_else(|| "push rejected".to_string())
        ),
    ))
}

fn template_error(e: &TemplateError) -> AutomationError {
    stalled(e.reason(), format!("spec.git.commit.messageTemplate: {e}"))
}

fn git_failure(e: GitError) -> AutomationError {
    retry("GitOperationFailed", e.to_string())
}

async fn blocking<T: Send + 'static, E: Send + 'static + From<JoinFailure>>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    match tokio::task::spawn_blocking(work).await {
        Ok(r) => r,
        Err(e) => Err(E::from(JoinFailure(e.to_string()))),
    }
}

/// A blocking task panicked or was cancelled.
struct JoinFailure(String);

impl From<JoinFailure> for GitError {
    fn from(e: JoinFailure) -> GitError {
        GitError::Operation {
            url: String::new(),
            reference: String::new(),
            message: format!("git task failed: {}", e.0),
        }
    }
}

impl From<JoinFailure> for UpdateFailure {
    fn from(e: JoinFailure) -> UpdateFailure {
        UpdateFailure::Other(retry(
            "GitOperationFailed",
            format!("git task failed: {}", e.0),
        ))
    }
}

/// Lists the namespace's ImagePolicies (with the selector) into setter refs and `observedPolicies`.
async fn list_policies(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
) -> Result<(PolicyRefs, Value), AutomationError> {
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
    let gvk = GroupVersionKind::gvk("image.toolkit.fluxcd.io", "v1", "ImagePolicy");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "imagepolicies");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let mut params = ListParams::default();
    if !selector.is_empty() {
        params = params.labels(selector);
    }
    let list = api.list(&params).await.map_err(|e| {
        retry(
            "Failed",
            format!("cannot list ImagePolicies in '{namespace}': {e}"),
        )
    })?;
    let mut refs = PolicyRefs::new();
    let mut observed = Map::new();
    for item in list.items {
        let Some(name) = item.metadata.name.clone() else {
            continue;
        };
        let Some(latest) = latest_ref_of(item.data.pointer("/status/latestRef")) else {
            continue;
        };
        observed.insert(
            name.clone(),
            super::policy_reconcile::latest_ref_value(&latest),
        );
        refs.insert(format!("{namespace}:{name}"), latest);
    }
    Ok((refs, Value::Object(observed)))
}

/// Reads the source, auth, refs, path and author.
async fn plan(
    meta: &ObjectMeta<'_>,
    client: &kube::Client,
    spec: &Value,
    allow_file_urls: bool,
) -> Result<GitPlan, AutomationError> {
    let source = spec.get("sourceRef").unwrap_or(&Value::Null);
    let kind = source.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != "GitRepository" {
        return Err(stalled(
            "InvalidSourceConfiguration",
            format!("source kind '{kind}' is not supported (only GitRepository)"),
        ));
    }
    let git = spec
        .get("git")
        .filter(|g| g.is_object())
        .ok_or_else(|| stalled("InvalidSourceConfiguration", "spec.git is required"))?;
    let source_name = source.get("name").and_then(Value::as_str).unwrap_or("");
    let source_ns = source
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(meta.namespace);
    let repo = super::get_object(
        client,
        "source.toolkit.fluxcd.io",
        "v1",
        "GitRepository",
        "gitrepositories",
        source_ns,
        source_name,
    )
    .await
    .map_err(|e| retry("SourceManagerFailed", e))?
    .ok_or_else(|| {
        retry(
            "SourceManagerFailed",
            format!("GitRepository '{source_ns}/{source_name}' not found"),
        )
    })?;
    let repo_spec = repo.get("spec").unwrap_or(&Value::Null);
    let url = repo_spec
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    // The same rule as the GitRepository reconciler: a file:// source would let any tenant
    // write to a directory on the controller's machine.
    crate::controllers::source::git::validate_source_url(&url, allow_file_urls).map_err(|e| {
        stalled(
            "InvalidSourceURL",
            format!("GitRepository '{source_ns}/{source_name}': {e}"),
        )
    })?;
    let auth = match repo_spec
        .pointer("/secretRef/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        Some(secret) => {
            let data = crate::runtime::status_io::read_secret_data(client, source_ns, secret)
                .await
                .map_err(|e| retry("SourceManagerFailed", e))?;
            Some(GitAuth::from_secret_data(&url, &data).map_err(|e| {
                retry(
                    "SourceManagerFailed",
                    format!("secret '{source_ns}/{secret}': {e}"),
                )
            })?)
        }
        None => None,
    };
    let timeout = super::duration_field(repo_spec, "timeout")
        .ok()
        .flatten()
        .unwrap_or(DEFAULT_GIT_TIMEOUT);
    let checkout_spec = git
        .pointer("/checkout/ref")
        .filter(|v| !v.is_null())
        .or_else(|| repo_spec.get("ref"));
    let checkout = GitRef::from_spec(checkout_spec)
        .map_err(|e| stalled("InvalidSourceConfiguration", e.to_string()))?;
    let checkout_branch = match checkout.resolve() {
        Ok(crate::controllers::source::git_ref::ResolvedRef::Branch(b)) => Some(b),
        Ok(crate::controllers::source::git_ref::ResolvedRef::Commit {
            branch: Some(b), ..
        }) => Some(b),
        Ok(_) => None,
        Err(e) => return Err(stalled("InvalidSourceConfiguration", e.to_string())),
    };
    let push_branch = git
        .pointer("/push/branch")
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty())
        .map(str::to_string)
        .or_else(|| checkout_branch.clone())
        .ok_or_else(|| {
            retry(
                "SourceManagerFailed",
                "push spec not provided, and cannot be inferred from .spec.git.checkout.ref or GitRepository .spec.ref",
            )
        })?;
    let refspec = git
        .pointer("/push/refspec")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    let push_options = git
        .pointer("/push/options")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| match v.as_str() {
                    Some("") | None => k.clone(),
                    Some(v) => format!("{k}={v}"),
                })
                .collect()
        })
        .unwrap_or_default();
    let update_path = spec
        .pointer("/update/path")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let clean = normalize_path(&update_path).ok_or_else(|| {
        stalled(
            "InvalidPath",
            format!("spec.update.path '{update_path}' must stay inside the repository"),
        )
    })?;
    let author_name = git
        .pointer("/commit/author/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let author_email = git
        .pointer("/commit/author/email")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if author_email.is_empty() {
        return Err(stalled(
            "InvalidSourceConfiguration",
            "spec.git.commit.author.email is required",
        ));
    }
    Ok(GitPlan {
        url,
        auth,
        timeout,
        checkout,
        checkout_branch,
        push_branch,
        refspec,
        push_options,
        update_path: clean,
        author_name,
        author_email,
    })
}

/// `./a/../b/` → `b`; None when it climbs out of the root or is absolute.
fn normalize_path(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

enum UpdateFailure {
    PushRejected(String),
    Other(AutomationError),
}

impl From<AutomationError> for UpdateFailure {
    fn from(e: AutomationError) -> UpdateFailure {
        UpdateFailure::Other(e)
    }
}

/// One clone → setters → commit → push attempt (blocking).
fn update_once(
    plan: &GitPlan,
    work_dir: &Path,
    refs: &PolicyRefs,
    now: Timestamp,
    render: impl FnOnce(&SetterRun) -> Result<String, AutomationError>,
) -> Result<(Applied, String), UpdateFailure> {
    let git_err = |e: GitError| UpdateFailure::Other(git_failure(e));
    let checkout: Checkout = if plan.switch_branch() {
        match fetch(
            &plan.url,
            &GitRef::branch(&plan.push_branch),
            plan.auth.as_ref(),
            plan.timeout,
            work_dir,
        ) {
            Ok(c) => c,
            Err(GitError::RefNotFound { .. }) => fetch(
                &plan.url,
                &plan.checkout,
                plan.auth.as_ref(),
                plan.timeout,
                work_dir,
            )
            .map_err(git_err)?,
            Err(e) => return Err(git_err(e)),
        }
    } else {
        fetch(
            &plan.url,
            &plan.checkout,
            plan.auth.as_ref(),
            plan.timeout,
            work_dir,
        )
        .map_err(git_err)?
    };
    let root = if plan.update_path.is_empty() {
        checkout.dir.clone()
    } else {
        checkout.dir.join(&plan.update_path)
    };
    if !root.exists() {
        return Err(retry(
            "InvalidPath",
            format!(
                "spec.update.path '{}' does not exist at {}",
                plan.update_path, checkout.revision
            ),
        )
        .into());
    }
    let run = apply_setters_to_dir(&root, refs)
        .map_err(|e| retry("UpdateFailed", format!("applying setters: {e}")))?;
    let changed: Vec<String> = run
        .changed_files()
        .into_iter()
        .map(|f| {
            if plan.update_path.is_empty() {
                f.to_string()
            } else if f.is_empty() {
                plan.update_path.clone()
            } else {
                format!("{}/{f}", plan.update_path)
            }
        })
        .collect();
    if changed.is_empty() {
        return Ok((
            Applied {
                pushed: None,
                revision: checkout.revision.clone(),
                run,
            },
            String::new(),
        ));
    }
    let message = render(&run)?;
    // A file:// remote was read in-process (nothing in the fetch cache): the commit goes
    // straight into its object database and the branch moves with a checked ref update.
    let local = git_local::local_path(&plan.url);
    let repo = match &local {
        Some(path) => git_local::open(path).map_err(|m| {
            UpdateFailure::Other(retry(
                "GitOperationFailed",
                format!("failed to update source '{}': {m}", plan.url),
            ))
        })?,
        None => open_cache_with(work_dir, &checkout.commit).map_err(UpdateFailure::Other)?,
    };
    let commit = write_commit(&repo, &checkout, &changed, plan, &message, now)
        .map_err(|e| UpdateFailure::Other(retry("GitOperationFailed", e)))?;
    match local {
        Some(_) => push_local(&repo, plan, &checkout, &commit, now)?,
        None => push(&repo, plan, &commit)?,
    }
    let revision = if plan.switch_branch() {
        checkout.revision.clone()
    } else {
        revision_string(&format!("refs/heads/{}", plan.push_branch), &commit, false)
    };
    Ok((
        Applied {
            pushed: Some((commit, plan.push_branch.clone())),
            revision,
            run,
        },
        message,
    ))
}

/// The fetch cache repository (under `work_dir/git-cache`) that holds `commit`.
fn open_cache_with(work_dir: &Path, commit: &str) -> Result<gix::Repository, AutomationError> {
    let fail = |m: String| retry("GitOperationFailed", m);
    let id = gix::ObjectId::from_hex(commit.as_bytes())
        .map_err(|e| fail(format!("bad commit id {commit}: {e}")))?;
    let cache = crate::controllers::source::git::cache_root(work_dir);
    let entries = std::fs::read_dir(&cache)
        .map_err(|e| fail(format!("cannot list {}: {e}", cache.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if let Ok(repo) = gix::open_opts(&path, gix::open::Options::isolated())
            && repo.has_object(id)
        {
            return Ok(repo);
        }
    }
    Err(fail(format!(
        "the fetched commit {commit} is not in any repository under {}",
        cache.display()
    )))
}

/// Writes blobs for the changed files, a tree over the checked-out one, and the commit object.
/// No reference is moved, so a failure leaves nothing behind but unreachable objects.
fn write_commit(
    repo: &gix::Repository,
    checkout: &Checkout,
    changed: &[String],
    plan: &GitPlan,
    message: &str,
    now: Timestamp,
) -> Result<String, String> {
    let parent = gix::ObjectId::from_hex(checkout.commit.as_bytes()).map_err(|e| e.to_string())?;
    let tree_id = repo
        .find_commit(parent)
        .map_err(|e| format!("reading commit {parent}: {e}"))?
        .tree_id()
        .map_err(|e| format!("reading the tree of {parent}: {e}"))?;
    let tree = repo
        .find_tree(tree_id)
        .map_err(|e| format!("reading tree {tree_id}: {e}"))?;
    let mut editor = repo
        .edit_tree(tree_id)
        .map_err(|e| format!("editing tree {tree_id}: {e}"))?;
    for path in changed {
        let bytes = std::fs::read(checkout.dir.join(path))
            .map_err(|e| format!("reading rewritten file {path}: {e}"))?;
        let blob = repo
            .write_blob(&bytes)
            .map_err(|e| format!("writing blob for {path}: {e}"))?;
        let mode = tree
            .lookup_entry_by_path(path)
            .map_err(|e| format!("looking up {path}: {e}"))?
            .map(|e| e.mode().kind())
            .unwrap_or(gix::object::tree::EntryKind::Blob);
        editor
            .upsert(path.as_str(), mode, blob.detach())
            .map_err(|e| format!("updating {path} in the tree: {e}"))?;
    }
    let new_tree = editor.write().map_err(|e| format!("writing tree: {e}"))?;
    let time = gix::date::Time::new(now.as_second(), 0);
    let mut time_buf = gix::date::parse::TimeBuf::default();
    let signature = gix::actor::SignatureRef {
        name: plan.author_name.as_str().into(),
        email: plan.author_email.as_str().into(),
        time: time.to_str(&mut time_buf),
    };
    let commit = repo
        .new_commit_as(signature, signature, message, new_tree.detach(), [parent])
        .map_err(|e| format!("writing commit: {e}"))?;
    Ok(commit.id.to_hex().to_string())
}

/// The reference a refspec side names: full names as they are, short ones as branches.
fn full_ref_name(name: &str) -> String {
    if name.starts_with("refs/") {
        name.to_string()
    } else {
        format!("refs/heads/{name}")
    }
}

/// Pushes `commit` (already in `repo`, the remote of a file:// URL) without the git CLI: the push
/// branch moves only if it still holds the commit the checkout was made from (or, for a new
/// branch, still does not exist), so a concurrent push is rejected and the run retried, never
/// overwritten. `refspec`, when set, pushes the push branch (`HEAD`, its short or full name)
/// to its destination as `git push` would: fast-forward only unless it starts with `+`.
fn push_local(
    repo: &gix::Repository,
    plan: &GitPlan,
    checkout: &Checkout,
    commit: &str,
    now: Timestamp,
) -> Result<(), UpdateFailure> {
    use crate::controllers::source::git_local::{Expected, PushError, update_ref};
    let other = |m: String| UpdateFailure::Other(retry("GitOperationFailed", m));
    let new = gix::ObjectId::from_hex(commit.as_bytes())
        .map_err(|e| other(format!("bad commit id {commit}: {e}")))?;
    let fetched = gix::ObjectId::from_hex(checkout.commit.as_bytes())
        .map_err(|e| other(format!("bad commit id {}: {e}", checkout.commit)))?;
    let branch_ref = format!("refs/heads/{}", plan.push_branch);
    let expected = if checkout.reference == branch_ref || !plan.switch_branch() {
        Expected::Value(fetched)
    } else {
        // The push branch did not exist when the checkout fell back to the checkout ref.
        Expected::Absent
    };
    let time = gix::date::Time::new(now.as_second(), 0);
    let mut time_buf = gix::date::parse::TimeBuf::default();
    let committer = gix::actor::SignatureRef {
        name: plan.author_name.as_str().into(),
        email: plan.author_email.as_str().into(),
        time: time.to_str(&mut time_buf),
    };
    let url = &plan.url;
    let failed = |e: PushError| match e {
        PushError::Rejected(m) => UpdateFailure::PushRejected(format!("push to '{url}': {m}")),
        PushError::Failed(m) => other(format!("failed to update source: push to '{url}': {m}")),
    };
    update_ref(repo, &branch_ref, new, expected, committer).map_err(failed)?;
    if let Some(refspec) = &plan.refspec {
        let (force, spec) = match refspec.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, refspec.as_str()),
        };
        let (src, dst) = spec.split_once(':').unwrap_or((spec, spec));
        if !(src == "HEAD" || src == plan.push_branch || src == branch_ref) {
            return Err(UpdateFailure::Other(stalled(
                "InvalidSourceConfiguration",
                format!(
                    "spec.git.push.refspec '{refspec}': only the push branch ('{}' or HEAD) can be pushed to a file:// remote",
                    plan.push_branch
                ),
            )));
        }
        let dst = if dst == "HEAD" {
            branch_ref.clone()
        } else {
            full_ref_name(dst)
        };
        if gix::refs::FullName::try_from(dst.as_str()).is_err() {
            return Err(UpdateFailure::Other(stalled(
                "InvalidSourceConfiguration",
                format!("spec.git.push.refspec '{refspec}': '{dst}' is not a valid reference"),
            )));
        }
        if dst != branch_ref {
            let mode = if force {
                Expected::Any
            } else {
                Expected::FastForward
            };
            update_ref(repo, &dst, new, mode, committer).map_err(failed)?;
        }
    }
    Ok(())
}

/// Pushes `commit` to the push branch (and the refspec) with the `git` CLI.
fn push(repo: &gix::Repository, plan: &GitPlan, commit: &str) -> Result<(), UpdateFailure> {
    let git_dir = repo.path().to_path_buf();
    let auth = PushAuth::new(plan.auth.as_ref(), &git_dir).map_err(UpdateFailure::Other)?;
    let force = if plan.switch_branch() { "+" } else { "" };
    let branch_spec = format!("{force}{commit}:refs/heads/{}", plan.push_branch);
    run_push(&git_dir, plan, &auth, &branch_spec, plan.timeout)?;
    if let Some(refspec) = &plan.refspec {
        // The refspec names local refs: point the push branch at the new commit first.
        let local = format!("refs/heads/{}", plan.push_branch);
        run_git(
            &git_dir,
            &auth,
            &plan.url,
            &["update-ref", &local, commit],
            plan.timeout,
        )
        .map_err(|e| UpdateFailure::Other(retry("GitOperationFailed", e)))?;
        run_push(&git_dir, plan, &auth, refspec, plan.timeout)?;
    }
    Ok(())
}

fn run_push(
    git_dir: &Path,
    plan: &GitPlan,
    auth: &PushAuth,
    refspec: &str,
    timeout: Duration,
) -> Result<(), UpdateFailure> {
    let mut args: Vec<String> = vec!["push".into(), "--porcelain".into()];
    for o in &plan.push_options {
        args.push(format!("--push-option={o}"));
    }
    // The URL (which may carry a password) is configured through the environment as this remote.
    args.push(PUSH_REMOTE.into());
    args.push(refspec.to_string());
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    match run_git(git_dir, auth, &plan.url, &arg_refs, timeout) {
        Ok(_) => Ok(()),
        Err(e) => {
            let lower = e.to_ascii_lowercase();
            if lower.contains("rejected")
                || lower.contains("non-fast-forward")
                || lower.contains("fetch first")
            {
                Err(UpdateFailure::PushRejected(crate::model::redact::redacted(
                    &e,
                )))
            } else {
                Err(UpdateFailure::Other(retry(
                    "GitOperationFailed",
                    format!("failed to update source: {e}"),
                )))
            }
        }
    }
}

/// The remote name the push URL is configured under (through the environment, see [`git_command`]).
const PUSH_REMOTE: &str = "flotilla-push";

/// Credentials for the `git` CLI: extra header or an SSH command; temp files removed on drop.
struct PushAuth {
    /// `(key, value)` configuration given to git through `GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`:
    /// the command line is readable by every user in `/proc/<pid>/cmdline`, the environment is not.
    config: Vec<(String, String)>,
    ssh_command: Option<String>,
    dir: Option<PathBuf>,
}

impl Drop for PushAuth {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            // Best effort: the directory only holds copies of Secret data.
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl PushAuth {
    fn new(auth: Option<&GitAuth>, git_dir: &Path) -> Result<PushAuth, AutomationError> {
        use base64::Engine;
        let mut out = PushAuth {
            config: Vec::new(),
            ssh_command: None,
            dir: None,
        };
        let Some(auth) = auth else {
            return Ok(out);
        };
        match &auth.credentials {
            GitCredentials::None => {}
            GitCredentials::Basic { username, password } => {
                let pair = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                out.config.push((
                    "http.extraHeader".into(),
                    format!("Authorization: Basic {pair}"),
                ));
            }
            GitCredentials::Bearer(token) => {
                out.config.push((
                    "http.extraHeader".into(),
                    format!("Authorization: Bearer {token}"),
                ));
            }
            GitCredentials::Ssh(ssh) => {
                if ssh.password.is_some() {
                    return Err(retry(
                        "GitOperationFailed",
                        "pushing with a passphrase-protected SSH key is not supported",
                    ));
                }
                let dir = git_dir.join(format!("push-ssh-{}", uuid::Uuid::new_v4().simple()));
                let write = |name: &str, bytes: &[u8]| -> std::io::Result<PathBuf> {
                    use std::io::Write;
                    use std::os::unix::fs::OpenOptionsExt;
                    let path = dir.join(name);
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&path)?
                        .write_all(bytes)?;
                    Ok(path)
                };
                let files = std::fs::create_dir_all(&dir).and_then(|()| {
                    Ok((
                        write("identity", &ssh.identity)?,
                        write("known_hosts", &ssh.known_hosts)?,
                    ))
                });
                out.dir = Some(dir.clone());
                let (identity, known_hosts) = files.map_err(|e| {
                    retry(
                        "GitOperationFailed",
                        format!("cannot write SSH key files: {e}"),
                    )
                })?;
                out.ssh_command = Some(format!(
                    "ssh -F /dev/null -i '{}' -o IdentitiesOnly=yes -o UserKnownHostsFile='{}' -o StrictHostKeyChecking=yes -o BatchMode=yes",
                    identity.display(),
                    known_hosts.display()
                ));
            }
        }
        if auth.ca_cert.is_some() || auth.client_cert.is_some() {
            return Err(retry(
                "GitOperationFailed",
                "pushing with a custom CA or client certificate is not supported yet",
            ));
        }
        Ok(out)
    }
}

/// The `git` command for `args` with an isolated environment; credentials and the push URL are
/// passed as configuration in the environment (`GIT_CONFIG_COUNT`, git >= 2.31), never as arguments.
fn git_command(git_dir: &Path, auth: &PushAuth, url: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    cmd.arg("--git-dir").arg(git_dir);
    let remote_url = (format!("remote.{PUSH_REMOTE}.url"), url.to_string());
    let config: Vec<&(String, String)> = std::iter::once(&remote_url)
        .chain(auth.config.iter())
        .collect();
    cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
    for (i, (key, value)) in config.into_iter().enumerate() {
        cmd.env(format!("GIT_CONFIG_KEY_{i}"), key)
            .env(format!("GIT_CONFIG_VALUE_{i}"), value);
    }
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(ssh) = &auth.ssh_command {
        cmd.env("GIT_SSH_COMMAND", ssh);
    }
    cmd
}

/// Runs `git` ([`git_command`]); Err(output) on failure or timeout.
fn run_git(
    git_dir: &Path,
    auth: &PushAuth,
    url: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<String, String> {
    let mut child = git_command(git_dir, auth, url, args)
        .spawn()
        .map_err(|e| format!("cannot run git (is it installed?): {e}"))?;
    // Read output on threads so a chatty git cannot block on a full pipe while we wait.
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let out_thread = read(stdout.map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let err_thread = read(stderr.map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("git {} timed out after {timeout:?}", args[0]));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for git: {e}")),
        }
    };
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        let detail = format!("{}\n{}", stdout.trim(), stderr.trim());
        Err(format!(
            "git {} failed ({status}): {}",
            args[0],
            detail.trim()
        ))
    }
}

#[cfg(test)]
mod tests;
