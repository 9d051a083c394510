//! Semantic versions and constraints as sprig's `semverCompare` reads them (Masterminds semver v3:
//! `v` prefix and partial versions accepted, `~ ^ x *` wildcards, `,`/space AND, `||` OR, hyphen
//! ranges; a pre-release version only satisfies comparators that carry a pre-release).

use std::cmp::Ordering;

/// A parsed version.
#[derive(Debug, Clone)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    meta: String,
    original: String,
}

impl Version {
    /// Parses `v1.2.3-pre+meta`, `1.2`, `1`.
    pub fn parse(s: &str) -> Result<Version, String> {
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let (t, meta) = t.split_once('+').unwrap_or((t, ""));
        let (core, pre) = t.split_once('-').unwrap_or((t, ""));
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty()
            || parts.len() > 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
        {
            return Err("Invalid Semantic Version".into());
        }
        let n = |i: usize| {
            parts.get(i).map_or(Ok(0), |p| {
                p.parse::<u64>()
                    .map_err(|_| "Invalid Semantic Version".to_string())
            })
        };
        Ok(Version {
            major: n(0)?,
            minor: n(1)?,
            patch: n(2)?,
            pre: pre.to_string(),
            meta: meta.to_string(),
            original: s.to_string(),
        })
    }

    /// Major, minor and patch numbers.
    pub fn numbers(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }

    /// The pre-release part (without `-`).
    pub fn prerelease(&self) -> &str {
        &self.pre
    }

    /// The build metadata (without `+`).
    pub fn metadata(&self) -> &str {
        &self.meta
    }

    /// The text it was parsed from.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// Masterminds' `String()`: `1.2.3-pre+meta` (no `v`, missing parts as 0).
    pub fn canonical(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.meta.is_empty() {
            s.push('+');
            s.push_str(&self.meta);
        }
        s
    }

    fn cmp_pre(a: &str, b: &str) -> Ordering {
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            _ => {}
        }
        let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
        for (x, y) in pa.iter().zip(pb.iter()) {
            let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                (Ok(i), Ok(j)) => i.cmp(&j),
                (Ok(_), Err(_)) => Ordering::Less,
                (Err(_), Ok(_)) => Ordering::Greater,
                _ => x.cmp(y),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        pa.len().cmp(&pb.len())
    }
}

// Equality ignores build metadata and spelling, as ordering does.
impl PartialEq for Version {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| Version::cmp_pre(&self.pre, &o.pre))
    }
}

#[derive(Debug, Clone)]
struct Comparator {
    op: String,
    v: Version,
    /// How many of major/minor/patch were given (wildcards stop the count).
    given: usize,
}

/// A constraint: OR of AND groups.
#[derive(Debug, Clone)]
pub struct Constraint {
    groups: Vec<Vec<Comparator>>,
}

fn parse_partial(s: &str) -> Result<(Version, usize), String> {
    let t = s.strip_prefix('v').unwrap_or(s);
    let t = t.split_once('+').map_or(t, |(a, _)| a);
    let (core, pre) = t.split_once('-').unwrap_or((t, ""));
    let mut nums = [0u64; 3];
    let mut given = 0;
    for (i, p) in core.split('.').enumerate() {
        if i > 2 {
            return Err(format!("improper constraint: {s}"));
        }
        if matches!(p, "x" | "X" | "*") {
            break;
        }
        nums[i] = p.parse().map_err(|_| format!("improper constraint: {s}"))?;
        given = i + 1;
    }
    Ok((
        Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre: pre.to_string(),
            meta: String::new(),
            original: String::new(),
        },
        given,
    ))
}

impl Constraint {
    /// Parses a constraint string.
    pub fn parse(s: &str) -> Result<Constraint, String> {
        let mut groups = Vec::new();
        for g in s.split("||") {
            let mut comps = Vec::new();
            // Hyphen ranges: "1.2 - 1.4.5".
            let g = g.trim();
            if let Some((lo, hi)) = g.split_once(" - ") {
                let (lv, lg) = parse_partial(lo.trim())?;
                let (hv, hg) = parse_partial(hi.trim())?;
                comps.push(Comparator {
                    op: ">=".into(),
                    v: lv,
                    given: lg,
                });
                comps.push(Comparator {
                    op: "<=".into(),
                    v: hv,
                    given: hg,
                });
                groups.push(comps);
                continue;
            }
            let toks: Vec<String> = {
                let mut out: Vec<String> = Vec::new();
                let mut pending_op = String::new();
                for t in g.split([',', ' ']).filter(|t| !t.is_empty()) {
                    if t.chars().all(|c| "<>=!~^".contains(c)) {
                        pending_op.push_str(t);
                    } else {
                        out.push(format!("{pending_op}{t}"));
                        pending_op.clear();
                    }
                }
                out
            };
            for t in toks {
                let op_len = t.len() - t.trim_start_matches(|c| "<>=!~^".contains(c)).len();
                let (op, rest) = t.split_at(op_len);
                let (v, given) = parse_partial(rest.trim())?;
                let op = if op.is_empty() || op == "==" {
                    "=".to_string()
                } else {
                    op.to_string()
                };
                if !["=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^"]
                    .contains(&op.as_str())
                {
                    return Err(format!("improper constraint: {t}"));
                }
                comps.push(Comparator { op, v, given });
            }
            if comps.is_empty() {
                comps.push(Comparator {
                    op: "*".into(),
                    v: Version {
                        major: 0,
                        minor: 0,
                        patch: 0,
                        pre: String::new(),
                        meta: String::new(),
                        original: String::new(),
                    },
                    given: 0,
                });
            }
            groups.push(comps);
        }
        Ok(Constraint { groups })
    }

    /// Whether `v` satisfies the constraint.
    pub fn matches(&self, v: &Version) -> bool {
        self.groups.iter().any(|g| g.iter().all(|c| c.matches(v)))
    }
}

impl Comparator {
    fn matches(&self, v: &Version) -> bool {
        if !v.pre.is_empty() && self.v.pre.is_empty() {
            return false;
        }
        let c = &self.v;
        let upper = |lvl: usize| -> Version {
            match lvl {
                0 => Version {
                    major: c.major + 1,
                    minor: 0,
                    patch: 0,
                    pre: String::new(),
                    meta: String::new(),
                    original: String::new(),
                },
                _ => Version {
                    major: c.major,
                    minor: c.minor + 1,
                    patch: 0,
                    pre: String::new(),
                    meta: String::new(),
                    original: String::new(),
                },
            }
        };
        let base = Version {
            pre: c.pre.clone(),
            meta: String::new(),
            original: String::new(),
            ..c.clone()
        };
        match self.op.as_str() {
            "*" => true,
            "=" => match self.given {
                0 => true,
                1 => v.major == c.major,
                2 => v.major == c.major && v.minor == c.minor,
                _ => v == &base,
            },
            "!=" => match self.given {
                0 => false,
                1 => v.major != c.major,
                2 => !(v.major == c.major && v.minor == c.minor),
                _ => v != &base,
            },
            ">" => match self.given {
                0 => false,
                1 => v.major > c.major,
                2 => v >= &upper(1),
                _ => v > &base,
            },
            ">=" | "=>" => v >= &base,
            "<" => v < &base,
            "<=" | "=<" => match self.given {
                1 => v < &upper(0),
                2 => v < &upper(1),
                _ => v <= &base,
            },
            "~" | "~>" => v >= &base && v < &upper(if self.given <= 1 { 0 } else { 1 }),
            "^" => {
                let hi = if c.major > 0 || self.given <= 1 {
                    upper(0)
                } else if c.minor > 0 || self.given == 2 {
                    upper(1)
                } else {
                    Version {
                        major: 0,
                        minor: 0,
                        patch: c.patch + 1,
                        pre: String::new(),
                        meta: String::new(),
                        original: String::new(),
                    }
                };
                v >= &base && v < &hi
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &str, v: &str) -> bool {
        Constraint::parse(c)
            .unwrap()
            .matches(&Version::parse(v).unwrap())
    }

    #[test]
    fn constraints() {
        assert!(ok(">=1.21-0", "v1.33.0"));
        assert!(!ok(">=1.21.0", "1.20.9"));
        assert!(ok("~1.2", "1.2.9"));
        assert!(!ok("~1.2", "1.3.0"));
        assert!(ok("^1.2", "1.9.0"));
        assert!(ok("1.x", "1.4.0"));
        assert!(ok("<1.0 || >=2.0", "2.1.0"));
        assert!(!ok(">=1.0.0", "1.5.0-beta"));
        assert!(ok(">=1.0.0-0", "1.5.0-beta"));
    }
}
