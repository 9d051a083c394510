//! The copy operations of an ArtifactGenerator artifact, with source-watcher's `cp`-like
//! semantics: `@alias/dir/` copies the directory as a subdirectory, `@alias/dir/**` copies its
//! contents, globs (`*`, `?`, `[..]` within a segment, `**` across segments) keep the path below
//! their literal prefix, a destination ending in `/` is a directory. Symlinks in sources are
//! never followed (they are skipped), and no destination can leave the output directory.

use serde_json::Value;
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::controllers::source::artifact::extract_tar_gz;
use crate::controllers::source::exclusions::component_match;

/// How a copied file meets an existing destination file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Replace it (default).
    Overwrite,
    /// Deep-merge YAML maps into it (arrays replaced, as Helm merges values files).
    Merge,
    /// Unpack `.tar.gz`/`.tgz` files into the destination directory.
    Extract,
}

impl Strategy {
    /// Parses `spec.artifacts[].copy[].strategy` (empty = Overwrite).
    pub fn parse(s: Option<&str>) -> Result<Strategy, String> {
        match s {
            None | Some("") | Some("Overwrite") => Ok(Strategy::Overwrite),
            Some("Merge") => Ok(Strategy::Merge),
            Some("Extract") => Ok(Strategy::Extract),
            Some(other) => Err(format!(
                "unsupported strategy '{other}' (expected Overwrite, Merge or Extract)"
            )),
        }
    }
}

/// One parsed copy operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOp {
    /// The source alias (`@alias/...`).
    pub alias: String,
    /// The pattern below the source root (may be empty: the whole root).
    pub pattern: String,
    /// The destination below the artifact root (may be empty or end in `/`: a directory).
    pub to: String,
    /// Glob patterns of files to leave out.
    pub exclude: Vec<String>,
    /// The strategy.
    pub strategy: Strategy,
    /// The `from` as written (for messages).
    pub from_text: String,
}

/// A failed copy (→ `BuildFailed`).
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The pattern selected nothing.
    #[error("copy from '{from}' matched no files")]
    NoMatch {
        /// The `from` as written.
        from: String,
    },
    /// Extract was given something that is not a tarball.
    #[error("copy from '{from}': strategy Extract needs a .tar.gz or .tgz file, got '{path}'")]
    NotTarball {
        /// The `from` as written.
        from: String,
        /// The file.
        path: String,
    },
    /// A YAML merge failed.
    #[error("copy from '{from}': cannot merge '{path}': {message}")]
    Merge {
        /// The `from` as written.
        from: String,
        /// The destination file.
        path: String,
        /// Why.
        message: String,
    },
    /// A file operation failed.
    #[error("copy from '{from}': {op} '{path}': {source}")]
    Io {
        /// The `from` as written.
        from: String,
        /// What was attempted.
        op: &'static str,
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Unpacking a tarball failed.
    #[error("copy from '{from}': {message}")]
    Extract {
        /// The `from` as written.
        from: String,
        /// Why.
        message: String,
    },
}

/// Splits `@alias/pattern` (an error names the field when the form is wrong).
pub fn parse_from(from: &str) -> Result<(String, String), String> {
    let rest = from
        .strip_prefix('@')
        .ok_or_else(|| format!("from '{from}' must start with '@<alias>/'"))?;
    let (alias, pattern) = rest.split_once('/').unwrap_or((rest, ""));
    if alias.is_empty() {
        return Err(format!("from '{from}' must start with '@<alias>/'"));
    }
    check_relative(pattern).map_err(|m| format!("from '{from}': {m}"))?;
    Ok((alias.to_string(), pattern.to_string()))
}

/// Strips `@artifact/` from a destination.
pub fn parse_to(to: &str) -> Result<String, String> {
    let rest = if to == "@artifact" {
        ""
    } else {
        to.strip_prefix("@artifact/")
            .ok_or_else(|| format!("to '{to}' must start with '@artifact/'"))?
    };
    check_relative(rest).map_err(|m| format!("to '{to}': {m}"))?;
    Ok(rest.to_string())
}

fn check_relative(p: &str) -> Result<(), String> {
    if p.starts_with('/') || p.contains('\\') || p.contains('\0') {
        return Err("the path must be relative".into());
    }
    if p.split('/').any(|s| s == "..") {
        return Err("the path must not contain '..'".into());
    }
    Ok(())
}

fn has_glob(segment: &str) -> bool {
    segment.contains(['*', '?', '['])
}

/// Matches a `/`-separated path against a pattern whose `**` segments match any number of
/// segments and whose other segments match one (Go's `filepath.Match` per segment).
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let s: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match_segments(&p, &s)
}

fn match_segments(p: &[&str], s: &[&str]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((&"**", rest)) => (0..=s.len()).any(|i| match_segments(rest, &s[i..])),
        Some((first, rest)) => s
            .split_first()
            .is_some_and(|(h, t)| component_match(first, h) && match_segments(rest, t)),
    }
}

fn excluded(exclude: &[String], rel: &str) -> bool {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    exclude.iter().any(|x| {
        // A pattern without '/' names a file anywhere (like `*.md`), as in .gitignore.
        glob_match(x, rel) || (!x.contains('/') && component_match(x, base))
    })
}

/// Every regular file below `dir` as (relative `/` path, absolute path), sorted; symlinks skipped.
fn walk(dir: &Path, from: &str) -> Result<Vec<(String, PathBuf)>, CopyError> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let entries = fs::read_dir(&d).map_err(|source| CopyError::Io {
            from: from.to_string(),
            op: "read directory",
            path: d.display().to_string(),
            source,
        })?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push((e.path(), rel)),
                Ok(t) if t.is_file() => out.push((rel, e.path())),
                _ => {}
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs one operation from the source root `src` into the output root `out`.
pub fn apply(op: &CopyOp, src: &Path, out: &Path, extract_limit: u64) -> Result<(), CopyError> {
    let pattern = op.pattern.trim_end_matches('/');
    let segments: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let to_dir = op.to.is_empty() || op.to.ends_with('/');
    let to = op.to.trim_end_matches('/');
    // (source file, destination relative to out).
    let mut pairs: Vec<(PathBuf, String)> = Vec::new();
    let join = |a: &str, b: &str| -> String {
        match (a.is_empty(), b.is_empty()) {
            (true, _) => b.to_string(),
            (_, true) => a.to_string(),
            _ => format!("{a}/{b}"),
        }
    };
    let glob_at = segments.iter().position(|s| has_glob(s));
    match glob_at {
        Some(i) => {
            // `dir/**` copies the contents of dir; other globs keep the path below the literal prefix.
            let base = segments[..i].join("/");
            let base_dir = src.join(&base);
            if base_dir.is_dir() {
                let matches: Vec<(String, PathBuf)> = walk(&base_dir, &op.from_text)?
                    .into_iter()
                    .filter(|(rel, _)| glob_match(&segments[i..].join("/"), rel))
                    .filter(|(rel, _)| !excluded(&op.exclude, rel))
                    .collect();
                let single_file = !to_dir && matches.len() == 1 && !segments[i..].contains(&"**");
                for (rel, path) in matches {
                    let dest = if single_file {
                        to.to_string()
                    } else {
                        join(to, &rel)
                    };
                    pairs.push((path, dest));
                }
            }
        }
        None => {
            let path = src.join(pattern);
            let meta = fs::symlink_metadata(&path).ok();
            if meta.as_ref().is_some_and(|m| m.is_dir()) {
                // `@alias/dir/` → `to/dir/…` (into a directory) or `to/…` (a new name); the root
                // (`@alias/`) has no name of its own and copies its contents.
                let name = segments.last().copied().unwrap_or("");
                let dest_root = if to_dir {
                    join(to, name)
                } else {
                    to.to_string()
                };
                for (rel, p) in walk(&path, &op.from_text)? {
                    if !excluded(&op.exclude, &rel) {
                        pairs.push((p, join(&dest_root, &rel)));
                    }
                }
            } else if meta.as_ref().is_some_and(|m| m.is_file()) {
                let name = segments.last().copied().unwrap_or("");
                if !excluded(&op.exclude, name) {
                    let dest = if to_dir {
                        join(to, name)
                    } else {
                        to.to_string()
                    };
                    pairs.push((path, dest));
                }
            }
        }
    }
    if op.strategy == Strategy::Extract {
        let single = glob_at.is_none();
        if pairs.is_empty() {
            return Err(CopyError::NoMatch {
                from: op.from_text.clone(),
            });
        }
        let mut extracted = 0;
        for (p, _) in &pairs {
            let n = p.to_string_lossy().to_string();
            if !(n.ends_with(".tar.gz") || n.ends_with(".tgz")) {
                if single {
                    return Err(CopyError::NotTarball {
                        from: op.from_text.clone(),
                        path: op.pattern.clone(),
                    });
                }
                continue; // globs skip non-tarballs, as source-watcher does
            }
            let dest = out.join(to);
            let file = fs::File::open(p).map_err(|source| CopyError::Io {
                from: op.from_text.clone(),
                op: "open",
                path: n.clone(),
                source,
            })?;
            extract_tar_gz(file, &n, &dest, extract_limit).map_err(|e| CopyError::Extract {
                from: op.from_text.clone(),
                message: e.to_string(),
            })?;
            extracted += 1;
        }
        if extracted == 0 {
            return Err(CopyError::NoMatch {
                from: op.from_text.clone(),
            });
        }
        return Ok(());
    }
    if pairs.is_empty() {
        return Err(CopyError::NoMatch {
            from: op.from_text.clone(),
        });
    }
    for (p, dest) in pairs {
        copy_file(op, &p, &safe_join(out, &dest), &dest)?;
    }
    Ok(())
}

/// `out/rel` with only normal components kept (destinations were validated at parse time; this
/// keeps a file name from a source from climbing out either).
fn safe_join(out: &Path, rel: &str) -> PathBuf {
    let mut p = out.to_path_buf();
    for c in Path::new(rel).components() {
        if let Component::Normal(n) = c {
            p.push(n);
        }
    }
    p
}

fn copy_file(op: &CopyOp, src: &Path, dest: &Path, rel: &str) -> Result<(), CopyError> {
    let io = |what: &'static str, path: &Path| {
        let from = op.from_text.clone();
        let path = path.display().to_string();
        move |source| CopyError::Io {
            from,
            op: what,
            path,
            source,
        }
    };
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(io("create directory", parent))?;
    }
    if dest.is_dir() {
        return Err(CopyError::Io {
            from: op.from_text.clone(),
            op: "overwrite",
            path: rel.to_string(),
            source: std::io::Error::other("a directory is in the way"),
        });
    }
    if op.strategy == Strategy::Merge && dest.is_file() {
        let base = fs::read_to_string(dest).map_err(io("read", dest))?;
        let over = fs::read_to_string(src).map_err(io("read", src))?;
        let merge_err = |message: String| CopyError::Merge {
            from: op.from_text.clone(),
            path: rel.to_string(),
            message,
        };
        let parse = |t: &str| -> Result<Value, CopyError> {
            let docs = crate::kustomize::yaml::parse_documents(t)
                .map_err(|e| merge_err(format!("line {}: {}", e.line, e.message)))?;
            Ok(docs.into_iter().next().unwrap_or(Value::Null))
        };
        let mut merged = parse(&base)?;
        merge_values(&mut merged, parse(&over)?);
        fs::write(dest, crate::kustomize::to_yaml(&merged)).map_err(io("write", dest))?;
        return Ok(());
    }
    fs::copy(src, dest).map_err(io("copy to", dest))?;
    Ok(())
}

/// Helm's values merge: maps merge key by key, everything else (arrays included) is replaced.
pub fn merge_values(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_values(existing, v)
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) if !o.is_null() => *b = o,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, c) in files {
            let f = d.path().join(p);
            fs::create_dir_all(f.parent().unwrap()).unwrap();
            fs::write(f, c).unwrap();
        }
        d
    }

    fn op(from: &str, to: &str, strategy: Strategy, exclude: &[&str]) -> CopyOp {
        let (alias, pattern) = parse_from(from).unwrap();
        CopyOp {
            alias,
            pattern,
            to: parse_to(to).unwrap(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            strategy,
            from_text: from.into(),
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        walk(dir, "").unwrap().into_iter().map(|(r, _)| r).collect()
    }

    fn src() -> tempfile::TempDir {
        tree(&[
            ("configs/a.yaml", "a: 1"),
            ("configs/b.yaml", "b: 1"),
            ("configs/README.md", "x"),
            ("configs/sub/c.yaml", "c: 1"),
            ("configs/testdata/t.yaml", "t: 1"),
            ("config.yaml", "k: v"),
        ])
    }

    #[test]
    fn cp_like_semantics() {
        let s = src();
        let cases: Vec<(&str, &str, Vec<&str>, Vec<&str>)> = vec![
            (
                "@s/config.yaml",
                "@artifact/apps/app.yaml",
                vec![],
                vec!["apps/app.yaml"],
            ),
            (
                "@s/config.yaml",
                "@artifact/apps/",
                vec![],
                vec!["apps/config.yaml"],
            ),
            (
                "@s/configs/*.yaml",
                "@artifact/apps/",
                vec![],
                vec!["apps/a.yaml", "apps/b.yaml"],
            ),
            (
                "@s/configs/",
                "@artifact/apps/",
                vec![],
                vec![
                    "apps/configs/README.md",
                    "apps/configs/a.yaml",
                    "apps/configs/b.yaml",
                    "apps/configs/sub/c.yaml",
                    "apps/configs/testdata/t.yaml",
                ],
            ),
            (
                "@s/configs/**",
                "@artifact/apps/",
                vec!["*.md", "**/testdata/**"],
                vec!["apps/a.yaml", "apps/b.yaml", "apps/sub/c.yaml"],
            ),
            (
                "@s/configs/**/*.yaml",
                "@artifact/",
                vec!["testdata/**"],
                vec!["a.yaml", "b.yaml", "sub/c.yaml"],
            ),
        ];
        for (from, to, ex, want) in cases {
            let out = tempfile::tempdir().unwrap();
            apply(
                &op(from, to, Strategy::Overwrite, &ex),
                s.path(),
                out.path(),
                1 << 20,
            )
            .unwrap();
            assert_eq!(files(out.path()), want, "{from} → {to}");
        }
    }

    #[test]
    fn root_copies_contents_and_nothing_matched_is_an_error() {
        let s = tree(&[("Chart.yaml", "name: x"), ("templates/a.yaml", "a")]);
        let out = tempfile::tempdir().unwrap();
        apply(
            &op("@c/", "@artifact/", Strategy::Overwrite, &[]),
            s.path(),
            out.path(),
            1 << 20,
        )
        .unwrap();
        assert_eq!(files(out.path()), vec!["Chart.yaml", "templates/a.yaml"]);
        let e = apply(
            &op("@c/missing/**", "@artifact/", Strategy::Overwrite, &[]),
            s.path(),
            out.path(),
            1 << 20,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "copy from '@c/missing/**' matched no files");
    }

    #[test]
    fn merge_replaces_arrays_and_merges_maps() {
        let s = tree(&[("prod.yaml", "replicas: 3\nimage:\n  tag: v2\nlist: [z]\n")]);
        let out = tree(&[(
            "values.yaml",
            "replicas: 1\nimage:\n  repo: r\n  tag: v1\nlist: [a, b]\n",
        )]);
        apply(
            &op(
                "@g/prod.yaml",
                "@artifact/values.yaml",
                Strategy::Merge,
                &[],
            ),
            s.path(),
            out.path(),
            1 << 20,
        )
        .unwrap();
        let text = fs::read_to_string(out.path().join("values.yaml")).unwrap();
        let v = crate::kustomize::yaml::parse_documents(&text)
            .unwrap()
            .remove(0);
        assert_eq!(
            v,
            json!({"replicas": 3, "image": {"repo": "r", "tag": "v2"}, "list": ["z"]})
        );
    }

    #[test]
    fn bad_paths_are_refused() {
        assert!(parse_from("repo/x").is_err());
        assert!(parse_from("@repo/../x").is_err());
        assert!(parse_to("@artifact/../x").is_err());
        assert!(parse_to("/abs").is_err());
        assert_eq!(parse_to("@artifact/").unwrap(), "");
        assert!(Strategy::parse(Some("Append")).is_err());
    }

    #[test]
    fn extract_needs_a_tarball() {
        let s = src();
        let out = tempfile::tempdir().unwrap();
        let e = apply(
            &op("@s/config.yaml", "@artifact/", Strategy::Extract, &[]),
            s.path(),
            out.path(),
            1 << 20,
        )
        .unwrap_err();
        assert!(matches!(e, CopyError::NotTarball { .. }), "{e}");
    }
}
