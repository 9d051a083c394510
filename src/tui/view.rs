//! Rendering: a pure function of [`App`] onto a ratatui frame. No I/O, no state changes.
//!
//! `App` composes here: the header, table, crumbs and bottom line read the app-wide state; every
//! overlay renderer gets only its own view's state and the [`Chrome`] (theme, keymap, clock).

use super::app::{App, Focus, Pending, Picker};
use super::chrome::{Chrome, centered, fit_middle, join, overlay_block};
use super::keymap::{Command, Key, Scope};
use super::prompt::PromptKind;
use super::table::{SortBy, ViewKind};
use crate::cluster::ContextState;
use crate::model::ConditionStatus;
use crate::model::health::Health;
use crate::model::row::{Row, RowKey};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row as TableRow, Table, Wrap};
use std::collections::{BTreeMap, BTreeSet};

/// Draws the whole screen.
pub fn render(app: &App, frame: &mut Frame) {
    let [header, table, crumbs, bottom] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    render_header(app, frame, header);
    render_table(app, frame, table);
    render_crumbs(app, frame, crumbs);
    render_bottom(app, frame, bottom);
    match &app.focus {
        Focus::Help(under) => {
            render_overlay(app, under, frame, table);
            // Help may cover the header too: with the view keys it needs 21 rows at 80×24.
            render_help(&chrome(app), under.scope(), frame, frame.area());
        }
        other => render_overlay(app, other, frame, table),
    }
}

/// The theme, keymap and clock every renderer draws with.
fn chrome(app: &App) -> Chrome<'_> {
    Chrome {
        theme: &app.theme,
        keymap: &app.keymap,
        now: app.now,
    }
}

/// Draws the overlay that has (or, under help, had) the keyboard.
fn render_overlay(app: &App, focus: &Focus, frame: &mut Frame, table: Rect) {
    let ui = chrome(app);
    match focus {
        Focus::Help(under) => render_overlay(app, under, frame, table),
        Focus::Confirm(c) => render_confirm(&ui, c, frame, table),
        Focus::Yaml(y) => render_yaml(&ui, y, frame, table),
        Focus::Detail(d) => {
            let blocked = app
                .store
                .get(&d.key)
                .and_then(|row| super::blocked::blocked_by(&app.store, row));
            super::panels::render_detail(&ui, d, blocked, frame, table)
        }
        Focus::Contexts(p) => render_context_picker(app, p, frame, table),
        Focus::Namespaces(p) => render_namespace_picker(app, p, frame, table),
        Focus::Tree(v) => super::tree_view::render(&ui, v, frame, table),
        Focus::Diff(v) => super::diff_view::render(&ui, v, frame, table),
        Focus::Report(r) => super::report_view::render(&ui, r, frame, table),
        Focus::Table | Focus::Prompt(_) => {}
    }
}

/// Draws the `:ctx` picker: every watched context with its state, counts and visibility.
fn render_context_picker(app: &App, p: &Picker, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let label = |c: &str| {
        let state = app.contexts.state(c).map_or("?", |s| s.label());
        let counts = app.store.counts_in(c);
        let hidden = app.scope.hidden.contains(c);
        let ro = if app.is_readonly(c) { " read-only" } else { "" };
        (
            format!(
                "[{}] {c:<16} {state:<11} {:>5} rows {:>4} failing{ro}",
                if hidden { " " } else { "x" },
                counts.total,
                counts.failing
            ),
            if hidden { t.stale } else { t.text },
        )
    };
    let km = &app.keymap;
    let title = format!(
        " contexts — {}: only this, {}: toggle, {}: all, {} ",
        km.hint(Scope::Picker, Command::Pick),
        km.hint(Scope::Picker, Command::Toggle),
        km.hint(Scope::Picker, Command::ShowAll),
        km.hint(Scope::Global, Command::Back),
    );
    super::panels::render_picker(&chrome(app), p, &title, label, frame, area);
}

/// Draws the `:ns` picker.
fn render_namespace_picker(app: &App, p: &Picker, frame: &mut Frame, area: Rect) {
    let current = app.scope.namespace.as_deref().unwrap_or("all");
    let label = |ns: &str| {
        (
            format!("{} {ns}", if ns == current { "*" } else { " " }),
            app.theme.text,
        )
    };
    let title = format!(
        " namespace — {} picks, {} ",
        app.keymap.hint(Scope::Picker, Command::Pick),
        app.keymap.hint(Scope::Global, Command::Back),
    );
    super::panels::render_picker(&chrome(app), p, &title, label, frame, area);
}

fn context_style(app: &App, state: &ContextState) -> Style {
    let t = &app.theme;
    match state {
        ContextState::Connecting => t.ctx_connecting,
        ContextState::Live => t.ctx_live,
        ContextState::Stale { .. } => t.ctx_stale,
        ContextState::Forbidden { .. } => t.ctx_forbidden,
        ContextState::Unreachable { .. } => t.ctx_unreachable,
    }
}

fn context_label(app: &App, state: &ContextState) -> String {
    match state {
        ContextState::Stale { since, .. } => format!("stale {}", chrome(app).age(Some(*since))),
        other => other.label().to_string(),
    }
}

fn render_header(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut ctx = vec![Span::styled("flotilla ", t.title)];
    for (name, state) in &app.contexts.states {
        let hidden = app.scope.hidden.contains(name);
        let ro = if app.settings.readonly_contexts.contains(name) {
            "(ro)"
        } else {
            ""
        };
        let style = if hidden { t.stale } else { t.header_key };
        ctx.push(Span::styled(
            format!("{}{name}{ro}:", if hidden { "-" } else { "" }),
            style,
        ));
        ctx.push(Span::styled(
            format!("{} ", context_label(app, state)),
            context_style(app, state),
        ));
    }
    let c = app.counts();
    let mut counts = vec![
        Span::styled("ready ", t.header_key),
        Span::styled(format!("{} ", c.ready), t.ready),
        Span::styled("failing ", t.header_key),
        Span::styled(format!("{} ", c.failing), t.failing),
        Span::styled("suspended ", t.header_key),
        Span::styled(format!("{} ", c.suspended), t.suspended),
        Span::styled("progressing ", t.header_key),
        Span::styled(format!("{} ", c.progressing), t.progressing),
        Span::styled("unknown ", t.header_key),
        Span::styled(format!("{} ", c.unknown), t.unknown),
        Span::styled(
            format!(
                "ns {} ",
                app.scope
                    .namespace
                    .as_deref()
                    .or(app.settings.namespace.as_deref())
                    .unwrap_or("all")
            ),
            t.header_key,
        ),
    ];
    if !app.pending.is_empty() {
        counts.push(Span::styled(
            format!("reconciling {} ", app.pending.len()),
            t.progressing,
        ));
    }
    if let Some((queued, in_flight)) = app.reconciler {
        counts.push(Span::styled("reconciler ", t.header_key));
        counts.push(Span::styled(
            format!("{in_flight} running {queued} queued "),
            if queued + in_flight > 0 {
                t.progressing
            } else {
                t.text
            },
        ));
    }
    if app.settings.readonly {
        counts.push(Span::styled(" READ-ONLY ", t.readonly_badge));
    }
    let text = vec![Line::from(ctx), Line::from(counts)];
    frame.render_widget(Paragraph::new(text).style(t.text), area);
}

/// One table column: title, how eager it is to be dropped when narrow (higher goes first), and width cap.
struct Column {
    title: &'static str,
    drop_rank: u8,
    max: usize,
    cell: fn(&Chrome, &Row) -> String,
}

fn suspended_cell(ui: &Chrome, row: &Row) -> String {
    match (row.suspended, row.suspended_since) {
        (false, _) => "-".into(),
        (true, Some(since)) => format!("yes {}", ui.age(Some(since))),
        (true, None) => "yes".into(),
    }
}

fn ready_cell(row: &Row) -> String {
    match row.ready {
        ConditionStatus::True => "True".into(),
        ConditionStatus::False => "False".into(),
        ConditionStatus::Unknown => "Unknown".into(),
    }
}

const BASE_COLUMNS: &[Column] = &[
    Column {
        title: "CONTEXT",
        drop_rank: 3,
        max: 16,
        cell: |_, r| r.context.clone(),
    },
    Column {
        title: "NAMESPACE",
        drop_rank: 4,
        max: 16,
        cell: |_, r| r.namespace.clone(),
    },
    Column {
        title: "NAME",
        drop_rank: 0,
        max: 32,
        cell: |_, r| r.name.clone(),
    },
    Column {
        title: "KIND",
        drop_rank: 2,
        max: 14,
        cell: |_, r| r.kind.short.to_string(),
    },
    Column {
        title: "READY",
        drop_rank: 1,
        max: 7,
        cell: |_, r| ready_cell(r),
    },
];

const TAIL_COLUMNS: &[Column] = &[
    Column {
        title: "REVISION",
        drop_rank: 7,
        max: 20,
        cell: |_, r| r.revision.clone(),
    },
    Column {
        title: "SUSPENDED",
        drop_rank: 5,
        max: 9,
        cell: suspended_cell,
    },
    Column {
        title: "AGE",
        drop_rank: 5,
        max: 6,
        cell: |ui, r| ui.age(r.created),
    },
    Column {
        title: "LAST RECONCILE",
        drop_rank: 8,
        max: 14,
        cell: |ui, r| ui.age(r.last_reconcile),
    },
];

fn row_style(ui: &Chrome, table: &TableFrame, row: &Row) -> Style {
    let t = ui.theme;
    if (table.stale)(&row.context) {
        return t.stale;
    }
    if row.suspended {
        return t.suspended;
    }
    match row.health {
        Health::Ready => t.ready,
        Health::Failing => t.failing,
        Health::Progressing => t.progressing,
        Health::Suspended => t.suspended,
        Health::Unknown => t.unknown,
    }
}

/// Why the table is empty, when a context is not live (never an empty table without a reason).
fn empty_reason(app: &App) -> String {
    let problems: Vec<String> = app
        .contexts
        .states
        .iter()
        .filter_map(|(c, s)| match s {
            ContextState::Forbidden { message } => Some(format!("{c}: forbidden — {message}")),
            ContextState::Unreachable { message } => Some(format!("{c}: unreachable — {message}")),
            ContextState::Stale { message, .. } => Some(format!("{c}: stale — {message}")),
            ContextState::Connecting => Some(format!("{c}: connecting…")),
            ContextState::Live => None,
        })
        .collect();
    if problems.is_empty() {
        if app.table.filter().is_some() {
            "no rows match the filter (Esc clears it)".into()
        } else {
            match app.table.kind {
                super::table::ViewKind::All => "no GitOps objects in any context".into(),
                super::table::ViewKind::Failing => "nothing is failing".into(),
                super::table::ViewKind::Suspended => "nothing is suspended".into(),
                super::table::ViewKind::Kind(k) => format!("no {} in any context", k.plural),
                super::table::ViewKind::Events => {
                    "no Events about GitOps objects yet (watching every context)".into()
                }
            }
        }
    } else {
        problems.join("\n")
    }
}

fn render_table(app: &App, frame: &mut Frame, area: Rect) {
    if app.table.kind == super::table::ViewKind::Events {
        let stale = |context: &str| {
            !app.contexts
                .state(context)
                .is_none_or(ContextState::is_live)
        };
        let list = super::panels::EventsList {
            shown: app.events.shown(&app.scope, app.table.filter()),
            selected: app.events.selected,
            filtered: app.table.filter().is_some(),
            focused: matches!(app.focus, Focus::Table | Focus::Prompt(_)),
            stale: &stale,
        };
        super::panels::render_events(&chrome(app), &list, frame, area);
        return;
    }
    let rows = app.visible_rows();
    let stale = |context: &str| {
        !app.contexts
            .state(context)
            .is_none_or(ContextState::is_live)
    };
    let blocked = |row: &Row| super::blocked::blocked_by(&app.store, row);
    let table = TableFrame {
        kind: app.table.kind,
        selected: app.table.selected_index(&rows),
        empty_reason: if rows.is_empty() {
            empty_reason(app)
        } else {
            String::new()
        },
        rows,
        focused: matches!(app.focus, Focus::Table | Focus::Prompt(_)),
        marks: &app.marks,
        pending: &app.pending,
        blocked: &blocked,
        stale: &stale,
        sort: app.table.sort(),
    };
    render_rows(&chrome(app), &table, frame, area);
}

/// The table as drawn: the rows in view order and what decorates them (built by [`render_table`]).
pub struct TableFrame<'a> {
    /// What the table lists.
    pub kind: ViewKind,
    /// The rows, in view order.
    pub rows: Vec<&'a Row>,
    /// The selected index in `rows`.
    pub selected: usize,
    /// Whether the table has the keyboard (the selection is highlighted).
    pub focused: bool,
    /// Why the table is empty (shown when `rows` is).
    pub empty_reason: String,
    /// Marked rows.
    pub marks: &'a BTreeSet<RowKey>,
    /// Actions requested and not yet confirmed by the cluster.
    pub pending: &'a BTreeMap<RowKey, Pending>,
    /// What a row waits on (`blocked by …`), if anything.
    pub blocked: &'a dyn Fn(&Row) -> Option<String>,
    /// Whether a context is not live (its rows are greyed).
    pub stale: &'a dyn Fn(&str) -> bool,
    /// The sort column and direction (descending when true), marked in the header.
    pub sort: (SortBy, bool),
}

/// The header title with the sort mark when the table is sorted by that column (`NAME↑`, `AGE↓`).
fn sorted_title(title: &str, sort: (SortBy, bool)) -> String {
    let by = match title {
        "NAME" => SortBy::Name,
        "AGE" => SortBy::Age,
        "STATUS" => SortBy::Status,
        "READY" => SortBy::Ready,
        _ => return title.to_string(),
    };
    if sort.0 != by {
        return title.to_string();
    }
    format!("{title}{}", if sort.1 { "↓" } else { "↑" })
}

/// Draws the table of GitOps objects.
fn render_rows(ui: &Chrome, table: &TableFrame, frame: &mut Frame, area: Rect) {
    let t = ui.theme;
    let rows = &table.rows;
    let body_height = usize::from(area.height.saturating_sub(1));
    if rows.is_empty() {
        let [head, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
        frame.render_widget(
            Paragraph::new(format!(" {} (0)", table.kind.title())).style(t.table_header),
            head,
        );
        frame.render_widget(
            Paragraph::new(table.empty_reason.as_str())
                .style(t.text)
                .wrap(Wrap { trim: false }),
            body,
        );
        return;
    }
    let selected = table.selected;
    // Scroll so the selection is visible: pure, derived from the selection alone.
    let offset = selected.saturating_sub(body_height.saturating_sub(1));
    let shown: Vec<&Row> = rows
        .iter()
        .skip(offset)
        .take(body_height)
        .copied()
        .collect();

    // Columns: base (KIND only in merged views), per-kind cells, tail; STATUS fills what is left.
    let mut titles: Vec<(&'static str, u8, usize)> = Vec::new();
    let mut cells: Vec<Vec<String>> = vec![Vec::new(); shown.len()];
    let mut add = |title: &'static str, rank: u8, max: usize, values: Vec<String>| {
        titles.push((title, rank, max));
        for (c, v) in cells.iter_mut().zip(values) {
            c.push(v);
        }
    };
    for col in BASE_COLUMNS {
        if col.title == "KIND" && !table.kind.is_merged() {
            continue;
        }
        add(
            col.title,
            col.drop_rank,
            col.max,
            shown.iter().map(|r| (col.cell)(ui, r)).collect(),
        );
    }
    if !table.kind.is_merged() {
        // A one-kind view: the kind's own columns from the registry (the first row names the kind).
        let heads = shown.first().map_or(&[][..], |r| r.kind.cells);
        for (i, head) in heads.iter().enumerate() {
            add(
                head.title,
                6,
                30,
                shown
                    .iter()
                    .map(|r| r.cells.get(i).cloned().unwrap_or_default())
                    .collect(),
            );
        }
    }
    for col in TAIL_COLUMNS {
        add(
            col.title,
            col.drop_rank,
            col.max,
            shown.iter().map(|r| (col.cell)(ui, r)).collect(),
        );
    }
    let mut widths: Vec<usize> = titles
        .iter()
        .enumerate()
        .map(|(i, (title, _, max))| {
            cells
                .iter()
                .map(|c| c.get(i).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
                .max(sorted_title(title, table.sort).chars().count())
                .min(*max)
        })
        .collect();
    // Drop the most expendable columns until STATUS keeps at least 16 cells.
    let mut keep: Vec<bool> = vec![true; titles.len()];
    let total = |keep: &[bool], widths: &[usize]| -> usize {
        keep.iter()
            .zip(widths)
            .filter(|(k, _)| **k)
            .map(|(_, w)| w + 1)
            .sum::<usize>()
            + 2
    };
    while total(&keep, &widths) + 16 > usize::from(area.width) {
        let victim = (0..titles.len())
            .filter(|i| keep[*i] && titles[*i].1 > 0)
            .max_by_key(|i| (titles[*i].1, *i));
        match victim {
            Some(i) => keep[i] = false,
            None => break,
        }
    }
    // NAME absorbs nothing extra; if still too wide, cap it.
    if total(&keep, &widths) + 16 > usize::from(area.width)
        && let Some(name) = titles.iter().position(|(t, _, _)| *t == "NAME")
    {
        let over = total(&keep, &widths) + 16 - usize::from(area.width);
        widths[name] = widths[name].saturating_sub(over).max(8);
    }
    // STATUS goes after READY (k9s puts the message last; we keep it wide in the middle).
    let status_at = titles
        .iter()
        .position(|(t, _, _)| *t == "READY")
        .map_or(titles.len(), |i| i + 1);

    let mut header_cells: Vec<Cell> = vec![Cell::from(" ")];
    let mut constraints: Vec<Constraint> = vec![Constraint::Length(1)];
    for (i, (title, _, _)) in titles.iter().enumerate() {
        if i == status_at {
            header_cells.push(Cell::from(sorted_title("STATUS", table.sort)));
            constraints.push(Constraint::Fill(1));
        }
        if keep[i] {
            header_cells.push(Cell::from(sorted_title(title, table.sort)));
            constraints.push(Constraint::Length(widths[i] as u16));
        }
    }
    if status_at == titles.len() {
        header_cells.push(Cell::from(sorted_title("STATUS", table.sort)));
        constraints.push(Constraint::Fill(1));
    }
    // STATUS gets what the other columns leave; a longer message loses its middle, not its end.
    let status_width = usize::from(area.width)
        .saturating_sub(total(&keep, &widths))
        .max(16);
    let body: Vec<TableRow> = shown
        .iter()
        .zip(&cells)
        .enumerate()
        .map(|(n, (row, values))| {
            let key = row.key();
            let marked = table.marks.contains(&key);
            let pending = table.pending.get(&key);
            // The marker or the blocker first (their start matters); the message itself loses its
            // middle rather than its end, where Flux names the object that failed.
            let status = match pending {
                Some(p) => {
                    let head = format!("⟳ {} requested {} ago · ", p.action, ui.age(Some(p.since)));
                    let room = status_width.saturating_sub(head.chars().count());
                    head + &fit_middle(&row.message.replace('\n', " "), room)
                }
                None => (table.blocked)(row)
                    .unwrap_or_else(|| fit_middle(&row.message.replace('\n', " "), status_width)),
            };
            let mut out: Vec<Cell> = vec![Cell::from(if marked { "*" } else { " " })];
            for (i, v) in values.iter().enumerate() {
                if i == status_at {
                    out.push(Cell::from(status.clone()));
                }
                if keep[i] {
                    out.push(Cell::from(v.clone()));
                }
            }
            if status_at == values.len() {
                out.push(Cell::from(status));
            }
            let mut style = row_style(ui, table, row);
            if pending.is_some() {
                style = style.patch(t.progressing);
            }
            if marked {
                style = style.patch(t.marked);
            }
            if offset + n == selected && table.focused {
                style = style.patch(t.selected);
            }
            TableRow::new(out).style(style)
        })
        .collect();
    let widget = Table::new(body, constraints)
        .header(TableRow::new(header_cells).style(t.table_header))
        .column_spacing(1);
    frame.render_widget(widget, area);
}

/// How many previous views the crumb line shows.
const MAX_CRUMBS: usize = 4;

fn render_crumbs(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut spans: Vec<Span> = Vec::new();
    // The last few views only, so the current one is never pushed off the line.
    let skipped = app.back.len().saturating_sub(MAX_CRUMBS);
    if skipped > 0 {
        spans.push(Span::styled(format!("…{skipped} "), t.crumb));
    }
    for v in app.back.iter().skip(skipped) {
        spans.push(Span::styled(format!(" {} ", v.kind.title()), t.crumb));
        spans.push(Span::raw(" "));
    }
    let rows = if app.table.kind == super::table::ViewKind::Events {
        app.events.shown(&app.scope, app.table.filter()).len()
    } else {
        app.table.len(&app.store, &app.scope)
    };
    let mut current = format!(" {}({rows}) ", app.table.kind.title());
    if let Some(f) = app.table.filter() {
        current = format!(" {}({rows}) /{} ", app.table.kind.title(), f.text);
    }
    spans.push(Span::styled(current, t.crumb_active));
    if !app.marks.is_empty() {
        spans.push(Span::styled(
            format!("  {} marked", app.marks.len()),
            t.marked,
        ));
    }
    if !app.scope.hidden.is_empty() {
        spans.push(Span::styled(
            format!("  hidden: {}", join(app.scope.hidden.iter())),
            t.header_key,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_bottom(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let line = match &app.focus {
        Focus::Prompt(p) => {
            let lead = match p.kind {
                PromptKind::Command => ":",
                PromptKind::Filter => "/",
            };
            let mut spans = vec![Span::styled(format!("{lead}{}", p.input), t.prompt)];
            if let Some(s) = p.suggestion() {
                spans.push(Span::styled(
                    s.get(p.input.len()..).unwrap_or("").to_string(),
                    t.suggestion,
                ));
            }
            spans.push(Span::styled("█", t.prompt));
            Line::from(spans)
        }
        _ => match &app.flash {
            // One line: a long message loses its middle, never its end (where the cause is named).
            Some(f) => Line::styled(
                fit_middle(&f.text.replace('\n', " "), usize::from(area.width)),
                if f.error { t.flash_error } else { t.flash_info },
            ),
            None => Line::styled("? help  : command  / filter", t.header_key),
        },
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn render_help(ui: &Chrome, scope: Scope, frame: &mut Frame, area: Rect) {
    let t = ui.theme;
    let favourites: Vec<String> = if scope == Scope::Table {
        (0..10)
            .flat_map(|n| {
                ui.keymap
                    .keys_in(Scope::Table, Command::Favourite(n))
                    .to_vec()
            })
            .map(|k| k.label())
            .collect()
    } else {
        Vec::new()
    };
    let mut lines: Vec<Line> = ui
        .keymap
        .help_lines(scope)
        .into_iter()
        .map(|(keys, help)| {
            let keys: Vec<String> = keys.iter().map(Key::label).collect();
            Line::from(vec![
                Span::styled(format!("{:<14}", keys.join(" ")), t.help_key),
                Span::styled(help, t.text),
            ])
        })
        .collect();
    if !favourites.is_empty() {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<14}", favourites.join("")), t.help_key),
            Span::styled("namespace favourites", t.text),
        ]));
    }
    let half = lines.len().div_ceil(2);
    // The table's help ends with the `:` commands; an overlay's names its scope in the title.
    let table = scope == Scope::Table;
    let rect = centered(area, 76, half as u16 + if table { 3 } else { 2 });
    frame.render_widget(Clear, rect);
    let title = if table {
        " help — any key closes ".to_string()
    } else {
        format!(" help: {} keys — any key closes ", scope.name())
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .style(t.text);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [keys, commands] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(u16::from(table))]).areas(inner);
    if table {
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(":", t.help_key),
                Span::styled(
                    "all failing suspended events ctx ns sync [prune] ks hr app … (tab)",
                    t.text,
                ),
            ])),
            commands,
        );
    }
    let [left, right] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(keys);
    frame.render_widget(Paragraph::new(lines[..half].to_vec()), left);
    frame.render_widget(Paragraph::new(lines[half..].to_vec()), right);
}

fn render_confirm(ui: &Chrome, c: &super::app::Confirm, frame: &mut Frame, area: Rect) {
    let t = ui.theme;
    let delete = c.action == crate::cluster::Action::Delete;
    let mut lines = vec![Line::styled(
        format!(
            "{} {} object(s)?{}",
            c.action.name(),
            c.targets.len(),
            if delete {
                " This cannot be undone."
            } else {
                ""
            }
        ),
        if delete { t.failing } else { t.title },
    )];
    let room = usize::from(area.height.saturating_sub(6)).max(1);
    let scroll = c.scroll.min(c.targets.len().saturating_sub(room));
    if scroll > 0 {
        lines.push(Line::raw(format!("  … {scroll} above")));
    }
    for k in c.targets.iter().skip(scroll).take(room) {
        lines.push(Line::raw(format!(
            "  {} {} {}/{}",
            k.context, k.kind, k.namespace, k.name
        )));
    }
    let below = c.targets.len().saturating_sub(scroll + room);
    if below > 0 {
        lines.push(Line::raw(format!(
            "  … and {below} more ({}/{} scroll)",
            ui.keymap.hint(Scope::Overlay, Command::Down),
            ui.keymap.hint(Scope::Overlay, Command::Up),
        )));
    }
    lines.push(Line::styled(
        format!(
            "{}: yes   {}: no",
            ui.keymap.hint_all(Scope::Dialog, Command::Confirm),
            ui.keymap.hint_all(Scope::Dialog, Command::Cancel),
        ),
        t.help_key,
    ));
    let rect = centered(area, 70, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" confirm ")
                .style(t.text),
        ),
        rect,
    );
}

fn render_yaml(ui: &Chrome, y: &super::yaml::YamlView, frame: &mut Frame, area: Rect) {
    let t = ui.theme;
    let km = ui.keymap;
    let hint = match &y.search {
        Some(term) if y.typing => format!(" /{term}█ "),
        Some(term) => format!(
            " /{term} — {}/{} next/prev, {} copy, {} back ",
            km.hint(Scope::Yaml, Command::NextMatch),
            km.hint(Scope::Yaml, Command::PrevMatch),
            km.hint(Scope::Global, Command::Copy),
            km.hint(Scope::Global, Command::Back),
        ),
        None => format!(
            " — {} search, {} copy, {} back ",
            km.hint(Scope::Yaml, Command::Search),
            km.hint(Scope::Global, Command::Copy),
            km.hint(Scope::Global, Command::Back),
        ),
    };
    let title = format!(
        " yaml {} {} {}/{}{}{hint}",
        y.key.context,
        y.key.kind,
        y.key.namespace,
        y.key.name,
        y.fit.mark()
    );
    let lines: Vec<Line> = if y.loading {
        vec![Line::raw("loading…")]
    } else {
        y.lines
            .iter()
            .enumerate()
            .skip(y.scroll)
            .take(usize::from(area.height))
            .map(|(i, l)| {
                if y.is_match(i) {
                    Line::styled(l.as_str(), t.marked)
                } else {
                    Line::raw(l.as_str())
                }
            })
            .collect()
    };
    frame.render_widget(Clear, area);
    frame.render_widget(
        y.fit.paragraph(
            Paragraph::new(lines)
                .style(t.text)
                .block(overlay_block(title, t)),
        ),
        area,
    );
}
