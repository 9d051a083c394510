//! flotilla: a keyboard-driven terminal console for GitOps with a bundled Flux-compatible reconciler.
//!
//! Module order (a module never reaches up): `patch` and `kustomize` stand alone; `model` is pure data;
//! `apiserver` uses `model` and `patch`; then `cluster` ← `reconcile`, `diff` ←
//! `views` (the fetchers the console and the CLI share: tree, dependsOn, trace, diff) ← `tui` ← `cli`.

pub mod apiserver;
pub mod cli;
pub mod cluster;
pub mod demo;
pub mod diff;
pub mod kustomize;
pub mod model;
pub mod patch;
pub mod reconcile;
pub mod tui;
pub mod views;
