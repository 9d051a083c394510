//! Masterminds/semver v3 compatible versions and constraints, shared by GitRepository `ref.semver`
//! tag resolution and ImagePolicy `semver` evaluation.
//!
//! Flux uses the same code for both: tags go through `fluxcd/pkg/version.ParseVersion` (at least
//! two dots, then Masterminds' coercing `NewVersion`) and ranges through Masterminds
//! `NewConstraint`. The rules here follow the observable behaviour of those functions: loose
//! numeric parts (leading zeros allowed), an optional lowercase `v`, prerelease precedence where an
//! identifier that does not fit in a u64 counts as text, per-comparator wildcard rules, hyphen
//! ranges, and per-AND-group prerelease opt-in.

use std::cmp::Ordering;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// Why a tag is not a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Fewer than two dots: Flux rejects `1.2` and `v1` before Masterminds sees them.
    #[error("needs major.minor.patch (at least two dots)")]
    TooFewDots,
    /// The text does not have the shape `[v]N[.N[.N]][-pre][+build]`.
    #[error("invalid semantic version")]
    Invalid,
    /// A numeric part does not fit in 64 bits.
    #[error("version segment out of range")]
    Overflow,
    /// A numeric prerelease identifier has a leading zero.
    #[error("version segment starts with 0")]
    PrereleaseLeadingZero,
}

/// A parsed version borrowing its prerelease and build text from the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version<'a> {
    /// Major number.
    pub major: u64,
    /// Minor number (0 when absent).
    pub minor: u64,
    /// Patch number (0 when absent).
    pub patch: u64,
    /// Prerelease without the `-` (empty when none).
    pub pre: &'a str,
    /// Build metadata without the `+` (empty when none); ignored in ordering.
    pub build: &'a str,
}

impl fmt::Display for Version<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

impl Version<'_> {
    /// Masterminds precedence: numbers, then prerelease (a release outranks its prereleases).
    pub fn precedence(&self, other: &Version<'_>) -> Ordering {
        self.major
            .cmp(&other.major)
            .then(self.minor.cmp(&other.minor))
            .then(self.patch.cmp(&other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(self.pre, other.pre),
            })
    }
}

/// Parses a tag the way Flux does: at least two dots, then Masterminds' coercing parser.
pub fn parse_tag(tag: &str) -> Result<Version<'_>, VersionError> {
    if tag.bytes().filter(|&b| b == b'.').count() < 2 {
        return Err(VersionError::TooFewDots);
    }
    parse_loose(tag)
}

/// Masterminds `NewVersion` (coercing mode): `[v]N[.N[.N]][-pre][+build]`, missing parts are 0.
pub fn parse_loose(text: &str) -> Result<Version<'_>, VersionError> {
    let bytes = text.as_bytes();
    let mut pos = usize::from(bytes.first() == Some(&b'v'));
    let major = read_number(bytes, &mut pos)?;
    let mut minor = 0;
    let mut patch = 0;
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        minor = read_number(bytes, &mut pos)?;
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            patch = read_number(bytes, &mut pos)?;
        }
    }
    let mut pre = "";
    if bytes.get(pos) == Some(&b'-') {
        let start = pos + 1;
        pos = read_identifiers(bytes, start)?;
        pre = text.get(start..pos).ok_or(VersionError::Invalid)?;
    }
    let mut build = "";
    if bytes.get(pos) == Some(&b'+') {
        let start = pos + 1;
        pos = read_identifiers(bytes, start)?;
        build = text.get(start..pos).ok_or(VersionError::Invalid)?;
    }
    if pos != bytes.len() {
        return Err(VersionError::Invalid);
    }
    for part in pre.split('.') {
        if part.len() > 1 && part.starts_with('0') && part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VersionError::PrereleaseLeadingZero);
        }
    }
    Ok(Version {
        major,
        minor,
        patch,
        pre,
        build,
    })
}

fn read_number(bytes: &[u8], pos: &mut usize) -> Result<u64, VersionError> {
    let start = *pos;
    let mut value: u64 = 0;
    let mut overflow = false;
    while let Some(&b) = bytes.get(*pos) {
        if !b.is_ascii_digit() {
            break;
        }
        match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
        *pos += 1;
    }
    if *pos == start {
        return Err(VersionError::Invalid);
    }
    if overflow {
        return Err(VersionError::Overflow);
    }
    Ok(value)
}

/// Reads `ident(.ident)*` with identifiers of `[0-9A-Za-z-]+`; returns the end position.
fn read_identifiers(bytes: &[u8], start: usize) -> Result<usize, VersionError> {
    let mut pos = start;
    let mut part_len = 0;
    while let Some(&b) = bytes.get(pos) {
        if b.is_ascii_alphanumeric() || b == b'-' {
            part_len += 1;
        } else if b == b'.' {
            if part_len == 0 {
                return Err(VersionError::Invalid);
            }
            part_len = 0;
        } else {
            break;
        }
        pos += 1;
    }
    if part_len == 0 {
        return Err(VersionError::Invalid);
    }
    Ok(pos)
}

/// Masterminds prerelease ordering: dot-separated parts, u64 numbers below text, text by bytes;
/// a missing part counts as empty and sorts first.
pub fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        let (l, r) = match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (l, r) => (l.unwrap_or(""), r.unwrap_or("")),
        };
        let ord = compare_pre_part(l, r);
        if ord != Ordering::Equal {
            return ord;
        }
    }
}

fn compare_pre_part(l: &str, r: &str) -> Ordering {
    if l == r {
        return Ordering::Equal;
    }
    if l.is_empty() {
        return Ordering::Less;
    }
    if r.is_empty() {
        return Ordering::Greater;
    }
    // Go's ParseUint also fails for numbers above u64::MAX; those compare as text.
    match (numeric_part(l), numeric_part(r)) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => l.as_bytes().cmp(r.as_bytes()),
    }
}

/// Go `strconv.ParseUint(s, 10, 64)`: digits only (Rust's parser would also take a leading `+`).
fn numeric_part(part: &str) -> Option<u64> {
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

/// An owned version used inside constraints.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OwnedVersion {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
}

impl OwnedVersion {
    fn borrowed(&self) -> Version<'_> {
        Version {
            major: self.major,
            minor: self.minor,
            patch: self.patch,
            pre: &self.pre,
            build: "",
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

impl Op {
    fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "" | "=" => Op::TildeOrEqual,
            "!=" => Op::NotEqual,
            ">" => Op::Greater,
            "<" => Op::Less,
            ">=" | "=>" => Op::GreaterEqual,
            "<=" | "=<" => Op::LessEqual,
            "~" | "~>" => Op::Tilde,
            "^" => Op::Caret,
            _ => return None,
        })
    }
}

/// One comparator such as `>=1.2` or `~1.x`.
#[derive(Debug, Clone)]
struct Comparator {
    op: Op,
    op_text: String,
    orig: String,
    con: OwnedVersion,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// A parsed range: OR groups of AND-ed comparators.
#[derive(Debug, Clone)]
pub struct Constraints {
    groups: Vec<Group>,
    text: String,
}

#[derive(Debug, Clone)]
struct Group {
    comparators: Vec<Comparator>,
    has_prerelease: bool,
}

/// A range that Masterminds would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("improper constraint: {0:?}")]
pub struct ConstraintError(pub String);

struct RangeRegexes {
    hyphen: Regex,
    valid: Regex,
    find: Regex,
    single: Regex,
}

/// Version text inside a range: parts may be digits or `x`/`X`/`*` (the class also admits `|`,
/// as Masterminds' does; such parts then fail to parse).
const CONSTRAINT_VERSION: &str = r"v?([0-9|xX*]+)(\.[0-9|xX*]+)?(\.[0-9|xX*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
/// Operators; the empty alternative means `=`. Order matters for leftmost-first matching.
const OPERATORS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";
/// Go's `\s` (ASCII whitespace without \v).
const SPACE: &str = r"[\t\n\f\r ]";

static REGEXES: LazyLock<Result<RangeRegexes, regex::Error>> = LazyLock::new(|| {
    let (cv, ops, s) = (CONSTRAINT_VERSION, OPERATORS, SPACE);
    Ok(RangeRegexes {
        hyphen: Regex::new(&format!(r"{s}*({cv}){s}+-{s}+({cv}){s}*"))?,
        valid: Regex::new(&format!(
            r"^({s}*({ops}){s}*({cv}){s}*)((?:{s}+|,{s}*)({ops}){s}*({cv}){s}*)*$"
        ))?,
        find: Regex::new(&format!(r"({ops}){s}*({cv})"))?,
        single: Regex::new(&format!(r"^{s}*({ops}){s}*({cv}){s}*$"))?,
    })
});

fn is_wildcard(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

impl Constraints {
    /// Parses a Masterminds range (`>=1.2 <2 || ^3`, `1.2 - 1.4.5`, `~1.x`, ...).
    pub fn parse(range: &str) -> Result<Constraints, ConstraintError> {
        let regexes = REGEXES
            .as_ref()
            .map_err(|e| ConstraintError(format!("internal range grammar: {e}")))?;
        let rewritten = rewrite_hyphen_ranges(&regexes.hyphen, range);
        let mut groups = Vec::new();
        for segment in rewritten.split("||") {
            if !regexes.valid.is_match(segment) {
                return Err(ConstraintError(segment.to_string()));
            }
            let mut comparators = Vec::new();
            for found in regexes.find.find_iter(segment) {
                comparators.push(parse_comparator(&regexes.single, found.as_str())?);
            }
            if comparators.is_empty() {
                comparators.push(parse_comparator(&regexes.single, segment)?);
            }
            let has_prerelease = comparators.iter().any(|c| !c.con.pre.is_empty());
            groups.push(Group {
                comparators,
                has_prerelease,
            });
        }
        Ok(Constraints {
            groups,
            text: range.to_string(),
        })
    }

    /// The text the range was parsed from (Flux quotes it verbatim in "no match" errors).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when some OR group accepts the version.
    pub fn matches(&self, v: &Version<'_>) -> bool {
        self.groups.iter().any(|group| {
            // Masterminds: a prerelease only passes when its AND group names a prerelease.
            if !v.pre.is_empty() && !group.has_prerelease {
                return false;
            }
            group.comparators.iter().all(|c| c.accepts(v))
        })
    }

    /// Whether no AND group opts in to prereleases (then prerelease tags are out of range).
    pub fn excludes_prereleases(&self) -> bool {
        self.groups.iter().all(|g| !g.has_prerelease)
    }
}

/// Normalised form: each comparator as operator + version, AND by space, OR by ` || `.
impl fmt::Display for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.groups.iter().enumerate() {
            if i > 0 {
                f.write_str(" || ")?;
            }
            for (j, c) in group.comparators.iter().enumerate() {
                if j > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{}{}", c.op_text, c.orig)?;
            }
        }
        Ok(())
    }
}

/// `A - B` becomes `>= A, <= B ` (first occurrence of each match replaced, as Masterminds does).
fn rewrite_hyphen_ranges(hyphen: &Regex, range: &str) -> String {
    let mut out = range.to_string();
    for caps in hyphen.captures_iter(range) {
        let (Some(whole), Some(low), Some(high)) = (caps.get(0), caps.get(1), caps.get(11)) else {
            continue;
        };
        let replacement = format!(">= {}, <= {} ", low.as_str(), high.as_str());
        out = out.replacen(whole.as_str(), &replacement, 1);
    }
    out
}

fn parse_comparator(single: &Regex, text: &str) -> Result<Comparator, ConstraintError> {
    let improper = || ConstraintError(text.to_string());
    let caps = single.captures(text).ok_or_else(improper)?;
    let group = |i: usize| caps.get(i).map_or("", |m| m.as_str());
    let (op_text, orig) = (group(1), group(2));
    let op = Op::parse(op_text).ok_or_else(improper)?;
    let (major, minor, patch, pre) = (group(3), group(4), group(5), group(6));
    let minor_part = minor.strip_prefix('.').unwrap_or(minor);
    let patch_part = patch.strip_prefix('.').unwrap_or(patch);
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let text_version = if is_wildcard(major) || major.is_empty() {
        dirty = true;
        format!("0.0.0{pre}")
    } else if is_wildcard(minor_part) || minor.is_empty() {
        dirty = true;
        minor_dirty = true;
        format!("{major}.0.0{pre}")
    } else if is_wildcard(patch_part) || patch.is_empty() {
        dirty = true;
        patch_dirty = true;
        format!("{major}{minor}.0{pre}")
    } else {
        orig.to_string()
    };
    let parsed = parse_loose(&text_version).map_err(|_| improper())?;
    let con = OwnedVersion {
        major: parsed.major,
        minor: parsed.minor,
        patch: parsed.patch,
        pre: parsed.pre.to_string(),
    };
    Ok(Comparator {
        op,
        op_text: op_text.to_string(),
        orig: orig.to_string(),
        con,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

impl Comparator {
    /// The comparator test; the group-level prerelease gate has already run.
    fn accepts(&self, v: &Version<'_>) -> bool {
        let con = self.con.borrowed();
        let cmp = v.precedence(&con);
        match self.op {
            Op::TildeOrEqual => {
                if self.dirty {
                    self.tilde(v, cmp)
                } else {
                    cmp == Ordering::Equal
                }
            }
            Op::Tilde => self.tilde(v, cmp),
            Op::NotEqual => self.not_equal(v, cmp),
            Op::Greater => self.greater(v, cmp),
            Op::Less => cmp == Ordering::Less,
            Op::GreaterEqual => cmp != Ordering::Less,
            Op::LessEqual => self.less_equal(v, cmp),
            Op::Caret => self.caret(v, cmp),
        }
    }

    fn tilde(&self, v: &Version<'_>, cmp: Ordering) -> bool {
        let c = &self.con;
        if cmp == Ordering::Less {
            return false;
        }
        // `~0.0.0` (and `~*`) accepts everything at or above 0.0.0.
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }

    fn not_equal(&self, v: &Version<'_>, cmp: Ordering) -> bool {
        let c = &self.con;
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
                    return compare_prerelease(v.pre, &c.pre) != Ordering::Equal;
                }
                return false;
            }
        }
        cmp != Ordering::Equal
    }

    fn greater(&self, v: &Version<'_>, cmp: Ordering) -> bool {
        let c = &self.con;
        if !self.dirty {
            return cmp == Ordering::Greater;
        }
        if v.major > c.major {
            true
        } else if v.major < c.major || self.minor_dirty {
            false
        } else if self.patch_dirty {
            v.minor > c.minor
        } else {
            cmp == Ordering::Greater
        }
    }

    fn less_equal(&self, v: &Version<'_>, cmp: Ordering) -> bool {
        let c = &self.con;
        if !self.dirty {
            return cmp != Ordering::Greater;
        }
        if v.major > c.major {
            return false;
        }
        !(v.major == c.major && v.minor > c.minor && !self.minor_dirty)
    }

    fn caret(&self, v: &Version<'_>, cmp: Ordering) -> bool {
        let c = &self.con;
        if cmp == Ordering::Less {
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
        v.patch == c.patch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(range: &str, version: &str) -> bool {
        let r = Constraints::parse(range).unwrap_or_else(|e| panic!("{range}: {e}"));
        let v = parse_loose(version).unwrap_or_else(|e| panic!("version {version}: {e}"));
        r.matches(&v)
    }

    fn cmp(a: &str, b: &str) -> Ordering {
        fn p(s: &str) -> Version<'_> {
            parse_loose(s).unwrap_or_else(|e| panic!("version {s}: {e}"))
        }
        p(a).precedence(&p(b))
    }

    #[test]
    fn tag_parsing_is_loose_but_needs_two_dots() {
        for good in [
            "1.2.3",
            "v1.2.3",
            "v2025.02.03-rc.1",
            "01.002.0003",
            "1.2.3-0",
        ] {
            assert!(parse_tag(good).is_ok(), "{good:?} should parse");
        }
        for (bad, why) in [
            ("1.2", VersionError::TooFewDots),
            ("v1", VersionError::TooFewDots),
            ("latest", VersionError::TooFewDots),
            ("1.2.3.4", VersionError::Invalid),
            ("V1.2.3", VersionError::Invalid),
            ("1.2.3+", VersionError::Invalid),
            ("1.2.3-a..b", VersionError::Invalid),
            (" 1.2.3", VersionError::Invalid),
            ("1.2.3-é", VersionError::Invalid),
            ("1.2.3-01", VersionError::PrereleaseLeadingZero),
            ("99999999999999999999.0.0", VersionError::Overflow),
        ] {
            assert_eq!(parse_tag(bad), Err(why), "{bad:?}");
        }
        let v = parse_tag("v1.2.3-rc.1+build.5").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 2, 3));
        assert_eq!(v.pre, "rc.1");
        assert_eq!(v.build, "build.5");
        assert_eq!(v.to_string(), "1.2.3-rc.1+build.5");
        assert_eq!(parse_tag("v01.02.03").unwrap().to_string(), "1.2.3");
        // Coercing parse (used inside ranges) fills in missing parts.
        assert_eq!(parse_loose("1").unwrap().to_string(), "1.0.0");
    }

    #[test]
    fn precedence_follows_semver_and_ascii_prereleases() {
        assert_eq!(cmp("1.0.0-alpha", "1.0.0"), Ordering::Less);
        assert_eq!(cmp("1.0.0-alpha.1", "1.0.0-alpha.beta"), Ordering::Less);
        assert_eq!(cmp("1.0.0-alpha", "1.0.0-alpha.1"), Ordering::Less);
        assert_eq!(cmp("1.0.0-BETA", "1.0.0-alpha"), Ordering::Less);
        assert_eq!(cmp("1.0.0-rc.2", "1.0.0-rc.10"), Ordering::Less);
        assert_eq!(cmp("1.0.0+a", "1.0.0+b"), Ordering::Equal);
        assert_eq!(cmp("v1.2.4", "1.2.4"), Ordering::Equal);
        assert_eq!(cmp("1.10.0", "1.9.0"), Ordering::Greater);
    }

    #[test]
    fn prerelease_numbers_beyond_u64_compare_as_text() {
        // Numeric below text, but an identifier too big for u64 is text.
        assert_eq!(
            compare_prerelease("99999999999999999999", "1"),
            Ordering::Greater
        );
        assert_eq!(
            compare_prerelease("99999999999999999999", "alpha"),
            Ordering::Less
        );
        assert_eq!(
            compare_prerelease("18446744073709551615", "2"),
            Ordering::Greater
        );
        // Go's ParseUint rejects a sign, so `+1` is text.
        assert_eq!(compare_prerelease("+1", "2"), Ordering::Greater);
        // A missing part counts as empty, as in Masterminds.
        assert_eq!(compare_prerelease("a.", "a"), Ordering::Equal);
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
        assert!(ok("=<1.0.0", "1.0.0"));
        assert!(ok(">= 1.0.0, < 2.0.0", "1.9.9"));
        assert!(!ok(">= 1.0.0, < 2.0.0", "2.0.0"));
        assert!(ok(">=1.0.0 <2.0.0", "1.5.0"));
        assert!(ok("<1.0.0 || >=3.0.0", "3.1.0"));
        assert!(!ok("<1.0.0 || >=3.0.0", "2.0.0"));
        assert!(ok("v1.2.3", "1.2.3"));
        assert!(ok("1.2.3", "1.2.3+build"));
    }

    #[test]
    fn wildcards_tilde_caret_and_hyphen() {
        assert!(ok("1.2.x", "1.2.9"));
        assert!(!ok("1.2.x", "1.3.0"));
        assert!(ok("1.x", "1.9.0"));
        assert!(ok("*", "5.0.0"));
        assert!(ok(">1.2.x", "1.3.0"));
        assert!(!ok(">1.2.x", "1.2.9"));
        assert!(!ok(">1.x", "1.9.0"));
        assert!(ok(">1.x", "2.0.0"));
        assert!(ok("<=1.2.x", "1.2.9"));
        assert!(!ok("<=1.2.x", "1.3.0"));
        assert!(!ok("!=1.2.x", "1.2.5"));
        assert!(ok("!=1.2.x", "1.3.0"));
        assert!(ok("~1.2.3", "1.2.9"));
        assert!(!ok("~1.2.3", "1.3.0"));
        assert!(ok("~1", "1.9.0"));
        assert!(!ok("~1", "2.0.0"));
        assert!(ok("~>1.2", "1.2.7"));
        assert!(ok("~0.0.0", "7.0.0"));
        assert!(ok("^1.2.3", "1.9.0"));
        assert!(!ok("^1.2.3", "2.0.0"));
        assert!(ok("^0.2.3", "0.2.9"));
        assert!(!ok("^0.2.3", "0.3.0"));
        assert!(ok("^0.0.3", "0.0.3"));
        assert!(!ok("^0.0.3", "0.0.4"));
        assert!(ok("^0.x", "0.9.0"));
        assert!(!ok("^0.x", "1.0.0"));
        assert!(ok("1.2 - 1.4.5", "1.4.5"));
        assert!(!ok("1.2 - 1.4.5", "1.4.6"));
        assert!(ok("1.2 - 1.4.5", "1.2.0"));
        assert!(!ok("1.2 - 1.4.5", "1.1.9"));
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
        let c = Constraints::parse(">=1.0.0 || <0.1.0").unwrap();
        assert!(c.excludes_prereleases());
        let c = Constraints::parse(">=1.0.0 || >=2.0.0-0").unwrap();
        assert!(!c.excludes_prereleases());
    }

    #[test]
    fn range_keeps_its_text_and_prints_normalised() {
        let c = Constraints::parse(">= 1.0.0, < 2.0.0 || ^3").unwrap();
        assert_eq!(c.as_str(), ">= 1.0.0, < 2.0.0 || ^3");
        assert_eq!(c.to_string(), ">=1.0.0 <2.0.0 || ^3");
        let c = Constraints::parse("1.2 - 1.4.5").unwrap();
        assert_eq!(c.as_str(), "1.2 - 1.4.5");
        assert_eq!(c.to_string(), ">=1.2 <=1.4.5");
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
            "1x",
            "1.|.0",
            ">=1.0.0-01",
        ] {
            assert!(Constraints::parse(bad).is_err(), "{bad:?} should not parse");
        }
        // Overflowing numbers are rejected instead of wrapping.
        assert!(Constraints::parse(">=99999999999999999999.0.0").is_err());
        assert_eq!(
            Constraints::parse("1x").unwrap_err().to_string(),
            "improper constraint: \"1x\""
        );
    }
}
