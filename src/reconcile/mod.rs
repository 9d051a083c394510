//! The bundled reconciler: runtime, sources, kustomizations, image automation.

pub mod controller;
pub mod image;
pub mod kustomization;
pub mod runtime;
pub mod semver;
pub mod source;
pub mod status_io;
