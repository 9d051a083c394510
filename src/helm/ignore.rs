//! `.helmignore`: the rules Helm applies while loading a chart directory (only the top chart's file
//! counts, for every path below it, subcharts included), with Helm's exact matching: a rule without
//! `/` matches the base name, one with `/` the whole relative path, a leading `/` anchors, a trailing
//! `/` matches directories only, and a `!` rule ignores everything it does *not* match. The default
//! rule `templates/.?*` hides dot files in `templates/`.

use super::chart::glob_match;

/// One parsed rule.
#[derive(Debug, Clone)]
struct Rule {
    pattern: String,
    negate: bool,
    dir_only: bool,
    /// Matches the whole path rather than the base name.
    full_path: bool,
}

/// A parsed `.helmignore` plus Helm's default rule.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

/// A bad `.helmignore` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(".helmignore line {line}: {msg}")]
pub struct IgnoreError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

impl Rules {
    /// Parses a `.helmignore` text and adds Helm's default rule.
    pub fn parse(text: &str) -> Result<Rules, IgnoreError> {
        let mut r = Rules::default();
        for (i, line) in text.lines().enumerate() {
            r.add(line)
                .map_err(|msg| IgnoreError { line: i + 1, msg })?;
        }
        r.add_defaults();
        Ok(r)
    }

    /// Only Helm's default rule (a chart without `.helmignore`).
    pub fn defaults() -> Rules {
        let mut r = Rules::default();
        r.add_defaults();
        r
    }

    fn add_defaults(&mut self) {
        // Infallible: a fixed valid rule.
        let _ = self.add("templates/.?*");
    }

    fn add(&mut self, line: &str) -> Result<(), String> {
        let rule = line.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err("double-star (**) syntax is not supported".into());
        }
        if rule.matches('[').count() != rule.matches(']').count() {
            return Err("syntax error in pattern".into());
        }
        let (negate, rule) = match rule.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let (dir_only, rule) = match rule.strip_suffix('/') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let (full_path, pattern) = if let Some(r) = rule.strip_prefix('/') {
            (true, r.to_string())
        } else {
            (rule.contains('/'), rule.to_string())
        };
        self.rules.push(Rule {
            pattern,
            negate,
            dir_only,
            full_path,
        });
        Ok(())
    }

    /// Whether `path` (relative to the chart, `/`-separated) is ignored. An ignored directory is
    /// skipped whole.
    pub fn ignored(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        let base = path.rsplit('/').next().unwrap_or(path);
        for r in &self.rules {
            let subject = if r.full_path { path } else { base };
            if r.negate {
                // Helm's semantics: a negated rule ignores every non-match (and every file when
                // the rule names directories).
                if r.dir_only && !is_dir {
                    return true;
                }
                if !glob_match(&r.pattern, subject) {
                    return true;
                }
                continue;
            }
            if r.dir_only && !is_dir {
                continue;
            }
            if glob_match(&r.pattern, subject) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_matching_rules() {
        let r = Rules::parse("# comment\n*.txt\n/values-*.yaml\nignored/\nsub/*.md\n").expect("ok");
        assert!(r.ignored("a/b/notes.txt", false));
        assert!(r.ignored("values-prod.yaml", false));
        assert!(!r.ignored("x/values-prod.yaml", false));
        assert!(r.ignored("ignored", true));
        assert!(!r.ignored("ignored", false));
        assert!(r.ignored("sub/readme.md", false));
        assert!(!r.ignored("other/sub/readme.md", false));
        assert!(r.ignored("templates/.hidden.yaml", false));
        assert!(!r.ignored("templates/cm.yaml", false));
        let neg = Rules::parse("!*.yaml\n").expect("ok");
        assert!(neg.ignored("templates", true));
        assert!(!neg.ignored("Chart.yaml", false));
        assert_eq!(Rules::parse("a\n**/x\n").expect_err("double star").line, 2);
    }
}
