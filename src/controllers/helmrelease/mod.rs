//! HelmRelease (`helm.toolkit.fluxcd.io/v2`) support: Helm's release storage on the cluster
//! ([`storage`]) and the release actions a HelmRelease reconciler calls ([`actions`]): install,
//! upgrade, rollback and uninstall with hooks, kstatus waits and Helm's history rules, compatible
//! with the real helm CLI and helm-controller.

pub mod actions;
pub mod storage;

pub use actions::{ActionError, Helm, ReleaseOptions};
pub use storage::{Storage, StorageError};
