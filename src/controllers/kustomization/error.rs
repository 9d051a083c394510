//! The failure of one Kustomization run, classified the way kustomize-controller schedules it.

use std::time::Duration;

use crate::model::conditions::{ConditionStatus, HEALTHY};
pub use crate::runtime::ErrorClass;
use crate::runtime::Failure;

/// Flux's `--requeue-dependency` default: how long to wait for dependencies and artifacts.
pub const REQUEUE_DEPENDENCY: Duration = Duration::from_secs(30);

/// Why a Kustomization run stopped; each arm carries the condition message and maps to a Flux reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// The source object is missing or its artifact could not be fetched/unpacked, or the path is
    /// missing (transient: `retryInterval`).
    #[error("{0}")]
    ArtifactFailed(String),
    /// The source has no artifact yet (waiting: 30s).
    #[error("{0}")]
    ArtifactNotReady(String),
    /// A dependency is not ready (waiting: 30s).
    #[error("{0}")]
    DependencyNotReady(String),
    /// kustomize build, decryption or substitution failed.
    #[error("{0}")]
    BuildFailed(String),
    /// Server-side apply or client construction failed.
    #[error("{0}")]
    ReconciliationFailed(String),
    /// Garbage collection failed.
    #[error("{0}")]
    PruneFailed(String),
    /// Health checks failed or timed out.
    #[error("{0}")]
    HealthCheckFailed(String),
    /// A new source revision arrived during health checks (waiting: immediate requeue).
    #[error("{0}")]
    HealthCheckCanceled(String),
    /// Cross-namespace reference refused by policy (terminal).
    #[error("{0}")]
    AccessDenied(String),
    /// A CEL expression does not compile (terminal).
    #[error("{0}")]
    InvalidCelExpression(String),
    /// A feature gate needed by the spec is off (terminal).
    #[error("{0}")]
    FeatureGateDisabled(String),
    /// The spec itself is invalid (terminal; the API server would normally reject it).
    #[error("{0}")]
    InvalidSpec(String),
}

impl ReconcileError {
    /// The Flux condition reason of this failure.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ArtifactFailed(_) | Self::ArtifactNotReady(_) => "ArtifactFailed",
            Self::DependencyNotReady(_) => "DependencyNotReady",
            Self::BuildFailed(_) => "BuildFailed",
            Self::ReconciliationFailed(_) => "ReconciliationFailed",
            Self::PruneFailed(_) => "PruneFailed",
            Self::HealthCheckFailed(_) => "HealthCheckFailed",
            Self::HealthCheckCanceled(_) => "HealthCheckCanceled",
            Self::AccessDenied(_) => "AccessDenied",
            Self::InvalidCelExpression(_) => "InvalidCELExpression",
            Self::FeatureGateDisabled(_) => "FeatureGateDisabled",
            Self::InvalidSpec(_) => "Failed",
        }
    }

    /// How the run is scheduled again.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::ArtifactNotReady(_) | Self::DependencyNotReady(_) => {
                ErrorClass::Waiting(REQUEUE_DEPENDENCY)
            }
            Self::HealthCheckCanceled(_) => ErrorClass::Waiting(Duration::ZERO),
            Self::AccessDenied(_)
            | Self::InvalidCelExpression(_)
            | Self::FeatureGateDisabled(_)
            | Self::InvalidSpec(_) => ErrorClass::Terminal,
            Self::ArtifactFailed(_)
            | Self::BuildFailed(_)
            | Self::ReconciliationFailed(_)
            | Self::PruneFailed(_)
            | Self::HealthCheckFailed(_) => ErrorClass::Transient,
        }
    }

    /// The condition message.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// When to run again: `None` for terminal failures (wait for a change).
    pub fn requeue_after(&self, retry_interval: Duration) -> Option<Duration> {
        match self.class() {
            ErrorClass::Terminal => None,
            ErrorClass::Transient => Some(retry_interval),
            ErrorClass::Waiting(d) => Some(d),
        }
    }
}

/// Into the runtime's one failure type; a transient failure is retried after `spec.retryInterval`
/// ([`Failure::retry_after`], set by the reconciler, which knows the spec).
impl From<ReconcileError> for Failure {
    fn from(e: ReconcileError) -> Failure {
        let (reason, message) = (e.reason(), e.message());
        let f = match e.class() {
            ErrorClass::Terminal => Failure::terminal(reason, message),
            ErrorClass::Transient => Failure::transient(reason, message),
            ErrorClass::Waiting(d) => Failure::waiting(reason, message, d),
        };
        match e {
            ReconcileError::HealthCheckFailed(_) => {
                f.with_condition(HEALTHY, ConditionStatus::False)
            }
            _ => f,
        }
    }
}

impl From<super::spec::SpecError> for ReconcileError {
    fn from(e: super::spec::SpecError) -> Self {
        Self::InvalidSpec(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_reasons_follow_flux() {
        let retry = Duration::from_secs(120);
        let cases = [
            (
                ReconcileError::BuildFailed("x".into()),
                "BuildFailed",
                Some(retry),
            ),
            (
                ReconcileError::DependencyNotReady("x".into()),
                "DependencyNotReady",
                Some(Duration::from_secs(30)),
            ),
            (
                ReconcileError::ArtifactNotReady("x".into()),
                "ArtifactFailed",
                Some(Duration::from_secs(30)),
            ),
            (
                ReconcileError::HealthCheckCanceled("x".into()),
                "HealthCheckCanceled",
                Some(Duration::ZERO),
            ),
            (
                ReconcileError::InvalidCelExpression("x".into()),
                "InvalidCELExpression",
                None,
            ),
            (
                ReconcileError::AccessDenied("x".into()),
                "AccessDenied",
                None,
            ),
            (
                ReconcileError::PruneFailed("x".into()),
                "PruneFailed",
                Some(retry),
            ),
        ];
        for (e, reason, requeue) in cases {
            assert_eq!(e.reason(), reason);
            assert_eq!(e.requeue_after(retry), requeue, "{e:?}");
        }
    }
}
