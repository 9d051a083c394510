//! What every renderer may read besides its own view's state: the theme, the keymap (for the key
//! hints in titles) and the clock (for ages), plus the small layout helpers they share. The renderers
//! take a [`Chrome`] and their state, never the `App`; `view::render` builds it and composes them.

use super::keymap::Keymap;
use super::theme::Theme;
use crate::model::age::human_duration;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Borders};
use std::time::Duration;

/// The theme, keymap and clock a frame is drawn with.
#[derive(Debug, Clone, Copy)]
pub struct Chrome<'a> {
    /// Styles.
    pub theme: &'a Theme,
    /// Key bindings, for the hints overlays print.
    pub keymap: &'a Keymap,
    /// The app's clock (unix seconds), for ages.
    pub now: i64,
}

impl Chrome<'_> {
    /// The age of a timestamp relative to the clock (`-` when unknown).
    pub fn age(&self, ts: Option<i64>) -> String {
        match ts {
            Some(ts) => human_duration(Duration::from_secs(
                self.now.saturating_sub(ts).max(0) as u64
            )),
            None => "-".into(),
        }
    }
}

/// Joins names with `, ` for one-line messages.
pub(crate) fn join<'a>(items: impl Iterator<Item = &'a String>) -> String {
    items.map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// A rectangle of at most `width`×`height` centred in `area`.
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The title rule of an overlay (tree, diff, reports, detail, YAML): a top border carrying `title`.
pub(crate) fn overlay_block<'a>(title: String, t: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::TOP)
        .title(title)
        .style(t.title)
}

/// How an overlay fits long lines: wrapped (`w`), or cut at the right edge and scrolled sideways
/// (`←`/`→`). Shared by the YAML, detail and report overlays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fit {
    /// Long lines wrap instead of being cut.
    pub wrap: bool,
    /// Columns scrolled to the right (ignored while wrapping).
    pub column: u16,
}

/// Columns one `←`/`→` moves.
const SIDE_STEP: u16 = 16;

impl Fit {
    /// Applies a wrap or sideways-scroll command; false for any other command.
    pub fn apply(&mut self, cmd: super::keymap::Command) -> bool {
        use super::keymap::Command;
        match cmd {
            Command::Wrap => {
                self.wrap = !self.wrap;
                self.column = 0;
            }
            Command::ScrollRight if !self.wrap => {
                self.column = self.column.saturating_add(SIDE_STEP)
            }
            Command::ScrollLeft if !self.wrap => {
                self.column = self.column.saturating_sub(SIDE_STEP)
            }
            Command::ScrollLeft | Command::ScrollRight => {}
            _ => return false,
        }
        true
    }

    /// The paragraph wrapped or scrolled sideways as chosen.
    pub fn paragraph<'a>(
        &self,
        p: ratatui::widgets::Paragraph<'a>,
    ) -> ratatui::widgets::Paragraph<'a> {
        if self.wrap {
            p.wrap(ratatui::widgets::Wrap { trim: false })
        } else {
            p.scroll((0, self.column))
        }
    }

    /// A title mark: ` [wrap]` or ` [→N]` when scrolled, else nothing.
    pub fn mark(&self) -> String {
        if self.wrap {
            " [wrap]".into()
        } else if self.column > 0 {
            format!(" [→{}]", self.column)
        } else {
            String::new()
        }
    }
}

/// `text` cut to `width` characters in the middle, keeping its start and its end (where messages
/// name the object that failed): `kustomize build failed: …/checkout/checkout stalled`.
pub(crate) fn fit_middle(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let head = (width - 1) / 3;
    let tail = width - 1 - head;
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(n - tail));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::Command;

    #[test]
    fn fit_middle_keeps_both_ends() {
        assert_eq!(fit_middle("short", 10), "short");
        assert_eq!(fit_middle("abcdefghij", 7), "ab…ghij");
        assert_eq!(fit_middle("abcdefghij", 1), "…");
        assert_eq!(fit_middle("abcdefghij", 0), "");
        let msg = "health check failed after 30s: [Deployment/checkout/checkout status: 'Failed']";
        let cut = fit_middle(msg, 40);
        assert_eq!(cut.chars().count(), 40);
        assert!(cut.ends_with("checkout status: 'Failed']"), "{cut}");
    }

    #[test]
    fn fit_wraps_and_scrolls_sideways() {
        let mut f = Fit::default();
        assert!(f.apply(Command::ScrollRight));
        assert_eq!(f.column, SIDE_STEP);
        assert_eq!(f.mark(), format!(" [→{SIDE_STEP}]"));
        assert!(f.apply(Command::ScrollLeft));
        assert!(f.apply(Command::ScrollLeft));
        assert_eq!(f.column, 0, "never left of the first column");
        f.column = 5;
        assert!(f.apply(Command::Wrap));
        assert!(f.wrap);
        assert_eq!(f.column, 0);
        assert_eq!(f.mark(), " [wrap]");
        assert!(f.apply(Command::ScrollRight));
        assert_eq!(f.column, 0, "no sideways scroll while wrapping");
        assert!(!f.apply(Command::Down));
    }
}
