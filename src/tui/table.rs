//! The table view's own state: which rows it shows (view, scope, filter), their order, and the
//! selection. The filtered, sorted row list is cached and rebuilt only when the store, the filter, the
//! sort or the scope changes, so a frame over 10,000 rows costs a slice, not a sort.

use crate::cluster::Store;
use crate::model::KindInfo;
use crate::model::health::Health;
use crate::model::row::{Row, RowKey};
use crate::model::selector::LabelSelector;
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};
use regex::{Regex, RegexBuilder};
use std::collections::BTreeSet;

/// What a table view lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    /// Every GitOps kind merged.
    All,
    /// One kind.
    Kind(&'static KindInfo),
    /// Rows of every kind whose READY is not True (Flux and Argo CD alike), and failing ones.
    Failing,
    /// Suspended rows of every kind.
    Suspended,
    /// Kubernetes Events of GitOps objects (not Store rows).
    Events,
}

impl ViewKind {
    /// Parses a view name as `-c` and `:` accept it: all, failing, suspended, events, or a kind name
    /// or alias (ks, gr, hr, app, ...).
    pub fn parse(name: &str) -> Option<ViewKind> {
        match name {
            "all" | "gitops" => Some(ViewKind::All),
            "failing" | "fail" => Some(ViewKind::Failing),
            "suspended" | "susp" => Some(ViewKind::Suspended),
            "events" | "ev" | "event" => Some(ViewKind::Events),
            other => crate::model::lookup(other).map(ViewKind::Kind),
        }
    }

    /// The crumb / title: `all`, `kustomizations`, `failing`, `suspended`, `events`.
    pub fn title(&self) -> &'static str {
        match self {
            ViewKind::All => "all",
            ViewKind::Kind(k) => k.plural,
            ViewKind::Failing => "failing",
            ViewKind::Suspended => "suspended",
            ViewKind::Events => "events",
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
            ViewKind::Failing => {
                row.ready != crate::model::ConditionStatus::True || row.health == Health::Failing
            }
            ViewKind::Suspended => row.suspended || row.health == Health::Suspended,
            ViewKind::Events => false,
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

/// How a `/` filter matches.
#[derive(Debug, Clone)]
enum Matching {
    /// Case-insensitive regexes, one per whitespace-separated term, each of which must match the
    /// whole row as the table shows it ([`row_text`]): `/staging apps` = `staging` and `apps`.
    Regex(Vec<Term>),
    /// `-l key=value,key2=value2` (the API server's label selector grammar) over `metadata.labels`.
    Labels(LabelSelector),
    /// `-f text`: fuzzy match (nucleo) within any cell of the row, or `namespace/name`.
    Fuzzy(String),
}

/// One term of a regex filter.
#[derive(Debug, Clone)]
struct Term {
    regex: Regex,
    /// Anchored (`^apps$`): also tried on each cell alone, where the anchors mean the cell's ends.
    per_cell: bool,
}

/// A compiled `/` filter.
#[derive(Debug, Clone)]
pub struct Filter {
    /// What the user typed.
    pub text: String,
    matching: Matching,
    invert: bool,
}

/// A filter that cannot be used, with the reason shown on the flash line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A label selector is malformed.
    #[error(
        "-l {selector:?}: {reason} (expected key=value, key!=value, key, !key or key in (a,b), comma-separated)"
    )]
    BadLabel {
        /// The selector as typed.
        selector: String,
        /// What the parser found wrong.
        reason: String,
    },
}

impl Filter {
    /// Compiles `text`: `-f TEXT` fuzzy, `-l SELECTOR` labels, else a case-insensitive regex (a literal
    /// if the regex is invalid); a leading `!` inverts. `Ok(None)` for an empty filter.
    pub fn parse(text: &str) -> Result<Option<Filter>, FilterError> {
        let (invert, rest) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let matching = if let Some(sel) = rest.strip_prefix("-l") {
            let sel = sel.trim();
            if sel.is_empty() {
                return Ok(None);
            }
            Matching::Labels(parse_selector(sel)?)
        } else if let Some(f) = rest.strip_prefix("-f") {
            let f = f.trim();
            if f.is_empty() {
                return Ok(None);
            }
            Matching::Fuzzy(f.to_string())
        } else {
            if rest.is_empty() {
                return Ok(None);
            }
            let build = |p: &str| {
                RegexBuilder::new(p)
                    .case_insensitive(true)
                    .size_limit(1 << 20)
                    .build()
            };
            let mut terms = Vec::new();
            for term in rest.split_whitespace() {
                match build(term).or_else(|_| build(&regex::escape(term))) {
                    Ok(regex) => terms.push(Term {
                        per_cell: term.contains(['^', '$']),
                        regex,
                    }),
                    // Even the escaped literal is too big for the size limit: filter nothing rather
                    // than panic.
                    Err(_) => return Ok(None),
                }
            }
            if terms.is_empty() {
                return Ok(None);
            }
            Matching::Regex(terms)
        };
        Ok(Some(Filter {
            text: text.to_string(),
            matching,
            invert,
        }))
    }

    /// Like [`Filter::parse`], dropping errors (the old API).
    pub fn new(text: &str) -> Option<Filter> {
        Filter::parse(text).ok().flatten()
    }

    /// Whether this is a label filter (which the events list cannot answer).
    pub fn needs_labels(&self) -> bool {
        self.label_selector().is_some()
    }

    /// The selector of a label filter.
    pub fn label_selector(&self) -> Option<&LabelSelector> {
        match &self.matching {
            Matching::Labels(selector) => Some(selector),
            _ => None,
        }
    }

    /// Whether a string passes a regex or fuzzy filter (for the events list).
    pub fn admits_text(&self, fields: &[&str]) -> bool {
        let hit = match &self.matching {
            Matching::Regex(terms) => terms
                .iter()
                .all(|t| fields.iter().any(|s| t.regex.is_match(s))),
            Matching::Fuzzy(f) => {
                let mut m = FuzzyMatcher::new(f);
                fields.iter().any(|s| m.matches(s))
            }
            Matching::Labels(_) => false,
        };
        hit != self.invert
    }

    fn admits(&self, row: &Row, scratch: &mut Scratch) -> bool {
        let hit = match &self.matching {
            Matching::Regex(terms) => {
                row_text(row, &mut scratch.text);
                terms.iter().all(|t| {
                    t.regex.is_match(&scratch.text)
                        || (t.per_cell && row_cells(row).any(|c| t.regex.is_match(c)))
                })
            }
            // Fuzzy within any one cell of the row (or `namespace/name`): across the joined row,
            // a few letters would find a subsequence in nearly every long message.
            Matching::Fuzzy(f) => {
                let m = scratch.fuzzy.get_or_insert_with(|| FuzzyMatcher::new(f));
                scratch.text.clear();
                scratch.text.push_str(&row.namespace);
                scratch.text.push('/');
                scratch.text.push_str(&row.name);
                m.matches(&scratch.text) || row_cells(row).any(|cell| m.matches(cell))
            }
            Matching::Labels(selector) => row.labels.satisfy(selector),
        };
        hit != self.invert
    }
}

/// Buffers reused across the rows of one table refresh (no allocation per row).
#[derive(Default)]
struct Scratch {
    text: String,
    fuzzy: Option<FuzzyMatcher>,
}

/// The row as one line of text, its cells in the table's order separated by single spaces, as k9s
/// matches `/`: context, namespace, name, kind (short and full), READY, the kind's own cells, STATUS
/// (the message), revision and `suspended` when it is. Ages are left out (they change every second).
/// So `/staging apps` finds namespace `apps` in context `staging`, and `/False` the rows not ready.
pub fn row_text(row: &Row, out: &mut String) {
    out.clear();
    for (i, cell) in row_cells(row).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(cell);
    }
}

/// The row's searchable cells in table order (see [`row_text`]).
fn row_cells(row: &Row) -> impl Iterator<Item = &str> {
    let ready = match row.ready {
        crate::model::ConditionStatus::True => "True",
        crate::model::ConditionStatus::False => "False",
        crate::model::ConditionStatus::Unknown => "Unknown",
    };
    [
        row.context.as_str(),
        row.namespace.as_str(),
        row.name.as_str(),
        row.kind.short,
        row.kind.kind,
        ready,
    ]
    .into_iter()
    .chain(row.cells.iter().map(String::as_str))
    .chain([row.message.as_str(), row.revision.as_str()])
    .chain(row.suspended.then_some("suspended"))
}

/// A nucleo pattern with its scratch buffers (built once per table refresh).
struct FuzzyMatcher {
    pattern: Pattern,
    matcher: Matcher,
    buf: Vec<char>,
}

impl FuzzyMatcher {
    fn new(text: &str) -> FuzzyMatcher {
        FuzzyMatcher {
            pattern: Pattern::parse(text, CaseMatching::Ignore, Normalization::Smart),
            matcher: Matcher::new(Config::DEFAULT),
            buf: Vec::new(),
        }
    }

    fn matches(&mut self, haystack: &str) -> bool {
        self.pattern
            .score(Utf32Str::new(haystack, &mut self.buf), &mut self.matcher)
            .is_some()
    }
}

/// Parses a label selector as `-l` (and `flotilla get -l`) take it: the API server's grammar,
/// one parser for the whole crate ([`crate::model::selector`]).
pub fn parse_selector(sel: &str) -> Result<LabelSelector, FilterError> {
    LabelSelector::parse(sel).map_err(|reason| FilterError::BadLabel {
        selector: sel.to_string(),
        reason,
    })
}

/// Which contexts and namespace every view shows (`:ctx`, `:ns`, favourites).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowScope {
    /// Contexts hidden from every view.
    pub hidden: BTreeSet<String>,
    /// Show only this namespace (`None` = all).
    pub namespace: Option<String>,
    /// Bumped on every change (cache stamp).
    pub revision: u64,
}

impl RowScope {
    /// Whether a row is in scope (its context shown, its namespace the chosen one).
    pub fn admits(&self, row: &Row) -> bool {
        !self.hidden.contains(&row.context)
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == row.namespace)
    }

    /// Hides or shows one context.
    pub fn toggle(&mut self, context: &str) {
        if !self.hidden.remove(context) {
            self.hidden.insert(context.to_string());
        }
        self.revision += 1;
    }

    /// Shows only `context` among `all`.
    pub fn only(&mut self, context: &str, all: &[String]) {
        self.hidden = all.iter().filter(|c| *c != context).cloned().collect();
        self.revision += 1;
    }

    /// Shows every context.
    pub fn show_all(&mut self) {
        self.hidden.clear();
        self.revision += 1;
    }

    /// Narrows to one namespace (`None` = all).
    pub fn set_namespace(&mut self, namespace: Option<String>) {
        self.namespace = namespace;
        self.revision += 1;
    }
}

/// The cached result of filtering and sorting, valid for one (store, view, scope) stamp.
#[derive(Debug, Clone, Default)]
struct RowsCache {
    stamp: (u64, u64, u64),
    ids: Vec<usize>,
}

/// The state of one table view; the back stack keeps earlier ones whole.
#[derive(Debug, Clone)]
pub struct TableView {
    /// What it lists.
    pub kind: ViewKind,
    filter: Option<Filter>,
    sort: SortBy,
    descending: bool,
    /// The selected row, by key (survives updates and re-sorts).
    pub selected: Option<RowKey>,
    /// Bumped when the filter or sort changes.
    revision: u64,
    cache: Option<RowsCache>,
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
            revision: 0,
            cache: None,
        }
    }

    /// The `/` filter, if any.
    pub fn filter(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    /// Replaces the filter (`None` clears it).
    pub fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
        self.revision += 1;
    }

    /// The sort column and whether it is reversed.
    pub fn sort(&self) -> (SortBy, bool) {
        (self.sort, self.descending)
    }

    /// Sorts by `by`; choosing the current column again flips the direction (as k9s does).
    pub fn sort_by(&mut self, by: SortBy) {
        if self.sort == by {
            self.descending = !self.descending;
        } else {
            self.sort = by;
            self.descending = false;
        }
        self.revision += 1;
    }

    fn stamp(&self, store: &Store, scope: &RowScope) -> (u64, u64, u64) {
        (store.generation(), self.revision, scope.revision)
    }

    /// Whether the cache matches the store and scope (render then only slices it).
    pub fn is_fresh(&self, store: &Store, scope: &RowScope) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|c| c.stamp == self.stamp(store, scope))
    }

    /// Rebuilds the cached row list if the store, filter, sort or scope changed since the last build.
    pub fn refresh(&mut self, store: &Store, scope: &RowScope) {
        if self.is_fresh(store, scope) {
            return;
        }
        let ids = self.compute(store, scope);
        self.cache = Some(RowsCache {
            stamp: self.stamp(store, scope),
            ids,
        });
    }

    fn compute(&self, store: &Store, scope: &RowScope) -> Vec<usize> {
        let mut scratch = Scratch::default();
        let mut ids: Vec<usize> = store
            .ids()
            .filter(|&id| {
                store.row_at(id).is_some_and(|r| {
                    self.kind.admits(r)
                        && scope.admits(r)
                        && self
                            .filter
                            .as_ref()
                            .is_none_or(|f| f.admits(r, &mut scratch))
                })
            })
            .collect();
        let row = |id: &usize| store.row_at(*id);
        match self.sort {
            SortBy::Key => {}
            SortBy::Name => ids.sort_by(|a, b| {
                let key = |id| row(id).map(|r| (&r.name, &r.namespace, &r.context));
                key(a).cmp(&key(b))
            }),
            // Newest first, rows without a timestamp last.
            SortBy::Age => ids.sort_by_key(|id| {
                std::cmp::Reverse(row(id).and_then(|r| r.created).unwrap_or(i64::MIN))
            }),
            SortBy::Status => ids.sort_by_key(|id| row(id).map_or(9, |r| health_rank(r.health))),
            SortBy::Ready => ids.sort_by_key(|id| {
                row(id).map_or(9, |r| match r.ready {
                    crate::model::ConditionStatus::False => 0,
                    crate::model::ConditionStatus::Unknown => 1,
                    crate::model::ConditionStatus::True => 2,
                })
            }),
        }
        if self.descending {
            ids.reverse();
        }
        ids
    }

    /// The rows this view shows, filtered and sorted: from the cache when fresh, else computed now
    /// (same result, just slower; the console refreshes before drawing).
    pub fn rows<'a>(&self, store: &'a Store, scope: &RowScope) -> Vec<&'a Row> {
        let computed;
        let ids = match &self.cache {
            Some(c) if c.stamp == self.stamp(store, scope) => &c.ids,
            _ => {
                computed = self.compute(store, scope);
                &computed
            }
        };
        ids.iter().filter_map(|&id| store.row_at(id)).collect()
    }

    /// How many rows the view shows (from the cache when fresh).
    pub fn len(&self, store: &Store, scope: &RowScope) -> usize {
        match &self.cache {
            Some(c) if c.stamp == self.stamp(store, scope) => c.ids.len(),
            _ => self.compute(store, scope).len(),
        }
    }

    /// Whether the view shows no rows.
    pub fn is_empty(&self, store: &Store, scope: &RowScope) -> bool {
        self.len(store, scope) == 0
    }

    /// The index of the selected row in `rows` (0 when the selection is gone).
    pub fn selected_index(&self, rows: &[&Row]) -> usize {
        self.selected
            .as_ref()
            .and_then(|k| rows.iter().position(|r| is_key_of(k, r)))
            .unwrap_or(0)
    }
}

/// Compares a key with a row without building the row's key (no allocation per row).
pub fn is_key_of(key: &RowKey, row: &Row) -> bool {
    key.name == row.name
        && key.namespace == row.namespace
        && key.kind == row.kind.kind
        && key.context == row.context
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::row::Labels;

    #[test]
    fn filters_parse_regex_fuzzy_and_labels() {
        assert!(Filter::parse("").unwrap().is_none());
        assert!(Filter::parse("!").unwrap().is_none());
        assert!(Filter::parse("-f ").unwrap().is_none());
        let f = Filter::parse("!-f pdnf").unwrap().unwrap();
        assert!(!f.admits_text(&["podinfo"]));
        assert!(f.admits_text(&["nginx"]));
        let f = Filter::parse("[").unwrap().unwrap();
        assert!(f.admits_text(&["a[b"]));
        assert!(
            Filter::parse("-l app=web,tier!=db,env")
                .unwrap()
                .unwrap()
                .needs_labels()
        );
        assert_eq!(
            parse_selector("a = b ,c!=d,e").unwrap().to_string(),
            "a=b,c!=d,e"
        );
        for bad in [
            "=x", "a b=c", ",", "a,,b", "!", "!=x", "a=b=c", "a!b", "a=b c",
        ] {
            assert!(parse_selector(bad).is_err(), "{bad}");
        }
        let labels = Labels::from_pairs([("app", "web"), ("env", "prod")]);
        let sel = |s: &str| parse_selector(s).unwrap();
        let selector_matches = |s: &LabelSelector, l: &Labels| l.satisfy(s);
        assert!(selector_matches(&sel("app=web,env"), &labels));
        assert!(selector_matches(&sel("app==web,tier!=db"), &labels));
        assert!(selector_matches(&sel("!tier,app"), &labels));
        assert!(selector_matches(
            &sel("app="),
            &Labels::from_pairs([("app", "")])
        ));
        assert!(!selector_matches(&sel("app!=web"), &labels));
        assert!(!selector_matches(&sel("!app"), &labels));
        assert!(!selector_matches(&sel("tier"), &labels));
        assert!(!selector_matches(&sel("app=api"), &labels));
        assert!(!selector_matches(&sel("app="), &labels));
    }
}
