//! The bundled reconciler: runtime, sources, kustomizations, image automation.

pub mod image;
pub mod kustomization;
pub mod semver;
pub mod source;
