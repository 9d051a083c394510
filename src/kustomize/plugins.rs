//! The `transformers:` / `generators:` lists: builtin plugin configs only (plugins are disabled in
//! kubectl and Flux, so nothing else can run).

use super::files::Entry;
use super::kustomization::{FieldSpec, ImageEntry, PatchEntry, ReplicaEntry, Selector, field_spec};
use super::target::{Accumulated, Builder, Loaded};
use super::transformers::{self, apply_specs};
use super::{BuildError, patches, replacements, yaml};
use serde_json::Value;
use std::collections::BTreeMap;

fn configs(b: &Builder<'_>, l: &Loaded, entries: &[String]) -> Result<Vec<Value>, BuildError> {
    let mut out = Vec::new();
    for e in entries {
        let (text, origin) = if e.contains('\n') || e.contains(": ") {
            (e.clone(), b.fs.display(&l.file))
        } else {
            match b.fs.resolve(&l.dir, e, &l.file)? {
                Entry::File(p) => (b.fs.read_text(&p)?, b.fs.display(&p)),
                Entry::Dir(p) => {
                    return Err(BuildError::Unsupported {
                        file: b.fs.display(&l.file),
                        what: format!(
                            "a directory as transformer/generator source ({})",
                            b.fs.display(&p).display()
                        ),
                    });
                }
            }
        };
        let docs = yaml::parse_documents(&text).map_err(|er| BuildError::yaml(origin, er))?;
        out.extend(docs);
    }
    Ok(out)
}

fn str_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

fn specs(v: &Value) -> Result<Vec<FieldSpec>, String> {
    match v.get("fieldSpecs") {
        Some(Value::Array(a)) => a.iter().map(field_spec).collect(),
        _ => Ok(Vec::new()),
    }
}

fn selector(v: Option<&Value>) -> Option<Selector> {
    let v = v?;
    Some(Selector {
        group: s(v, "group"),
        version: s(v, "version"),
        kind: s(v, "kind"),
        name: s(v, "name"),
        namespace: s(v, "namespace"),
        label_selector: s(v, "labelSelector"),
        annotation_selector: s(v, "annotationSelector"),
    })
}

/// Runs the `transformers:` entries.
pub fn run_transformers(
    b: &mut Builder<'_>,
    l: &Loaded,
    acc: &mut Accumulated,
) -> Result<(), BuildError> {
    let file = b.fs.display(&l.file);
    if !l.kust.generators.is_empty() {
        return Err(BuildError::Unsupported {
            file,
            what: "the 'generators' field (generator plugins)".into(),
        });
    }
    let err = |m: String| BuildError::Build {
        file: file.clone(),
        message: m,
    };
    for c in configs(b, l, &l.kust.transformers)? {
        let api = s(&c, "apiVersion");
        let kind = s(&c, "kind");
        if api != "builtin" {
            return Err(BuildError::Unsupported {
                file: file.clone(),
                what: format!(
                    "transformer plugin {api}/{kind} (external plugins are disabled; only apiVersion: builtin works)"
                ),
            });
        }
        match kind.as_str() {
            "NamespaceTransformer" => {
                let ns = c
                    .get("metadata")
                    .map(|m| s(m, "namespace"))
                    .unwrap_or_default();
                let unset_only = c.get("unsetOnly").and_then(Value::as_bool).unwrap_or(false);
                let subjects = transformers::SubjectMode::parse(&s(&c, "setRoleBindingSubjects"))
                    .map_err(err)?;
                transformers::namespace(&mut acc.list, &ns, &acc.config, unset_only, subjects)
                    .map_err(err)?;
            }
            "LabelTransformer" | "AnnotationsTransformer" => {
                let key = if kind == "LabelTransformer" {
                    "labels"
                } else {
                    "annotations"
                };
                let pairs = str_map(c.get(key));
                let fs = specs(&c).map_err(err)?;
                for r in acc.list.iter_mut() {
                    apply_specs(r, &fs, &mut |v| {
                        if !v.is_object() {
                            *v = Value::Object(Default::default());
                        }
                        if let Value::Object(m) = v {
                            for (k, val) in &pairs {
                                m.insert(k.clone(), Value::String(val.clone()));
                            }
                        }
                    });
                }
            }
            "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
                transformers::prefix_suffix(
                    &mut acc.list,
                    &s(&c, "prefix"),
                    &s(&c, "suffix"),
                    &acc.config,
                );
            }
            "ImageTagTransformer" => {
                let it = c.get("imageTag").cloned().unwrap_or(Value::Null);
                let e = ImageEntry {
                    name: s(&it, "name"),
                    new_name: s(&it, "newName"),
                    new_tag: s(&it, "newTag"),
                    digest: s(&it, "digest"),
                };
                transformers::images(&mut acc.list, &e, &acc.config);
            }
            "ReplicaCountTransformer" => {
                let r = c.get("replica").cloned().unwrap_or(Value::Null);
                let e = ReplicaEntry {
                    name: s(&r, "name"),
                    count: r.get("count").and_then(Value::as_i64).unwrap_or(0),
                };
                transformers::replicas(&mut acc.list, &e, &acc.config).map_err(err)?;
            }
            "PatchTransformer" => {
                let opts = c.get("options");
                let e = PatchEntry {
                    path: s(&c, "path"),
                    patch: s(&c, "patch"),
                    target: selector(c.get("target")),
                    allow_name_change: opts
                        .and_then(|o| o.get("allowNameChange"))
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    allow_kind_change: opts
                        .and_then(|o| o.get("allowKindChange"))
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                };
                patches::patch_entry(b, l, acc, &e)?;
            }
            "ReplacementTransformer" => {
                let reps = match c.get("replacements") {
                    Some(Value::Array(a)) => a.clone(),
                    _ => Vec::new(),
                };
                replacements::run_list(b, l, acc, &reps)?;
            }
            other => {
                return Err(BuildError::Unsupported {
                    file: file.clone(),
                    what: format!("builtin transformer {other}"),
                });
            }
        }
    }
    Ok(())
}
