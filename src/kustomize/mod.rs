//! kustomize build: turns a kustomization directory into a list of Kubernetes objects, reproducing
//! `kustomize build` v5.5.0 (as embedded in kubectl 1.32) and, with [`BuildOptions::flux`], the
//! variations of Flux's kustomize-controller. See docs/kustomize-scope.md.
//!
//! Public API: [`build`] (objects as JSON values), [`build_with_warnings`], [`to_yaml_stream`],
//! [`parse_kustomization`] (one file, no build), [`flux_generated_kustomization`] (Flux's
//! kustomization for a plain directory).
//! Depends only on [`crate::patch`] and pure [`crate::model`] code (label selectors).

mod files;
mod generators;
mod kustomization;
mod nameref;
mod patches;
mod plugins;
pub mod remote;
mod replacements;
mod resource;
mod selector;
mod sort;
mod target;
mod transformers;
mod vars;
pub mod yaml;

pub use files::{SourceFilter, SourceFilterFn, SourceUse};

use serde_json::Value;
use std::path::{Path, PathBuf};

pub use files::KUSTOMIZATION_FILE_NAMES;
pub use kustomization::Kustomization;
pub use remote::{RemoteLoader, RemoteResources};
pub use target::flux_generated_kustomization;
pub use yaml::{to_yaml, to_yaml_stream};

/// Output order of the built objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// kustomize's legacy kind-priority sort (`kubectl kustomize` default).
    #[default]
    Legacy,
    /// Accumulation order, unsorted (Flux's kustomize-controller, `--reorder=none`).
    Fifo,
}

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Default output order; a kustomization's `sortOptions` overrides it.
    pub order: SortOrder,
    /// Flux semantics: generated kustomization for a root without one, root fields decoded loosely,
    /// no per-kustomization file restriction.
    pub flux: bool,
    /// Nothing outside this directory is read; defaults to the built directory itself.
    pub boundary: Option<PathBuf>,
    /// Remote resources (HTTP files, Git repositories): refused unless a loader is given.
    pub remote: RemoteResources,
    /// Rewrites resource, patch and generator source files after reading (Flux's SOPS decryption).
    pub source_filter: Option<files::SourceFilter>,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A file could not be read.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// A file is not valid YAML.
    #[error("{}:{line}:{column}: invalid YAML: {message}", path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Parser message.
        message: String,
    },
    /// A reference leaves the build boundary.
    #[error("{}: path {} is outside the build root {} (absolute paths, '..' escapes and symlinks out are refused)", referenced_from.display(), path.display(), boundary.display())]
    Escape {
        /// The offending path as written or resolved.
        path: PathBuf,
        /// The kustomization (or file) that referenced it.
        referenced_from: PathBuf,
        /// The boundary.
        boundary: PathBuf,
    },
    /// A kustomization file is invalid.
    #[error("{}: {message}", file.display())]
    Kustomization {
        /// The kustomization file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A feature flotilla does not implement.
    #[error("{}: {what} is not supported", file.display())]
    Unsupported {
        /// The kustomization file using it.
        file: PathBuf,
        /// The feature.
        what: String,
    },
    /// A transformation failed (duplicate ids, patches matching nothing, …).
    #[error("{}: {message}", file.display())]
    Build {
        /// The kustomization or resource file involved.
        file: PathBuf,
        /// What failed.
        message: String,
    },
}

impl BuildError {
    fn yaml(path: PathBuf, e: yaml::YamlError) -> Self {
        BuildError::Yaml {
            path,
            line: e.line,
            column: e.column,
            message: e.message,
        }
    }
}

/// A successful build: the objects and any deprecation warnings.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The objects, in output order.
    pub objects: Vec<Value>,
    /// Warnings kustomize would print on stderr.
    pub warnings: Vec<String>,
}

/// Parses one kustomization file's bytes the way a build reads them, without touching the file system
/// (validation and fuzzing entry point). `flux_root` decodes loosely, like Flux's root kustomization;
/// messages name the file `kustomization.yaml`.
pub fn parse_kustomization(bytes: &[u8], flux_root: bool) -> Result<Kustomization, BuildError> {
    let file = PathBuf::from("kustomization.yaml");
    let text = std::str::from_utf8(bytes).map_err(|_| BuildError::Io {
        path: file.clone(),
        message: "file is not valid UTF-8".into(),
    })?;
    target::decode_kustomization(text, !flux_root, &file)
}

/// Builds the kustomization in `root`.
pub fn build(root: &Path, opts: &BuildOptions) -> Result<Vec<Value>, BuildError> {
    build_with_warnings(root, opts).map(|o| o.objects)
}

/// Builds `root` with `kustomization` (YAML text) as its kustomization file instead of the file on
/// disk: how the reconciler builds Flux's overlaid root without copying or writing the source tree.
pub fn build_with_root_kustomization(
    root: &Path,
    opts: &BuildOptions,
    kustomization: &str,
) -> Result<Vec<Value>, BuildError> {
    build_inner(root, opts, Some(kustomization)).map(|o| o.objects)
}

/// Builds the kustomization in `root` and also returns deprecation warnings.
pub fn build_with_warnings(root: &Path, opts: &BuildOptions) -> Result<BuildOutput, BuildError> {
    build_inner(root, opts, None)
}

fn build_inner(
    root: &Path,
    opts: &BuildOptions,
    root_kustomization: Option<&str>,
) -> Result<BuildOutput, BuildError> {
    let boundary = opts.boundary.clone().unwrap_or_else(|| root.to_path_buf());
    let mut fs = files::ConfinedFs::new(&boundary, opts.flux)?;
    fs.set_remote(opts.remote.clone());
    fs.set_source_filter(opts.source_filter.clone());
    let root = fs.confine(root, root)?;
    if let Some(text) = root_kustomization {
        fs.override_kustomization(&root, text.to_string());
    }
    if !root.is_dir() {
        return Err(BuildError::Io {
            path: fs.display(&root),
            message: "not a directory".into(),
        });
    }
    let mut builder = target::Builder::new(&fs);
    let (mut acc, loaded) = builder.build_dir(&root, true)?;
    let top_file = fs.display(&loaded.file);
    let err = |message: String| BuildError::Build {
        file: top_file.clone(),
        message,
    };
    generators::add_hash_suffixes(&mut acc.list);
    nameref::fix_references(&mut acc.list, &acc.config).map_err(err)?;
    vars::resolve(&mut acc.list, &acc.vars, &acc.config).map_err(err)?;
    acc.list.retain(|r| !r.is_local_config());
    let (order, first, last) = match &loaded.kust.sort_options {
        Some(so) if so.order == "fifo" => (SortOrder::Fifo, Vec::new(), Vec::new()),
        Some(so) => (
            SortOrder::Legacy,
            so.order_first.clone().unwrap_or_else(|| {
                sort::DEFAULT_ORDER_FIRST
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }),
            so.order_last.clone().unwrap_or_else(|| {
                sort::DEFAULT_ORDER_LAST
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }),
        ),
        None => (
            opts.order,
            sort::DEFAULT_ORDER_FIRST
                .iter()
                .map(|s| s.to_string())
                .collect(),
            sort::DEFAULT_ORDER_LAST
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
    };
    if order == SortOrder::Legacy {
        sort::legacy_sort(&mut acc.list, &first, &last);
    }
    transformers::build_metadata(&mut acc.list, &loaded.kust.build_metadata, &loaded.dir);
    for r in &mut acc.list {
        // kustomize rewrites annotations when stripping its internal ones: empty or non-map values vanish.
        if let Some(Value::Object(md)) = r.obj.get_mut("metadata")
            && md
                .get("annotations")
                .is_some_and(|a| a.as_object().is_none_or(|m| m.is_empty()))
        {
            md.remove("annotations");
        }
    }
    Ok(BuildOutput {
        objects: acc.list.into_iter().map(|r| r.obj).collect(),
        warnings: builder.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn build_in(root: &Path) -> Result<Vec<Value>, BuildError> {
        build(root, &BuildOptions::default())
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n";

    #[test]
    fn unknown_build_metadata_option_warns_and_transformer_annotations_work() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "cm.yaml", CM);
        write(
            dir.path(),
            "kustomization.yaml",
            "resources: [cm.yaml]\nbuildMetadata: [bogus]\n",
        );
        let out = build_with_warnings(dir.path(), &BuildOptions::default()).unwrap();
        assert_eq!(out.objects.len(), 1);
        assert!(
            out.warnings.iter().any(|w| w.contains("'bogus'")),
            "{:?}",
            out.warnings
        );
        write(
            dir.path(),
            "kustomization.yaml",
            "resources: [cm.yaml]\nnamePrefix: p-\nbuildMetadata: [transformerAnnotations]\n",
        );
        let objs = build_in(dir.path()).unwrap();
        assert_eq!(
            objs[0]["metadata"]["annotations"]["alpha.config.kubernetes.io/transformations"],
            "- configuredIn: kustomization.yaml\n  configuredBy:\n    apiVersion: builtin\n    kind: PrefixTransformer\n"
        );
    }

    #[test]
    fn invalid_yaml_names_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "kustomization.yaml", "resources:\n- bad.yaml\n");
        write(
            dir.path(),
            "bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n",
        );
        let e = build_in(dir.path()).unwrap_err();
        let BuildError::Yaml {
            path, line, column, ..
        } = &e
        else {
            panic!("{e}")
        };
        assert_eq!(path, Path::new("bad.yaml"));
        assert!(*line >= 4 && *column >= 1, "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("bad.yaml:{line}:{column}: invalid YAML")),
            "{e}"
        );
    }

    #[test]
    fn invalid_kustomization_yaml_is_reported_with_position() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "kustomization.yaml",
            "resources:\n  - a.yaml\n - b.yaml\n",
        );
        let e = build_in(dir.path()).unwrap_err();
        assert!(matches!(e, BuildError::Yaml { line: 3, .. }), "{e}");
    }

    #[test]
    fn dot_dot_escape_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        write(dir.path(), "secret.yaml", CM);
        write(
            &root,
            "kustomization.yaml",
            "resources:\n- ../secret.yaml\n",
        );
        let e = build(
            &root,
            &BuildOptions {
                flux: true,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(e, BuildError::Escape { .. }), "{e}");
        assert!(e.to_string().contains("../secret.yaml"), "{e}");
        assert!(e.to_string().contains("kustomization.yaml"), "{e}");
    }

    #[test]
    fn dot_dot_escape_of_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        write(dir.path(), "other/kustomization.yaml", "resources: []\n");
        write(&root, "kustomization.yaml", "resources:\n- ../other\n");
        assert!(matches!(
            build_in(&root).unwrap_err(),
            BuildError::Escape { .. }
        ));
    }

    #[test]
    fn directories_outside_the_kustomization_but_inside_the_boundary_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "base/kustomization.yaml",
            "resources:\n- cm.yaml\n",
        );
        write(dir.path(), "base/cm.yaml", CM);
        write(
            dir.path(),
            "overlay/kustomization.yaml",
            "namePrefix: o-\nresources:\n- ../base\n",
        );
        let opts = BuildOptions {
            boundary: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let objs = build(&dir.path().join("overlay"), &opts).unwrap();
        assert_eq!(objs[0]["metadata"]["name"], "o-x");
    }

    #[test]
    fn absolute_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "cm.yaml", CM);
        let abs = dir.path().join("cm.yaml");
        write(
            dir.path(),
            "kustomization.yaml",
            &format!("resources:\n- {}\n", abs.display()),
        );
        assert!(matches!(
            build_in(dir.path()).unwrap_err(),
            BuildError::Escape { .. }
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_pointing_out_are_refused_and_inside_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        write(dir.path(), "outside.yaml", CM);
        write(&root, "inside.yaml", CM);
        std::os::unix::fs::symlink(dir.path().join("outside.yaml"), root.join("out.yaml")).unwrap();
        std::os::unix::fs::symlink(root.join("inside.yaml"), root.join("in.yaml")).unwrap();
        write(&root, "kustomization.yaml", "resources:\n- out.yaml\n");
        let e = build_in(&root).unwrap_err();
        assert!(matches!(e, BuildError::Escape { .. }), "{e}");
        assert!(e.to_string().contains("out.yaml"), "{e}");
        write(&root, "kustomization.yaml", "resources:\n- in.yaml\n");
        assert_eq!(build_in(&root).unwrap().len(), 1);
    }

    #[test]
    fn generator_files_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        write(dir.path(), "passwd", "x");
        write(
            &root,
            "kustomization.yaml",
            "configMapGenerator:\n- name: c\n  files:\n  - ../passwd\n",
        );
        assert!(matches!(
            build_in(&root).unwrap_err(),
            BuildError::Escape { .. }
        ));
    }

    #[test]
    fn alias_bomb_fails_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let mut bomb = String::from(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
        );
        for i in 1..15 {
            let p = i - 1;
            bomb.push_str(&format!("  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        write(
            dir.path(),
            "kustomization.yaml",
            "resources:\n- bomb.yaml\n",
        );
        write(dir.path(), "bomb.yaml", &bomb);
        let e = build_in(dir.path()).unwrap_err();
        assert!(matches!(e, BuildError::Yaml { .. }), "{e}");
    }

    #[test]
    fn deep_nesting_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let doc = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {}1{}\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        write(
            dir.path(),
            "kustomization.yaml",
            "resources:\n- deep.yaml\n",
        );
        write(dir.path(), "deep.yaml", &doc);
        assert!(matches!(
            build_in(dir.path()).unwrap_err(),
            BuildError::Yaml { .. }
        ));
    }

    #[test]
    fn cycles_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "kustomization.yaml", "resources:\n- a\n");
        write(dir.path(), "a/kustomization.yaml", "resources:\n- ../b\n");
        write(dir.path(), "b/kustomization.yaml", "resources:\n- ../a\n");
        let e = build_in(dir.path()).unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
    }

    #[test]
    fn unsupported_features_name_the_kustomization_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "kustomization.yaml", "resources:\n- sub\n");
        write(
            dir.path(),
            "sub/kustomization.yaml",
            "resources:\n- git@github.com:org/repo.git\n",
        );
        let e = build_in(dir.path()).unwrap_err();
        assert!(matches!(e, BuildError::Unsupported { .. }), "{e}");
        assert!(e.to_string().starts_with("sub/kustomization.yaml:"), "{e}");
        write(
            dir.path(),
            "sub/kustomization.yaml",
            "helmCharts:\n- name: x\n",
        );
        let e = build_in(dir.path()).unwrap_err();
        assert!(e.to_string().contains("helmCharts"), "{e}");
    }

    #[test]
    fn unknown_fields_strict_except_flux_root() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "kustomization.yaml",
            "resources:\n- sub\nbogus: 1\n",
        );
        write(dir.path(), "sub/kustomization.yaml", "resources: []\n");
        assert!(
            build_in(dir.path())
                .unwrap_err()
                .to_string()
                .contains("unknown field \"bogus\"")
        );
        assert!(
            build(
                dir.path(),
                &BuildOptions {
                    flux: true,
                    ..Default::default()
                }
            )
            .is_ok()
        );
        write(
            dir.path(),
            "sub/kustomization.yaml",
            "resources: []\nbogus: 1\n",
        );
        assert!(
            build(
                dir.path(),
                &BuildOptions {
                    flux: true,
                    ..Default::default()
                }
            )
            .is_err()
        );
    }

    #[test]
    fn malformed_inputs_never_panic() {
        let inputs = [
            "resources: 5\n",
            "resources: [1, {a: b}]\n",
            "- a\n- b\n",
            "patches: [{patch: \"[\"}]\nresources: [cm.yaml]\n",
            "patches: [{patch: \"- op: nope\", target: {kind: ConfigMap}}]\nresources: [cm.yaml]\n",
            "patches: [{patch: \"a: [\", target: {name: \"(\"}}]\nresources: [cm.yaml]\n",
            "replacements: [{source: {kind: ConfigMap}, targets: [{select: {kind: ConfigMap}, fieldPaths: [\"data.[x=\"]}]}]\nresources: [cm.yaml]\n",
            "replicas: [{name: x, count: 1e100}]\n",
            "images: [{name: \"(\"}]\nresources: [cm.yaml]\n",
            "configMapGenerator: [{name: a, literals: [noequals]}]\n",
            "namespace: {a: b}\n",
            "vars: [{name: V, objref: {kind: ConfigMap, name: x}, fieldref: {fieldpath: \"data.[[\"}}]\nresources: [cm.yaml]\n",
            "sortOptions: {order: random}\n",
            "\u{0}",
        ];
        for k in inputs {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "kustomization.yaml", k);
            write(dir.path(), "cm.yaml", CM);
            let _ = build_in(dir.path());
        }
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "kustomization.yaml", "resources: [cm.yaml]\n");
        for doc in [
            "[1, 2]\n",
            "kind: X\n",
            "kind: List\nitems: 5\n",
            "apiVersion: 5\nkind: []\nmetadata: {name: [x]}\n",
            "metadata: 7\n",
        ] {
            write(dir.path(), "cm.yaml", doc);
            let _ = build_in(dir.path());
        }
    }
}
