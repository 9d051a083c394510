//! Flux kustomize-controller behaviour: the Kustomization pipeline (build → substitute → apply in stages → prune → health → status).
//!
//! Kustomization-specific building blocks; the generic apply engine (inventory, stages, policy,
//! drift, prune, health, deletion) is [`crate::apply`].
//! A run is a straight line of named steps:
//! [`spec::parse_kustomization`] → [`status::dependency_ready`] per dependency →
//! [`status::mark_progressing`] → [`decrypt::load_keys`] → [`overlay::build_manifests`] (SOPS files
//! decrypted as read, [`decrypt::source_filter`]) →
//! [`substitute::collect_variables`] + [`substitute::substitute_all`] → [`stages::prepare_apply`] →
//! [`crate::apply::Applier::apply_stages`] → [`crate::apply::prune::stale_objects`] →
//! [`crate::apply::Applier::prune`] → [`health::health_targets`] +
//! [`crate::apply::Applier::wait_healthy`] → [`status::record_applied_revision`] → the runtime's
//! status writer ([`crate::runtime::Run::conclude`]). Every failure is a [`ReconcileError`]
//! carrying its Flux reason and requeue class.

pub mod controller;
pub mod decrypt;
pub mod desired;
pub mod error;
pub mod health;
pub mod overlay;
pub mod prune;
pub mod remote;
pub mod spec;
pub mod stages;
pub mod status;
pub mod substitute;

pub use error::{ErrorClass, ReconcileError};
// status.rs (not this change's to edit) still reads the inventory through this path.
pub(crate) use crate::apply::inventory;
