//! Text report overlays: the dependsOn chains (`D`), the trace of an object (`T`) and the image
//! decisions (`i`). Each arrives as model data and is turned into toned lines once; the overlay
//! only scrolls them.

use super::app::Focus;
use super::chrome::{Chrome, overlay_block};
use super::keymap::{Command, Scope};
use crate::model::depends::{DependsOnView, Readiness};
use crate::model::row::RowKey;
use crate::model::trace::Trace;
use crate::model::tree::ObjectRef;
use crate::views::images::decisions::ImageTarget;
use crate::views::images::report::{ImageDecisions, Meaning, render_lines};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};

/// How a report line should look; the theme gives each tone its style ([`tone_style`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Ordinary text.
    Normal,
    /// A section heading.
    Heading,
    /// Good news (the chosen tag, a running image that matches, a ready dependency).
    Good,
    /// Bad news (an error, an image that differs from the decision, a blocker).
    Bad,
    /// Less important (filtered-out tags, repeated links).
    Dim,
}

impl From<Meaning> for Tone {
    /// The image view's meanings as console tones.
    fn from(m: Meaning) -> Tone {
        match m {
            Meaning::Plain => Tone::Normal,
            Meaning::Heading => Tone::Heading,
            Meaning::Confirmed => Tone::Good,
            Meaning::Problem => Tone::Bad,
            Meaning::Minor => Tone::Dim,
        }
    }
}

/// What a report is about; also the key that matches an answer to the open view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportRequest {
    /// The dependsOn chains of a Kustomization or HelmRelease.
    DependsOn(RowKey),
    /// The trace of any object in a context.
    Trace {
        /// The context.
        context: String,
        /// The object.
        object: ObjectRef,
    },
    /// The image decisions about a policy, repository or workload.
    Images(ImageTarget),
}

impl ReportRequest {
    /// The overlay's title.
    pub fn title(&self) -> String {
        match self {
            ReportRequest::DependsOn(k) => {
                format!(
                    "dependsOn {} {} {}/{}",
                    k.context, k.kind, k.namespace, k.name
                )
            }
            ReportRequest::Trace { context, object } => {
                format!("trace {context} {}", object.display())
            }
            ReportRequest::Images(t) => {
                format!("images {} {} {}/{}", t.context, t.kind, t.namespace, t.name)
            }
        }
    }
}

/// A report's data as fetched.
#[derive(Debug, Clone)]
pub enum ReportData {
    /// dependsOn chains.
    DependsOn(Box<DependsOnView>),
    /// A trace.
    Trace(Trace),
    /// Image decisions.
    Images(Box<ImageDecisions>),
}

/// An open report.
#[derive(Debug, Clone)]
pub struct ReportView {
    /// What it shows.
    pub request: ReportRequest,
    /// The toned lines (`None` while loading).
    pub lines: Option<Vec<(Tone, String)>>,
    /// First visible line.
    pub scroll: usize,
    /// The overlay Esc returns to (the tree or detail view it was opened from).
    pub parent: Option<Box<Focus>>,
    /// Wrapped or scrolled sideways.
    pub fit: super::chrome::Fit,
}

impl ReportView {
    /// A report waiting for its data.
    pub fn loading(request: ReportRequest, parent: Option<Box<Focus>>) -> ReportView {
        ReportView {
            request,
            lines: None,
            scroll: 0,
            parent,
            fit: super::chrome::Fit::default(),
        }
    }

    /// Takes the fetch's answer.
    pub fn receive(&mut self, result: Result<ReportData, String>) {
        self.lines = Some(match result {
            Ok(data) => lines_of(&data),
            Err(e) => {
                let what = match self.request {
                    ReportRequest::DependsOn(_) => "the dependsOn chains",
                    ReportRequest::Trace { .. } => "the trace",
                    ReportRequest::Images(_) => "the image decisions",
                };
                vec![(Tone::Bad, format!("cannot show {what}:")), (Tone::Bad, e)]
            }
        });
    }

    /// Number of lines (0 while loading).
    pub fn len(&self) -> usize {
        self.lines.as_ref().map_or(0, Vec::len)
    }

    /// Whether there is nothing to show yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The report as plain text (for copying).
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .flatten()
            .map(|(_, l)| format!("{l}\n"))
            .collect()
    }
}

/// The lines of any report.
pub fn lines_of(data: &ReportData) -> Vec<(Tone, String)> {
    match data {
        ReportData::DependsOn(v) => depends_lines(v),
        ReportData::Trace(t) => trace_lines(t),
        ReportData::Images(d) => render_lines(d)
            .into_iter()
            .map(|(m, line)| (Tone::from(m), line))
            .collect(),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The dependsOn view: the subject, the blocker, then both chains with each link's readiness.
pub fn depends_lines(view: &DependsOnView) -> Vec<(Tone, String)> {
    let mut out = vec![(Tone::Heading, view.subject.display())];
    match &view.blocked_by {
        Some(b) => out.push((
            Tone::Bad,
            format!("{}: {}", b.summary(), one_line(&b.message)),
        )),
        None => out.push((Tone::Good, "not blocked by any dependency".to_string())),
    }
    for (title, links) in [
        ("depends on", &view.upstream),
        ("required by", &view.downstream),
    ] {
        out.push((Tone::Normal, String::new()));
        if links.is_empty() {
            out.push((Tone::Heading, format!("{title}: (none)")));
            continue;
        }
        out.push((Tone::Heading, format!("{title}:")));
        for l in links {
            let indent = "  ".repeat(l.depth);
            let (tone, state) = match l.readiness {
                Readiness::Ready => (Tone::Good, "Ready".to_string()),
                Readiness::NotReady => (Tone::Bad, format!("NotReady ({})", l.reason)),
                Readiness::Missing => (Tone::Bad, "NotFound".to_string()),
            };
            let mut line = format!("{indent}{}/{} {state}", l.object.namespace, l.object.name);
            let tone = if l.repeated {
                line.push_str(" (repeated)");
                Tone::Dim
            } else {
                if l.readiness == Readiness::NotReady && !l.message.is_empty() {
                    line.push_str(": ");
                    line.push_str(&one_line(&l.message));
                }
                tone
            };
            out.push((tone, line));
        }
    }
    out
}

/// The trace: `Label: value` blocks separated by `---`, statuses toned.
pub fn trace_lines(trace: &Trace) -> Vec<(Tone, String)> {
    let mut out = Vec::new();
    for (i, block) in trace.blocks.iter().enumerate() {
        if i > 0 {
            out.push((Tone::Dim, "---".to_string()));
        }
        for (n, (label, value)) in block.fields.iter().enumerate() {
            let value = one_line(value);
            let tone = match label.as_str() {
                _ if n == 0 => Tone::Heading,
                "Status" if value.starts_with("Last reconciled") => Tone::Good,
                "Status" if value == "Managed by Flux" => Tone::Good,
                "Status" => Tone::Bad,
                "Message" => Tone::Dim,
                _ => Tone::Normal,
            };
            out.push((tone, format!("{:<16}{value}", format!("{label}:"))));
        }
    }
    if !trace.managed {
        out.push((Tone::Normal, String::new()));
        out.push((
            Tone::Dim,
            "no kustomize.toolkit.fluxcd.io or helm.toolkit.fluxcd.io owner labels".to_string(),
        ));
    }
    out
}

/// The theme style of a tone.
pub fn tone_style(ui: &Chrome, tone: Tone) -> Style {
    let t = ui.theme;
    match tone {
        Tone::Normal => t.text,
        Tone::Heading => t.title,
        Tone::Good => t.ready,
        Tone::Bad => t.failing,
        Tone::Dim => t.header_key,
    }
}

/// Draws a report overlay over `area`.
pub fn render(ui: &Chrome, r: &ReportView, frame: &mut Frame, area: Rect) {
    let t = ui.theme;
    let title = format!(
        " {}{} — {} copy, {} back ",
        r.request.title(),
        r.fit.mark(),
        ui.keymap.hint(Scope::Global, Command::Copy),
        ui.keymap.hint(Scope::Global, Command::Back),
    );
    let visible = usize::from(area.height.saturating_sub(1));
    let scroll = r.scroll.min(r.len().saturating_sub(visible));
    let lines: Vec<Line> = match &r.lines {
        None => vec![Line::raw("loading…")],
        Some(lines) => lines
            .iter()
            .skip(scroll)
            .take(visible)
            .map(|(tone, l)| Line::styled(l.as_str(), tone_style(ui, *tone)))
            .collect(),
    };
    frame.render_widget(Clear, area);
    frame.render_widget(
        r.fit.paragraph(
            Paragraph::new(lines)
                .style(t.text)
                .block(overlay_block(title, t)),
        ),
        area,
    );
}
