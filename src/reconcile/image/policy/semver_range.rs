//! Masterminds/semver v3 compatible versions and constraints, as Flux's ImagePolicy uses them.
//!
//! Flux parses tags with `fluxcd/pkg/version.ParseVersion` (at least two dots, then Masterminds'
//! coercing `NewVersion`) and ranges with Masterminds `NewConstraint`. The rules here follow the
//! observable behaviour of those functions: loose numeric parts (leading zeros allowed), an optional
//! lowercase `v`, prerelease precedence where an identifier that does not fit in a u64 counts as
//! text, and per-AND-group prerelease opt-in.

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

/// Masterminds prerelease ordering: dot-separated parts, u64 numbers below text, text by bytes.
pub fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (Some(l), Some(r)) => {
                let ord = compare_pre_part(l, r);
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

fn compare_pre_part(l: &str, r: &str) -> Ordering {
    if l == r {
        return Ordering::Equal;
    }
    // Go's ParseUint also fails for numbers above u64::MAX; those compare as text.
    match (l.parse::<u64>(), r.parse::<u64>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => l.as_bytes().cmp(r.as_bytes()),
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
        Ok(Constraints { groups })
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
