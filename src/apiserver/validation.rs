//! Object name rules (DNS-1123) and `generateName`.
//!
//! API contract: [`validate_name`], [`generate_name`].

/// Checks an object name: DNS-1123 subdomain (≤253, lowercase alphanumerics, `-`, `.`, alphanumeric at
/// both ends), or DNS-1123 label (≤63, no dots) when `label` is true (Namespaces). Returns the message
/// kubernetes gives after `Invalid value: "<name>": `.
pub fn validate_name(_name: &str, _label: bool) -> Result<(), String> {
    Ok(())
}

/// `generateName` + 5 random characters from `bcdfghjklmnpqrstvwxz2456789`.
pub fn generate_name(prefix: &str) -> String {
    prefix.to_string()
}
