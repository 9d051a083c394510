//! `spec.ref` of a GitRepository and the revision strings Flux derives from it.

use serde_json::Value;
use thiserror::Error;

/// Branch used when `spec.ref` is absent or empty.
pub const DEFAULT_BRANCH: &str = "master";

/// `spec.ref` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GitRefError {
    /// `spec.ref` is not an object.
    #[error("spec.ref must be an object, got {0}")]
    NotAnObject(String),
    /// A field is not a string.
    #[error("spec.ref.{field} must be a string, got {value}")]
    NotAString {
        /// The field.
        field: &'static str,
        /// Its JSON text.
        value: String,
    },
    /// `spec.ref.commit` is not a full hex object id.
    #[error("spec.ref.commit {0:?} is not a 40-character hex SHA-1")]
    BadCommit(String),
}

/// `spec.ref` as written; empty strings count as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitRef {
    /// `ref.branch`.
    pub branch: Option<String>,
    /// `ref.tag`.
    pub tag: Option<String>,
    /// `ref.semver` (a Masterminds range).
    pub semver: Option<String>,
    /// `ref.name` (a full ref such as `refs/pull/420/head`).
    pub name: Option<String>,
    /// `ref.commit` (40 hex).
    pub commit: Option<String>,
}

/// What to fetch, after applying the precedence of Flux's clone code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvedRef {
    /// A commit, optionally fetched through a branch (`main@sha1:…` revision) or not (`sha1:…`).
    Commit {
        /// Lower-case hex id.
        commit: String,
        /// Branch to fetch it through.
        branch: Option<String>,
    },
    /// A full reference name.
    Name(String),
    /// A tag name.
    Tag(String),
    /// A semver range over all tags.
    Semver(String),
    /// A branch name.
    Branch(String),
}

fn field(
    obj: &serde_json::Map<String, Value>,
    key: &'static str,
) -> Result<Option<String>, GitRefError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(GitRefError::NotAString {
            field: key,
            value: other.to_string(),
        }),
    }
}

impl GitRef {
    /// A branch reference.
    pub fn branch(name: &str) -> GitRef {
        GitRef {
            branch: Some(name.to_string()),
            ..GitRef::default()
        }
    }

    /// A tag reference.
    pub fn tag(name: &str) -> GitRef {
        GitRef {
            tag: Some(name.to_string()),
            ..GitRef::default()
        }
    }

    /// A semver range reference.
    pub fn semver(range: &str) -> GitRef {
        GitRef {
            semver: Some(range.to_string()),
            ..GitRef::default()
        }
    }

    /// A full reference name.
    pub fn name(full: &str) -> GitRef {
        GitRef {
            name: Some(full.to_string()),
            ..GitRef::default()
        }
    }

    /// A commit reference.
    pub fn commit(hex: &str) -> GitRef {
        GitRef {
            commit: Some(hex.to_string()),
            ..GitRef::default()
        }
    }

    /// Reads `spec.ref` (absent or `null` means the default branch).
    pub fn from_spec(value: Option<&Value>) -> Result<GitRef, GitRefError> {
        let obj = match value {
            None | Some(Value::Null) => return Ok(GitRef::default()),
            Some(Value::Object(obj)) => obj,
            Some(other) => return Err(GitRefError::NotAnObject(other.to_string())),
        };
        Ok(GitRef {
            branch: field(obj, "branch")?,
            tag: field(obj, "tag")?,
            semver: field(obj, "semver")?,
            name: field(obj, "name")?,
            commit: field(obj, "commit")?,
        })
    }

    /// Applies the clone code's precedence: commit, then name, then tag, then semver, then branch
    /// (default `master`). With both `tag` and `semver`, the tag wins (the docs claim otherwise).
    pub fn resolve(&self) -> Result<ResolvedRef, GitRefError> {
        if let Some(commit) = &self.commit {
            let lower = commit.to_ascii_lowercase();
            if lower.len() != 40 || !lower.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(GitRefError::BadCommit(commit.clone()));
            }
            return Ok(ResolvedRef::Commit {
                commit: lower,
                branch: self.branch.clone(),
            });
        }
        if let Some(name) = &self.name {
            return Ok(ResolvedRef::Name(name.clone()));
        }
        if let Some(tag) = &self.tag {
            return Ok(ResolvedRef::Tag(tag.clone()));
        }
        if let Some(range) = &self.semver {
            return Ok(ResolvedRef::Semver(range.clone()));
        }
        Ok(ResolvedRef::Branch(
            self.branch
                .clone()
                .unwrap_or_else(|| DEFAULT_BRANCH.to_string()),
        ))
    }

    /// A short human description (`branch 'main'`, `tag 'v1'`, …) for messages.
    pub fn describe(&self) -> String {
        match self.resolve() {
            Ok(r) => r.describe(),
            Err(e) => e.to_string(),
        }
    }
}

impl ResolvedRef {
    /// A short human description for messages.
    pub fn describe(&self) -> String {
        match self {
            ResolvedRef::Commit {
                commit,
                branch: Some(b),
            } => format!("commit '{commit}' on branch '{b}'"),
            ResolvedRef::Commit {
                commit,
                branch: None,
            } => format!("commit '{commit}'"),
            ResolvedRef::Name(n) => format!("ref '{n}'"),
            ResolvedRef::Tag(t) => format!("tag '{t}'"),
            ResolvedRef::Semver(r) => format!("semver '{r}'"),
            ResolvedRef::Branch(b) => format!("branch '{b}'"),
        }
    }
}

/// The revision string of §2.2 for a full reference (empty for none) and a commit id.
///
/// `refs/heads/feature/x` → `feature/x@sha1:<hex>`; `refs/tags/v1` → `v1@sha1:<hex>`; with
/// `full_ref` (used for `ref.name`) the reference is kept whole; no reference → `sha1:<hex>`.
pub fn revision_string(reference: &str, commit_hex: &str, full_ref: bool) -> String {
    if reference.is_empty() {
        return format!("sha1:{commit_hex}");
    }
    if full_ref {
        return format!("{reference}@sha1:{commit_hex}");
    }
    let mut parts = reference.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(short)) => format!("{short}@sha1:{commit_hex}"),
        _ => format!("sha1:{commit_hex}"),
    }
}

/// The commit hex of a revision string (`main@sha1:<hex>`, `sha1:<hex>`, or a bare hex).
pub fn commit_of_revision(revision: &str) -> &str {
    let tail = revision.rsplit('@').next().unwrap_or(revision);
    tail.strip_prefix("sha1:").unwrap_or(tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const C: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn precedence_is_commit_name_tag_semver_branch() {
        let all = GitRef {
            branch: Some("main".into()),
            tag: Some("v1".into()),
            semver: Some(">=1".into()),
            name: Some("refs/pull/1/head".into()),
            commit: Some(C.to_uppercase()),
        };
        assert_eq!(
            all.resolve().unwrap(),
            ResolvedRef::Commit {
                commit: C.into(),
                branch: Some("main".into())
            }
        );
        let mut r = all.clone();
        r.commit = None;
        assert_eq!(
            r.resolve().unwrap(),
            ResolvedRef::Name("refs/pull/1/head".into())
        );
        r.name = None;
        assert_eq!(r.resolve().unwrap(), ResolvedRef::Tag("v1".into()));
        r.tag = None;
        assert_eq!(r.resolve().unwrap(), ResolvedRef::Semver(">=1".into()));
        r.semver = None;
        assert_eq!(r.resolve().unwrap(), ResolvedRef::Branch("main".into()));
        assert_eq!(
            GitRef::default().resolve().unwrap(),
            ResolvedRef::Branch("master".into())
        );
    }

    #[test]
    fn from_spec_reads_and_rejects() {
        assert_eq!(GitRef::from_spec(None).unwrap(), GitRef::default());
        assert_eq!(
            GitRef::from_spec(Some(&json!(null))).unwrap(),
            GitRef::default()
        );
        let r = GitRef::from_spec(Some(&json!({"branch": "main", "tag": ""}))).unwrap();
        assert_eq!(r, GitRef::branch("main"));
        assert!(matches!(
            GitRef::from_spec(Some(&json!({"branch": 5}))),
            Err(GitRefError::NotAString {
                field: "branch",
                ..
            })
        ));
        assert!(GitRef::from_spec(Some(&json!("main"))).is_err());
        assert!(GitRef::commit("abc").resolve().is_err());
        assert!(GitRef::commit(&"g".repeat(40)).resolve().is_err());
    }

    #[test]
    fn revisions() {
        assert_eq!(
            revision_string("refs/heads/main", C, false),
            format!("main@sha1:{C}")
        );
        assert_eq!(
            revision_string("refs/heads/feature/x", C, false),
            format!("feature/x@sha1:{C}")
        );
        assert_eq!(
            revision_string("refs/tags/v1.0.0", C, false),
            format!("v1.0.0@sha1:{C}")
        );
        assert_eq!(
            revision_string("refs/pull/420/head", C, true),
            format!("refs/pull/420/head@sha1:{C}")
        );
        assert_eq!(revision_string("", C, false), format!("sha1:{C}"));
        assert_eq!(commit_of_revision(&format!("main@sha1:{C}")), C);
        assert_eq!(commit_of_revision(&format!("sha1:{C}")), C);
        assert_eq!(commit_of_revision(C), C);
    }
}
