//! Image decisions: the gatherer (registry, policies, setters, running images) and its pure report.

pub mod decisions;
pub mod report;
