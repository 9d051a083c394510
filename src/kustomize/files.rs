//! File access confined to the build boundary: no `../` escapes, absolute paths or symlinks out.

use super::BuildError;
use super::remote::{RemoteResources, RemoteState, Resolved};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// What a build reads a file for, as told to a [`SourceFilter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceUse<'a> {
    /// A resource file (one or more objects).
    Resource,
    /// A patch file.
    Patch,
    /// An `envs` source of a generator (`secret` tells a secretGenerator).
    GeneratorEnv {
        /// From a secretGenerator (else a configMapGenerator).
        secret: bool,
    },
    /// A `files` source of a generator, stored under `key`.
    GeneratorFile {
        /// From a secretGenerator (else a configMapGenerator).
        secret: bool,
        /// The data key the file is stored under.
        key: &'a str,
    },
}

/// The filter function: (file as displayed, use, bytes) → bytes, or an error message.
pub type SourceFilterFn =
    dyn Fn(&Path, SourceUse<'_>, Vec<u8>) -> Result<Vec<u8>, String> + Send + Sync;

/// Rewrites files as a build reads them, in memory (nothing is written to the source tree).
#[derive(Clone)]
pub struct SourceFilter(pub Arc<SourceFilterFn>);

impl std::fmt::Debug for SourceFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceFilter")
    }
}

/// Names kustomize recognises as a kustomization file, in lookup order.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The confined file system of one build.
#[derive(Debug)]
pub struct ConfinedFs {
    /// Canonical boundary directory; nothing outside it is read.
    boundary: PathBuf,
    /// Flux mode: no per-kustomization root restriction for files (kubectl's `LoadRestrictionsRootOnly`).
    flux: bool,
    /// A root kustomization file served from memory instead of disk: (its path, its text).
    root_override: Option<(PathBuf, String)>,
    /// Remote resources: policy, fetched files and checked-out repositories of this build.
    remote: RemoteState,
    /// Applied to resource, patch and generator source files after reading.
    source_filter: Option<SourceFilter>,
}

/// What a relative reference in a kustomization resolved to.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A regular file (canonical path).
    File(PathBuf),
    /// A directory (canonical path).
    Dir(PathBuf),
}

impl ConfinedFs {
    /// Creates a confined view; `boundary` must exist.
    pub fn new(boundary: &Path, flux: bool) -> Result<Self, BuildError> {
        let boundary = boundary.canonicalize().map_err(|e| BuildError::Io {
            path: boundary.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(ConfinedFs {
            boundary,
            flux,
            root_override: None,
            remote: RemoteState::new(RemoteResources::Unsupported),
            source_filter: None,
        })
    }

    /// Sets how remote resources are handled (refused by default).
    pub fn set_remote(&mut self, policy: RemoteResources) {
        self.remote = RemoteState::new(policy);
    }

    /// Serves `text` as the kustomization file of the (canonical) directory `dir`, in place of the
    /// one on disk or of none: Flux's overlaid root kustomization without writing into the source tree.
    pub fn override_kustomization(&mut self, dir: &Path, text: String) {
        let existing = KUSTOMIZATION_FILE_NAMES
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file());
        let path = existing.unwrap_or_else(|| dir.join(KUSTOMIZATION_FILE_NAMES[0]));
        self.root_override = Some((path, text));
    }

    /// Canonicalizes `path` and checks that it lies inside the boundary.
    pub fn confine(&self, path: &Path, referenced_from: &Path) -> Result<PathBuf, BuildError> {
        let canonical = path.canonicalize().map_err(|e| BuildError::Io {
            path: self.display(path),
            message: format!(
                "{e} (referenced from {})",
                self.display(referenced_from).display()
            ),
        })?;
        // Inside a checked-out remote repository, that repository is the boundary.
        let root = self
            .remote
            .root_of(referenced_from)
            .unwrap_or_else(|| self.boundary.clone());
        if !canonical.starts_with(&root) {
            return Err(BuildError::Escape {
                path: path.to_path_buf(),
                referenced_from: self.display(referenced_from),
                boundary: root,
            });
        }
        Ok(canonical)
    }

    /// Resolves `reference` (as written in the kustomization file `kfile`, which lives in `dir`).
    /// Remote references and absolute paths are refused.
    pub fn resolve(&self, dir: &Path, reference: &str, kfile: &Path) -> Result<Entry, BuildError> {
        // A local file or directory of that name wins, as in kustomize (files are tried first).
        if super::remote::is_remote(reference) && !dir.join(reference).exists() {
            return match self.remote.resolve(reference, &self.display(kfile))? {
                Resolved::File(p) => Ok(Entry::File(p)),
                Resolved::Dir(p) => Ok(Entry::Dir(p)),
            };
        }
        let rel = Path::new(reference);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| matches!(c, Component::Prefix(_) | Component::RootDir))
        {
            return Err(BuildError::Escape {
                path: rel.to_path_buf(),
                referenced_from: self.display(kfile),
                boundary: self.boundary.clone(),
            });
        }
        let joined = dir.join(rel);
        let canonical = self.confine(&joined, kfile)?;
        if canonical.is_dir() {
            return Ok(Entry::Dir(canonical));
        }
        if !self.flux && !canonical.starts_with(dir) {
            // kubectl's default load restriction: files must be in or below the kustomization root.
            return Err(BuildError::Kustomization {
                file: self.display(kfile),
                message: format!(
                    "security; file '{}' is not in or below '{}'",
                    self.display(&canonical).display(),
                    self.display(dir).display()
                ),
            });
        }
        Ok(Entry::File(canonical))
    }

    /// Reads a file already confined by [`Self::resolve`].
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, BuildError> {
        if let Some((p, text)) = &self.root_override
            && p == path
        {
            return Ok(text.as_bytes().to_vec());
        }
        if let Some(bytes) = self.remote.body(path) {
            return Ok(bytes);
        }
        let meta = std::fs::metadata(path).map_err(|e| BuildError::Io {
            path: self.display(path),
            message: e.to_string(),
        })?;
        if meta.len() > super::yaml::MAX_FILE_BYTES as u64 {
            return Err(BuildError::Io {
                path: self.display(path),
                message: format!("file too large ({} bytes)", meta.len()),
            });
        }
        std::fs::read(path).map_err(|e| BuildError::Io {
            path: self.display(path),
            message: e.to_string(),
        })
    }

    /// Sets the filter [`Self::read_source`] applies.
    pub fn set_source_filter(&mut self, filter: Option<SourceFilter>) {
        self.source_filter = filter;
    }

    /// Reads a file used as `what`, through the source filter if one is set.
    pub fn read_source(&self, path: &Path, what: SourceUse<'_>) -> Result<Vec<u8>, BuildError> {
        let bytes = self.read(path)?;
        match &self.source_filter {
            None => Ok(bytes),
            Some(f) => {
                let shown = self.display(path);
                (f.0)(shown.as_path(), what, bytes).map_err(|message| BuildError::Build {
                    file: shown,
                    message,
                })
            }
        }
    }

    /// Reads a file used as `what` as UTF-8 text, through the source filter.
    pub fn read_source_text(&self, path: &Path, what: SourceUse<'_>) -> Result<String, BuildError> {
        let bytes = self.read_source(path, what)?;
        String::from_utf8(bytes).map_err(|_| BuildError::Io {
            path: self.display(path),
            message: "file is not valid UTF-8".into(),
        })
    }

    /// Reads a confined file as UTF-8 text.
    pub fn read_text(&self, path: &Path) -> Result<String, BuildError> {
        let bytes = self.read(path)?;
        String::from_utf8(bytes).map_err(|_| BuildError::Io {
            path: self.display(path),
            message: "file is not valid UTF-8".into(),
        })
    }

    /// The kustomization file in `dir`, if any; several is an error.
    pub fn kustomization_file(&self, dir: &Path) -> Result<Option<PathBuf>, BuildError> {
        if let Some((p, _)) = &self.root_override
            && p.parent() == Some(dir)
        {
            return Ok(Some(p.clone()));
        }
        let found: Vec<PathBuf> = KUSTOMIZATION_FILE_NAMES
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| p.is_file())
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => {
                let p = self.confine(&found[0], &found[0])?;
                Ok(Some(p))
            }
            _ => Err(BuildError::Kustomization {
                file: self.display(dir),
                message: format!(
                    "Found multiple kustomization files under: {}",
                    self.display(dir).display()
                ),
            }),
        }
    }

    /// A path as shown in messages: relative to the boundary when inside it.
    pub fn display(&self, path: &Path) -> PathBuf {
        if let Some(shown) = self.remote.display(path) {
            return shown;
        }
        match path.strip_prefix(&self.boundary) {
            Ok(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
            Ok(rel) => rel.to_path_buf(),
            Err(_) => path.to_path_buf(),
        }
    }

    /// Whether this is Flux mode.
    pub fn flux(&self) -> bool {
        self.flux
    }
}
