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
