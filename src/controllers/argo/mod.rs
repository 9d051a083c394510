//! Argo CD's application-controller inside the bundled reconciler: Applications
//! (`argoproj.io/v1alpha1`) rendered from Git (directory, kustomize, Helm chart in Git), compared
//! with the cluster, synced by `operation` or auto-sync with waves, phases and hooks, and given the
//! status Argo CD writes. Steps live one per file: [`spec`] (typed spec), [`source`] (revision +
//! render), [`compare`] (desired vs live), [`sync`] (one sync operation), [`project`] (AppProject
//! checks), [`health`] (Argo's health rules), [`status`] (status shapes and writer), [`strings`]
//! (Argo's words), [`application`] (the reconciler), [`appset`] (ApplicationSet, list generator).

pub mod application;
pub mod appset;
pub mod compare;
pub mod health;
pub mod live;
pub mod project;
pub mod source;
pub mod spec;
pub mod status;
pub mod strings;
pub mod sync;

pub use application::{ApplicationReconciler, ArgoOptions};
pub use appset::ApplicationSetReconciler;
