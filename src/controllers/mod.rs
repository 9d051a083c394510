//! The bundled reconciler: one folder per Flux controller on top of [`crate::runtime`] and
//! [`crate::apply`], and [`bundle`], which runs every reconciler on every cluster.

pub mod bundle;
pub mod image;
pub mod kustomization;
pub mod source;
