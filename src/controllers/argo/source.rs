//! The repo-server half: resolve `targetRevision` to a commit, keep one checkout per commit under
//! the controller's storage, and render the source path as Argo does (directory, kustomize with
//! the source's overrides, or a Helm chart in Git).

use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::spec::Source;
use super::strings;
use crate::controllers::source::git::{GitError, fetch, remote_head, validate_source_url};
use crate::controllers::source::git_ref::GitRef;

/// How long one git operation may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the desired state could not be produced (a `ComparisonError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// The rendered desired state of one source.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The resolved commit (40 hex).
    pub revision: String,
    /// The manifests, in render order.
    pub objects: Vec<Value>,
    /// `Directory`, `Kustomize` or `Helm` (`status.sourceType`).
    pub source_type: &'static str,
}

/// Git checkouts shared by every Application of one cluster: one bare cache per repository URL and
/// one tree per commit, so many apps of one repository cost one fetch.
pub struct Repos {
    dir: PathBuf,
    allow_file_urls: bool,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_semver_range(s: &str) -> bool {
    s.contains(['<', '>', '=', '~', '^', '*', ' ', '|']) || s.ends_with(".x") || s.contains(".x.")
}

impl Repos {
    /// Checkouts under `dir`.
    pub fn new(dir: PathBuf, allow_file_urls: bool) -> Repos {
        Repos {
            dir,
            allow_file_urls,
            locks: Mutex::new(HashMap::new()),
        }
    }

    fn lock_for(&self, url: &str) -> Arc<Mutex<()>> {
        // A poisoned map only means another fetch panicked; the map itself is still usable.
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(locks.entry(url.to_string()).or_default())
    }

    /// The git refs to try for a `targetRevision`, in Argo's order (commit, HEAD, semver, branch, tag).
    fn candidates(revision: &str) -> Vec<GitRef> {
        let r = revision.trim();
        if r.is_empty() || r == "HEAD" {
            return vec![GitRef::name("HEAD")];
        }
        if is_sha(r) {
            return vec![GitRef::commit(r)];
        }
        if let Some(full) = r.strip_prefix("refs/") {
            return vec![GitRef::name(&format!("refs/{full}"))];
        }
        if is_semver_range(r) {
            return vec![GitRef::semver(r)];
        }
        vec![GitRef::branch(r), GitRef::tag(r)]
    }

    /// Resolves `revision` of `url` to a commit without fetching objects.
    pub fn resolve(&self, url: &str, revision: &str) -> Result<(String, GitRef), RenderError> {
        validate_source_url(url, self.allow_file_urls)
            .map_err(|e| RenderError(strings::manifest_failure(&e.to_string())))?;
        let work = self.dir.join("git");
        let mut last = None;
        for candidate in Self::candidates(revision) {
            match remote_head(url, &candidate, None, GIT_TIMEOUT, &work) {
                Ok(head) => return Ok((head.commit, candidate)),
                Err(e @ GitError::RefNotFound { .. }) => last = Some(e),
                Err(e) => return Err(RenderError(strings::manifest_failure(&e.to_string()))),
            }
        }
        let shown = if revision.is_empty() {
            "HEAD"
        } else {
            revision
        };
        tracing::debug!(url, revision, error = ?last, "revision not found");
        Err(RenderError(strings::manifest_failure(
            &strings::unresolved_revision(shown),
        )))
    }

    /// The checked-out tree of `commit` (fetched through `git_ref` when not cached yet) and the
    /// commit it holds (newer than `commit` when the ref moved between resolve and fetch).
    pub fn tree(
        &self,
        url: &str,
        git_ref: &GitRef,
        commit: &str,
    ) -> Result<(PathBuf, String), RenderError> {
        let lock = self.lock_for(url);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let trees = self.dir.join("trees");
        let tree = trees.join(commit);
        if tree.is_dir() {
            return Ok((tree, commit.to_string()));
        }
        let fail = |e: String| RenderError(strings::manifest_failure(&e));
        let wanted = if is_sha(commit) && git_ref.commit.is_none() {
            git_ref.clone()
        } else {
            GitRef::commit(commit)
        };
        let checkout = fetch(url, &wanted, None, GIT_TIMEOUT, &self.dir.join("git"))
            .map_err(|e| fail(e.to_string()))?;
        if checkout.commit != commit {
            // The ref moved between ls-remote and fetch: keep what was fetched under its own id.
            tracing::debug!(url, wanted = commit, got = %checkout.commit, "ref moved during fetch");
        }
        std::fs::create_dir_all(&trees).map_err(|e| fail(format!("{}: {e}", trees.display())))?;
        let got = checkout.commit.clone();
        let dir = checkout.keep();
        let dest = trees.join(&got);
        if dest.is_dir() {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            std::fs::rename(&dir, &dest).map_err(|e| fail(format!("{}: {e}", dest.display())))?;
        }
        Ok((dest, got))
    }
}

/// Resolves, fetches and renders `src` for app `app` (release name default) into `namespace`.
pub fn render_source(
    repos: &Repos,
    src: &Source,
    app: &str,
    namespace: &str,
) -> Result<Rendered, RenderError> {
    if src.chart.is_some() {
        return Err(RenderError(strings::manifest_failure(
            "Helm repository charts (spec.source.chart) are not supported by flotilla yet; keep the chart in Git and set spec.source.path",
        )));
    }
    let (resolved, git_ref) = repos.resolve(&src.repo_url, &src.target_revision)?;
    let (tree, revision) = repos.tree(&src.repo_url, &git_ref, &resolved)?;
    let (source_type, objects) = render_path(&tree, src, app, namespace)
        .map_err(|e| RenderError(strings::manifest_failure(&e)))?;
    Ok(Rendered {
        revision,
        objects,
        source_type,
    })
}

/// `path` below the checkout, refusing absolute paths and `..` escapes.
fn app_dir(tree: &Path, path: &str) -> Result<PathBuf, String> {
    let rel = Path::new(path.trim_start_matches("./"));
    if rel.components().any(|c| {
        matches!(
            c,
            Component::ParentDir | Component::RootDir | Component::Prefix(_)
        )
    }) {
        return Err(format!("{path}: app path must stay inside the repository"));
    }
    let dir = tree.join(rel);
    if !dir.is_dir() {
        return Err("app path does not exist".into());
    }
    Ok(dir)
}

/// Renders the app directory of a checked-out tree.
pub fn render_path(
    tree: &Path,
    src: &Source,
    app: &str,
    namespace: &str,
) -> Result<(&'static str, Vec<Value>), String> {
    let dir = app_dir(tree, &src.path)?;
    if dir.join("Chart.yaml").is_file() {
        Ok(("Helm", render_helm(&dir, src, app, namespace)?))
    } else if ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|f| dir.join(f).is_file())
    {
        Ok(("Kustomize", render_kustomize(tree, &dir, src)?))
    } else {
        Ok(("Directory", render_directory(&dir, src)?))
    }
}

/// Turns a glob (`*`, `**`, `?`, `{a,b}`) into an anchored regex.
fn glob_regex(glob: &str) -> Option<regex::Regex> {
    let mut out = String::from("^");
    let mut chars = glob.chars().peekable();
    let mut depth = 0;
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(".*");
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '{' => {
                depth += 1;
                out.push('(');
            }
            '}' if depth > 0 => {
                depth -= 1;
                out.push(')');
            }
            ',' if depth > 0 => out.push('|'),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    regex::Regex::new(&out).ok()
}

/// Whether `rel` (a path below the app directory) matches `glob` (matched on the whole relative
/// path, and on the file name when the glob names no directory).
fn glob_matches(glob: &str, rel: &str) -> bool {
    let Some(re) = glob_regex(glob) else {
        return false;
    };
    if re.is_match(rel) {
        return true;
    }
    !glob.contains('/') && re.is_match(rel.rsplit('/').next().unwrap_or(rel))
}

fn manifest_files(dir: &Path, recurse: bool, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            if recurse {
                manifest_files(&p, recurse, out)?;
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json") {
            out.push(p);
        }
    }
    Ok(())
}

/// Plain manifests (`directory`): YAML streams and JSON files, `List`s expanded.
fn render_directory(dir: &Path, src: &Source) -> Result<Vec<Value>, String> {
    let mut files = Vec::new();
    manifest_files(dir, src.directory.recurse, &mut files)?;
    let mut out = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(dir)
            .map(|r| r.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        if let Some(inc) = &src.directory.include
            && !glob_matches(inc, &rel)
        {
            continue;
        }
        if let Some(exc) = &src.directory.exclude
            && glob_matches(exc, &rel)
        {
            continue;
        }
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{rel}: {e}"))?;
        let docs = if rel.ends_with(".json") {
            vec![serde_json::from_str::<Value>(&text).map_err(|e| format!("{rel}: {e}"))?]
        } else {
            crate::kustomize::yaml::parse_documents(&text)
                .map_err(|e| format!("{rel}:{}:{}: {}", e.line, e.column, e.message))?
        };
        for d in docs {
            push_objects(d, &rel, &mut out)?;
        }
    }
    Ok(out)
}

fn push_objects(doc: Value, origin: &str, out: &mut Vec<Value>) -> Result<(), String> {
    match doc {
        Value::Null => Ok(()),
        Value::Object(ref m) if m.is_empty() => Ok(()),
        Value::Object(ref m)
            if m.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && m.get("items").is_some_and(Value::is_array) =>
        {
            let Value::Object(mut m) = doc else {
                return Ok(());
            };
            if let Some(Value::Array(items)) = m.remove("items") {
                for i in items {
                    push_objects(i, origin, out)?;
                }
            }
            Ok(())
        }
        Value::Object(ref m)
            if m.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| !k.is_empty()) =>
        {
            out.push(doc);
            Ok(())
        }
        _ => Err(format!("{origin}: Object 'Kind' is missing in a manifest")),
    }
}

/// `kustomize edit set image` syntax (`name=newName:tag`, `name:tag`, `name@digest`) as a
/// kustomization `images` entry.
fn image_entry(spec: &str) -> Value {
    let (name, rest) = match spec.split_once('=') {
        Some((n, r)) => (n.to_string(), Some(r)),
        None => {
            let base = split_image(spec).0;
            (base.to_string(), None)
        }
    };
    let mut e = Map::new();
    e.insert("name".into(), json!(name));
    let target = rest.unwrap_or(spec);
    let (new_name, tag, digest) = split_image(target);
    if rest.is_some() && !new_name.is_empty() {
        e.insert("newName".into(), json!(new_name));
    }
    if let Some(t) = tag {
        e.insert("newTag".into(), json!(t));
    }
    if let Some(d) = digest {
        e.insert("digest".into(), json!(d));
    }
    Value::Object(e)
}

/// `(name, tag, digest)` of an image reference (a registry port is not a tag).
fn split_image(image: &str) -> (&str, Option<&str>, Option<&str>) {
    if let Some((n, d)) = image.split_once('@') {
        return (n, None, Some(d));
    }
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], Some(&image[slash + i + 1..]), None),
        None => (image, None, None),
    }
}

/// Kustomize, with the source's `kustomize` overrides written into the root kustomization the way
/// `kustomize edit` (which Argo runs) would.
fn render_kustomize(tree: &Path, dir: &Path, src: &Source) -> Result<Vec<Value>, String> {
    let file = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or("kustomization file vanished")?;
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let opts = crate::kustomize::BuildOptions {
        boundary: Some(tree.to_path_buf()),
        ..crate::kustomize::BuildOptions::default()
    };
    let Some(k) = src
        .kustomize
        .as_ref()
        .filter(|k| k.as_object().is_some_and(|m| !m.is_empty()))
    else {
        return crate::kustomize::build(dir, &opts).map_err(|e| e.to_string());
    };
    let mut root = crate::kustomize::yaml::parse_documents_yaml11(&text)
        .map_err(|e| format!("{}:{}: {}", file.display(), e.line, e.message))?
        .into_iter()
        .next()
        .unwrap_or_else(|| json!({}));
    let Some(m) = root.as_object_mut() else {
        return Err(format!("{}: not a mapping", file.display()));
    };
    for key in ["namePrefix", "nameSuffix", "namespace"] {
        if let Some(v) = k.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()) {
            m.insert(key.into(), json!(v));
        }
    }
    for (from, to) in [
        ("commonLabels", "commonLabels"),
        ("commonAnnotations", "commonAnnotations"),
    ] {
        if let Some(extra) = k.get(from).and_then(Value::as_object) {
            let slot = m.entry(to).or_insert_with(|| json!({}));
            if let Some(obj) = slot.as_object_mut() {
                for (kk, vv) in extra {
                    obj.insert(kk.clone(), vv.clone());
                }
            }
        }
    }
    if let Some(images) = k.get("images").and_then(Value::as_array) {
        let slot = m.entry("images").or_insert_with(|| json!([]));
        if let Some(list) = slot.as_array_mut() {
            for i in images.iter().filter_map(Value::as_str) {
                let e = image_entry(i);
                list.retain(|x| x.get("name") != e.get("name"));
                list.push(e);
            }
        }
    }
    if let Some(patches) = k.get("patches").and_then(Value::as_array) {
        let slot = m.entry("patches").or_insert_with(|| json!([]));
        if let Some(list) = slot.as_array_mut() {
            list.extend(patches.iter().cloned());
        }
    }
    let text = crate::kustomize::to_yaml(&root);
    crate::kustomize::build_with_root_kustomization(dir, &opts, &text).map_err(|e| e.to_string())
}

/// A Helm chart in Git: `valueFiles`, `values`/`valuesObject`, `parameters`, `releaseName`.
fn render_helm(dir: &Path, src: &Source, app: &str, namespace: &str) -> Result<Vec<Value>, String> {
    let helm = src.helm.clone().unwrap_or_else(|| json!({}));
    let release = helm
        .get("releaseName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(app);
    let ignore_missing = helm
        .get("ignoreMissingValueFiles")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut opts = crate::helm::TemplateOptions {
        release_name: release.to_string(),
        namespace: namespace.to_string(),
        include_crds: !helm
            .get("skipCrds")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        ..crate::helm::TemplateOptions::default()
    };
    for f in helm
        .get("valueFiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(f) = f.as_str() else { continue };
        let p = app_dir(
            dir,
            Path::new(f).parent().and_then(Path::to_str).unwrap_or(""),
        )
        .ok()
        .map(|d| d.join(Path::new(f).file_name().unwrap_or_default()));
        match p.filter(|p| p.is_file()) {
            Some(p) => opts.value_files.push(p),
            None if ignore_missing => {}
            None => return Err(format!("Error: open {f}: no such file or directory")),
        }
    }
    let inline = match (helm.get("valuesObject"), helm.get("values")) {
        (Some(o), _) if o.is_object() => Some(crate::kustomize::to_yaml(o)),
        (_, Some(Value::String(s))) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    };
    let _tmp;
    if let Some(text) = inline {
        let t = tempfile_dir()?;
        let p = t.join("values.yaml");
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
        opts.value_files.push(p);
        _tmp = TempDir(t);
    }
    for p in helm
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(value)) = (p.get("name").and_then(Value::as_str), p.get("value"))
        else {
            continue;
        };
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let expr = format!("{name}={value}");
        if p.get("forceString").and_then(Value::as_bool) == Some(true) {
            opts.set_string.push(expr);
        } else {
            opts.set.push(expr);
        }
    }
    let text = crate::helm::template(dir, &opts).map_err(|e| e.to_string())?;
    let docs = crate::kustomize::yaml::parse_documents(&text)
        .map_err(|e| format!("helm output:{}: {}", e.line, e.message))?;
    let mut out = Vec::new();
    for d in docs {
        push_objects(d, "helm output", &mut out)?;
    }
    Ok(out)
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let p = std::env::temp_dir().join(format!("flotilla-argo-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_paths_and_names() {
        assert!(glob_matches("*.yaml", "a.yaml"));
        assert!(glob_matches("*.yaml", "sub/a.yaml"));
        assert!(!glob_matches("*.yaml", "a.json"));
        assert!(glob_matches("{a.yaml,b/*}", "b/c.yml"));
        assert!(glob_matches("**/x.yaml", "p/q/x.yaml"));
        assert!(!glob_matches("sub/*.yaml", "other/a.yaml"));
    }

    #[test]
    fn image_overrides_follow_kustomize_edit() {
        assert_eq!(
            image_entry("nginx:1.2"),
            json!({"name": "nginx", "newTag": "1.2"})
        );
        assert_eq!(
            image_entry("nginx=reg:5000/my/nginx:2"),
            json!({"name": "nginx", "newName": "reg:5000/my/nginx", "newTag": "2"})
        );
        assert_eq!(
            image_entry("nginx@sha256:ab"),
            json!({"name": "nginx", "digest": "sha256:ab"})
        );
    }

    #[test]
    fn revisions_map_to_git_refs() {
        assert_eq!(Repos::candidates("HEAD"), vec![GitRef::name("HEAD")]);
        assert_eq!(Repos::candidates(""), vec![GitRef::name("HEAD")]);
        assert_eq!(
            Repos::candidates(">=1.0.0"),
            vec![GitRef::semver(">=1.0.0")]
        );
        assert_eq!(
            Repos::candidates("main"),
            vec![GitRef::branch("main"), GitRef::tag("main")]
        );
        let sha = "a".repeat(40);
        assert_eq!(Repos::candidates(&sha), vec![GitRef::commit(&sha)]);
    }

    #[test]
    fn directory_render_skips_empty_docs_and_refuses_kindless_ones() {
        let t = tempfile_dir().unwrap();
        let _g = TempDir(t.clone());
        std::fs::create_dir_all(t.join("app/sub")).unwrap();
        std::fs::write(
            t.join("app/a.yaml"),
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n",
        )
        .unwrap();
        std::fs::write(
            t.join("app/sub/b.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
        )
        .unwrap();
        std::fs::write(t.join("app/notes.txt"), "x").unwrap();
        let mut src = Source {
            path: "app".into(),
            ..Source::default()
        };
        assert_eq!(render_path(&t, &src, "x", "ns").unwrap().1.len(), 1);
        src.directory.recurse = true;
        assert_eq!(render_path(&t, &src, "x", "ns").unwrap().1.len(), 2);
        src.directory.exclude = Some("sub/*".into());
        assert_eq!(render_path(&t, &src, "x", "ns").unwrap().1.len(), 1);
        std::fs::write(t.join("app/bad.yaml"), "foo: bar\n").unwrap();
        assert!(
            render_path(&t, &src, "x", "ns")
                .unwrap_err()
                .contains("Kind")
        );
        src.path = "../etc".into();
        assert!(render_path(&t, &src, "x", "ns").is_err());
        src.path = "nope".into();
        assert_eq!(
            render_path(&t, &src, "x", "ns").unwrap_err(),
            "app path does not exist"
        );
    }
}
