//! Kubernetes-style status conditions: reading them from any object, and writing them the way Flux's
//! runtime does so flotilla-reconciled objects look exactly like Flux-reconciled ones.
//!
//! Reading is tolerant: entries that are not objects or lack a `type` are skipped, fields of the wrong
//! type read as empty, so a malformed object never panics and simply has fewer conditions.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// Condition type `Ready` (normal polarity).
pub const READY: &str = "Ready";
/// Condition type `Reconciling` (abnormal-true: present only while True).
pub const RECONCILING: &str = "Reconciling";
/// Condition type `Stalled` (abnormal-true: present only while True).
pub const STALLED: &str = "Stalled";
/// Condition type `Healthy` (Kustomization health checks).
pub const HEALTHY: &str = "Healthy";

/// Flux caps condition messages at this many bytes (then appends `...`).
pub const MAX_MESSAGE_BYTES: usize = 32768;

/// The status of a condition, or the READY cell of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known (also any unrecognised or missing value).
    #[default]
    Unknown,
}

impl ConditionStatus {
    /// Parses the API spelling; anything but `True`/`False` is Unknown.
    pub fn parse(s: &str) -> Self {
        match s {
            "True" => Self::True,
            "False" => Self::False,
            _ => Self::Unknown,
        }
    }

    /// The API spelling: `True`, `False`, `Unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

impl std::fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `status.conditions`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Condition {
    /// `type`, e.g. `Ready`.
    pub type_: String,
    /// `status`.
    pub status: ConditionStatus,
    /// `reason` (CamelCase), empty when absent.
    pub reason: String,
    /// `message`, empty when absent.
    pub message: String,
    /// `lastTransitionTime` as written (RFC 3339), empty when absent.
    pub last_transition_time: String,
    /// `observedGeneration`, when present and an integer.
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition with the given type, status, reason and message (no time or generation yet).
    pub fn new(type_: &str, status: ConditionStatus, reason: &str, message: &str) -> Self {
        Self {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message: message.to_string(),
            last_transition_time: String::new(),
            observed_generation: None,
        }
    }

    /// Reads one condition entry; None if it is not an object or has no string `type`.
    pub fn from_value(v: &Value) -> Option<Self> {
        let obj = v.as_object()?;
        let type_ = obj.get("type")?.as_str()?.to_string();
        let text = |k: &str| {
            obj.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Some(Self {
            type_,
            status: ConditionStatus::parse(obj.get("status").and_then(Value::as_str).unwrap_or("")),
            reason: text("reason"),
            message: text("message"),
            last_transition_time: text("lastTransitionTime"),
            observed_generation: obj.get("observedGeneration").and_then(Value::as_i64),
        })
    }

    /// The condition as API JSON (empty optional fields omitted).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.type_));
        m.insert("status".into(), json!(self.status.as_str()));
        if let Some(g) = self.observed_generation {
            m.insert("observedGeneration".into(), json!(g));
        }
        if !self.last_transition_time.is_empty() {
            m.insert(
                "lastTransitionTime".into(),
                json!(self.last_transition_time),
            );
        }
        if !self.reason.is_empty() {
            m.insert("reason".into(), json!(self.reason));
        }
        m.insert("message".into(), json!(self.message));
        Value::Object(m)
    }

    /// Whether the status is True.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }

    /// Whether the status is False.
    pub fn is_false(&self) -> bool {
        self.status == ConditionStatus::False
    }

    /// `lastTransitionTime` as unix seconds, if it parses.
    pub fn last_transition_unix(&self) -> Option<i64> {
        parse_time(&self.last_transition_time)
    }
}

/// Every well-formed condition in `status.conditions` of `obj`, in stored order.
pub fn conditions(obj: &Value) -> Vec<Condition> {
    obj.get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Condition::from_value).collect())
        .unwrap_or_default()
}

/// The condition of the given type in `status.conditions` of `obj` (the first one, if duplicated).
pub fn condition(obj: &Value, type_: &str) -> Option<Condition> {
    obj.get("status")?
        .get("conditions")?
        .as_array()?
        .iter()
        .filter_map(Condition::from_value)
        .find(|c| c.type_ == type_)
}

/// The condition of the given type in a list.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// The `Ready` condition.
pub fn ready(obj: &Value) -> Option<Condition> {
    condition(obj, READY)
}

/// The `Reconciling` condition.
pub fn reconciling(obj: &Value) -> Option<Condition> {
    condition(obj, RECONCILING)
}

/// The `Stalled` condition.
pub fn stalled(obj: &Value) -> Option<Condition> {
    condition(obj, STALLED)
}

/// Whether the condition of this type is present with status True.
pub fn is_true(obj: &Value, type_: &str) -> bool {
    condition(obj, type_).is_some_and(|c| c.is_true())
}

/// Parses an RFC 3339 timestamp to unix seconds; None for anything else (including empty).
pub fn parse_time(s: &str) -> Option<i64> {
    s.parse::<Timestamp>().ok().map(|t| t.as_second())
}

/// Formats unix seconds the way Kubernetes writes times (`2026-08-01T10:00:00Z`).
pub fn format_time(t: Timestamp) -> String {
    // Whole seconds, UTC, as Flux's setter truncates.
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// Caps a message at [`MAX_MESSAGE_BYTES`] on a char boundary, appending `...` like Flux.
pub fn cap_message(message: &str) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.to_string();
    }
    let mut end = MAX_MESSAGE_BYTES - 3;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

/// Flux's list order: Stalled, Reconciling, Ready first, then the rest by type name.
fn order_key(type_: &str) -> (u8, &str) {
    match type_ {
        STALLED => (0, ""),
        RECONCILING => (1, ""),
        READY => (2, ""),
        other => (3, other),
    }
}

/// Sets `update` in a condition list like Flux's runtime setter: `observedGeneration` becomes
/// `generation`; `lastTransitionTime` becomes `now` only when status, reason or message changed (kept
/// otherwise); the message is capped; the list is re-sorted into Flux's order.
pub fn set_in(
    conditions: &mut Vec<Condition>,
    update: &Condition,
    generation: i64,
    now: Timestamp,
) {
    let mut new = update.clone();
    new.message = cap_message(&new.message);
    new.observed_generation = Some(generation);
    let now = format_time(now);
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            let same =
                old.status == new.status && old.reason == new.reason && old.message == new.message;
            new.last_transition_time = if same && !old.last_transition_time.is_empty() {
                std::mem::take(&mut old.last_transition_time)
            } else {
                now
            };
            *old = new;
        }
        None => {
            new.last_transition_time = now;
            conditions.push(new);
        }
    }
    conditions.sort_by(|a, b| order_key(&a.type_).cmp(&order_key(&b.type_)));
}

/// Sets a condition on an object's `status` value (see [`set_in`]). A non-object `status` is replaced
/// by an object; unreadable condition entries are dropped.
pub fn set_condition(status: &mut Value, update: &Condition, generation: i64, now: Timestamp) {
    let mut list = status_conditions(status);
    set_in(&mut list, update, generation, now);
    write_conditions(status, &list);
}

/// Removes the condition of the given type from an object's `status` value, if present.
pub fn remove_condition(status: &mut Value, type_: &str) {
    let mut list = status_conditions(status);
    let before = list.len();
    list.retain(|c| c.type_ != type_);
    if list.len() != before {
        write_conditions(status, &list);
    }
}

/// Marks `Reconciling=True` with a reason and progress message, deleting `Stalled` (Flux semantics).
pub fn mark_reconciling(
    status: &mut Value,
    reason: &str,
    message: &str,
    generation: i64,
    now: Timestamp,
) {
    remove_condition(status, STALLED);
    let c = Condition::new(RECONCILING, ConditionStatus::True, reason, message);
    set_condition(status, &c, generation, now);
}

/// Marks `Stalled=True` with a reason and message, deleting `Reconciling` (Flux semantics).
pub fn mark_stalled(
    status: &mut Value,
    reason: &str,
    message: &str,
    generation: i64,
    now: Timestamp,
) {
    remove_condition(status, RECONCILING);
    let c = Condition::new(STALLED, ConditionStatus::True, reason, message);
    set_condition(status, &c, generation, now);
}

/// Reads the conditions of a `status` value (not a whole object).
fn status_conditions(status: &Value) -> Vec<Condition> {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Condition::from_value).collect())
        .unwrap_or_default()
}

fn write_conditions(status: &mut Value, list: &[Condition]) {
    if !status.is_object() {
        *status = Value::Object(Map::new());
    }
    if let Some(m) = status.as_object_mut() {
        m.insert(
            "conditions".into(),
            Value::Array(list.iter().map(Condition::to_value).collect()),
        );
    }
}

/// Tolerant JSON accessors shared by the health and row modules: a wrong type reads as absent.
pub(crate) mod field {
    use serde_json::Value;

    /// The value at a path of object keys.
    pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
        path.iter().try_fold(v, |cur, k| cur.get(*k))
    }

    /// A non-empty string at a path.
    pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
        at(v, path)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// An integer at a path.
    pub(crate) fn i64_at(v: &Value, path: &[&str]) -> Option<i64> {
        at(v, path).and_then(Value::as_i64)
    }

    /// A boolean at a path.
    pub(crate) fn bool_at(v: &Value, path: &[&str]) -> Option<bool> {
        at(v, path).and_then(Value::as_bool)
    }

    /// The API group of an object's `apiVersion` (empty for the core group or when absent).
    pub(crate) fn group(obj: &Value) -> &str {
        match obj.get("apiVersion").and_then(Value::as_str) {
            Some(av) => av.rsplit_once('/').map(|(g, _)| g).unwrap_or(""),
            None => "",
        }
    }

    /// The object's `kind`, empty when absent.
    pub(crate) fn kind(obj: &Value) -> &str {
        obj.get("kind").and_then(Value::as_str).unwrap_or("")
    }
}

#[cfg(test)]
mod tests;
