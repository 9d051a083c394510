//! flotilla: a keyboard-driven terminal console for GitOps with a bundled Flux-compatible reconciler.
//!
//! Module order (a module never reaches up; `../shared/docs/DESIGN.md`): `model` is pure data (with the
//! one label-selector parser and the shared time/duration and error-text helpers) and `patch` stands
//! alone; `kustomize` uses only `patch` and pure, I/O-free `model` code (its label and annotation
//! selectors are `model::selector`'s); `apiserver` uses `model` and `patch`; then `cluster` ← `runtime` (the
//! controller runtime, status writer, events) ← `apply` (staged server-side apply, inventory, prune,
//! health) ← `controllers` (one folder per Flux controller) ← `views` (what the console and the CLI
//! show: tree, dependsOn, trace, diff, image decisions) ← `tui` ← `cli`; `demo` beside `cli`.

pub mod apiserver;
pub mod apply;
pub mod cli;
pub mod cluster;
pub mod controllers;
pub mod demo;
pub mod helm;
pub mod kustomize;
pub mod model;
pub mod patch;
pub mod runtime;
pub mod sops;
pub mod tui;
pub mod views;
