//! The bundled reconciler: runtime, sources, kustomizations, image automation.

pub mod apply;
pub mod events;
pub mod image;
pub mod kustomization;
pub mod semver;
pub mod source;
