//! A native Helm engine: Go `text/template` with sprig and Helm's functions, chart loading, values
//! coalescing and `helm template`'s output, reproducing Helm v4 byte for byte where implemented.
//! See docs in `../shared/docs/helm-notes.md` (outside the crate) and issue 13.
//!
//! Layers: [`parse`] (lexer/parser) → [`exec`] (executor) over [`value::Value`], with [`funcs`]
//! (function map), [`format`] (Go's `fmt`), [`yaml`] (values in, `toYaml` out), [`semver`]; then
//! [`chart`] (load, values, render, sort, print) — the public API is [`chart::template`] and
//! [`chart::show_values`]. Stand-alone: uses nothing from the rest of the crate.

pub mod archive;
pub mod chart;
pub mod crypto;
pub mod exec;
pub mod format;
pub mod funcs;
pub mod gotime;
pub mod ignore;
pub mod limits;
mod load;
pub mod parse;
pub mod release;
mod schema;
pub mod semver;
pub mod sprig;
pub mod strvals;
pub mod value;
pub mod yaml;

#[cfg(test)]
mod tests;

pub use chart::{HelmError, TemplateOptions, show_values, template, template_files};
pub use limits::Limits;
