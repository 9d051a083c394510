//! `Alert` (`notification.toolkit.fluxcd.io/v1beta3`): which events go to which Provider, matched
//! the way notification-controller's event handler does (notification-notes "Alert matching").

use regex::Regex;
use serde_json::{Map, Value};

use super::NotificationError;
use crate::runtime::FluxEvent;

/// One `spec.eventSources` entry, namespace defaulted to the Alert's.
#[derive(Debug, Clone)]
pub struct EventSource {
    /// The involved object's kind.
    pub kind: String,
    /// The object name or `*`.
    pub name: String,
    /// The object namespace.
    pub namespace: String,
    /// With `name: *`: labels the object must carry.
    pub match_labels: Map<String, Value>,
}

/// A parsed Alert.
#[derive(Debug, Clone)]
pub struct AlertSpec {
    /// The Alert's name.
    pub name: String,
    /// The Alert's namespace (also the Provider's).
    pub namespace: String,
    /// `spec.providerRef.name`.
    pub provider: String,
    /// `eventSeverity: error` (else `info`, which takes every event).
    pub errors_only: bool,
    /// `spec.eventSources`.
    pub sources: Vec<EventSource>,
    /// `spec.inclusionList`.
    pub inclusion: Vec<Regex>,
    /// `spec.exclusionList`.
    pub exclusion: Vec<Regex>,
    /// `spec.eventMetadata`.
    pub event_metadata: Map<String, Value>,
    /// `spec.suspend`.
    pub suspend: bool,
}

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn regexes(obj: &Value, field: &str, what: &str) -> Result<Vec<Regex>, NotificationError> {
    let mut out = Vec::new();
    for (i, r) in obj
        .pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let s = r.as_str().unwrap_or("");
        // Go's regexp and the regex crate share RE2 syntax; a pattern either compiles in both or
        // in neither for every pattern Flux users write.
        let re = Regex::new(s).map_err(|e| NotificationError::Invalid {
            object: what.to_string(),
            message: format!("spec.{field}[{i}] {s:?} is not a valid regular expression: {e}"),
        })?;
        out.push(re);
    }
    Ok(out)
}

impl AlertSpec {
    /// Reads an Alert object; an error names the Alert and the bad field.
    pub fn parse(obj: &Value) -> Result<AlertSpec, NotificationError> {
        let name = text(obj, "/metadata/name").to_string();
        let namespace = text(obj, "/metadata/namespace").to_string();
        let what = format!("Alert {namespace}/{name}");
        let invalid = |message: String| NotificationError::Invalid {
            object: what.clone(),
            message,
        };
        let provider = text(obj, "/spec/providerRef/name").to_string();
        if provider.is_empty() {
            return Err(invalid("spec.providerRef.name is required".into()));
        }
        let errors_only = match text(obj, "/spec/eventSeverity") {
            "" | "info" => false,
            "error" => true,
            other => {
                return Err(invalid(format!(
                    "spec.eventSeverity {other:?} is not info or error"
                )));
            }
        };
        let mut sources = Vec::new();
        for (i, s) in obj
            .pointer("/spec/eventSources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let kind = text(s, "/kind").to_string();
            let src_name = text(s, "/name").to_string();
            if kind.is_empty() || src_name.is_empty() {
                return Err(invalid(format!(
                    "spec.eventSources[{i}] needs kind and name"
                )));
            }
            let ns = match text(s, "/namespace") {
                "" => namespace.clone(),
                n => n.to_string(),
            };
            let match_labels = s
                .get("matchLabels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            sources.push(EventSource {
                kind,
                name: src_name,
                namespace: ns,
                match_labels,
            });
        }
        if sources.is_empty() {
            return Err(invalid("spec.eventSources is required".into()));
        }
        Ok(AlertSpec {
            inclusion: regexes(obj, "inclusionList", &what)?,
            exclusion: regexes(obj, "exclusionList", &what)?,
            event_metadata: obj
                .pointer("/spec/eventMetadata")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            suspend: obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true),
            name,
            namespace,
            provider,
            errors_only,
            sources,
        })
    }

    /// Whether some source needs the involved object's labels to decide on `event`.
    pub fn needs_labels(&self, event: &FluxEvent) -> bool {
        self.sources
            .iter()
            .any(|s| s.name == "*" && !s.match_labels.is_empty() && source_selects(s, event))
    }

    /// Whether `event` goes to this Alert's provider. `labels` are the involved object's labels
    /// (`None` when unknown: a `matchLabels` source then does not match).
    pub fn matches(&self, event: &FluxEvent, labels: Option<&Map<String, Value>>) -> bool {
        if self.suspend {
            return false;
        }
        if self.errors_only && event.severity != "error" {
            return false;
        }
        let name = text(&event.involved_object, "/name");
        let source_match = self.sources.iter().any(|s| {
            if !source_selects(s, event) {
                return false;
            }
            if s.name == "*" {
                s.match_labels.is_empty()
                    || labels.is_some_and(|l| {
                        s.match_labels
                            .iter()
                            .all(|(k, v)| l.get(k).and_then(Value::as_str) == v.as_str())
                    })
            } else {
                s.name == name
            }
        });
        if !source_match {
            return false;
        }
        if !self.inclusion.is_empty() && !self.inclusion.iter().any(|r| r.is_match(&event.message))
        {
            return false;
        }
        !self.exclusion.iter().any(|r| r.is_match(&event.message))
    }

    /// The event's metadata with the object's `event.toolkit.fluxcd.io/*` annotations and
    /// `spec.eventMetadata` added; a key the event already has keeps the event's value (Flux logs
    /// and ignores the override).
    pub fn enrich(&self, event: &FluxEvent, annotations: Option<&Map<String, Value>>) -> FluxEvent {
        let mut out = event.clone();
        let mut extra: Vec<(String, Value)> = Vec::new();
        for (k, v) in annotations.into_iter().flatten() {
            if let Some(key) = k.strip_prefix(ANNOTATION_PREFIX)
                && !key.is_empty()
            {
                extra.push((key.to_string(), v.clone()));
            }
        }
        for (k, v) in &self.event_metadata {
            extra.push((k.clone(), v.clone()));
        }
        for (k, v) in extra {
            if out.metadata.contains_key(&k) {
                tracing::debug!(alert = %self.name, key = %k, "event metadata kept over the override");
                continue;
            }
            out.metadata.insert(k, v);
        }
        out
    }
}

/// Object annotations under this prefix become event metadata.
pub const ANNOTATION_PREFIX: &str = "event.toolkit.fluxcd.io/";

/// Kind and namespace equal (the first test of notification-controller).
fn source_selects(s: &EventSource, event: &FluxEvent) -> bool {
    s.kind == text(&event.involved_object, "/kind")
        && s.namespace == text(&event.involved_object, "/namespace")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, name: &str, severity: &str, message: &str) -> FluxEvent {
        FluxEvent {
            involved_object: json!({"kind": kind, "name": name, "namespace": "flux-system"}),
            severity: severity.into(),
            timestamp: "2026-01-01T00:00:00Z".into(),
            message: message.into(),
            reason: "R".into(),
            metadata: Map::new(),
            reporting_controller: "kustomize-controller".into(),
            reporting_instance: "flotilla".into(),
        }
    }

    fn alert(spec: Value) -> AlertSpec {
        AlertSpec::parse(
            &json!({"metadata": {"name": "a", "namespace": "flux-system"},
            "spec": spec}),
        )
        .unwrap()
    }

    #[test]
    fn severity_kind_name_and_namespace() {
        let a = alert(
            json!({"providerRef": {"name": "p"}, "eventSeverity": "error",
            "eventSources": [{"kind": "Kustomization", "name": "apps"}]}),
        );
        assert!(a.matches(&event("Kustomization", "apps", "error", "x"), None));
        assert!(!a.matches(&event("Kustomization", "apps", "info", "x"), None));
        assert!(!a.matches(&event("Kustomization", "infra", "error", "x"), None));
        assert!(!a.matches(&event("GitRepository", "apps", "error", "x"), None));
        let mut other_ns = event("Kustomization", "apps", "error", "x");
        other_ns.involved_object["namespace"] = json!("other");
        assert!(!a.matches(&other_ns, None));
        let info = alert(json!({"providerRef": {"name": "p"},
            "eventSources": [{"kind": "Kustomization", "name": "*", "namespace": "other"}]}));
        assert!(info.matches(&other_ns, None));
        let mut info_ev = other_ns.clone();
        info_ev.severity = "info".into();
        assert!(info.matches(&info_ev, None));
    }

    #[test]
    fn match_labels_need_the_object_labels() {
        let a = alert(json!({"providerRef": {"name": "p"},
            "eventSources": [{"kind": "Kustomization", "name": "*", "matchLabels": {"team": "a"}}]}));
        let e = event("Kustomization", "apps", "info", "x");
        assert!(a.needs_labels(&e));
        assert!(!a.matches(&e, None));
        let team_a = json!({"team": "a"});
        let team_b = json!({"team": "b"});
        assert!(a.matches(&e, team_a.as_object()));
        assert!(!a.matches(&e, team_b.as_object()));
    }

    #[test]
    fn inclusion_then_exclusion_then_suspend() {
        let a = alert(json!({"providerRef": {"name": "p"},
            "eventSources": [{"kind": "Kustomization", "name": "*"}],
            "inclusionList": ["^apply"], "exclusionList": ["dry-run"]}));
        assert!(a.matches(&event("Kustomization", "a", "info", "apply ok"), None));
        assert!(!a.matches(&event("Kustomization", "a", "info", "health ok"), None));
        assert!(!a.matches(&event("Kustomization", "a", "info", "apply dry-run"), None));
        let s = alert(json!({"providerRef": {"name": "p"}, "suspend": true,
            "eventSources": [{"kind": "Kustomization", "name": "*"}]}));
        assert!(!s.matches(&event("Kustomization", "a", "info", "x"), None));
    }

    #[test]
    fn metadata_merges_without_overriding_the_event() {
        let a = alert(json!({"providerRef": {"name": "p"},
            "eventSources": [{"kind": "Kustomization", "name": "*"}],
            "eventMetadata": {"env": "prod", "revision": "alert"}}));
        let mut e = event("Kustomization", "a", "info", "x");
        e.metadata.insert("revision".into(), json!("main@sha1:abc"));
        let ann = json!({"event.toolkit.fluxcd.io/team": "a", "other/x": "y"});
        let out = a.enrich(&e, ann.as_object());
        assert_eq!(
            Value::Object(out.metadata),
            json!({"revision": "main@sha1:abc", "env": "prod", "team": "a"})
        );
    }

    #[test]
    fn bad_alerts_name_the_field() {
        for (spec, field) in [
            (
                json!({"eventSources": [{"kind": "K", "name": "*"}]}),
                "providerRef",
            ),
            (json!({"providerRef": {"name": "p"}}), "eventSources"),
            (
                json!({"providerRef": {"name": "p"}, "eventSeverity": "warn",
                "eventSources": [{"kind": "K", "name": "*"}]}),
                "eventSeverity",
            ),
            (
                json!({"providerRef": {"name": "p"}, "exclusionList": ["("],
                "eventSources": [{"kind": "K", "name": "*"}]}),
                "exclusionList[0]",
            ),
        ] {
            let e = AlertSpec::parse(&json!({"metadata": {"name": "a", "namespace": "n"},
                "spec": spec}))
            .unwrap_err()
            .to_string();
            assert!(e.contains(field) && e.contains("Alert n/a"), "{e}");
        }
    }
}
