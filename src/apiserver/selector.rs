//! Label and field selectors: the query-string grammar (`labelSelector`, `fieldSelector`) and matching.
//!
//! API contract: [`LabelSelector::parse`], [`LabelSelector::matches`], [`FieldSelector::parse`],
//! [`FieldSelector::matches`]. Parse errors are messages for a 400 BadRequest Status.

use serde_json::{Map, Value};

/// A parsed `labelSelector` (comma = AND).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {}

impl LabelSelector {
    /// Parses `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-separated.
    pub fn parse(_s: &str) -> Result<LabelSelector, String> {
        Err("label selectors are not supported yet".into())
    }

    /// Whether an object's `metadata.labels` (absent = empty) match.
    pub fn matches(&self, _labels: Option<&Map<String, Value>>) -> bool {
        true
    }
}

/// A parsed `fieldSelector` (comma = AND of `f=v`, `f==v`, `f!=v`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {}

impl FieldSelector {
    /// Parses a field selector; every field must satisfy `supported` (else `field label not supported: f`).
    pub fn parse(_s: &str, _supported: &dyn Fn(&str) -> bool) -> Result<FieldSelector, String> {
        Err("field selectors are not supported yet".into())
    }

    /// Whether the object matches: each field is a dotted path into the object (`metadata.name`,
    /// `involvedObject.kind`); a missing field compares as the empty string.
    pub fn matches(&self, _object: &Value) -> bool {
        true
    }
}
