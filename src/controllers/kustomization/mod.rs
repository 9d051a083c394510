//! Flux kustomize-controller behaviour: the Kustomization pipeline (build → substitute → apply in stages → prune → health → status).
//!
//! Pure building blocks; the controller loop, source fetching and Kubernetes I/O live elsewhere.
//! A run is a straight line of named steps:
//! [`spec::parse_kustomization`] → [`status::dependency_ready`] per dependency →
//! [`status::mark_progressing`] → [`overlay::build_manifests`] →
//! [`substitute::collect_variables`] + [`substitute::substitute_all`] → [`stages::prepare_apply`] →
//! (dry-run/apply per [`stages::apply_policy`], by the loop) → [`prune::SuccessfulApply`] →
//! [`prune::stale_objects`] + [`prune::prune_decision`] → [`health::assess`] →
//! [`status::record_applied_revision`] → the runtime's status writer ([`crate::runtime::Run::conclude`]).
//! Every failure is a [`ReconcileError`] carrying its Flux reason and requeue class.

pub mod controller;
pub mod desired;
pub mod error;
pub mod health;
pub mod inventory;
pub mod overlay;
pub mod prune;
pub mod spec;
pub mod stages;
pub mod status;
pub mod substitute;

pub use error::{ErrorClass, ReconcileError};
