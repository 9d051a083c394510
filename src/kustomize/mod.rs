//! kustomize build: turns a kustomization directory into a list of Kubernetes objects, reproducing
//! `kustomize build` v5.5.0 (as embedded in kubectl 1.32) and, with [`BuildOptions::flux`], the
//! variations of Flux's kustomize-controller. See docs/kustomize-scope.md.
//!
//! Public API: [`build`] (objects as JSON values), [`build_with_warnings`], [`to_yaml_stream`].
//! Depends only on [`crate::patch`].

mod files;
mod generators;
mod kustomization;
mod nameref;
mod patches;
mod plugins;
mod replacements;
mod resource;
mod selector;
mod sort;
mod target;
mod transformers;
mod vars;
pub mod yaml;

use serde_json::Value;
use std::path::{Path, PathBuf};

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

/// Builds the kustomization in `root`.
pub fn build(root: &Path, opts: &BuildOptions) -> Result<Vec<Value>, BuildError> {
    build_with_warnings(root, opts).map(|o| o.objects)
}

/// Builds the kustomization in `root` and also returns deprecation warnings.
pub fn build_with_warnings(root: &Path, opts: &BuildOptions) -> Result<BuildOutput, BuildError> {
    let boundary = opts.boundary.clone().unwrap_or_else(|| root.to_path_buf());
    let fs = files::ConfinedFs::new(&boundary, opts.flux)?;
    let root = fs.confine(root, root)?;
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
    transformers::build_metadata(&mut acc.list, &loaded.kust.build_metadata);
    Ok(BuildOutput {
        objects: acc.list.into_iter().map(|r| r.obj).collect(),
        warnings: builder.warnings,
    })
}
