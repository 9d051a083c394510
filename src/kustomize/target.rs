//! The build pipeline: accumulate resources, generators, components, transformers per directory,
//! recursively (kustomize's `accumulateTarget`).

use super::files::{ConfinedFs, Entry};
use super::kustomization::{KustKind, Kustomization};
use super::resource::{IdKey, Origin, ResId, Resource};
use super::transformers::TransformerConfig;
use super::{BuildError, generators, patches, replacements, transformers, vars, yaml};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Objects accumulated by one kustomization (and everything below it).
#[derive(Debug, Default, Clone)]
pub struct Accumulated {
    /// Objects in accumulation order.
    pub list: Vec<Resource>,
    /// Field-spec tables, builtin plus `configurations:` from this level and below.
    pub config: TransformerConfig,
    /// Declared `vars`.
    pub vars: Vec<vars::Var>,
}

/// State of one build.
pub struct Builder<'a> {
    /// Confined file access.
    pub fs: &'a ConfinedFs,
    /// Directories currently being built (cycle detection).
    stack: Vec<PathBuf>,
    /// Deprecation warnings, for stderr.
    pub warnings: Vec<String>,
    /// The root asks for `buildMetadata: [transformerAnnotations]`: record every builtin
    /// transformer run on each object.
    track_transformers: bool,
    /// Directories listed under `resources` built once so far (second build stores the result).
    built_once: HashSet<PathBuf>,
    /// Results of `resources` directories built more than once, with the warnings their build
    /// gave: a base shared by many overlays is read, parsed and transformed once more, not per use.
    built: HashMap<PathBuf, (Accumulated, Vec<String>)>,
}

/// A loaded kustomization with where it came from.
pub struct Loaded {
    /// Decoded content.
    pub kust: Kustomization,
    /// Its file (or the directory, for a generated one).
    pub file: PathBuf,
    /// Its directory.
    pub dir: PathBuf,
}

/// The namespace Flux puts in a generated kustomization that lists no resources (kustomize refuses
/// an empty one).
const FLUX_PLACEHOLDER_NAMESPACE: &str = "_placeholder";

/// The kustomization Flux generates for the plain directory `dir` (no kustomization file), as a
/// mapping: `apiVersion`, `kind`, then `resources`, or `namespace: _placeholder` when there are none.
/// Symlinks leading outside `boundary` are ignored.
pub fn flux_generated_kustomization(
    dir: &Path,
    boundary: &Path,
) -> Result<Map<String, Value>, BuildError> {
    let fs = ConfinedFs::new(boundary, true)?;
    let resources = flux_generated_resources(&fs, dir)?;
    let mut kust = Map::new();
    kust.insert(
        "apiVersion".into(),
        Value::from("kustomize.config.k8s.io/v1beta1"),
    );
    kust.insert("kind".into(), Value::from("Kustomization"));
    if resources.is_empty() {
        kust.insert("namespace".into(), Value::from(FLUX_PLACEHOLDER_NAMESPACE));
    } else {
        kust.insert("resources".into(), Value::from(resources));
    }
    Ok(kust)
}

/// The `resources` of Flux's generated kustomization for `dir` (flux-semantics §3.3): walked in
/// name order, a subdirectory holding a kustomization file is listed (not descended), hidden
/// directories are skipped, every `.yaml`/`.yml` file must be Kubernetes YAML and is listed as
/// `./rel/path`; entries whose real path lies outside the boundary are ignored.
fn flux_generated_resources(fs: &ConfinedFs, dir: &Path) -> Result<Vec<String>, BuildError> {
    let mut out = Vec::new();
    flux_walk(fs, dir, dir, &mut out)?;
    Ok(out)
}

fn flux_walk(
    fs: &ConfinedFs,
    root: &Path,
    dir: &Path,
    out: &mut Vec<String>,
) -> Result<(), BuildError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| BuildError::Io {
            path: fs.display(dir),
            message: e.to_string(),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        // Symlinks leading out of the build boundary are ignored, not followed.
        let Ok(canonical) = fs.confine(&path, dir) else {
            continue;
        };
        if meta.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            if fs.kustomization_file(&canonical)?.is_some() {
                out.push(format!("./{rel}"));
            } else {
                flux_walk(fs, root, &path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let bad = |detail: String| BuildError::Kustomization {
                file: fs.display(&canonical),
                message: format!(
                    "failed to decode Kubernetes YAML from {}{detail}",
                    fs.display(&canonical).display()
                ),
            };
            let text = fs.read_text(&canonical)?;
            let docs = yaml::parse_documents(&text)
                .map_err(|e| bad(format!(": {}:{}: {}", e.line, e.column, e.message)))?;
            if docs.iter().any(|d| {
                !d.get("kind").is_some_and(Value::is_string)
                    || !d.get("apiVersion").is_some_and(Value::is_string)
            }) {
                return Err(bad(String::new()));
            }
            out.push(format!("./{rel}"));
        }
    }
    Ok(())
}

/// Parses and decodes the text of one kustomization file (`file` is only used in messages); `strict`
/// makes unknown fields errors. Features flotilla does not implement are refused here.
pub fn decode_kustomization(
    text: &str,
    strict: bool,
    file: &Path,
) -> Result<Kustomization, BuildError> {
    let docs =
        yaml::parse_documents_yaml11(text).map_err(|e| BuildError::yaml(file.to_path_buf(), e))?;
    let kerr = |message: String| BuildError::Kustomization {
        file: file.to_path_buf(),
        message,
    };
    let doc = match docs.len() {
        0 => return Err(kerr("kustomization.yaml is empty".into())),
        1 => &docs[0],
        _ => {
            return Err(kerr(
                "kustomization file has more than one YAML document".into(),
            ));
        }
    };
    let kust = Kustomization::decode(doc, strict)
        .map_err(|m| kerr(format!("invalid Kustomization: {m}")))?;
    if let Some(what) = kust.unsupported.first() {
        return Err(BuildError::Unsupported {
            file: file.to_path_buf(),
            what: match *what {
                "helmCharts" | "helmGlobals" | "helmChartInflationGenerator" => {
                    format!(
                        "{what} (Helm chart inflation; kubectl needs --enable-helm, Flux disables it)"
                    )
                }
                other => other.to_string(),
            },
        });
    }
    Ok(kust)
}

impl<'a> Builder<'a> {
    /// New build state.
    pub fn new(fs: &'a ConfinedFs) -> Self {
        Builder {
            fs,
            stack: Vec::new(),
            warnings: Vec::new(),
            track_transformers: false,
            built_once: HashSet::new(),
            built: HashMap::new(),
        }
    }

    fn disp(&self, p: &Path) -> PathBuf {
        self.fs.display(p)
    }

    /// Loads the kustomization of `dir`; in Flux mode the root may have none and gets a generated one.
    pub fn load(&mut self, dir: &Path, is_root: bool) -> Result<Loaded, BuildError> {
        let Some(file) = self.fs.kustomization_file(dir)? else {
            if self.fs.flux() && is_root {
                let kust = self.flux_generated(dir)?;
                return Ok(Loaded {
                    kust,
                    file: dir.to_path_buf(),
                    dir: dir.to_path_buf(),
                });
            }
            return Err(BuildError::Kustomization {
                file: self.disp(dir),
                message: format!(
                    "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{}'",
                    self.disp(dir).display()
                ),
            });
        };
        let text = self.fs.read_text(&file)?;
        let strict = !(self.fs.flux() && is_root);
        let kust = decode_kustomization(&text, strict, &self.disp(&file))?;
        for o in &kust.build_metadata {
            match o.as_str() {
                "managedByLabel" | "originAnnotations" => {}
                "transformerAnnotations" => self.track_transformers |= is_root,
                // kustomize v5.5.0 ignores unknown options; say so rather than skip silently.
                other => self.warnings.push(format!(
                    "# Warning: unknown buildMetadata option '{other}' is ignored ({})",
                    self.disp(&file).display()
                )),
            }
        }
        for d in &kust.deprecated {
            self.warnings
                .push(super::kustomization::deprecation_warning(d));
        }
        Ok(Loaded {
            kust,
            file,
            dir: dir.to_path_buf(),
        })
    }

    /// The kustomization Flux generates for a directory without one.
    fn flux_generated(&mut self, dir: &Path) -> Result<Kustomization, BuildError> {
        let resources = flux_generated_resources(self.fs, dir)?;
        let mut kust = Kustomization::default();
        if resources.is_empty() {
            kust.namespace = FLUX_PLACEHOLDER_NAMESPACE.into();
        }
        kust.resources = resources;
        Ok(kust)
    }

    /// Builds the directory `dir` (a Kustomization) into a fresh accumulation.
    pub fn build_dir(
        &mut self,
        dir: &Path,
        is_root: bool,
    ) -> Result<(Accumulated, Loaded), BuildError> {
        if self.stack.iter().any(|d| d == dir) {
            return Err(BuildError::Kustomization {
                file: self.disp(dir),
                message: format!(
                    "cycle detected: '{}' includes itself",
                    self.disp(dir).display()
                ),
            });
        }
        let loaded = self.load(dir, is_root)?;
        // kustomize builds a Component given as the root like a Kustomization; only one reached
        // through `resources` is refused.
        if loaded.kust.kind == KustKind::Component && !is_root {
            return Err(BuildError::Kustomization {
                file: self.disp(&loaded.file),
                message: format!(
                    "expected kind != 'Component' for path '{}'",
                    self.disp(dir).display()
                ),
            });
        }
        self.stack.push(dir.to_path_buf());
        let mut acc = Accumulated {
            config: TransformerConfig::builtin(),
            ..Default::default()
        };
        let r = self.accumulate(&loaded, &mut acc);
        self.stack.pop();
        r?;
        Ok((acc, loaded))
    }

    /// Builds a directory listed under `resources`. A directory's build depends only on its files
    /// (the root's settings are fixed before any sub-build), so a repeated one is a copy of the
    /// first, warnings included; the result is kept from the second use on, so directories used
    /// once cost no memory. A cached directory cannot be on the stack: it finished building.
    fn build_resource_dir(&mut self, dir: &Path) -> Result<Accumulated, BuildError> {
        if let Some((acc, warnings)) = self.built.get(dir) {
            self.warnings.extend(warnings.iter().cloned());
            return Ok(acc.clone());
        }
        let warned = self.warnings.len();
        let (acc, _) = self.build_dir(dir, false)?;
        if !self.built_once.insert(dir.to_path_buf()) {
            let warnings = self.warnings[warned..].to_vec();
            self.built
                .insert(dir.to_path_buf(), (acc.clone(), warnings));
        }
        Ok(acc)
    }

    /// kustomize's `accumulateTarget` on an existing accumulation (components share the parent's).
    fn accumulate(&mut self, l: &Loaded, acc: &mut Accumulated) -> Result<(), BuildError> {
        let k = &l.kust;
        // Ids already in the list, for the duplicate check: only this loop changes the list until
        // it ends, so the set stays exact and appending n objects costs O(n), not O(n²).
        let mut seen: HashSet<IdKey> = acc.list.iter().map(Resource::id_key).collect();
        for r in &k.resources {
            match self.fs.resolve(&l.dir, r, &l.file)? {
                Entry::File(path) => {
                    for res in self.load_resource_file(&path)? {
                        append_indexed(acc, &mut seen, res, &self.disp(&path))?;
                    }
                }
                Entry::Dir(sub) => {
                    let sub_acc = self.build_resource_dir(&sub)?;
                    for res in sub_acc.list {
                        append_indexed(acc, &mut seen, res, &self.disp(&sub))?;
                    }
                    acc.config.merge(sub_acc.config);
                    acc.vars.extend(sub_acc.vars);
                }
            }
        }
        for c in &k.configurations {
            let path = match self.fs.resolve(&l.dir, c, &l.file)? {
                Entry::File(p) => p,
                Entry::Dir(p) => {
                    return Err(BuildError::Kustomization {
                        file: self.disp(&l.file),
                        message: format!(
                            "configuration {} is a directory",
                            self.disp(&p).display()
                        ),
                    });
                }
            };
            let text = self.fs.read_text(&path)?;
            let docs =
                yaml::parse_documents(&text).map_err(|e| BuildError::yaml(self.disp(&path), e))?;
            for d in docs {
                acc.config
                    .merge_document(&d)
                    .map_err(|m| BuildError::Kustomization {
                        file: self.disp(&path),
                        message: m,
                    })?;
            }
        }
        generators::run(self, l, acc)?;
        for c in &k.components {
            let dir = match self.fs.resolve(&l.dir, c, &l.file)? {
                Entry::Dir(d) => d,
                Entry::File(p) => {
                    return Err(BuildError::Kustomization {
                        file: self.disp(&l.file),
                        message: format!(
                            "component {} must be a directory",
                            self.disp(&p).display()
                        ),
                    });
                }
            };
            if self.stack.contains(&dir) {
                return Err(BuildError::Kustomization {
                    file: self.disp(&dir),
                    message: "cycle detected".into(),
                });
            }
            let sub = self.load(&dir, false)?;
            if sub.kust.kind != KustKind::Component {
                return Err(BuildError::Kustomization {
                    file: self.disp(&sub.file),
                    message: format!(
                        "expected kind 'Component' for path '{}' but got 'Kustomization'",
                        self.disp(&dir).display()
                    ),
                });
            }
            self.stack.push(dir.clone());
            let r = self.accumulate(&sub, acc);
            self.stack.pop();
            r?;
        }
        self.transform(l, acc)?;
        let declared = vars::parse(&k.vars).map_err(|m| BuildError::Kustomization {
            file: self.disp(&l.file),
            message: m,
        })?;
        for v in declared {
            if acc.vars.iter().any(|x| x.name == v.name) {
                return Err(BuildError::Kustomization {
                    file: self.disp(&l.file),
                    message: format!("var '{}' already encountered", v.name),
                });
            }
            acc.vars.push(v);
        }
        Ok(())
    }

    /// Step 4: the builtin transformers in kustomize's fixed order.
    fn transform(&mut self, l: &Loaded, acc: &mut Accumulated) -> Result<(), BuildError> {
        let k = &l.kust;
        let file = self.disp(&l.file);
        // kustomize records each configured builtin transformer on every object after it ran
        // (one record per `patches`/`labels`/`images`/... entry, plus one for `commonLabels`
        // whenever labels are set); it runs them all before recording, which gives the same lists.
        let track = self.track_transformers;
        let record = |acc: &mut Accumulated, kind: &'static str, times: usize| {
            if track {
                for r in &mut acc.list {
                    for _ in 0..times {
                        r.transformations.push((l.file.clone(), kind));
                    }
                }
            }
        };
        let label_entries = if k.labels.is_empty() && k.common_labels.is_empty() {
            0
        } else {
            k.labels.len() + 1
        };
        let counts: [(&'static str, usize); 11] = [
            (
                "PatchStrategicMergeTransformer",
                usize::from(!k.patches_strategic_merge.is_empty()),
            ),
            ("PatchTransformer", k.patches.len()),
            ("NamespaceTransformer", usize::from(!k.namespace.is_empty())),
            ("PrefixTransformer", usize::from(!k.name_prefix.is_empty())),
            ("SuffixTransformer", usize::from(!k.name_suffix.is_empty())),
            ("LabelTransformer", label_entries),
            (
                "AnnotationsTransformer",
                usize::from(!k.common_annotations.is_empty()),
            ),
            ("PatchJson6902Transformer", k.patches_json6902.len()),
            ("ReplicaCountTransformer", k.replicas.len()),
            ("ImageTagTransformer", k.images.len()),
            (
                "ReplacementTransformer",
                usize::from(!k.replacements.is_empty()),
            ),
        ];
        patches::strategic_merge_legacy(self, l, acc)?;
        patches::patches(self, l, acc)?;
        if !k.namespace.is_empty() {
            transformers::namespace(
                &mut acc.list,
                &k.namespace,
                &acc.config,
                false,
                transformers::SubjectMode::DefaultOnly,
            )
            .map_err(|m| BuildError::Build {
                file: file.clone(),
                message: m,
            })?;
        }
        if !k.name_prefix.is_empty() || !k.name_suffix.is_empty() {
            transformers::prefix_suffix(&mut acc.list, &k.name_prefix, &k.name_suffix, &acc.config);
        }
        for entry in &k.labels {
            transformers::labels(
                &mut acc.list,
                &entry.pairs,
                entry.include_selectors,
                entry.include_templates,
                &entry.fields,
                &acc.config,
            );
        }
        if !k.common_labels.is_empty() {
            transformers::labels(
                &mut acc.list,
                &k.common_labels,
                true,
                true,
                &[],
                &acc.config,
            );
        }
        if !k.common_annotations.is_empty() {
            transformers::annotations(&mut acc.list, &k.common_annotations, &acc.config);
        }
        patches::json6902_legacy(self, l, acc)?;
        for r in &k.replicas {
            transformers::replicas(&mut acc.list, r, &acc.config).map_err(|m| {
                BuildError::Build {
                    file: file.clone(),
                    message: m,
                }
            })?;
        }
        for image in &k.images {
            transformers::images(&mut acc.list, image, &acc.config);
        }
        replacements::run(self, l, acc)?;
        for (kind, times) in counts {
            record(acc, kind, times);
        }
        transformers::custom(self, l, acc)?;
        Ok(())
    }

    /// Reads a resource file: every document becomes an object; `List` kinds are flattened.
    pub fn load_resource_file(&self, path: &Path) -> Result<Vec<Resource>, BuildError> {
        let text = self.fs.read_source_text(path, super::SourceUse::Resource)?;
        let docs =
            yaml::parse_documents(&text).map_err(|e| BuildError::yaml(self.disp(path), e))?;
        let mut objects = objects_from_documents(docs, &self.disp(path))?;
        for r in &mut objects {
            r.origin = Some(Origin::File(path.to_path_buf()));
        }
        Ok(objects)
    }
}

/// Validates and flattens parsed documents into objects.
pub fn objects_from_documents(docs: Vec<Value>, file: &Path) -> Result<Vec<Resource>, BuildError> {
    let mut out = Vec::new();
    for doc in docs {
        flatten(doc, file, &mut out, 0)?;
    }
    Ok(out)
}

fn flatten(
    doc: Value,
    file: &Path,
    out: &mut Vec<Resource>,
    depth: usize,
) -> Result<(), BuildError> {
    let err = |message: String| BuildError::Build {
        file: file.to_path_buf(),
        message,
    };
    let Value::Object(map) = &doc else {
        return Err(err(format!(
            "expected a YAML mapping for a Kubernetes object, got {}",
            short(&doc)
        )));
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind.ends_with("List")
        && depth < 8
        && let Some(Value::Array(items)) = map.get("items")
    {
        for item in items.clone() {
            flatten(item, file, out, depth + 1)?;
        }
        return Ok(());
    }
    if kind.is_empty() {
        return Err(err(format!("missing kind in object {}", short(&doc))));
    }
    let name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        return Err(err(format!(
            "missing metadata.name in object {}",
            short(&doc)
        )));
    }
    out.push(Resource::new(doc));
    Ok(())
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

/// Appends with kustomize's duplicate-id check.
pub fn append(acc: &mut Accumulated, res: Resource, from: &Path) -> Result<(), BuildError> {
    let id = res.id();
    if acc.list.iter().any(|r| r.id_same_as(&id)) {
        return Err(BuildError::Build {
            file: from.to_path_buf(),
            message: format!(
                "may not add resource with an already registered id: {}",
                id.describe()
            ),
        });
    }
    acc.list.push(res);
    Ok(())
}

/// `append` with a set holding the key of every object in `acc.list` (kept up to date here).
fn append_indexed(
    acc: &mut Accumulated,
    seen: &mut HashSet<IdKey>,
    res: Resource,
    from: &Path,
) -> Result<(), BuildError> {
    if !seen.insert(IdKey::from_id(res.id())) {
        return Err(BuildError::Build {
            file: from.to_path_buf(),
            message: format!(
                "may not add resource with an already registered id: {}",
                res.id().describe()
            ),
        });
    }
    acc.list.push(res);
    Ok(())
}

/// Finds objects whose current or any previous id equals `id` (kustomize's `GetMatchingResourcesByAnyId`).
pub fn matching_any_id(list: &[Resource], id: &ResId) -> Vec<usize> {
    list.iter()
        .enumerate()
        .filter(|(_, r)| r.id_same_as(id) || r.prev_ids.iter().any(|p| p.same_as(id)))
        .map(|(i, _)| i)
        .collect()
}
