//! Chart loading as Helm's loader does it: a directory (walked in lexical order, `.helmignore` of the
//! top chart applied to every path, symlinks followed only while they stay inside the chart) or a
//! `.tgz` archive ([`super::archive`]) becomes a list of files, and the list becomes a [`Chart`]:
//! `Chart.yaml`, `values.yaml`, `values.schema.json`, `templates/`, `charts/` (subchart directories
//! and `.tgz` archives, names starting `_` or `.` skipped), everything else (`crds/` included) in
//! `.Files`.

use super::archive::{self, MAX_FILE_SIZE};
use super::chart::{Chart, HelmError};
use super::ignore::Rules;
use super::yaml;
use std::path::{Path, PathBuf};

/// A chart's files: path below the chart and contents.
type FileList = Vec<(String, Vec<u8>)>;

/// Largest chart archive read from disk (its compressed size).
const MAX_ARCHIVE_SIZE: u64 = archive::MAX_CHART_SIZE;
/// Files a chart directory may hold (same bound as archives).
const MAX_DIR_FILES: usize = archive::MAX_ENTRIES;

fn load_err(path: &Path, msg: impl std::fmt::Display) -> HelmError {
    HelmError::Load(format!("{}: {msg}", path.display()))
}

/// Loads a chart from a directory or a `.tgz` file.
pub(super) fn load(path: &Path) -> Result<Chart, HelmError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        HelmError::Load(format!(
            "path {:?} not found ({e})",
            path.display().to_string()
        ))
    })?;
    if meta.is_dir() {
        let files = read_dir(path)?;
        return from_files(files, 0, &path.display().to_string());
    }
    if meta.len() > MAX_ARCHIVE_SIZE {
        return Err(load_err(
            path,
            format!("chart archive is larger than the maximum size {MAX_ARCHIVE_SIZE}"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| load_err(path, e))?;
    let label = path.display().to_string();
    let files = unpack(&label, &bytes)?;
    from_files(files, 0, &label)
}

fn unpack(label: &str, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, HelmError> {
    archive::unpack(label, bytes).map_err(|e| match e {
        archive::ArchiveError::NotGzip(_) => HelmError::Load(format!(
            "file '{label}' does not appear to be a gzipped archive"
        )),
        other => HelmError::Load(format!("unable to load chart archive {label}: {other}")),
    })
}

/// Reads a chart directory as Helm's `LoadDir` does.
fn read_dir(root: &Path) -> Result<Vec<(String, Vec<u8>)>, HelmError> {
    let rules = match std::fs::read_to_string(root.join(".helmignore")) {
        Ok(text) => Rules::parse(&text).map_err(|e| load_err(root, e))?,
        Err(_) => Rules::defaults(),
    };
    let canon_root = root.canonicalize().map_err(|e| load_err(root, e))?;
    let mut out = Vec::new();
    walk(root, &canon_root, "", &rules, &mut out, 0)?;
    Ok(out)
}

fn walk(
    root: &Path,
    canon_root: &Path,
    rel: &str,
    rules: &Rules,
    out: &mut Vec<(String, Vec<u8>)>,
    depth: usize,
) -> Result<(), HelmError> {
    if depth > 64 {
        return Err(load_err(&root.join(rel), "directory nesting too deep"));
    }
    let dir = root.join(rel);
    let mut entries: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .map_err(|e| load_err(&dir, e))?
        .filter_map(Result::ok)
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    entries.sort();
    for (name, path) in entries {
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let lmeta = std::fs::symlink_metadata(&path).map_err(|e| load_err(&path, e))?;
        let meta = if lmeta.file_type().is_symlink() {
            // Helm follows symlinks; flotilla follows them only while they stay in the chart, so a
            // chart cannot read files from elsewhere on the machine.
            let target = path.canonicalize().map_err(|e| load_err(&path, e))?;
            if !target.starts_with(canon_root) {
                return Err(HelmError::Load(format!(
                    "chart file {} is a symbolic link to {}, outside the chart",
                    path.display(),
                    target.display()
                )));
            }
            std::fs::metadata(&target).map_err(|e| load_err(&path, e))?
        } else {
            lmeta
        };
        if meta.is_dir() {
            if rules.ignored(&r, true) {
                continue;
            }
            walk(root, canon_root, &r, rules, out, depth + 1)?;
            continue;
        }
        if rules.ignored(&r, false) {
            continue;
        }
        if !meta.is_file() {
            return Err(HelmError::Load(format!(
                "cannot load irregular file {} as it has file mode type bits set",
                path.display()
            )));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(HelmError::Load(format!(
                "chart file {:?} is larger than the maximum file size {MAX_FILE_SIZE}",
                path.file_name().unwrap_or_default().to_string_lossy()
            )));
        }
        if out.len() >= MAX_DIR_FILES {
            return Err(load_err(
                root,
                format!("chart has more than {MAX_DIR_FILES} files"),
            ));
        }
        let mut data = std::fs::read(&path).map_err(|e| load_err(&path, e))?;
        if data.starts_with(b"\xef\xbb\xbf") {
            data.drain(..3);
        }
        out.push((r, data));
    }
    Ok(())
}

/// Helm's `LoadFiles`: a chart from its files (paths relative to the chart).
pub(super) fn from_files(
    files: Vec<(String, Vec<u8>)>,
    depth: usize,
    label: &str,
) -> Result<Chart, HelmError> {
    if depth > 32 {
        return Err(HelmError::Load(format!(
            "{label}: subcharts nested too deeply"
        )));
    }
    let mut meta = None;
    let mut values = serde_json::Value::Null;
    let mut raw_values = Vec::new();
    let mut schema = None;
    let mut templates = Vec::new();
    let mut other = Vec::new();
    // Subcharts by their directory (or archive) name, in first-seen (lexical) order.
    let mut subs: Vec<(String, FileList)> = Vec::new();
    for (name, data) in files {
        match name.as_str() {
            "Chart.yaml" => {
                let text = String::from_utf8_lossy(&data);
                meta = Some(
                    yaml::parse_yaml_json(&text)
                        .map_err(|e| HelmError::Load(format!("cannot load Chart.yaml: {e}")))?,
                );
                continue;
            }
            "Chart.lock" | "requirements.lock" => continue,
            "values.yaml" => {
                let text = String::from_utf8_lossy(&data);
                values = yaml::parse_yaml_json(&text)
                    .map_err(|e| HelmError::Load(format!("cannot load values.yaml: {e}")))?;
                raw_values = data;
                continue;
            }
            "values.schema.json" => {
                schema = Some(data);
                continue;
            }
            _ => {}
        }
        if name.starts_with("templates/") {
            templates.push((name, String::from_utf8_lossy(&data).into_owned()));
        } else if let Some(sub) = name.strip_prefix("charts/") {
            if sub.ends_with(".prov") {
                other.push((name, data));
                continue;
            }
            let (cname, rest) = sub.split_once('/').unwrap_or((sub, ""));
            let cname = cname.to_string();
            let entry = (rest.to_string(), data);
            match subs.iter_mut().find(|(n, _)| *n == cname) {
                Some((_, v)) => v.push(entry),
                None => subs.push((cname, vec![entry])),
            }
        } else {
            other.push((name, data));
        }
    }
    let Some(meta) = meta else {
        return Err(HelmError::Load(format!(
            "Chart.yaml file is missing in {label}"
        )));
    };
    let name = meta
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        return Err(HelmError::Load(format!(
            "validation: chart.metadata.name is required ({label})"
        )));
    }
    if meta
        .get("version")
        .and_then(|n| n.as_str())
        .is_none_or(str::is_empty)
    {
        return Err(HelmError::Load(format!(
            "validation: chart.metadata.version is required ({label})"
        )));
    }
    let mut deps = Vec::new();
    for (cname, files) in subs {
        if cname.starts_with('_') || cname.starts_with('.') {
            continue;
        }
        let sub_label = format!("{label}/charts/{cname}");
        let wrap = |e: HelmError| {
            HelmError::Load(format!("error unpacking subchart {cname} in {name}: {e}"))
        };
        let sub = if cname.ends_with(".tgz") {
            let Some((_, bytes)) = files.into_iter().find(|(rest, _)| rest.is_empty()) else {
                continue;
            };
            let inner = unpack(&sub_label, &bytes).map_err(wrap)?;
            from_files(inner, depth + 1, &sub_label).map_err(wrap)?
        } else {
            let inner: Vec<_> = files.into_iter().filter(|(r, _)| !r.is_empty()).collect();
            if inner.is_empty() {
                // A stray file directly in charts/ is not a chart.
                continue;
            }
            from_files(inner, depth + 1, &sub_label).map_err(wrap)?
        };
        deps.push(sub);
    }
    Ok(Chart {
        name,
        meta,
        values,
        raw_values,
        schema,
        templates,
        files: std::rc::Rc::new(other),
        deps,
    })
}
