//! HelmRelease (`helm.toolkit.fluxcd.io/v2`) support: Helm's release storage on the cluster
//! ([`storage`]), the release actions ([`actions`]): install, upgrade, rollback and uninstall with
//! hooks, kstatus waits and Helm's history rules, compatible with the real helm CLI and
//! helm-controller; and the reconciler ([`reconciler`]) with its spec, values, drift detection
//! and Flux's strings ([`strings`]).

pub mod actions;
pub mod drift;
pub mod reconciler;
pub mod spec;
pub mod storage;
pub mod strings;
pub mod values;

pub use actions::{ActionError, Helm, ReleaseOptions};
pub use reconciler::{HelmReleaseKind, HelmReleaseReconciler};
pub use storage::{Storage, StorageError};
