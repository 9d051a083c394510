//! The console's state and its one entry point, [`App::update`]: an event in, effects out. No I/O here.

use super::detail::{self, DetailView, Loaded};
use super::diff_view::DiffView;
use super::keymap::{Command, Key, Keymap, Scope};
use super::prompt::{Prompt, PromptKind};
use super::report_view::{ReportData, ReportRequest, ReportView};
use super::table::{Filter, RowScope, SortBy, TableView, ViewKind};
use super::theme::Theme;
use super::tree_view::TreeView;
use super::yaml::YamlView;
use crate::cluster::{Action, ContextState, HealthCounts, ObjectEvent, Store, Update};
use crate::model::KindInfo;
use crate::model::row::{Row, RowKey};
use crate::model::tree::{HealthTree, ObjectRef};
use crate::views::Fetched;
use crate::views::diff::DiffReport;
use crate::views::images::decisions::ImageTarget;
use crossterm::event::{KeyCode, KeyEvent};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Something that happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// A key press.
    Key(KeyEvent),
    /// The terminal was resized to (columns, rows).
    Resize(u16, u16),
    /// A clock tick carrying the current time (unix seconds), for ages.
    Tick(i64),
    /// A change from the watch layer.
    Cluster(Update),
    /// A full object arrived (for the YAML and detail views).
    Fetched {
        /// The object.
        key: RowKey,
        /// The object, or the error message.
        result: Result<serde_json::Value, String>,
    },
    /// The Events of one object arrived (for the detail view).
    EventsFetched {
        /// The object.
        key: RowKey,
        /// The Events, or the error message.
        result: Result<Vec<ObjectEvent>, String>,
    },
    /// A live Kubernetes Event about a GitOps object (for `:events`).
    ObjectEvent(ObjectEvent),
    /// An action finished on one object.
    ActionDone {
        /// The object.
        key: RowKey,
        /// The action's name.
        action: &'static str,
        /// Ok, or the error message.
        result: Result<(), String>,
    },
    /// A copy finished: what was copied and how (`name apps via OSC 52`), or why it failed.
    Copied(Result<String, String>),
    /// The in-process reconciler's queue: keys waiting for a worker, and runs in flight.
    Reconciler {
        /// Keys due and waiting.
        queued: usize,
        /// Runs in progress.
        in_flight: usize,
    },
    /// An extension command (`:demo commit`) finished: the line to show, or the error.
    CommandDone(Result<String, String>),
    /// A health tree arrived (answers [`Effect::FetchTree`]).
    TreeFetched {
        /// The object.
        key: RowKey,
        /// The tree and the objects that could not be read, or the error message.
        result: Result<Box<Fetched<HealthTree>>, String>,
    },
    /// A diff arrived (answers [`Effect::FetchDiff`]).
    DiffFetched {
        /// The Kustomization.
        key: RowKey,
        /// The report, or the error message.
        result: Result<DiffReport, String>,
    },
    /// A report arrived (answers [`Effect::FetchReport`]).
    ReportFetched {
        /// What was asked.
        request: ReportRequest,
        /// The data, or the error message.
        result: Result<ReportData, String>,
    },
}

/// Work for the runtime to do outside `update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Run an extension command given on the `:` line (answered by [`Event::CommandDone`]).
    Extension(String),
    /// Fetch the full object (answered by [`Event::Fetched`]).
    Fetch(RowKey),
    /// Fetch the object's Events (answered by [`Event::EventsFetched`]).
    FetchEvents(RowKey),
    /// Start watching Events in every context (answered by [`Event::ObjectEvent`]s).
    WatchEvents,
    /// Leave the console.
    Quit,
    /// Run `action` on each object.
    Apply {
        /// The objects.
        targets: Vec<RowKey>,
        /// The action.
        action: Action,
    },
    /// Build the health tree of a Kustomization, HelmRelease or Application (answered by
    /// [`Event::TreeFetched`]).
    FetchTree(RowKey),
    /// Diff a Kustomization against the cluster (answered by [`Event::DiffFetched`]).
    FetchDiff(RowKey),
    /// Gather a report: dependsOn, trace or image decisions (answered by [`Event::ReportFetched`]).
    FetchReport(ReportRequest),
    /// Copy text to the clipboard (answered by [`Event::Copied`]).
    Copy {
        /// The text.
        text: String,
        /// What it is, for the flash (`name apps`, `YAML of apps`).
        what: String,
    },
}

/// A one-line message under the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// The text.
    pub text: String,
    /// Whether it reports an error.
    pub error: bool,
}

impl Flash {
    fn info(text: impl Into<String>) -> Option<Flash> {
        Some(Flash {
            text: text.into(),
            error: false,
        })
    }

    fn error(text: impl Into<String>) -> Option<Flash> {
        Some(Flash {
            text: text.into(),
            error: true,
        })
    }
}

/// A pending confirmation of an action.
#[derive(Debug, Clone)]
pub struct Confirm {
    /// The action.
    pub action: Action,
    /// Every target, as shown in the dialog.
    pub targets: Vec<RowKey>,
    /// First target line shown (the list scrolls when it is longer than the screen).
    pub scroll: usize,
}

/// A list to pick from (`:ctx`, `:ns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picker {
    /// The entries.
    pub items: Vec<String>,
    /// The highlighted entry.
    pub selected: usize,
}

impl Picker {
    fn step(&mut self, delta: isize) {
        let last = self.items.len().saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, last.max(0)) as usize;
    }

    fn current(&self) -> Option<&String> {
        self.items.get(self.selected)
    }
}

/// What has the keyboard.
#[derive(Debug, Clone)]
pub enum Focus {
    /// The table (normal mode).
    Table,
    /// The `:` prompt or `/` filter line.
    Prompt(Prompt),
    /// The help overlay, over the focus it returns to (its scope's bindings are listed).
    Help(Box<Focus>),
    /// The confirmation dialog.
    Confirm(Confirm),
    /// The YAML view.
    Yaml(YamlView),
    /// The detail view.
    Detail(DetailView),
    /// The context picker (`:ctx`).
    Contexts(Picker),
    /// The namespace picker (`:ns`).
    Namespaces(Picker),
    /// The health tree (`t`).
    Tree(Box<TreeView>),
    /// The diff of a Kustomization (`x`).
    Diff(DiffView),
    /// A text report: dependsOn (`D`), trace (`T`) or image decisions (`i`).
    Report(ReportView),
}

impl Focus {
    /// The keymap scope that resolves keys while this has focus (help: the one it covers).
    pub fn scope(&self) -> Scope {
        match self {
            Focus::Table | Focus::Prompt(_) => Scope::Table,
            Focus::Help(under) => under.scope(),
            Focus::Confirm(_) => Scope::Dialog,
            Focus::Yaml(_) => Scope::Yaml,
            Focus::Detail(_) => Scope::Detail,
            Focus::Contexts(_) | Focus::Namespaces(_) => Scope::Picker,
            Focus::Tree(_) => Scope::Tree,
            Focus::Diff(_) => Scope::Diff,
            Focus::Report(_) => Scope::Overlay,
        }
    }
}

/// Console options fixed at start.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Refuse every mutation.
    pub readonly: bool,
    /// The namespace watched (`None` = all).
    pub namespace: Option<String>,
    /// Contexts where every mutation is refused (config.yaml `contexts.<name>.readonly`).
    pub readonly_contexts: BTreeSet<String>,
    /// Namespace favourites for the keys 0-9 (`all` = every namespace).
    pub favourites: Vec<String>,
}

/// The context list as the header shows it.
#[derive(Debug, Clone, Default)]
pub struct ContextsView {
    /// State of every watched context, in start order.
    pub states: Vec<(String, ContextState)>,
    /// Kinds each context serves (after discovery).
    pub kinds: BTreeMap<String, Vec<&'static str>>,
}

impl ContextsView {
    /// The state of one context.
    pub fn state(&self, context: &str) -> Option<&ContextState> {
        self.states
            .iter()
            .find(|(c, _)| c == context)
            .map(|(_, s)| s)
    }

    fn set(&mut self, context: String, state: ContextState) {
        match self.states.iter_mut().find(|(c, _)| *c == context) {
            Some((_, s)) => *s = state,
            None => self.states.push((context, state)),
        }
    }

    fn names(&self) -> Vec<String> {
        self.states.iter().map(|(c, _)| c.clone()).collect()
    }
}

/// A reconcile request whose effect the row has not shown yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The action's name.
    pub action: &'static str,
    /// When it was requested (unix seconds).
    pub since: i64,
}

/// How long a row shows reconcile progress before giving up.
pub const PENDING_TIMEOUT_SECS: i64 = 120;

/// Most live Events kept for `:events`.
pub const MAX_EVENTS: usize = 1000;

/// Progress of the last confirmed action over its targets.
#[derive(Debug, Clone, Default)]
struct Running {
    action: &'static str,
    total: usize,
    ok: usize,
    errors: Vec<String>,
}

/// The live Events list (`:events`).
#[derive(Debug, Clone, Default)]
pub struct EventsView {
    /// Every Event kept, in arrival order (an Event seen again is replaced in place).
    pub items: VecDeque<ObjectEvent>,
    /// The runtime was asked to watch.
    pub watching: bool,
    /// Selected line in the shown (filtered, newest-first) list.
    pub selected: usize,
}

impl EventsView {
    fn add(&mut self, ev: ObjectEvent) {
        if let Some(old) = self
            .items
            .iter_mut()
            .find(|e| e.uid == ev.uid && e.context == ev.context && !ev.uid.is_empty())
        {
            *old = ev;
            return;
        }
        self.items.push_back(ev);
        while self.items.len() > MAX_EVENTS {
            self.items.pop_front();
        }
    }

    /// The Events the view shows: in scope, passing the filter, newest first.
    pub fn shown<'a>(&'a self, scope: &RowScope, filter: Option<&Filter>) -> Vec<&'a ObjectEvent> {
        let mut out: Vec<&ObjectEvent> = self
            .items
            .iter()
            .filter(|e| !scope.hidden.contains(&e.context))
            .filter(|e| scope.namespace.as_ref().is_none_or(|ns| *ns == e.namespace))
            .filter(|e| {
                filter.is_none_or(|f| {
                    f.admits_text(&[
                        &e.name,
                        &e.namespace,
                        &e.context,
                        &e.kind,
                        &e.type_,
                        &e.reason,
                        &e.message,
                    ])
                })
            })
            .collect();
        out.sort_by_key(|e| std::cmp::Reverse(e.last_seen.unwrap_or(i64::MIN)));
        out
    }
}

/// The whole console state, composed of per-view parts.
#[derive(Debug, Clone)]
pub struct App {
    /// Fixed options.
    pub settings: Settings,
    /// The key bindings.
    pub keymap: Keymap,
    /// The styles.
    pub theme: Theme,
    /// Every row of every context.
    pub store: Store,
    /// Context states for the header.
    pub contexts: ContextsView,
    /// Which contexts and namespace are shown.
    pub scope: RowScope,
    /// The current table view.
    pub table: TableView,
    /// Earlier views (Esc returns to them).
    pub back: Vec<TableView>,
    /// Marked rows (bulk actions).
    pub marks: BTreeSet<RowKey>,
    /// Reconciles requested and not yet seen done.
    pub pending: BTreeMap<RowKey, Pending>,
    /// Live Events for `:events`.
    pub events: EventsView,
    /// What has the keyboard.
    pub focus: Focus,
    /// The last message.
    pub flash: Option<Flash>,
    /// The flash on screen and when it appeared (for expiry).
    flash_seen: Option<(Flash, i64)>,
    /// Now, in unix seconds (set by ticks; ages are computed from it so rendering stays pure).
    pub now: i64,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    /// Set once the user quits.
    pub quitting: bool,
    /// The in-process reconciler's (queued, in flight), when one runs in this process.
    pub reconciler: Option<(usize, usize)>,
    /// Extra `:` command words the runtime serves (e.g. `demo`), answered by [`Effect::Extension`].
    pub extensions: Vec<String>,
    running: Option<Running>,
    /// Header counts and the (store generation, scope revision) they were taken at.
    counts: ((u64, u64), HealthCounts),
}

/// How many views `esc` can go back through.
const MAX_BACK: usize = 32;

/// How long a notice stays on the flash line (unless a key retires it first).
const FLASH_INFO_SECS: i64 = 5;
/// How long an error stays on the flash line (unless a key retires it first).
const FLASH_ERROR_SECS: i64 = 10;

/// Rows above and below the table (header 2, table header 1, crumbs 1, flash/prompt 1).
const CHROME_ROWS: u16 = 5;

impl App {
    /// A console over the given contexts (all `Connecting`), showing `view`.
    pub fn new(
        settings: Settings,
        keymap: Keymap,
        theme: Theme,
        contexts: &[String],
        view: ViewKind,
    ) -> App {
        let mut app = App {
            settings,
            keymap,
            theme,
            store: Store::default(),
            contexts: ContextsView {
                states: contexts
                    .iter()
                    .map(|c| (c.clone(), ContextState::Connecting))
                    .collect(),
                kinds: BTreeMap::new(),
            },
            scope: RowScope::default(),
            table: TableView::new(view),
            back: Vec::new(),
            marks: BTreeSet::new(),
            pending: BTreeMap::new(),
            events: EventsView::default(),
            focus: Focus::Table,
            flash: None,
            flash_seen: None,
            now: 0,
            size: (80, 24),
            quitting: false,
            reconciler: None,
            extensions: Vec::new(),
            running: None,
            counts: ((0, 0), HealthCounts::default()),
        };
        app.refresh_view();
        app
    }

    /// The effects the console must run at start (the events watch when it opens on `:events`).
    pub fn start_effects(&mut self) -> Vec<Effect> {
        self.watch_events_if_needed()
    }

    /// Applies one event; returns the work to do outside.
    pub fn update(&mut self, event: Event) -> Vec<Effect> {
        let keep_lazy = matches!(event, Event::Cluster(_));
        let effects = match event {
            Event::Key(key) => {
                // A key press retires the message of the previous one.
                self.flash = None;
                self.on_key(key)
            }
            Event::Resize(w, h) => {
                self.size = (w, h);
                Vec::new()
            }
            Event::Tick(now) => {
                self.now = now;
                self.expire_flash();
                self.expire_pending();
                self.refresh_tree()
            }
            Event::Cluster(update) => {
                self.on_cluster(update);
                Vec::new()
            }
            Event::Fetched { key, result } => {
                self.on_fetched(key, result);
                Vec::new()
            }
            Event::EventsFetched { key, result } => {
                if let Focus::Detail(d) = &mut self.focus
                    && d.key == key
                {
                    d.events = match result {
                        Ok(evs) => Loaded::Ready(detail::recent(evs)),
                        Err(e) => Loaded::Failed(e),
                    };
                }
                Vec::new()
            }
            Event::ObjectEvent(ev) => {
                self.events.add(ev);
                Vec::new()
            }
            Event::ActionDone {
                key,
                action,
                result,
            } => {
                self.on_action_done(key, action, result);
                Vec::new()
            }
            Event::Copied(result) => {
                self.flash = match result {
                    Ok(what) => Flash::info(format!("copied {what}")),
                    Err(e) => Flash::error(format!("copy failed: {e}")),
                };
                Vec::new()
            }
            Event::Reconciler { queued, in_flight } => {
                self.reconciler = Some((queued, in_flight));
                Vec::new()
            }
            Event::CommandDone(result) => {
                self.flash = match result {
                    Ok(line) => Flash::info(line),
                    Err(e) => Flash::error(e),
                };
                Vec::new()
            }
            Event::TreeFetched { key, result } => {
                if let Some(v) = self.open_tree_mut()
                    && v.key == key
                {
                    v.receive(result);
                }
                Vec::new()
            }
            Event::DiffFetched { key, result } => {
                if let Focus::Diff(v) = &mut self.focus
                    && v.key == key
                {
                    v.receive(result);
                }
                Vec::new()
            }
            Event::ReportFetched { request, result } => {
                if let Focus::Report(r) = &mut self.focus
                    && r.request == request
                {
                    r.receive(result);
                }
                Vec::new()
            }
        };
        // A burst of cluster updates costs one rebuild: the runtime refreshes before drawing.
        if !keep_lazy {
            self.refresh_view();
        }
        self.note_flash();
        effects
    }

    /// Remembers when the current flash appeared.
    fn note_flash(&mut self) {
        match (&self.flash, &self.flash_seen) {
            (None, _) => self.flash_seen = None,
            (Some(f), Some((seen, _))) if f == seen => {}
            (Some(f), _) => self.flash_seen = Some((f.clone(), self.now)),
        }
    }

    /// Clears a flash that has been on screen long enough (errors stay longer than notices).
    fn expire_flash(&mut self) {
        if let Some((f, since)) = &self.flash_seen {
            let ttl = if f.error {
                FLASH_ERROR_SECS
            } else {
                FLASH_INFO_SECS
            };
            if self.now - since >= ttl && self.flash.as_ref() == Some(f) {
                self.flash = None;
            }
        }
    }

    /// Rebuilds the current view's cached row list if anything it depends on changed.
    pub fn refresh_view(&mut self) {
        self.table.refresh(&self.store, &self.scope);
        let stamp = (self.store.generation(), self.scope.revision);
        if self.counts.0 != stamp {
            self.counts = (stamp, self.count_in_scope());
        }
    }

    /// Row counts by health for the header, over the rows in scope (`:ctx`, `:ns`), so they add up
    /// to what the views can show (cached by [`App::refresh_view`], else counted now).
    pub fn counts(&self) -> HealthCounts {
        if self.counts.0 == (self.store.generation(), self.scope.revision) {
            self.counts.1
        } else {
            self.count_in_scope()
        }
    }

    fn count_in_scope(&self) -> HealthCounts {
        let mut c = HealthCounts::default();
        self.store
            .rows()
            .filter(|r| self.scope.admits(r))
            .for_each(|r| c.add(r));
        c
    }

    /// The rows the current view shows (filtered, sorted, in scope).
    pub fn visible_rows(&self) -> Vec<&Row> {
        self.table.rows(&self.store, &self.scope)
    }

    fn on_fetched(&mut self, key: RowKey, result: Result<serde_json::Value, String>) {
        match &mut self.focus {
            Focus::Yaml(y) if y.key == key => {
                y.loading = false;
                y.lines = match result {
                    Ok(obj) => super::yaml::to_lines(&super::yaml::prepare(obj)),
                    Err(e) => vec![format!("cannot fetch: {e}")],
                };
            }
            Focus::Detail(d) if d.key == key => {
                d.object = match result {
                    Ok(obj) => Loaded::Ready(detail::summarise(key.kind, &obj)),
                    Err(e) => Loaded::Failed(e),
                };
            }
            _ => {}
        }
    }

    fn on_action_done(&mut self, key: RowKey, action: &'static str, result: Result<(), String>) {
        let what = format!("{action} {} {}/{}", key.kind, key.namespace, key.name);
        if result.is_err() {
            self.pending.remove(&key);
        }
        let Some(run) = self.running.as_mut().filter(|r| r.action == action) else {
            self.flash = match result {
                Ok(()) => Flash::info(format!("{what}: done ({})", key.context)),
                Err(e) => Flash::error(format!("{what} failed: {e}")),
            };
            return;
        };
        match result {
            Ok(()) => run.ok += 1,
            Err(e) => run.errors.push(format!("{what} ({}): {e}", key.context)),
        }
        let finished = run.ok + run.errors.len();
        self.flash = if run.total == 1 {
            match run.errors.first() {
                None => Flash::info(format!("{what}: done ({})", key.context)),
                Some(e) => Flash::error(format!("failed: {e}")),
            }
        } else if let Some(first) = run.errors.first() {
            Flash::error(format!(
                "{action}: {}/{} done, {} failed; first: {first}",
                run.ok,
                run.total,
                run.errors.len()
            ))
        } else {
            Flash::info(format!("{action}: {}/{} done", run.ok, run.total))
        };
        if finished >= run.total {
            self.running = None;
        }
    }

    fn on_cluster(&mut self, update: Update) {
        match &update {
            Update::Context { context, state } => {
                self.contexts.set(context.clone(), state.clone());
            }
            Update::Kinds { context, kinds } => {
                self.contexts
                    .kinds
                    .insert(context.clone(), kinds.iter().map(|(k, _)| k.kind).collect());
            }
            Update::Remove(key) => {
                self.marks.remove(key);
                self.pending.remove(key);
            }
            _ => {}
        }
        let touched: Vec<RowKey> = match &update {
            Update::Upsert(row) if !self.pending.is_empty() => vec![row.key()],
            Update::Resync { .. } if !self.pending.is_empty() => {
                self.pending.keys().cloned().collect()
            }
            _ => Vec::new(),
        };
        self.store.apply(update);
        for key in touched {
            self.settle_pending(&key);
        }
    }

    /// Clears the progress marker once the object has reconciled after the request.
    fn settle_pending(&mut self, key: &RowKey) {
        let Some(p) = self.pending.get(key) else {
            return;
        };
        let caught_up = self
            .store
            .get(key)
            .and_then(|r| r.last_reconcile)
            .is_some_and(|t| t >= p.since);
        if caught_up {
            self.pending.remove(key);
        }
    }

    fn expire_pending(&mut self) {
        let now = self.now;
        let expired: Vec<RowKey> = self
            .pending
            .iter()
            .filter(|(_, p)| now - p.since > PENDING_TIMEOUT_SECS)
            .map(|(k, _)| k.clone())
            .collect();
        if let Some(k) = expired.first() {
            self.flash = Flash::error(format!(
                "{} {} {}/{}: no reconcile seen within {} s ({} request(s) timed out)",
                self.pending.get(k).map_or("reconcile", |p| p.action),
                k.kind,
                k.namespace,
                k.name,
                PENDING_TIMEOUT_SECS,
                expired.len()
            ));
        }
        for k in expired {
            self.pending.remove(&k);
        }
    }

    fn on_key(&mut self, ev: KeyEvent) -> Vec<Effect> {
        let key = Key::from_event(&ev);
        match std::mem::replace(&mut self.focus, Focus::Table) {
            Focus::Prompt(prompt) => self.on_prompt_key(prompt, ev),
            Focus::Confirm(confirm) => self.on_confirm_key(confirm, key),
            Focus::Yaml(y) => self.on_yaml_key(y, key),
            Focus::Detail(d) => self.on_detail_key(d, key),
            Focus::Contexts(p) => self.on_contexts_key(p, key),
            Focus::Namespaces(p) => self.on_namespaces_key(p, key),
            Focus::Tree(v) => self.on_tree_key(v, key),
            Focus::Diff(v) => self.on_diff_key(v, key),
            Focus::Report(r) => self.on_report_key(r, key),
            Focus::Help(under) => {
                // Any key closes help except quit, which still quits.
                if self.keymap.command(under.scope(), key) == Some(Command::Quit) {
                    return self.quit();
                }
                self.focus = *under;
                Vec::new()
            }
            Focus::Table => match self.keymap.command(Scope::Table, key) {
                Some(cmd) => self.on_command(cmd),
                // Say so rather than do nothing silently (k9s is silent; users press again).
                None => {
                    self.flash = Flash::info(format!(
                        "{} does nothing here ({} lists the keys)",
                        key.label(),
                        self.keymap.hint(Scope::Global, Command::Help)
                    ));
                    Vec::new()
                }
            },
        }
    }

    /// Scrolls `pos` within `len` lines for a movement command; None for other commands.
    fn scrolled(&self, cmd: Command, pos: usize, len: usize) -> Option<usize> {
        let last = len.saturating_sub(1);
        Some(match cmd {
            Command::Down => (pos + 1).min(last),
            Command::Up => pos.saturating_sub(1),
            Command::Top => 0,
            Command::Bottom => last,
            Command::PageDown => (pos + self.page()).min(last),
            Command::PageUp => pos.saturating_sub(self.page()),
            _ => return None,
        })
    }

    /// Whether a key pressed while a line takes text input quits: only modified keys can, as
    /// plain characters are typed.
    fn quits_while_typing(&self, key: Key) -> bool {
        (key.ctrl || key.alt) && self.keymap.command(Scope::Global, key) == Some(Command::Quit)
    }

    /// Opens help over `under`, listing the bindings of its scope.
    fn open_help(&mut self, under: Focus) -> Vec<Effect> {
        self.focus = Focus::Help(Box::new(under));
        Vec::new()
    }

    fn on_yaml_key(&mut self, mut y: YamlView, key: Key) -> Vec<Effect> {
        if y.typing {
            if self.quits_while_typing(key) {
                return self.quit();
            }
            match key.code {
                KeyCode::Esc => {
                    y.typing = false;
                    y.search = None;
                }
                KeyCode::Enter => {
                    y.typing = false;
                    if !y.jump(true, true) {
                        self.flash = Flash::error(format!(
                            "not found: {}",
                            y.search.as_deref().unwrap_or("")
                        ));
                    }
                }
                KeyCode::Backspace => {
                    if let Some(s) = y.search.as_mut()
                        && s.pop().is_none()
                    {
                        y.typing = false;
                        y.search = None;
                    }
                }
                KeyCode::Char(c) if !key.ctrl && !key.alt => {
                    y.search.get_or_insert_with(String::new).push(c);
                }
                _ => {}
            }
            self.focus = Focus::Yaml(y);
            return Vec::new();
        }
        match self.keymap.command(Scope::Yaml, key) {
            Some(c @ (Command::NextMatch | Command::PrevMatch)) if y.search.is_some() => {
                y.jump(c == Command::NextMatch, false);
            }
            Some(Command::Search) if !y.loading => {
                y.typing = true;
                y.search = Some(String::new());
            }
            Some(Command::Quit) => return self.quit(),
            Some(Command::Help) => return self.open_help(Focus::Yaml(y)),
            Some(Command::Back) => return Vec::new(),
            Some(Command::Copy) if !y.loading => {
                let effect = Effect::Copy {
                    text: y.lines.join("\n"),
                    what: format!("YAML of {}", y.key.name),
                };
                self.focus = Focus::Yaml(y);
                return vec![effect];
            }
            Some(c) if y.fit.apply(c) => {}
            Some(c) => {
                if let Some(pos) = self.scrolled(c, y.scroll, y.lines.len()) {
                    y.scroll = pos;
                }
            }
            None => {}
        }
        self.focus = Focus::Yaml(y);
        Vec::new()
    }

    fn on_detail_key(&mut self, mut d: DetailView, key: Key) -> Vec<Effect> {
        let Some(cmd) = self.keymap.command(Scope::Detail, key) else {
            self.focus = Focus::Detail(d);
            return Vec::new();
        };
        match cmd {
            Command::Quit => return self.quit(),
            Command::Help => return self.open_help(Focus::Detail(d)),
            Command::Back => return Vec::new(),
            Command::Yaml => return self.open_yaml(d.key),
            Command::Copy => {
                let effect = copy_path(&d.key);
                self.focus = Focus::Detail(d);
                return vec![effect];
            }
            Command::Tree
            | Command::DependsOn
            | Command::Trace
            | Command::Diff
            | Command::Images => {
                let key = d.key.clone();
                self.focus = Focus::Detail(d);
                return self.open_view(cmd, key);
            }
            c if d.fit.apply(c) => {}
            c => {
                if let Some(action) = action_of(c) {
                    let key = d.key.clone();
                    self.focus = Focus::Detail(d);
                    self.ask_for(action, vec![key]);
                    return Vec::new();
                }
                // The line count is only known at render; clamp generously, render clamps again.
                if let Some(pos) = self.scrolled(c, d.scroll, usize::MAX / 2) {
                    d.scroll = pos.min(10_000);
                }
            }
        }
        self.focus = Focus::Detail(d);
        Vec::new()
    }

    fn on_contexts_key(&mut self, mut p: Picker, key: Key) -> Vec<Effect> {
        match self.keymap.command(Scope::Picker, key) {
            Some(Command::Quit) => return self.quit(),
            Some(Command::Help) => return self.open_help(Focus::Contexts(p)),
            Some(Command::Back) => return Vec::new(),
            Some(Command::Toggle) => {
                if let Some(c) = p.current().cloned() {
                    self.scope.toggle(&c);
                }
            }
            Some(Command::Pick) => {
                if let Some(c) = p.current().cloned() {
                    let all = self.contexts.names();
                    self.scope.only(&c, &all);
                    self.flash = Flash::info(format!(
                        "showing context {c} only (:ctx all shows every context)"
                    ));
                }
                return Vec::new();
            }
            Some(Command::ShowAll) => self.scope.show_all(),
            Some(c) => self.move_picker(&mut p, c),
            None => {}
        }
        self.focus = Focus::Contexts(p);
        Vec::new()
    }

    fn on_namespaces_key(&mut self, mut p: Picker, key: Key) -> Vec<Effect> {
        match self.keymap.command(Scope::Picker, key) {
            Some(Command::Quit) => return self.quit(),
            Some(Command::Help) => return self.open_help(Focus::Namespaces(p)),
            Some(Command::Back) => return Vec::new(),
            Some(Command::Pick) => {
                if let Some(ns) = p.current().cloned() {
                    self.set_namespace(&ns);
                }
                return Vec::new();
            }
            Some(c) => self.move_picker(&mut p, c),
            None => {}
        }
        self.focus = Focus::Namespaces(p);
        Vec::new()
    }

    /// Moves a picker's highlight for a movement command.
    fn move_picker(&self, p: &mut Picker, cmd: Command) {
        let delta = match cmd {
            Command::Up => -1,
            Command::Down => 1,
            Command::Top => isize::MIN / 2,
            Command::Bottom => isize::MAX / 2,
            Command::PageUp => -(self.page() as isize),
            Command::PageDown => self.page() as isize,
            _ => return,
        };
        p.step(delta);
    }

    fn set_namespace(&mut self, ns: &str) {
        let ns = if ns == "all" || ns == "-A" || ns.is_empty() {
            None
        } else {
            Some(ns.to_string())
        };
        self.flash = Flash::info(format!("namespace: {}", ns.as_deref().unwrap_or("all")));
        self.scope.set_namespace(ns);
        self.table.selected = None;
    }

    fn on_command(&mut self, cmd: Command) -> Vec<Effect> {
        if let Some(action) = action_of(cmd) {
            self.ask(action);
            return Vec::new();
        }
        match cmd {
            Command::Quit => return self.quit(),
            Command::Help => self.focus = Focus::Help(Box::new(Focus::Table)),
            Command::Prompt => self.focus = Focus::Prompt(Prompt::new(PromptKind::Command)),
            Command::Filter => {
                let mut p = Prompt::new(PromptKind::Filter);
                if let Some(f) = self.table.filter() {
                    p.input = f.text.clone();
                }
                self.focus = Focus::Prompt(p);
            }
            Command::Back => self.back(),
            Command::Up => self.move_selection(-1),
            Command::Down => self.move_selection(1),
            Command::Top => self.move_selection(isize::MIN / 2),
            Command::Bottom => self.move_selection(isize::MAX / 2),
            Command::PageUp => self.move_selection(-(self.page() as isize)),
            Command::PageDown => self.move_selection(self.page() as isize),
            Command::SortName => self.table.sort_by(SortBy::Name),
            Command::SortAge => self.table.sort_by(SortBy::Age),
            Command::SortStatus => self.table.sort_by(SortBy::Status),
            Command::SortReady => self.table.sort_by(SortBy::Ready),
            Command::Mark => {
                if let Some(k) = self.selected_key() {
                    if !self.marks.remove(&k) {
                        self.marks.insert(k);
                    }
                    self.move_selection(1);
                }
            }
            Command::Yaml => {
                if let Some(key) = self.selected_key() {
                    return self.open_yaml(key);
                }
            }
            Command::Detail => {
                if let Some(key) = self.selected_key() {
                    self.focus = Focus::Detail(DetailView::new(key.clone()));
                    return vec![Effect::Fetch(key.clone()), Effect::FetchEvents(key)];
                }
            }
            Command::Copy => {
                if let Some(key) = self.selected_key() {
                    return vec![copy_path(&key)];
                }
            }
            Command::CopyName => {
                if let Some(key) = self.selected_key() {
                    return vec![copy_name(&key)];
                }
            }
            Command::Tree
            | Command::DependsOn
            | Command::Trace
            | Command::Diff
            | Command::Images => match self.selected_key() {
                Some(key) => return self.open_view(cmd, key),
                None => self.flash = Flash::error("no row selected"),
            },
            Command::Favourite(n) => self.favourite(n),
            // Actions are handled above.
            _ => {}
        }
        Vec::new()
    }

    /// Opens the view a command asks for on `key` (refused with a flash for kinds it does not
    /// apply to).
    fn open_view(&mut self, cmd: Command, key: RowKey) -> Vec<Effect> {
        let kind = key.kind;
        use crate::model::kinds::{
            APPLICATION, HELM_RELEASE, IMAGE_POLICY, IMAGE_REPOSITORY, KUSTOMIZATION,
        };
        let supported: &[&KindInfo] = match cmd {
            Command::Tree => &[KUSTOMIZATION, HELM_RELEASE, APPLICATION],
            Command::DependsOn => &[KUSTOMIZATION, HELM_RELEASE],
            Command::Diff => &[KUSTOMIZATION],
            Command::Images => &[IMAGE_POLICY, IMAGE_REPOSITORY],
            _ => &[],
        };
        if cmd != Command::Trace && !supported.iter().any(|k| k.kind == kind) {
            let names: Vec<&str> = supported.iter().map(|k| k.kind).collect();
            self.flash = Flash::error(format!(
                "{} is for {}, not {kind}",
                view_name(cmd),
                names.join(", ")
            ));
            return Vec::new();
        }
        match cmd {
            Command::Tree => {
                self.focus = Focus::Tree(Box::new(TreeView::loading(key.clone(), self.now)));
                vec![Effect::FetchTree(key)]
            }
            Command::Diff => {
                self.focus = Focus::Diff(DiffView::loading(key.clone()));
                vec![Effect::FetchDiff(key)]
            }
            Command::DependsOn => self.open_report(ReportRequest::DependsOn(key)),
            Command::Images => self.open_report(ReportRequest::Images(ImageTarget {
                context: key.context,
                kind: key.kind.to_string(),
                namespace: key.namespace,
                name: key.name,
            })),
            _ => {
                let object = object_ref(&key);
                self.open_report(ReportRequest::Trace {
                    context: key.context,
                    object,
                })
            }
        }
    }

    /// Opens a report over the current overlay (Esc returns to it).
    fn open_report(&mut self, request: ReportRequest) -> Vec<Effect> {
        let parent = match std::mem::replace(&mut self.focus, Focus::Table) {
            Focus::Table | Focus::Prompt(_) | Focus::Help(_) | Focus::Confirm(_) => None,
            other => Some(Box::new(other)),
        };
        self.focus = Focus::Report(ReportView::loading(request.clone(), parent));
        vec![Effect::FetchReport(request)]
    }

    /// The open health tree, also while a report opened from it is on top.
    fn open_tree_mut(&mut self) -> Option<&mut TreeView> {
        match &mut self.focus {
            Focus::Tree(v) => Some(v),
            Focus::Report(r) => match r.parent.as_deref_mut() {
                Some(Focus::Tree(v)) => Some(v),
                _ => None,
            },
            _ => None,
        }
    }

    /// Asks for the open tree again once [`super::tree_view::REFRESH_SECS`] have passed.
    fn refresh_tree(&mut self) -> Vec<Effect> {
        let now = self.now;
        if let Focus::Tree(v) = &mut self.focus
            && v.refresh_due(now)
        {
            v.requested_at = now;
            v.in_flight = true;
            return vec![Effect::FetchTree(v.key.clone())];
        }
        Vec::new()
    }

    fn on_tree_key(&mut self, mut v: Box<TreeView>, key: Key) -> Vec<Effect> {
        let page = self.page() as isize;
        match self.keymap.command(Scope::Tree, key) {
            Some(Command::Toggle) => v.toggle(),
            Some(Command::Collapse) => v.left(),
            Some(Command::Expand) => v.right(),
            Some(Command::Quit) => return self.quit(),
            Some(Command::Help) => return self.open_help(Focus::Tree(v)),
            Some(Command::Back) => return Vec::new(),
            Some(Command::Up) => v.step(-1),
            Some(Command::Down) => v.step(1),
            Some(Command::Top) => v.step(isize::MIN / 2),
            Some(Command::Bottom) => v.step(isize::MAX / 2),
            Some(Command::PageUp) => v.step(-page),
            Some(Command::PageDown) => v.step(page),
            Some(Command::Copy) => {
                if let Some(tree) = &v.tree {
                    let effect = Effect::Copy {
                        text: crate::model::tree::render_text(tree),
                        what: format!("tree of {}", v.key.name),
                    };
                    self.focus = Focus::Tree(v);
                    return vec![effect];
                }
            }
            Some(
                cmd @ (Command::Trace
                | Command::Images
                | Command::DependsOn
                | Command::Tree
                | Command::Diff),
            ) => {
                let target = v.selected_node().map(|n| (n.role, n.object.clone()));
                let context = v.key.context.clone();
                self.focus = Focus::Tree(v);
                return match target {
                    Some((crate::model::tree::NodeRole::KindGroup, _)) | None => {
                        self.flash = Flash::error(format!("{}: select an object", view_name(cmd)));
                        Vec::new()
                    }
                    Some((_, object)) => self.open_for_object(cmd, context, object),
                };
            }
            _ => {}
        }
        self.focus = Focus::Tree(v);
        Vec::new()
    }

    /// Opens a view on an object of a tree (any kind, not only table rows).
    fn open_for_object(&mut self, cmd: Command, context: String, object: ObjectRef) -> Vec<Effect> {
        match cmd {
            Command::Trace => self.open_report(ReportRequest::Trace { context, object }),
            Command::Images
                if matches!(
                    object.kind.as_str(),
                    "Deployment" | "StatefulSet" | "DaemonSet" | "ImagePolicy" | "ImageRepository"
                ) =>
            {
                self.open_report(ReportRequest::Images(ImageTarget {
                    context,
                    kind: object.kind,
                    namespace: object.namespace,
                    name: object.name,
                }))
            }
            Command::Images => {
                self.flash = Flash::error(format!(
                    "image decisions are for ImagePolicy, ImageRepository, Deployment, StatefulSet, DaemonSet, not {}",
                    object.kind
                ));
                Vec::new()
            }
            _ => match crate::cluster::clients::kind_info(&object.kind) {
                Ok(info) if info.group == object.group => {
                    let key = RowKey {
                        context,
                        kind: info.kind,
                        namespace: object.namespace,
                        name: object.name,
                    };
                    self.open_view(cmd, key)
                }
                _ => {
                    self.flash = Flash::error(format!(
                        "{} is not available for {}",
                        view_name(cmd),
                        object.kind
                    ));
                    Vec::new()
                }
            },
        }
    }

    fn on_report_key(&mut self, mut r: ReportView, key: Key) -> Vec<Effect> {
        match self.keymap.command(Scope::Overlay, key) {
            Some(Command::Quit) => return self.quit(),
            Some(Command::Help) => return self.open_help(Focus::Report(r)),
            Some(Command::Back) => {
                if let Some(parent) = r.parent {
                    self.focus = *parent;
                }
                return Vec::new();
            }
            Some(Command::Copy) if !r.is_empty() => {
                let effect = Effect::Copy {
                    text: r.text(),
                    what: r.request.title(),
                };
                self.focus = Focus::Report(r);
                return vec![effect];
            }
            Some(c) if r.fit.apply(c) => {}
            Some(c) => {
                if let Some(pos) = self.scrolled(c, r.scroll, r.len()) {
                    r.scroll = pos;
                }
            }
            None => {}
        }
        self.focus = Focus::Report(r);
        Vec::new()
    }

    fn on_diff_key(&mut self, mut v: DiffView, key: Key) -> Vec<Effect> {
        if v.typing {
            if self.quits_while_typing(key) {
                return self.quit();
            }
            match key.code {
                KeyCode::Esc => {
                    v.typing = false;
                    v.search = None;
                }
                KeyCode::Enter => {
                    v.typing = false;
                    if !v.jump_match(true, true) {
                        self.flash = Flash::error(format!(
                            "not found: {}",
                            v.search.as_deref().unwrap_or("")
                        ));
                    }
                }
                KeyCode::Backspace => {
                    if let Some(s) = v.search.as_mut()
                        && s.pop().is_none()
                    {
                        v.typing = false;
                        v.search = None;
                    }
                }
                KeyCode::Char(c) if !key.ctrl && !key.alt => {
                    v.search.get_or_insert_with(String::new).push(c);
                }
                _ => {}
            }
            self.focus = Focus::Diff(v);
            return Vec::new();
        }
        let mut effects = Vec::new();
        match self.keymap.command(Scope::Diff, key) {
            Some(Command::SideBySide) => v.toggle_layout(),
            Some(c @ (Command::NextHunk | Command::PrevHunk)) => {
                let forward = c == Command::NextHunk;
                let found = if v.search.is_some() {
                    v.jump_match(forward, false)
                } else {
                    v.jump_hunk(forward)
                };
                if !found {
                    self.flash = Flash::info(if forward {
                        "no further hunk or match"
                    } else {
                        "no earlier hunk or match"
                    });
                }
            }
            Some(Command::CopyHunk) => match v.hunk_text() {
                Some((text, what)) => effects.push(Effect::Copy { text, what }),
                None => self.flash = Flash::error("no hunk at the top line (n jumps to one)"),
            },
            Some(Command::CopyAll) => match v.full_text() {
                Some(text) if !text.is_empty() => effects.push(Effect::Copy {
                    text,
                    what: format!("diff of {}", v.key.name),
                }),
                _ => self.flash = Flash::error("nothing to copy: no changes"),
            },
            Some(Command::Quit) => return self.quit(),
            Some(Command::Help) => return self.open_help(Focus::Diff(v)),
            Some(Command::Back) => {
                if v.search.is_some() {
                    v.search = None;
                } else {
                    return Vec::new();
                }
            }
            Some(Command::Search) if v.report.is_some() => {
                v.typing = true;
                v.search = Some(String::new());
            }
            Some(c) => {
                if let Some(pos) = self.scrolled(c, v.scroll, v.rows.len()) {
                    v.scroll = pos;
                }
            }
            None => {}
        }
        self.focus = Focus::Diff(v);
        effects
    }

    fn open_yaml(&mut self, key: RowKey) -> Vec<Effect> {
        self.focus = Focus::Yaml(YamlView::loading(key.clone()));
        vec![Effect::Fetch(key)]
    }

    fn favourite(&mut self, n: u8) {
        let fav = self.settings.favourites.get(usize::from(n)).cloned();
        match fav {
            Some(ns) => self.set_namespace(&ns),
            None if n == 0 => self.set_namespace("all"),
            None => {
                self.flash = Flash::error(format!(
                    "no namespace favourite {n} (set `favourites:` in config.yaml)"
                ))
            }
        }
    }

    fn quit(&mut self) -> Vec<Effect> {
        self.quitting = true;
        vec![Effect::Quit]
    }

    /// Esc: clear the filter first, then pop the back stack, then clear marks.
    fn back(&mut self) {
        if self.table.filter().is_some() {
            self.table.set_filter(None);
            return;
        }
        if let Some(prev) = self.back.pop() {
            self.table = prev;
            return;
        }
        self.marks.clear();
    }

    fn page(&self) -> usize {
        usize::from(self.size.1.saturating_sub(CHROME_ROWS).max(1))
    }

    fn move_selection(&mut self, delta: isize) {
        if self.table.kind == ViewKind::Events {
            let len = self.events.shown(&self.scope, self.table.filter()).len();
            let last = len.saturating_sub(1) as isize;
            self.events.selected = (self.events.selected as isize)
                .saturating_add(delta)
                .clamp(0, last.max(0)) as usize;
            return;
        }
        self.refresh_view();
        let rows = self.visible_rows();
        if rows.is_empty() {
            self.table.selected = None;
            return;
        }
        let cur = self.table.selected_index(&rows) as isize;
        let next = cur.saturating_add(delta).clamp(0, rows.len() as isize - 1) as usize;
        let key = rows[next].key();
        self.table.selected = Some(key);
    }

    /// The key of the selected row (the first row when nothing is selected yet); in `:events`, the
    /// object of the selected Event.
    pub fn selected_key(&self) -> Option<RowKey> {
        if self.table.kind == ViewKind::Events {
            let shown = self.events.shown(&self.scope, self.table.filter());
            let ev = shown.get(self.events.selected)?;
            let kind = crate::cluster::clients::kind_info(&ev.kind).ok()?;
            return Some(RowKey {
                context: ev.context.clone(),
                kind: kind.kind,
                namespace: ev.namespace.clone(),
                name: ev.name.clone(),
            });
        }
        let rows = self.visible_rows();
        rows.get(self.table.selected_index(&rows)).map(|r| r.key())
    }

    /// Opens the confirmation for `action` on the marked rows (or the selected one).
    fn ask(&mut self, action: Action) {
        let targets: Vec<RowKey> = if self.marks.is_empty() {
            self.selected_key().into_iter().collect()
        } else {
            self.marks.iter().cloned().collect()
        };
        self.ask_for(action, targets);
    }

    /// Opens the confirmation for `action` on `targets`, unless read-only mode refuses it (then the
    /// current view stays, with the refusal on the flash line).
    fn ask_for(&mut self, action: Action, targets: Vec<RowKey>) {
        if self.settings.readonly && action.is_mutation() {
            self.flash = Flash::error(format!(
                "read-only: {} refused (started with --readonly)",
                action.name()
            ));
            return;
        }
        let locked: BTreeSet<&str> = targets
            .iter()
            .filter(|k| self.settings.readonly_contexts.contains(&k.context))
            .map(|k| k.context.as_str())
            .collect();
        if !locked.is_empty() && action.is_mutation() {
            self.flash = Flash::error(format!(
                "read-only: {} refused (context {} is read-only in config.yaml)",
                action.name(),
                locked.into_iter().collect::<Vec<_>>().join(", ")
            ));
            return;
        }
        if targets.is_empty() {
            self.flash = Flash::error(format!("{}: no row selected", action.name()));
            return;
        }
        self.focus = Focus::Confirm(Confirm {
            action,
            targets,
            scroll: 0,
        });
    }

    fn on_confirm_key(&mut self, mut confirm: Confirm, key: Key) -> Vec<Effect> {
        match self.keymap.command(Scope::Dialog, key) {
            Some(Command::Confirm) => {
                self.flash = Flash::info(format!(
                    "{}: sent to {} object(s)",
                    confirm.action.name(),
                    confirm.targets.len()
                ));
                self.marks.clear();
                if confirm.action.requests_reconcile() {
                    for k in &confirm.targets {
                        self.pending.insert(
                            k.clone(),
                            Pending {
                                action: confirm.action.name(),
                                since: self.now,
                            },
                        );
                    }
                }
                self.running = Some(Running {
                    action: confirm.action.name(),
                    total: confirm.targets.len(),
                    ..Running::default()
                });
                vec![Effect::Apply {
                    targets: confirm.targets,
                    action: confirm.action,
                }]
            }
            // Global `back` cancels too, so a keymap that rebinds `cancel` keeps esc working.
            Some(Command::Cancel | Command::Back) => {
                self.flash = Flash::info(format!("{}: cancelled", confirm.action.name()));
                Vec::new()
            }
            Some(Command::Quit) => self.quit(),
            Some(Command::Help) => self.open_help(Focus::Confirm(confirm)),
            other => {
                // The target list scrolls with the movement keys.
                if let Some(cmd) = other
                    && let Some(pos) = self.scrolled(cmd, confirm.scroll, confirm.targets.len())
                {
                    confirm.scroll = pos;
                }
                self.focus = Focus::Confirm(confirm);
                Vec::new()
            }
        }
    }

    fn on_prompt_key(&mut self, mut prompt: Prompt, ev: KeyEvent) -> Vec<Effect> {
        let key = Key::from_event(&ev);
        if self.quits_while_typing(key) {
            return self.quit();
        }
        match ev.code {
            KeyCode::Esc => {
                if prompt.kind == PromptKind::Filter {
                    self.table.set_filter(None);
                }
            }
            KeyCode::Enter => match prompt.kind {
                PromptKind::Filter => {
                    self.apply_filter(&prompt.input);
                    self.table.selected = None;
                    self.events.selected = 0;
                }
                PromptKind::Command => return self.run_command(prompt.input.trim()),
            },
            KeyCode::Tab => {
                prompt.complete();
                self.focus = Focus::Prompt(prompt);
            }
            KeyCode::Backspace => {
                if prompt.input.pop().is_none() {
                    // Backspace on an empty prompt closes it, as in k9s.
                    return Vec::new();
                }
                self.live_filter(&prompt);
                self.focus = Focus::Prompt(prompt);
            }
            // Ctrl-U clears the line, Ctrl-W deletes the last word, as in a shell.
            KeyCode::Char('u') if key.ctrl => {
                prompt.input.clear();
                self.live_filter(&prompt);
                self.focus = Focus::Prompt(prompt);
            }
            KeyCode::Char('w') if key.ctrl => {
                let kept = prompt.input.trim_end().len();
                let start = prompt.input[..kept]
                    .rfind(char::is_whitespace)
                    .map_or(0, |i| i + 1);
                prompt.input.truncate(start);
                self.live_filter(&prompt);
                self.focus = Focus::Prompt(prompt);
            }
            KeyCode::Char(c) if !key.ctrl && !key.alt => {
                prompt.input.push(c);
                self.live_filter(&prompt);
                self.focus = Focus::Prompt(prompt);
            }
            _ => self.focus = Focus::Prompt(prompt),
        }
        Vec::new()
    }

    /// The filter applies as the user types.
    fn live_filter(&mut self, prompt: &Prompt) {
        if prompt.kind == PromptKind::Filter {
            self.apply_filter(&prompt.input);
        }
    }

    fn apply_filter(&mut self, text: &str) {
        match Filter::parse(text) {
            Ok(f) => self.table.set_filter(f),
            Err(e) => {
                self.flash = Flash::error(e.to_string());
                self.table.set_filter(None);
            }
        }
    }

    /// Runs a `:` command.
    fn run_command(&mut self, input: &str) -> Vec<Effect> {
        let mut words = input.split_whitespace();
        let word = words.next().unwrap_or("");
        let arg = words.next();
        if self.extensions.iter().any(|e| e == word) {
            self.flash = Flash::info(format!(":{} …", input.trim()));
            return vec![Effect::Extension(input.trim().to_string())];
        }
        let view = match word {
            "" => return Vec::new(),
            "q" | "q!" | "quit" | "qa" => return self.quit(),
            "help" | "?" => {
                self.focus = Focus::Help(Box::new(Focus::Table));
                return Vec::new();
            }
            "ctx" | "context" | "contexts" => {
                self.context_command(arg);
                return Vec::new();
            }
            "ns" | "namespace" | "namespaces" => {
                match arg {
                    Some(ns) => self.set_namespace(ns),
                    None => self.open_namespace_picker(),
                }
                return Vec::new();
            }
            "events" | "ev" | "event" => ViewKind::Events,
            // Argo CD sync with options the key cannot carry: `:sync prune`.
            "sync" => {
                let prune = match arg {
                    None => false,
                    Some("prune" | "--prune") => true,
                    Some(other) => {
                        self.flash = Flash::error(format!(
                            ":sync {other}: unknown option; use `:sync` or `:sync prune`"
                        ));
                        return Vec::new();
                    }
                };
                self.ask(Action::Sync { prune });
                return Vec::new();
            }
            other => match ViewKind::parse(other) {
                Some(v) => v,
                None => {
                    self.flash = Flash::error(format!(
                        "unknown command {other:?} (Tab completes; :help lists keys)"
                    ));
                    return Vec::new();
                }
            },
        };
        self.show(view);
        self.watch_events_if_needed()
    }

    fn watch_events_if_needed(&mut self) -> Vec<Effect> {
        if self.table.kind == ViewKind::Events && !self.events.watching {
            self.events.watching = true;
            return vec![Effect::WatchEvents];
        }
        Vec::new()
    }

    fn context_command(&mut self, arg: Option<&str>) {
        let all = self.contexts.names();
        match arg {
            None => {
                self.focus = Focus::Contexts(Picker {
                    items: all,
                    selected: 0,
                })
            }
            Some("all" | "*") => {
                self.scope.show_all();
                self.flash = Flash::info("showing every context");
            }
            Some(c) if all.iter().any(|n| n == c) => {
                self.scope.only(c, &all);
                self.flash = Flash::info(format!(
                    "showing context {c} only (:ctx all shows every context)"
                ));
            }
            Some(c) => {
                self.flash = Flash::error(format!(
                    "no watched context {c:?}; watched: {}",
                    all.join(", ")
                ))
            }
        }
    }

    fn open_namespace_picker(&mut self) {
        let namespaces: BTreeSet<&str> = self
            .store
            .rows()
            .map(|r| r.namespace.as_str())
            .filter(|ns| !ns.is_empty())
            .collect();
        let mut items = vec!["all".to_string()];
        items.extend(namespaces.into_iter().map(str::to_string));
        let selected = self
            .scope
            .namespace
            .as_ref()
            .and_then(|ns| items.iter().position(|i| i == ns))
            .unwrap_or(0);
        self.focus = Focus::Namespaces(Picker { items, selected });
    }

    /// Switches to `view`, pushing the current one on the back stack.
    pub fn show(&mut self, view: ViewKind) {
        if self.table.kind == view {
            return;
        }
        let prev = std::mem::replace(&mut self.table, TableView::new(view));
        // Bounded: switching views all night must not grow memory; the oldest view is forgotten.
        if self.back.len() >= MAX_BACK {
            self.back.remove(0);
        }
        self.back.push(prev);
        self.events.selected = 0;
    }

    /// The kind of the current view, if it shows one kind.
    pub fn kind(&self) -> Option<&'static KindInfo> {
        match self.table.kind {
            ViewKind::Kind(k) => Some(k),
            _ => None,
        }
    }

    /// Whether mutations on `context` are refused (globally or by config).
    pub fn is_readonly(&self, context: &str) -> bool {
        self.settings.readonly || self.settings.readonly_contexts.contains(context)
    }
}

/// A view command's name for messages.
fn view_name(cmd: Command) -> &'static str {
    match cmd {
        Command::Tree => "the health tree",
        Command::DependsOn => "dependsOn",
        Command::Diff => "diff",
        Command::Images => "image decisions",
        _ => "trace",
    }
}

/// The identity of a table row's object (the registry's preferred version; the runtime asks
/// for the version the context serves).
pub fn object_ref(key: &RowKey) -> ObjectRef {
    let (group, version) = match crate::cluster::clients::kind_info(key.kind) {
        Ok(info) => (info.group, info.preferred_version()),
        Err(_) => ("", ""),
    };
    ObjectRef {
        group: group.to_string(),
        version: version.to_string(),
        kind: key.kind.to_string(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    }
}

/// The action a command asks for, if it is an action key.
fn action_of(cmd: Command) -> Option<Action> {
    Some(match cmd {
        Command::Suspend => Action::Suspend,
        Command::Resume => Action::Resume,
        Command::Reconcile => Action::Reconcile,
        Command::ReconcileSource => Action::ReconcileWithSource,
        Command::HelmForce => Action::HelmForce,
        Command::HelmReset => Action::HelmReset,
        Command::Refresh => Action::Refresh,
        Command::HardRefresh => Action::HardRefresh,
        Command::Sync => Action::Sync { prune: false },
        Command::Delete => Action::Delete,
        _ => return None,
    })
}

/// `c`: the object's `context/namespace/name` (`context/name` when cluster-scoped), unambiguous
/// across clusters.
fn copy_path(key: &RowKey) -> Effect {
    let text = if key.namespace.is_empty() {
        format!("{}/{}", key.context, key.name)
    } else {
        format!("{}/{}/{}", key.context, key.namespace, key.name)
    };
    Effect::Copy {
        what: text.clone(),
        text,
    }
}

/// `C`: the name alone.
fn copy_name(key: &RowKey) -> Effect {
    Effect::Copy {
        text: key.name.clone(),
        what: format!("name {}", key.name),
    }
}
