//! `values.schema.json`: validates the coalesced values of a chart and of each enabled subchart
//! (with that subchart's scoped values) as Helm v4 does, and lays errors out as Helm prints them:
//!
//! ```text
//! values don't meet the specifications of the schema(s) in the following chart(s):
//! web:
//! - at '/replicas': minimum: got 0, want 1
//! ```
//!
//! Validation is done by `boon`, the Rust port of the Go library Helm v4 uses (same drafts, same
//! error tree); only the wording of each message is rewritten here to Helm's. Remote and file
//! `$ref`s are refused so a chart cannot make the engine read files or reach the network.

use super::value::{MapRef, Value};
use boon::{Compiler, ErrorKind, Schemas, UrlLoader, ValidationError};
use std::fmt::Write as _;

/// The schema's resource name, as Helm registers it.
const SCHEMA_URL: &str = "file:///values.schema.json";

/// Refuses every external reference.
struct NoLoader;

impl UrlLoader for NoLoader {
    fn load(&self, url: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        Err(
            format!("loading {url} is not allowed (only references inside values.schema.json)")
                .into(),
        )
    }
}

/// One chart's schema to check: its name, schema bytes and its scoped values.
pub(super) struct Check<'a> {
    /// Chart name (alias when aliased).
    pub name: &'a str,
    /// `values.schema.json` bytes.
    pub schema: &'a [u8],
    /// The chart's coalesced values.
    pub values: MapRef,
}

/// Validates every check in order; the error text is Helm's (`None` when all pass).
pub(super) fn validate(checks: &[Check]) -> Option<String> {
    let mut out = String::new();
    for c in checks {
        if let Err(text) = validate_one(c.schema, &c.values) {
            let _ = write!(out, "{}:\n{text}", c.name);
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(format!(
            "values don't meet the specifications of the schema(s) in the following chart(s):\n{out}"
        ))
    }
}

/// Values as the JSON Helm hands the validator: whole floats become integers (Go marshals
/// float64 2 as `2`).
fn instance(v: &Value) -> serde_json::Value {
    match v {
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            serde_json::Value::from(*f as i64)
        }
        Value::List(l) => serde_json::Value::Array(l.iter().map(instance).collect()),
        Value::Map(m) => serde_json::Value::Object(
            m.borrow()
                .iter()
                .map(|(k, v)| (k.clone(), instance(v)))
                .collect(),
        ),
        other => other.to_json(),
    }
}

fn validate_one(schema: &[u8], values: &MapRef) -> Result<(), String> {
    let doc: serde_json::Value = serde_json::from_slice(schema)
        .map_err(|e| format!("- cannot parse values.schema.json: {e}\n"))?;
    let mut compiler = Compiler::new();
    compiler.use_loader(Box::new(NoLoader));
    let mut schemas = Schemas::new();
    compiler
        .add_resource(SCHEMA_URL, doc)
        .map_err(|e| format!("- invalid values.schema.json: {e}\n"))?;
    let idx = compiler
        .compile(SCHEMA_URL, &mut schemas)
        .map_err(|e| format!("- invalid values.schema.json: {e}\n"))?;
    let inst = instance(&Value::Map(values.clone()));
    match schemas.validate(&inst, idx) {
        Ok(()) => Ok(()),
        Err(e) => {
            let mut text = String::new();
            // The root node is "validation failed with <schema>", which Helm strips.
            if matches!(e.kind, ErrorKind::Schema { .. }) {
                for c in &e.causes {
                    lay_out(c, 0, &mut text);
                }
            } else {
                lay_out(&e, 0, &mut text);
            }
            Err(text)
        }
    }
}

fn lay_out(e: &ValidationError, depth: usize, out: &mut String) {
    // A `$ref` with a single cause is transparent (as in the Go library's output).
    if matches!(e.kind, ErrorKind::Reference { .. }) && e.causes.len() == 1 {
        lay_out(&e.causes[0], depth, out);
        return;
    }
    let _ = writeln!(
        out,
        "{}- at {}: {}",
        "  ".repeat(depth),
        quote(&e.instance_location.to_string()),
        message(&e.kind)
    );
    for c in &e.causes {
        lay_out(c, depth + 1, out);
    }
}

/// Go's quoting as the validator prints it: single quotes.
fn quote(s: &str) -> String {
    let q = serde_json::to_string(s).unwrap_or_default();
    let inner = q
        .get(1..q.len().saturating_sub(1))
        .unwrap_or("")
        .replace("\\\"", "\"")
        .replace('\'', "\\'");
    format!("'{inner}'")
}

/// A number as Go's message printer writes it: integers grouped by thousands.
fn number(n: &serde_json::Number) -> String {
    let group = |digits: &str| {
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    if let Some(i) = n.as_i64() {
        let s = group(&i.unsigned_abs().to_string());
        return if i < 0 { format!("-{s}") } else { s };
    }
    if let Some(u) = n.as_u64() {
        return group(&u.to_string());
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e15 {
        let s = group(&(f.abs() as u64).to_string());
        return if f < 0.0 { format!("-{s}") } else { s };
    }
    format!("{f}")
}

fn json_display(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => quote(s),
        serde_json::Value::Number(n) => number(n),
        other => other.to_string(),
    }
}

fn quoted_list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| quote(s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Helm's (the Go validator's) wording of one error.
fn message(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::Group | ErrorKind::Schema { .. } | ErrorKind::Reference { .. } => {
            "validation failed".into()
        }
        ErrorKind::ContentSchema => "'contentSchema' failed".into(),
        ErrorKind::PropertyName { prop } => format!("invalid propertyName {}", quote(prop)),
        ErrorKind::RefCycle { url, .. } => format!("reference cycle through {url}"),
        ErrorKind::FalseSchema => "false schema".into(),
        ErrorKind::Type { got, want } => {
            let want: Vec<String> = want.iter().map(|t| t.to_string()).collect();
            format!("got {got}, want {}", want.join(" or "))
        }
        ErrorKind::Enum { want } => {
            if want.len() == 1 {
                format!("value must be {}", json_display(&want[0]))
            } else {
                let w: Vec<String> = want.iter().map(json_display).collect();
                format!("value must be one of {}", w.join(", "))
            }
        }
        ErrorKind::Const { want } => format!("value must be {}", json_display(want)),
        ErrorKind::Format { got, want, err } => {
            format!("{} is not valid {want}: {err}", json_display(got))
        }
        ErrorKind::MinProperties { got, want } => format!("minProperties: got {got}, want {want}"),
        ErrorKind::MaxProperties { got, want } => format!("maxProperties: got {got}, want {want}"),
        ErrorKind::AdditionalProperties { got } => {
            // Helm writes "properties" even for one.
            format!("additional properties {} not allowed", quoted_list(got))
        }
        ErrorKind::Required { want } => {
            if want.len() == 1 {
                format!("missing property {}", quote(want[0]))
            } else {
                format!("missing properties {}", quoted_list(want))
            }
        }
        ErrorKind::Dependency { prop, missing }
        | ErrorKind::DependentRequired { prop, missing } => {
            format!(
                "properties {} required, if {} exists",
                quoted_list(missing),
                quote(prop)
            )
        }
        ErrorKind::MinItems { got, want } => format!("minItems: got {got}, want {want}"),
        ErrorKind::MaxItems { got, want } => format!("maxItems: got {got}, want {want}"),
        ErrorKind::Contains => "no items match contains schema".into(),
        ErrorKind::MinContains { got, want } => format!(
            "min {want} items required to match contains schema, but matched {} items",
            got.len()
        ),
        ErrorKind::MaxContains { got, want } => format!(
            "max {want} items required to match contains schema, but matched {} items",
            got.len()
        ),
        ErrorKind::UniqueItems { got: [i, j] } => format!("items at {i} and {j} are equal"),
        ErrorKind::AdditionalItems { got } => format!("last {got} additionalItem(s) not allowed"),
        ErrorKind::MinLength { got, want } => format!("minLength: got {got}, want {want}"),
        ErrorKind::MaxLength { got, want } => format!("maxLength: got {got}, want {want}"),
        ErrorKind::Pattern { got, want } => {
            format!("{} does not match pattern {}", quote(got), quote(want))
        }
        ErrorKind::ContentEncoding { want, err } => {
            format!("value is not {} encoded: {err}", quote(want))
        }
        ErrorKind::ContentMediaType { want, err, .. } => {
            format!("value is not of mediatype {}: {err}", quote(want))
        }
        ErrorKind::Minimum { got, want } => {
            format!("minimum: got {}, want {}", number(got), number(want))
        }
        ErrorKind::Maximum { got, want } => {
            format!("maximum: got {}, want {}", number(got), number(want))
        }
        ErrorKind::ExclusiveMinimum { got, want } => {
            format!(
                "exclusiveMinimum: got {}, want {}",
                number(got),
                number(want)
            )
        }
        ErrorKind::ExclusiveMaximum { got, want } => {
            format!(
                "exclusiveMaximum: got {}, want {}",
                number(got),
                number(want)
            )
        }
        ErrorKind::MultipleOf { got, want } => {
            format!("multipleOf: got {}, want {}", number(got), number(want))
        }
        ErrorKind::Not => "'not' failed".into(),
        ErrorKind::AllOf => "'allOf' failed".into(),
        ErrorKind::AnyOf => "'anyOf' failed".into(),
        ErrorKind::OneOf(None) => "'oneOf' failed, none matched".into(),
        ErrorKind::OneOf(Some((i, j))) => {
            format!("'oneOf' failed, subschemas {i}, {j} matched")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn vals(json: &str) -> MapRef {
        let v: serde_json::Value = serde_json::from_str(json).expect("json");
        match Value::from_json(&v, true) {
            Value::Map(m) => m,
            _ => std::rc::Rc::new(std::cell::RefCell::new(BTreeMap::new())),
        }
    }

    #[test]
    fn helm_wording_and_layout() {
        let schema = br#"{"type":"object","required":["name"],"additionalProperties":false,
            "properties":{"replicas":{"type":"integer","minimum":1},
            "port":{"maximum":65535},
            "mode":{"enum":["a","b"]},
            "l":{"maxItems":1,"uniqueItems":true},
            "name":{"type":"string"}}}"#;
        let v = vals(r#"{"replicas":0,"port":70000,"mode":"c","l":["x","x"],"zz":1}"#);
        let err = validate(&[Check {
            name: "web",
            schema,
            values: v.clone(),
        }])
        .expect("invalid");
        assert!(err.starts_with(
            "values don't meet the specifications of the schema(s) in the following chart(s):\nweb:\n"
        ));
        for line in [
            "- at '': missing property 'name'\n",
            "- at '': additional properties 'zz' not allowed\n",
            "- at '/replicas': minimum: got 0, want 1\n",
            "- at '/port': maximum: got 70,000, want 65,535\n",
            "- at '/mode': value must be one of 'a', 'b'\n",
            "- at '/l': validation failed\n  - at '/l': maxItems: got 2, want 1\n",
            "  - at '/l': items at 0 and 1 are equal\n",
        ] {
            assert!(err.contains(line), "{line:?} missing in {err}");
        }
        let ok = vals(r#"{"replicas":2.0,"name":"x"}"#);
        assert!(
            validate(&[Check {
                name: "web",
                schema,
                values: ok.clone(),
            }])
            .is_none()
        );
    }

    #[test]
    fn external_refs_are_refused() {
        let schema = br#"{"$ref":"file:///etc/passwd"}"#;
        let v = vals("{}");
        let err = validate(&[Check {
            name: "c",
            schema,
            values: v.clone(),
        }])
        .expect("refused");
        assert!(err.contains("invalid values.schema.json"), "{err}");
    }
}
