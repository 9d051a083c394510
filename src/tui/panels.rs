//! Rendering of the detail view, the `:events` list and the `:ctx`/`:ns` pickers. Pure, like `view`.

use super::app::Picker;
use super::chrome::{Chrome, centered, overlay_block};
use super::detail::{DetailView, Loaded};
use super::keymap::{Command, Scope};
use crate::cluster::ObjectEvent;
use crate::model::ConditionStatus;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row as TableRow, Table};

/// The lines of the detail view (before scrolling); `blocked` is the object's blocker, if any.
fn detail_lines<'a>(ui: &Chrome<'a>, d: &'a DetailView, blocked: Option<String>) -> Vec<Line<'a>> {
    let t = ui.theme;
    let mut lines: Vec<Line> = Vec::new();
    let section = |title: &'static str| Line::styled(title, t.title);
    if let Some(blocked) = blocked {
        lines.push(Line::styled(blocked, t.failing));
        lines.push(Line::raw(""));
    }
    lines.push(section("Conditions"));
    match &d.object {
        Loaded::Loading => lines.push(Line::raw("  loading…")),
        Loaded::Failed(e) => lines.push(Line::styled(format!("  cannot fetch: {e}"), t.failing)),
        Loaded::Ready(summary) => {
            if summary.conditions.is_empty() {
                lines.push(Line::raw("  (none)"));
            }
            for c in &summary.conditions {
                let style = match (c.type_.as_str(), c.status) {
                    ("Ready" | "Healthy", ConditionStatus::True) => t.ready,
                    ("Ready" | "Healthy", ConditionStatus::False) => t.failing,
                    ("Stalled", ConditionStatus::True) => t.failing,
                    ("Reconciling", ConditionStatus::True) => t.progressing,
                    _ => t.text,
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("  {:<14}", c.type_), t.header_key),
                    Span::styled(format!("{:<8}", c.status.as_str()), style),
                    Span::styled(format!("{:<26}", c.reason), t.text),
                    Span::styled(
                        format!("{:>5}  ", ui.age(c.last_transition_unix())),
                        t.header_key,
                    ),
                    Span::styled(c.message.replace('\n', " "), t.text),
                ]));
            }
            lines.push(Line::raw(""));
            lines.push(section("Spec"));
            if summary.fields.is_empty() {
                lines.push(Line::raw("  (nothing to show; y opens the YAML)"));
            }
            for (k, v) in &summary.fields {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {k:<22}"), t.header_key),
                    Span::styled(v.as_str(), t.text),
                ]));
            }
        }
    }
    lines.push(Line::raw(""));
    lines.push(section("Events"));
    match &d.events {
        Loaded::Loading => lines.push(Line::raw("  loading…")),
        Loaded::Failed(e) => lines.push(Line::styled(
            format!("  cannot list events: {e}"),
            t.failing,
        )),
        Loaded::Ready(evs) if evs.is_empty() => lines.push(Line::raw("  (no recent events)")),
        Loaded::Ready(evs) => {
            for e in evs {
                lines.push(event_line(ui, e));
            }
        }
    }
    lines
}

fn event_line<'a>(ui: &Chrome<'a>, e: &'a ObjectEvent) -> Line<'a> {
    let t = ui.theme;
    let style = if e.is_warning() { t.failing } else { t.text };
    let count = if e.count > 1 {
        format!(" (x{})", e.count)
    } else {
        String::new()
    };
    Line::from(vec![
        Span::styled(format!("  {:>5}  ", ui.age(e.last_seen)), t.header_key),
        Span::styled(format!("{:<8}", e.type_), style),
        Span::styled(format!("{:<26}", e.reason), style),
        Span::styled(format!("{}{count}", e.message.replace('\n', " ")), t.text),
    ])
}

/// Draws the detail view over the table area; `blocked` names what the object waits on, if anything.
pub fn render_detail(
    ui: &Chrome,
    d: &DetailView,
    blocked: Option<String>,
    frame: &mut Frame,
    area: Rect,
) {
    let t = ui.theme;
    let lines = detail_lines(ui, d, blocked);
    let visible = usize::from(area.height.saturating_sub(1));
    let scroll = d.scroll.min(lines.len().saturating_sub(visible));
    let km = ui.keymap;
    let title = format!(
        " detail {} {} {}/{}{} — {} yaml, {} tree, {} trace, {} back ",
        d.key.context,
        d.key.kind,
        d.key.namespace,
        d.key.name,
        d.fit.mark(),
        km.hint(Scope::Detail, Command::Yaml),
        km.hint(Scope::Detail, Command::Tree),
        km.hint(Scope::Detail, Command::Trace),
        km.hint(Scope::Global, Command::Back),
    );
    frame.render_widget(Clear, area);
    frame.render_widget(
        d.fit.paragraph(
            Paragraph::new(lines.into_iter().skip(scroll).collect::<Vec<_>>())
                .style(t.text)
                .block(overlay_block(title, t)),
        ),
        area,
    );
}

/// The `:events` list as drawn: the events shown (scoped, filtered, newest first) and the selection.
pub struct EventsList<'a> {
    /// The events shown.
    pub shown: Vec<&'a ObjectEvent>,
    /// The selected index (clamped when drawn).
    pub selected: usize,
    /// Whether a filter is active (for the empty message).
    pub filtered: bool,
    /// Whether the list has the keyboard (the selection is highlighted).
    pub focused: bool,
    /// Whether a context is not live (its events are greyed).
    pub stale: &'a dyn Fn(&str) -> bool,
}

/// Draws the `:events` list (newest first) in the table area.
pub fn render_events(ui: &Chrome, list: &EventsList, frame: &mut Frame, area: Rect) {
    let t = ui.theme;
    let shown = &list.shown;
    if shown.is_empty() {
        let text = if list.filtered {
            "no events match the filter (Esc clears it)"
        } else {
            "no Events about GitOps objects yet (watching every context)"
        };
        frame.render_widget(
            Paragraph::new(vec![
                Line::styled(" events (0)", t.table_header),
                Line::styled(text, t.text),
            ]),
            area,
        );
        return;
    }
    let body_height = usize::from(area.height.saturating_sub(1));
    let selected = list.selected.min(shown.len() - 1);
    let offset = selected.saturating_sub(body_height.saturating_sub(1));
    let narrow = area.width < 100;
    let rows: Vec<TableRow> = shown
        .iter()
        .enumerate()
        .skip(offset)
        .take(body_height)
        .map(|(i, e)| {
            let mut cells = vec![Cell::from(e.context.as_str())];
            if !narrow {
                cells.push(Cell::from(e.namespace.as_str()));
            }
            cells.extend([
                Cell::from(format!(
                    "{}/{}",
                    crate::model::kinds::short_name(&e.kind),
                    e.name
                )),
                Cell::from(e.type_.as_str()),
                Cell::from(e.reason.as_str()),
                Cell::from(ui.age(e.last_seen)),
                Cell::from(e.message.replace('\n', " ")),
            ]);
            let mut style = if e.is_warning() { t.failing } else { t.text };
            if (list.stale)(&e.context) {
                style = t.stale;
            }
            if i == selected && list.focused {
                style = style.patch(t.selected);
            }
            TableRow::new(cells).style(style)
        })
        .collect();
    let mut header = vec!["CONTEXT"];
    let mut widths = vec![Constraint::Length(12)];
    if !narrow {
        header.push("NAMESPACE");
        widths.push(Constraint::Length(14));
    }
    header.extend(["OBJECT", "TYPE", "REASON", "AGE", "MESSAGE"]);
    widths.extend([
        Constraint::Length(if narrow { 22 } else { 30 }),
        Constraint::Length(7),
        Constraint::Length(if narrow { 12 } else { 24 }),
        Constraint::Length(5),
        Constraint::Fill(1),
    ]);
    let table = Table::new(rows, widths)
        .header(TableRow::new(header).style(t.table_header))
        .column_spacing(1);
    frame.render_widget(table, area);
}

/// Draws a picker: one line per item, labelled and styled by `label`.
pub fn render_picker(
    ui: &Chrome,
    p: &Picker,
    title: &str,
    label: impl Fn(&str) -> (String, Style),
    frame: &mut Frame,
    area: Rect,
) {
    let t = ui.theme;
    let room = usize::from(area.height.saturating_sub(2)).max(1);
    let offset = p.selected.saturating_sub(room.saturating_sub(1));
    let lines: Vec<Line> = p
        .items
        .iter()
        .enumerate()
        .skip(offset)
        .take(room)
        .map(|(i, item)| {
            let (text, style) = label(item);
            let style = if i == p.selected {
                style.patch(t.selected)
            } else {
                style
            };
            Line::styled(text, style)
        })
        .collect();
    let width = p
        .items
        .iter()
        .map(|i| label(i).0.chars().count())
        .max()
        .unwrap_or(0)
        .max(title.chars().count())
        + 4;
    let rect = centered(area, width as u16, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(title.to_string())
                .style(t.text),
        ),
        rect,
    );
}
