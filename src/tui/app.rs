//! The console's state and its one entry point, [`App::update`]: an event in, effects out. No I/O here.

use super::keymap::{Command, Key, Keymap, Scope};
use super::prompt::{Prompt, PromptKind};
use super::table::{Filter, SortBy, TableView, ViewKind};
use super::theme::Theme;
use crate::cluster::{Action, ContextState, Store, Update};
use crate::model::KindInfo;
use crate::model::row::RowKey;
use crossterm::event::{KeyCode, KeyEvent};
use std::collections::{BTreeMap, BTreeSet};

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
    /// A full object arrived (for the YAML view).
    Fetched {
        /// The object.
        key: RowKey,
        /// The object, or the error message.
        result: Result<serde_json::Value, String>,
    },
    /// An action finished on one object.
    ActionDone {
        /// The object.
        key: RowKey,
        /// The action's name.
        action: &'static str,
        /// Ok, or the error message.
        result: Result<(), String>,
    },
}

/// Work for the runtime to do outside `update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Fetch the full object (answered by [`Event::Fetched`]).
    Fetch(RowKey),
    /// Leave the console.
    Quit,
    /// Run `action` on each object.
    Apply {
        /// The objects.
        targets: Vec<RowKey>,
        /// The action.
        action: Action,
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

/// A pending confirmation of an action.
#[derive(Debug, Clone)]
pub struct Confirm {
    /// The action.
    pub action: Action,
    /// Every target, as shown in the dialog.
    pub targets: Vec<RowKey>,
}

/// What has the keyboard.
#[derive(Debug, Clone)]
pub enum Focus {
    /// The table (normal mode).
    Table,
    /// The `:` prompt or `/` filter line.
    Prompt(Prompt),
    /// The help overlay.
    Help,
    /// The confirmation dialog.
    Confirm(Confirm),
    /// The YAML view.
    Yaml(super::yaml::YamlView),
}

/// Console options fixed at start.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Refuse every mutation.
    pub readonly: bool,
    /// The namespace watched (`None` = all).
    pub namespace: Option<String>,
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
    /// The current table view.
    pub table: TableView,
    /// Earlier views (Esc returns to them).
    pub back: Vec<TableView>,
    /// Marked rows (bulk actions).
    pub marks: BTreeSet<RowKey>,
    /// What has the keyboard.
    pub focus: Focus,
    /// The last message.
    pub flash: Option<Flash>,
    /// Now, in unix seconds (set by ticks; ages are computed from it so rendering stays pure).
    pub now: i64,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    /// Set once the user quits.
    pub quitting: bool,
}

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
        App {
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
            table: TableView::new(view),
            back: Vec::new(),
            marks: BTreeSet::new(),
            focus: Focus::Table,
            flash: None,
            now: 0,
            size: (80, 24),
            quitting: false,
        }
    }

    /// Applies one event; returns the work to do outside.
    pub fn update(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::Key(key) => self.on_key(key),
            Event::Resize(w, h) => {
                self.size = (w, h);
                Vec::new()
            }
            Event::Tick(now) => {
                self.now = now;
                Vec::new()
            }
            Event::Cluster(update) => {
                self.on_cluster(update);
                Vec::new()
            }
            Event::Fetched { key, result } => {
                if let Focus::Yaml(y) = &mut self.focus
                    && y.key == key
                {
                    y.loading = false;
                    y.lines = match result {
                        Ok(obj) => super::yaml::to_lines(&super::yaml::prepare(obj)),
                        Err(e) => vec![format!("cannot fetch: {e}")],
                    };
                }
                Vec::new()
            }
            Event::ActionDone {
                key,
                action,
                result,
            } => {
                let what = format!("{action} {} {}/{}", key.kind, key.namespace, key.name);
                self.flash = Some(match result {
                    Ok(()) => Flash {
                        text: format!("{what}: done ({})", key.context),
                        error: false,
                    },
                    Err(e) => Flash {
                        text: format!("{what} failed: {e}"),
                        error: true,
                    },
                });
                Vec::new()
            }
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
            }
            _ => {}
        }
        self.store.apply(update);
    }

    fn on_key(&mut self, ev: KeyEvent) -> Vec<Effect> {
        let key = Key::from_event(&ev);
        match std::mem::replace(&mut self.focus, Focus::Table) {
            Focus::Prompt(prompt) => self.on_prompt_key(prompt, ev),
            Focus::Confirm(confirm) => self.on_confirm_key(confirm, ev),
            Focus::Yaml(mut y) => {
                match self.keymap.command(Scope::Table, key) {
                    Some(Command::Quit) => return self.quit(),
                    Some(Command::Back) => {}
                    Some(Command::Down) => {
                        y.scroll = (y.scroll + 1).min(y.lines.len().saturating_sub(1));
                        self.focus = Focus::Yaml(y);
                    }
                    Some(Command::Up) => {
                        y.scroll = y.scroll.saturating_sub(1);
                        self.focus = Focus::Yaml(y);
                    }
                    Some(Command::Top) => {
                        y.scroll = 0;
                        self.focus = Focus::Yaml(y);
                    }
                    Some(Command::PageDown) => {
                        y.scroll = (y.scroll + self.page()).min(y.lines.len().saturating_sub(1));
                        self.focus = Focus::Yaml(y);
                    }
                    Some(Command::PageUp) => {
                        y.scroll = y.scroll.saturating_sub(self.page());
                        self.focus = Focus::Yaml(y);
                    }
                    _ => self.focus = Focus::Yaml(y),
                }
                Vec::new()
            }
            Focus::Help => {
                // Any key closes help except quit, which still quits.
                if self.keymap.command(Scope::Global, key) == Some(Command::Quit) {
                    return self.quit();
                }
                Vec::new()
            }
            Focus::Table => match self.keymap.command(Scope::Table, key) {
                Some(cmd) => self.on_command(cmd),
                None => Vec::new(),
            },
        }
    }

    fn on_command(&mut self, cmd: Command) -> Vec<Effect> {
        match cmd {
            Command::Quit => return self.quit(),
            Command::Help => self.focus = Focus::Help,
            Command::Prompt => self.focus = Focus::Prompt(Prompt::new(PromptKind::Command)),
            Command::Filter => {
                let mut p = Prompt::new(PromptKind::Filter);
                if let Some(f) = &self.table.filter {
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
                    self.focus = Focus::Yaml(super::yaml::YamlView {
                        key: key.clone(),
                        lines: Vec::new(),
                        scroll: 0,
                        loading: true,
                    });
                    return vec![Effect::Fetch(key)];
                }
            }
            Command::Detail => {
                self.flash = Some(Flash {
                    text: "the detail view is not built yet (y shows the YAML)".into(),
                    error: true,
                });
            }
            Command::Suspend => self.ask(Action::Suspend),
            Command::Resume => self.ask(Action::Resume),
            Command::Reconcile => self.ask(Action::Reconcile),
            Command::ReconcileSource => self.ask(Action::ReconcileWithSource),
        }
        Vec::new()
    }

    fn quit(&mut self) -> Vec<Effect> {
        self.quitting = true;
        vec![Effect::Quit]
    }

    /// Esc: clear the filter first, then pop the back stack, then clear marks.
    fn back(&mut self) {
        if self.table.filter.take().is_some() {
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
        let rows = self.table.rows(&self.store);
        if rows.is_empty() {
            self.table.selected = None;
            return;
        }
        let cur = self.table.selected_index(&rows) as isize;
        let next = cur.saturating_add(delta).clamp(0, rows.len() as isize - 1) as usize;
        self.table.selected = Some(rows[next].key());
    }

    /// The key of the selected row (the first row when nothing is selected yet).
    pub fn selected_key(&self) -> Option<RowKey> {
        let rows = self.table.rows(&self.store);
        rows.get(self.table.selected_index(&rows)).map(|r| r.key())
    }

    /// Opens the confirmation for `action` on the marked rows (or the selected one).
    fn ask(&mut self, action: Action) {
        if self.settings.readonly && action.is_mutation() {
            self.flash = Some(Flash {
                text: format!(
                    "read-only: {} refused (started with --readonly)",
                    action.name()
                ),
                error: true,
            });
            return;
        }
        let targets: Vec<RowKey> = if self.marks.is_empty() {
            self.selected_key().into_iter().collect()
        } else {
            self.marks.iter().cloned().collect()
        };
        if targets.is_empty() {
            self.flash = Some(Flash {
                text: format!("{}: no row selected", action.name()),
                error: true,
            });
            return;
        }
        self.focus = Focus::Confirm(Confirm { action, targets });
    }

    fn on_confirm_key(&mut self, confirm: Confirm, ev: KeyEvent) -> Vec<Effect> {
        match ev.code {
            KeyCode::Char('y') | KeyCode::Enter => {
                self.flash = Some(Flash {
                    text: format!(
                        "{}: sent to {} object(s)",
                        confirm.action.name(),
                        confirm.targets.len()
                    ),
                    error: false,
                });
                self.marks.clear();
                vec![Effect::Apply {
                    targets: confirm.targets,
                    action: confirm.action,
                }]
            }
            KeyCode::Char('n') | KeyCode::Esc => {
                self.flash = Some(Flash {
                    text: format!("{}: cancelled", confirm.action.name()),
                    error: false,
                });
                Vec::new()
            }
            _ => {
                self.focus = Focus::Confirm(confirm);
                Vec::new()
            }
        }
    }

    fn on_prompt_key(&mut self, mut prompt: Prompt, ev: KeyEvent) -> Vec<Effect> {
        let key = Key::from_event(&ev);
        if key.ctrl && key.code == KeyCode::Char('c') {
            return self.quit();
        }
        match ev.code {
            KeyCode::Esc => {
                if prompt.kind == PromptKind::Filter {
                    self.table.filter = None;
                }
            }
            KeyCode::Enter => match prompt.kind {
                PromptKind::Filter => {
                    self.table.filter = Filter::new(&prompt.input);
                    self.table.selected = None;
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
            self.table.filter = Filter::new(&prompt.input);
        }
    }

    /// Runs a `:` command.
    fn run_command(&mut self, input: &str) -> Vec<Effect> {
        let word = input.split_whitespace().next().unwrap_or("");
        let view = match word {
            "" => return Vec::new(),
            "q" | "q!" | "quit" | "qa" => return self.quit(),
            "help" | "?" => {
                self.focus = Focus::Help;
                return Vec::new();
            }
            "all" | "gitops" => ViewKind::All,
            "failing" | "fail" => ViewKind::Failing,
            "suspended" | "susp" => ViewKind::Suspended,
            other => match crate::model::lookup(other) {
                Some(k) => ViewKind::Kind(k),
                None => {
                    self.flash = Some(Flash {
                        text: format!(
                            "unknown command {other:?} (Tab completes; :help lists keys)"
                        ),
                        error: true,
                    });
                    return Vec::new();
                }
            },
        };
        self.show(view);
        Vec::new()
    }

    /// Switches to `view`, pushing the current one on the back stack.
    pub fn show(&mut self, view: ViewKind) {
        if self.table.kind == view {
            return;
        }
        let prev = std::mem::replace(&mut self.table, TableView::new(view));
        self.back.push(prev);
    }

    /// The kind of the current view, if it shows one kind.
    pub fn kind(&self) -> Option<&'static KindInfo> {
        match self.table.kind {
            ViewKind::Kind(k) => Some(k),
            _ => None,
        }
    }
}
