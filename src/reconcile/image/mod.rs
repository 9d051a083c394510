//! Image automation: registry scanning, ImagePolicy decisions, setter-marker rewrites.

pub mod policy;
pub mod setters;
