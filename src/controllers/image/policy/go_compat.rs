//! Go standard-library behaviour Flux relies on: `Regexp.Expand` templates and `strconv.ParseFloat`.

use regex::{CaptureLocations, Regex};

/// A `filterTags.extract` template split into literal text and group references once.
#[derive(Debug, Clone)]
pub struct ExpandTemplate {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    /// A group index (numbered, or a name resolved against the regex); `None` expands to nothing.
    Group(Option<usize>),
}

impl ExpandTemplate {
    /// Parses `template` as Go's `Regexp.Expand` would read it against `regex`.
    ///
    /// `$$` is a literal `$`; `$name`/`${name}` take the longest run of letters, digits and `_`;
    /// an all-digit name without a leading zero is a group number; unknown names and numbers
    /// expand to nothing; a `$` that starts no valid reference is kept as text.
    pub fn parse(template: &str, regex: &Regex) -> ExpandTemplate {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = template;
        while let Some(dollar) = rest.find('$') {
            literal.push_str(&rest[..dollar]);
            rest = &rest[dollar + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                literal.push('$');
                rest = after;
                continue;
            }
            match read_reference(rest) {
                Some((name, after)) => {
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Group(resolve_group(name, regex)));
                    rest = after;
                }
                None => literal.push('$'),
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        ExpandTemplate { pieces }
    }

    /// Expands the template for one match whose groups are in `locations`.
    pub fn expand(&self, haystack: &str, locations: &CaptureLocations) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Group(Some(index)) => {
                    if let Some((start, end)) = locations.get(*index) {
                        out.push_str(haystack.get(start..end).unwrap_or(""));
                    }
                }
                Piece::Group(None) => {}
            }
        }
        out
    }
}

/// Reads `name` or `{name}` after a `$`; returns the name and the remaining text.
fn read_reference(text: &str) -> Option<(&str, &str)> {
    let (body, braced) = match text.strip_prefix('{') {
        Some(inner) => (inner, true),
        None => (text, false),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    if braced {
        let after = body[end..].strip_prefix('}')?;
        return Some((name, after));
    }
    Some((name, &body[end..]))
}

fn resolve_group(name: &str, regex: &Regex) -> Option<usize> {
    let numeric =
        name.bytes().all(|b| b.is_ascii_digit()) && !(name.len() > 1 && name.starts_with('0'));
    if numeric {
        // Go stops treating the name as a number past 1e8; such groups cannot exist anyway.
        let index: usize = name.parse().ok().filter(|&n| n < 100_000_000)?;
        return (index < regex.captures_len()).then_some(index);
    }
    regex
        .capture_names()
        .position(|candidate| candidate == Some(name))
}

/// Go's `strconv.ParseFloat(s, 64)`: decimal and hex-float syntax, `inf`/`infinity`/`nan`
/// (any case, optional sign), `_` separators only after a base prefix; an overflow to ±Inf is an
/// error, as Go reports `ErrRange`.
pub fn parse_go_float(text: &str) -> Option<f64> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'+') => (false, &text[1..]),
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    let lower = body.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "infinity" => return Some(sign * f64::INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        return parse_hex_float(hex).map(|v| sign * v);
    }
    // Rust's grammar differs from Go's only in the spellings handled above and in `_` (rejected
    // by both without a base prefix), so a syntax check plus Rust's parser matches Go.
    if body.is_empty()
        || body.starts_with(['+', '-'])
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let value: f64 = body.parse().ok()?;
    if value.is_infinite() {
        return None;
    }
    Some(sign * value)
}

/// Hex float after `0x`: hex mantissa (optional `.`), mandatory `p` exponent; `_` between digits.
fn parse_hex_float(text: &str) -> Option<f64> {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (mantissa, exponent) = cleaned.split_once('p')?;
    let exponent: i32 = exponent.parse().ok()?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut value = 0.0f64;
    for c in int_part.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let result = value * 2f64.powi(exponent);
    result.is_finite().then_some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(pattern: &str, template: &str, haystack: &str) -> String {
        let re = Regex::new(pattern).unwrap();
        let t = ExpandTemplate::parse(template, &re);
        let mut locs = re.capture_locations();
        re.captures_read(&mut locs, haystack).unwrap();
        t.expand(haystack, &locs)
    }

    #[test]
    fn expand_follows_go_rules() {
        let p = r"^(?P<branch>[a-z]+)-(?P<ts>\d+)$";
        assert_eq!(expand(p, "$ts", "main-42"), "42");
        assert_eq!(expand(p, "${ts}", "main-42"), "42");
        assert_eq!(expand(p, "$2", "main-42"), "42");
        assert_eq!(expand(p, "${1}x", "main-42"), "mainx");
        // `$1x` names a group "1x", which does not exist.
        assert_eq!(expand(p, "$1x", "main-42"), "");
        assert_eq!(expand(p, "$$1", "main-42"), "$1");
        assert_eq!(expand(p, "$9", "main-42"), "");
        assert_eq!(expand(p, "$01", "main-42"), "");
        assert_eq!(expand(p, "a$", "main-42"), "a$");
        assert_eq!(expand(p, "${ts", "main-42"), "${ts");
        assert_eq!(expand(p, "$-", "main-42"), "$-");
        assert_eq!(expand(p, "v$branch.$ts", "main-42"), "vmain.42");
    }

    #[test]
    fn go_float_accepts_what_go_accepts() {
        assert_eq!(parse_go_float("1.5"), Some(1.5));
        assert_eq!(parse_go_float("-2e3"), Some(-2000.0));
        assert_eq!(parse_go_float(".5"), Some(0.5));
        assert_eq!(parse_go_float("1."), Some(1.0));
        assert_eq!(parse_go_float("Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("-infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_go_float("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_go_float("0x1p4"), Some(16.0));
        assert_eq!(parse_go_float("0x1.8p1"), Some(3.0));
        assert_eq!(parse_go_float("0x10"), None);
        assert_eq!(parse_go_float("1e400"), None);
        assert_eq!(parse_go_float("1_000"), None);
        assert_eq!(parse_go_float(""), None);
        assert_eq!(parse_go_float("v1"), None);
        assert_eq!(parse_go_float(" 1"), None);
        assert_eq!(parse_go_float("1.2.3"), None);
        assert_eq!(parse_go_float("+"), None);
        assert_eq!(parse_go_float("-+5"), None);
    }
}
