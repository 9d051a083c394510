//! The console: app state and its update function, keymaps, themes, and pure rendering.
//!
//! Data flow: `Event` → [`App::update`] → `Vec<Effect>`; the runtime (`cli::console`) runs effects on
//! tokio tasks and feeds their results back as events; [`view::render`] draws `&App`.

pub mod app;
pub mod blocked;
pub mod chrome;
pub mod clipboard;
pub mod detail;
pub mod diff_view;
pub mod keymap;
pub mod panels;
pub mod prompt;
pub mod report_view;
pub mod table;
pub mod theme;
pub mod tree_view;
pub mod view;
pub mod yaml;

pub use app::{App, Effect, Event, Flash, Focus, Settings};
pub use keymap::{ConfigError, Keymap};
pub use table::{RowScope, TableView, ViewKind};
pub use theme::Theme;
