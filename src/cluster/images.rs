//! Gathers [`ImageDecisions`] for an ImagePolicy, ImageRepository or workload across every context.

use crate::cluster::clients::Clients;
use crate::model::images::ImageDecisions;

/// What the decisions are asked about: an ImagePolicy, an ImageRepository, or a workload
/// (Deployment, StatefulSet, DaemonSet …) whose container image a policy governs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTarget {
    /// The context the object is in.
    pub context: String,
    /// Its kind (`ImagePolicy`, `ImageRepository`, `Deployment`, …).
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// Why the decisions could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    /// Anything else, with a message naming the object.
    #[error("{0}")]
    Other(String),
}

/// Reads the policy, its repository, scan, Git markers, automation and running images.
pub async fn image_decisions(
    clients: &Clients,
    target: &ImageTarget,
) -> Result<ImageDecisions, ImagesError> {
    let _ = clients;
    Err(ImagesError::Other(format!(
        "image decisions for {} {}/{}: not built yet",
        target.kind, target.namespace, target.name
    )))
}
