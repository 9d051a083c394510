//! Loose SemVer versions and Masterminds-style ranges, as Flux uses them to pick a tag (`ref.semver`).
//!
//! Versions follow fluxcd/pkg `version.ParseVersion`: at least two dots, optional lowercase `v`,
//! leading zeros allowed, `-pre` and `+build` allowed. Ranges follow Masterminds/semver v3
//! constraints (operators, `x` wildcards, `~`, `^`, hyphen ranges, `,`/space AND, `||` OR, and the
//! rule that prereleases only match when a comparator of the same AND group carries one).

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;

/// Why a range could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// The text does not have the shape of a constraint list.
    #[error("improper constraint: {0:?}")]
    Improper(String),
    /// A comparator's version could not be parsed.
    #[error("constraint parser error in {0:?}")]
    BadVersion(String),
}

/// A parsed version; ordering ignores build metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Patch number.
    pub patch: u64,
    /// Prerelease without the leading `-` (empty when none).
    pub pre: String,
    /// Build metadata without the leading `+` (empty when none).
    pub metadata: String,
    /// The text the version was parsed from.
    pub original: String,
}

// Go's `\s` is ASCII-only; spell it out so Unicode spaces do not count.
const WS: &str = r"[\t\n\f\r ]";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";
const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";

fn build(pattern: &str) -> Regex {
    // The patterns are compile-time constants covered by the unit tests, so building cannot fail at run time.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("constant regex")
}

static LOOSE_VERSION: LazyLock<Regex> = LazyLock::new(|| {
    build(
        r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$",
    )
});
static CONSTRAINT: LazyLock<Regex> =
    LazyLock::new(|| build(&format!(r"^{WS}*({OPS}){WS}*({CV}){WS}*$")));
static CONSTRAINT_RANGE: LazyLock<Regex> =
    LazyLock::new(|| build(&format!(r"{WS}*({CV}){WS}+-{WS}+({CV}){WS}*")));
static FIND_CONSTRAINT: LazyLock<Regex> = LazyLock::new(|| build(&format!(r"({OPS}){WS}*({CV})")));
static VALID_CONSTRAINT: LazyLock<Regex> = LazyLock::new(|| {
    build(&format!(
        r"^({WS}*({OPS}){WS}*({CV}){WS}*)((?:{WS}+|,{WS}*)({OPS}){WS}*({CV}){WS}*)*$"
    ))
});

impl Version {
    /// Parses a tag the way Flux does for `ref.semver` and ImagePolicy: fewer than two dots is rejected.
    pub fn parse_tag(tag: &str) -> Option<Version> {
        if tag.splitn(3, '.').count() != 3 {
            return None;
        }
        Self::parse_loose(tag)
    }

    /// Parses like Masterminds `NewVersion` (coercing mode): `1` and `1.2` are accepted.
    pub fn parse_loose(text: &str) -> Option<Version> {
        let m = LOOSE_VERSION.captures(text)?;
        let num = |i: usize| -> Option<u64> {
            match m.get(i) {
                Some(g) => g.as_str().trim_start_matches('.').parse().ok(),
                None => Some(0),
            }
        };
        let version = Version {
            major: num(1)?,
            minor: num(2)?,
            patch: num(3)?,
            pre: m.get(5).map(|g| g.as_str().to_string()).unwrap_or_default(),
            metadata: m.get(8).map(|g| g.as_str().to_string()).unwrap_or_default(),
            original: text.to_string(),
        };
        if !version.pre.is_empty() && !valid_prerelease(&version.pre) {
            return None;
        }
        if !version.metadata.is_empty() && version.metadata.split('.').any(str::is_empty) {
            return None;
        }
        Some(version)
    }

    /// SemVer precedence (build metadata ignored).
    pub fn precedence(&self, other: &Version) -> Ordering {
        self.major
            .cmp(&other.major)
            .then(self.minor.cmp(&other.minor))
            .then(self.patch.cmp(&other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &other.pre),
            })
    }
}

fn valid_prerelease(pre: &str) -> bool {
    pre.split('.').all(|part| {
        if part.is_empty() {
            return false;
        }
        if part.bytes().all(|b| b.is_ascii_digit()) {
            return part.len() == 1 || !part.starts_with('0');
        }
        part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let left: Vec<&str> = a.split('.').collect();
    let right: Vec<&str> = b.split('.').collect();
    for i in 0..left.len().max(right.len()) {
        let l = left.get(i).copied().unwrap_or("");
        let r = right.get(i).copied().unwrap_or("");
        match compare_pre_part(l, r) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

// Mirrors Masterminds `comparePrePart`, including its treatment of missing parts and of
// numeric identifiers that differ only in text.
fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => {
            if s > o {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Ok(si), Ok(oi)) => {
            if si > oi {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

#[derive(Debug, Clone)]
struct Comparator {
    op: Op,
    version: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// A parsed range: OR of AND groups.
#[derive(Debug, Clone)]
pub struct Range {
    groups: Vec<Vec<Comparator>>,
    contains_pre: Vec<bool>,
    text: String,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

fn rewrite_hyphen_ranges(input: &str) -> String {
    let mut out = input.to_string();
    for caps in CONSTRAINT_RANGE.captures_iter(input) {
        let (Some(whole), Some(low), Some(high)) = (caps.get(0), caps.get(1), caps.get(11)) else {
            continue;
        };
        let replacement = format!(">= {}, <= {} ", low.as_str(), high.as_str());
        out = out.replacen(whole.as_str(), &replacement, 1);
    }
    out
}

fn parse_comparator(text: &str) -> Result<Comparator, RangeError> {
    let m = CONSTRAINT
        .captures(text)
        .ok_or_else(|| RangeError::Improper(text.to_string()))?;
    let group = |i: usize| m.get(i).map(|g| g.as_str()).unwrap_or("");
    let op = match group(1) {
        "" | "=" => Op::TildeOrEqual,
        "!=" => Op::NotEqual,
        ">" => Op::Greater,
        "<" => Op::Less,
        ">=" | "=>" => Op::GreaterEqual,
        "<=" | "=<" => Op::LessEqual,
        "~" | "~>" => Op::Tilde,
        "^" => Op::Caret,
        other => return Err(RangeError::Improper(other.to_string())),
    };
    let (major, minor, patch, pre) = (group(3), group(4), group(5), group(6));
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let text_version = if is_x(major) || major.is_empty() {
        dirty = true;
        format!("0.0.0{pre}")
    } else if is_x(minor.trim_start_matches('.')) || minor.is_empty() {
        dirty = true;
        minor_dirty = true;
        format!("{major}.0.0{pre}")
    } else if is_x(patch.trim_start_matches('.')) || patch.is_empty() {
        dirty = true;
        patch_dirty = true;
        format!("{major}{minor}.0{pre}")
    } else {
        group(2).to_string()
    };
    let version = Version::parse_loose(&text_version)
        .ok_or_else(|| RangeError::BadVersion(text.to_string()))?;
    Ok(Comparator {
        op,
        version,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

impl Range {
    /// Parses a Masterminds constraint string such as `>=1.0.0 <2.0.0 || ^3.1`.
    pub fn parse(text: &str) -> Result<Range, RangeError> {
        let rewritten = rewrite_hyphen_ranges(text);
        let mut groups = Vec::new();
        let mut contains_pre = Vec::new();
        for part in rewritten.split("||") {
            if !VALID_CONSTRAINT.is_match(part) {
                return Err(RangeError::Improper(part.to_string()));
            }
            let mut comparators = Vec::new();
            let mut has_pre = false;
            for found in FIND_CONSTRAINT.find_iter(part) {
                let comparator = parse_comparator(found.as_str())?;
                has_pre |= !comparator.version.pre.is_empty();
                comparators.push(comparator);
            }
            if comparators.is_empty() {
                comparators.push(parse_comparator(part)?);
            }
            groups.push(comparators);
            contains_pre.push(has_pre);
        }
        Ok(Range {
            groups,
            contains_pre,
            text: text.to_string(),
        })
    }

    /// The text the range was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True if any AND group accepts `v`.
    pub fn matches(&self, v: &Version) -> bool {
        self.groups
            .iter()
            .zip(&self.contains_pre)
            .any(|(group, &pre)| group.iter().all(|c| c.check(v, pre)))
    }
}

impl Comparator {
    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.version;
        match self.op {
            Op::TildeOrEqual => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    v.precedence(c) == Ordering::Equal
                }
            }
            Op::NotEqual => self.not_equal(v),
            Op::Greater => {
                if !self.dirty {
                    return v.precedence(c) == Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    return false;
                }
                if self.patch_dirty {
                    return v.minor > c.minor;
                }
                v.precedence(c) == Ordering::Greater
            }
            Op::Less => v.precedence(c) == Ordering::Less,
            Op::GreaterEqual => v.precedence(c) != Ordering::Less,
            Op::LessEqual => {
                if !self.dirty {
                    return v.precedence(c) != Ordering::Greater;
                }
                if v.major > c.major {
                    return false;
                }
                !(v.major == c.major && v.minor > c.minor && !self.minor_dirty)
            }
            Op::Tilde => self.tilde(v),
            Op::Caret => self.caret(v),
        }
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.version;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            } else if self.minor_dirty {
                return false;
            } else if c.patch != v.patch && !self.patch_dirty {
                return true;
            } else if self.patch_dirty {
                if !v.pre.is_empty() || !c.pre.is_empty() {
                    return compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
                }
                return false;
            }
        }
        v.precedence(c) != Ordering::Equal
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.version;
        if v.precedence(c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.version;
        if v.precedence(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.patch == v.patch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(range: &str, version: &str) -> bool {
        let r = Range::parse(range).unwrap_or_else(|e| panic!("{range}: {e}"));
        let v = Version::parse_loose(version).unwrap_or_else(|| panic!("version {version}"));
        r.matches(&v)
    }

    #[test]
    fn tag_parsing_is_loose_but_needs_two_dots() {
        assert!(Version::parse_tag("1.2.3").is_some());
        assert!(Version::parse_tag("v1.2.3").is_some());
        assert!(Version::parse_tag("v2025.02.03-rc.1").is_some());
        assert!(Version::parse_tag("1.2").is_none());
        assert!(Version::parse_tag("v1").is_none());
        assert!(Version::parse_tag("1.2.3.4").is_none());
        assert!(Version::parse_tag("V1.2.3").is_none());
        assert!(Version::parse_tag("1.2.3-01").is_none());
        assert!(Version::parse_tag("1.2.3+").is_none());
        assert!(Version::parse_tag("latest").is_none());
        assert!(Version::parse_tag("99999999999999999999.0.0").is_none());
        let v = Version::parse_tag("v1.2.3-rc.1+build.5").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 2, 3));
        assert_eq!(v.pre, "rc.1");
        assert_eq!(v.metadata, "build.5");
    }

    #[test]
    fn precedence_follows_semver_and_ascii_prereleases() {
        let p = |s: &str| Version::parse_loose(s).unwrap();
        assert_eq!(p("1.0.0-alpha").precedence(&p("1.0.0")), Ordering::Less);
        assert_eq!(
            p("1.0.0-alpha.1").precedence(&p("1.0.0-alpha.beta")),
            Ordering::Less
        );
        assert_eq!(
            p("1.0.0-BETA").precedence(&p("1.0.0-alpha")),
            Ordering::Less
        );
        assert_eq!(
            p("1.0.0-rc.2").precedence(&p("1.0.0-rc.10")),
            Ordering::Less
        );
        assert_eq!(p("1.0.0+a").precedence(&p("1.0.0+b")), Ordering::Equal);
        assert_eq!(p("1.10.0").precedence(&p("1.9.0")), Ordering::Greater);
    }

    #[test]
    fn operators() {
        assert!(ok("1.2.3", "1.2.3"));
        assert!(!ok("1.2.3", "1.2.4"));
        assert!(ok("=1.2.3", "v1.2.3"));
        assert!(ok("!=1.2.3", "1.2.4"));
        assert!(!ok("!=1.2.3", "1.2.3"));
        assert!(ok(">1.2.3", "1.2.4"));
        assert!(!ok(">1.2.3", "1.2.3"));
        assert!(ok(">=1.2.3", "1.2.3"));
        assert!(ok("<1.2.3", "1.2.2"));
        assert!(ok("<=1.2.3", "1.2.3"));
        assert!(ok("=>1.0.0", "1.0.0"));
        assert!(ok(">= 1.0.0, < 2.0.0", "1.9.9"));
        assert!(!ok(">= 1.0.0, < 2.0.0", "2.0.0"));
        assert!(ok(">=1.0.0 <2.0.0", "1.5.0"));
        assert!(ok("<1.0.0 || >=3.0.0", "3.1.0"));
        assert!(!ok("<1.0.0 || >=3.0.0", "2.0.0"));
        assert!(ok("v1.2.3", "1.2.3"));
    }

    #[test]
    fn wildcards_tilde_caret_and_hyphen() {
        assert!(ok("1.2.x", "1.2.9"));
        assert!(!ok("1.2.x", "1.3.0"));
        assert!(ok("1.x", "1.9.0"));
        assert!(ok("*", "5.0.0"));
        assert!(ok(">1.2.x", "1.3.0"));
        assert!(!ok(">1.2.x", "1.2.9"));
        assert!(ok("<=1.2.x", "1.2.9"));
        assert!(!ok("<=1.2.x", "1.3.0"));
        assert!(!ok("!=1.2.x", "1.2.5"));
        assert!(ok("~1.2.3", "1.2.9"));
        assert!(!ok("~1.2.3", "1.3.0"));
        assert!(ok("~1", "1.9.0"));
        assert!(!ok("~1", "2.0.0"));
        assert!(ok("^1.2.3", "1.9.0"));
        assert!(!ok("^1.2.3", "2.0.0"));
        assert!(ok("^0.2.3", "0.2.9"));
        assert!(!ok("^0.2.3", "0.3.0"));
        assert!(ok("^0.0.3", "0.0.3"));
        assert!(!ok("^0.0.3", "0.0.4"));
        assert!(ok("1.2 - 1.4.5", "1.4.5"));
        assert!(!ok("1.2 - 1.4.5", "1.4.6"));
        assert!(ok("1.2 - 1.4.5", "1.2.0"));
        // Without spaces around the hyphen it is a prerelease, not a range.
        assert!(ok("1.2.0-1.4.5", "1.2.0-1.4.5"));
    }

    #[test]
    fn prereleases_need_a_prerelease_comparator_in_the_same_group() {
        assert!(!ok(">=1.0.0", "1.1.0-rc.1"));
        assert!(ok(">=1.0.0-0", "1.1.0-rc.1"));
        assert!(ok(">=1.0.0-0 <2.0.0", "1.1.0-rc.1"));
        assert!(!ok("<1.0.0-0 || >=2.0.0", "2.1.0-rc.1"));
        assert!(ok("~1.2.3-beta", "1.2.4-alpha"));
    }

    #[test]
    fn bad_ranges_are_errors_not_panics() {
        for bad in [
            "",
            "foo",
            ">>1.0.0",
            "1.0.0 ||",
            "||",
            "1.2.3.4.5",
            "^",
            "~>",
            "1..2",
            ">=1.0.0 <",
            "\u{2003}1.0.0",
        ] {
            assert!(Range::parse(bad).is_err(), "{bad:?} should not parse");
        }
        // Overflowing numbers are rejected instead of wrapping.
        assert!(Range::parse(">=99999999999999999999.0.0").is_err());
    }
}
