//! Target selection: regex selectors over original/current ids, Kubernetes label selectors.
//!
//! Label and annotation selectors are parsed by the crate's one label-selector parser,
//! [`crate::model::selector::LabelSelector`] (pure, no I/O: kustomize may use `model`).

use super::kustomization::Selector;
use super::resource::{ResId, Resource};
use crate::model::selector::LabelSelector;
use regex::Regex;
use serde_json::{Map, Value};

/// Labels (or annotations) as a label selector reads them: kustomize's `map[string]string`, so a
/// scalar that YAML typed as a number or boolean (`version: 1`) compares as its text.
fn as_label_strings(labels: &Map<String, Value>) -> Map<String, Value> {
    labels
        .iter()
        .filter_map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((k.clone(), Value::String(text)))
        })
        .collect()
}

/// Whether `labels` satisfy `selector` (apimachinery semantics, as kustomize uses them).
fn labels_match(selector: &LabelSelector, labels: &Map<String, Value>) -> bool {
    selector.matches(Some(&as_label_strings(labels)))
}

/// A target's `labelSelector`/`annotationSelector` text parsed; empty means none.
pub fn parse_optional(text: &str) -> Result<Option<LabelSelector>, String> {
    if text.is_empty() {
        Ok(None)
    } else {
        LabelSelector::parse(text).map(Some)
    }
}

/// Whether a resource's current labels and annotations satisfy a target's label and annotation
/// selectors (an absent selector admits everything).
pub fn metadata_selected(
    labels: Option<&LabelSelector>,
    annotations: Option<&LabelSelector>,
    r: &Resource,
) -> bool {
    labels.is_none_or(|l| labels_match(l, &r.labels()))
        && annotations.is_none_or(|a| labels_match(a, &r.annotations()))
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
            labels: parse_optional(&s.label_selector)?,
            annotations: parse_optional(&s.annotation_selector)?,
        })
    }

    fn id_matches(&self, id: &ResId) -> bool {
        self.parts_match(
            &id.group,
            &id.version,
            &id.kind,
            &id.name,
            id.effective_namespace(),
        )
    }

    /// `ns` is the effective namespace (`default` for none).
    fn parts_match(&self, group: &str, version: &str, kind: &str, name: &str, ns: &str) -> bool {
        let m = |re: &Option<Regex>, v: &str| re.as_ref().is_none_or(|r| r.is_match(v));
        m(&self.kind, kind)
            && m(&self.name, name)
            && m(&self.group, group)
            && m(&self.version, version)
            && m(&self.namespace, ns)
    }

    /// Whether the object is selected (original or current id, labels/annotations now). The
    /// current id is matched from borrowed fields: this runs for every object × patch.
    pub fn selects(&self, r: &Resource) -> bool {
        if !metadata_selected(self.labels.as_ref(), self.annotations.as_ref(), r) {
            return false;
        }
        let api_version = r.api_version();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let ns = match r.namespace() {
            "" => "default",
            ns => ns,
        };
        r.prev_ids.first().is_some_and(|orig| self.id_matches(orig))
            || self.parts_match(group, version, r.kind(), r.name(), ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matches(selector: &str, labels: &Value) -> bool {
        let selector = LabelSelector::parse(selector).unwrap();
        labels_match(&selector, labels.as_object().unwrap())
    }

    #[test]
    fn set_based_selectors() {
        let labels = json!({"env": "a", "tier": "web"});
        assert!(matches("env in (a,b),!canary", &labels));
        assert!(!matches("env notin (a)", &labels));
        assert!(matches("tier=web,env!=b", &labels));
        assert!(!matches("missing", &labels));
        assert!(LabelSelector::parse("a in b c").is_err());
    }

    #[test]
    fn scalar_label_values_compare_as_text() {
        let labels = json!({"version": 1, "on": true, "odd": {"x": 1}});
        assert!(matches("version=1,on=true", &labels));
        assert!(matches("version in (1,2)", &labels));
        assert!(!matches("odd", &labels));
    }
}
