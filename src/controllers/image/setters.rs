//! Setter markers (`# {"$imagepolicy": "ns:name"}`) and the byte-preserving rewrite of marked values.
//!
//! The rewrite works on text: a line scanner finds comments that follow a scalar value on the
//! same line (`image: foo:v1 # {...}`, `- foo:v1 # {...}`, flow `[foo:v1, # {...}`), and only the
//! bytes of that scalar are replaced; everything else (comments, quoting, spacing, CRLF, trailing
//! whitespace) is kept. Text inside block scalars (`|`, `>`) is never read as a marker. After the
//! rewrite each document is parsed again and compared with the original: if anything other than
//! the marked values changed, the rewrite is refused, so a file is never half-written or corrupted.

mod scanner;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use scanner::{ScannedMarker, scan};

/// An ImagePolicy's `status.latestRef`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatestRef {
    /// Image name (ImageRepository `spec.image`, verbatim).
    pub name: String,
    /// Chosen tag.
    pub tag: String,
    /// `sha256:…` digest, empty when not reflected.
    pub digest: String,
}

impl LatestRef {
    /// `name:tag`, plus `@digest` when the digest is known (the plain-marker value).
    pub fn image(&self) -> String {
        if self.digest.is_empty() {
            format!("{}:{}", self.name, self.tag)
        } else {
            format!("{}:{}@{}", self.name, self.tag, self.digest)
        }
    }
}

/// Latest refs keyed by `namespace:name` of their ImagePolicy.
pub type PolicyRefs = BTreeMap<String, LatestRef>;

/// Which part of the latest ref a marker asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum SetterField {
    /// `ns:name` → `name:tag[@digest]`.
    Image,
    /// `ns:name:tag`.
    Tag,
    /// `ns:name:name`.
    Name,
    /// `ns:name:digest`.
    Digest,
}

/// Splits a setter (`ns:name[:tag|:name|:digest]`) into its policy key and field.
pub fn parse_setter(setter: &str) -> Option<(&str, SetterField)> {
    let mut parts = setter.splitn(3, ':');
    let (ns, name) = (parts.next()?, parts.next()?);
    if ns.is_empty() || name.is_empty() {
        return None;
    }
    let field = match parts.next() {
        None => SetterField::Image,
        Some("tag") => SetterField::Tag,
        Some("name") => SetterField::Name,
        Some("digest") => SetterField::Digest,
        Some(_) => return None,
    };
    let policy_len = ns.len() + 1 + name.len();
    Some((&setter[..policy_len], field))
}

/// The Kubernetes identity of the document a marker is in (§6.3 `ObjectIdentifier`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectId {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

/// One value a marker changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// 1-based line of the marked value.
    pub line: usize,
    /// The object the value belongs to.
    pub object: ObjectId,
    /// The marker's setter (`ns:name[:tag|:name|:digest]`).
    pub setter: String,
    /// Value before.
    pub old_value: String,
    /// Value after.
    pub new_value: String,
}

/// A marker that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoredMarker {
    /// 1-based line of the marker comment.
    pub line: usize,
    /// The setter text.
    pub setter: String,
    /// Why it was not applied.
    pub reason: IgnoreReason,
}

/// Why a marker was not applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum IgnoreReason {
    /// No latest ref for this policy (unknown, other namespace, or not resolved yet).
    UnknownPolicy,
    /// The setter is not `ns:name[:tag|:name|:digest]`.
    MalformedSetter,
    /// The comment does not follow a single-line scalar value (e.g. it follows a key, a
    /// collection or a multi-line scalar).
    NotOnScalarValue,
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IgnoreReason::UnknownPolicy => "no latest image for this policy",
            IgnoreReason::MalformedSetter => "malformed setter",
            IgnoreReason::NotOnScalarValue => "marker does not follow a scalar value",
        })
    }
}

/// Result of rewriting one text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextRewrite {
    /// The new text (identical to the input when nothing changed).
    pub text: String,
    /// Values changed, in file order.
    pub changes: Vec<Change>,
    /// Markers left alone.
    pub ignored: Vec<IgnoredMarker>,
}

/// Setter failures; nothing is written for a file that fails.
#[derive(Debug, thiserror::Error)]
pub enum SetterError {
    /// The text is not YAML (Flux skips such files).
    #[error("not valid YAML: {0}")]
    Unparsable(String),
    /// The rewrite would have changed more than the marked values, so it was refused.
    #[error("refusing to rewrite: {0}")]
    Verification(String),
    /// Reading, walking or writing failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Finds every `$imagepolicy` marker in `text` (1-based line, setter), applied or not.
pub fn find_markers(text: &str) -> Vec<(usize, String)> {
    scan(text)
        .markers
        .into_iter()
        .map(|m| (m.line, m.setter))
        .collect()
}

/// A marker and the current value of the scalar it follows (read-only; for the image view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarkedValue {
    /// 1-based line of the marker comment.
    pub line: usize,
    /// The setter text (`ns:name[:tag|:name|:digest]`).
    pub setter: String,
    /// The decoded value the marker applies to; `None` when it does not follow a scalar.
    pub value: Option<String>,
}

/// Every `$imagepolicy` marker in `text` with the value it marks, without rewriting anything.
pub fn marked_values(text: &str) -> Vec<MarkedValue> {
    scan(text)
        .markers
        .into_iter()
        .map(|m| MarkedValue {
            line: m.line,
            value: m.target.as_ref().map(|t| {
                scanner::decode_scalar(text.get(t.span.clone()).unwrap_or_default(), t.style)
            }),
            setter: m.setter,
        })
        .collect()
}

/// Rewrites the values marked for policies in `refs`; other bytes stay as they were.
pub fn rewrite_text(text: &str, refs: &PolicyRefs) -> Result<TextRewrite, SetterError> {
    let scanned = scan(text);
    // Flux skips files it cannot parse, so a marker in one never counts.
    let old_docs = if scanned.markers.is_empty() {
        Vec::new()
    } else {
        parse_documents(text, &scanned.document_starts)?
    };
    let mut ignored = Vec::new();
    let mut edits: Vec<(ScannedMarker, String, String)> = Vec::new();
    for marker in scanned.markers {
        let Some((policy, field)) = parse_setter(&marker.setter) else {
            ignored.push(ignore(&marker, IgnoreReason::MalformedSetter));
            continue;
        };
        let Some(latest) = refs.get(policy) else {
            ignored.push(ignore(&marker, IgnoreReason::UnknownPolicy));
            continue;
        };
        let Some(target) = &marker.target else {
            ignored.push(ignore(&marker, IgnoreReason::NotOnScalarValue));
            continue;
        };
        let new_value = match field {
            SetterField::Image => latest.image(),
            SetterField::Tag => latest.tag.clone(),
            SetterField::Name => latest.name.clone(),
            SetterField::Digest => latest.digest.clone(),
        };
        let raw = text.get(target.span.clone()).unwrap_or_default();
        let old_value = scanner::decode_scalar(raw, target.style);
        if old_value == new_value {
            continue;
        }
        edits.push((marker, old_value, new_value));
    }
    if edits.is_empty() {
        return Ok(TextRewrite {
            text: text.to_string(),
            changes: Vec::new(),
            ignored,
        });
    }

    // Splice the new scalars in, back to front so earlier spans stay valid.
    let mut out = text.to_string();
    let mut ordered: Vec<&(ScannedMarker, String, String)> = edits.iter().collect();
    ordered
        .sort_by_key(|(m, _, _)| std::cmp::Reverse(m.target.as_ref().map_or(0, |t| t.span.start)));
    for (marker, _, new_value) in ordered {
        if let Some(target) = &marker.target {
            let rendered = scanner::render_scalar(new_value, target.style, target.in_flow);
            out.replace_range(target.span.clone(), &rendered);
        }
    }

    let new_starts = shift_offsets(&scanned.document_starts, &edits, text);
    let new_docs = parse_documents(&out, &new_starts).map_err(|e| {
        SetterError::Verification(format!("the rewritten text does not parse ({e})"))
    })?;
    let allowed: HashMap<&str, Vec<&str>> =
        edits.iter().fold(HashMap::new(), |mut map, (_, old, new)| {
            map.entry(old.as_str()).or_default().push(new.as_str());
            map
        });
    if old_docs.len() != new_docs.len() {
        return Err(SetterError::Verification(
            "the number of YAML documents changed".to_string(),
        ));
    }
    for (old, new) in old_docs.iter().zip(&new_docs) {
        if !same_except_edits(old, new, &allowed) {
            return Err(SetterError::Verification(
                "the rewrite changed more than the marked values".to_string(),
            ));
        }
    }

    let changes = edits
        .into_iter()
        .map(|(marker, old_value, new_value)| {
            let object = scanned
                .document_starts
                .iter()
                .rposition(|&start| start <= marker.comment_offset)
                .and_then(|doc| old_docs.get(doc))
                .map(object_id)
                .unwrap_or_default();
            Change {
                line: marker.line,
                object,
                setter: marker.setter,
                old_value,
                new_value,
            }
        })
        .collect();
    Ok(TextRewrite {
        text: out,
        changes,
        ignored,
    })
}

fn ignore(marker: &ScannedMarker, reason: IgnoreReason) -> IgnoredMarker {
    IgnoredMarker {
        line: marker.line,
        setter: marker.setter.clone(),
        reason,
    }
}

/// Document start offsets after the edits (edits before a start move it).
fn shift_offsets(
    starts: &[usize],
    edits: &[(ScannedMarker, String, String)],
    text: &str,
) -> Vec<usize> {
    starts
        .iter()
        .map(|&start| {
            let mut shifted = start as isize;
            for (marker, _, new_value) in edits {
                if let Some(t) = &marker.target
                    && t.span.end <= start
                {
                    let old_len = text.get(t.span.clone()).map_or(0, str::len) as isize;
                    let new_len =
                        scanner::render_scalar(new_value, t.style, t.in_flow).len() as isize;
                    shifted += new_len - old_len;
                }
            }
            shifted.max(0) as usize
        })
        .collect()
}

/// Parses each document segment; one `Value` per segment (`Null` for empty ones).
fn parse_documents(text: &str, starts: &[usize]) -> Result<Vec<Value>, SetterError> {
    let mut docs = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        let segment = text.get(start..end).ok_or_else(|| {
            SetterError::Unparsable("document boundary inside a character".to_string())
        })?;
        let values: Vec<Value> = serde_saphyr::from_multiple(segment)
            .map_err(|e| SetterError::Unparsable(e.to_string()))?;
        docs.push(Value::Array(values));
    }
    Ok(docs)
}

fn same_except_edits(old: &Value, new: &Value, allowed: &HashMap<&str, Vec<&str>>) -> bool {
    let rewritten_to = |from: &str, to: &str| {
        allowed
            .get(from)
            .is_some_and(|targets| targets.contains(&to))
    };
    match (old, new) {
        (Value::String(a), Value::String(b)) if a != b => rewritten_to(a, b),
        // A marked plain scalar may have read as a number, bool or null before (`tag: 1`).
        (Value::Number(n), Value::String(b)) => rewritten_to(&n.to_string(), b),
        (Value::Bool(v), Value::String(b)) => rewritten_to(&v.to_string(), b),
        (Value::Null, Value::String(b)) => ["", "~", "null", "Null", "NULL"]
            .iter()
            .any(|from| rewritten_to(from, b)),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| same_except_edits(x, y, allowed))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| same_except_edits(v, w, allowed)))
        }
        _ => old == new,
    }
}

fn object_id(doc: &Value) -> ObjectId {
    let first = doc
        .as_array()
        .and_then(|d| d.first())
        .unwrap_or(&Value::Null);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    ObjectId {
        api_version: text(first.get("apiVersion")),
        kind: text(first.get("kind")),
        namespace: text(first.get("metadata").and_then(|m| m.get("namespace"))),
        name: text(first.get("metadata").and_then(|m| m.get("name"))),
    }
}

/// One file's outcome in a directory run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileOutcome {
    /// Path relative to the root, with `/` separators.
    pub path: String,
    /// Values changed (the file was rewritten when non-empty).
    pub changes: Vec<Change>,
    /// Markers left alone.
    pub ignored: Vec<IgnoredMarker>,
}

/// A file that was skipped, and why (unparsable YAML, refused rewrite).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProblemFile {
    /// Path relative to the root.
    pub path: String,
    /// What was wrong.
    pub reason: String,
}

/// Outcome of [`apply_setters_to_dir`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetterRun {
    /// Files containing markers, in path order.
    pub files: Vec<FileOutcome>,
    /// Files skipped without changes.
    pub problems: Vec<ProblemFile>,
}

impl SetterRun {
    /// Paths of the files that were rewritten.
    pub fn changed_files(&self) -> Vec<&str> {
        self.files
            .iter()
            .filter(|f| !f.changes.is_empty())
            .map(|f| f.path.as_str())
            .collect()
    }

    /// §6.3 `FileChanges`: file → object → changes.
    pub fn file_changes(&self) -> BTreeMap<&str, BTreeMap<&ObjectId, Vec<&Change>>> {
        let mut out: BTreeMap<&str, BTreeMap<&ObjectId, Vec<&Change>>> = BTreeMap::new();
        for file in &self.files {
            for change in &file.changes {
                out.entry(file.path.as_str())
                    .or_default()
                    .entry(&change.object)
                    .or_default()
                    .push(change);
            }
        }
        out
    }

    /// Every ignored marker naming a policy without a latest ref, as (file, marker).
    pub fn unknown_policies(&self) -> Vec<(&str, &IgnoredMarker)> {
        self.files
            .iter()
            .flat_map(|f| f.ignored.iter().map(move |m| (f.path.as_str(), m)))
            .filter(|(_, m)| m.reason == IgnoreReason::UnknownPolicy)
            .collect()
    }
}

/// The literal Flux screens files for before parsing them.
const SCREEN_TOKEN: &str = "\"$imagepolicy\"";

/// Applies setters to every `.yaml`/`.yml`/`Kustomization` file under `root` containing
/// `"$imagepolicy"`, rewriting (temp file + rename) only files whose content changed.
/// Symlinks and `.git` are skipped; unparsable files are reported, not touched.
pub fn apply_setters_to_dir(root: &Path, refs: &PolicyRefs) -> Result<SetterRun, SetterError> {
    let mut files = Vec::new();
    collect_files(root, &mut files)?;
    files.sort();
    let mut run = SetterRun::default();
    for path in files {
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let bytes = std::fs::read(&path).map_err(|source| SetterError::Io {
            action: "reading",
            path: path.clone(),
            source,
        })?;
        let Ok(text) = String::from_utf8(bytes) else {
            if contains_bytes(
                &std::fs::read(&path).unwrap_or_default(),
                SCREEN_TOKEN.as_bytes(),
            ) {
                run.problems.push(ProblemFile {
                    path: relative,
                    reason: "not UTF-8".to_string(),
                });
            }
            continue;
        };
        if !text.contains(SCREEN_TOKEN) {
            continue;
        }
        match rewrite_text(&text, refs) {
            Ok(rewrite) => {
                if !rewrite.changes.is_empty() {
                    write_atomically(&path, &rewrite.text)?;
                }
                run.files.push(FileOutcome {
                    path: relative,
                    changes: rewrite.changes,
                    ignored: rewrite.ignored,
                });
            }
            Err(SetterError::Io {
                action,
                path,
                source,
            }) => {
                return Err(SetterError::Io {
                    action,
                    path,
                    source,
                });
            }
            Err(err) => run.problems.push(ProblemFile {
                path: relative,
                reason: err.to_string(),
            }),
        }
    }
    Ok(run)
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SetterError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| SetterError::Io {
            action,
            path,
            source,
        }
    };
    let meta = std::fs::symlink_metadata(dir).map_err(io("reading", dir))?;
    if meta.is_file() {
        if is_candidate(dir) {
            out.push(dir.to_path_buf());
        }
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(io("listing", dir))? {
        let entry = entry.map_err(io("listing", dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io("reading", &path))?;
        if kind.is_symlink() {
            continue;
        }
        if kind.is_dir() {
            if entry.file_name() != ".git" {
                collect_files(&path, out)?;
            }
        } else if kind.is_file() && is_candidate(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_candidate(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str());
    matches!(ext, Some("yaml") | Some("yml"))
        || path.file_name().and_then(|n| n.to_str()) == Some("Kustomization")
}

/// Writes `text` to a temp file beside `path` (same permissions) and renames it over `path`.
fn write_atomically(path: &Path, text: &str) -> Result<(), SetterError> {
    let io = |action| {
        let path = path.to_path_buf();
        move |source| SetterError::Io {
            action,
            path,
            source,
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let permissions = std::fs::metadata(path)
        .map_err(io("reading"))?
        .permissions();
    let mut attempt = 0u32;
    let (tmp_path, mut file) = loop {
        let candidate = dir.join(format!(
            ".{name}.flotilla-{}-{attempt}.tmp",
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(file) => break (candidate, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(e) => return Err(io("creating a temporary file for")(e)),
        }
    };
    let result = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::set_permissions(&tmp_path, permissions))
        .and_then(|()| std::fs::rename(&tmp_path, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp_path);
        return Err(io("writing")(e));
    }
    Ok(())
}
