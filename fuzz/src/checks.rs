//! The properties the fuzz targets check, shared with tests/kustomize_fuzz_regressions.rs (which
//! includes this file by path), so a saved input is replayed exactly as the fuzzer ran it.
//!
//! Every check must return normally on any input: a panic (including a failed assertion) or a stack
//! overflow is a finding.

use flotilla::kustomize::{self, BuildOptions, SortOrder, yaml};
use flotilla::patch::{self, SmpFlavor, TypeMeta};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Kustomization files and YAML streams: `parse_kustomization` in strict and Flux-root mode, both
/// YAML readers, and the writer's round trip (what we print must read back as the same values).
pub fn kustomization(data: &[u8]) {
    let strict = kustomize::parse_kustomization(data, false);
    let loose = kustomize::parse_kustomization(data, true);
    // Loose decoding accepts a superset of what strict decoding accepts.
    if strict.is_ok() {
        assert!(
            loose.is_ok(),
            "strict accepted, Flux-root rejected: {loose:?}"
        );
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = yaml::parse_documents_yaml11(text);
    if let Ok(docs) = yaml::parse_documents(text) {
        round_trip(&docs);
    }
}

fn round_trip(docs: &[Value]) {
    let out = kustomize::to_yaml_stream(docs);
    match yaml::parse_documents(&out) {
        Ok(back) => assert_eq!(back, docs, "round trip changed values; output:\n{out}"),
        Err(e) => panic!("own output does not parse: {e:?}\n{out}"),
    }
}

const KINDS: &[(&str, &str)] = &[
    ("apps/v1", "Deployment"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("apps/v1", "StatefulSet"),
    ("example.com/v1", "Widget"),
];

/// Separates target from patch, and file records in [`kustomize_build`]; never part of UTF-8 text.
pub const SEPARATOR: u8 = 0xFF;

fn document(bytes: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(bytes).ok()?;
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Some(v);
    }
    yaml::parse_documents(text).ok()?.into_iter().next()
}

fn text_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Patches on fuzzer-built documents. Input: one selector byte (which kind's merge keys), then
/// target and patch separated by [`SEPARATOR`]; each side is read as JSON, or else as the first YAML
/// document. Runs merge patch, JSON patch (which must leave its target alone when it fails) and
/// strategic merge in both flavours.
pub fn patch(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(2, |b| *b == SEPARATOR);
    let (Some(target), Some(patch_doc)) = (
        parts.next().and_then(document),
        parts.next().and_then(document),
    ) else {
        return;
    };

    let mut merged = target.clone();
    patch::merge_patch(&mut merged, &patch_doc);

    let mut patched = target.clone();
    if patch::json_patch(&mut patched, &patch_doc).is_err() {
        assert_eq!(patched, target, "a failed JSON patch modified its target");
    }

    let own = (text_at(&target, "apiVersion"), text_at(&target, "kind"));
    let (api_version, kind) = match usize::from(selector) % (KINDS.len() + 1) {
        i if i < KINDS.len() => KINDS[i],
        _ => own,
    };
    let tm = TypeMeta { api_version, kind };
    let _ = patch::is_delete_patch(&patch_doc);
    for flavor in [SmpFlavor::ApiServer, SmpFlavor::Kustomize] {
        let _ = patch::strategic_merge_as(&target, &patch_doc, tm, flavor);
    }
}

const MAX_FILES: usize = 12;

/// `a/b.yaml` style names only: ASCII letters, digits, `._-`, at most 3 segments, no `..`.
fn sanitise(raw: &[u8]) -> Option<PathBuf> {
    let s = std::str::from_utf8(raw).ok()?;
    let mut out = PathBuf::new();
    for (i, seg) in s.split('/').enumerate() {
        let ok = i < 3
            && !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg.len() <= 40
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            return None;
        }
        out.push(seg);
    }
    Some(out)
}

/// Writes the input's file records under `root` (emptied first); false if `root` is unusable.
fn write_tree(root: &Path, records: &[u8]) -> bool {
    let _ = std::fs::remove_dir_all(root);
    if std::fs::create_dir_all(root).is_err() {
        return false;
    }
    for (i, rec) in records
        .split(|b| *b == SEPARATOR)
        .take(MAX_FILES)
        .enumerate()
    {
        let (name, content) = match rec.iter().position(|b| *b == 0) {
            Some(p) => (sanitise(&rec[..p]), &rec[p + 1..]),
            None if i == 0 => (Some(PathBuf::from("kustomization.yaml")), rec),
            None => continue,
        };
        let Some(name) = name else { continue };
        let path = root.join(name);
        if let Some(parent) = path.parent()
            && std::fs::create_dir_all(parent).is_err()
        {
            continue;
        }
        // A name clashing with a directory just fails to write; the build sees what exists.
        let _ = std::fs::write(&path, content);
    }
    true
}

/// A whole `kustomize::build` of a small tree written to `scratch`. Input: one flag byte (bit 0
/// Flux mode, bit 1 fifo order), then records separated by [`SEPARATOR`], each `path NUL content`
/// (paths sanitised to stay inside `scratch`; a first record without a path is the root
/// kustomization.yaml). A successful build's YAML output must read back as the same objects.
pub fn kustomize_build(data: &[u8], scratch: &Path) {
    let Some((&flags, records)) = data.split_first() else {
        return;
    };
    if !write_tree(scratch, records) {
        return;
    }
    let opts = BuildOptions {
        order: if flags & 2 != 0 {
            SortOrder::Fifo
        } else {
            SortOrder::Legacy
        },
        flux: flags & 1 != 0,
        boundary: Some(scratch.to_path_buf()),
        source_filter: None,
    };
    if let Ok(objects) = kustomize::build(scratch, &opts) {
        round_trip(&objects);
    }
}
