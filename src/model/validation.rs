//! Object name rules (DNS-1123), label key/value rules, and `generateName`.
//!
//! API contract: [`validate_name`], [`generate_name`]. Messages follow apimachinery's wording so a client
//! sees what a real cluster would say.

use rand::Rng;

/// Longest DNS-1123 subdomain (object names).
pub const DNS1123_SUBDOMAIN_MAX_LEN: usize = 253;
/// Longest DNS-1123 label (Namespace names) and longest label value / qualified-name part.
pub const DNS1123_LABEL_MAX_LEN: usize = 63;
/// Characters of a `generateName` suffix (no vowels, no look-alikes, as apimachinery uses).
pub const GENERATE_NAME_ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";
/// Length of a `generateName` suffix.
pub const GENERATE_NAME_SUFFIX_LEN: usize = 5;

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/// apimachinery's length message.
fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// Checks an object name: DNS-1123 subdomain (≤253, lowercase alphanumerics, `-`, `.`, alphanumeric at
/// both ends), or DNS-1123 label (≤63, no dots) when `label` is true (Namespaces). Returns the message
/// kubernetes gives after `Invalid value: "<name>": ` (the first one, when several apply; see
/// [`name_errors`]). An empty name fails the pattern; servers usually report it earlier as
/// `Required value: name or generateName is required`.
pub fn validate_name(name: &str, label: bool) -> Result<(), String> {
    match name_errors(name, label).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Every problem with an object name, in apimachinery's order (length first, then pattern); each is one
/// `FieldValueInvalid` cause.
pub fn name_errors(name: &str, label: bool) -> Vec<String> {
    if label {
        dns1123_label_errors(name)
    } else {
        dns1123_subdomain_errors(name)
    }
}

/// Problems with a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤63).
pub fn dns1123_label_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LEN {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LEN));
    }
    if !is_dns1123_label(value) {
        errs.push(DNS1123_LABEL_MSG.to_string());
    }
    errs
}

/// Problems with a DNS-1123 subdomain (dot-separated labels, ≤253).
pub fn dns1123_subdomain_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LEN));
    }
    if !value.split('.').all(is_dns1123_label) {
        errs.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    errs
}

/// The DNS-1123 label pattern, ignoring length.
fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            alnum(first) && alnum(last) && b.iter().all(|c| alnum(c) || *c == b'-')
        }
        _ => false,
    }
}

/// The qualified-name part pattern `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, ignoring length.
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Checks a label or annotation key (`[prefix/]name`); the error joins every problem with `; `.
pub fn validate_qualified_name(key: &str) -> Result<(), String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    dns1123_subdomain_errors(prefix)
                        .into_iter()
                        .map(|e| format!("prefix part {e}")),
                );
            }
            *name
        }
        _ => {
            return Err(format!(
                "a qualified name {QUALIFIED_NAME_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ));
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > DNS1123_LABEL_MAX_LEN {
        errs.push(format!(
            "name part {}",
            max_len_error(DNS1123_LABEL_MAX_LEN)
        ));
    }
    if !is_qualified_name_part(name) {
        errs.push(format!("name part {QUALIFIED_NAME_MSG}"));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// Checks a label value (empty, or ≤63 characters of the qualified-name pattern).
pub fn validate_label_value(value: &str) -> Result<(), String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LEN {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LEN));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errs.push(LABEL_VALUE_MSG.to_string());
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// `generateName` + 5 random characters from `bcdfghjklmnpqrstvwxz2456789`.
///
/// Like apimachinery's name generator, a prefix longer than 58 bytes is cut so the result is at most 63
/// characters (for every kind, not only labels); the cut respects UTF-8 boundaries.
pub fn generate_name(prefix: &str) -> String {
    generate_name_with(prefix, &mut rand::rng())
}

/// [`generate_name`] with a caller-chosen random source (deterministic in tests).
pub fn generate_name_with(prefix: &str, rng: &mut impl Rng) -> String {
    let max_prefix = DNS1123_LABEL_MAX_LEN - GENERATE_NAME_SUFFIX_LEN;
    let mut cut = prefix.len().min(max_prefix);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    let alphabet = GENERATE_NAME_ALPHABET.as_bytes();
    let mut out = String::with_capacity(cut + GENERATE_NAME_SUFFIX_LEN);
    out.push_str(&prefix[..cut]);
    for _ in 0..GENERATE_NAME_SUFFIX_LEN {
        let i = rng.random_range(0..alphabet.len());
        out.push(char::from(alphabet[i]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_names() {
        for ok in [
            "a",
            "demo",
            "a.b-c.d",
            "0",
            "x".repeat(253).as_str(),
            "1-2.3",
        ] {
            assert_eq!(validate_name(ok, false), Ok(()), "{ok}");
        }
        for bad in [
            "", "A", "Bad_Name", "-a", "a-", "a..b", ".a", "a.", "a b", "é", "a/b", "..", "a.-b",
        ] {
            assert_eq!(
                validate_name(bad, false),
                Err(DNS1123_SUBDOMAIN_MSG.to_string()),
                "{bad}"
            );
        }
        assert_eq!(
            validate_name(&"x".repeat(254), false),
            Err("must be no more than 253 characters".into())
        );
        assert_eq!(name_errors(&"X".repeat(254), false).len(), 2);
        assert!(DNS1123_SUBDOMAIN_MSG.starts_with("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"));
    }

    #[test]
    fn label_names() {
        assert_eq!(validate_name("kube-system", true), Ok(()));
        assert_eq!(validate_name(&"n".repeat(63), true), Ok(()));
        assert_eq!(
            validate_name("a.b", true),
            Err(DNS1123_LABEL_MSG.to_string())
        );
        assert_eq!(
            validate_name(&"n".repeat(64), true),
            Err("must be no more than 63 characters".into())
        );
        assert!(DNS1123_LABEL_MSG.contains("(e.g. 'my-name',  or '123-abc', regex"));
    }

    #[test]
    fn qualified_names() {
        assert!(validate_qualified_name("app").is_ok());
        assert!(validate_qualified_name("app.kubernetes.io/name").is_ok());
        assert!(validate_qualified_name("My_Key.1").is_ok());
        assert_eq!(
            validate_qualified_name("/x"),
            Err("prefix part must be non-empty".into())
        );
        let e = validate_qualified_name("x/").expect_err("empty name");
        assert!(
            e.starts_with("name part must be non-empty; name part must consist"),
            "{e}"
        );
        let e = validate_qualified_name("a/b/c").expect_err("two slashes");
        assert!(e.starts_with("a qualified name must consist"), "{e}");
        assert!(e.ends_with(
            "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ));
        let e = validate_qualified_name(&"k".repeat(64)).expect_err("long");
        assert_eq!(e, "name part must be no more than 63 characters");
    }

    #[test]
    fn label_values() {
        assert!(validate_label_value("").is_ok());
        assert!(validate_label_value("v1.2_x-Y").is_ok());
        assert_eq!(validate_label_value("-x"), Err(LABEL_VALUE_MSG.to_string()));
        assert_eq!(
            validate_label_value(&"v".repeat(64)),
            Err("must be no more than 63 characters".into())
        );
    }

    #[test]
    fn generated_names() {
        let n = generate_name("web-");
        assert_eq!(n.len(), 9);
        assert!(n.starts_with("web-"));
        assert!(n[4..].chars().all(|c| GENERATE_NAME_ALPHABET.contains(c)));
        assert_eq!(validate_name(&n, false), Ok(()));
        let long = generate_name(&"p".repeat(300));
        assert_eq!(long.len(), 63);
        assert!(long.starts_with(&"p".repeat(58)));
        // Multi-byte characters at the cut never split a character.
        let odd = generate_name(&"é".repeat(40));
        assert!(odd.len() <= 63);
        assert_eq!(generate_name("").len(), 5);
        // Suffixes vary (27^5 possibilities: collisions over 20 draws are vanishingly unlikely).
        let set: std::collections::HashSet<_> = (0..20).map(|_| generate_name("x-")).collect();
        assert!(set.len() > 1);
    }
}
