//! Pure data, no I/O: the kind registry, generated CRDs, and small value helpers shared by every layer.

pub mod age;
pub mod conditions;
pub mod crd;
pub mod health;
pub mod kinds;

pub use kinds::{KINDS, KindInfo, Scope, lookup};
