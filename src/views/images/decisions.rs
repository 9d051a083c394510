//! Gathers [`ImageDecisions`] for an ImagePolicy, ImageRepository or workload across every context.
//!
//! Everything is read live: the policy, its ImageRepository and their status from the API; the tags
//! straight from the registry (the reconciler's tag store lives on its own machine); the Git content
//! from the source's artifact (the local artifact store when this machine runs the reconciler, else
//! `status.artifact.url`); the running images from every context's workloads. Each part that fails
//! becomes an error line in its section; only a target that cannot be read at all is an error.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use futures::future::join_all;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;

use crate::cluster::clients::Clients;
use crate::cluster::error::ClusterError;
use crate::controllers::image::automation::label_selector_string;
use crate::controllers::image::policy::{CompiledPolicy, PolicySpec};
use crate::controllers::image::registry::{
    ImageName, RegistryClient, RegistryOptions, credentials_from_secret_data,
};
use crate::controllers::image::repository::{exclusion_list, filter_and_sort};
use crate::controllers::image::setters::{SetterField, marked_values, parse_setter};
use crate::controllers::source::SourceStorage;
use crate::controllers::source::artifact::{self, Artifact};
use crate::model::kinds::KindInfo;
use crate::model::selector::LabelSelector;
use crate::views::images::report::{
    AutomationDecisions, ConditionSummary, ContextError, ImageDecisions, ImageRef, MarkerRef,
    PolicyDecisions, RepositoryScan, RunningImage, TagDecisions, tag_rows,
};

/// Largest artifact read (compressed), and largest total of files read out of it.
const MAX_ARTIFACT_BYTES: u64 = 256 << 20;
/// Largest single file scanned for markers.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// What the decisions are asked about: an ImagePolicy, an ImageRepository, or a workload
/// (Deployment, StatefulSet, DaemonSet …) whose container image a policy governs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTarget {
    /// The context the object is in.
    pub context: String,
    /// Its kind (`ImagePolicy`, `ImageRepository`, `Deployment`, …).
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// Why the decisions could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    /// The target object does not exist.
    #[error("{kind} {namespace}/{name} not found in context {context}")]
    NotFound {
        /// Context.
        context: String,
        /// Kind.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// The kind has no image decisions.
    #[error(
        "image decisions are shown for ImagePolicy, ImageRepository, Deployment, StatefulSet, DaemonSet and CronJob, not {0}"
    )]
    UnsupportedKind(String),
    /// The target could not be read.
    #[error("{0}")]
    Cluster(#[from] ClusterError),
    /// Anything else, with a message naming the object.
    #[error("{0}")]
    Other(String),
}

/// How much to gather.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// Keep every tag instead of summarising long lists by fate.
    pub all: bool,
    /// The controller's data directory (artifacts under `<dir>/<context>/artifacts`), read before
    /// downloading `status.artifact.url`.
    pub data_dir: Option<PathBuf>,
    /// Limit for listing one repository's tags, and for downloading one artifact.
    pub remote_timeout: Duration,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            all: false,
            data_dir: default_data_dir(),
            remote_timeout: Duration::from_secs(20),
        }
    }
}

/// The controller's default data directory (`$XDG_DATA_HOME/flotilla/controller`).
pub fn default_data_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|d| d.join("flotilla").join("controller"))
}

/// Reads the policy, its repository, scan, Git markers, automation and running images.
pub async fn image_decisions(
    clients: &Clients,
    target: &ImageTarget,
) -> Result<ImageDecisions, ImagesError> {
    image_decisions_with(clients, target, &ImageOptions::default()).await
}

/// A resource the view reads, with the versions to try (newest first).
#[derive(Debug, Clone)]
struct Resource {
    group: &'static str,
    versions: Vec<String>,
    kind: &'static str,
    plural: &'static str,
}

impl Resource {
    fn fixed(group: &'static str, version: &str, kind: &'static str, plural: &'static str) -> Self {
        Resource {
            group,
            versions: vec![version.to_string()],
            kind,
            plural,
        }
    }

    fn of(clients: &Clients, context: &str, kind: &'static str) -> Resource {
        match crate::model::kinds::KINDS.iter().find(|k| k.kind == kind) {
            Some(info) => Self::from_info(clients, context, info),
            // Unreachable for the kinds this module asks for; an empty version list reads nothing.
            None => Resource {
                group: "",
                versions: Vec::new(),
                kind,
                plural: "",
            },
        }
    }

    fn from_info(clients: &Clients, context: &str, info: &'static KindInfo) -> Resource {
        let versions = match clients.served_version(context, info.kind) {
            Some(v) => vec![v],
            None => info.versions.iter().map(|v| v.to_string()).collect(),
        };
        Resource {
            group: info.group,
            versions,
            kind: info.kind,
            plural: info.plural,
        }
    }

    fn api(
        &self,
        client: kube::Client,
        version: &str,
        namespace: Option<&str>,
    ) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group, version, self.kind),
            self.plural,
        );
        match namespace {
            Some(ns) => Api::namespaced_with(client, ns, &ar),
            None => Api::all_with(client, &ar),
        }
    }
}

const WORKLOADS: [(&str, &str, &str, &str); 4] = [
    ("apps", "v1", "Deployment", "deployments"),
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("batch", "v1", "CronJob", "cronjobs"),
];

fn workload_resource(kind: &str) -> Option<Resource> {
    WORKLOADS
        .iter()
        .find(|(_, _, k, _)| k.eq_ignore_ascii_case(kind))
        .map(|&(g, v, k, p)| Resource::fixed(g, v, k, p))
}

fn to_value(obj: DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// One object, `None` when absent (in every served version).
async fn get_object(
    clients: &Clients,
    context: &str,
    res: &Resource,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, ClusterError> {
    let client = clients.client(context).await?;
    let what = format!("get {} {namespace}/{name}", res.kind);
    for version in &res.versions {
        let api = res.api(client.clone(), version, Some(namespace));
        if let Some(obj) = clients.timed(context, &what, api.get_opt(name)).await? {
            return Ok(Some(to_value(obj)));
        }
    }
    Ok(None)
}

/// Every object of a kind (in one namespace or all); a kind the server does not serve lists empty.
async fn list_objects(
    clients: &Clients,
    context: &str,
    res: &Resource,
    namespace: Option<&str>,
) -> Result<Vec<Value>, ClusterError> {
    let client = clients.client(context).await?;
    let what = format!("list {}", res.plural);
    for version in &res.versions {
        let api = res.api(client.clone(), version, namespace);
        match clients
            .timed(context, &what, api.list(&ListParams::default()))
            .await
        {
            Ok(list) => return Ok(list.items.into_iter().map(to_value).collect()),
            Err(ClusterError::Api { code: 404, .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(Vec::new())
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn meta(v: &Value) -> (String, String) {
    (
        text(v, "/metadata/namespace")
            .unwrap_or_default()
            .to_string(),
        text(v, "/metadata/name").unwrap_or_default().to_string(),
    )
}

/// The `(namespace, name)` of the ImageRepository a policy reads.
fn repository_ref(policy: &Value) -> Option<(String, String)> {
    let name = text(policy, "/spec/imageRepositoryRef/name")?;
    let ns = text(policy, "/spec/imageRepositoryRef/namespace")
        .map(str::to_string)
        .unwrap_or_else(|| meta(policy).0);
    Some((ns, name.to_string()))
}

/// An image reference split into canonical repository, tag and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ImageRefParts {
    canonical: String,
    tag: Option<String>,
    digest: Option<String>,
}

fn split_image(image: &str) -> Option<ImageRefParts> {
    let image = image.trim();
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d.to_string())),
        None => (image, None),
    };
    let last = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest.get(last..).and_then(|s| s.rfind(':')) {
        Some(i) => (
            rest.get(..last + i)?,
            rest.get(last + i + 1..).map(str::to_string),
        ),
        None => (rest, None),
    };
    let parsed = ImageName::parse(name).ok()?;
    Some(ImageRefParts {
        canonical: parsed.canonical(),
        tag,
        digest,
    })
}

/// The canonical image of an ImageRepository (`status.canonicalImageName`, else `spec.image`).
fn repository_canonical(repo: &Value) -> Option<String> {
    text(repo, "/spec/image")
        .and_then(|i| ImageName::parse(i).ok())
        .map(|n| n.canonical())
        .or_else(|| text(repo, "/status/canonicalImageName").map(str::to_string))
}

fn image_ref(v: Option<&Value>) -> Option<ImageRef> {
    let v = v?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let r = ImageRef {
        name: field("name"),
        tag: field("tag"),
        digest: field("digest"),
    };
    (!r.name.is_empty() && !r.tag.is_empty()).then_some(r)
}

/// A container image seen in a workload's pod template.
#[derive(Debug, Clone)]
struct WorkloadImage {
    context: String,
    kind: String,
    namespace: String,
    name: String,
    container: String,
    image: String,
}

fn workload_images(context: &str, kind: &str, obj: &Value) -> Vec<WorkloadImage> {
    let pod = if kind == "CronJob" {
        obj.pointer("/spec/jobTemplate/spec/template/spec")
    } else {
        obj.pointer("/spec/template/spec")
    };
    let Some(pod) = pod else {
        return Vec::new();
    };
    let (namespace, name) = meta(obj);
    let mut out = Vec::new();
    for (field, suffix) in [("initContainers", " (init)"), ("containers", "")] {
        for c in pod
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(image) = c.get("image").and_then(Value::as_str) {
                out.push(WorkloadImage {
                    context: context.to_string(),
                    kind: kind.to_string(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                    container: format!(
                        "{}{suffix}",
                        c.get("name").and_then(Value::as_str).unwrap_or("?")
                    ),
                    image: image.to_string(),
                });
            }
        }
    }
    out
}

/// Every workload container image of every context; a context that fails gives one error.
async fn all_running(clients: &Clients) -> (Vec<WorkloadImage>, Vec<ContextError>) {
    let names = clients.contexts().names();
    let per_context = join_all(names.iter().map(|context| async move {
        let mut images = Vec::new();
        for &(g, v, k, p) in &WORKLOADS {
            match list_objects(clients, context, &Resource::fixed(g, v, k, p), None).await {
                Ok(items) => {
                    images.extend(items.iter().flat_map(|o| workload_images(context, k, o)))
                }
                Err(e) => {
                    return (
                        images,
                        Some(ContextError {
                            context: context.clone(),
                            message: e.to_string(),
                        }),
                    );
                }
            }
        }
        (images, None)
    }))
    .await;
    let mut images = Vec::new();
    let mut errors = Vec::new();
    for (found, err) in per_context {
        images.extend(found);
        errors.extend(err);
    }
    (images, errors)
}

/// Reads everything the view shows about `target`.
pub async fn image_decisions_with(
    clients: &Clients,
    target: &ImageTarget,
    options: &ImageOptions,
) -> Result<ImageDecisions, ImagesError> {
    let ctx = target.context.as_str();
    let kind = canonical_kind(&target.kind)
        .ok_or_else(|| ImagesError::UnsupportedKind(target.kind.clone()))?;
    let not_found = || ImagesError::NotFound {
        context: ctx.to_string(),
        kind: kind.to_string(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
    };
    let res = match kind {
        "ImagePolicy" | "ImageRepository" => Resource::of(clients, ctx, kind),
        _ => workload_resource(kind).ok_or_else(|| ImagesError::UnsupportedKind(kind.into()))?,
    };
    let obj = get_object(clients, ctx, &res, &target.namespace, &target.name)
        .await?
        .ok_or_else(not_found)?;
    let mut decisions = ImageDecisions {
        target: format!(
            "{kind} {}/{} (context {ctx})",
            target.namespace, target.name
        ),
        ..ImageDecisions::default()
    };
    // (context, policy) pairs to explain.
    let mut policies: Vec<(String, Value)> = Vec::new();
    match kind {
        "ImagePolicy" => policies.push((ctx.to_string(), obj)),
        "ImageRepository" => {
            let all = list_objects(
                clients,
                ctx,
                &Resource::of(clients, ctx, "ImagePolicy"),
                None,
            )
            .await
            .map_err(|e| {
                ImagesError::Other(format!(
                    "listing the ImagePolicies that read ImageRepository {}/{}: {e}",
                    target.namespace, target.name
                ))
            })?;
            let wanted = (target.namespace.clone(), target.name.clone());
            policies.extend(
                all.into_iter()
                    .filter(|p| repository_ref(p).as_ref() == Some(&wanted))
                    .map(|p| (ctx.to_string(), p)),
            );
            if policies.is_empty() {
                decisions.notice = Some(format!(
                    "no ImagePolicy in context {ctx} references ImageRepository {}/{}",
                    target.namespace, target.name
                ));
            }
        }
        _ => {
            let images: BTreeSet<String> = workload_images(ctx, kind, &obj)
                .iter()
                .filter_map(|w| split_image(&w.image))
                .map(|p| p.canonical)
                .collect();
            let (found, errors) = policies_for_images(clients, &images).await;
            policies = found;
            let mut notes = Vec::new();
            if policies.is_empty() {
                let list: Vec<&str> = images.iter().map(String::as_str).collect();
                notes.push(format!(
                    "no ImagePolicy in any context governs the images of {kind} {}/{} ({})",
                    target.namespace,
                    target.name,
                    if list.is_empty() {
                        "no container images".to_string()
                    } else {
                        list.join(", ")
                    }
                ));
            }
            for e in errors {
                notes.push(format!("context {} not searched: {}", e.context, e.message));
            }
            decisions.notice = (!notes.is_empty()).then(|| notes.join("; "));
        }
    }

    let (running, running_errors) = all_running(clients).await;
    let sections = join_all(
        policies
            .iter()
            .map(|(c, p)| policy_section(clients, c, p, options, &running, &running_errors)),
    )
    .await;
    decisions.policy = sections
        .iter()
        .map(|s| format!("{}/{}", s.namespace, s.name))
        .collect::<Vec<_>>()
        .join(", ");
    decisions.sections = sections;
    Ok(decisions)
}

/// The kind names this view accepts, normalised.
fn canonical_kind(kind: &str) -> Option<&'static str> {
    let k = kind.to_ascii_lowercase();
    let k = k.split('.').next().unwrap_or_default();
    Some(match k {
        "imagepolicy" | "imagepolicies" | "ip" => "ImagePolicy",
        "imagerepository" | "imagerepositories" | "ir" => "ImageRepository",
        "deployment" | "deployments" | "deploy" => "Deployment",
        "statefulset" | "statefulsets" | "sts" => "StatefulSet",
        "daemonset" | "daemonsets" | "ds" => "DaemonSet",
        "cronjob" | "cronjobs" | "cj" => "CronJob",
        _ => return None,
    })
}

/// The policies, in any context, whose ImageRepository's image is one of `images` (canonical).
async fn policies_for_images(
    clients: &Clients,
    images: &BTreeSet<String>,
) -> (Vec<(String, Value)>, Vec<ContextError>) {
    let names = clients.contexts().names();
    let results = join_all(names.iter().map(|context| async move {
        let repos = list_objects(
            clients,
            context,
            &Resource::of(clients, context, "ImageRepository"),
            None,
        )
        .await?;
        let matching: BTreeSet<(String, String)> = repos
            .iter()
            .filter(|r| repository_canonical(r).is_some_and(|c| images.contains(&c)))
            .map(meta)
            .collect();
        if matching.is_empty() {
            return Ok(Vec::new());
        }
        let policies = list_objects(
            clients,
            context,
            &Resource::of(clients, context, "ImagePolicy"),
            None,
        )
        .await?;
        Ok::<_, ClusterError>(
            policies
                .into_iter()
                .filter(|p| repository_ref(p).is_some_and(|r| matching.contains(&r)))
                .map(|p| (context.clone(), p))
                .collect::<Vec<_>>(),
        )
    }))
    .await;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for (context, result) in names.iter().zip(results) {
        match result {
            Ok(p) => found.extend(p),
            Err(e) => errors.push(ContextError {
                context: context.clone(),
                message: e.to_string(),
            }),
        }
    }
    (found, errors)
}

async fn policy_section(
    clients: &Clients,
    context: &str,
    policy: &Value,
    options: &ImageOptions,
    running: &[WorkloadImage],
    running_errors: &[ContextError],
) -> PolicyDecisions {
    let (namespace, name) = meta(policy);
    let mut section = PolicyDecisions {
        context: context.to_string(),
        namespace: namespace.clone(),
        name: name.clone(),
        ready: ConditionSummary::ready_of(policy),
        latest: image_ref(policy.pointer("/status/latestRef")),
        previous: image_ref(policy.pointer("/status/observedPreviousRef")),
        running_errors: running_errors.to_vec(),
        ..PolicyDecisions::default()
    };
    let compiled = PolicySpec::from_spec_json(policy.get("spec").unwrap_or(&Value::Null))
        .and_then(|spec| CompiledPolicy::compile(&spec));
    match &compiled {
        Ok(p) => {
            section.rule = Some(p.spec().choice.to_string());
            section.filter = p.spec().filter.as_ref().map(|f| {
                let mut s = format!("pattern '{}'", f.pattern);
                if !f.extract.is_empty() {
                    s.push_str(&format!(", extract '{}'", f.extract));
                }
                s
            });
        }
        Err(e) => section.error = Some(format!("ImagePolicy {namespace}/{name}: {e}")),
    }

    // The repository and a fresh listing of its tags.
    let mut canonical = section
        .latest
        .as_ref()
        .and_then(|l| ImageName::parse(&l.name).ok())
        .map(|n| n.canonical());
    match repository_ref(policy) {
        None => {
            section.repository.error = Some(format!(
                "ImagePolicy {namespace}/{name} has no spec.imageRepositoryRef.name"
            ));
        }
        Some((repo_ns, repo_name)) => {
            section.repository.namespace = repo_ns.clone();
            section.repository.name = repo_name.clone();
            let res = Resource::of(clients, context, "ImageRepository");
            match get_object(clients, context, &res, &repo_ns, &repo_name).await {
                Err(e) => section.repository.error = Some(e.to_string()),
                Ok(None) => {
                    section.repository.error = Some(format!(
                        "ImageRepository {repo_ns}/{repo_name} not found in context {context}"
                    ));
                }
                Ok(Some(repo)) => {
                    fill_repository(&mut section.repository, &repo);
                    if let Some(c) = repository_canonical(&repo) {
                        canonical = Some(c);
                    }
                    section.tags = tag_decisions(
                        clients,
                        context,
                        &repo,
                        compiled.as_ref().ok(),
                        section.previous.as_ref(),
                        options,
                    )
                    .await;
                }
            }
        }
    }

    match automations(clients, context, policy, section.latest.as_ref(), options).await {
        Ok(a) => section.automations = a,
        Err(e) => section.automations_error = Some(e),
    }

    if let Some(canonical) = canonical {
        let latest = section.latest.as_ref();
        section.running = running
            .iter()
            .filter_map(|w| {
                let parts = split_image(&w.image)?;
                (parts.canonical == canonical).then(|| RunningImage {
                    context: w.context.clone(),
                    kind: w.kind.clone(),
                    namespace: w.namespace.clone(),
                    name: w.name.clone(),
                    container: w.container.clone(),
                    image: w.image.clone(),
                    current: latest.is_some_and(|l| runs_latest(&parts, l)),
                })
            })
            .collect();
    }
    section
}

/// Whether an image runs the latest ref: same tag (no tag means `latest`), and the same digest when
/// both name one.
fn runs_latest(parts: &ImageRefParts, latest: &ImageRef) -> bool {
    let tag_ok = parts.tag.as_deref().unwrap_or("latest") == latest.tag;
    let digest_ok = match (&parts.digest, latest.digest.is_empty()) {
        (Some(d), false) => *d == latest.digest,
        _ => true,
    };
    tag_ok && digest_ok
}

fn fill_repository(scan: &mut RepositoryScan, repo: &Value) {
    scan.image = text(repo, "/spec/image").map(str::to_string);
    scan.canonical = text(repo, "/status/canonicalImageName").map(str::to_string);
    scan.tag_count = repo
        .pointer("/status/lastScanResult/tagCount")
        .and_then(Value::as_u64);
    scan.scan_time = text(repo, "/status/lastScanResult/scanTime").map(str::to_string);
    scan.ready = ConditionSummary::ready_of(repo);
}

async fn tag_decisions(
    clients: &Clients,
    context: &str,
    repo: &Value,
    policy: Option<&CompiledPolicy>,
    previous: Option<&ImageRef>,
    options: &ImageOptions,
) -> TagDecisions {
    let mut out = TagDecisions::default();
    let (repo_ns, repo_name) = meta(repo);
    let who = format!("ImageRepository {repo_ns}/{repo_name}");
    let tags = match list_registry_tags(clients, context, repo, options, &mut out).await {
        Ok(tags) => tags,
        Err(e) => {
            out.error = Some(format!("{who}: {e}"));
            return out;
        }
    };
    out.total = tags.len();
    let Some(policy) = policy else {
        return out;
    };
    let explanation = policy.explain(&tags);
    out.chosen = explanation.chosen.clone();
    out.policy_error = explanation.error.as_ref().map(ToString::to_string);
    let (rows, omitted) = tag_rows(&explanation, previous.map(|p| p.tag.as_str()), options.all);
    out.rows = rows;
    out.omitted = omitted;
    out
}

/// Lists the repository's tags from the registry (credentials from `secretRef`, `insecure`), with
/// the exclusion list applied and sorted as the reconciler stores them.
async fn list_registry_tags(
    clients: &Clients,
    context: &str,
    repo: &Value,
    options: &ImageOptions,
    out: &mut TagDecisions,
) -> Result<Vec<String>, String> {
    let spec = repo.get("spec").unwrap_or(&Value::Null);
    let image = text(repo, "/spec/image").ok_or("spec.image is empty")?;
    let name = ImageName::parse(image).map_err(|e| e.to_string())?;
    out.source = Some(format!("registry {}", name.canonical()));
    let exclusions = exclusion_list(spec)?
        .iter()
        .map(|p| {
            regex::RegexBuilder::new(p)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("exclusionList entry '{p}': {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let credentials = match text(repo, "/spec/secretRef/name") {
        None => None,
        Some(secret) => {
            let (ns, _) = meta(repo);
            let res = Resource::fixed("", "v1", "Secret", "secrets");
            let data = get_object(clients, context, &res, &ns, secret)
                .await
                .map_err(|e| format!("secretRef {secret}: {e}"))?
                .ok_or_else(|| format!("secretRef: Secret {ns}/{secret} not found"))?;
            credentials_from_secret_data(data.get("data").unwrap_or(&Value::Null), &name.registry)
                .map_err(|e| format!("secretRef {ns}/{secret}: {e}"))?
        }
    };
    let mut client = RegistryClient::new(
        name,
        RegistryOptions {
            insecure: spec.get("insecure").and_then(Value::as_bool) == Some(true),
            credentials,
            timeout: options.remote_timeout,
        },
    )
    .map_err(|e| e.to_string())?;
    let tags = client.list_tags().await.map_err(|e| e.to_string())?;
    out.listed_at = Some(now_rfc3339());
    Ok(filter_and_sort(tags, &exclusions))
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The ImageUpdateAutomations in the policy's namespace whose policySelector admits it.
async fn automations(
    clients: &Clients,
    context: &str,
    policy: &Value,
    latest: Option<&ImageRef>,
    options: &ImageOptions,
) -> Result<Vec<AutomationDecisions>, String> {
    let (namespace, name) = meta(policy);
    let res = Resource::of(clients, context, "ImageUpdateAutomation");
    let all = list_objects(clients, context, &res, Some(&namespace))
        .await
        .map_err(|e| e.to_string())?;
    let labels = policy.pointer("/metadata/labels");
    let selected: Vec<Value> = all
        .into_iter()
        .filter(|a| {
            label_selector_string(a.pointer("/spec/policySelector").unwrap_or(&Value::Null))
                .and_then(|s| LabelSelector::parse(&s))
                .is_ok_and(|sel| sel.matches_value(labels))
        })
        .collect();
    let key = format!("{namespace}:{name}");
    Ok(join_all(
        selected
            .iter()
            .map(|a| automation_section(clients, context, a, &key, latest, options)),
    )
    .await)
}

async fn automation_section(
    clients: &Clients,
    context: &str,
    automation: &Value,
    policy_key: &str,
    latest: Option<&ImageRef>,
    options: &ImageOptions,
) -> AutomationDecisions {
    let (namespace, name) = meta(automation);
    let source_kind = text(automation, "/spec/sourceRef/kind").unwrap_or("GitRepository");
    let source_name = text(automation, "/spec/sourceRef/name").unwrap_or_default();
    let source_ns = text(automation, "/spec/sourceRef/namespace").unwrap_or(&namespace);
    let mut out = AutomationDecisions {
        namespace: namespace.clone(),
        name: name.clone(),
        source: format!("{source_kind} {source_ns}/{source_name}"),
        update_path: text(automation, "/spec/update/path")
            .unwrap_or_default()
            .to_string(),
        last_push_commit: text(automation, "/status/lastPushCommit").map(str::to_string),
        last_push_time: text(automation, "/status/lastPushTime").map(str::to_string),
        last_run_time: text(automation, "/status/lastAutomationRunTime").map(str::to_string),
        ready: ConditionSummary::ready_of(automation),
        ..AutomationDecisions::default()
    };
    let result = async {
        let path = clean_path(&out.update_path)?;
        if source_kind != "GitRepository" || source_name.is_empty() {
            return Err(format!(
                "spec.sourceRef must name a GitRepository (got {source_kind} '{source_name}')"
            ));
        }
        let res = Resource::of(clients, context, "GitRepository");
        let source = get_object(clients, context, &res, source_ns, source_name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("GitRepository {source_ns}/{source_name} not found"))?;
        let (bytes, from) = read_artifact(context, &source, options).await?;
        let markers = markers_in_archive(&bytes, &path, policy_key, latest)?;
        Ok::<_, String>((from, markers))
    }
    .await;
    match result {
        Ok((from, markers)) => {
            out.content = Some(from);
            out.markers = markers;
        }
        Err(e) => out.content_error = Some(e),
    }
    out
}

/// `spec.update.path` relative to the repository root, without `./` and trailing `/`.
fn clean_path(path: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(format!(
                    "spec.update.path '{path}' must stay inside the repository"
                ));
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The artifact's bytes: from the local store under `data_dir` when this machine runs the
/// reconciler, else downloaded from `status.artifact.url`; checked against its digest.
async fn read_artifact(
    context: &str,
    source: &Value,
    options: &ImageOptions,
) -> Result<(Vec<u8>, String), String> {
    let (ns, name) = meta(source);
    let status = source.pointer("/status/artifact").unwrap_or(&Value::Null);
    let artifact = Artifact::from_status(status)
        .ok_or_else(|| format!("GitRepository {ns}/{name} has no artifact yet"))?;
    let mut local_note = String::new();
    if let Some(dir) = &options.data_dir {
        let store = SourceStorage::new(dir, context).artifact_store();
        if let Ok(path) = store.path_of(&artifact.path) {
            if path.is_file() {
                let bytes = read_file_limited(&path)?;
                artifact::verify_digest(&bytes, &artifact.digest, &path.display().to_string())?;
                return Ok((
                    bytes,
                    format!(
                        "artifact {} of GitRepository {ns}/{name} ({})",
                        artifact.revision,
                        path.display()
                    ),
                ));
            }
            local_note = format!(" (and it is not in {})", store.root().display());
        }
    }
    let url = status
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            format!("GitRepository {ns}/{name}: status.artifact.url is empty{local_note}")
        })?;
    let bytes = artifact::download(
        url,
        &artifact.digest,
        MAX_ARTIFACT_BYTES,
        options.remote_timeout,
    )
    .await
    .map_err(|e| format!("{e}{local_note}"))?;
    Ok((
        bytes,
        format!(
            "artifact {} of GitRepository {ns}/{name} ({url})",
            artifact.revision
        ),
    ))
}

fn read_file_limited(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_ARTIFACT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_ARTIFACT_BYTES {
        return Err(format!(
            "{} is larger than {} MiB",
            path.display(),
            MAX_ARTIFACT_BYTES >> 20
        ));
    }
    Ok(bytes)
}

/// The markers naming `policy_key` (`ns:name`) in the YAML files under `path` of a tar.gz archive,
/// with the value the latest ref gives each.
fn markers_in_archive(
    bytes: &[u8],
    path: &str,
    policy_key: &str,
    latest: Option<&ImageRef>,
) -> Result<Vec<MarkerRef>, String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = archive
        .entries()
        .map_err(|e| format!("the artifact is not a tar.gz archive: {e}"))?;
    let mut budget = MAX_ARTIFACT_BYTES;
    let mut markers = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading the artifact: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let Ok(raw) = entry.path().map(|p| p.to_string_lossy().into_owned()) else {
            continue;
        };
        let Ok(file) = clean_path(&raw) else {
            continue;
        };
        let under = path.is_empty() || file == path || file.starts_with(&format!("{path}/"));
        let base = file.rsplit('/').next().unwrap_or_default();
        let candidate =
            base.ends_with(".yaml") || base.ends_with(".yml") || base == "Kustomization";
        if !under || !candidate || file.split('/').any(|c| c == ".git") {
            continue;
        }
        let size = entry.header().size().unwrap_or(u64::MAX);
        if size > MAX_FILE_BYTES || size > budget {
            continue;
        }
        budget -= size;
        let mut content = String::new();
        if entry.take(size).read_to_string(&mut content).is_err() {
            // Not UTF-8: the automation skips such files too.
            continue;
        }
        if !content.contains("\"$imagepolicy\"") {
            continue;
        }
        for m in marked_values(&content) {
            let Some((key, field)) = parse_setter(&m.setter) else {
                continue;
            };
            if key != policy_key {
                continue;
            }
            let expected = latest.and_then(|l| match field {
                SetterField::Image => Some(l.image()),
                SetterField::Tag => Some(l.tag.clone()),
                SetterField::Name => Some(l.name.clone()),
                SetterField::Digest => (!l.digest.is_empty()).then(|| l.digest.clone()),
            });
            markers.push(MarkerRef {
                file: file.clone(),
                line: m.line,
                setter: m.setter,
                value: m.value,
                expected,
            });
        }
    }
    markers.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok(markers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, content) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, path, content.as_bytes())
                .expect("append");
        }
        builder.into_inner().expect("tar").finish().expect("gzip")
    }

    fn latest() -> ImageRef {
        ImageRef {
            name: "reg.local/web".into(),
            tag: "1.1.0".into(),
            digest: String::new(),
        }
    }

    #[test]
    fn markers_are_found_under_the_path_for_this_policy_only() {
        let web = "spec:\n  image: reg.local/web:1.0.0 # {\"$imagepolicy\": \"apps:web\"}\n  tag: \"1.1.0\" # {\"$imagepolicy\": \"apps:web:tag\"}\n  other: x:1 # {\"$imagepolicy\": \"apps:other\"}\n";
        let bytes = archive(&[
            ("./deploy/web.yaml", web),
            ("deploy/notes.txt", web),
            ("elsewhere/web.yaml", web),
            ("deploy/.git/x.yaml", web),
        ]);
        let markers =
            markers_in_archive(&bytes, "deploy", "apps:web", Some(&latest())).expect("scan");
        assert_eq!(markers.len(), 2, "{markers:?}");
        assert_eq!(
            (markers[0].file.as_str(), markers[0].line),
            ("deploy/web.yaml", 2)
        );
        assert_eq!(markers[0].value.as_deref(), Some("reg.local/web:1.0.0"));
        assert_eq!(markers[0].up_to_date(), Some(false));
        assert_eq!(markers[1].setter, "apps:web:tag");
        assert_eq!(markers[1].up_to_date(), Some(true));
        let everywhere = markers_in_archive(&bytes, "", "apps:web", None).expect("scan");
        assert_eq!(everywhere.len(), 4);
        assert_eq!(everywhere[0].expected, None);
    }

    #[test]
    fn garbage_archives_are_errors_not_panics() {
        for bytes in [&b""[..], b"not gzip at all", &[0x1f, 0x8b, 8, 0, 0, 0]] {
            let _ = markers_in_archive(bytes, "", "a:b", None);
        }
        assert!(markers_in_archive(b"plain", "", "a:b", None).is_err());
        let broken_yaml = archive(&[("a.yaml", "x: [ # {\"$imagepolicy\": \"a:b\"}\n\t- :")]);
        assert!(markers_in_archive(&broken_yaml, "", "a:b", None).is_ok());
    }

    #[test]
    fn update_paths_are_normalised_and_kept_inside() {
        assert_eq!(clean_path("./deploy/").as_deref(), Ok("deploy"));
        assert_eq!(clean_path(".").as_deref(), Ok(""));
        assert_eq!(clean_path("").as_deref(), Ok(""));
        assert!(clean_path("../x").is_err());
    }

    #[test]
    fn images_are_compared_by_canonical_repository_and_tag() {
        let a = split_image("docker.io/library/nginx:1.2").expect("parse");
        let b = split_image("nginx").expect("parse");
        assert_eq!(a.canonical, b.canonical);
        assert_eq!(a.tag.as_deref(), Some("1.2"));
        let c = split_image("127.0.0.1:5000/team/web:1.0.1@sha256:abc").expect("parse");
        assert_eq!(c.canonical, "127.0.0.1:5000/team/web");
        assert_eq!(c.digest.as_deref(), Some("sha256:abc"));
        let port_only = split_image("127.0.0.1:5000/team/web").expect("parse");
        assert_eq!(port_only.tag, None);
        for bad in ["", "UPPER/Case:1", "a:b:c", "@", ":"] {
            let _ = split_image(bad);
        }
        let latest = ImageRef {
            name: "x".into(),
            tag: "1.0.1".into(),
            digest: "sha256:abc".into(),
        };
        assert!(runs_latest(&c, &latest));
        assert!(!runs_latest(&a, &latest));
    }

    #[test]
    fn kinds_and_aliases() {
        assert_eq!(canonical_kind("ip"), Some("ImagePolicy"));
        assert_eq!(
            canonical_kind("imagerepositories.image.toolkit.fluxcd.io"),
            Some("ImageRepository")
        );
        assert_eq!(canonical_kind("Deployment"), Some("Deployment"));
        assert_eq!(canonical_kind("deploy"), Some("Deployment"));
        assert_eq!(canonical_kind("configmap"), None);
    }

    #[test]
    fn workload_images_cover_init_containers_and_cronjobs() {
        let deploy = serde_json::json!({"metadata": {"namespace": "a", "name": "d"},
            "spec": {"template": {"spec": {"initContainers": [{"name": "i", "image": "x:1"}],
                                           "containers": [{"name": "c", "image": "y:2"}, {"name": 3}]}}}});
        let found = workload_images("ctx", "Deployment", &deploy);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].container, "i (init)");
        let cron = serde_json::json!({"metadata": {"name": "c"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "j", "image": "z"}]}}}}}});
        assert_eq!(workload_images("ctx", "CronJob", &cron)[0].image, "z");
        assert!(workload_images("ctx", "Deployment", &serde_json::json!("garbage")).is_empty());
    }
}
