//! `replacements`: copy a field of one object into fields of others.

use super::files::Entry;
use super::resource::{Resource, split_api_version};
use super::selector::{metadata_selected, parse_optional};
use super::target::{Accumulated, Builder, Loaded};
use super::{BuildError, yaml};
use crate::model::selector::LabelSelector;
use serde_json::{Map, Value};

/// One step of a dotted field path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Map key.
    Key(String),
    /// List index.
    Index(usize),
    /// List element whose `field` equals `value`.
    Match(String, String),
    /// Every element.
    All,
}

/// Parses `spec.containers.[name=app].image` (brackets may hold dots).
pub fn parse_path(path: &str) -> Vec<Step> {
    let mut raw = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => {
                if depth == 0 && !cur.is_empty() {
                    raw.push(std::mem::take(&mut cur));
                }
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
                if depth == 0 {
                    raw.push(std::mem::take(&mut cur));
                }
            }
            '.' if depth == 0 => {
                if !cur.is_empty() {
                    raw.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        raw.push(cur);
    }
    raw.into_iter()
        .map(|s| {
            if let Some(inner) = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
                match inner.split_once('=') {
                    Some((k, v)) => Step::Match(k.to_string(), v.to_string()),
                    None => match inner.parse::<usize>() {
                        Ok(i) => Step::Index(i),
                        Err(_) => Step::Key(inner.to_string()),
                    },
                }
            } else if s == "*" {
                Step::All
            } else if let Ok(i) = s.parse::<usize>() {
                Step::Index(i)
            } else {
                Step::Key(s)
            }
        })
        .collect()
}

/// Reads the value at a path (first match).
pub fn get_path<'a>(v: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    let Some((first, rest)) = steps.split_first() else {
        return Some(v);
    };
    match (first, v) {
        (Step::Key(k), Value::Object(m)) => get_path(m.get(k)?, rest),
        (Step::Index(i), Value::Array(a)) => get_path(a.get(*i)?, rest),
        (Step::Match(k, val), Value::Array(a)) => a
            .iter()
            .find(|e| e.get(k).map(scalar_text).as_deref() == Some(val.as_str()))
            .and_then(|e| get_path(e, rest)),
        (Step::All, Value::Array(a)) => a.iter().find_map(|e| get_path(e, rest)),
        _ => None,
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Sets every value at a path; returns how many were set.
fn set_path(
    v: &mut Value,
    steps: &[Step],
    create: bool,
    f: &mut dyn FnMut(&mut Value, bool) -> Result<(), String>,
) -> Result<usize, String> {
    let Some((first, rest)) = steps.split_first() else {
        f(v, false)?;
        return Ok(1);
    };
    match (first, v) {
        (Step::Key(k), Value::Object(m)) => {
            if !m.contains_key(k) {
                if !create {
                    return Ok(0);
                }
                if rest.is_empty() {
                    let mut fresh = Value::Null;
                    f(&mut fresh, true)?;
                    m.insert(k.clone(), fresh);
                    return Ok(1);
                }
                let fresh = match rest.first() {
                    Some(Step::Index(_) | Step::Match(..) | Step::All) => Value::Array(Vec::new()),
                    _ => Value::Object(Map::new()),
                };
                m.insert(k.clone(), fresh);
            }
            match m.get_mut(k) {
                Some(next) => set_path(next, rest, create, f),
                None => Ok(0),
            }
        }
        (Step::Index(i), Value::Array(a)) => match a.get_mut(*i) {
            Some(next) => set_path(next, rest, create, f),
            None => Ok(0),
        },
        (Step::Match(k, val), Value::Array(a)) => {
            let mut n = 0;
            let mut found = false;
            for e in a.iter_mut() {
                if e.get(k).map(scalar_text).as_deref() == Some(val.as_str()) {
                    found = true;
                    n += set_path(e, rest, create, f)?;
                }
            }
            if !found && create {
                let mut m = Map::new();
                m.insert(k.clone(), Value::String(val.clone()));
                let mut e = Value::Object(m);
                n += set_path(&mut e, rest, create, f)?;
                a.push(e);
            }
            Ok(n)
        }
        (Step::All, Value::Array(a)) => {
            let mut n = 0;
            for e in a.iter_mut() {
                n += set_path(e, rest, create, f)?;
            }
            Ok(n)
        }
        _ => Ok(0),
    }
}

/// A replacement source or target selector (exact matches, as in kustomize 5.5).
#[derive(Debug, Default, Clone)]
struct ResSelector {
    group: String,
    version: String,
    kind: String,
    name: String,
    namespace: String,
    labels: Option<LabelSelector>,
    annotations: Option<LabelSelector>,
}

fn s(m: &Map<String, Value>, k: &str) -> String {
    m.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

fn res_selector(v: &Value) -> Result<ResSelector, String> {
    let Value::Object(m) = v else {
        return Err("replacement selector must be a mapping".into());
    };
    let (mut group, mut version) = (s(m, "group"), s(m, "version"));
    if let Some(av) = m.get("apiVersion").and_then(Value::as_str) {
        (group, version) = split_api_version(av);
    }
    Ok(ResSelector {
        group,
        version,
        kind: s(m, "kind"),
        name: s(m, "name"),
        namespace: s(m, "namespace"),
        labels: parse_optional(&s(m, "labelSelector"))?,
        annotations: parse_optional(&s(m, "annotationSelector"))?,
    })
}

impl ResSelector {
    fn selects(&self, r: &Resource) -> bool {
        let ok_id = |id: &super::resource::ResId| {
            let e = |sel: &str, v: &str| sel.is_empty() || sel == v;
            e(&self.group, &id.group)
                && e(&self.version, &id.version)
                && e(&self.kind, &id.kind)
                && e(&self.name, &id.name)
                && (self.namespace.is_empty()
                    || self.namespace == id.effective_namespace()
                    || self.namespace == id.namespace)
        };
        metadata_selected(self.labels.as_ref(), self.annotations.as_ref(), r)
            && (ok_id(&r.id()) || ok_id(&r.orig_id()))
    }
}

fn opts(v: Option<&Value>) -> (String, i64, bool) {
    let Some(Value::Object(m)) = v else {
        return (String::new(), 0, false);
    };
    (
        s(m, "delimiter"),
        m.get("index").and_then(Value::as_i64).unwrap_or(0),
        m.get("create").and_then(Value::as_bool).unwrap_or(false),
    )
}

/// Runs one replacement (a mapping with `source` and `targets`).
fn run_one(list: &mut [Resource], rep: &Value) -> Result<(), String> {
    let Value::Object(m) = rep else {
        return Err("a replacement must be a mapping".into());
    };
    for k in m.keys() {
        if !matches!(k.as_str(), "source" | "targets" | "path") {
            return Err(format!("json: unknown field \"{k}\""));
        }
    }
    let src_v = m.get("source").ok_or("replacement has no source")?;
    let src_sel = res_selector(src_v)?;
    let field_path = src_v
        .get("fieldPath")
        .and_then(Value::as_str)
        .unwrap_or("metadata.name");
    let (delim, index, _) = opts(src_v.get("options"));
    let matches: Vec<&Resource> = list.iter().filter(|r| src_sel.selects(r)).collect();
    let source = match matches.as_slice() {
        [one] => *one,
        [] => return Err(format!("nothing selected by source {}", src_v)),
        _ => return Err(format!("multiple matches for selector {}", src_v)),
    };
    let mut value = get_path(&source.obj, &parse_path(field_path))
        .cloned()
        .ok_or_else(|| {
            format!(
                "fieldPath `{field_path}` is missing for replacement source {}",
                source.id().describe()
            )
        })?;
    if !delim.is_empty() {
        let text = scalar_text(&value);
        let parts: Vec<&str> = text.split(delim.as_str()).collect();
        let part = usize::try_from(index)
            .ok()
            .and_then(|i| parts.get(i))
            .ok_or_else(|| format!("options.index {index} is out of bounds for value {text}"))?;
        value = Value::String(part.to_string());
    }
    let targets = match m.get("targets") {
        Some(Value::Array(t)) => t.clone(),
        _ => Vec::new(),
    };
    for t in &targets {
        let sel = res_selector(t.get("select").unwrap_or(&Value::Null))?;
        let rejects: Vec<ResSelector> = match t.get("reject") {
            Some(Value::Array(r)) => r.iter().map(res_selector).collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        let (tdelim, tindex, create) = opts(t.get("options"));
        let paths: Vec<String> = match t.get("fieldPaths") {
            Some(Value::Array(p)) => p
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => vec!["metadata.name".to_string()],
        };
        for r in list.iter_mut() {
            if !sel.selects(r) || rejects.iter().any(|x| x.selects(r)) {
                continue;
            }
            for p in &paths {
                let steps = parse_path(p);
                let in_metadata_map = matches!(steps.as_slice(), [Step::Key(a), Step::Key(b), ..] if a == "metadata" && (b == "labels" || b == "annotations"));
                let id = r.id().describe();
                let n = set_path(&mut r.obj, &steps, create, &mut |slot, created| {
                    let existing_string = matches!(slot, Value::String(_));
                    let new = if !tdelim.is_empty() {
                        let cur = scalar_text(slot);
                        let mut parts: Vec<String> =
                            cur.split(tdelim.as_str()).map(str::to_string).collect();
                        let i = usize::try_from(tindex)
                            .map_err(|_| format!("options.index {tindex} is negative"))?;
                        if i >= parts.len() {
                            return Err(format!(
                                "options.index {tindex} is out of bounds for value {cur}"
                            ));
                        }
                        parts[i] = scalar_text(&value);
                        Value::String(parts.join(&tdelim))
                    } else {
                        match &value {
                            Value::String(text)
                                if (created || !existing_string)
                                    && !in_metadata_map
                                    && !text.is_empty() =>
                            {
                                yaml::resolve_plain(text)
                                    .unwrap_or_else(|_| Value::String(text.clone()))
                            }
                            other => other.clone(),
                        }
                    };
                    *slot = new;
                    Ok(())
                })?;
                if n == 0 && !create {
                    return Err(format!(
                        "unable to find field \"{p}\" in replacement target {id}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Runs this kustomization's `replacements`.
pub fn run(b: &mut Builder<'_>, l: &Loaded, acc: &mut Accumulated) -> Result<(), BuildError> {
    run_list(b, l, acc, &l.kust.replacements)
}

/// Runs a list of replacement entries (inline or `{path: file}`).
pub fn run_list(
    b: &Builder<'_>,
    l: &Loaded,
    acc: &mut Accumulated,
    entries: &[Value],
) -> Result<(), BuildError> {
    let file = b.fs.display(&l.file);
    for e in entries {
        if let Some(path) = e.get("path").and_then(Value::as_str) {
            let p = match b.fs.resolve(&l.dir, path, &l.file)? {
                Entry::File(p) => p,
                Entry::Dir(p) => {
                    return Err(BuildError::Build {
                        file,
                        message: format!("replacement {} is a directory", p.display()),
                    });
                }
            };
            let text = b.fs.read_text(&p)?;
            let docs =
                yaml::parse_documents(&text).map_err(|e| BuildError::yaml(b.fs.display(&p), e))?;
            for d in docs {
                let items = match d {
                    Value::Array(items) => items,
                    other => vec![other],
                };
                for item in items {
                    run_one(&mut acc.list, &item).map_err(|m| BuildError::Build {
                        file: b.fs.display(&p),
                        message: m,
                    })?;
                }
            }
            continue;
        }
        run_one(&mut acc.list, e).map_err(|m| BuildError::Build {
            file: file.clone(),
            message: m,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_brackets_with_dots() {
        assert_eq!(
            parse_path("spec.containers.[name=app].image"),
            vec![
                Step::Key("spec".into()),
                Step::Key("containers".into()),
                Step::Match("name".into(), "app".into()),
                Step::Key("image".into())
            ]
        );
        assert_eq!(
            parse_path("metadata.annotations.[a.b/c]"),
            vec![
                Step::Key("metadata".into()),
                Step::Key("annotations".into()),
                Step::Key("a.b/c".into())
            ]
        );
        assert_eq!(parse_path("spec.ports.0.port")[2], Step::Index(0));
    }
}
