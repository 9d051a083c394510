//! Deprecated `vars`: `$(NAME)` substitution in a fixed set of fields after all transformations.

use super::kustomization::FieldSpec;
use super::replacements::{get_path, parse_path};
use super::resource::{Resource, split_api_version};
use super::transformers::{TransformerConfig, apply_specs};
use serde_json::Value;

/// A declared var.
#[derive(Debug, Clone)]
pub struct Var {
    /// `$(name)`.
    pub name: String,
    /// Object kind.
    pub kind: String,
    /// Object name.
    pub obj_name: String,
    /// Object apiVersion ("" = any).
    pub api_version: String,
    /// Object namespace ("" = any).
    pub namespace: String,
    /// Dotted field path.
    pub field_path: String,
}

/// Parses `vars:` entries.
pub fn parse(raw: &[Value]) -> Result<Vec<Var>, String> {
    let mut out = Vec::new();
    for v in raw {
        let s = |p: &[&str]| {
            let mut cur = v;
            for k in p {
                match cur.get(k) {
                    Some(n) => cur = n,
                    None => return String::new(),
                }
            }
            cur.as_str().unwrap_or("").to_string()
        };
        let name = s(&["name"]);
        if name.is_empty() {
            return Err("var has no name".into());
        }
        // kustomize's field is `fieldPath`; Go's JSON decoding matches keys case-insensitively, so
        // the documented `fieldpath` works too.
        let mut fp = s(&["fieldref", "fieldPath"]);
        if fp.is_empty() {
            fp = s(&["fieldref", "fieldpath"]);
        }
        out.push(Var {
            name,
            kind: s(&["objref", "kind"]),
            obj_name: s(&["objref", "name"]),
            api_version: s(&["objref", "apiVersion"]),
            namespace: s(&["objref", "namespace"]),
            field_path: if fp.is_empty() {
                "metadata.name".into()
            } else {
                fp
            },
        });
    }
    Ok(out)
}

fn f(kind: &str, path: &str) -> FieldSpec {
    FieldSpec {
        group: String::new(),
        version: String::new(),
        kind: kind.into(),
        path: path.into(),
        create: false,
    }
}

/// kustomize's builtin `varReference` field specs.
pub fn builtin_var_reference() -> Vec<FieldSpec> {
    let mut out = Vec::new();
    let pods: &[(&str, &str)] = &[
        ("Pod", "spec"),
        ("Deployment", "spec/template/spec"),
        ("ReplicaSet", "spec/template/spec"),
        ("DaemonSet", "spec/template/spec"),
        ("StatefulSet", "spec/template/spec"),
        ("Job", "spec/template/spec"),
        ("ReplicationController", "spec/template/spec"),
        ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ];
    for (k, base) in pods {
        for c in ["containers", "initContainers"] {
            for t in ["command", "args", "env/value", "volumeMounts/mountPath"] {
                out.push(f(k, &format!("{base}/{c}/{t}")));
            }
        }
        out.push(f(k, &format!("{base}/volumes/nfs/server")));
    }
    out.push(f("Ingress", "spec/rules/host"));
    out.push(f("Ingress", "spec/tls/hosts"));
    out.push(f("Ingress", "spec/tls/secretName"));
    out.push(f("Service", "spec/ports/port"));
    out.push(f("Service", "spec/ports/targetPort"));
    out.push(f("Deployment", "spec/template/metadata/annotations"));
    out.push(f("", "metadata/labels"));
    out.push(f("", "metadata/annotations"));
    out
}

fn substitute(s: &str, values: &[(String, String)]) -> String {
    let mut out = s.to_string();
    for (name, value) in values {
        out = out.replace(&format!("$({name})"), value);
    }
    out
}

fn substitute_value(v: &mut Value, values: &[(String, String)]) {
    match v {
        Value::String(s) => *s = substitute(s, values),
        Value::Array(items) => items.iter_mut().for_each(|i| substitute_value(i, values)),
        Value::Object(m) => m.values_mut().for_each(|i| {
            if let Value::String(s) = i {
                *s = substitute(s, values);
            }
        }),
        _ => {}
    }
}

/// Resolves vars against the final objects and substitutes them.
pub fn resolve(
    list: &mut [Resource],
    vars: &[Var],
    config: &TransformerConfig,
) -> Result<(), String> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values = Vec::new();
    for var in vars {
        let (g, v) = split_api_version(&var.api_version);
        let found: Vec<&Resource> = list
            .iter()
            .filter(|r| {
                let id = r.id();
                id.kind == var.kind
                    && r.has_name_history(&var.obj_name)
                    && (var.api_version.is_empty() || (id.group == g && id.version == v))
                    && (var.namespace.is_empty() || id.effective_namespace() == var.namespace)
            })
            .collect();
        let r = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(format!(
                    "var '{}' cannot be mapped to a field in the set of known resources",
                    var.name
                ));
            }
            _ => {
                return Err(format!(
                    "found {} resId matches for var '{}' (unable to disambiguate)",
                    found.len(),
                    var.name
                ));
            }
        };
        let value = get_path(&r.obj, &parse_path(&var.field_path)).ok_or_else(|| {
            format!(
                "field specified in var '{}' not found in corresponding resource",
                var.name
            )
        })?;
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        values.push((var.name.clone(), text));
    }
    // Longer names first so `$(AB)` is not clobbered by `$(A)`… names are delimited, order is harmless.
    for r in list.iter_mut() {
        apply_specs(r, &config.var_reference, &mut |v| {
            substitute_value(v, &values)
        });
    }
    Ok(())
}
