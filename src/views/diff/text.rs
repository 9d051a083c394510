//! Line diffs of two texts with `similar`: unified hunks, side-by-side rows for a two-column view,
//! and the unified text rendering.

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

/// Lines of context around each change (as `diff -u`).
pub const CONTEXT_LINES: usize = 3;

/// What a diff line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LineTag {
    /// In both texts.
    Equal,
    /// Only in the old text.
    Delete,
    /// Only in the new text.
    Insert,
}

impl LineTag {
    /// The unified-diff prefix: ` `, `-`, `+`.
    pub fn sign(self) -> char {
        match self {
            Self::Equal => ' ',
            Self::Delete => '-',
            Self::Insert => '+',
        }
    }
}

/// One line of a hunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    /// Equal, deleted or inserted.
    pub tag: LineTag,
    /// 1-based line number in the old text.
    pub old: Option<usize>,
    /// 1-based line number in the new text.
    pub new: Option<usize>,
    /// The line without its newline.
    pub text: String,
}

/// One unified-diff hunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunk {
    /// 1-based first old line (0 when the old range is empty).
    pub old_start: usize,
    /// Old lines covered.
    pub old_len: usize,
    /// 1-based first new line (0 when the new range is empty).
    pub new_start: usize,
    /// New lines covered.
    pub new_len: usize,
    /// The lines.
    pub lines: Vec<DiffLine>,
}

impl Hunk {
    /// `@@ -a,b +c,d @@`.
    pub fn header(&self) -> String {
        format!(
            "@@ -{},{} +{},{} @@",
            self.old_start, self.old_len, self.new_start, self.new_len
        )
    }

    /// The hunk as unified-diff text (header and signed lines), for copying.
    pub fn to_text(&self) -> String {
        let mut out = self.header();
        out.push('\n');
        for l in &self.lines {
            out.push(l.tag.sign());
            out.push_str(&l.text);
            out.push('\n');
        }
        out
    }
}

/// The hunks turning `before` into `after`, with `context` lines around changes.
pub fn hunks(before: &str, after: &str, context: usize) -> Vec<Hunk> {
    let diff = TextDiff::from_lines(before, after);
    let mut out = Vec::new();
    for group in diff.grouped_ops(context) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let (old_range, new_range) = (
            first.old_range().start..last.old_range().end,
            first.new_range().start..last.new_range().end,
        );
        let start = |r: &std::ops::Range<usize>| if r.is_empty() { r.start } else { r.start + 1 };
        let mut lines = Vec::new();
        for op in &group {
            for change in diff.iter_changes(op) {
                let tag = match change.tag() {
                    ChangeTag::Equal => LineTag::Equal,
                    ChangeTag::Delete => LineTag::Delete,
                    ChangeTag::Insert => LineTag::Insert,
                };
                let text = change.value();
                lines.push(DiffLine {
                    tag,
                    old: change.old_index().map(|i| i + 1),
                    new: change.new_index().map(|i| i + 1),
                    text: text.strip_suffix('\n').unwrap_or(text).to_string(),
                });
            }
        }
        out.push(Hunk {
            old_start: start(&old_range),
            old_len: old_range.len(),
            new_start: start(&new_range),
            new_len: new_range.len(),
            lines,
        });
    }
    out
}

/// One row of a side-by-side view: the old line on the left, the new one on the right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideBySideRow {
    /// Old line number and text.
    pub left: Option<(usize, String)>,
    /// New line number and text.
    pub right: Option<(usize, String)>,
}

impl SideBySideRow {
    /// Whether the two sides differ.
    pub fn changed(&self) -> bool {
        match (&self.left, &self.right) {
            (Some((_, a)), Some((_, b))) => a != b,
            _ => true,
        }
    }
}

/// Side-by-side rows of a hunk: equal lines on both sides, each run of deletions paired line by
/// line with the insertions that follow it.
pub fn side_by_side(hunk: &Hunk) -> Vec<SideBySideRow> {
    let mut rows = Vec::new();
    let mut deleted: Vec<(usize, String)> = Vec::new();
    let mut inserted: Vec<(usize, String)> = Vec::new();
    let flush = |rows: &mut Vec<SideBySideRow>,
                 deleted: &mut Vec<(usize, String)>,
                 inserted: &mut Vec<(usize, String)>| {
        let n = deleted.len().max(inserted.len());
        let mut d = deleted.drain(..);
        let mut i = inserted.drain(..);
        for _ in 0..n {
            rows.push(SideBySideRow {
                left: d.next(),
                right: i.next(),
            });
        }
    };
    for l in &hunk.lines {
        match l.tag {
            LineTag::Equal => {
                flush(&mut rows, &mut deleted, &mut inserted);
                rows.push(SideBySideRow {
                    left: l.old.map(|n| (n, l.text.clone())),
                    right: l.new.map(|n| (n, l.text.clone())),
                });
            }
            LineTag::Delete => {
                if !inserted.is_empty() {
                    flush(&mut rows, &mut deleted, &mut inserted);
                }
                deleted.push((l.old.unwrap_or(0), l.text.clone()));
            }
            LineTag::Insert => inserted.push((l.new.unwrap_or(0), l.text.clone())),
        }
    }
    flush(&mut rows, &mut deleted, &mut inserted);
    rows
}

/// Unified-diff text: `--- old_label`, `+++ new_label`, then each hunk.
pub fn render_unified(hunks: &[Hunk], old_label: &str, new_label: &str) -> String {
    if hunks.is_empty() {
        return String::new();
    }
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    for h in hunks {
        out.push_str(&h.to_text());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_changed_line_gives_one_hunk_with_context() {
        let a = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let b = "a\nb\nc\nd\nE\nf\ng\nh\n";
        let h = hunks(a, b, 3);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].header(), "@@ -2,7 +2,7 @@");
        assert_eq!(
            h[0].to_text(),
            "@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
        );
        let rows = side_by_side(&h[0]);
        assert_eq!(rows.len(), 7);
        assert_eq!(rows[3].left, Some((5, "e".to_string())));
        assert_eq!(rows[3].right, Some((5, "E".to_string())));
        assert!(rows[3].changed());
        assert!(!rows[0].changed());
        assert_eq!(
            render_unified(&h, "live", "desired"),
            format!("--- live\n+++ desired\n{}", h[0].to_text())
        );
    }

    #[test]
    fn creation_deletion_and_no_change() {
        let h = hunks("", "x: 1\ny: 2\n", 3);
        assert_eq!(h[0].header(), "@@ -0,0 +1,2 @@");
        let h = hunks("x: 1\n", "", 3);
        assert_eq!(h[0].header(), "@@ -1,1 +0,0 @@");
        assert!(hunks("same\n", "same\n", 3).is_empty());
        assert_eq!(render_unified(&[], "a", "b"), "");
        // Unbalanced runs pair up and leave blanks.
        let h = hunks("a\nb\nc\n", "a\nX\n", 1);
        let rows = side_by_side(&h[0]);
        assert!(rows.iter().any(|r| r.left.is_some() && r.right.is_none()));
    }

    #[test]
    fn far_apart_changes_make_separate_hunks() {
        let a: String = (0..40).map(|i| format!("l{i}\n")).collect();
        let b = a.replace("l2\n", "L2\n").replace("l35\n", "L35\n");
        let h = hunks(&a, &b, 3);
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].header(), "@@ -33,7 +33,7 @@");
    }
}
