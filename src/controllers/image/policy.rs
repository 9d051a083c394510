//! ImagePolicy tag selection (semver, alphabetical, numerical; filterTags) with an explanation of every tag.
//!
//! Input is the ImageRepository's stored tag list (descending byte order, §4 of flux-semantics).
//! [`CompiledPolicy::compile`] validates the range and regex once; [`CompiledPolicy::latest`] and
//! [`CompiledPolicy::explain`] then run the filter and policy in one pass over the tags.
//!
//! Deliberate differences from Flux: where Flux keeps extracted values in a Go map (random
//! iteration order), candidates here keep the input order, so ties are deterministic (semver: the
//! first candidate wins; numerical: the later one). Patterns are compiled by the Rust `regex`
//! crate, which accepts RE2 syntax; its `\d`, `\w`, `\s`, `\b` are Unicode-aware (Go's are ASCII),
//! which cannot matter for OCI tags (ASCII only), and it additionally accepts the `x` flag.

mod go_compat;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::model::semver::{Constraints, Version, parse_tag};
use go_compat::{ExpandTemplate, parse_go_float};

/// Sort order of the alphabetical and numerical policies (default ascending = pick the greatest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SortOrder {
    /// Pick the greatest value.
    #[default]
    Asc,
    /// Pick the smallest value.
    Desc,
}

impl SortOrder {
    /// Parses an `order` field as Flux does: case-insensitive `asc`/`desc`, empty means asc.
    pub fn parse(order: &str) -> Result<SortOrder, PolicyError> {
        match order.to_ascii_uppercase().as_str() {
            "" | "ASC" => Ok(SortOrder::Asc),
            "DESC" => Ok(SortOrder::Desc),
            _ => Err(PolicyError::InvalidPolicy {
                message: format!(
                    "invalid order argument provided: '{}', must be one of: ASC, DESC",
                    order.to_ascii_uppercase()
                ),
            }),
        }
    }
}

impl fmt::Display for SortOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        })
    }
}

/// `spec.policy`: which rule picks the tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyChoice {
    /// Highest version satisfying a Masterminds range.
    SemVer {
        /// The range, e.g. `>=1.0.0 <2.0.0`.
        range: String,
    },
    /// Byte-wise greatest (asc) or smallest (desc).
    Alphabetical {
        /// Sort order.
        order: SortOrder,
    },
    /// Greatest (asc) or smallest (desc) float64 value.
    Numerical {
        /// Sort order.
        order: SortOrder,
    },
}

impl fmt::Display for PolicyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyChoice::SemVer { range } => write!(f, "semver range '{range}'"),
            PolicyChoice::Alphabetical { order } => write!(f, "alphabetical order {order}"),
            PolicyChoice::Numerical { order } => write!(f, "numerical order {order}"),
        }
    }
}

/// `spec.filterTags`: an RE2 pattern (unanchored) and an optional extract template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterTags {
    /// Tags not matching are dropped.
    #[serde(default)]
    pub pattern: String,
    /// When non-empty, the value fed to the policy (`$1`, `${name}`, ...).
    #[serde(default)]
    pub extract: String,
}

/// The selection part of an ImagePolicy spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySpec {
    /// The policy rule.
    pub choice: PolicyChoice,
    /// Optional tag filter.
    pub filter: Option<FilterTags>,
}

impl PolicySpec {
    /// Reads `policy` and `filterTags` from an ImagePolicy `spec` (JSON), checking semver, then
    /// alphabetical, then numerical, as Flux does.
    pub fn from_spec_json(spec: &serde_json::Value) -> Result<PolicySpec, PolicyError> {
        let policy = spec.get("policy").unwrap_or(&serde_json::Value::Null);
        let text = |v: Option<&serde_json::Value>, field: &str| -> Result<String, PolicyError> {
            match v {
                None | Some(serde_json::Value::Null) => Ok(String::new()),
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(PolicyError::InvalidPolicy {
                    message: format!("spec.{field} must be a string"),
                }),
            }
        };
        let choice = if let Some(semver) = policy.get("semver").filter(|v| !v.is_null()) {
            PolicyChoice::SemVer {
                range: text(semver.get("range"), "policy.semver.range")?,
            }
        } else if let Some(alpha) = policy.get("alphabetical").filter(|v| !v.is_null()) {
            PolicyChoice::Alphabetical {
                order: SortOrder::parse(&text(alpha.get("order"), "policy.alphabetical.order")?)?,
            }
        } else if let Some(num) = policy.get("numerical").filter(|v| !v.is_null()) {
            PolicyChoice::Numerical {
                order: SortOrder::parse(&text(num.get("order"), "policy.numerical.order")?)?,
            }
        } else {
            return Err(PolicyError::InvalidPolicy {
                message: "given ImagePolicyChoice object is invalid".to_string(),
            });
        };
        let filter = match spec.get("filterTags").filter(|v| !v.is_null()) {
            Some(f) => Some(FilterTags {
                pattern: text(f.get("pattern"), "filterTags.pattern")?,
                extract: text(f.get("extract"), "filterTags.extract")?,
            }),
            None => None,
        };
        Ok(PolicySpec { choice, filter })
    }
}

/// Why no tag was chosen; [`PolicyError::reason`] gives the condition reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PolicyError {
    /// Invalid range, order or choice: Stalled `InvalidPolicy`.
    #[error("invalid policy: {message}")]
    InvalidPolicy {
        /// What is wrong.
        message: String,
    },
    /// `filterTags.pattern` does not compile: Stalled `InvalidPolicy`.
    #[error("failed to filter tags: invalid regular expression pattern '{pattern}': {message}")]
    InvalidPattern {
        /// The pattern as written.
        pattern: String,
        /// The compiler's complaint.
        message: String,
    },
    /// No tag qualified: `Ready=False Failure`.
    #[error("{}", no_candidate_message(self))]
    NoCandidate {
        /// Tags given to the policy.
        scanned: usize,
        /// Tags that matched `filterTags.pattern` (None without a filter).
        matched_filter: Option<usize>,
        /// Distinct values fed to the policy.
        candidates: usize,
        /// Candidates that parsed as versions (semver only).
        versions: Option<usize>,
        /// The policy, for the message.
        policy: String,
    },
    /// A numerical policy met a value that is not a float64: `Ready=False Failure`.
    #[error("failed to parse invalid numeric value '{value}'")]
    InvalidNumeric {
        /// The value fed to the policy (extracted, if extract is set).
        value: String,
        /// The original tag.
        tag: String,
    },
}

fn no_candidate_message(err: &PolicyError) -> String {
    let PolicyError::NoCandidate {
        scanned,
        matched_filter,
        candidates,
        versions,
        policy,
    } = err
    else {
        return String::new();
    };
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut msg = if *candidates == 0 {
        String::from("version list argument cannot be empty (")
    } else {
        String::from("unable to determine latest version from provided list (")
    };
    msg.push_str(&format!("scanned {}", plural(*scanned, "tag")));
    if let Some(matched) = matched_filter {
        msg.push_str(&format!(", {matched} matched filterTags.pattern"));
    }
    if let Some(versions) = versions.filter(|_| *candidates > 0) {
        msg.push_str(&format!(
            ", {versions} parsed as versions, none satisfied {policy}"
        ));
    }
    msg.push(')');
    msg
}

impl PolicyError {
    /// Condition reason the reconciler reports (`InvalidPolicy` stalls; `Failure` retries).
    pub fn reason(&self) -> &'static str {
        if self.is_stalled() {
            "InvalidPolicy"
        } else {
            "Failure"
        }
    }

    /// Whether retrying cannot help until the spec changes.
    pub fn is_stalled(&self) -> bool {
        matches!(
            self,
            PolicyError::InvalidPolicy { .. } | PolicyError::InvalidPattern { .. }
        )
    }
}

/// What happened to one input tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TagFate {
    /// `filterTags.pattern` did not match.
    FilteredOut,
    /// Its extracted value equals a later tag's, which represents it (Flux keeps the last).
    Duplicate,
    /// Not a version (semver) or not a number (numerical).
    NotAVersion,
    /// A version outside the range.
    OutOfRange,
    /// Qualified but lost.
    Candidate,
    /// The winner.
    Chosen,
}

impl fmt::Display for TagFate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TagFate::FilteredOut => "filtered out",
            TagFate::Duplicate => "duplicate",
            TagFate::NotAVersion => "not a version",
            TagFate::OutOfRange => "out of range",
            TagFate::Candidate => "candidate",
            TagFate::Chosen => "chosen",
        })
    }
}

/// One row of an [`Explanation`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TagVerdict {
    /// The original tag.
    pub tag: String,
    /// The value fed to the policy when it differs from the tag (extract).
    pub extracted: Option<String>,
    /// Its fate.
    pub fate: TagFate,
    /// Extra words: the parsed version, why parsing failed, or which tag superseded it.
    pub detail: Option<String>,
}

/// The result of a policy run with every tag's fate, for display.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The policy in words.
    pub policy: String,
    /// The filter pattern and extract template, if any.
    pub filter: Option<FilterTags>,
    /// One row per input tag, in input order.
    pub tags: Vec<TagVerdict>,
    /// The chosen original tag.
    pub chosen: Option<String>,
    /// Why nothing was chosen.
    pub error: Option<PolicyError>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "policy: {}", self.policy)?;
        if let Some(filter) = &self.filter {
            write!(f, "filter: pattern '{}'", filter.pattern)?;
            if !filter.extract.is_empty() {
                write!(f, ", extract '{}'", filter.extract)?;
            }
            writeln!(f)?;
        }
        let tag_width = self
            .tags
            .iter()
            .map(|t| t.tag.chars().count())
            .max()
            .unwrap_or(0)
            .max(3);
        let value_width = self
            .tags
            .iter()
            .filter_map(|t| t.extracted.as_ref().map(|e| e.chars().count()))
            .max();
        match value_width {
            Some(w) => {
                let w = w.max(9);
                writeln!(
                    f,
                    "{:tag_width$}  {:w$}  {:13}  DETAIL",
                    "TAG", "EXTRACTED", "FATE"
                )?;
                for t in &self.tags {
                    let extracted = t.extracted.as_deref().unwrap_or("-");
                    let line = format!(
                        "{:tag_width$}  {:w$}  {:13}  {}",
                        t.tag,
                        extracted,
                        t.fate.to_string(),
                        t.detail.as_deref().unwrap_or("")
                    );
                    writeln!(f, "{}", line.trim_end())?;
                }
            }
            None => {
                writeln!(f, "{:tag_width$}  {:13}  DETAIL", "TAG", "FATE")?;
                for t in &self.tags {
                    let line = format!(
                        "{:tag_width$}  {:13}  {}",
                        t.tag,
                        t.fate.to_string(),
                        t.detail.as_deref().unwrap_or("")
                    );
                    writeln!(f, "{}", line.trim_end())?;
                }
            }
        }
        match (&self.chosen, &self.error) {
            (Some(tag), _) => write!(f, "chosen: {tag}"),
            (None, Some(err)) => write!(f, "error: {err}"),
            (None, None) => write!(f, "chosen: none"),
        }
    }
}

/// The chosen tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// The original tag (what goes into `latestRef.tag`).
    pub tag: String,
    /// The value the policy compared (the extracted value, or the tag itself).
    pub value: String,
}

#[derive(Debug)]
enum CompiledChoice {
    SemVer(Constraints),
    Alphabetical(SortOrder),
    Numerical(SortOrder),
}

#[derive(Debug)]
struct CompiledFilter {
    regex: Regex,
    extract: Option<ExpandTemplate>,
}

/// A validated policy, ready to run over many tag lists.
#[derive(Debug)]
pub struct CompiledPolicy {
    spec: PolicySpec,
    choice: CompiledChoice,
    filter: Option<CompiledFilter>,
}

/// Per-tag working state of one run.
struct Run<'t> {
    fates: Vec<TagFate>,
    /// The value fed to the policy; `None` when filtered out.
    values: Vec<Option<Cow<'t, str>>>,
    /// For duplicates: the index of the tag that represents them.
    superseded_by: HashMap<usize, usize>,
    matched_filter: Option<usize>,
    candidates: usize,
    versions: Option<usize>,
    chosen: Option<usize>,
    error: Option<PolicyError>,
}

impl CompiledPolicy {
    /// Validates the range, order and pattern (errors map to Stalled `InvalidPolicy`).
    pub fn compile(spec: &PolicySpec) -> Result<CompiledPolicy, PolicyError> {
        let choice = match &spec.choice {
            PolicyChoice::SemVer { range } => {
                CompiledChoice::SemVer(Constraints::parse(range).map_err(|e| {
                    PolicyError::InvalidPolicy {
                        message: e.to_string(),
                    }
                })?)
            }
            PolicyChoice::Alphabetical { order } => CompiledChoice::Alphabetical(*order),
            PolicyChoice::Numerical { order } => CompiledChoice::Numerical(*order),
        };
        let filter = match &spec.filter {
            None => None,
            Some(f) => {
                let regex = Regex::new(&f.pattern).map_err(|e| PolicyError::InvalidPattern {
                    pattern: f.pattern.clone(),
                    message: e.to_string(),
                })?;
                let extract =
                    (!f.extract.is_empty()).then(|| ExpandTemplate::parse(&f.extract, &regex));
                Some(CompiledFilter { regex, extract })
            }
        };
        Ok(CompiledPolicy {
            spec: spec.clone(),
            choice,
            filter,
        })
    }

    /// The spec this policy was compiled from.
    pub fn spec(&self) -> &PolicySpec {
        &self.spec
    }

    /// Picks the latest tag (the original tag text, even when a value was extracted).
    pub fn latest<S: AsRef<str>>(&self, tags: &[S]) -> Result<Selection, PolicyError> {
        let run = self.run(tags);
        match (run.chosen, run.error) {
            (Some(i), _) => Ok(Selection {
                tag: tags[i].as_ref().to_string(),
                value: run.values[i].as_deref().unwrap_or_default().to_string(),
            }),
            (None, Some(err)) => Err(err),
            (None, None) => Err(self.no_candidate(tags.len(), None, 0, None)),
        }
    }

    /// Runs the policy and reports every tag's fate.
    pub fn explain<S: AsRef<str>>(&self, tags: &[S]) -> Explanation {
        let run = self.run(tags);
        let mut verdicts = Vec::with_capacity(tags.len());
        for (i, tag) in tags.iter().enumerate() {
            let tag = tag.as_ref();
            let value = run.values[i].as_deref();
            let extracted = value.filter(|v| *v != tag).map(str::to_string);
            let detail = match run.fates[i] {
                TagFate::Duplicate => run
                    .superseded_by
                    .get(&i)
                    .map(|&j| format!("same value as '{}'", tags[j].as_ref())),
                TagFate::NotAVersion => value.map(|v| self.parse_failure(v)),
                TagFate::OutOfRange | TagFate::Candidate | TagFate::Chosen => match &self.choice {
                    CompiledChoice::SemVer(_) => value
                        .and_then(|v| parse_tag(v).ok())
                        .map(|v| format!("version {v}")),
                    _ => None,
                },
                TagFate::FilteredOut => None,
            };
            verdicts.push(TagVerdict {
                tag: tag.to_string(),
                extracted,
                fate: run.fates[i],
                detail,
            });
        }
        let chosen = run.chosen.map(|i| tags[i].as_ref().to_string());
        let error = match (&chosen, run.error) {
            (Some(_), _) => None,
            (None, Some(err)) => Some(err),
            (None, None) => Some(self.no_candidate(tags.len(), None, 0, None)),
        };
        Explanation {
            policy: self.spec.choice.to_string(),
            filter: self.spec.filter.clone(),
            tags: verdicts,
            chosen,
            error,
        }
    }

    fn parse_failure(&self, value: &str) -> String {
        match &self.choice {
            CompiledChoice::SemVer(_) => match parse_tag(value) {
                Err(e) => e.to_string(),
                Ok(_) => String::new(),
            },
            _ => "not a float64 number".to_string(),
        }
    }

    fn no_candidate(
        &self,
        scanned: usize,
        matched_filter: Option<usize>,
        candidates: usize,
        versions: Option<usize>,
    ) -> PolicyError {
        PolicyError::NoCandidate {
            scanned,
            matched_filter,
            candidates,
            versions,
            policy: self.spec.choice.to_string(),
        }
    }

    fn run<'t, S: AsRef<str>>(&self, tags: &'t [S]) -> Run<'t> {
        let mut run = Run {
            fates: vec![TagFate::Candidate; tags.len()],
            values: Vec::with_capacity(tags.len()),
            superseded_by: HashMap::new(),
            matched_filter: None,
            candidates: 0,
            versions: None,
            chosen: None,
            error: None,
        };
        self.apply_filter(tags, &mut run);
        run.candidates = run
            .fates
            .iter()
            .filter(|f| **f == TagFate::Candidate)
            .count();
        match &self.choice {
            CompiledChoice::SemVer(constraints) => pick_semver(constraints, &mut run),
            CompiledChoice::Alphabetical(order) => pick_alphabetical(*order, &mut run),
            CompiledChoice::Numerical(order) => pick_numerical(*order, tags, &mut run),
        }
        if let Some(i) = run.chosen {
            run.fates[i] = TagFate::Chosen;
        } else if run.error.is_none() {
            run.error = Some(self.no_candidate(
                tags.len(),
                run.matched_filter,
                run.candidates,
                run.versions,
            ));
        }
        run
    }

    fn apply_filter<'t, S: AsRef<str>>(&self, tags: &'t [S], run: &mut Run<'t>) {
        let Some(filter) = &self.filter else {
            run.values
                .extend(tags.iter().map(|t| Some(Cow::Borrowed(t.as_ref()))));
            return;
        };
        let mut locations = filter.regex.capture_locations();
        let mut matched = 0;
        for (i, tag) in tags.iter().enumerate() {
            let tag = tag.as_ref();
            let value = match &filter.extract {
                None => filter.regex.is_match(tag).then_some(Cow::Borrowed(tag)),
                Some(template) => filter
                    .regex
                    .captures_read(&mut locations, tag)
                    .map(|_| Cow::Owned(template.expand(tag, &locations))),
            };
            match value {
                Some(v) => {
                    matched += 1;
                    run.values.push(Some(v));
                }
                None => {
                    run.fates[i] = TagFate::FilteredOut;
                    run.values.push(None);
                }
            }
        }
        run.matched_filter = Some(matched);
        if filter.extract.is_some() {
            // Flux maps value -> tag, so for equal values the last tag wins.
            let mut last: HashMap<&str, usize> = HashMap::new();
            for (i, v) in run.values.iter().enumerate() {
                if let Some(v) = v {
                    last.insert(v.as_ref(), i);
                }
            }
            let mut duplicates = Vec::new();
            for (i, v) in run.values.iter().enumerate() {
                if let Some(v) = v
                    && let Some(&keeper) = last.get(v.as_ref())
                    && keeper != i
                {
                    duplicates.push((i, keeper));
                }
            }
            for (i, keeper) in duplicates {
                run.fates[i] = TagFate::Duplicate;
                run.superseded_by.insert(i, keeper);
            }
        }
    }
}

fn pick_semver(constraints: &Constraints, run: &mut Run<'_>) {
    let mut best: Option<(usize, Version<'_>)> = None;
    let mut versions = 0;
    for (i, value) in run.values.iter().enumerate() {
        if run.fates[i] != TagFate::Candidate {
            continue;
        }
        let Some(value) = value else { continue };
        let Ok(version) = parse_tag(value) else {
            run.fates[i] = TagFate::NotAVersion;
            continue;
        };
        versions += 1;
        if !constraints.matches(&version) {
            run.fates[i] = TagFate::OutOfRange;
            continue;
        }
        // Strictly greater: on equal precedence the first candidate stays.
        if best
            .as_ref()
            .is_none_or(|(_, b)| version.precedence(b).is_gt())
        {
            best = Some((i, version));
        }
    }
    run.versions = Some(versions);
    run.chosen = best.map(|(i, _)| i);
}

fn pick_alphabetical(order: SortOrder, run: &mut Run<'_>) {
    let mut best: Option<(usize, &str)> = None;
    for (i, value) in run.values.iter().enumerate() {
        if run.fates[i] != TagFate::Candidate {
            continue;
        }
        let Some(value) = value.as_deref() else {
            continue;
        };
        let better = match best {
            None => true,
            Some((_, b)) => match order {
                SortOrder::Asc => value.as_bytes() > b.as_bytes(),
                SortOrder::Desc => value.as_bytes() < b.as_bytes(),
            },
        };
        if better {
            best = Some((i, value));
        }
    }
    run.chosen = best.map(|(i, _)| i);
}

fn pick_numerical<S: AsRef<str>>(order: SortOrder, tags: &[S], run: &mut Run<'_>) {
    let mut best: Option<(usize, f64)> = None;
    let mut first_error: Option<PolicyError> = None;
    for (i, (value, fate)) in run.values.iter().zip(run.fates.iter_mut()).enumerate() {
        if *fate != TagFate::Candidate {
            continue;
        }
        let Some(value) = value.as_deref() else {
            continue;
        };
        let Some(number) = parse_go_float(value) else {
            *fate = TagFate::NotAVersion;
            first_error.get_or_insert_with(|| PolicyError::InvalidNumeric {
                value: value.to_string(),
                tag: tags[i].as_ref().to_string(),
            });
            continue;
        };
        // Mirrors Flux's loop: skip only when strictly worse, so equal values (and NaN) replace.
        let skip = match best {
            None => false,
            Some((_, b)) => match order {
                SortOrder::Asc => number < b,
                SortOrder::Desc => number > b,
            },
        };
        if !skip {
            best = Some((i, number));
        }
    }
    if let Some(err) = first_error {
        run.error = Some(err);
        return;
    }
    run.chosen = best.map(|(i, _)| i);
}

/// Compiles `spec` and picks the latest of `tags` in one call.
pub fn latest_tag<S: AsRef<str>>(spec: &PolicySpec, tags: &[S]) -> Result<Selection, PolicyError> {
    CompiledPolicy::compile(spec)?.latest(tags)
}
