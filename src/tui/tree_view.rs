//! The health tree overlay (`t`): a live tree of a Kustomization, HelmRelease or Argo CD
//! Application, its root cause on top, opened at the first unhealthy leaf. The user's open/closed
//! nodes and selection are kept by node identity across the periodic re-fetches.

use super::chrome::{Chrome, overlay_block};
use super::keymap::{Command, Scope};
use crate::model::health::Health;
use crate::model::row::RowKey;
use crate::model::tree::{HealthTree, NodeRole, TreeNode, node_line};
use crate::views::Fetched;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use std::collections::BTreeSet;
use tui_tree_widget::{Tree, TreeItem, TreeState};

/// Seconds between re-fetches while the tree is open.
pub const REFRESH_SECS: i64 = 2;

/// A path of node identities from the root.
pub type NodePath = Vec<String>;

/// An open health tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeView {
    /// The object the tree is about.
    pub key: RowKey,
    /// The last tree received.
    pub tree: Option<HealthTree>,
    /// The last fetch's error (the previous tree, if any, stays on screen).
    pub error: Option<String>,
    /// Read failures of the last fetch (objects shown as missing).
    pub warnings: Vec<String>,
    /// Opened nodes.
    pub opened: BTreeSet<NodePath>,
    /// The selected node (empty = the root).
    pub selected: NodePath,
    /// When the last fetch was asked for (unix seconds).
    pub requested_at: i64,
    /// A fetch is running.
    pub in_flight: bool,
}

/// One visible line of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visible<'a> {
    /// Its identity path.
    pub path: NodePath,
    /// The node.
    pub node: &'a TreeNode,
}

/// A node's identity among its siblings (its kind and name; kind groups by kind).
fn node_id(node: &TreeNode) -> String {
    match node.role {
        NodeRole::KindGroup => format!("group:{}/{}", node.object.group, node.object.kind),
        _ => format!(
            "{}/{}/{}/{}",
            node.object.group, node.object.kind, node.object.namespace, node.object.name
        ),
    }
}

/// The identities of `node`'s children, made unique by a suffix when two would collide.
fn child_ids(node: &TreeNode) -> Vec<String> {
    let mut seen = BTreeSet::new();
    node.children
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let id = node_id(c);
            if seen.insert(id.clone()) {
                id
            } else {
                format!("{id}#{i}")
            }
        })
        .collect()
}

impl TreeView {
    /// A view waiting for its first tree.
    pub fn loading(key: RowKey, now: i64) -> TreeView {
        TreeView {
            key,
            tree: None,
            error: None,
            warnings: Vec::new(),
            opened: BTreeSet::new(),
            selected: Vec::new(),
            requested_at: now,
            in_flight: true,
        }
    }

    /// Takes a fetch's answer. The first tree opens at its first unhealthy leaf (selected); later
    /// ones keep what the user opened and selected (a vanished selection falls back to its parent).
    pub fn receive(&mut self, result: Result<Box<Fetched<HealthTree>>, String>) {
        self.in_flight = false;
        match result {
            Err(e) => self.error = Some(e),
            Ok(fetched) => {
                let Fetched {
                    value: tree,
                    warnings,
                } = *fetched;
                let first = self.tree.is_none();
                self.error = None;
                self.warnings = warnings;
                self.tree = Some(tree);
                if first {
                    self.open_focus_path();
                } else {
                    while !self.selected.is_empty() && self.node(&self.selected).is_none() {
                        self.selected.pop();
                    }
                }
            }
        }
    }

    fn open_focus_path(&mut self) {
        let Some(tree) = &self.tree else { return };
        let root = vec![node_id(&tree.root)];
        self.opened.insert(root.clone());
        self.selected = root.clone();
        let Some(indexes) = tree.focus_path.clone() else {
            return;
        };
        let mut node = &tree.root;
        let mut path = root;
        for i in indexes {
            let ids = child_ids(node);
            let (Some(child), Some(id)) = (node.children.get(i), ids.get(i)) else {
                break;
            };
            path.push(id.clone());
            if !child.children.is_empty() {
                self.opened.insert(path.clone());
            }
            node = child;
        }
        self.selected = path;
    }

    /// The node at an identity path.
    pub fn node(&self, path: &[String]) -> Option<&TreeNode> {
        let tree = self.tree.as_ref()?;
        let (first, rest) = path.split_first()?;
        if *first != node_id(&tree.root) {
            return None;
        }
        let mut node = &tree.root;
        for id in rest {
            let pos = child_ids(node).iter().position(|c| c == id)?;
            node = node.children.get(pos)?;
        }
        Some(node)
    }

    /// The lines shown: the root and every child of an opened node, depth-first.
    pub fn visible(&self) -> Vec<Visible<'_>> {
        let mut out = Vec::new();
        let Some(tree) = &self.tree else { return out };
        let mut stack: Vec<(&TreeNode, NodePath)> = vec![(&tree.root, vec![node_id(&tree.root)])];
        while let Some((node, path)) = stack.pop() {
            if self.opened.contains(&path) {
                let ids = child_ids(node);
                for (c, id) in node.children.iter().zip(ids).rev() {
                    let mut p = path.clone();
                    p.push(id);
                    stack.push((c, p));
                }
            }
            out.push(Visible { path, node });
        }
        out
    }

    /// Index of the selection among the visible lines (0 when it is hidden or unset).
    pub fn selected_index(&self, visible: &[Visible<'_>]) -> usize {
        visible
            .iter()
            .position(|v| v.path == self.selected)
            .unwrap_or(0)
    }

    /// Moves the selection by `delta` visible lines (clamped).
    pub fn step(&mut self, delta: isize) {
        let visible = self.visible();
        if visible.is_empty() {
            return;
        }
        let cur = self.selected_index(&visible) as isize;
        let next = cur
            .saturating_add(delta)
            .clamp(0, visible.len() as isize - 1) as usize;
        self.selected = visible[next].path.clone();
    }

    /// Opens or closes the selected node.
    pub fn toggle(&mut self) {
        let has_children = self
            .node(&self.selected)
            .is_some_and(|n| !n.children.is_empty());
        if has_children && !self.opened.remove(&self.selected) {
            self.opened.insert(self.selected.clone());
        }
    }

    /// ←: closes the selected node, or selects its parent when it is closed or a leaf.
    pub fn left(&mut self) {
        if self.opened.remove(&self.selected) {
            return;
        }
        if self.selected.len() > 1 {
            self.selected.pop();
        }
    }

    /// →: opens the selected node, or selects its first child when it is open.
    pub fn right(&mut self) {
        let Some(node) = self.node(&self.selected) else {
            return;
        };
        let Some(first) = child_ids(node).into_iter().next() else {
            return;
        };
        if self.opened.insert(self.selected.clone()) {
            return;
        }
        self.selected.push(first);
    }

    /// The selected node, if the tree has arrived.
    pub fn selected_node(&self) -> Option<&TreeNode> {
        self.node(&self.selected)
    }

    /// Whether a re-fetch is due at `now`.
    pub fn refresh_due(&self, now: i64) -> bool {
        !self.in_flight && now.saturating_sub(self.requested_at) >= REFRESH_SECS
    }
}

fn health_style(ui: &Chrome, h: Health) -> Style {
    let t = ui.theme;
    match h {
        Health::Ready => t.ready,
        Health::Failing => t.failing,
        Health::Progressing => t.progressing,
        Health::Suspended => t.suspended,
        Health::Unknown => t.unknown,
    }
}

fn items<'a>(ui: &Chrome, node: &'a TreeNode, id: String) -> TreeItem<'a, String> {
    let text = Line::styled(node_line(node), health_style(ui, node.health));
    if node.children.is_empty() {
        return TreeItem::new_leaf(id, text);
    }
    let children: Vec<TreeItem<'a, String>> = node
        .children
        .iter()
        .zip(child_ids(node))
        .map(|(c, cid)| items(ui, c, cid))
        .collect();
    // Identities are unique among siblings by construction (`child_ids`); fall back to a leaf.
    match TreeItem::new(id.clone(), text.clone(), children) {
        Ok(item) => item,
        Err(_) => TreeItem::new_leaf(id, text),
    }
}

/// Draws the tree overlay over `area`.
pub fn render(ui: &Chrome, v: &TreeView, frame: &mut Frame, area: Rect) {
    let t = ui.theme;
    frame.render_widget(Clear, area);
    let km = ui.keymap;
    let title = format!(
        " tree {} {}/{} — {}/{} fold, {} trace, {} images, {} back ",
        v.key.context,
        v.key.namespace,
        v.key.name,
        km.hint(Scope::Tree, Command::Collapse),
        km.hint(Scope::Tree, Command::Expand),
        km.hint(Scope::Tree, Command::Trace),
        km.hint(Scope::Tree, Command::Images),
        km.hint(Scope::Global, Command::Back),
    );
    let block = overlay_block(title, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
    let mut top: Vec<Span> = Vec::new();
    match (&v.tree, &v.error) {
        (_, Some(e)) => top.push(Span::styled(
            format!("cannot fetch the tree: {e}"),
            t.failing,
        )),
        (None, None) => top.push(Span::styled("loading…", t.text)),
        (Some(tree), None) => match &tree.root_cause {
            Some(rc) => top.push(Span::styled(
                format!(
                    "Root cause: {} {}: {}",
                    rc.object.display(),
                    rc.status,
                    rc.message.split_whitespace().collect::<Vec<_>>().join(" ")
                ),
                t.failing,
            )),
            None if v.warnings.is_empty() => {
                top.push(Span::styled("Everything is healthy", t.ready))
            }
            None => {}
        },
    }
    if !v.warnings.is_empty() {
        top.push(Span::styled(
            format!(
                "  ({} object(s) unreadable: {})",
                v.warnings.len(),
                v.warnings[0]
            ),
            t.progressing,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(top)), head);
    let Some(tree) = &v.tree else { return };
    let root = [items(ui, &tree.root, node_id(&tree.root))];
    let Ok(widget) = Tree::new(&root) else { return };
    let widget = widget
        .style(t.text)
        .highlight_style(t.selected)
        .node_closed_symbol("▸ ")
        .node_open_symbol("▾ ")
        .node_no_children_symbol("  ");
    let mut state = TreeState::default();
    for p in &v.opened {
        state.open(p.clone());
    }
    state.select(v.selected.clone());
    frame.render_stateful_widget(widget, body, &mut state);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tree::ObjectRef;

    fn node(kind: &str, name: &str, health: Health, children: Vec<TreeNode>) -> TreeNode {
        TreeNode {
            object: ObjectRef {
                group: String::new(),
                version: "v1".into(),
                kind: kind.into(),
                namespace: "ns".into(),
                name: name.into(),
            },
            role: if children.is_empty() {
                NodeRole::Object
            } else {
                NodeRole::Owner
            },
            health,
            status: health.as_str().into(),
            message: String::new(),
            detail: String::new(),
            children,
        }
    }

    fn ok(tree: HealthTree) -> Result<Box<Fetched<HealthTree>>, String> {
        Ok(Box::new(Fetched {
            value: tree,
            warnings: Vec::new(),
        }))
    }

    fn key() -> RowKey {
        RowKey {
            context: "c".into(),
            kind: "Kustomization",
            namespace: "ns".into(),
            name: "apps".into(),
        }
    }

    #[test]
    fn opens_at_the_first_unhealthy_leaf_and_keeps_state_across_refreshes() {
        let build = |bad: bool| {
            HealthTree::new(node(
                "Kustomization",
                "apps",
                Health::Failing,
                vec![
                    node(
                        "A",
                        "ok",
                        Health::Ready,
                        vec![node("Pod", "p", Health::Ready, vec![])],
                    ),
                    node(
                        "B",
                        "sub",
                        Health::Failing,
                        vec![
                            node("Deployment", "web", Health::Ready, vec![]),
                            node(
                                "Deployment",
                                "api",
                                if bad { Health::Failing } else { Health::Ready },
                                vec![],
                            ),
                        ],
                    ),
                ],
            ))
        };
        let mut v = TreeView::loading(key(), 0);
        v.receive(ok(build(true)));
        assert_eq!(v.selected_node().unwrap().object.name, "api");
        let shown: Vec<&str> = v
            .visible()
            .iter()
            .map(|x| x.node.object.name.as_str())
            .collect();
        assert_eq!(shown, ["apps", "ok", "sub", "web", "api"]);
        // The user opens `ok`, moves up, and a refresh keeps both.
        v.step(-3);
        assert_eq!(v.selected_node().unwrap().object.name, "ok");
        v.right();
        v.right();
        assert_eq!(v.selected_node().unwrap().object.name, "p");
        v.receive(ok(build(false)));
        assert_eq!(v.selected_node().unwrap().object.name, "p");
        assert_eq!(v.visible().len(), 6);
        v.left();
        assert_eq!(v.selected_node().unwrap().object.name, "ok");
        v.left();
        assert_eq!(v.visible().len(), 5);
        v.toggle();
        assert_eq!(v.visible().len(), 6);
        // An error keeps the last tree.
        v.receive(Err("boom".into()));
        assert!(v.tree.is_some());
        assert_eq!(v.error.as_deref(), Some("boom"));
        v.step(isize::MAX);
        assert_eq!(v.selected_node().unwrap().object.name, "api");
        v.step(isize::MIN);
        assert_eq!(v.selected_node().unwrap().object.name, "apps");
        v.left();
        assert_eq!(v.visible().len(), 1);
    }

    #[test]
    fn duplicate_siblings_get_distinct_ids_and_refresh_timing() {
        let dup = node(
            "K",
            "root",
            Health::Ready,
            vec![
                node("X", "a", Health::Ready, vec![]),
                node("X", "a", Health::Ready, vec![]),
            ],
        );
        assert_eq!(child_ids(&dup).len(), 2);
        assert_ne!(child_ids(&dup)[0], child_ids(&dup)[1]);
        let mut v = TreeView::loading(key(), 100);
        assert!(!v.refresh_due(200));
        v.receive(ok(HealthTree::new(dup)));
        assert!(!v.refresh_due(101));
        assert!(v.refresh_due(102));
        assert_eq!(v.visible().len(), 3);
    }
}
