//! `patches`, `patchesStrategicMerge`, `patchesJson6902` on top of [`crate::patch`].

use super::files::Entry;
use super::kustomization::{PatchEntry, Selector};
use super::resource::{ResId, Resource, split_api_version};
use super::selector::CompiledSelector;
use super::target::{Accumulated, Builder, Loaded};
use super::{BuildError, yaml};
use crate::patch::{self, TypeMeta};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A patch's text and where it came from (for messages).
struct PatchText {
    text: String,
    origin: PathBuf,
}

fn load_text(
    b: &Builder<'_>,
    l: &Loaded,
    path: &str,
    inline: &str,
) -> Result<PatchText, BuildError> {
    if !path.is_empty() {
        let p = match b.fs.resolve(&l.dir, path, &l.file)? {
            Entry::File(p) => p,
            Entry::Dir(p) => {
                return Err(BuildError::Build {
                    file: b.fs.display(&l.file),
                    message: format!("patch {} is a directory", b.fs.display(&p).display()),
                });
            }
        };
        return Ok(PatchText {
            text: b.fs.read_source_text(&p, super::files::SourceUse::Patch)?,
            origin: b.fs.display(&p),
        });
    }
    Ok(PatchText {
        text: inline.to_string(),
        origin: b.fs.display(&l.file),
    })
}

enum Parsed {
    Json(Value),
    Smp(Vec<Value>),
}

fn parse_patch(t: &PatchText) -> Result<Parsed, BuildError> {
    let trimmed = t.text.trim_start();
    if trimmed.starts_with('[')
        && let Ok(v) = serde_json::from_str::<Value>(&t.text)
        && v.is_array()
    {
        return Ok(Parsed::Json(v));
    }
    let docs = yaml::parse_documents(&t.text).map_err(|e| BuildError::yaml(t.origin.clone(), e))?;
    if docs.len() == 1 && docs[0].is_array() {
        return Ok(Parsed::Json(docs[0].clone()));
    }
    Ok(Parsed::Smp(docs))
}

fn patch_id(doc: &Value) -> ResId {
    let s = |p: &[&str]| {
        let mut cur = doc;
        for k in p {
            match cur.get(k) {
                Some(v) => cur = v,
                None => return String::new(),
            }
        }
        cur.as_str().unwrap_or("").to_string()
    };
    let (group, version) = split_api_version(&s(&["apiVersion"]));
    ResId {
        group,
        version,
        kind: s(&["kind"]),
        namespace: s(&["metadata", "namespace"]),
        name: s(&["metadata", "name"]),
    }
}

/// Indexes of objects a target-less SMP document applies to: same GVK and name, namespace by
/// effective value, against any id the object has had.
fn smp_matches(list: &[Resource], id: &ResId) -> Vec<usize> {
    super::target::matching_any_id(list, id)
}

fn is_delete(doc: &Value) -> bool {
    patch::is_delete_patch(doc)
}

/// Applies one SMP document to object `i`; returns false when the object is deleted.
fn apply_smp(
    list: &mut Vec<Resource>,
    i: usize,
    doc: &Value,
    allow_name_change: bool,
    allow_kind_change: bool,
    origin: &Path,
) -> Result<(), BuildError> {
    if is_delete(doc) {
        list.remove(i);
        return Ok(());
    }
    let r = &mut list[i];
    let (api_version, kind) = (r.api_version().to_string(), r.kind().to_string());
    let (old_name, old_ns) = (r.name().to_string(), r.namespace().to_string());
    let tm = TypeMeta {
        api_version: &api_version,
        kind: &kind,
    };
    let mut patched = patch::strategic_merge_as(&r.obj, doc, tm, patch::SmpFlavor::Kustomize)
        .map_err(|e| BuildError::Build {
            file: origin.to_path_buf(),
            message: format!("strategic merge patch on {}: {e}", r.id().describe()),
        })?;
    let new_name = patched
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let keep = |key: &str, value: &str, patched: &mut Value| {
        if let Some(obj) = patched.as_object_mut() {
            obj.insert(key.to_string(), Value::String(value.to_string()));
        }
    };
    if !allow_kind_change {
        keep("kind", &kind, &mut patched);
        keep("apiVersion", &api_version, &mut patched);
    }
    let rename = allow_name_change && !new_name.is_empty() && new_name != old_name;
    if rename {
        r.store_previous_id();
    }
    r.obj = patched;
    if !rename {
        r.set_name(&old_name);
    }
    if old_ns.is_empty() {
        if !allow_name_change {
            r.metadata_mut().remove("namespace");
        }
    } else if !allow_name_change {
        r.set_namespace(&old_ns);
    }
    Ok(())
}

fn apply_json(r: &mut Resource, ops: &Value, origin: &Path) -> Result<(), BuildError> {
    let before = r.id();
    let mut obj = r.obj.clone();
    patch::json_patch_kustomize(&mut obj, ops).map_err(|e| BuildError::Build {
        file: origin.to_path_buf(),
        message: format!("JSON patch on {}: {e}", before.describe()),
    })?;
    let old = std::mem::replace(&mut r.obj, obj);
    let after = r.id();
    if after.name != before.name || after.kind != before.kind || after.namespace != before.namespace
    {
        let now = std::mem::replace(&mut r.obj, old);
        r.store_previous_id();
        r.obj = now;
    }
    Ok(())
}

fn select(list: &[Resource], target: &Selector, origin: &Path) -> Result<Vec<usize>, BuildError> {
    let sel = CompiledSelector::new(target).map_err(|m| BuildError::Build {
        file: origin.to_path_buf(),
        message: m,
    })?;
    Ok(list
        .iter()
        .enumerate()
        .filter(|(_, r)| sel.selects(r))
        .map(|(i, _)| i)
        .collect())
}

/// Applies one `patches`-style entry.
fn apply_entry(
    b: &Builder<'_>,
    l: &Loaded,
    acc: &mut Accumulated,
    e: &PatchEntry,
) -> Result<(), BuildError> {
    let file = b.fs.display(&l.file);
    if e.path.is_empty() == e.patch.is_empty() {
        return Err(BuildError::Build {
            file,
            message: "a patch entry must set exactly one of 'path' and 'patch'".into(),
        });
    }
    let text = load_text(b, l, &e.path, &e.patch)?;
    match parse_patch(&text)? {
        Parsed::Json(ops) => {
            let Some(target) = &e.target else {
                return Err(BuildError::Build {
                    file,
                    message:
                        "unable to apply JSON patch: a 'target' is required for JSON 6902 patches"
                            .into(),
                });
            };
            for i in select(&acc.list, target, &text.origin)? {
                apply_json(&mut acc.list[i], &ops, &text.origin)?;
            }
        }
        Parsed::Smp(docs) => {
            if docs.is_empty() {
                return Err(BuildError::Build {
                    file: text.origin,
                    message: "patch is empty".into(),
                });
            }
            match &e.target {
                Some(target) => {
                    if docs.len() > 1 {
                        return Err(BuildError::Build {
                            file: text.origin,
                            message: "multiple strategic merge patches in one entry with a target are not allowed".into(),
                        });
                    }
                    let mut idx = select(&acc.list, target, &text.origin)?;
                    // Deleting shifts indexes, so go from the back.
                    idx.reverse();
                    for i in idx {
                        apply_smp(
                            &mut acc.list,
                            i,
                            &docs[0],
                            e.allow_name_change,
                            e.allow_kind_change,
                            &text.origin,
                        )?;
                    }
                }
                None => {
                    for doc in &docs {
                        apply_untargeted(
                            &mut acc.list,
                            doc,
                            e.allow_name_change,
                            e.allow_kind_change,
                            &text.origin,
                        )?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn apply_untargeted(
    list: &mut Vec<Resource>,
    doc: &Value,
    name: bool,
    kind: bool,
    origin: &Path,
) -> Result<(), BuildError> {
    let id = patch_id(doc);
    let m = smp_matches(list, &id);
    match m.as_slice() {
        [i] => apply_smp(list, *i, doc, name, kind, origin),
        [] => Err(BuildError::Build {
            file: origin.to_path_buf(),
            message: format!(
                "no resource matches strategic merge patch \"{}\"",
                id.describe()
            ),
        }),
        _ => Err(BuildError::Build {
            file: origin.to_path_buf(),
            message: format!(
                "multiple matches for Id {}; failed to find unique target for patch",
                id.describe()
            ),
        }),
    }
}

/// `patches`.
pub fn patches(b: &mut Builder<'_>, l: &Loaded, acc: &mut Accumulated) -> Result<(), BuildError> {
    for e in &l.kust.patches {
        apply_entry(b, l, acc, e)?;
    }
    Ok(())
}

/// Applies a builtin `PatchTransformer` config (shared with `transformers:`).
pub fn patch_entry(
    b: &Builder<'_>,
    l: &Loaded,
    acc: &mut Accumulated,
    e: &PatchEntry,
) -> Result<(), BuildError> {
    apply_entry(b, l, acc, e)
}

/// Deprecated `patchesStrategicMerge`: file paths or inline YAML.
pub fn strategic_merge_legacy(
    b: &mut Builder<'_>,
    l: &Loaded,
    acc: &mut Accumulated,
) -> Result<(), BuildError> {
    for entry in &l.kust.patches_strategic_merge {
        let looks_inline = entry.contains('\n') || entry.contains(": ");
        let text = if looks_inline {
            PatchText {
                text: entry.clone(),
                origin: b.fs.display(&l.file),
            }
        } else {
            load_text(b, l, entry, "")?
        };
        let docs = yaml::parse_documents(&text.text)
            .map_err(|e| BuildError::yaml(text.origin.clone(), e))?;
        for doc in &docs {
            apply_untargeted(&mut acc.list, doc, false, false, &text.origin)?;
        }
    }
    Ok(())
}

/// Deprecated `patchesJson6902` (runs after namespace/prefix/labels).
pub fn json6902_legacy(
    b: &mut Builder<'_>,
    l: &Loaded,
    acc: &mut Accumulated,
) -> Result<(), BuildError> {
    for e in &l.kust.patches_json6902 {
        let file = b.fs.display(&l.file);
        let Some(target) = &e.target else {
            return Err(BuildError::Build {
                file,
                message: "patchesJson6902 entry needs a target".into(),
            });
        };
        let text = load_text(b, l, &e.path, &e.patch)?;
        let ops = match parse_patch(&text)? {
            Parsed::Json(ops) => ops,
            Parsed::Smp(_) => {
                return Err(BuildError::Build {
                    file: text.origin,
                    message: "patchesJson6902 patch must be a list of JSON patch operations".into(),
                });
            }
        };
        for i in select(&acc.list, target, &text.origin)? {
            apply_json(&mut acc.list[i], &ops, &text.origin)?;
        }
    }
    Ok(())
}
