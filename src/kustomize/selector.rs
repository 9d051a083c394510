//! Target selection: regex selectors over original/current ids, Kubernetes label selectors.

use super::kustomization::Selector;
use super::resource::{ResId, Resource};
use regex::Regex;
use serde_json::{Map, Value};

/// One label-selector requirement.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed Kubernetes label selector (`a=b,c in (d,e),!f`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector(Vec<Requirement>);

fn split_top_level(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(s: &str) -> Result<Vec<String>, String> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised value set, got {s:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Parses selector syntax.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            if let Some(k) = part.strip_prefix('!') {
                reqs.push(Requirement::NotExists(k.trim().to_string()));
            } else if let Some((k, v)) = part.split_once("!=") {
                reqs.push(Requirement::NotEquals(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = part.split_once("==") {
                reqs.push(Requirement::Equals(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = part.split_once('=') {
                reqs.push(Requirement::Equals(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = part.split_once(" notin ") {
                reqs.push(Requirement::NotIn(k.trim().into(), parse_set(v)?));
            } else if let Some((k, v)) = part.split_once(" in ") {
                reqs.push(Requirement::In(k.trim().into(), parse_set(v)?));
            } else if part.contains(' ') || part.contains('(') {
                return Err(format!("unable to parse requirement {part:?}"));
            } else {
                reqs.push(Requirement::Exists(part));
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }
}

/// A compiled patch target.
pub struct CompiledSelector {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Option<LabelSelector>,
    annotations: Option<LabelSelector>,
}

fn anchored(s: &str) -> Result<Option<Regex>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    regex::RegexBuilder::new(&format!("^(?:{s})$"))
        .size_limit(1 << 20)
        .build()
        .map(Some)
        .map_err(|e| format!("invalid selector regex {s:?}: {e}"))
}

impl CompiledSelector {
    /// Compiles a selector (regexes anchored as `^(?:…)$`).
    pub fn new(s: &Selector) -> Result<Self, String> {
        Ok(CompiledSelector {
            group: anchored(&s.group)?,
            version: anchored(&s.version)?,
            kind: anchored(&s.kind)?,
            name: anchored(&s.name)?,
            namespace: anchored(&s.namespace)?,
            labels: if s.label_selector.is_empty() {
                None
            } else {
                Some(LabelSelector::parse(&s.label_selector)?)
            },
            annotations: if s.annotation_selector.is_empty() {
                None
            } else {
                Some(LabelSelector::parse(&s.annotation_selector)?)
            },
        })
    }

    fn id_matches(&self, id: &ResId) -> bool {
        let m = |re: &Option<Regex>, v: &str| re.as_ref().is_none_or(|r| r.is_match(v));
        m(&self.group, &id.group)
            && m(&self.version, &id.version)
            && m(&self.kind, &id.kind)
            && m(&self.name, &id.name)
            && m(&self.namespace, id.effective_namespace())
    }

    /// Whether the object is selected (original or current id, labels/annotations now).
    pub fn selects(&self, r: &Resource) -> bool {
        if let Some(l) = &self.labels
            && !l.matches(&r.labels())
        {
            return false;
        }
        if let Some(a) = &self.annotations
            && !a.matches(&r.annotations())
        {
            return false;
        }
        self.id_matches(&r.orig_id()) || self.id_matches(&r.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_based_selectors() {
        let labels = json!({"env": "a", "tier": "web"});
        let labels = labels.as_object().unwrap();
        assert!(
            LabelSelector::parse("env in (a,b),!canary")
                .unwrap()
                .matches(labels)
        );
        assert!(
            !LabelSelector::parse("env notin (a)")
                .unwrap()
                .matches(labels)
        );
        assert!(
            LabelSelector::parse("tier=web,env!=b")
                .unwrap()
                .matches(labels)
        );
        assert!(!LabelSelector::parse("missing").unwrap().matches(labels));
        assert!(LabelSelector::parse("a in b c").is_err());
    }
}
