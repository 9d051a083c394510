//! The builtin transformers (namespace, prefix/suffix, labels, annotations, replicas, images) and the
//! field-spec tables they write through.

use super::BuildError;
use super::kustomization::{FieldSpec, ImageEntry, ReplicaEntry};
use super::resource::{Origin, Resource, ensure_map, split_api_version};
use super::target::{Accumulated, Builder, Loaded};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// A name-reference rule: objects of `kind` (group) are referred to from these field specs.
#[derive(Debug, Clone, PartialEq)]
pub struct NameRefRule {
    /// Referral group ("" core).
    pub group: String,
    /// Referral version ("" any).
    pub version: String,
    /// Referral kind.
    pub kind: String,
    /// Referrer field specs.
    pub referrers: Vec<FieldSpec>,
}

/// Field-spec tables (kustomize's `TransformerConfig`).
#[derive(Debug, Clone, Default)]
pub struct TransformerConfig {
    /// `commonLabels` (selectors included).
    pub common_labels: Vec<FieldSpec>,
    /// `templateLabels`.
    pub template_labels: Vec<FieldSpec>,
    /// `commonAnnotations`.
    pub common_annotations: Vec<FieldSpec>,
    /// `namespace`.
    pub namespace: Vec<FieldSpec>,
    /// `images`.
    pub images: Vec<FieldSpec>,
    /// `replicas`.
    pub replicas: Vec<FieldSpec>,
    /// `nameReference`.
    pub name_reference: Vec<NameRefRule>,
    /// `varReference`.
    pub var_reference: Vec<FieldSpec>,
}

fn fs(group: &str, version: &str, kind: &str, path: &str, create: bool) -> FieldSpec {
    FieldSpec {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        path: path.into(),
        create,
    }
}

const POD_TEMPLATE_KINDS: &[(&str, &str)] = &[
    ("", "ReplicationController"),
    ("", "Deployment"),
    ("", "ReplicaSet"),
    ("", "DaemonSet"),
    ("apps", "StatefulSet"),
    ("batch", "Job"),
];

impl TransformerConfig {
    /// kustomize's builtin tables.
    pub fn builtin() -> Self {
        let mut c = TransformerConfig::default();
        // templateLabels
        c.template_labels
            .push(fs("", "", "", "metadata/labels", true));
        for (g, k) in POD_TEMPLATE_KINDS {
            c.template_labels
                .push(fs(g, "", k, "spec/template/metadata/labels", true));
        }
        c.template_labels.push(fs(
            "apps",
            "",
            "StatefulSet",
            "spec/volumeClaimTemplates[]/metadata/labels",
            true,
        ));
        c.template_labels.push(fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/metadata/labels",
            true,
        ));
        c.template_labels.push(fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/template/metadata/labels",
            true,
        ));
        // commonLabels
        let cl = &mut c.common_labels;
        cl.push(fs("", "", "", "metadata/labels", true));
        cl.push(fs("", "v1", "Service", "spec/selector", true));
        cl.push(fs("", "v1", "ReplicationController", "spec/selector", true));
        cl.push(fs(
            "",
            "v1",
            "ReplicationController",
            "spec/template/metadata/labels",
            true,
        ));
        for k in ["Deployment", "ReplicaSet", "DaemonSet"] {
            cl.push(fs("", "", k, "spec/selector/matchLabels", true));
            cl.push(fs("", "", k, "spec/template/metadata/labels", true));
        }
        cl.push(fs(
            "apps",
            "",
            "StatefulSet",
            "spec/selector/matchLabels",
            true,
        ));
        cl.push(fs(
            "apps",
            "",
            "StatefulSet",
            "spec/template/metadata/labels",
            true,
        ));
        for k in ["Deployment", "StatefulSet"] {
            for aff in ["podAffinity", "podAntiAffinity"] {
                cl.push(fs(
                    "apps",
                    "",
                    k,
                    &format!("spec/template/spec/affinity/{aff}/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels"),
                    false,
                ));
                cl.push(fs(
                    "apps",
                    "",
                    k,
                    &format!("spec/template/spec/affinity/{aff}/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels"),
                    false,
                ));
            }
            cl.push(fs(
                "apps",
                "",
                k,
                "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
                false,
            ));
        }
        cl.push(fs(
            "apps",
            "",
            "StatefulSet",
            "spec/volumeClaimTemplates[]/metadata/labels",
            true,
        ));
        cl.push(fs("batch", "", "Job", "spec/selector/matchLabels", false));
        cl.push(fs(
            "batch",
            "",
            "Job",
            "spec/template/metadata/labels",
            true,
        ));
        cl.push(fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/selector/matchLabels",
            false,
        ));
        cl.push(fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/metadata/labels",
            true,
        ));
        cl.push(fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/template/metadata/labels",
            true,
        ));
        cl.push(fs(
            "policy",
            "",
            "PodDisruptionBudget",
            "spec/selector/matchLabels",
            false,
        ));
        cl.push(fs(
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/podSelector/matchLabels",
            false,
        ));
        cl.push(fs(
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/ingress/from/podSelector/matchLabels",
            false,
        ));
        cl.push(fs(
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/egress/to/podSelector/matchLabels",
            false,
        ));
        // commonAnnotations
        c.common_annotations
            .push(fs("", "", "", "metadata/annotations", true));
        for (g, k) in POD_TEMPLATE_KINDS {
            c.common_annotations
                .push(fs(g, "", k, "spec/template/metadata/annotations", true));
        }
        c.common_annotations.push(fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/metadata/annotations",
            true,
        ));
        c.common_annotations.push(fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/template/metadata/annotations",
            true,
        ));
        // namespace
        c.namespace.push(fs("", "", "", "metadata/namespace", true));
        c.namespace.push(fs(
            "apiregistration.k8s.io",
            "",
            "APIService",
            "spec/service/namespace",
            false,
        ));
        c.namespace.push(fs(
            "apiextensions.k8s.io",
            "",
            "CustomResourceDefinition",
            "spec/conversion/webhook/clientConfig/service/namespace",
            false,
        ));
        // images
        for p in [
            "spec/containers[]/image",
            "spec/initContainers[]/image",
            "spec/template/spec/containers[]/image",
            "spec/template/spec/initContainers[]/image",
        ] {
            c.images.push(fs("", "", "", p, false));
        }
        // replicas
        for k in [
            "Deployment",
            "ReplicationController",
            "ReplicaSet",
            "StatefulSet",
        ] {
            c.replicas.push(fs("", "", k, "spec/replicas", true));
        }
        c.name_reference = super::nameref::builtin_rules();
        c.var_reference = super::vars::builtin_var_reference();
        c
    }

    /// Merges another config (deduplicating).
    pub fn merge(&mut self, other: TransformerConfig) {
        fn add(dst: &mut Vec<FieldSpec>, src: Vec<FieldSpec>) {
            for f in src {
                if !dst.contains(&f) {
                    dst.push(f);
                }
            }
        }
        add(&mut self.common_labels, other.common_labels);
        add(&mut self.template_labels, other.template_labels);
        add(&mut self.common_annotations, other.common_annotations);
        add(&mut self.namespace, other.namespace);
        add(&mut self.images, other.images);
        add(&mut self.replicas, other.replicas);
        add(&mut self.var_reference, other.var_reference);
        for rule in other.name_reference {
            self.add_name_rule(rule);
        }
    }

    fn add_name_rule(&mut self, rule: NameRefRule) {
        if let Some(existing) = self
            .name_reference
            .iter_mut()
            .find(|r| r.kind == rule.kind && r.group == rule.group && r.version == rule.version)
        {
            for f in rule.referrers {
                if !existing.referrers.contains(&f) {
                    existing.referrers.push(f);
                }
            }
        } else {
            self.name_reference.push(rule);
        }
    }

    /// Merges one `configurations:` document.
    pub fn merge_document(&mut self, doc: &Value) -> Result<(), String> {
        let Value::Object(map) = doc else {
            return Err("a configurations file must hold a mapping".into());
        };
        for (key, value) in map {
            let Value::Array(items) = value else {
                return Err(format!("configurations: {key} must be a list"));
            };
            if key == "nameReference" {
                for item in items {
                    let Value::Object(m) = item else {
                        return Err("nameReference entries must be mappings".into());
                    };
                    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    let (group, version) = match m.get("apiVersion").and_then(Value::as_str) {
                        Some(av) => split_api_version(av),
                        None => (s("group"), s("version")),
                    };
                    let referrers = match m.get("fieldSpecs") {
                        Some(Value::Array(f)) => f
                            .iter()
                            .map(super::kustomization::field_spec)
                            .collect::<Result<Vec<_>, _>>()?,
                        _ => Vec::new(),
                    };
                    self.add_name_rule(NameRefRule {
                        group,
                        version,
                        kind: s("kind"),
                        referrers,
                    });
                }
                continue;
            }
            let specs = items
                .iter()
                .map(super::kustomization::field_spec)
                .collect::<Result<Vec<_>, _>>()?;
            let dst = match key.as_str() {
                "commonLabels" => &mut self.common_labels,
                "templateLabels" => &mut self.template_labels,
                "commonAnnotations" => &mut self.common_annotations,
                "namespace" => &mut self.namespace,
                "images" => &mut self.images,
                "replicas" => &mut self.replicas,
                "varReference" => &mut self.var_reference,
                "namePrefix" | "nameSuffix" => continue,
                other => return Err(format!("unknown configurations field {other:?}")),
            };
            for f in specs {
                if !dst.contains(&f) {
                    dst.push(f);
                }
            }
        }
        Ok(())
    }
}

/// Whether a field spec applies to an object.
pub fn spec_selects(spec: &FieldSpec, r: &Resource) -> bool {
    Gvk::of(r).selected_by(spec)
}

/// An object's group, version and kind, looked up once for matching against many field specs
/// (each lookup is a map search; nameref and the label transformer test dozens of specs per object).
#[derive(Debug, Clone, Copy)]
pub struct Gvk<'r> {
    group: &'r str,
    version: &'r str,
    kind: &'r str,
}

impl<'r> Gvk<'r> {
    /// The GVK of `r`.
    pub fn of(r: &'r Resource) -> Self {
        let api_version = r.api_version();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Gvk {
            group,
            version,
            kind: r.kind(),
        }
    }

    /// Whether `spec` applies to objects of this GVK (empty spec fields match anything).
    pub fn selected_by(&self, spec: &FieldSpec) -> bool {
        (spec.kind.is_empty() || spec.kind == self.kind)
            && (spec.group.is_empty() || spec.group == self.group)
            && (spec.version.is_empty() || spec.version == self.version)
    }
}

/// Splits a field-spec path into segments (`\/` escapes a slash). A `[]` marker stays on its
/// segment: [`visit`] never creates a list field that is missing (kustomize's `isSequenceField`).
pub fn path_segments(path: &str) -> Vec<String> {
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => segs.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    segs.push(cur);
    segs.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Calls `f` on every value at `segs` below `v` (lists are traversed), creating missing maps when
/// `create` (the leaf is created as null for `f` to fill).
pub fn visit(v: &mut Value, segs: &[String], create: bool, f: &mut dyn FnMut(&mut Value)) {
    if let Value::Array(items) = v {
        for item in items {
            visit(item, segs, create, f);
        }
        return;
    }
    let Some((first, rest)) = segs.split_first() else {
        f(v);
        return;
    };
    // `[name=value]` selects list elements (replacement-style paths in fieldSpecs are rare).
    let Value::Object(map) = v else { return };
    let (first, is_list) = match first.strip_suffix("[]") {
        Some(name) => (name, true),
        None => (first.as_str(), false),
    };
    if !map.contains_key(first) {
        if !create || is_list {
            return;
        }
        let fresh = if rest.is_empty() {
            Value::Null
        } else {
            Value::Object(Map::new())
        };
        map.insert(first.to_string(), fresh);
    }
    if let Some(next) = map.get_mut(first) {
        if next.is_null() && !rest.is_empty() {
            if !create || is_list {
                return;
            }
            *next = Value::Object(Map::new());
        }
        visit(next, rest, create, f);
    }
}

/// Field specs with their paths split once, for transformers that apply the same specs to every
/// object.
pub fn compile_specs(specs: &[FieldSpec]) -> Vec<(&FieldSpec, Vec<String>)> {
    specs.iter().map(|s| (s, path_segments(&s.path))).collect()
}

/// [`apply_specs`] with compiled specs.
pub fn apply_compiled_specs(
    r: &mut Resource,
    specs: &[(&FieldSpec, Vec<String>)],
    f: &mut dyn FnMut(&mut Value),
) {
    let gvk = Gvk::of(r);
    let selected: Vec<&(&FieldSpec, Vec<String>)> =
        specs.iter().filter(|(s, _)| gvk.selected_by(s)).collect();
    for (spec, segs) in selected {
        visit(&mut r.obj, segs, spec.create, f);
    }
}

/// Applies `f` through every field spec of `specs` selecting `r`.
pub fn apply_specs(r: &mut Resource, specs: &[FieldSpec], f: &mut dyn FnMut(&mut Value)) {
    let gvk = Gvk::of(r);
    let selected: Vec<&FieldSpec> = specs.iter().filter(|s| gvk.selected_by(s)).collect();
    for spec in selected {
        let segs = path_segments(&spec.path);
        visit(&mut r.obj, &segs, spec.create, f);
    }
}

/// The namespace transformer.
pub fn namespace(
    list: &mut [Resource],
    ns: &str,
    config: &TransformerConfig,
    unset_only: bool,
    subjects: SubjectMode,
) -> Result<(), String> {
    for r in list.iter_mut() {
        let id = r.id();
        let cluster = id.is_cluster_scoped();
        r.store_previous_id();
        for spec in config
            .namespace
            .iter()
            .filter(|s| spec_selects(s, r))
            .cloned()
            .collect::<Vec<_>>()
        {
            if spec.path == "metadata/namespace" {
                if cluster {
                    continue;
                }
                if unset_only && !r.namespace().is_empty() {
                    continue;
                }
                r.set_namespace(ns);
                continue;
            }
            let segs = path_segments(&spec.path);
            visit(&mut r.obj, &segs, spec.create, &mut |v| {
                if !unset_only || v.as_str().is_none_or(str::is_empty) {
                    *v = Value::String(ns.to_string());
                }
            });
        }
        if r.kind() == "Namespace" && r.api_version() == "v1" && !unset_only {
            r.set_name(ns);
        }
        if matches!(r.kind(), "RoleBinding" | "ClusterRoleBinding")
            && subjects != SubjectMode::None
            && let Some(Value::Array(items)) = ensure_map(&mut r.obj).get_mut("subjects")
        {
            for s in items {
                let Value::Object(m) = s else { continue };
                // kustomize's default mode looks only at the name, whatever the subject's kind.
                let selected = match subjects {
                    SubjectMode::DefaultOnly => {
                        m.get("name").and_then(Value::as_str) == Some("default")
                    }
                    SubjectMode::AllServiceAccounts => {
                        m.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                    }
                    SubjectMode::None => false,
                };
                let empty = m
                    .get("namespace")
                    .is_none_or(|v| v.as_str().is_some_and(str::is_empty));
                if selected && (!unset_only || empty) {
                    m.insert("namespace".into(), Value::String(ns.to_string()));
                }
            }
        }
    }
    if let Some(id) = super::resource::first_duplicate_id(list) {
        return Err(format!(
            "namespace transformation produces ID conflict: {}",
            id.describe()
        ));
    }
    Ok(())
}

/// Which RoleBinding/ClusterRoleBinding subjects the namespace transformer moves
/// (`setRoleBindingSubjects` of kustomize's builtin `NamespaceTransformer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectMode {
    /// Subjects named `default`, of any kind (`defaultOnly`, the default).
    #[default]
    DefaultOnly,
    /// Every ServiceAccount subject (`allServiceAccounts`).
    AllServiceAccounts,
    /// None (`none`).
    None,
}

impl SubjectMode {
    /// Parses a `setRoleBindingSubjects` value with kustomize's error wording.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "" | "defaultOnly" => Ok(SubjectMode::DefaultOnly),
            "allServiceAccounts" => Ok(SubjectMode::AllServiceAccounts),
            "none" => Ok(SubjectMode::None),
            other => Err(format!(
                "invalid value \"{other}\" for setRoleBindingSubjects: must be one of \"defaultOnly\", \"none\" or \"allServiceAccounts\""
            )),
        }
    }
}

/// Whether prefix/suffix skips this object.
fn skips_prefix(r: &Resource) -> bool {
    matches!(r.kind(), "Namespace" | "CustomResourceDefinition")
        || (r.kind() == "APIService" && r.group() == "apiregistration.k8s.io")
}

/// The prefix/suffix transformer.
pub fn prefix_suffix(
    list: &mut [Resource],
    prefix: &str,
    suffix: &str,
    _config: &TransformerConfig,
) {
    for r in list.iter_mut() {
        if skips_prefix(r) {
            continue;
        }
        r.store_previous_id();
        let name = format!("{prefix}{}{suffix}", r.name());
        r.set_name(&name);
        if !prefix.is_empty() {
            r.prefixes.push(prefix.to_string());
        }
        if !suffix.is_empty() {
            r.suffixes.push(suffix.to_string());
        }
    }
}

fn set_pairs(v: &mut Value, pairs: &BTreeMap<String, String>) {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    if let Value::Object(m) = v {
        for (k, val) in pairs {
            m.insert(k.clone(), Value::String(val.clone()));
        }
    }
}

/// A `labels` entry or `commonLabels`.
pub fn labels(
    list: &mut [Resource],
    pairs: &BTreeMap<String, String>,
    include_selectors: bool,
    include_templates: bool,
    extra: &[FieldSpec],
    config: &TransformerConfig,
) {
    let mut specs: Vec<FieldSpec> = if include_selectors {
        config.common_labels.clone()
    } else {
        let mut s = vec![fs("", "", "", "metadata/labels", true)];
        if include_templates {
            s.extend(config.template_labels.iter().cloned());
        }
        s
    };
    specs.extend(extra.iter().cloned());
    let specs = compile_specs(&specs);
    for r in list.iter_mut() {
        apply_compiled_specs(r, &specs, &mut |v| set_pairs(v, pairs));
    }
}

/// `commonAnnotations`.
pub fn annotations(
    list: &mut [Resource],
    pairs: &BTreeMap<String, String>,
    config: &TransformerConfig,
) {
    let specs = compile_specs(&config.common_annotations);
    for r in list.iter_mut() {
        apply_compiled_specs(r, &specs, &mut |v| set_pairs(v, pairs));
    }
}

/// A `replicas` entry; matching nothing is an error.
pub fn replicas(
    list: &mut [Resource],
    entry: &ReplicaEntry,
    config: &TransformerConfig,
) -> Result<(), String> {
    let mut found = false;
    for r in list.iter_mut() {
        if !r.has_name_history(&entry.name) {
            continue;
        }
        let specs: Vec<FieldSpec> = config
            .replicas
            .iter()
            .filter(|s| spec_selects(s, r))
            .cloned()
            .collect();
        if specs.is_empty() {
            continue;
        }
        found = true;
        apply_specs(r, &specs, &mut |v| *v = Value::from(entry.count));
    }
    if !found {
        let kinds: Vec<String> = config
            .replicas
            .iter()
            .map(|s| format!("{}.{}.{}", s.kind, s.version, s.group))
            .collect();
        return Err(format!(
            "resource with name {} does not match a config with the following GVK [{}]",
            entry.name,
            kinds.join(" ")
        ));
    }
    Ok(())
}

/// Splits an image reference into name, tag and digest (a `:` before the first `/` is a port).
fn split_image(image: &str) -> (String, String, String) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, d.to_string()),
        None => (image, String::new()),
    };
    let search_from = rest.find('/').unwrap_or(0);
    match rest[search_from..].rfind(':') {
        Some(i) => {
            let i = search_from + i;
            (rest[..i].to_string(), rest[i + 1..].to_string(), digest)
        }
        None => (rest.to_string(), String::new(), digest),
    }
}

fn image_matches(image: &str, name: &str) -> bool {
    let Some(rest) = image.strip_prefix(name) else {
        return false;
    };
    let tag_ok = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '{' | '}' | '-'))
    };
    let (tag_part, digest_part) = match rest.find('@') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let tag_valid = tag_part.is_empty() || (tag_part.starts_with(':') && tag_ok(&tag_part[1..]));
    let digest_valid = match digest_part {
        None => true,
        Some(d) => d.strip_prefix("@sha256:").is_some_and(tag_ok),
    };
    tag_valid && digest_valid
}

fn rewrite_image(image: &str, e: &ImageEntry) -> Option<String> {
    if !image_matches(image, &e.name) {
        return None;
    }
    let (name, tag, digest) = split_image(image);
    let name = if e.new_name.is_empty() {
        name
    } else {
        e.new_name.clone()
    };
    let (tag, digest) = match (e.new_tag.is_empty(), e.digest.is_empty()) {
        (false, false) => (e.new_tag.clone(), e.digest.clone()),
        (false, true) => (e.new_tag.clone(), String::new()),
        (true, false) => (String::new(), e.digest.clone()),
        (true, true) => (tag, digest),
    };
    let mut out = name;
    if !tag.is_empty() {
        out.push(':');
        out.push_str(&tag);
    }
    if !digest.is_empty() {
        out.push('@');
        out.push_str(&digest);
    }
    Some(out)
}

fn rewrite_containers_anywhere(v: &mut Value, e: &ImageEntry, depth: usize) {
    if depth > 200 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if (k == "containers" || k == "initContainers")
                    && let Value::Array(items) = child
                {
                    for item in items.iter_mut() {
                        if let Some(Value::String(img)) = item.get_mut("image")
                            && let Some(new) = rewrite_image(img, e)
                        {
                            *img = new;
                        }
                    }
                }
                rewrite_containers_anywhere(child, e, depth + 1);
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite_containers_anywhere(item, e, depth + 1);
            }
        }
        _ => {}
    }
}

/// An `images` entry.
pub fn images(list: &mut [Resource], e: &ImageEntry, config: &TransformerConfig) {
    for r in list.iter_mut() {
        if r.kind() != "CustomResourceDefinition" {
            rewrite_containers_anywhere(&mut r.obj, e, 0);
        }
        apply_specs(r, &config.images, &mut |v| {
            if let Value::String(img) = v
                && let Some(new) = rewrite_image(img, e)
            {
                *img = new;
            }
        });
    }
}

/// The `transformers:` list (builtin plugin configs).
pub fn custom(b: &mut Builder<'_>, l: &Loaded, acc: &mut Accumulated) -> Result<(), BuildError> {
    super::plugins::run_transformers(b, l, acc)
}

/// `buildMetadata` of the top kustomization (in `root`): `managedByLabel` and `originAnnotations`.
/// kustomize only honours the top level's options, so nested ones are ignored here.
pub fn build_metadata(list: &mut [Resource], options: &[String], root: &Path) {
    let origins = options.iter().any(|o| o == "originAnnotations");
    let managed = options.iter().any(|o| o == "managedByLabel");
    let transformations = options.iter().any(|o| o == "transformerAnnotations");
    for r in list.iter_mut() {
        let origin = if origins {
            r.origin.as_ref().map(|o| origin_annotation(o, root))
        } else {
            None
        };
        let applied = if transformations && !r.transformations.is_empty() {
            Some(transformations_annotation(&r.transformations, root))
        } else {
            None
        };
        let md = r.metadata_mut();
        if let Some(text) = applied {
            let annotations = ensure_map(md.entry("annotations").or_insert(Value::Null));
            annotations.insert(
                "alpha.config.kubernetes.io/transformations".into(),
                Value::String(text),
            );
        }
        if managed {
            let labels = ensure_map(md.entry("labels").or_insert(Value::Null));
            labels.insert(
                "app.kubernetes.io/managed-by".into(),
                Value::String("kustomize-v5.5.0".into()),
            );
        }
        if let Some(text) = origin {
            let annotations = ensure_map(md.entry("annotations").or_insert(Value::Null));
            annotations.insert("config.kubernetes.io/origin".into(), Value::String(text));
        }
    }
}

/// The `config.kubernetes.io/origin` value: a small YAML document, paths relative to `root`.
fn origin_annotation(origin: &Origin, root: &Path) -> String {
    match origin {
        Origin::File(path) => format!("path: {}\n", yaml_plain(&relative_path(root, path))),
        Origin::Generator {
            kustomization,
            kind,
        } => format!(
            "configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n",
            yaml_plain(&relative_path(root, kustomization))
        ),
    }
}

/// The `alpha.config.kubernetes.io/transformations` value: a YAML list of transformer origins.
fn transformations_annotation(list: &[(std::path::PathBuf, &'static str)], root: &Path) -> String {
    let mut out = String::new();
    for (file, kind) in list {
        out.push_str(&format!(
            "- configuredIn: {}\n  configuredBy:\n    apiVersion: builtin\n    kind: {kind}\n",
            yaml_plain(&relative_path(root, file))
        ));
    }
    out
}

/// `path` relative to the directory `base`, with `..` steps where it lies outside.
fn relative_path(base: &Path, path: &Path) -> String {
    let b: Vec<_> = base.components().collect();
    let p: Vec<_> = path.components().collect();
    let common = b.iter().zip(&p).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); b.len() - common];
    parts.extend(
        p[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// A path as a YAML scalar: plain when that reads back as the same string, else double-quoted.
fn yaml_plain(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '_' | '-' | ' '))
        && !s.starts_with(['-', ' '])
        && !s.ends_with(' ')
        && s.parse::<f64>().is_err()
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, new_name: &str, tag: &str, digest: &str) -> ImageEntry {
        ImageEntry {
            name: name.into(),
            new_name: new_name.into(),
            new_tag: tag.into(),
            digest: digest.into(),
        }
    }

    #[test]
    fn relative_paths_step_out_of_the_root() {
        let root = Path::new("/r/overlay");
        assert_eq!(
            relative_path(root, Path::new("/r/overlay/o.yaml")),
            "o.yaml"
        );
        assert_eq!(
            relative_path(root, Path::new("/r/base/sub/s.yaml")),
            "../base/sub/s.yaml"
        );
    }

    #[test]
    fn origin_annotation_text_matches_kustomize() {
        let root = Path::new("/r");
        let file = origin_annotation(&Origin::File("/r/a b.yaml".into()), root);
        assert_eq!(file, "path: a b.yaml\n");
        let generated = origin_annotation(
            &Origin::Generator {
                kustomization: "/r/base/kustomization.yaml".into(),
                kind: "SecretGenerator",
            },
            root,
        );
        assert_eq!(
            generated,
            "configuredIn: base/kustomization.yaml\nconfiguredBy:\n  apiVersion: builtin\n  kind: SecretGenerator\n"
        );
        assert_eq!(yaml_plain("true"), "\"true\"");
        assert_eq!(yaml_plain("1.5"), "\"1.5\"");
    }

    #[test]
    fn build_metadata_adds_origin_only_when_asked() {
        let mut list = vec![Resource::new(
            serde_json::json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}),
        )];
        list[0].origin = Some(Origin::File("/r/c.yaml".into()));
        build_metadata(&mut list, &["managedByLabel".into()], Path::new("/r"));
        assert!(list[0].obj["metadata"].get("annotations").is_none());
        build_metadata(&mut list, &["originAnnotations".into()], Path::new("/r"));
        assert_eq!(
            list[0].obj["metadata"]["annotations"]["config.kubernetes.io/origin"],
            "path: c.yaml\n"
        );
    }

    #[test]
    fn image_rewrites() {
        assert_eq!(
            rewrite_image("nginx", &e("nginx", "", "1.25", "")).as_deref(),
            Some("nginx:1.25")
        );
        assert_eq!(
            rewrite_image("nginx:1.0@sha256:ab", &e("nginx", "", "1.25", "")).as_deref(),
            Some("nginx:1.25")
        );
        assert_eq!(
            rewrite_image("nginx:1.0", &e("nginx", "", "", "sha256:cd")).as_deref(),
            Some("nginx@sha256:cd")
        );
        assert_eq!(
            rewrite_image("reg:5000/app:1", &e("reg:5000/app", "other/app", "", "")).as_deref(),
            Some("other/app:1")
        );
        assert_eq!(
            rewrite_image("nginx-ingress", &e("nginx", "", "1", "")),
            None
        );
        assert_eq!(
            rewrite_image("docker.io/library/nginx", &e("nginx", "", "1", "")),
            None
        );
    }

    #[test]
    fn path_segments_handle_escapes_and_lists() {
        assert_eq!(
            path_segments("spec/containers[]/image"),
            vec!["spec", "containers[]", "image"]
        );
        assert_eq!(
            path_segments("metadata/annotations/a.io\\/b"),
            vec!["metadata", "annotations", "a.io/b"]
        );
    }
}
