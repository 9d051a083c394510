//! Health trees: a Kustomization (with its source, its inventory grouped by kind, each object's
//! kstatus, nested Kustomizations expanded) or an Argo CD Application (from `status.resources`), as
//! pure data built from already-fetched objects, plus the root cause, the path to the first
//! unhealthy leaf and a `flux tree`-style text renderer.
//!
//! Nothing here does I/O: callers fetch the objects into an [`ObjectIndex`] (see
//! [`kustomization_refs`] for what a Kustomization needs) and build the tree from it.

use super::conditions::field::{at, group, kind, str_at};
use super::health::{DetailedStatus, Health, assess_at};
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Deepest nesting of Kustomizations expanded (guards against absurd or cyclic inventories).
pub const MAX_NESTING: usize = 32;

/// The identity of an object: group, kind, namespace, name (version kept for fetching only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ObjectRef {
    /// API group, empty for the core group.
    pub group: String,
    /// API version (`v1`), empty when unknown.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// The identity of an object value (missing fields read as empty).
    pub fn of(obj: &Value) -> ObjectRef {
        let version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .map(|av| av.rsplit_once('/').map_or(av, |(_, v)| v))
            .unwrap_or("");
        ObjectRef {
            group: group(obj).to_string(),
            version: version.to_string(),
            kind: kind(obj).to_string(),
            namespace: str_at(obj, &["metadata", "namespace"])
                .unwrap_or("")
                .to_string(),
            name: str_at(obj, &["metadata", "name"]).unwrap_or("").to_string(),
        }
    }

    /// Parses a Flux inventory entry (`{id: "<ns>_<name>_<group>_<kind>", v}`); `None` when malformed.
    pub fn from_inventory_entry(entry: &Value) -> Option<ObjectRef> {
        let id = entry.get("id")?.as_str()?;
        let p = crate::model::inventory::parse_id(id)?;
        Some(ObjectRef {
            group: p.group,
            version: entry
                .get("v")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            kind: p.kind,
            namespace: p.namespace,
            name: p.name,
        })
    }

    /// `apiVersion` to address the object with (`v1`, `apps/v1`).
    pub fn api_version(&self) -> String {
        match (self.group.is_empty(), self.version.is_empty()) {
            (true, _) => self.version.clone(),
            (false, true) => self.group.clone(),
            (false, false) => format!("{}/{}", self.group, self.version),
        }
    }

    /// `<Kind>/<ns>/<name>`, or `<Kind>/<name>` when cluster-scoped (as `flux tree` prints).
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// The identity without the version (what lookups key on).
    fn key(&self) -> (String, String, String, String) {
        (
            self.group.clone(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }
}

/// Fetched objects by identity (version ignored).
#[derive(Debug, Clone, Default)]
pub struct ObjectIndex {
    objects: HashMap<(String, String, String, String), Value>,
}

impl ObjectIndex {
    /// An empty index.
    pub fn new() -> ObjectIndex {
        ObjectIndex::default()
    }

    /// Adds (or replaces) an object under its own identity.
    pub fn insert(&mut self, obj: Value) {
        self.objects.insert(ObjectRef::of(&obj).key(), obj);
    }

    /// The object with this identity, if fetched.
    pub fn get(&self, r: &ObjectRef) -> Option<&Value> {
        self.objects.get(&r.key())
    }

    /// How many objects are indexed.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

impl FromIterator<Value> for ObjectIndex {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        let mut index = ObjectIndex::new();
        for o in iter {
            index.insert(o);
        }
        index
    }
}

/// What a node of the tree stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NodeRole {
    /// The source the root object builds from (GitRepository, OCIRepository…).
    Source,
    /// A GitOps object (Kustomization, Application) whose inventory is expanded below it.
    Owner,
    /// A heading grouping the inventory objects of one kind.
    KindGroup,
    /// One inventory object.
    Object,
}

/// One node of a health tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeNode {
    /// The object (for a [`NodeRole::KindGroup`], only group and kind are set).
    pub object: ObjectRef,
    /// What the node stands for.
    pub role: NodeRole,
    /// The colourable verdict (groups: the worst of their children).
    #[serde(serialize_with = "serialize_health")]
    pub health: Health,
    /// The engine's word for it (`Current`, `Failed`, `NotFound`, `Degraded`…).
    pub status: String,
    /// Why (the kstatus explanation, the Ready message, Argo's health message).
    pub message: String,
    /// Extra facts shown after the status (a source's revision, an Argo resource's sync status).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Children in display order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<TreeNode>,
}

impl TreeNode {
    /// The node's text: `<Kind>/<ns>/<name>`, or `<Kind> (<count>)` for a kind group.
    pub fn label(&self) -> String {
        match self.role {
            NodeRole::KindGroup => format!("{} ({})", self.object.kind, self.children.len()),
            _ => self.object.display(),
        }
    }

    fn group_of(kind_ref: ObjectRef, children: Vec<TreeNode>) -> TreeNode {
        let health = children
            .iter()
            .map(|c| c.health)
            .max_by_key(|h| severity(*h))
            .unwrap_or(Health::Ready);
        let unhealthy = children
            .iter()
            .filter(|c| c.health != Health::Ready)
            .count();
        TreeNode {
            object: kind_ref,
            role: NodeRole::KindGroup,
            health,
            status: health.as_str().to_string(),
            message: if unhealthy == 0 {
                String::new()
            } else {
                format!("{unhealthy} of {} not ready", children.len())
            },
            detail: String::new(),
            children,
        }
    }
}

fn serialize_health<S: serde::Serializer>(h: &Health, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(h.as_str())
}

/// How bad a verdict is, for "worst of" aggregation (higher is worse).
pub fn severity(h: Health) -> u8 {
    match h {
        Health::Ready => 0,
        Health::Suspended => 1,
        Health::Unknown => 2,
        Health::Progressing => 3,
        Health::Failing => 4,
    }
}

/// The deepest failing object of a tree and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootCause {
    /// Child indexes from the root to the node.
    pub path: Vec<usize>,
    /// The object.
    pub object: ObjectRef,
    /// Its status word (`Failed`, `NotFound`…).
    pub status: String,
    /// Its message.
    pub message: String,
}

/// A built health tree with its root cause and the path the view opens at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthTree {
    /// The root node.
    pub root: TreeNode,
    /// The deepest failing object (else the deepest not-ready one), if any.
    #[serde(rename = "rootCause", skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<RootCause>,
    /// Child indexes to the first unhealthy leaf (depth-first), which a view expands by default.
    #[serde(rename = "focusPath", skip_serializing_if = "Option::is_none")]
    pub focus_path: Option<Vec<usize>>,
}

impl HealthTree {
    /// Wraps a root node, computing the root cause and the focus path.
    pub fn new(root: TreeNode) -> HealthTree {
        let root_cause = root_cause(&root);
        let focus_path = first_unhealthy_leaf(&root);
        HealthTree {
            root,
            root_cause,
            focus_path,
        }
    }

    /// The node at a child-index path, if it exists.
    pub fn node_at(&self, path: &[usize]) -> Option<&TreeNode> {
        path.iter().try_fold(&self.root, |n, &i| n.children.get(i))
    }

    /// Adds the source's commit (`"subject" by author, 5m ago`) to the source node's detail.
    pub fn set_source_commit(&mut self, commit: &CommitInfo, now: i64) {
        if self.root.role != NodeRole::Source {
            return;
        }
        let line = commit.describe(now);
        if self.root.detail.is_empty() {
            self.root.detail = line;
        } else {
            self.root.detail = format!("{} {line}", self.root.detail);
        }
    }
}

/// The commit a source's revision points at, read from a local copy of its repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    /// The commit id (hex).
    pub id: String,
    /// The first line of its message.
    pub subject: String,
    /// The author's name.
    pub author: String,
    /// Author time (unix seconds), when it parses.
    pub time: Option<i64>,
}

impl CommitInfo {
    /// `"subject" by author, 5m ago` (the age left out when the time is unknown).
    pub fn describe(&self, now: i64) -> String {
        let subject: String = self.subject.chars().take(72).collect();
        match self.time {
            Some(t) => {
                let age = std::time::Duration::from_secs(u64::try_from(now - t).unwrap_or(0));
                format!(
                    "\"{subject}\" by {}, {} ago",
                    self.author,
                    crate::model::age::human_duration(age)
                )
            }
            None => format!("\"{subject}\" by {}", self.author),
        }
    }
}

/// The node of one fetched (or missing) object.
fn object_node(r: &ObjectRef, obj: Option<&Value>, role: NodeRole, now: i64) -> TreeNode {
    let (health, status, message) = match obj {
        Some(o) => {
            let a = assess_at(o, now);
            // Flux kinds are judged by their conditions, not kstatus: say the verdict then.
            let word = match a.detail {
                DetailedStatus::KStatus(k) if k.health() != a.health => a.health.as_str(),
                d => d.as_str(),
            };
            (a.health, word.to_string(), a.message)
        }
        None => (
            Health::Failing,
            "NotFound".to_string(),
            "object not found in the cluster".to_string(),
        ),
    };
    TreeNode {
        object: r.clone(),
        role,
        health,
        status,
        message,
        detail: String::new(),
        children: Vec::new(),
    }
}

/// The inventory entries of a Kustomization, in inventory order (malformed entries skipped).
pub fn inventory_of(ks: &Value) -> Vec<ObjectRef> {
    at(ks, &["status", "inventory", "entries"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(ObjectRef::from_inventory_entry)
                .collect()
        })
        .unwrap_or_default()
}

/// The source a Kustomization names in `spec.sourceRef` (namespace defaults to its own).
pub fn source_of(ks: &Value) -> Option<ObjectRef> {
    let kind = str_at(ks, &["spec", "sourceRef", "kind"])?;
    let name = str_at(ks, &["spec", "sourceRef", "name"])?;
    let namespace = str_at(ks, &["spec", "sourceRef", "namespace"])
        .or_else(|| str_at(ks, &["metadata", "namespace"]))
        .unwrap_or("");
    let (group, version) = match kind {
        "GitRepository" | "OCIRepository" | "Bucket" | "HelmRepository" | "HelmChart"
        | "ExternalArtifact" => ("source.toolkit.fluxcd.io", "v1"),
        _ => ("", ""),
    };
    Some(ObjectRef {
        group: group.to_string(),
        version: version.to_string(),
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

/// Whether an identity is a Flux Kustomization (expanded recursively).
fn is_kustomization(r: &ObjectRef) -> bool {
    r.kind == "Kustomization" && r.group == "kustomize.toolkit.fluxcd.io"
}

/// Every object the tree of `ks` needs from `index` so far (its inventory and those of nested
/// Kustomizations already in the index, its source); callers fetch them and ask again until the
/// answer stops growing.
pub fn kustomization_refs(ks: &Value, index: &ObjectIndex) -> Vec<ObjectRef> {
    let mut out = Vec::new();
    out.extend(source_of(ks));
    let mut seen: HashSet<(String, String, String, String)> = HashSet::new();
    seen.insert(ObjectRef::of(ks).key());
    let mut queue: Vec<(Value, usize)> = vec![(ks.clone(), 0)];
    while let Some((owner, depth)) = queue.pop() {
        for r in inventory_of(&owner) {
            if !seen.insert(r.key()) {
                continue;
            }
            if is_kustomization(&r)
                && depth < MAX_NESTING
                && let Some(nested) = index.get(&r)
            {
                queue.push((nested.clone(), depth + 1));
            }
            out.push(r);
        }
    }
    out
}

/// Builds the health tree of a Kustomization: its source (when given) at the root, the
/// Kustomization below it, its inventory grouped by kind (groups in order of first appearance),
/// each object assessed with kstatus, nested Kustomizations expanded the same way (itself skipped,
/// cycles and nesting beyond [`MAX_NESTING`] cut).
pub fn kustomization_tree(ks: &Value, source: Option<&Value>, index: &ObjectIndex) -> HealthTree {
    kustomization_tree_at(ks, source, index, super::time::now_unix())
}

/// [`kustomization_tree`] with an explicit clock (unix seconds), for reproducible output.
pub fn kustomization_tree_at(
    ks: &Value,
    source: Option<&Value>,
    index: &ObjectIndex,
    now: i64,
) -> HealthTree {
    let mut visiting = HashSet::new();
    let owner = owner_node(ks, index, now, 0, &mut visiting);
    let root = match source_of(ks) {
        Some(src_ref) => {
            let mut node = object_node(&src_ref, source, NodeRole::Source, now);
            node.detail = source
                .and_then(|s| str_at(s, &["status", "artifact", "revision"]))
                .unwrap_or("")
                .to_string();
            node.children.push(owner);
            node
        }
        None => owner,
    };
    HealthTree::new(root)
}

fn owner_node(
    ks: &Value,
    index: &ObjectIndex,
    now: i64,
    depth: usize,
    visiting: &mut HashSet<(String, String, String, String)>,
) -> TreeNode {
    let me = ObjectRef::of(ks);
    let mut node = object_node(&me, Some(ks), NodeRole::Owner, now);
    node.detail = str_at(ks, &["status", "lastAppliedRevision"])
        .unwrap_or("")
        .to_string();
    visiting.insert(me.key());
    let mut groups: Vec<(ObjectRef, Vec<TreeNode>)> = Vec::new();
    let mut group_pos: HashMap<(String, String), usize> = HashMap::new();
    for r in inventory_of(ks) {
        if r.key() == me.key() {
            continue;
        }
        let obj = index.get(&r);
        let child = match obj {
            Some(nested)
                if is_kustomization(&r) && depth < MAX_NESTING && !visiting.contains(&r.key()) =>
            {
                owner_node(nested, index, now, depth + 1, visiting)
            }
            _ => object_node(&r, obj, NodeRole::Object, now),
        };
        let gk = (r.group.clone(), r.kind.clone());
        let pos = *group_pos.entry(gk).or_insert_with(|| {
            groups.push((
                ObjectRef {
                    group: r.group.clone(),
                    version: String::new(),
                    kind: r.kind.clone(),
                    namespace: String::new(),
                    name: String::new(),
                },
                Vec::new(),
            ));
            groups.len() - 1
        });
        if let Some((_, members)) = groups.get_mut(pos) {
            members.push(child);
        }
    }
    visiting.remove(&me.key());
    node.children = groups
        .into_iter()
        .map(|(r, members)| TreeNode::group_of(r, members))
        .collect();
    node
}

/// Builds the tree of an Argo CD Application from `status.resources` (its managed objects),
/// grouped by kind. Per-resource health comes from the Application when it stores it, else from
/// the live object in `index` (Argo CD 3 keeps health out of the CR), else Unknown.
pub fn application_tree(app: &Value, index: &ObjectIndex) -> HealthTree {
    application_tree_at(app, index, super::time::now_unix())
}

/// [`application_tree`] with an explicit clock (unix seconds).
pub fn application_tree_at(app: &Value, index: &ObjectIndex, now: i64) -> HealthTree {
    let me = ObjectRef::of(app);
    let mut root = object_node(&me, Some(app), NodeRole::Owner, now);
    root.detail = [
        str_at(app, &["status", "sync", "status"]).map(|s| format!("sync {s}")),
        str_at(app, &["status", "sync", "revision"]).map(str::to_string),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let mut groups: Vec<(ObjectRef, Vec<TreeNode>)> = Vec::new();
    let mut group_pos: HashMap<(String, String), usize> = HashMap::new();
    for res in application_resources(app) {
        let (r, node) = argo_resource_node(res, index, now);
        let gk = (r.group.clone(), r.kind.clone());
        let pos = *group_pos.entry(gk).or_insert_with(|| {
            groups.push((
                ObjectRef {
                    group: r.group.clone(),
                    version: String::new(),
                    kind: r.kind.clone(),
                    namespace: String::new(),
                    name: String::new(),
                },
                Vec::new(),
            ));
            groups.len() - 1
        });
        if let Some((_, members)) = groups.get_mut(pos) {
            members.push(node);
        }
    }
    root.children = groups
        .into_iter()
        .map(|(r, members)| TreeNode::group_of(r, members))
        .collect();
    HealthTree::new(root)
}

/// The `status.resources` entries of an Application (non-objects skipped).
pub fn application_resources(app: &Value) -> Vec<&Value> {
    at(app, &["status", "resources"])
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|v| v.is_object()).collect())
        .unwrap_or_default()
}

/// The identity of one `status.resources` entry of an Application.
pub fn argo_resource_ref(res: &Value) -> ObjectRef {
    let text = |k: &str| res.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    ObjectRef {
        group: text("group"),
        version: text("version"),
        kind: text("kind"),
        namespace: text("namespace"),
        name: text("name"),
    }
}

fn argo_resource_node(res: &Value, index: &ObjectIndex, now: i64) -> (ObjectRef, TreeNode) {
    use super::health::ArgoHealth;
    let r = argo_resource_ref(res);
    let sync = res.get("status").and_then(Value::as_str).unwrap_or("");
    let inline = str_at(res, &["health", "status"]);
    let mut node = match inline {
        Some(h) => {
            let argo = ArgoHealth::parse(h);
            TreeNode {
                object: r.clone(),
                role: NodeRole::Object,
                health: argo.health(),
                status: argo.as_str().to_string(),
                message: str_at(res, &["health", "message"])
                    .unwrap_or("")
                    .to_string(),
                detail: String::new(),
                children: Vec::new(),
            }
        }
        None => match index.get(&r) {
            Some(live) => object_node(&r, Some(live), NodeRole::Object, now),
            None => TreeNode {
                object: r.clone(),
                role: NodeRole::Object,
                health: Health::Unknown,
                status: "Unknown".to_string(),
                message: "health not stored in the Application and the object was not fetched"
                    .to_string(),
                detail: String::new(),
                children: Vec::new(),
            },
        },
    };
    if !sync.is_empty() {
        node.detail = format!("sync {sync}");
    }
    (r, node)
}

/// The deepest failing object (kind groups excluded), else the deepest not-ready one; the first
/// in depth-first order wins ties.
pub fn root_cause(root: &TreeNode) -> Option<RootCause> {
    let mut best: Option<(u8, usize, Vec<usize>)> = None;
    let mut stack: Vec<(&TreeNode, Vec<usize>)> = vec![(root, Vec::new())];
    while let Some((node, path)) = stack.pop() {
        let candidate = node.role != NodeRole::KindGroup
            && !matches!(node.health, Health::Ready | Health::Suspended);
        if candidate {
            let rank = u8::from(node.health == Health::Failing);
            let depth = path.len();
            let better = match &best {
                None => true,
                Some((r, d, p)) => {
                    (rank, depth) > (*r, *d) || ((rank, depth) == (*r, *d) && path < *p)
                }
            };
            if better {
                best = Some((rank, depth, path.clone()));
            }
        }
        for (i, c) in node.children.iter().enumerate().rev() {
            let mut p = path.clone();
            p.push(i);
            stack.push((c, p));
        }
    }
    let (_, _, path) = best?;
    let node = path.iter().try_fold(root, |n, &i| n.children.get(i))?;
    Some(RootCause {
        path,
        object: node.object.clone(),
        status: node.status.clone(),
        message: node.message.clone(),
    })
}

/// The child-index path to the first leaf (depth-first) that is not Ready.
pub fn first_unhealthy_leaf(root: &TreeNode) -> Option<Vec<usize>> {
    let mut stack: Vec<(&TreeNode, Vec<usize>)> = vec![(root, Vec::new())];
    while let Some((node, path)) = stack.pop() {
        if node.children.is_empty() {
            if node.health != Health::Ready {
                return Some(path);
            }
            continue;
        }
        for (i, c) in node.children.iter().enumerate().rev() {
            let mut p = path.clone();
            p.push(i);
            stack.push((c, p));
        }
    }
    None
}

/// One line of text per node, with `├── `/`│   `/`└── ` prefixes (4-char indent), like `flux tree`.
pub fn render_text(tree: &HealthTree) -> String {
    let mut out = String::new();
    if let Some(rc) = &tree.root_cause {
        out.push_str(&format!(
            "Root cause: {} {}: {}\n",
            rc.object.display(),
            rc.status,
            rc.message
        ));
    }
    out.push_str(&node_line(&tree.root));
    out.push('\n');
    // Iterative walk: (node, prefix for its children).
    let mut stack: Vec<(&TreeNode, String, bool)> = Vec::new();
    fn push<'a>(stack: &mut Vec<(&'a TreeNode, String, bool)>, node: &'a TreeNode, prefix: &str) {
        let n = node.children.len();
        for (i, c) in node.children.iter().enumerate().rev() {
            stack.push((c, prefix.to_string(), i + 1 == n));
        }
    }
    push(&mut stack, &tree.root, "");
    while let Some((node, prefix, last)) = stack.pop() {
        out.push_str(&prefix);
        out.push_str(if last { "└── " } else { "├── " });
        out.push_str(&node_line(node));
        out.push('\n');
        let child_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
        push(&mut stack, node, &child_prefix);
    }
    out
}

/// One node's text: label, status, detail and (unless Ready) message.
pub fn node_line(node: &TreeNode) -> String {
    let mut line = format!("{} {}", node.label(), node.status);
    if !node.detail.is_empty() {
        line.push_str(&format!(" ({})", node.detail));
    }
    if node.health != Health::Ready && !node.message.is_empty() {
        line.push_str(": ");
        line.push_str(&one_line(&node.message));
    }
    line
}

/// A message on one line (newlines folded), so a tree line never breaks.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
