//! Which files of a checkout go into an artifact: the VCS list, the default list, `.sourceignore`
//! files and `spec.ignore`, with the gitignore dialect Flux uses (go-git's matcher).
//!
//! Semantics, as Flux implements them (and which differ from git in places):
//! - patterns are checked last to first; the first that matches decides (last match wins);
//! - a pattern without `/` (other than a trailing one) matches any path component, so it also
//!   excludes everything below a matching directory;
//! - a pattern with a `/` is anchored to the directory of the file that declared it; `**` spans
//!   zero or more directories; matching a leading part of a path excludes the rest of it;
//! - a trailing `/` limits the pattern to directories (the contents of a matching directory are
//!   excluded, a file with that name is not);
//! - `!` re-includes, and unlike git it can re-include a file below an excluded directory;
//! - `.sourceignore` patterns only apply inside the directory holding the file.

use std::path::Path;

use thiserror::Error;

/// Always excluded, whatever the user says.
pub const VCS_PATTERNS: &[&str] = &[".git/", ".gitignore", ".gitmodules", ".gitattributes"];

/// Excluded unless the user provides any pattern of their own.
pub const DEFAULT_PATTERNS: &[&str] = &[
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// Name of the per-directory ignore file.
pub const IGNORE_FILE: &str = ".sourceignore";

/// Reading `.sourceignore` files failed.
#[derive(Debug, Error)]
pub enum ExclusionError {
    /// A directory or ignore file could not be read.
    #[error("reading ignore rules at {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Outcome of matching one pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchResult {
    /// The pattern does not apply.
    NoMatch,
    /// The pattern excludes the path.
    Exclude,
    /// The pattern re-includes the path (`!`).
    Include,
}

/// One gitignore line, scoped to a directory (`domain`, relative to the checkout root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnorePattern {
    domain: Vec<String>,
    parts: Vec<String>,
    inclusion: bool,
    dir_only: bool,
    is_glob: bool,
}

impl IgnorePattern {
    /// Parses one pattern line declared in directory `domain` (path components from the root).
    pub fn parse(line: &str, domain: &[String]) -> IgnorePattern {
        let mut p = line;
        let inclusion = p.starts_with('!');
        if inclusion {
            p = &p[1..];
        }
        if !p.ends_with("\\ ") {
            p = p.trim_end_matches(' ');
        }
        let dir_only = p.ends_with('/');
        if dir_only {
            p = &p[..p.len() - 1];
        }
        IgnorePattern {
            domain: domain.to_vec(),
            parts: p.split('/').map(str::to_string).collect(),
            inclusion,
            dir_only,
            is_glob: p.contains('/'),
        }
    }

    /// Matches a path given as components from the checkout root.
    pub fn matches(&self, path: &[&str], is_dir: bool) -> MatchResult {
        if path.len() <= self.domain.len() {
            return MatchResult::NoMatch;
        }
        if self.domain.iter().zip(path).any(|(d, p)| d != p) {
            return MatchResult::NoMatch;
        }
        let rest = &path[self.domain.len()..];
        let hit = if self.is_glob {
            self.glob_match(rest, is_dir)
        } else {
            self.simple_name_match(rest, is_dir)
        };
        match (hit, self.inclusion) {
            (false, _) => MatchResult::NoMatch,
            (true, true) => MatchResult::Include,
            (true, false) => MatchResult::Exclude,
        }
    }

    fn simple_name_match(&self, path: &[&str], is_dir: bool) -> bool {
        let pattern = self.parts.first().map(String::as_str).unwrap_or("");
        for (i, name) in path.iter().enumerate() {
            if !component_match(pattern, name) {
                continue;
            }
            if self.dir_only && !is_dir && i == path.len() - 1 {
                return false;
            }
            return true;
        }
        false
    }

    fn glob_match(&self, mut path: &[&str], is_dir: bool) -> bool {
        let mut matched = false;
        let mut can_traverse = false;
        for (i, pattern) in self.parts.iter().enumerate() {
            if pattern.is_empty() {
                can_traverse = false;
                continue;
            }
            if pattern == "**" {
                if i == self.parts.len() - 1 {
                    break;
                }
                can_traverse = true;
                continue;
            }
            if pattern.contains("**") {
                return false;
            }
            let Some((first, _)) = path.split_first() else {
                return false;
            };
            if can_traverse {
                can_traverse = false;
                while let Some((component, rest)) = path.split_first() {
                    path = rest;
                    if component_match(pattern, component) {
                        matched = true;
                        break;
                    } else if path.is_empty() {
                        matched = false;
                    }
                }
            } else {
                if !component_match(pattern, first) {
                    return false;
                }
                matched = true;
                path = &path[1..];
            }
        }
        if matched && self.dir_only && !is_dir && path.is_empty() {
            matched = false;
        }
        matched
    }
}

/// Reads pattern lines the way Flux does: `#` comments and blank lines skipped, `\r` stripped.
pub fn read_patterns(text: &str, domain: &[String]) -> Vec<IgnorePattern> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| IgnorePattern::parse(line, domain))
        .collect()
}

/// The effective exclusion rules for one checkout.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    patterns: Vec<IgnorePattern>,
}

impl Exclusions {
    /// Builds the rules from user patterns (`.sourceignore` contents then `spec.ignore`, in order).
    /// The default list applies only when `user` is empty; the VCS list always does.
    pub fn new(user: Vec<IgnorePattern>) -> Exclusions {
        let root: Vec<String> = Vec::new();
        let mut patterns: Vec<IgnorePattern> = VCS_PATTERNS
            .iter()
            .map(|p| IgnorePattern::parse(p, &root))
            .collect();
        if user.is_empty() {
            patterns.extend(
                DEFAULT_PATTERNS
                    .iter()
                    .map(|p| IgnorePattern::parse(p, &root)),
            );
        }
        patterns.extend(user);
        Exclusions { patterns }
    }

    /// Loads every `.sourceignore` under `root` (scoped to its directory, parents first, siblings
    /// by name), then appends `spec_ignore` lines scoped to the root.
    pub fn load(root: &Path, spec_ignore: Option<&str>) -> Result<Exclusions, ExclusionError> {
        let mut user = Vec::new();
        load_ignore_files(root, &mut Vec::new(), &mut user)?;
        if let Some(text) = spec_ignore {
            user.extend(read_patterns(text, &[]));
        }
        Ok(Exclusions::new(user))
    }

    /// True if `rel_path` (`/`-separated, relative to the root) is left out of the artifact.
    pub fn is_excluded(&self, rel_path: &str, is_dir: bool) -> bool {
        let components: Vec<&str> = rel_path.split('/').filter(|c| !c.is_empty()).collect();
        self.is_excluded_components(&components, is_dir)
    }

    /// Like [`Exclusions::is_excluded`] with the path already split.
    pub fn is_excluded_components(&self, path: &[&str], is_dir: bool) -> bool {
        for pattern in self.patterns.iter().rev() {
            match pattern.matches(path, is_dir) {
                MatchResult::NoMatch => continue,
                MatchResult::Exclude => return true,
                MatchResult::Include => return false,
            }
        }
        false
    }
}

fn load_ignore_files(
    dir: &Path,
    domain: &mut Vec<String>,
    out: &mut Vec<IgnorePattern>,
) -> Result<(), ExclusionError> {
    let file = dir.join(IGNORE_FILE);
    match std::fs::read(&file) {
        Ok(bytes) => out.extend(read_patterns(&String::from_utf8_lossy(&bytes), domain)),
        // A directory named `.sourceignore` or a missing file contributes nothing.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || file.is_dir() => {}
        Err(source) => {
            return Err(ExclusionError::Io {
                path: file.display().to_string(),
                source,
            });
        }
    }
    let io_err = |source| ExclusionError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        // file_type() does not follow symlinks, so linked directories are not descended (as in Flux).
        if entry.file_type().map_err(io_err)?.is_dir() && entry.file_name() != ".git" {
            entries.push(entry.file_name());
        }
    }
    entries.sort();
    for name in entries {
        domain.push(name.to_string_lossy().into_owned());
        let result = load_ignore_files(&dir.join(&name), domain, out);
        domain.pop();
        result?;
    }
    Ok(())
}

/// Go's `filepath.Match` for one path component (`*`, `?`, `[...]`, `[^...]`, `\` escapes).
/// A malformed pattern matches nothing, as in go-git.
pub fn component_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    go_match(&pattern, &name).unwrap_or(false)
}

struct BadPattern;

fn scan_chunk(mut pattern: &[char]) -> (bool, &[char], &[char]) {
    let mut star = false;
    while let Some(('*', rest)) = pattern.split_first() {
        pattern = rest;
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            '\\' if i + 1 < pattern.len() => i += 1,
            '[' => in_range = true,
            ']' => in_range = false,
            '*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

fn go_match(mut pattern: &[char], mut name: &[char]) -> Result<bool, BadPattern> {
    'outer: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(!name.contains(&'/'));
        }
        let attempt = match_chunk(chunk, name);
        if let Ok(Some(t)) = attempt
            && (t.is_empty() || !pattern.is_empty())
        {
            name = t;
            continue;
        }
        attempt?;
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != '/' {
                match match_chunk(chunk, &name[i + 1..]) {
                    Ok(Some(t)) => {
                        if pattern.is_empty() && !t.is_empty() {
                            i += 1;
                            continue;
                        }
                        name = t;
                        continue 'outer;
                    }
                    Ok(None) => {}
                    Err(e) => return Err(e),
                }
                i += 1;
            }
        }
        // Report syntax errors in the remainder, like Go does.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, &[])?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

fn get_esc(chunk: &[char]) -> Result<(char, &[char]), BadPattern> {
    let (&first, mut rest) = chunk.split_first().ok_or(BadPattern)?;
    if first == '-' || first == ']' {
        return Err(BadPattern);
    }
    let mut c = first;
    if c == '\\' {
        let (&escaped, r) = rest.split_first().ok_or(BadPattern)?;
        c = escaped;
        rest = r;
    }
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((c, rest))
}

fn match_chunk<'a>(
    mut chunk: &[char],
    mut s: &'a [char],
) -> Result<Option<&'a [char]>, BadPattern> {
    // Keep going after a mismatch so that syntax errors later in the chunk are still reported.
    let mut failed = false;
    while let Some((&c, rest)) = chunk.split_first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            '[' => {
                let mut r = '\0';
                if !failed {
                    r = s[0];
                    s = &s[1..];
                }
                chunk = rest;
                let mut negated = false;
                if let Some(('^', after)) = chunk.split_first() {
                    negated = true;
                    chunk = after;
                }
                let mut matched = false;
                let mut n = 0;
                loop {
                    if let Some((']', after)) = chunk.split_first()
                        && n > 0
                    {
                        chunk = after;
                        break;
                    }
                    let (lo, after) = get_esc(chunk)?;
                    chunk = after;
                    let mut hi = lo;
                    if let Some(('-', after)) = chunk.split_first() {
                        let (h, after) = get_esc(after)?;
                        hi = h;
                        chunk = after;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    n += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed {
                    if s[0] == '/' {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = rest;
            }
            '\\' => {
                let (&escaped, after) = rest.split_first().ok_or(BadPattern)?;
                if !failed {
                    if escaped != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = after;
            }
            _ => {
                if !failed {
                    if c != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = rest;
            }
        }
    }
    if failed { Ok(None) } else { Ok(Some(s)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    fn excluded(user: &[(&str, &[&str])], path: &str, is_dir: bool) -> bool {
        let patterns = user
            .iter()
            .map(|(line, domain)| IgnorePattern::parse(line, &dom(domain)))
            .collect();
        Exclusions::new(patterns).is_excluded(path, is_dir)
    }

    #[test]
    fn go_filepath_match() {
        assert!(component_match("*.yaml", "a.yaml"));
        assert!(!component_match("*.yaml", "a.yml"));
        assert!(component_match("a?c", "abc"));
        assert!(component_match("[a-c]x", "bx"));
        assert!(!component_match("[^a-c]x", "bx"));
        assert!(component_match("[^a-c]x", "dx"));
        assert!(component_match("\\*", "*"));
        assert!(!component_match("\\*", "a"));
        assert!(component_match("*", ""));
        assert!(component_match("**", "anything"));
        assert!(component_match("a*b*c", "aXbYc"));
        assert!(!component_match("a*b*c", "aXbY"));
        assert!(component_match("ü*", "über"));
        // Malformed patterns match nothing instead of failing.
        assert!(!component_match("[", "["));
        assert!(!component_match("[a-", "a"));
        assert!(!component_match("\\", "a"));
        assert!(!component_match("[]a]", "]"));
        assert!(!component_match("a[", "a"));
    }

    #[test]
    fn vcs_and_default_lists() {
        assert!(excluded(&[], ".git/config", false));
        assert!(excluded(&[], ".gitignore", false));
        assert!(excluded(&[], "sub/.gitattributes", false));
        assert!(excluded(&[], "img/logo.png", false));
        assert!(excluded(&[], ".github/workflows/ci.yaml", false));
        assert!(excluded(&[], "deep/dir/.sops.yaml", false));
        assert!(excluded(&[], ".sops.yaml", false));
        assert!(!excluded(&[], "deploy/app.yaml", false));
        // A user pattern drops the default list but never the VCS list.
        assert!(!excluded(
            &[("nothing-matches", &[])],
            "img/logo.png",
            false
        ));
        assert!(excluded(&[("nothing-matches", &[])], ".git/HEAD", false));
        assert!(excluded(&[("!.gitignore", &[])], ".git/HEAD", false));
    }

    #[test]
    fn dir_only_patterns() {
        // The directory itself is excluded only as a directory; its contents always.
        assert!(excluded(&[("build/", &[])], "build", true));
        assert!(!excluded(&[("build/", &[])], "build", false));
        assert!(excluded(&[("build/", &[])], "build/out.txt", false));
        assert!(excluded(&[("build/", &[])], "x/build/out.txt", false));
        assert!(excluded(&[("/a/b/", &[])], "a/b/c", false));
        assert!(!excluded(&[("/a/b/", &[])], "a/b", false));
    }

    #[test]
    fn anchoring_and_double_star() {
        assert!(excluded(&[("/top.yaml", &[])], "top.yaml", false));
        assert!(!excluded(&[("/top.yaml", &[])], "sub/top.yaml", false));
        assert!(excluded(&[("top.yaml", &[])], "sub/top.yaml", false));
        assert!(excluded(&[("a/b", &[])], "a/b", false));
        assert!(!excluded(&[("a/b", &[])], "x/a/b", false));
        assert!(excluded(&[("a/b", &[])], "a/b/c/d", false));
        assert!(excluded(&[("**/secret.yaml", &[])], "secret.yaml", false));
        assert!(excluded(
            &[("**/secret.yaml", &[])],
            "x/y/secret.yaml",
            false
        ));
        assert!(excluded(&[("a/**/z.txt", &[])], "a/z.txt", false));
        assert!(excluded(&[("a/**/z.txt", &[])], "a/b/c/z.txt", false));
        assert!(!excluded(&[("a/**/z.txt", &[])], "b/z.txt", false));
        assert!(excluded(&[("logs/**", &[])], "logs/x/y", false));
        assert!(!excluded(&[("a/x**y/b", &[])], "a/xzzy/b", false));
    }

    #[test]
    fn negation_and_last_match_wins() {
        let rules: &[(&str, &[&str])] = &[("*.yaml", &[]), ("!keep.yaml", &[])];
        assert!(excluded(rules, "drop.yaml", false));
        assert!(!excluded(rules, "keep.yaml", false));
        let reversed: &[(&str, &[&str])] = &[("!keep.yaml", &[]), ("*.yaml", &[])];
        assert!(excluded(reversed, "keep.yaml", false));
        // Unlike git, a file under an excluded directory can be re-included.
        let reinclude: &[(&str, &[&str])] = &[("dir/", &[]), ("!dir/keep.txt", &[])];
        assert!(!excluded(reinclude, "dir/keep.txt", false));
        assert!(excluded(reinclude, "dir/other.txt", false));
    }

    #[test]
    fn scoped_patterns_apply_only_below_their_directory() {
        let rules: &[(&str, &[&str])] = &[("*.txt", &["sub"])];
        assert!(excluded(rules, "sub/a.txt", false));
        assert!(excluded(rules, "sub/deeper/a.txt", false));
        assert!(!excluded(rules, "a.txt", false));
        assert!(!excluded(rules, "other/a.txt", false));
        assert!(!excluded(rules, "sub", true));
        let anchored: &[(&str, &[&str])] = &[("/only.txt", &["sub"])];
        assert!(excluded(anchored, "sub/only.txt", false));
        assert!(!excluded(anchored, "sub/x/only.txt", false));
    }

    #[test]
    fn line_reading() {
        let ps = read_patterns("# comment\n\n   \n*.txt\r\n!a.txt  \nb\\ \n", &[]);
        assert_eq!(ps.len(), 3);
        let ex = Exclusions::new(ps);
        assert!(ex.is_excluded("x.txt", false));
        assert!(!ex.is_excluded("a.txt", false));
        // An escaped trailing space is kept and matches a literal space.
        assert!(ex.is_excluded("b ", false));
        assert!(!ex.is_excluded("b", false));
    }

    #[test]
    fn load_reads_sourceignore_files_scoped_and_spec_ignore_last() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join("c")).unwrap();
        std::fs::write(root.join(".sourceignore"), "*.md\n").unwrap();
        std::fs::write(root.join("a/.sourceignore"), "*.yaml\n!keep.md\n").unwrap();
        let ex = Exclusions::load(root, Some("!c/readme.md\n")).unwrap();
        assert!(ex.is_excluded("README.md", false));
        assert!(!ex.is_excluded("a/keep.md", false));
        assert!(ex.is_excluded("a/b/x.yaml", false));
        assert!(!ex.is_excluded("c/x.yaml", false));
        assert!(!ex.is_excluded("c/readme.md", false));
        // User patterns exist, so the default list is gone.
        assert!(!ex.is_excluded("logo.png", false));
        assert!(ex.is_excluded(".git/HEAD", false));
        // Empty spec.ignore without files keeps the defaults.
        let empty = tempfile::tempdir().unwrap();
        let ex = Exclusions::load(empty.path(), Some("\n# only a comment\n")).unwrap();
        assert!(ex.is_excluded("logo.png", false));
    }
}
