//! Charts: loading a chart directory (with `charts/` subchart directories), computing values as Helm
//! does (defaults ← `-f` files ← `--set`/`--set-string`, `null` deletes, globals, subchart scoping,
//! conditions/tags/aliases), rendering every template and printing what `helm template` prints.

use super::exec::Templates;
use super::strvals;
use super::value::{MapRef, Object, Value};
use super::yaml;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What went wrong, with Helm's message substance.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HelmError {
    /// The chart could not be loaded.
    #[error("{0}")]
    Load(String),
    /// A values file or `--set` expression is invalid.
    #[error("{0}")]
    Values(String),
    /// A template failed to parse or execute.
    #[error("{0}")]
    Render(String),
    /// A rendered manifest is not valid YAML.
    #[error("YAML parse error on {file}: {msg}")]
    Yaml {
        /// The template.
        file: String,
        /// The parser's message.
        msg: String,
    },
    /// `--show-only` named a template the chart does not have.
    #[error("could not find template {0} in chart")]
    ShowOnly(String),
}

/// `helm template`'s options.
#[derive(Debug, Clone, Default)]
pub struct TemplateOptions {
    /// Release name.
    pub release_name: String,
    /// Namespace (`default` when empty).
    pub namespace: String,
    /// `-f` files, in order.
    pub value_files: Vec<PathBuf>,
    /// `--set` expressions, in order.
    pub set: Vec<String>,
    /// `--set-string` expressions, in order.
    pub set_string: Vec<String>,
    /// `--set-json` expressions (`key=<json>` or a whole JSON object), in order.
    pub set_json: Vec<String>,
    /// `--set-file` expressions (`key=path`), in order.
    pub set_file: Vec<String>,
    /// `--set-literal` expressions, in order.
    pub set_literal: Vec<String>,
    /// `--include-crds`: print the charts' `crds/` files first.
    pub include_crds: bool,
    /// `--skip-schema-validation`.
    pub skip_schema_validation: bool,
    /// `--show-only` templates (paths below the chart, globs allowed), in order.
    pub show_only: Vec<String>,
    /// `--kube-version`.
    pub kube_version: Option<String>,
    /// `--api-versions`.
    pub api_versions: Vec<String>,
    /// `--is-upgrade`.
    pub is_upgrade: bool,
    /// `--no-hooks`.
    pub no_hooks: bool,
    /// `--skip-tests`.
    pub skip_tests: bool,
    /// The renderer's limits (steps, value sizes, slow crypto); the defaults suit real charts.
    pub limits: super::limits::Limits,
}

/// A loaded chart (see [`super::load`]).
#[derive(Debug, Clone)]
pub(super) struct Chart {
    /// Name used for paths and value scoping (alias when aliased).
    pub(super) name: String,
    pub(super) meta: serde_json::Value,
    pub(super) values: serde_json::Value,
    /// `values.yaml` as written (`helm show values`).
    pub(super) raw_values: Vec<u8>,
    /// `values.schema.json`, when the chart has one.
    pub(super) schema: Option<Vec<u8>>,
    /// `templates/...` relative paths and text.
    pub(super) templates: Vec<(String, String)>,
    /// Every other file (`.Files`), `crds/` included, in load order.
    /// Shared: every template's `.Files` and copies of the chart (aliases) point at one list.
    pub(super) files: Rc<Vec<(String, Vec<u8>)>>,
    pub(super) deps: Vec<Chart>,
}

/// Helm's `MergeValues`: nested maps merge, anything else replaces.
fn merge_maps(dst: &mut BTreeMap<String, Value>, src: &BTreeMap<String, Value>) {
    for (k, v) in src {
        if let (Value::Map(s), Some(Value::Map(d))) = (v, dst.get(k)) {
            let mut dm = d.borrow().clone();
            merge_maps(&mut dm, &s.borrow());
            dst.insert(k.clone(), Value::map_from(dm));
        } else {
            dst.insert(k.clone(), v.clone());
        }
    }
}

fn as_map(v: &Value) -> Option<MapRef> {
    match v {
        Value::Map(m) => Some(m.clone()),
        _ => None,
    }
}

/// `coalesceTablesFullKey`: fills `dst` from `src` (defaults) without overriding.
fn coalesce_tables(dst: &MapRef, src: &MapRef) {
    let src = src.borrow().clone();
    for (k, sv) in src {
        let dv = dst.borrow().get(&k).cloned();
        match dv {
            Some(Value::Nil) => {
                dst.borrow_mut().remove(&k);
            }
            None => {
                dst.borrow_mut().insert(k, sv.deep_copy());
            }
            Some(Value::Map(dm)) => {
                if let Value::Map(sm) = &sv {
                    coalesce_tables(&dm, sm);
                }
            }
            Some(_) => {}
        }
    }
}

/// Coalesces `chart`'s defaults (and its dependencies') into `v` (user values for this chart).
fn coalesce(chart: &Chart, v: &MapRef) {
    let defaults = Value::from_json(&chart.values, false);
    if let Some(dm) = as_map(&defaults) {
        let entries = dm.borrow().clone();
        for (k, dv) in entries {
            let uv = v.borrow().get(&k).cloned();
            match uv {
                Some(Value::Nil) => {
                    v.borrow_mut().remove(&k);
                }
                Some(Value::Map(um)) => {
                    if let Value::Map(sm) = &dv {
                        coalesce_tables(&um, sm);
                    }
                }
                Some(_) => {}
                None => {
                    v.borrow_mut().insert(k, dv);
                }
            }
        }
    }
    for dep in &chart.deps {
        let existing = v.borrow().get(&dep.name).cloned();
        let sub = match existing {
            Some(Value::Map(m)) => m,
            _ => {
                let m = Value::new_map();
                v.borrow_mut().insert(dep.name.clone(), m.clone());
                match m {
                    Value::Map(mm) => mm,
                    _ => continue,
                }
            }
        };
        coalesce_globals(&sub, v);
        coalesce(dep, &sub);
    }
}

/// Parent globals flow into (and override) the subchart's.
fn coalesce_globals(dest: &MapRef, src: &MapRef) {
    let dg = match dest.borrow().get("global") {
        Some(Value::Map(m)) => m.borrow().clone(),
        _ => BTreeMap::new(),
    };
    let sg = match src.borrow().get("global") {
        Some(Value::Map(m)) => m.borrow().clone(),
        _ => BTreeMap::new(),
    };
    let mut dg = dg;
    for (k, sv) in sg {
        match (&sv, dg.get(&k)) {
            (Value::Map(sm), Some(Value::Map(dm))) => {
                let vv = Value::map_from(sm.borrow().clone()).deep_copy();
                if let Value::Map(vvm) = &vv {
                    coalesce_tables(vvm, dm);
                }
                dg.insert(k, vv);
            }
            (Value::Map(sm), None) => {
                dg.insert(k, Value::Map(sm.clone()).deep_copy());
            }
            (Value::Map(_), Some(_)) => {}
            (_, Some(Value::Map(_))) => {}
            _ => {
                dg.insert(k, sv);
            }
        }
    }
    dest.borrow_mut()
        .insert("global".into(), Value::map_from(dg));
}

/// Removes `null` map entries left by defaults (Helm drops them from the final values).
fn drop_nulls(m: &MapRef) {
    let keys: Vec<String> = m
        .borrow()
        .iter()
        .filter(|(_, v)| matches!(v, Value::Nil))
        .map(|(k, _)| k.clone())
        .collect();
    for k in keys {
        m.borrow_mut().remove(&k);
    }
    let children: Vec<MapRef> = m.borrow().values().filter_map(as_map).collect();
    for c in children {
        drop_nulls(&c);
    }
}

fn path_value(root: &MapRef, path: &str) -> Option<Value> {
    let mut cur = Value::Map(root.clone());
    for p in path.split('.') {
        let next = match &cur {
            Value::Map(m) => m.borrow().get(p).cloned(),
            _ => None,
        }?;
        cur = next;
    }
    Some(cur)
}

/// Applies `dependencies:` (aliases, missing charts, conditions, tags) of `chart` given the parent's
/// coalesced values.
fn process_dependencies(chart: &mut Chart, vals: &MapRef) -> Result<(), HelmError> {
    let Some(list) = chart
        .meta
        .get("dependencies")
        .and_then(|d| d.as_array())
        .cloned()
    else {
        return Ok(());
    };
    // Every missing dependency is named, in Chart.yaml order (Helm's `CheckDependencies`).
    let missing: Vec<&str> = list
        .iter()
        .filter_map(|d| d.get("name").and_then(|x| x.as_str()))
        .filter(|name| {
            !chart
                .deps
                .iter()
                .any(|c| c.meta.get("name").and_then(|x| x.as_str()) == Some(*name))
        })
        .collect();
    if !missing.is_empty() {
        return Err(HelmError::Load(format!(
            "an error occurred while checking for chart dependencies. You may need to run 'helm dependency build' to fetch missing dependencies: found in Chart.yaml, but missing in charts/ directory: {}",
            missing.join(", ")
        )));
    }
    let mut kept = Vec::new();
    let mut available = std::mem::take(&mut chart.deps);
    for d in &list {
        let name = d.get("name").and_then(|x| x.as_str()).unwrap_or("");
        let Some(idx) = available
            .iter()
            .position(|c| c.meta.get("name").and_then(|x| x.as_str()) == Some(name))
        else {
            return Err(HelmError::Load(format!(
                "an error occurred while checking for chart dependencies. You may need to run 'helm dependency build' to fetch missing dependencies: found in Chart.yaml, but missing in charts/ directory: {name}"
            )));
        };
        let mut sub = available[idx].clone();
        if let Some(alias) = d.get("alias").and_then(|x| x.as_str()) {
            sub.name = alias.to_string();
        }
        let mut enabled = true;
        let tags: Vec<&str> = d
            .get("tags")
            .and_then(|t| t.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        if !tags.is_empty() {
            let vals_tags: Vec<bool> = tags
                .iter()
                .filter_map(|t| match path_value(vals, &format!("tags.{t}")) {
                    Some(Value::Bool(b)) => Some(b),
                    _ => None,
                })
                .collect();
            if !vals_tags.is_empty() {
                enabled = vals_tags.iter().any(|b| *b);
            }
        }
        if let Some(cond) = d.get("condition").and_then(|x| x.as_str()) {
            for c in cond.split(',') {
                if let Some(Value::Bool(b)) = path_value(vals, c.trim()) {
                    enabled = b;
                    break;
                }
            }
        }
        if enabled {
            kept.push(sub);
        }
    }
    // Subcharts in charts/ not listed in dependencies are always included.
    for c in available.drain(..) {
        let listed = list.iter().any(|d| {
            d.get("name").and_then(|x| x.as_str()) == c.meta.get("name").and_then(|x| x.as_str())
        });
        if !listed {
            kept.push(c);
        }
    }
    chart.deps = kept;
    Ok(())
}

/// Applies the command-line values in Helm's order: `--set-json`, `--set`, `--set-string`,
/// `--set-file`, `--set-literal`.
fn apply_set_flags(
    user: &mut BTreeMap<String, Value>,
    opts: &TemplateOptions,
) -> Result<(), HelmError> {
    for s in &opts.set_json {
        let trimmed = s.trim();
        if trimmed.starts_with('{') {
            let obj = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(trimmed)
                .map_err(|e| {
                HelmError::Values(format!("failed parsing --set-json data JSON: {s} ({e})"))
            })?;
            let v = Value::from_json(&serde_json::Value::Object(obj), false);
            if let Value::Map(m) = v {
                merge_maps(user, &m.borrow());
            }
        } else {
            strvals::parse_json_into(s, user).map_err(|e| {
                HelmError::Values(format!("failed parsing --set-json data {s}: {e}"))
            })?;
        }
    }
    for s in &opts.set {
        strvals::parse_into(s, user, false)
            .map_err(|e| HelmError::Values(format!("failed parsing --set data: {e}")))?;
    }
    for s in &opts.set_string {
        strvals::parse_into(s, user, true)
            .map_err(|e| HelmError::Values(format!("failed parsing --set-string data: {e}")))?;
    }
    let read = |p: &str| -> Result<Value, strvals::SetError> {
        std::fs::read(p)
            .map(|b| Value::Str(String::from_utf8_lossy(&b).into_owned()))
            .map_err(|e| {
                let why = match e.kind() {
                    std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                    _ => e.to_string(),
                };
                strvals::SetError(format!("open {p}: {why}"))
            })
    };
    for s in &opts.set_file {
        strvals::parse_file_into(s, user, &read)
            .map_err(|e| HelmError::Values(format!("failed parsing --set-file data: {e}")))?;
    }
    for s in &opts.set_literal {
        strvals::parse_literal_into(s, user)
            .map_err(|e| HelmError::Values(format!("failed parsing --set-literal data: {e}")))?;
    }
    Ok(())
}

fn compute_values(chart: &mut Chart, opts: &TemplateOptions) -> Result<MapRef, HelmError> {
    let mut user = BTreeMap::new();
    for f in &opts.value_files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| HelmError::Values(format!("open {}: {e}", f.display())))?;
        let v = yaml::parse_yaml(&text)
            .map_err(|e| HelmError::Values(format!("failed to parse {}: {e}", f.display())))?;
        match v {
            Value::Map(m) => merge_maps(&mut user, &m.borrow()),
            Value::Nil => {}
            _ => {
                return Err(HelmError::Values(format!(
                    "failed to parse {}: values must be a map",
                    f.display()
                )));
            }
        }
    }
    apply_set_flags(&mut user, opts)?;
    // Conditions read the coalesced values; resolve them level by level.
    let probe = Value::map_from(user.clone()).deep_copy();
    let probe = as_map(&probe).unwrap_or_else(|| Rc::new(std::cell::RefCell::new(BTreeMap::new())));
    coalesce(chart, &probe);
    resolve_deps(chart, &probe)?;
    import_values(chart);
    let vals = Value::map_from(user);
    let vals = as_map(&vals).unwrap_or_else(|| Rc::new(std::cell::RefCell::new(BTreeMap::new())));
    coalesce(chart, &vals);
    drop_nulls(&vals);
    Ok(vals)
}

/// Helm's `MergeTables`: fills `dst` with what it lacks from `src`; `dst` wins, maps recurse.
fn merge_tables(dst: &MapRef, src: &MapRef) {
    let src = src.borrow().clone();
    for (k, sv) in src {
        let dv = dst.borrow().get(&k).cloned();
        match (dv, &sv) {
            (None, _) => {
                dst.borrow_mut().insert(k, sv.deep_copy());
            }
            (Some(Value::Map(dm)), Value::Map(sm)) => merge_tables(&dm, sm),
            _ => {}
        }
    }
}

/// Helm's `pathToMap`: `a.b` and `m` give `{a: {b: m}}`; `.` gives `m`.
fn path_to_map(path: &str, m: MapRef) -> MapRef {
    if path == "." || path.is_empty() {
        return m;
    }
    let mut cur = Value::Map(m);
    for part in path.split('.').rev() {
        let mut outer = BTreeMap::new();
        outer.insert(part.to_string(), cur);
        cur = Value::map_from(outer);
    }
    as_map(&cur).unwrap_or_else(|| Rc::new(std::cell::RefCell::new(BTreeMap::new())))
}

/// `import-values` (both the `exports.<name>` string form and `child`/`parent` maps), deepest
/// charts first. Imports read the subcharts' defaults, not user overrides, and the parent's own
/// values win over imported ones (Helm's `processImportValues` with merge).
fn import_values(chart: &mut Chart) {
    for d in &mut chart.deps {
        import_values(d);
    }
    let Some(list) = chart
        .meta
        .get("dependencies")
        .and_then(|d| d.as_array())
        .cloned()
    else {
        return;
    };
    if !list.iter().any(|d| d.get("import-values").is_some()) {
        return;
    }
    // The chart's defaults with its (enabled) subcharts' defaults, nulls kept.
    let cvals = Rc::new(std::cell::RefCell::new(BTreeMap::new()));
    coalesce(chart, &cvals);
    let imported = Rc::new(std::cell::RefCell::new(BTreeMap::new()));
    for d in &list {
        let name = d
            .get("alias")
            .and_then(|x| x.as_str())
            .or_else(|| d.get("name").and_then(|x| x.as_str()))
            .unwrap_or("");
        let Some(ivs) = d.get("import-values").and_then(|x| x.as_array()) else {
            continue;
        };
        for iv in ivs {
            let (child, parent) = match iv {
                serde_json::Value::String(s) => (format!("exports.{s}"), ".".to_string()),
                serde_json::Value::Object(o) => (
                    o.get("child")
                        .and_then(|x| x.as_str())
                        .unwrap_or("")
                        .to_string(),
                    o.get("parent")
                        .and_then(|x| x.as_str())
                        .unwrap_or("")
                        .to_string(),
                ),
                _ => continue,
            };
            // Only tables import (Helm warns "ImportValues missing table" and goes on).
            let Some(Value::Map(table)) = path_value(&cvals, &format!("{name}.{child}")) else {
                continue;
            };
            let table = as_map(&Value::Map(table).deep_copy())
                .unwrap_or_else(|| Rc::new(std::cell::RefCell::new(BTreeMap::new())));
            let src = path_to_map(&parent, table);
            // Later imports fill, earlier win (Helm's MergeTables(b, new)).
            merge_tables(&imported, &src);
        }
    }
    merge_tables(&cvals, &imported);
    chart.values = Value::Map(cvals).to_json();
}

fn resolve_deps(chart: &mut Chart, vals: &MapRef) -> Result<(), HelmError> {
    process_dependencies(chart, vals)?;
    for d in &mut chart.deps {
        let sub = match vals.borrow().get(&d.name) {
            Some(Value::Map(m)) => m.clone(),
            _ => Rc::new(std::cell::RefCell::new(BTreeMap::new())),
        };
        resolve_deps(d, &sub)?;
    }
    Ok(())
}

/// `.Files`
#[derive(Debug)]
struct Files {
    files: Rc<Vec<(String, Vec<u8>)>>,
}

/// Go's `path.Match` (plus `**`), used by `.Files.Glob`, `--show-only` and `.helmignore`.
pub(super) fn glob_match(pattern: &str, name: &str) -> bool {
    // Go's path.Match plus `**` as gobwas/glob (Helm's Glob) allows.
    fn m(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') if p.get(1) == Some(&'*') => (0..=n.len()).any(|i| m(&p[2..], &n[i..])),
            Some('*') => (0..=n.len())
                .take_while(|i| *i == 0 || n[i - 1] != '/')
                .any(|i| m(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && n[0] != '/' && m(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|c| *c == ']') else {
                    return false;
                };
                let Some(&c) = n.first() else { return false };
                let set = &p[1..end];
                let (neg, set) = if set.first() == Some(&'^') || set.first() == Some(&'!') {
                    (true, &set[1..])
                } else {
                    (false, set)
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && m(&p[2..], &n[1..]),
            Some(c) => n.first() == Some(c) && m(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    m(&p, &n)
}

impl Object for Files {
    fn type_name(&self) -> &'static str {
        "files.Files"
    }
    fn display(&self) -> String {
        let mut out = String::from("map[");
        for (i, (k, v)) in self.files.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&format!("{k}:{v:?}"));
        }
        out.push(']');
        out
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        let mut e: Vec<(String, Value)> = self
            .files
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Value::Str(String::from_utf8_lossy(v).into_owned()),
                )
            })
            .collect();
        e.sort_by(|a, b| a.0.cmp(&b.0));
        Some(e)
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let arg = || {
            args.first()
                .and_then(|a| a.as_str())
                .unwrap_or("")
                .to_string()
        };
        let get = |n: &str| {
            self.files
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        Some(Ok(match name {
            "Get" => Value::Str(get(&arg()).unwrap_or_default()),
            "GetBytes" => Value::Str(get(&arg()).unwrap_or_default()),
            "Lines" => {
                let text = get(&arg()).unwrap_or_default();
                if text.is_empty() {
                    Value::list(Vec::new())
                } else {
                    Value::list(
                        text.split('\n')
                            .map(|l| Value::Str(l.to_string()))
                            .collect(),
                    )
                }
            }
            "Glob" => {
                let pat = arg();
                Value::Obj(Rc::new(Files {
                    files: Rc::new(
                        self.files
                            .iter()
                            .filter(|(k, _)| glob_match(&pat, k))
                            .cloned()
                            .collect(),
                    ),
                }))
            }
            "AsConfig" | "AsSecrets" => {
                let m: BTreeMap<String, Value> = self
                    .files
                    .iter()
                    .map(|(k, v)| {
                        let base = k.rsplit('/').next().unwrap_or(k).to_string();
                        let val = if name == "AsSecrets" {
                            use base64::Engine as _;
                            base64::engine::general_purpose::STANDARD.encode(v)
                        } else {
                            String::from_utf8_lossy(v).into_owned()
                        };
                        (base, Value::Str(val))
                    })
                    .collect();
                if m.is_empty() {
                    Value::Str(String::new())
                } else {
                    Value::Str(
                        yaml::to_yaml(&Value::map_from(m))
                            .trim_end_matches('\n')
                            .to_string(),
                    )
                }
            }
            _ => return None,
        }))
    }
}

/// `.Capabilities.KubeVersion`
#[derive(Debug)]
struct KubeVersion {
    version: String,
    major: String,
    minor: String,
}

impl Object for KubeVersion {
    fn type_name(&self) -> &'static str {
        "common.KubeVersion"
    }
    fn display(&self) -> String {
        self.version.clone()
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(Value::Str(match name {
            "Version" | "GitVersion" | "String" => self.version.clone(),
            "Major" => self.major.clone(),
            "Minor" => self.minor.clone(),
            _ => return None,
        }))
    }
    fn call(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
}

/// `.Capabilities.APIVersions`
#[derive(Debug)]
struct ApiVersions(Vec<String>);

impl Object for ApiVersions {
    fn type_name(&self) -> &'static str {
        "common.VersionSet"
    }
    fn display(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Has" => {
                let a = args.first().and_then(|a| a.as_str()).unwrap_or("");
                Some(Ok(Value::Bool(self.0.iter().any(|v| v == a))))
            }
            _ => None,
        }
    }
}

/// `.Capabilities.HelmVersion`
#[derive(Debug)]
struct HelmVersion;

impl Object for HelmVersion {
    fn type_name(&self) -> &'static str {
        "version.BuildInfo"
    }
    fn display(&self) -> String {
        "{v4.3.1 c0d08d0d6d9424d4a14febb5e8a3e51b0dd00dff clean go1.27.2 v1.37}".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(Value::Str(
            match name {
                "Version" => "v4.3.1",
                "GitCommit" => "c0d08d0d6d9424d4a14febb5e8a3e51b0dd00dff",
                "GitTreeState" => "clean",
                "GoVersion" => "go1.27.2",
                "KubeClientVersion" => "v1.37",
                _ => return None,
            }
            .into(),
        ))
    }
    fn call(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
}

const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "apiextensions.k8s.io/v1",
    "apiregistration.k8s.io/v1",
    "apps/v1",
    "authentication.k8s.io/v1",
    "authorization.k8s.io/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "certificates.k8s.io/v1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "events.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1",
    "networking.k8s.io/v1",
    "node.k8s.io/v1",
    "policy/v1",
    "rbac.authorization.k8s.io/v1",
    "resource.k8s.io/v1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1",
];

/// `.Chart.Maintainers`: Go structs, printed as maps with Helm's field names.
fn maintainers_value(m: &serde_json::Value) -> Value {
    let items = m
        .get("maintainers")
        .and_then(|x| x.as_array())
        .cloned()
        .unwrap_or_default();
    let field = |x: &serde_json::Value, k: &str| {
        Value::Str(x.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string())
    };
    Value::list(
        items
            .iter()
            .map(|x| {
                let mut e = BTreeMap::new();
                e.insert("Email".to_string(), field(x, "email"));
                e.insert("Name".to_string(), field(x, "name"));
                e.insert("URL".to_string(), field(x, "url"));
                Value::map_from(e)
            })
            .collect(),
    )
}

/// `.Chart.Dependencies` after Helm processed them: `Name` is the alias when aliased, `Enabled`
/// says whether the subchart is rendered, `ImportValues` are rewritten as `child`/`parent` maps.
fn dependencies_value(c: &Chart) -> Value {
    let items = c
        .meta
        .get("dependencies")
        .and_then(|x| x.as_array())
        .cloned()
        .unwrap_or_default();
    let text = |x: &serde_json::Value, k: &str| {
        x.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string()
    };
    let strings = |x: &serde_json::Value, k: &str| {
        Value::list(
            x.get(k)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .map(|t| Value::Str(t.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        )
    };
    Value::list(
        items
            .iter()
            .map(|x| {
                let alias = text(x, "alias");
                let name = if alias.is_empty() {
                    text(x, "name")
                } else {
                    alias.clone()
                };
                let enabled = c.deps.iter().any(|d| d.name == name);
                let imports: Vec<Value> = x
                    .get("import-values")
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|iv| {
                                let (child, parent) = match iv {
                                    serde_json::Value::String(s) => {
                                        (format!("exports.{s}"), ".".to_string())
                                    }
                                    serde_json::Value::Object(_) => {
                                        (text(iv, "child"), text(iv, "parent"))
                                    }
                                    _ => return None,
                                };
                                let mut m = BTreeMap::new();
                                m.insert("child".to_string(), Value::Str(child));
                                m.insert("parent".to_string(), Value::Str(parent));
                                Some(Value::map_from(m))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let mut e = BTreeMap::new();
                e.insert("Alias".to_string(), Value::Str(alias));
                e.insert("Condition".to_string(), Value::Str(text(x, "condition")));
                e.insert("Enabled".to_string(), Value::Bool(enabled));
                e.insert("ImportValues".to_string(), Value::list(imports));
                e.insert("Name".to_string(), Value::Str(name));
                e.insert("Repository".to_string(), Value::Str(text(x, "repository")));
                e.insert("Tags".to_string(), strings(x, "tags"));
                e.insert("Version".to_string(), Value::Str(text(x, "version")));
                Value::map_from(e)
            })
            .collect(),
    )
}

fn chart_meta_value(c: &Chart, is_root: bool) -> Value {
    let m = &c.meta;
    let s = |k: &str| Value::Str(m.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string());
    let list = |k: &str| {
        Value::from_json(
            m.get(k)
                .filter(|v| v.is_array())
                .unwrap_or(&serde_json::Value::Array(Vec::new())),
            false,
        )
    };
    let mut map = BTreeMap::new();
    map.insert("APIVersion".into(), s("apiVersion"));
    // A nil `map[string]string` in Helm: prints `map[]`, ranges over nothing.
    map.insert(
        "Annotations".into(),
        m.get("annotations")
            .filter(|a| a.is_object())
            .map_or_else(Value::new_map, |a| Value::from_json(a, false)),
    );
    map.insert("AppVersion".into(), s("appVersion"));
    map.insert("Condition".into(), s("condition"));
    map.insert("Dependencies".into(), dependencies_value(c));
    map.insert(
        "Deprecated".into(),
        Value::Bool(
            m.get("deprecated")
                .and_then(|x| x.as_bool())
                .unwrap_or(false),
        ),
    );
    map.insert("Description".into(), s("description"));
    map.insert("Home".into(), s("home"));
    map.insert("Icon".into(), s("icon"));
    map.insert("IsRoot".into(), Value::Bool(is_root));
    map.insert("Keywords".into(), list("keywords"));
    map.insert("KubeVersion".into(), s("kubeVersion"));
    map.insert("Maintainers".into(), maintainers_value(m));
    // An aliased dependency is renamed (Helm rewrites its metadata name to the alias).
    map.insert("Name".into(), Value::Str(c.name.clone()));
    map.insert("Sources".into(), list("sources"));
    map.insert("Tags".into(), s("tags"));
    map.insert("Type".into(), s("type"));
    map.insert("Version".into(), s("version"));
    Value::map_from(map)
}

struct Renderable {
    /// Full name, e.g. `mychart/charts/sub/templates/x.yaml`.
    name: String,
    text: String,
    data: BTreeMap<String, Value>,
    base_path: String,
    library: bool,
}

/// Queues `c`'s templates (and its dependencies') with their render data; returns `c`'s data map,
/// which the parent exposes as `.Subcharts.<name>`.
fn collect(
    c: &Chart,
    prefix: &str,
    values: Value,
    common: &BTreeMap<String, Value>,
    is_root: bool,
    out: &mut Vec<Renderable>,
) -> Value {
    let path = if prefix.is_empty() {
        c.name.clone()
    } else {
        format!("{prefix}/charts/{}", c.name)
    };
    let library = c.meta.get("type").and_then(|t| t.as_str()) == Some("library");
    let mut data = common.clone();
    data.insert("Chart".into(), chart_meta_value(c, is_root));
    data.insert(
        "Files".into(),
        Value::Obj(Rc::new(Files {
            files: Rc::clone(&c.files),
        })),
    );
    data.insert("Values".into(), values.clone());
    let mut subcharts = BTreeMap::new();
    for d in &c.deps {
        let sub = match &values {
            Value::Map(m) => m
                .borrow()
                .get(&d.name)
                .cloned()
                .unwrap_or_else(Value::new_map),
            _ => Value::new_map(),
        };
        let sub_data = collect(d, &path, sub, common, false, out);
        subcharts.insert(d.name.clone(), sub_data);
    }
    data.insert("Subcharts".into(), Value::map_from(subcharts));
    for (rel, text) in &c.templates {
        out.push(Renderable {
            name: format!("{path}/{rel}"),
            text: text.clone(),
            data: data.clone(),
            base_path: format!("{path}/templates"),
            library,
        });
    }
    Value::map_from(data)
}

/// Helm's render order: deeper paths first, then reverse lexical.
fn render_order(a: &str, b: &str) -> std::cmp::Ordering {
    let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
    cb.cmp(&ca).then_with(|| b.cmp(a))
}

/// Helm's `cleanupParseError`/`cleanupExecError` shapes.
fn cleanup_error(file: &str, err: String, parse: bool) -> String {
    if parse {
        let tokens: Vec<&str> = err.split(": ").collect();
        if tokens.len() == 1 {
            return format!("parse error in ({file}): {err}");
        }
        let location = tokens[1];
        let msg = tokens[tokens.len() - 1];
        return format!("parse error at ({location}): {msg}");
    }
    let tokens: Vec<&str> = err.splitn(3, ": ").collect();
    if tokens.len() != 3 {
        return format!("execution error at ({file}): {err}");
    }
    if let Some(start) = tokens[2].find("HELM[")
        && let Some(end) = tokens[2][start..].find("]HELM")
    {
        return format!(
            "execution error at ({}): {}",
            tokens[1],
            &tokens[2][start + 5..start + end]
        );
    }
    format_exec_error(&err)
}

/// Helm v4's layout of Go's exec errors: `LOC\n  executing "NAME" at <NODE>:\n    MSG`, nested
/// `error calling include:` errors laid out the same way below. Errors it cannot lay out (e.g. from
/// `tpl`, whose message wraps the inner error) stay in Go's one-line form, as Helm prints them.
fn format_exec_error(err: &str) -> String {
    layout_exec_error(err).unwrap_or_else(|| err.to_string())
}

fn layout_exec_error(err: &str) -> Option<String> {
    let rest = err.strip_prefix("template: ")?;
    let (loc, rest) = rest.split_once(": executing \"")?;
    let (name, rest) = rest.split_once("\" at <")?;
    let (node, msg) = rest.split_once(">: ")?;
    let msg = match msg.split_once(": template: ") {
        Some((head, inner)) => {
            let simple = head
                .strip_prefix("error calling ")
                .is_some_and(|f| !f.contains(' '));
            if !simple {
                return None;
            }
            let inner = format!("template: {inner}");
            let laid = if inner.contains(": executing \"") {
                layout_exec_error(&inner)?
            } else {
                inner
            };
            format!("{head}:\n{laid}")
        }
        None => msg.to_string(),
    };
    Some(format!(
        "{loc}\n  executing \"{name}\" at <{node}>:\n    {msg}"
    ))
}

const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// One output document.
struct Doc {
    path: String,
    content: String,
    kind: String,
}

/// Splits a rendered file on `---` lines; each document keeps its text up to the separator.
fn split_docs(text: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        if let Some(rest) = body.strip_prefix("---") {
            docs.push(std::mem::take(&mut cur));
            // Helm's separator is `---\s*`: text right after it (`---# comment`, left by a
            // `{{- … -}}` trim) starts the next document.
            let rest = rest.trim_start_matches([' ', '\t']);
            if !rest.is_empty() {
                cur.push_str(rest);
                if line.ends_with('\n') {
                    cur.push('\n');
                }
            }
            continue;
        }
        cur.push_str(line);
    }
    docs.push(cur);
    docs.into_iter()
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim_start().to_string())
        .collect()
}

/// The kind and `helm.sh/hook` annotation of a document. Invalid YAML is an error, as in Helm
/// (the parser's message). This reader is stricter than Go's yaml.v2 about escapes in quoted
/// strings (e.g. `\'`), so documents it rejects for that reason fall back to a line scan.
fn doc_head(doc: &str) -> Result<(String, Option<String>), String> {
    let parsed = yaml::parse_yaml_json(doc);
    if let Err(e) = &parsed {
        let msg = e.to_string();
        // Go's reader also accepts duplicate keys (the last wins), which this one rejects.
        if !msg.contains("escape") && !msg.contains("duplicate") {
            return Err(msg);
        }
    }
    if let Ok(head) = parsed {
        let kind = head
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_string();
        let hook = head
            .pointer("/metadata/annotations")
            .and_then(|a| a.get("helm.sh/hook"))
            .and_then(|h| h.as_str())
            .map(str::to_string);
        return Ok((kind, hook));
    }
    let unquote = |v: &str| v.trim().trim_matches(['"', '\'']).to_string();
    let kind = doc
        .lines()
        .find_map(|l| l.strip_prefix("kind:"))
        .map(unquote)
        .unwrap_or_default();
    let hook = doc
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("helm.sh/hook:"))
        .map(unquote);
    Ok((kind, hook))
}

fn kind_rank(kind: &str) -> Option<usize> {
    INSTALL_ORDER.iter().position(|k| *k == kind)
}

fn sort_by_kind(docs: &mut [Doc]) {
    docs.sort_by(|a, b| match (kind_rank(&a.kind), kind_rank(&b.kind)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.kind.cmp(&b.kind),
    });
}

/// The schemas of `c` and its enabled subcharts with their scoped values, parent first.
fn schema_checks<'a>(c: &'a Chart, vals: &MapRef, out: &mut Vec<super::schema::Check<'a>>) {
    if let Some(schema) = &c.schema {
        out.push(super::schema::Check {
            name: &c.name,
            schema,
            values: vals.clone(),
        });
    }
    for d in &c.deps {
        let sub = match vals.borrow().get(&d.name) {
            Some(Value::Map(m)) => m.clone(),
            _ => Rc::new(std::cell::RefCell::new(BTreeMap::new())),
        };
        schema_checks(d, &sub, out);
    }
}

/// Helm's `CRDObjects`: the chart's `crds/*.{yaml,yml,json}` files (load order), then its enabled
/// subcharts', as `(chart path/crds/file, text)`.
fn crd_objects(c: &Chart, prefix: &str) -> Vec<(String, String)> {
    let path = if prefix.is_empty() {
        c.name.clone()
    } else {
        format!("{prefix}/charts/{}", c.name)
    };
    let mut out: Vec<(String, String)> = c
        .files
        .iter()
        .filter(|(n, _)| {
            n.starts_with("crds/")
                && [".yaml", ".yml", ".json"]
                    .iter()
                    .any(|ext| n.ends_with(ext))
        })
        .map(|(n, d)| {
            (
                format!("{path}/{n}"),
                String::from_utf8_lossy(d).into_owned(),
            )
        })
        .collect();
    for d in &c.deps {
        out.extend(crd_objects(d, &path));
    }
    out
}

/// Renders a chart as `helm template NAME CHART` does and returns the printed text.
pub fn template(chart_dir: &Path, opts: &TemplateOptions) -> Result<String, HelmError> {
    let dir = chart_dir.to_path_buf();
    on_render_thread(opts, move || super::load::load(&dir))
}

/// `helm template` of a chart given as files in memory (paths below the chart root, as in an
/// archive without its top directory); `--set-file` paths are still read from disk.
pub fn template_files(
    files: Vec<(String, Vec<u8>)>,
    opts: &TemplateOptions,
) -> Result<String, HelmError> {
    on_render_thread(opts, move || super::load::from_files(files, 0, "chart"))
}

fn on_render_thread(
    opts: &TemplateOptions,
    load: impl FnOnce() -> Result<Chart, HelmError> + Send + 'static,
) -> Result<String, HelmError> {
    // Deep `include` recursion (Helm allows 1000 levels) needs a deep stack: render on a thread
    // with a large (lazily committed) stack.
    let opts = opts.clone();
    let handle = std::thread::Builder::new()
        .name("helm-render".into())
        .stack_size(1 << 30)
        .spawn(move || template_inner(load()?, &opts))
        .map_err(|e| HelmError::Render(format!("cannot start renderer: {e}")))?;
    handle
        .join()
        .unwrap_or_else(|_| Err(HelmError::Render("renderer panicked".into())))
}

fn template_inner(mut chart: Chart, opts: &TemplateOptions) -> Result<String, HelmError> {
    super::limits::begin(opts.limits);
    let vals = compute_values(&mut chart, opts)?;
    if !opts.skip_schema_validation {
        let mut checks = Vec::new();
        schema_checks(&chart, &vals, &mut checks);
        if let Some(msg) = super::schema::validate(&checks) {
            return Err(HelmError::Values(msg));
        }
    }
    let namespace = if opts.namespace.is_empty() {
        "default".to_string()
    } else {
        opts.namespace.clone()
    };
    let mut release = BTreeMap::new();
    release.insert("Name".into(), Value::Str(opts.release_name.clone()));
    release.insert("Namespace".into(), Value::Str(namespace));
    release.insert("IsUpgrade".into(), Value::Bool(opts.is_upgrade));
    release.insert("IsInstall".into(), Value::Bool(!opts.is_upgrade));
    release.insert("Revision".into(), Value::Int(1));
    release.insert("Service".into(), Value::Str("Helm".into()));
    let kv = opts
        .kube_version
        .clone()
        .unwrap_or_else(|| "v1.37.0".into());
    let kv = if kv.starts_with('v') {
        kv
    } else {
        format!("v{kv}")
    };
    let mut parts = kv.trim_start_matches('v').split(['.', '-', '+']);
    let major = parts.next().unwrap_or("").to_string();
    let minor = parts.next().unwrap_or("").to_string();
    let mut apis: Vec<String> = DEFAULT_API_VERSIONS.iter().map(|s| s.to_string()).collect();
    apis.extend(opts.api_versions.iter().cloned());
    let mut caps = BTreeMap::new();
    caps.insert(
        "KubeVersion".into(),
        Value::Obj(Rc::new(KubeVersion {
            version: kv,
            major,
            minor,
        })),
    );
    caps.insert("APIVersions".into(), Value::Obj(Rc::new(ApiVersions(apis))));
    caps.insert("HelmVersion".into(), Value::Obj(Rc::new(HelmVersion)));
    let mut common = BTreeMap::new();
    common.insert("Release".into(), Value::map_from(release));
    common.insert("Capabilities".into(), Value::map_from(caps));

    let mut items = Vec::new();
    collect(&chart, "", Value::Map(vals), &common, true, &mut items);
    items.sort_by(|a, b| render_order(&a.name, &b.name));

    let mut set = Templates::default();
    for it in &items {
        set.add(&it.name, &it.text)
            .map_err(|e| HelmError::Render(cleanup_error(&it.name, e.to_string(), true)))?;
    }
    let mut rendered: Vec<(String, String)> = Vec::new();
    for it in &items {
        let base = it.name.rsplit('/').next().unwrap_or("");
        if base.starts_with('_') || it.library {
            continue;
        }
        let mut data = it.data.clone();
        let mut tmap = BTreeMap::new();
        tmap.insert("Name".into(), Value::Str(it.name.clone()));
        tmap.insert("BasePath".into(), Value::Str(it.base_path.clone()));
        data.insert("Template".into(), Value::map_from(tmap));
        let out = set
            .execute(&it.name, &Value::map_from(data))
            .map_err(|e| HelmError::Render(cleanup_error(&it.name, e, false)))?;
        rendered.push((it.name.clone(), out.replace("<no value>", "")));
    }
    rendered.sort_by(|a, b| a.0.cmp(&b.0));

    let mut manifests = Vec::new();
    let mut hooks = Vec::new();
    for (name, text) in rendered {
        if name.ends_with("NOTES.txt") || text.trim().is_empty() {
            continue;
        }
        for doc in split_docs(&text) {
            let (kind, hook) = doc_head(&doc).map_err(|msg| HelmError::Yaml {
                file: name.clone(),
                msg: format!("error converting YAML to JSON: {msg}"),
            })?;
            let d = Doc {
                path: name.clone(),
                content: doc,
                kind,
            };
            match hook {
                None => manifests.push(d),
                Some(h) => {
                    let events: Vec<&str> = h
                        .split(',')
                        .map(str::trim)
                        .filter(|e| HOOK_EVENTS.contains(e))
                        .collect();
                    if events.is_empty() {
                        continue;
                    }
                    if opts.skip_tests && events.iter().any(|e| e.starts_with("test")) {
                        continue;
                    }
                    hooks.push(d);
                }
            }
        }
    }
    sort_by_kind(&mut manifests);
    sort_by_kind(&mut hooks);
    // Each block is `# Source: …\n<content>\n`. The manifests are trimmed at the end as one text
    // (so the last manifest loses trailing blank lines); hooks follow untrimmed. `--show-only`
    // reprints blocks as `---\n<block>\n`.
    let n_manifests = manifests.len();
    let mut all = manifests;
    if !opts.no_hooks {
        all.extend(hooks);
    }
    // CRDs (`--include-crds`) come first, each file whole.
    let crds = if opts.include_crds {
        crd_objects(&chart, "")
    } else {
        Vec::new()
    };
    let n_manifests = n_manifests + crds.len();
    let mut blocks: Vec<String> = crds
        .iter()
        .map(|(path, data)| format!("# Source: {path}\n{data}\n"))
        .collect();
    blocks.extend(
        all.iter()
            .map(|d| format!("# Source: {}\n{}\n", d.path, d.content)),
    );
    if n_manifests > 0 {
        let last = &mut blocks[n_manifests - 1];
        *last = format!("{}\n", last.trim_end());
    }
    if !opts.show_only.is_empty() {
        let mut out = String::new();
        for pat in &opts.show_only {
            let mut found = false;
            // A CRD file is split into documents and only its first keeps the `# Source:` line
            // `--show-only` matches on, as in Helm.
            for (path, data) in &crds {
                let rel = path.split_once('/').map_or(path.as_str(), |(_, r)| r);
                if glob_match(pat, rel) {
                    found = true;
                    let first = data.split("\n---").next().unwrap_or("").trim();
                    out.push_str(&format!("---\n# Source: {path}\n{first}\n\n"));
                }
            }
            for (d, block) in all.iter().zip(&blocks[crds.len()..]) {
                let rel = d.path.split_once('/').map_or(d.path.as_str(), |(_, r)| r);
                if glob_match(pat, rel) {
                    found = true;
                    out.push_str(&format!("---\n{block}\n"));
                }
            }
            if !found {
                return Err(HelmError::ShowOnly(pat.clone()));
            }
        }
        return Ok(out);
    }
    Ok(blocks.iter().map(|b| format!("---\n{b}")).collect())
}

/// `helm show values CHART`: the chart's values.yaml as written.
pub fn show_values(chart_dir: &Path) -> Result<String, HelmError> {
    let chart = super::load::load(chart_dir)?;
    Ok(String::from_utf8_lossy(&chart.raw_values).into_owned())
}
