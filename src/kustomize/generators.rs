//! `configMapGenerator` / `secretGenerator` and the content-hash name suffix.

use super::files::Entry;
use super::kustomization::{GeneratorEntry, GeneratorOptions};
use super::resource::{Generated, Origin, Resource, ensure_map};
use super::target::{Accumulated, Builder, Loaded, append, matching_any_id};
use super::{BuildError, resource::ResId};
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Runs this kustomization's generators: config maps first, then secrets.
pub fn run(b: &mut Builder<'_>, l: &Loaded, acc: &mut Accumulated) -> Result<(), BuildError> {
    let k = &l.kust;
    for (entries, secret) in [
        (&k.config_map_generator, false),
        (&k.secret_generator, true),
    ] {
        for g in entries {
            let mut res = generate(b, l, g, k.generator_options.as_ref(), secret)?;
            res.origin = Some(Origin::Generator {
                kustomization: kustomization_file_of(l),
                kind: if secret {
                    "SecretGenerator"
                } else {
                    "ConfigMapGenerator"
                },
            });
            place(acc, res, &g.behavior, &b.fs.display(&l.file))?;
        }
    }
    Ok(())
}

/// The kustomization file a generator entry came from (Flux's generated one is `kustomization.yaml`).
fn kustomization_file_of(l: &Loaded) -> std::path::PathBuf {
    if l.file.is_dir() {
        l.file.join("kustomization.yaml")
    } else {
        l.file.clone()
    }
}

/// Appends a generated object, or folds it into an existing one for merge/replace.
fn place(
    acc: &mut Accumulated,
    mut res: Resource,
    behavior: &str,
    file: &std::path::Path,
) -> Result<(), BuildError> {
    let id = res.id();
    let matches = matching_any_id(&acc.list, &id);
    let err = |message: String| BuildError::Build {
        file: file.to_path_buf(),
        message,
    };
    match (matches.as_slice(), behavior) {
        ([], "merge" | "replace") => Err(err(format!(
            "id {} does not exist; cannot merge or replace",
            id.describe()
        ))),
        ([], _) => append(acc, res, file),
        ([i], "merge" | "replace") => {
            let old = &acc.list[*i];
            let merge_maps = |old: &Map<String, Value>, new: &Map<String, Value>| {
                let mut m = old.clone();
                for (k, v) in new {
                    m.insert(k.clone(), v.clone());
                }
                m
            };
            let labels = merge_maps(&old.labels(), &res.labels());
            let annotations = merge_maps(&old.annotations(), &res.annotations());
            {
                let md = res.metadata_mut();
                set_or_remove(md, "labels", labels);
                set_or_remove(md, "annotations", annotations);
            }
            let (old_name, old_ns) = (old.name().to_string(), old.namespace().to_string());
            if behavior == "merge" {
                for field in ["data", "binaryData"] {
                    let old_map = old
                        .obj
                        .get(field)
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    let new_map = res
                        .obj
                        .get(field)
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    let merged = merge_maps(&old_map, &new_map);
                    let obj = ensure_map(&mut res.obj);
                    if merged.is_empty() {
                        obj.remove(field);
                    } else {
                        obj.insert(field.to_string(), Value::Object(merged));
                    }
                }
            }
            res.set_name(&old_name);
            if old_ns.is_empty() {
                res.metadata_mut().remove("namespace");
            } else {
                res.set_namespace(&old_ns);
            }
            // Build bookkeeping (hash need, rename history) comes from the old object only.
            res.prev_ids = old.prev_ids.clone();
            res.prefixes = old.prefixes.clone();
            res.suffixes = old.suffixes.clone();
            // The hash is appended only when both the old and the new object ask for it
            // (kustomize keeps its needs-hash annotation from the old one and drops it when the
            // new one lacks it).
            let new_hash = res.generated.as_ref().is_some_and(|g| g.hash);
            res.generated = old.generated.clone();
            if let Some(g) = &mut res.generated {
                g.hash &= new_hash;
            }
            // kustomize copies the old metadata, transformer annotations included.
            res.transformations = old.transformations.clone();
            // kustomize keeps the merged-into object's origin; a replacement carries its own.
            if behavior == "merge" {
                res.origin = old.origin.clone();
            }
            acc.list[*i] = res;
            Ok(())
        }
        ([_], _) => Err(err(format!(
            "id {} exists; behavior must be merge or replace",
            id.describe()
        ))),
        (_, _) => Err(err(format!(
            "found multiple objects that could accept merge of {}",
            id.describe()
        ))),
    }
}

fn set_or_remove(md: &mut Map<String, Value>, key: &str, m: Map<String, Value>) {
    if m.is_empty() {
        md.remove(key);
    } else {
        md.insert(key.to_string(), Value::Object(m));
    }
}

/// Builds one ConfigMap or Secret from its generator entry.
fn generate(
    b: &Builder<'_>,
    l: &Loaded,
    g: &GeneratorEntry,
    global: Option<&GeneratorOptions>,
    secret: bool,
) -> Result<Resource, BuildError> {
    let file = b.fs.display(&l.file);
    let kind = if secret { "Secret" } else { "ConfigMap" };
    let err = |message: String| BuildError::Build {
        file: file.clone(),
        message,
    };
    if g.name.is_empty() {
        return Err(err(format!("a {kind} generator entry needs a name")));
    }
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    for env in &g.envs {
        let path = match b.fs.resolve(&l.dir, env, &l.file)? {
            Entry::File(p) => p,
            Entry::Dir(p) => {
                return Err(err(format!(
                    "env source {} is a directory",
                    b.fs.display(&p).display()
                )));
            }
        };
        let text =
            b.fs.read_source(&path, super::files::SourceUse::GeneratorEnv { secret })?;
        let text = String::from_utf8(text).map_err(|_| {
            err(format!(
                "env file {} is not valid UTF-8",
                b.fs.display(&path).display()
            ))
        })?;
        for (n, line) in text.split('\n').enumerate() {
            let mut line = line.strip_suffix('\r').unwrap_or(line);
            if n == 0 {
                line = line.strip_prefix('\u{feff}').unwrap_or(line);
            }
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            pairs.push((key.to_string(), value.as_bytes().to_vec()));
        }
    }
    for lit in &g.literals {
        let Some((key, value)) = lit.split_once('=') else {
            return Err(err(format!(
                "invalid literal source {lit}, expected key=value"
            )));
        };
        let value = unquote(value);
        pairs.push((key.to_string(), value.as_bytes().to_vec()));
    }
    for f in &g.files {
        let (key, rel) = match f.split_once('=') {
            Some((k, p)) => {
                if k.is_empty() {
                    return Err(err(format!("key name for file path {p} missing")));
                }
                (k.to_string(), p)
            }
            None => {
                let key = std::path::Path::new(f)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| f.clone());
                (key, f.as_str())
            }
        };
        let path = match b.fs.resolve(&l.dir, rel, &l.file)? {
            Entry::File(p) => p,
            Entry::Dir(p) => {
                return Err(err(format!(
                    "file sources: {} is a directory",
                    b.fs.display(&p).display()
                )));
            }
        };
        let bytes = b.fs.read_source(
            &path,
            super::files::SourceUse::GeneratorFile { secret, key: &key },
        )?;
        pairs.push((key, bytes));
    }
    let mut data: BTreeMap<String, Value> = BTreeMap::new();
    let mut binary: BTreeMap<String, Value> = BTreeMap::new();
    for (key, value) in pairs {
        if data.contains_key(&key) || binary.contains_key(&key) {
            let what = if secret { "secret" } else { "configmap" };
            return Err(err(format!(
                "{what} {} illegally repeats the key `{key}`",
                g.name
            )));
        }
        if secret {
            data.insert(key, Value::String(encode_base64_wrapped(&value)));
        } else {
            match String::from_utf8(value) {
                Ok(s) => {
                    data.insert(key, Value::String(s));
                }
                Err(e) => {
                    // Wrapped like a Secret's values (kustomize encodes both the same way).
                    binary.insert(key, Value::String(encode_base64_wrapped(&e.into_bytes())));
                }
            }
        }
    }
    let mut labels: BTreeMap<String, String> = global.map(|o| o.labels.clone()).unwrap_or_default();
    let mut annotations: BTreeMap<String, String> =
        global.map(|o| o.annotations.clone()).unwrap_or_default();
    if let Some(o) = &g.options {
        labels.extend(o.labels.clone());
        annotations.extend(o.annotations.clone());
    }
    let disable_hash = global.is_some_and(|o| o.disable_name_suffix_hash)
        || g.options
            .as_ref()
            .is_some_and(|o| o.disable_name_suffix_hash);
    let immutable =
        global.is_some_and(|o| o.immutable) || g.options.as_ref().is_some_and(|o| o.immutable);

    let mut md = Map::new();
    md.insert("name".into(), Value::String(g.name.clone()));
    if !g.namespace.is_empty() {
        md.insert("namespace".into(), Value::String(g.namespace.clone()));
    }
    let to_map = |m: BTreeMap<String, String>| {
        Value::Object(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
    };
    if !labels.is_empty() {
        md.insert("labels".into(), to_map(labels));
    }
    if !annotations.is_empty() {
        md.insert("annotations".into(), to_map(annotations));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert("kind".into(), Value::String(kind.into()));
    obj.insert("metadata".into(), Value::Object(md));
    // kustomize's Secret always has `data` (`{}` when empty, which also enters its hash); its
    // ConfigMap has none when empty.
    if !data.is_empty() || secret {
        obj.insert("data".into(), Value::Object(data.into_iter().collect()));
    }
    if !binary.is_empty() {
        obj.insert(
            "binaryData".into(),
            Value::Object(binary.into_iter().collect()),
        );
    }
    if secret {
        let t = if g.secret_type.is_empty() {
            "Opaque"
        } else {
            &g.secret_type
        };
        obj.insert("type".into(), Value::String(t.to_string()));
    }
    if immutable {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut res = Resource::new(Value::Object(obj));
    res.generated = Some(Generated {
        hash: !disable_hash,
        behavior: g.behavior.clone(),
    });
    Ok(res)
}

fn unquote(v: &str) -> &str {
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        return &v[1..v.len() - 1];
    }
    v
}

/// Standard base64 cut into 70-character lines, each ending in `\n`, when 70 characters or longer.
pub fn encode_base64_wrapped(raw: &[u8]) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(raw);
    if enc.len() < 70 {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / 70 + 1);
    for chunk in enc.as_bytes().chunks(70) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Appends `-<hash>` to every generated object that wants it (step 6 of the pipeline).
pub fn add_hash_suffixes(list: &mut [Resource]) {
    for r in list.iter_mut() {
        if !r.generated.as_ref().is_some_and(|g| g.hash) {
            continue;
        }
        let Some(h) = content_hash(&r.obj) else {
            continue;
        };
        let name = format!("{}-{h}", r.name());
        r.store_previous_id();
        r.set_name(&name);
    }
}

/// kustomize's ConfigMap/Secret hash (the name is always hashed as empty, see the scope note).
pub fn content_hash(obj: &Value) -> Option<String> {
    let kind = obj.get("kind").and_then(Value::as_str)?;
    let field = |k: &str| obj.get(k).filter(|v| v.is_object()).cloned();
    let mut m = BTreeMap::new();
    m.insert("kind", Value::String(kind.to_string()));
    m.insert("name", Value::String(String::new()));
    m.insert(
        "data",
        field("data").unwrap_or(Value::String(String::new())),
    );
    match kind {
        "ConfigMap" => {
            if let Some(b) = field("binaryData") {
                m.insert("binaryData", b);
            }
        }
        "Secret" => {
            if let Some(s) = field("stringData") {
                m.insert("stringData", s);
            }
            let t = obj.get("type").and_then(Value::as_str).unwrap_or("");
            m.insert("type", Value::String(t.to_string()));
        }
        _ => return None,
    }
    let mut text = String::new();
    text.push('{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        go_json(&Value::String((*k).to_string()), &mut text);
        text.push(':');
        go_json(v, &mut text);
    }
    text.push('}');
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    Some(
        hex.chars()
            .map(|c| match c {
                '0' => 'g',
                '1' => 'h',
                '3' => 'k',
                'a' => 'm',
                'e' => 't',
                c => c,
            })
            .collect(),
    )
}

/// Go `encoding/json` output: sorted keys, HTML-safe escapes.
fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                        out.push_str(&format!("\\u{:04x}", c as u32))
                    }
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(&Value::String(k.clone()), out);
                out.push(':');
                go_json(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The id a generator entry would produce (for tests and messages).
#[allow(dead_code)]
pub fn generator_id(g: &GeneratorEntry, secret: bool) -> ResId {
    ResId {
        group: String::new(),
        version: "v1".into(),
        kind: if secret { "Secret" } else { "ConfigMap" }.into(),
        namespace: g.namespace.clone(),
        name: g.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_matches_observed_kustomize_values() {
        let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"K":"v"}});
        assert_eq!(content_hash(&cm).unwrap(), "276ch85d82");
        let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"},"data":{"A":"1","K":"v"}});
        assert_eq!(content_hash(&cm).unwrap(), "64cc8kmmhc");
        let s = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"type":"Opaque","data":{"P":"c2VjcmV0"}});
        assert_eq!(content_hash(&s).unwrap(), "d9m2bd67d2");
    }

    #[test]
    fn base64_wraps_at_seventy() {
        assert_eq!(encode_base64_wrapped(b"secret"), "c2VjcmV0");
        let long = encode_base64_wrapped(&[b'a'; 60]);
        assert_eq!(long.lines().next().unwrap().len(), 70);
        assert!(long.ends_with('\n'));
    }
}
