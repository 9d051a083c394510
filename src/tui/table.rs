//! The table view's own state: which rows it shows (view, filter), their order, and the selection.

use crate::cluster::Store;
use crate::model::KindInfo;
use crate::model::health::Health;
use crate::model::row::{Row, RowKey};
use regex::{Regex, RegexBuilder};

/// What a table view lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    /// Every GitOps kind merged.
    All,
    /// One kind.
    Kind(&'static KindInfo),
    /// Failing rows of every kind.
    Failing,
    /// Suspended rows of every kind.
    Suspended,
}

impl ViewKind {
    /// The crumb / title: `all`, `kustomizations`, `failing`, `suspended`.
    pub fn title(&self) -> &'static str {
        match self {
            ViewKind::All => "all",
            ViewKind::Kind(k) => k.plural,
            ViewKind::Failing => "failing",
            ViewKind::Suspended => "suspended",
        }
    }

    /// Whether rows of several kinds appear (so a KIND column is needed).
    pub fn is_merged(&self) -> bool {
        !matches!(self, ViewKind::Kind(_))
    }

    fn admits(&self, row: &Row) -> bool {
        match self {
            ViewKind::All => true,
            ViewKind::Kind(k) => std::ptr::eq(*k, row.kind) || k.kind == row.kind.kind,
            ViewKind::Failing => row.health == Health::Failing,
            ViewKind::Suspended => row.suspended || row.health == Health::Suspended,
        }
    }
}

/// The column a table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Store order: context, kind, namespace, name.
    Key,
    /// Name, then namespace and context.
    Name,
    /// Age (newest first when ascending, like k9s).
    Age,
    /// Health: failing first.
    Status,
    /// READY column: False first.
    Ready,
}

/// A compiled `/` filter.
#[derive(Debug, Clone)]
pub struct Filter {
    /// What the user typed.
    pub text: String,
    regex: Regex,
    invert: bool,
}

impl Filter {
    /// Compiles `text`: a case-insensitive regex (a literal if the regex is invalid); a leading `!`
    /// inverts. None for an empty filter.
    pub fn new(text: &str) -> Option<Filter> {
        let (invert, pattern) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if pattern.is_empty() {
            return None;
        }
        let build = |p: &str| {
            RegexBuilder::new(p)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
        };
        let regex = build(pattern)
            .or_else(|_| build(&regex::escape(pattern)))
            .ok()?;
        Some(Filter {
            text: text.to_string(),
            regex,
            invert,
        })
    }

    /// Whether a row passes (matches context, kind, namespace, name or status message).
    pub fn admits(&self, row: &Row) -> bool {
        let hit = [
            row.name.as_str(),
            row.namespace.as_str(),
            row.context.as_str(),
            row.kind.kind,
            row.message.as_str(),
        ]
        .iter()
        .any(|s| self.regex.is_match(s));
        hit != self.invert
    }
}

/// The state of one table view; the back stack keeps earlier ones whole.
#[derive(Debug, Clone)]
pub struct TableView {
    /// What it lists.
    pub kind: ViewKind,
    /// The `/` filter, if any.
    pub filter: Option<Filter>,
    /// Sort column.
    pub sort: SortBy,
    /// Reverse the sort.
    pub descending: bool,
    /// The selected row, by key (survives updates and re-sorts).
    pub selected: Option<RowKey>,
}

impl TableView {
    /// A fresh view.
    pub fn new(kind: ViewKind) -> TableView {
        TableView {
            kind,
            filter: None,
            sort: SortBy::Key,
            descending: false,
            selected: None,
        }
    }

    /// The rows this view shows, filtered and sorted.
    pub fn rows<'a>(&self, store: &'a Store) -> Vec<&'a Row> {
        let mut rows: Vec<&Row> = store
            .rows()
            .filter(|r| self.kind.admits(r))
            .filter(|r| self.filter.as_ref().is_none_or(|f| f.admits(r)))
            .collect();
        match self.sort {
            SortBy::Key => {}
            SortBy::Name => rows.sort_by(|a, b| {
                (&a.name, &a.namespace, &a.context).cmp(&(&b.name, &b.namespace, &b.context))
            }),
            // Newest first, rows without a timestamp last.
            SortBy::Age => rows.sort_by_key(|r| std::cmp::Reverse(r.created.unwrap_or(i64::MIN))),
            SortBy::Status => rows.sort_by_key(|r| health_rank(r.health)),
            SortBy::Ready => rows.sort_by_key(|r| match r.ready {
                crate::model::ConditionStatus::False => 0,
                crate::model::ConditionStatus::Unknown => 1,
                crate::model::ConditionStatus::True => 2,
            }),
        }
        if self.descending {
            rows.reverse();
        }
        rows
    }

    /// Sorts by `by`; choosing the current column again flips the direction (as k9s does).
    pub fn sort_by(&mut self, by: SortBy) {
        if self.sort == by {
            self.descending = !self.descending;
        } else {
            self.sort = by;
            self.descending = false;
        }
    }

    /// The index of the selected row in `rows` (0 when the selection is gone).
    pub fn selected_index(&self, rows: &[&Row]) -> usize {
        self.selected
            .as_ref()
            .and_then(|k| rows.iter().position(|r| r.key() == *k))
            .unwrap_or(0)
    }
}

fn health_rank(h: Health) -> u8 {
    match h {
        Health::Failing => 0,
        Health::Progressing => 1,
        Health::Unknown => 2,
        Health::Suspended => 3,
        Health::Ready => 4,
    }
}
