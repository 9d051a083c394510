//! Objects in flight: the JSON object plus kustomize's bookkeeping (original id, previous names,
//! prefix/suffix history, generator options).

use serde_json::{Map, Value};

/// Group, version, kind, namespace and name of an object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResId {
    /// API group ("" = core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace as written ("" = none).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ResId {
    /// Namespace for comparisons: empty means `default`.
    pub fn effective_namespace(&self) -> &str {
        if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    /// kustomize's `ResId.Equals`: same GVK and name, namespaces equal with `""` = `default`.
    pub fn same_as(&self, other: &ResId) -> bool {
        self.group == other.group
            && self.version == other.version
            && self.kind == other.kind
            && self.name == other.name
            && self.effective_namespace() == other.effective_namespace()
    }

    /// A human-readable id for messages, in kustomize's `Kind.version.group/name.namespace` form.
    pub fn describe(&self) -> String {
        let or = |v: &str, empty: &'static str| {
            if v.is_empty() {
                empty.to_string()
            } else {
                v.to_string()
            }
        };
        format!(
            "{}.{}.{}/{}.{}",
            self.kind,
            or(&self.version, "[noVer]"),
            or(&self.group, "[noGrp]"),
            self.name,
            or(&self.namespace, "[noNs]")
        )
    }

    /// Whether this id's kind is cluster-scoped in kustomize's built-in schema.
    pub fn is_cluster_scoped(&self) -> bool {
        is_cluster_scoped(&self.group, &self.kind)
    }
}

/// A `ResId` with its namespace made effective, so that equal keys are exactly the ids that
/// `ResId::same_as` considers equal; lets duplicate checks use a hash set instead of a scan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdKey {
    group: String,
    version: String,
    kind: String,
    namespace: String,
    name: String,
}

impl IdKey {
    /// Key of `id`, reusing its strings.
    pub fn from_id(id: ResId) -> Self {
        let namespace = if id.namespace.is_empty() {
            "default".to_string()
        } else {
            id.namespace
        };
        IdKey {
            group: id.group,
            version: id.version,
            kind: id.kind,
            namespace,
            name: id.name,
        }
    }

    /// Key of `id`.
    pub fn of(id: &ResId) -> Self {
        IdKey {
            group: id.group.clone(),
            version: id.version.clone(),
            kind: id.kind.clone(),
            namespace: id.effective_namespace().to_string(),
            name: id.name.clone(),
        }
    }
}

/// The id of the first object (in list order) whose id another object shares, counted with a hash
/// map so the check is linear in the list length.
pub fn first_duplicate_id(list: &[Resource]) -> Option<ResId> {
    let ids: Vec<ResId> = list.iter().map(Resource::id).collect();
    let mut count: std::collections::HashMap<IdKey, usize> = std::collections::HashMap::new();
    for id in &ids {
        *count.entry(IdKey::of(id)).or_default() += 1;
    }
    ids.into_iter()
        .find(|id| count.get(&IdKey::of(id)).is_some_and(|&n| n > 1))
}

/// Cluster-scoped kinds of the built-in Kubernetes 1.21 schema (unknown kinds count as namespaced).
pub fn is_cluster_scoped(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        (
            "",
            "Namespace" | "Node" | "PersistentVolume" | "ComponentStatus"
        ) | (
            "storage.k8s.io",
            "StorageClass" | "CSIDriver" | "CSINode" | "VolumeAttachment"
        ) | ("scheduling.k8s.io", "PriorityClass")
            | (
                "rbac.authorization.k8s.io",
                "ClusterRole" | "ClusterRoleBinding"
            )
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
            | (
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration"
            )
            | ("networking.k8s.io", "IngressClass")
            | ("node.k8s.io", "RuntimeClass")
            | ("policy", "PodSecurityPolicy")
            | ("certificates.k8s.io", "CertificateSigningRequest")
            | (
                "flowcontrol.apiserver.k8s.io",
                "FlowSchema" | "PriorityLevelConfiguration"
            )
            | ("authentication.k8s.io", "TokenReview")
            | (
                "authorization.k8s.io",
                "SelfSubjectAccessReview" | "SelfSubjectRulesReview" | "SubjectAccessReview"
            )
    )
}

/// How a generated object was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// Append a content hash to the name at the end of the build.
    pub hash: bool,
    /// create / merge / replace.
    pub behavior: String,
}

/// One object with its build history.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The object.
    pub obj: Value,
    /// Ids this object had before renames (oldest first).
    pub prev_ids: Vec<ResId>,
    /// Name prefixes applied (innermost first).
    pub prefixes: Vec<String>,
    /// Name suffixes applied (innermost first).
    pub suffixes: Vec<String>,
    /// Set for generator output.
    pub generated: Option<Generated>,
    /// Where the object came from, for `buildMetadata: [originAnnotations]`.
    pub origin: Option<Origin>,
    /// Builtin transformers run over it (kustomization file, transformer kind), oldest first, for
    /// `buildMetadata: [transformerAnnotations]`.
    pub transformations: Vec<(std::path::PathBuf, &'static str)>,
}

/// Source of an object (absolute paths; made relative to the top kustomization at the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Read from this resource file.
    File(std::path::PathBuf),
    /// Made by a builtin generator configured in this kustomization file.
    Generator {
        /// The kustomization file holding the generator entry.
        kustomization: std::path::PathBuf,
        /// Builtin generator kind (`ConfigMapGenerator` / `SecretGenerator`).
        kind: &'static str,
    },
}

/// Splits `apiVersion` into group and version.
pub fn split_api_version(api_version: &str) -> (String, String) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

impl Resource {
    /// Wraps a loaded object.
    pub fn new(obj: Value) -> Self {
        Resource {
            obj,
            prev_ids: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            generated: None,
            origin: None,
            transformations: Vec::new(),
        }
    }

    /// Current id.
    pub fn id(&self) -> ResId {
        let (group, version) = split_api_version(self.api_version());
        ResId {
            group,
            version,
            kind: self.kind().to_string(),
            namespace: self.namespace().to_string(),
            name: self.name().to_string(),
        }
    }

    /// Whether the current id equals `id` in `ResId::same_as` terms, without building a `ResId`.
    pub fn id_same_as(&self, id: &ResId) -> bool {
        let (group, version) = match self.api_version().rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", self.api_version()),
        };
        let ns = match self.namespace() {
            "" => "default",
            ns => ns,
        };
        group == id.group
            && version == id.version
            && self.kind() == id.kind
            && self.name() == id.name
            && ns == id.effective_namespace()
    }

    /// Hashable form of the current id under `ResId::same_as` (namespace `""` counts as `default`).
    pub fn id_key(&self) -> IdKey {
        IdKey::from_id(self.id())
    }

    /// Id as first loaded.
    pub fn orig_id(&self) -> ResId {
        self.prev_ids.first().cloned().unwrap_or_else(|| self.id())
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        str_at(&self.obj, &["apiVersion"])
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        str_at(&self.obj, &["kind"])
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        str_at(&self.obj, &["metadata", "name"])
    }

    /// `metadata.namespace`.
    pub fn namespace(&self) -> &str {
        str_at(&self.obj, &["metadata", "namespace"])
    }

    /// Group of the current apiVersion.
    pub fn group(&self) -> String {
        split_api_version(self.api_version()).0
    }

    /// `metadata` as a mutable map, created if missing.
    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let obj = ensure_map(&mut self.obj);
        ensure_map(obj.entry("metadata").or_insert(Value::Null))
    }

    /// Records the current id as a previous id (before a rename).
    pub fn store_previous_id(&mut self) {
        let id = self.id();
        self.prev_ids.push(id);
    }

    /// Sets `metadata.name`.
    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name".into(), Value::String(name.to_string()));
    }

    /// Sets `metadata.namespace`.
    pub fn set_namespace(&mut self, ns: &str) {
        self.metadata_mut()
            .insert("namespace".into(), Value::String(ns.to_string()));
    }

    /// Labels (`metadata.labels`) as string pairs.
    pub fn labels(&self) -> Map<String, Value> {
        self.obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// Annotations (`metadata.annotations`).
    pub fn annotations(&self) -> Map<String, Value> {
        self.obj
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// Whether the object carries `config.kubernetes.io/local-config: "true"`.
    pub fn is_local_config(&self) -> bool {
        self.annotations()
            .get("config.kubernetes.io/local-config")
            .and_then(Value::as_str)
            == Some("true")
    }

    /// Whether any of the current or previous names equals `name`.
    pub fn has_name_history(&self, name: &str) -> bool {
        self.name() == name || self.prev_ids.iter().any(|p| p.name == name)
    }
}

/// Turns `v` into a map if it is not one and returns it.
pub fn ensure_map(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        // Infallible: `v` was made an object just above.
        _ => unreachable!("value was just made an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str, ns: Option<&str>) -> Resource {
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        if let Some(ns) = ns {
            obj["metadata"]["namespace"] = json!(ns);
        }
        Resource::new(obj)
    }

    #[test]
    fn first_duplicate_id_is_the_first_in_list_order_and_treats_empty_as_default() {
        let list = vec![
            cm("a", None),
            cm("b", Some("x")),
            cm("c", None),
            cm("b", Some("x")),
            cm("a", Some("default")),
        ];
        let dup = first_duplicate_id(&list).map(|id| id.describe());
        assert_eq!(dup.as_deref(), Some("ConfigMap.v1.[noGrp]/a.[noNs]"));
        assert!(first_duplicate_id(&list[1..3]).is_none());
        let dup = first_duplicate_id(&list[1..4]).map(|id| id.describe());
        assert_eq!(dup.as_deref(), Some("ConfigMap.v1.[noGrp]/b.x"));
    }

    #[test]
    fn id_same_as_and_id_key_agree_with_res_id_same_as() {
        let pairs = [
            (cm("a", None), cm("a", Some("default"))),
            (cm("a", None), cm("a", Some("other"))),
            (cm("a", Some("x")), cm("b", Some("x"))),
        ];
        for (a, b) in &pairs {
            let expected = a.id().same_as(&b.id());
            assert_eq!(a.id_same_as(&b.id()), expected);
            assert_eq!(a.id_key() == b.id_key(), expected);
        }
    }
}
