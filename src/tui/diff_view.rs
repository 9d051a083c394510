//! The diff overlay (`x` on a Kustomization): the summary, then each changed object's hunks,
//! unified or side by side (`s`); `n`/`N` jump between hunks, `/` searches, `y` copies the hunk
//! at the top line and `Y` the whole diff. Secret values arrive masked from the diff library.

use super::chrome::{Chrome, overlay_block};
use super::keymap::{Command, Scope};
use crate::model::row::RowKey;
use crate::views::diff::text::{LineTag, side_by_side};
use crate::views::diff::{Change, DiffReport};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

/// What a display line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// An object's heading (`--- Kind/ns/name (drifted)`).
    Object,
    /// A hunk's `@@` header.
    Hunk,
    /// Unchanged context.
    Context,
    /// Only in the live object.
    Delete,
    /// Only in the desired object.
    Insert,
    /// Side by side: the two sides differ.
    Changed,
    /// An object that could not be diffed.
    Error,
}

/// One display line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffRow {
    /// What it is.
    pub kind: RowKind,
    /// The text (unified), or the left side (side by side).
    pub text: String,
    /// The right side (side by side only).
    pub right: Option<String>,
    /// (object index, hunk index) of the hunk the line belongs to.
    pub hunk: Option<(usize, usize)>,
}

/// An open diff.
#[derive(Debug, Clone)]
pub struct DiffView {
    /// The Kustomization.
    pub key: RowKey,
    /// The report (`None` while loading).
    pub report: Option<DiffReport>,
    /// Why the diff could not be computed.
    pub error: Option<String>,
    /// Two columns (old | new) instead of the unified view.
    pub side_by_side: bool,
    /// The display lines of the current layout.
    pub rows: Vec<DiffRow>,
    /// First visible line (also the line `y` copies the hunk of).
    pub scroll: usize,
    /// The search term, if any.
    pub search: Option<String>,
    /// The search line takes the keys.
    pub typing: bool,
}

impl DiffView {
    /// A view waiting for its report.
    pub fn loading(key: RowKey) -> DiffView {
        DiffView {
            key,
            report: None,
            error: None,
            side_by_side: false,
            rows: Vec::new(),
            scroll: 0,
            search: None,
            typing: false,
        }
    }

    /// Takes the fetch's answer.
    pub fn receive(&mut self, result: Result<DiffReport, String>) {
        match result {
            Ok(r) => {
                self.report = Some(r);
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
        self.relayout();
    }

    /// Switches between unified and side by side, keeping the top line's hunk in view.
    pub fn toggle_layout(&mut self) {
        let at = self.rows.get(self.scroll).and_then(|r| r.hunk);
        self.side_by_side = !self.side_by_side;
        self.relayout();
        if let Some(h) = at
            && let Some(i) = self.rows.iter().position(|r| r.hunk == Some(h))
        {
            self.scroll = i;
        }
    }

    fn relayout(&mut self) {
        self.rows = match &self.report {
            Some(r) => build_rows(r, self.side_by_side),
            None => Vec::new(),
        };
        self.scroll = self.scroll.min(self.rows.len().saturating_sub(1));
    }

    /// The one-line summary: created, changed, deleted by prune, unchanged (and skipped, errors).
    pub fn summary(&self) -> Option<String> {
        let r = self.report.as_ref()?;
        let s = r.summary();
        let mut out = format!(
            "{} created · {} changed · {} deleted by prune · {} unchanged",
            s.created, s.changed, s.deleted, s.unchanged
        );
        if s.skipped > 0 {
            out.push_str(&format!(" · {} skipped", s.skipped));
        }
        if !r.errors.is_empty() {
            out.push_str(&format!(" · {} error(s)", r.errors.len()));
        }
        if !r.has_changes() && r.errors.is_empty() {
            out.push_str(" — in sync");
        }
        Some(out)
    }

    /// Moves the top line to the next (previous) hunk header; false when there is none.
    pub fn jump_hunk(&mut self, forward: bool) -> bool {
        let is_head = |r: &DiffRow| r.kind == RowKind::Hunk;
        let found = if forward {
            self.rows
                .iter()
                .enumerate()
                .skip(self.scroll + 1)
                .find(|(_, r)| is_head(r))
                .map(|(i, _)| i)
        } else {
            self.rows
                .iter()
                .enumerate()
                .take(self.scroll)
                .rev()
                .find(|(_, r)| is_head(r))
                .map(|(i, _)| i)
        };
        match found {
            Some(i) => {
                self.scroll = i;
                true
            }
            None => false,
        }
    }

    /// Whether line `i` matches the search (case-insensitive, either side).
    pub fn is_match(&self, i: usize) -> bool {
        let (Some(term), Some(row)) = (&self.search, self.rows.get(i)) else {
            return false;
        };
        if term.is_empty() {
            return false;
        }
        let term = term.to_lowercase();
        row.text.to_lowercase().contains(&term)
            || row
                .right
                .as_ref()
                .is_some_and(|r| r.to_lowercase().contains(&term))
    }

    /// Moves the top line to the next (previous) match, wrapping; false when nothing matches.
    pub fn jump_match(&mut self, forward: bool, include_current: bool) -> bool {
        let found = super::yaml::next_match(
            self.rows.len(),
            self.scroll,
            forward,
            include_current,
            |i| self.is_match(i),
        );
        match found {
            Some(i) => {
                self.scroll = i;
                true
            }
            None => false,
        }
    }

    /// The hunk at the top line as unified text with its object's `---`/`+++` header, and a label.
    pub fn hunk_text(&self) -> Option<(String, String)> {
        let (o, h) = self.rows.get(self.scroll)?.hunk?;
        let obj = self.report.as_ref()?.objects.get(o)?;
        let hunk = obj.hunks.get(h)?;
        let label = obj.object.display();
        Some((
            format!(
                "--- {label} (live)\n+++ {label} (desired)\n{}",
                hunk.to_text()
            ),
            format!("hunk {} of {label}", h + 1),
        ))
    }

    /// The whole diff as unified text.
    pub fn full_text(&self) -> Option<String> {
        self.report.as_ref().map(DiffReport::unified_text)
    }
}

fn change_word(c: Change) -> &'static str {
    match c {
        Change::Created => "created",
        Change::Drifted => "changed",
        Change::Deleted => "deleted by prune",
        Change::Unchanged => "unchanged",
        Change::Skipped => "skipped",
    }
}

/// The display lines of a report: errors first, then each object with hunks.
pub fn build_rows(report: &DiffReport, side: bool) -> Vec<DiffRow> {
    let mut rows = Vec::new();
    for e in &report.errors {
        rows.push(DiffRow {
            kind: RowKind::Error,
            text: format!("error: {}: {}", e.object.display(), e.message),
            right: None,
            hunk: None,
        });
    }
    for (oi, obj) in report.objects.iter().enumerate() {
        if obj.hunks.is_empty() {
            continue;
        }
        rows.push(DiffRow {
            kind: RowKind::Object,
            text: format!("{} ({})", obj.object.display(), change_word(obj.change)),
            right: None,
            hunk: None,
        });
        for (hi, hunk) in obj.hunks.iter().enumerate() {
            let at = Some((oi, hi));
            rows.push(DiffRow {
                kind: RowKind::Hunk,
                text: hunk.header(),
                right: None,
                hunk: at,
            });
            if side {
                for r in side_by_side(hunk) {
                    let kind = if r.changed() {
                        RowKind::Changed
                    } else {
                        RowKind::Context
                    };
                    let cell = |s: &Option<(usize, String)>| match s {
                        Some((n, t)) => format!("{n:>4} {t}"),
                        None => String::new(),
                    };
                    rows.push(DiffRow {
                        kind,
                        text: cell(&r.left),
                        right: Some(cell(&r.right)),
                        hunk: at,
                    });
                }
            } else {
                for l in &hunk.lines {
                    let kind = match l.tag {
                        LineTag::Equal => RowKind::Context,
                        LineTag::Delete => RowKind::Delete,
                        LineTag::Insert => RowKind::Insert,
                    };
                    rows.push(DiffRow {
                        kind,
                        text: format!("{}{}", l.tag.sign(), l.text),
                        right: None,
                        hunk: at,
                    });
                }
            }
        }
    }
    rows
}

fn row_style(ui: &Chrome, kind: RowKind) -> Style {
    let t = ui.theme;
    match kind {
        RowKind::Object => t.title,
        RowKind::Hunk => t.diff_hunk,
        RowKind::Context => t.text,
        RowKind::Delete => t.diff_del,
        RowKind::Insert => t.diff_add,
        RowKind::Changed => t.text,
        RowKind::Error => t.failing,
    }
}

/// Cuts `s` to `width` characters.
fn fit(s: &str, width: usize) -> String {
    s.chars().take(width).collect()
}

/// Draws the diff overlay over `area`.
pub fn render(ui: &Chrome, v: &DiffView, frame: &mut Frame, area: Rect) {
    let t = ui.theme;
    let km = ui.keymap;
    let hint = match &v.search {
        Some(term) if v.typing => format!(" /{term}█ "),
        Some(term) => format!(
            " /{term} — {}/{} match, {} back ",
            km.hint(Scope::Diff, Command::NextHunk),
            km.hint(Scope::Diff, Command::PrevHunk),
            km.hint(Scope::Global, Command::Back),
        ),
        None => format!(
            " — {} side-by-side, {}/{} hunk, {} search, {}/{} copy, {} back ",
            km.hint(Scope::Diff, Command::SideBySide),
            km.hint(Scope::Diff, Command::NextHunk),
            km.hint(Scope::Diff, Command::PrevHunk),
            km.hint(Scope::Diff, Command::Search),
            km.hint(Scope::Diff, Command::CopyHunk),
            km.hint(Scope::Diff, Command::CopyAll),
            km.hint(Scope::Global, Command::Back),
        ),
    };
    let title = format!(
        " diff {} {}/{}{hint}",
        v.key.context, v.key.namespace, v.key.name
    );
    frame.render_widget(Clear, area);
    let block = overlay_block(title, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
    let summary = match (&v.error, v.summary()) {
        (Some(e), _) => Line::styled(format!("cannot diff: {e}"), t.failing),
        (None, Some(s)) => Line::styled(s, t.header_key.patch(t.title)),
        (None, None) => Line::styled("building the desired state and dry-running it…", t.text),
    };
    frame.render_widget(Paragraph::new(summary), head);
    let height = usize::from(body.height);
    let width = usize::from(body.width);
    let scroll = v.scroll.min(v.rows.len().saturating_sub(height.max(1)));
    let half = width.saturating_sub(1) / 2;
    let lines: Vec<Line> = v
        .rows
        .iter()
        .enumerate()
        .skip(scroll)
        .take(height)
        .map(|(i, r)| {
            let mut style = row_style(ui, r.kind);
            if v.is_match(i) {
                style = style.patch(t.marked);
            }
            match (&r.right, v.side_by_side) {
                (Some(right), true) => {
                    let (ls, rs) = if r.kind == RowKind::Changed {
                        (t.diff_del, t.diff_add)
                    } else {
                        (style, style)
                    };
                    let (ls, rs) = if v.is_match(i) {
                        (ls.patch(t.marked), rs.patch(t.marked))
                    } else {
                        (ls, rs)
                    };
                    Line::from(vec![
                        Span::styled(format!("{:<half$}", fit(&r.text, half)), ls),
                        Span::styled("│", t.header_key),
                        Span::styled(fit(right, width.saturating_sub(half + 1)), rs),
                    ])
                }
                _ => Line::styled(fit(&r.text, width), style),
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).style(t.text), body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tree::ObjectRef;
    use crate::views::diff::object_diff;
    use serde_json::json;

    fn report() -> DiffReport {
        let r = |name: &str| ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "apps".into(),
            name: name.into(),
        };
        let cm = |name: &str, v: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": name, "namespace": "apps"},
                   "data": {"a": v, "b": "same", "c": "same", "d": "same", "e": "same", "f": "same",
                            "g": "same", "h": "same", "z": v}})
        };
        DiffReport {
            objects: vec![
                object_diff(
                    r("one"),
                    Change::Drifted,
                    Some(&cm("one", "1")),
                    Some(&cm("one", "2")),
                ),
                object_diff(
                    r("two"),
                    Change::Unchanged,
                    Some(&cm("two", "1")),
                    Some(&cm("two", "1")),
                ),
                object_diff(r("three"), Change::Created, None, Some(&cm("three", "3"))),
            ],
            errors: Vec::new(),
        }
    }

    #[test]
    fn hunks_jump_copy_search_and_side_by_side() {
        let key = RowKey {
            context: "c".into(),
            kind: "Kustomization",
            namespace: "flux-system".into(),
            name: "apps".into(),
        };
        let mut v = DiffView::loading(key);
        assert_eq!(v.summary(), None);
        v.receive(Ok(report()));
        assert_eq!(
            v.summary().unwrap(),
            "1 created · 1 changed · 0 deleted by prune · 1 unchanged"
        );
        let heads: Vec<usize> = v
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind == RowKind::Hunk)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(heads.len(), 3, "{:#?}", v.rows);
        assert!(v.jump_hunk(true));
        assert_eq!(v.scroll, heads[0]);
        let (text, what) = v.hunk_text().unwrap();
        assert!(
            text.starts_with("--- ConfigMap/apps/one (live)\n+++ ConfigMap/apps/one (desired)\n@@")
        );
        assert!(
            text.contains("-  a: '1'") || text.contains("-  a: \"1\""),
            "{text}"
        );
        assert_eq!(what, "hunk 1 of ConfigMap/apps/one");
        assert!(v.jump_hunk(true));
        assert!(v.jump_hunk(true));
        assert_eq!(v.scroll, heads[2]);
        assert!(!v.jump_hunk(true));
        assert!(v.jump_hunk(false));
        assert_eq!(v.scroll, heads[1]);
        // Side by side keeps the hunk in view and pairs the changed lines.
        v.toggle_layout();
        assert!(v.side_by_side);
        assert_eq!(v.rows[v.scroll].hunk, Some((0, 1)));
        assert!(v.rows.iter().any(|r| r.kind == RowKind::Changed
            && r.text.contains("z: ")
            && r.right.as_deref().is_some_and(|x| x.contains("z: "))));
        v.search = Some("THREE".into());
        assert!(v.jump_match(true, true));
        assert!(v.rows[v.scroll].text.contains("three"));
        v.search = Some("nowhere".into());
        assert!(!v.jump_match(true, true));
        assert!(
            v.full_text()
                .unwrap()
                .contains("+++ ConfigMap/apps/three (desired)")
        );
        v.receive(Err("gone".into()));
        assert_eq!(v.error.as_deref(), Some("gone"));
    }
}
