//! Post-build variable substitution (Flux `spec.postBuild`): bash-style `${…}` expressions expanded
//! in the YAML text of each object, which is then parsed again (so `replicas: ${n}` becomes an int).

use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;

use super::spec::{PostBuild, SubstituteReference, SubstituteStrategy};
use crate::kustomize::yaml::{parse_documents_yaml11, to_yaml};

/// Label or annotation that excludes an object from substitution when set to `disabled`.
pub const SUBSTITUTE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";
/// Flux's variable-name pattern (POSIX classes written out).
pub const VAR_NAME_PATTERN: &str = "^[_[:alpha:]][_[:alpha:][:digit:]]*$";
/// Deepest nesting of `${…}` expressions accepted.
const MAX_NESTING: usize = 64;

/// Why substitution failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    /// A `substituteFrom` source is missing (and not optional) or unreadable.
    #[error("substitute from '{kind}/{name}' error: {message}")]
    Source {
        /// `ConfigMap` or `Secret`.
        kind: String,
        /// Its name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// Substituting one object failed.
    #[error("post build failed for '{object}': {message}")]
    Object {
        /// The object's name.
        object: String,
        /// What failed (`envsubst error: …`, `YAMLToJSON: …`, invalid var name).
        message: String,
    },
}

/// Collects the variables of `post_build`: data keys of each `substituteFrom` entry in order (later
/// wins), then the inline `substitute` map (wins); newlines are stripped from every value.
/// `sources[i]` is the fetched object of `substitute_from[i]`, `None` when NotFound.
pub fn collect_variables(
    post_build: &PostBuild,
    sources: &[Option<&Value>],
) -> Result<BTreeMap<String, String>, SubstituteError> {
    let mut vars = BTreeMap::new();
    for (i, reference) in post_build.substitute_from.iter().enumerate() {
        match sources.get(i).copied().flatten() {
            None if reference.optional => {}
            None => {
                return Err(source_error(
                    reference,
                    format!(
                        "{}s \"{}\" not found",
                        reference.kind.to_lowercase(),
                        reference.name
                    ),
                ));
            }
            Some(obj) => read_source(reference, obj, &mut vars)?,
        }
    }
    for (k, v) in &post_build.substitute {
        vars.insert(k.clone(), v.replace('\n', ""));
    }
    Ok(vars)
}

fn source_error(reference: &SubstituteReference, message: String) -> SubstituteError {
    SubstituteError::Source {
        kind: reference.kind.clone(),
        name: reference.name.clone(),
        message,
    }
}

fn read_source(
    reference: &SubstituteReference,
    obj: &Value,
    vars: &mut BTreeMap<String, String>,
) -> Result<(), SubstituteError> {
    let Some(data) = obj.get("data").and_then(Value::as_object) else {
        return Ok(());
    };
    for (k, v) in data {
        let Some(text) = v.as_str() else {
            return Err(source_error(
                reference,
                format!("data key {k:?} is not a string"),
            ));
        };
        let value = if reference.kind == "Secret" {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| source_error(reference, format!("data key {k:?}: {e}")))?;
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            text.to_string()
        };
        vars.insert(k.clone(), value.replace('\n', ""));
    }
    Ok(())
}

/// Whether a variable name is valid (`^[_[:alpha:]][_[:alpha:][:digit:]]*$`).
pub fn valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Whether an object opts out with `kustomize.toolkit.fluxcd.io/substitute: disabled`.
pub fn substitution_disabled(obj: &Value) -> bool {
    let md = obj.get("metadata");
    ["labels", "annotations"].iter().any(|k| {
        md.and_then(|m| m.get(*k))
            .and_then(|m| m.get(SUBSTITUTE_KEY))
            .and_then(Value::as_str)
            == Some("disabled")
    })
}

/// Substitutes every object per `post_build` with already-collected `vars`. `strict` is the
/// `StrictPostBuildSubstitutions` gate (on by default in current Flux).
pub fn substitute_all(
    objects: Vec<Value>,
    post_build: Option<&PostBuild>,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<Vec<Value>, SubstituteError> {
    let Some(pb) = post_build else {
        return Ok(objects);
    };
    if vars.is_empty() && pb.strategy == SubstituteStrategy::WithVariables {
        return Ok(objects);
    }
    objects
        .into_iter()
        .map(|o| {
            if substitution_disabled(&o) {
                Ok(o)
            } else {
                substitute_object(&o, vars, strict)
            }
        })
        .collect()
}

/// Substitutes one object: YAML text → `${…}` expansion → YAML (1.1 booleans, as sigs.k8s.io/yaml).
pub fn substitute_object(
    obj: &Value,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<Value, SubstituteError> {
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let fail = |message: String| SubstituteError::Object {
        object: name.clone(),
        message,
    };
    if let Some(bad) = vars.keys().find(|k| !valid_var_name(k)) {
        return Err(fail(format!(
            "envsubst error: '{bad}' var name is invalid, must match '{VAR_NAME_PATTERN}'"
        )));
    }
    let text = to_yaml(obj);
    let out = expand(&text, |k| vars.get(k).cloned(), strict)
        .map_err(|e| fail(format!("envsubst error: variable substitution failed: {e}")))?;
    let docs = parse_documents_yaml11(&out)
        .map_err(|e| fail(format!("YAMLToJSON: yaml: line {}: {}", e.line, e.message)))?;
    match docs.into_iter().next() {
        Some(v @ Value::Object(_)) => Ok(v),
        _ => Err(fail(
            "YAMLToJSON: substituted text is not a Kubernetes object".into(),
        )),
    }
}

/// Why an expansion failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// An unset variable outside a default operator, in strict mode.
    #[error("variable not set (strict mode): {0:?}")]
    NotSet(String),
    /// Malformed `${…}` expression.
    #[error("bad substitution: {0}")]
    Bad(String),
    /// A `${` without its `}`.
    #[error("missing closing brace")]
    Unterminated,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Expr(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
struct Expr {
    name: String,
    op: Op,
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Plain,
    Length,
    UpperFirst,
    UpperAll,
    LowerFirst,
    LowerAll,
    Substring(Vec<Node>, Option<Vec<Node>>),
    TrimPrefix {
        longest: bool,
        pattern: Vec<Node>,
    },
    TrimSuffix {
        longest: bool,
        pattern: Vec<Node>,
    },
    Default(Vec<Node>),
    Replace {
        mode: ReplaceMode,
        pattern: Vec<Node>,
        with: Vec<Node>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ReplaceMode {
    First,
    All,
    Prefix,
    Suffix,
}

/// Expands `${…}` expressions in `text` (Flux's envsubst): `$${` is an escape for `${`, `$var` is
/// left alone. `lookup` returns None for unset variables.
pub fn expand(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    strict: bool,
) -> Result<String, ExpandError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
    };
    let nodes = p.nodes(&[])?;
    let mut out = String::with_capacity(text.len());
    eval_nodes(&nodes, &lookup, strict, &mut out)?;
    Ok(out)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }

    /// Reads nodes until an unconsumed `stop` character at this level (or end of input when
    /// `stop` is empty).
    fn nodes(&mut self, stop: &[char]) -> Result<Vec<Node>, ExpandError> {
        let mut out = Vec::new();
        let mut text = String::new();
        loop {
            let Some(c) = self.peek(0) else {
                if !stop.is_empty() {
                    return Err(ExpandError::Unterminated);
                }
                break;
            };
            if stop.contains(&c) {
                break;
            }
            if c == '$' && self.peek(1) == Some('$') && self.peek(2) == Some('{') {
                text.push('$');
                self.pos += 2;
                // The `{` and what follows are plain text; copy up to the matching `}`.
                continue;
            }
            if c == '$' && self.peek(1) == Some('{') {
                self.pos += 2;
                if !text.is_empty() {
                    out.push(Node::Text(std::mem::take(&mut text)));
                }
                out.push(Node::Expr(Box::new(self.expr()?)));
                continue;
            }
            text.push(c);
            self.pos += 1;
        }
        if !text.is_empty() {
            out.push(Node::Text(text));
        }
        Ok(out)
    }

    fn expect_close(&mut self) -> Result<(), ExpandError> {
        match self.peek(0) {
            Some('}') => {
                self.pos += 1;
                Ok(())
            }
            None => Err(ExpandError::Unterminated),
            Some(c) => Err(ExpandError::Bad(format!("unexpected {c:?}"))),
        }
    }

    fn arg(&mut self, stop: &[char]) -> Result<Vec<Node>, ExpandError> {
        self.nodes(stop)
    }

    /// Parses after `${`, consuming the closing `}`.
    fn expr(&mut self) -> Result<Expr, ExpandError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(ExpandError::Bad("expressions nested too deeply".into()));
        }
        let length = self.peek(0) == Some('#');
        if length {
            self.pos += 1;
        }
        let start = self.pos;
        while self
            .peek(0)
            .is_some_and(|c| c == '_' || c.is_ascii_alphanumeric())
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        if name.is_empty() {
            return match self.peek(0) {
                None => Err(ExpandError::Unterminated),
                Some(_) => Err(ExpandError::Bad("missing variable name".into())),
            };
        }
        let op = if length {
            self.expect_close()?;
            Op::Length
        } else {
            self.op()?
        };
        self.depth -= 1;
        Ok(Expr { name, op })
    }

    fn op(&mut self) -> Result<Op, ExpandError> {
        let Some(c) = self.peek(0) else {
            return Err(ExpandError::Unterminated);
        };
        let doubled = self.peek(1) == Some(c);
        let op = match c {
            '}' => {
                self.pos += 1;
                return Ok(Op::Plain);
            }
            '^' | ',' => {
                self.pos += if doubled { 2 } else { 1 };
                self.expect_close()?;
                return Ok(match (c, doubled) {
                    ('^', true) => Op::UpperAll,
                    ('^', false) => Op::UpperFirst,
                    (_, true) => Op::LowerAll,
                    _ => Op::LowerFirst,
                });
            }
            '#' | '%' => {
                self.pos += if doubled { 2 } else { 1 };
                let pattern = self.arg(&['}'])?;
                if c == '#' {
                    Op::TrimPrefix {
                        longest: doubled,
                        pattern,
                    }
                } else {
                    Op::TrimSuffix {
                        longest: doubled,
                        pattern,
                    }
                }
            }
            '/' => {
                self.pos += 1;
                let mode = match self.peek(0) {
                    Some('/') => ReplaceMode::All,
                    Some('#') => ReplaceMode::Prefix,
                    Some('%') => ReplaceMode::Suffix,
                    _ => ReplaceMode::First,
                };
                if mode != ReplaceMode::First {
                    self.pos += 1;
                }
                let pattern = self.arg(&['/', '}'])?;
                let with = if self.peek(0) == Some('/') {
                    self.pos += 1;
                    self.arg(&['}'])?
                } else {
                    Vec::new()
                };
                Op::Replace {
                    mode,
                    pattern,
                    with,
                }
            }
            ':' if matches!(self.peek(1), Some('-') | Some('=')) => {
                self.pos += 2;
                Op::Default(self.arg(&['}'])?)
            }
            '-' | '=' => {
                self.pos += 1;
                Op::Default(self.arg(&['}'])?)
            }
            ':' => {
                self.pos += 1;
                let offset = self.arg(&[':', '}'])?;
                let len = if self.peek(0) == Some(':') {
                    self.pos += 1;
                    Some(self.arg(&['}'])?)
                } else {
                    None
                };
                Op::Substring(offset, len)
            }
            other => return Err(ExpandError::Bad(format!("unexpected {other:?}"))),
        };
        self.expect_close()?;
        Ok(op)
    }
}

fn eval_nodes(
    nodes: &[Node],
    lookup: &impl Fn(&str) -> Option<String>,
    strict: bool,
    out: &mut String,
) -> Result<(), ExpandError> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Expr(e) => out.push_str(&eval_expr(e, lookup, strict)?),
        }
    }
    Ok(())
}

fn eval_arg(
    nodes: &[Node],
    lookup: &impl Fn(&str) -> Option<String>,
    strict: bool,
) -> Result<String, ExpandError> {
    let mut s = String::new();
    eval_nodes(nodes, lookup, strict, &mut s)?;
    Ok(s)
}

fn eval_expr(
    e: &Expr,
    lookup: &impl Fn(&str) -> Option<String>,
    strict: bool,
) -> Result<String, ExpandError> {
    let value = lookup(&e.name);
    if let Op::Default(arg) = &e.op {
        return match value {
            Some(v) if !v.is_empty() => Ok(v),
            _ => eval_arg(arg, lookup, strict),
        };
    }
    let v = match value {
        Some(v) => v,
        None if strict => return Err(ExpandError::NotSet(e.name.clone())),
        None => String::new(),
    };
    let arg = |nodes: &[Node]| eval_arg(nodes, lookup, strict);
    Ok(match &e.op {
        Op::Plain | Op::Default(_) => v,
        Op::Length => v.chars().count().to_string(),
        Op::UpperFirst => map_first(&v, |c| c.to_uppercase().collect()),
        Op::LowerFirst => map_first(&v, |c| c.to_lowercase().collect()),
        Op::UpperAll => v.to_uppercase(),
        Op::LowerAll => v.to_lowercase(),
        Op::Substring(offset, len) => {
            let chars: Vec<char> = v.chars().collect();
            let offset = arg(offset)?.trim().parse::<i64>().unwrap_or(0);
            let start = if offset < 0 {
                chars.len().saturating_sub(offset.unsigned_abs() as usize)
            } else {
                (offset as usize).min(chars.len())
            };
            let end = match len {
                None => chars.len(),
                Some(l) => {
                    let l = arg(l)?.trim().parse::<i64>().unwrap_or(0).max(0) as usize;
                    start.saturating_add(l).min(chars.len())
                }
            };
            chars[start..end].iter().collect()
        }
        Op::TrimPrefix { longest, pattern } => trim_prefix(&v, &arg(pattern)?, *longest),
        Op::TrimSuffix { longest, pattern } => trim_suffix(&v, &arg(pattern)?, *longest),
        Op::Replace {
            mode,
            pattern,
            with,
        } => replace(&v, &arg(pattern)?, &arg(with)?, *mode),
    })
}

fn map_first(s: &str, f: impl Fn(char) -> String) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => f(c) + chars.as_str(),
        None => String::new(),
    }
}

/// Boundaries of `s` at char starts, including `s.len()`.
fn boundaries(s: &str) -> Vec<usize> {
    s.char_indices().map(|(i, _)| i).chain([s.len()]).collect()
}

fn trim_prefix(s: &str, pattern: &str, longest: bool) -> String {
    // Non-empty prefixes, longest first; `#` keeps the shortest match, `##` the longest.
    let ends: Vec<usize> = boundaries(s).into_iter().filter(|&e| e > 0).rev().collect();
    let mut found = None;
    for e in ends {
        if glob_match(pattern, &s[..e]) {
            found = Some(e);
            if longest {
                break;
            }
        }
    }
    match found {
        Some(e) => s[e..].to_string(),
        None => s.to_string(),
    }
}

fn trim_suffix(s: &str, pattern: &str, longest: bool) -> String {
    let starts: Vec<usize> = boundaries(s).into_iter().filter(|&b| b < s.len()).collect();
    let mut found = None;
    for b in starts {
        if glob_match(pattern, &s[b..]) {
            found = Some(b);
            if longest {
                break;
            }
        }
    }
    match found {
        Some(b) => s[..b].to_string(),
        None => s.to_string(),
    }
}

fn replace(s: &str, pattern: &str, with: &str, mode: ReplaceMode) -> String {
    match mode {
        ReplaceMode::First => s.replacen(pattern, with, 1),
        ReplaceMode::All if pattern.is_empty() => {
            // Go's strings.Replace with an empty pattern inserts around every char.
            let mut out = String::from(with);
            for c in s.chars() {
                out.push(c);
                out.push_str(with);
            }
            out
        }
        ReplaceMode::All => s.replace(pattern, with),
        ReplaceMode::Prefix => match s.strip_prefix(pattern) {
            Some(rest) => format!("{with}{rest}"),
            None => s.to_string(),
        },
        ReplaceMode::Suffix => match s.strip_suffix(pattern) {
            Some(rest) => format!("{rest}{with}"),
            None => s.to_string(),
        },
    }
}

/// Go `path.Match` glob: `*` and `?` never match `/`; `[…]` classes with ranges and `^`; `\` escapes.
fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    let Some((&first, rest)) = p.split_first() else {
        return n.is_empty();
    };
    match first {
        '*' => (0..=n.len())
            .take_while(|&i| i == 0 || n[i - 1] != '/')
            .any(|i| glob_at(rest, &n[i..])),
        '?' => n.first().is_some_and(|&c| c != '/') && glob_at(rest, &n[1..]),
        '[' => {
            let Some((&c, n_rest)) = n.split_first() else {
                return false;
            };
            let Some(close) = rest.iter().position(|&x| x == ']') else {
                return false;
            };
            let class = &rest[..close];
            let (negate, class) = match class.split_first() {
                Some(('^', r)) => (true, r),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob_at(&rest[close + 1..], n_rest)
        }
        '\\' => match rest.split_first() {
            Some((&lit, r)) => n.first() == Some(&lit) && glob_at(r, &n[1..]),
            None => false,
        },
        lit => n.first() == Some(&lit) && glob_at(rest, &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ex(text: &str, v: &[(&str, &str)], strict: bool) -> Result<String, ExpandError> {
        let m = vars(v);
        expand(text, |k| m.get(k).cloned(), strict)
    }

    #[test]
    fn basic_forms() {
        // Patterns are Go path.Match globs: `*` never crosses `/`.
        let v = [
            ("name", "podinfo"),
            ("empty", ""),
            ("path", "a/b/c.tar.gz"),
            ("file", "c.tar.gz"),
        ];
        let cases = [
            ("${name}", "podinfo"),
            ("x-${name}-y", "x-podinfo-y"),
            ("$name", "$name"),
            ("$${name}", "${name}"),
            ("$$name", "$$name"),
            ("${#name}", "7"),
            ("${name^}", "Podinfo"),
            ("${name^^}", "PODINFO"),
            ("${name,}", "podinfo"),
            ("${name:3}", "info"),
            ("${name:0:3}", "pod"),
            ("${name:3:100}", "info"),
            ("${path#*/}", "b/c.tar.gz"),
            ("${path##*.}", "a/b/c.tar.gz"),
            ("${file##*.}", "gz"),
            ("${file#*.}", "tar.gz"),
            ("${path%.*}", "a/b/c.tar"),
            ("${path%%.*}", "a/b/c"),
            ("${name/o/0}", "p0dinfo"),
            ("${name//o/0}", "p0dinf0"),
            ("${name/#pod/svc}", "svcinfo"),
            ("${name/%info/x}", "podx"),
            ("${name/%nope/x}", "podinfo"),
            ("${unset:-def}", "def"),
            ("${unset:=def}", "def"),
            ("${unset-def}", "def"),
            ("${empty:-def}", "def"),
            ("${empty:=def}", "def"),
            ("${name:-def}", "podinfo"),
            ("${unset:=${name}-x}", "podinfo-x"),
            ("${unset:=${also:-deep}}", "deep"),
            ("${empty}", ""),
        ];
        for (t, want) in cases {
            assert_eq!(ex(t, &v, true).unwrap(), want, "{t}");
        }
    }

    #[test]
    fn strict_mode_fails_only_outside_defaults() {
        assert_eq!(
            ex("${missing}", &[], true).unwrap_err().to_string(),
            "variable not set (strict mode): \"missing\""
        );
        assert!(ex("${missing^^}", &[], true).is_err());
        assert_eq!(ex("${missing}", &[], false).unwrap(), "");
        assert_eq!(ex("${missing:-ok}", &[], true).unwrap(), "ok");
    }

    #[test]
    fn malformed_expressions_error() {
        for t in ["${", "${name", "${}", "${ name }", "${name:-x", "${name!}"] {
            assert!(ex(t, &[("name", "v")], false).is_err(), "{t}");
        }
        let deep = "${a:-".repeat(500) + &"}".repeat(500);
        assert!(ex(&deep, &[], false).is_err());
    }

    #[test]
    fn var_names_validated() {
        for ok in ["a", "_x", "CLUSTER_NAME", "a1"] {
            assert!(valid_var_name(ok));
        }
        for bad in ["", "1a", "a-b", "a.b", "ä"] {
            assert!(!valid_var_name(bad), "{bad}");
        }
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let err = substitute_object(&obj, &vars(&[("bad-name", "x")]), true).unwrap_err();
        assert!(
            err.to_string().contains("'bad-name' var name is invalid"),
            "{err}"
        );
    }

    #[test]
    fn types_change_after_reparse() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"env": "${env}"}},
            "spec": {"replicas": "${replicas}", "paused": "${paused}", "q": "\"${replicas}\""}});
        let out = substitute_object(
            &obj,
            &vars(&[("env", "prod"), ("replicas", "3"), ("paused", "yes")]),
            true,
        )
        .unwrap();
        assert_eq!(out["spec"]["replicas"], json!(3));
        assert_eq!(out["spec"]["paused"], json!(true));
        assert_eq!(out["metadata"]["labels"]["env"], json!("prod"));
    }

    #[test]
    fn substitution_breaking_yaml_is_an_error() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"k": "${v}"}});
        let err = substitute_object(&obj, &vars(&[("v", "[unclosed")]), true).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("post build failed for 'c': YAMLToJSON"),
            "{err}"
        );
    }

    #[test]
    fn precedence_and_newlines() {
        let pb = PostBuild {
            substitute: vars(&[("a", "inline\n")]),
            substitute_from: vec![
                SubstituteReference {
                    kind: "ConfigMap".into(),
                    name: "one".into(),
                    optional: false,
                },
                SubstituteReference {
                    kind: "Secret".into(),
                    name: "two".into(),
                    optional: false,
                },
                SubstituteReference {
                    kind: "ConfigMap".into(),
                    name: "opt".into(),
                    optional: true,
                },
            ],
            strategy: SubstituteStrategy::WithVariables,
        };
        let cm = json!({"data": {"a": "cm", "b": "cm", "c": "multi\nline"}});
        // "secret-b" base64
        let secret = json!({"data": {"b": "c2VjcmV0LWI="}});
        let v = collect_variables(&pb, &[Some(&cm), Some(&secret), None]).unwrap();
        assert_eq!(v["a"], "inline");
        assert_eq!(v["b"], "secret-b");
        assert_eq!(v["c"], "multiline");
        let err = collect_variables(&pb, &[None, Some(&secret), None]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "substitute from 'ConfigMap/one' error: configmaps \"one\" not found"
        );
        let bad_secret = json!({"data": {"b": "!!"}});
        assert!(collect_variables(&pb, &[Some(&cm), Some(&bad_secret), None]).is_err());
    }

    #[test]
    fn strategy_and_opt_out() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"k": "$${literal} ${x:=d}"}});
        let mut off = cm.clone();
        off["metadata"]["annotations"] = json!({SUBSTITUTE_KEY: "disabled"});
        let with_vars = PostBuild::default();
        let none = BTreeMap::new();
        // No variables and WithVariables: untouched.
        let out = substitute_all(vec![cm.clone()], Some(&with_vars), &none, true).unwrap();
        assert_eq!(out[0], cm);
        let always = PostBuild {
            strategy: SubstituteStrategy::Always,
            ..PostBuild::default()
        };
        let out =
            substitute_all(vec![cm.clone(), off.clone()], Some(&always), &none, true).unwrap();
        assert_eq!(out[0]["data"]["k"], "${literal} d");
        assert_eq!(out[1], off);
        assert_eq!(
            substitute_all(vec![cm.clone()], None, &vars(&[("x", "1")]), true).unwrap()[0],
            cm
        );
    }

    #[test]
    fn globs_follow_go_path_match() {
        assert!(glob_match("a*c", "abc"));
        assert!(!glob_match("a*c", "a/c"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("[abc", "a"));
    }
}
