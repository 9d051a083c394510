//! Pure data, no I/O: the kind registry, generated CRDs, conditions, health rules, the compact Row
//! summary of an object, and small value helpers shared by every layer.

pub mod age;
pub mod budget;
pub mod conditions;
pub mod crd;
pub mod depends;
pub mod error_text;
pub mod health;
pub mod inventory;
pub mod kinds;
pub mod redact;
pub mod row;
pub mod selector;
pub mod semver;
pub mod time;
pub mod trace;
pub mod tree;
pub mod validation;

pub use conditions::{Condition, ConditionStatus};
pub use health::{Assessment, Health, assess};
pub use kinds::{KINDS, KindInfo, Scope, lookup};
pub use row::{Row, RowKey};
