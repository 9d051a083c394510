//! The demo's Git "remote": a bare repository under the data directory, written with gix alone
//! (a fresh machine may have no `git` CLI), holding the embedded template of `demo/`.
//!
//! Writes are compare-and-swap on `refs/heads/main`, so a commit racing an image-automation push
//! fails instead of losing either change; [`DemoRepo::commit_change`] retries on the new head.

use std::path::{Path, PathBuf};

use gix::bstr::BStr;
use gix::objs::tree::EntryKind;
use thiserror::Error;

use super::template::{self, TemplateFile};

/// The branch the clusters follow.
pub const BRANCH: &str = "main";
const MAIN_REF: &str = "refs/heads/main";
const AUTHOR_NAME: &str = "flotilla demo";
const AUTHOR_EMAIL: &str = "demo@flotilla.invalid";
/// Attempts of a commit that loses a race with another writer of `main`.
const COMMIT_ATTEMPTS: usize = 5;

/// A failure reading or writing the demo repository.
#[derive(Debug, Error)]
pub enum RepoError {
    /// A git operation failed.
    #[error("demo repository {path}: cannot {action}: {message}")]
    Git {
        /// The bare repository.
        path: PathBuf,
        /// What was being done.
        action: String,
        /// The cause.
        message: String,
    },
    /// A requested change does not fit the repository's content.
    #[error("demo repository {path}: cannot change {file}: {message}")]
    Change {
        /// The bare repository.
        path: PathBuf,
        /// The file the change applies to.
        file: String,
        /// Why.
        message: String,
    },
}

/// A change `:demo commit` can make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoChange {
    /// Set `count` of `app` in the `replicas:` list of `apps/overlays/<overlay>/kustomization.yaml`.
    Scale {
        /// `dev`, `staging` or `production`.
        overlay: String,
        /// The Deployment's name (`podinfo`).
        app: String,
        /// The new replica count.
        replicas: u32,
    },
}

impl RepoChange {
    /// The file the change edits.
    pub fn file(&self) -> String {
        match self {
            RepoChange::Scale { overlay, .. } => {
                format!("apps/overlays/{overlay}/kustomization.yaml")
            }
        }
    }

    /// The commit message.
    pub fn message(&self) -> String {
        match self {
            RepoChange::Scale {
                overlay,
                app,
                replicas,
            } => format!("{overlay}: scale {app} to {replicas} replicas"),
        }
    }
}

/// A commit written to the demo repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// Commit id, 40 hex.
    pub commit: String,
    /// Flux revision, `main@sha1:<hex>`.
    pub revision: String,
    /// The commit message's subject.
    pub subject: String,
}

/// The bare demo repository.
#[derive(Debug, Clone)]
pub struct DemoRepo {
    dir: PathBuf,
}

impl DemoRepo {
    /// Opens the bare repository at `dir`, or creates it with one commit holding the template when
    /// it does not exist yet (a `--data-dir` from an earlier run keeps its history).
    pub fn open_or_init(dir: &Path) -> Result<DemoRepo, RepoError> {
        let repo = DemoRepo {
            dir: dir.to_path_buf(),
        };
        if dir.join("HEAD").is_file() {
            let git = repo.open()?;
            if git
                .try_find_reference(MAIN_REF)
                .map_err(|e| repo.git_err("read refs/heads/main", e))?
                .is_some()
            {
                return Ok(repo);
            }
        } else {
            gix::init_bare(dir).map_err(|e| repo.git_err("create a bare repository", e))?;
        }
        repo.commit_files(
            &template::repository_files(),
            "Initial commit: the flotilla demo fleet",
            None,
        )?;
        Ok(repo)
    }

    /// The bare repository's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `file:///…` URL for a GitRepository.
    pub fn url(&self) -> String {
        let abs = std::path::absolute(&self.dir).unwrap_or_else(|_| self.dir.clone());
        format!("file://{}", abs.display())
    }

    /// The commit `main` points at.
    pub fn head(&self) -> Result<String, RepoError> {
        let git = self.open()?;
        Ok(self.main_commit(&git)?.to_string())
    }

    /// A file's content at the head of `main` (`None` if absent).
    pub fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, RepoError> {
        let git = self.open()?;
        let head = self.main_commit(&git)?;
        self.read_at(&git, head, path)
    }

    /// The next `:demo commit` change: scale podinfo in dev one step up, cycling 1..=4.
    pub fn next_change(&self) -> Result<RepoChange, RepoError> {
        let overlay = "dev";
        let app = "podinfo";
        let file = format!("apps/overlays/{overlay}/kustomization.yaml");
        let text = self.read_text(&file)?;
        let current = replicas_count(&text, app).ok_or_else(|| RepoError::Change {
            path: self.dir.clone(),
            file: file.clone(),
            message: format!("no `count:` for {app} under `replicas:`"),
        })?;
        Ok(RepoChange::Scale {
            overlay: overlay.into(),
            app: app.into(),
            replicas: current % 4 + 1,
        })
    }

    /// Makes `change` on the head of `main` and commits it.
    pub fn commit_change(&self, change: &RepoChange) -> Result<CommitInfo, RepoError> {
        let file = change.file();
        let mut last_err = None;
        for _ in 0..COMMIT_ATTEMPTS {
            let git = self.open()?;
            let head = self.main_commit(&git)?;
            let text = match self.read_at(&git, head, &file)? {
                Some(bytes) => String::from_utf8(bytes).map_err(|_| RepoError::Change {
                    path: self.dir.clone(),
                    file: file.clone(),
                    message: "not UTF-8".into(),
                })?,
                None => {
                    return Err(RepoError::Change {
                        path: self.dir.clone(),
                        file,
                        message: "no such file on main".into(),
                    });
                }
            };
            let new_text = match change {
                RepoChange::Scale { app, replicas, .. } => {
                    set_replicas_count(&text, app, *replicas).ok_or_else(|| RepoError::Change {
                        path: self.dir.clone(),
                        file: file.clone(),
                        message: format!("no `count:` for {app} under `replicas:`"),
                    })?
                }
            };
            let files = [TemplateFile {
                path: file.as_str(),
                content: new_text.as_bytes(),
            }];
            match self.commit_files(&files, &change.message(), Some(head)) {
                Ok(info) => return Ok(info),
                // Another writer moved main between our read and the ref update: redo on its head.
                Err(e) if self.main_moved(head) => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| RepoError::Git {
            path: self.dir.clone(),
            action: "commit".into(),
            message: "main kept moving".into(),
        }))
    }

    /// Writes `files` over the tree of `parent` (or an empty tree) and moves `main` to the new
    /// commit, provided `main` still points at `parent`.
    fn commit_files(
        &self,
        files: &[TemplateFile<'_>],
        message: &str,
        parent: Option<gix::ObjectId>,
    ) -> Result<CommitInfo, RepoError> {
        let git = self.open()?;
        let base_tree = match parent {
            Some(p) => git
                .find_commit(p)
                .and_then(|c| c.tree_id())
                .map_err(|e| self.git_err("read the parent commit", e))?
                .detach(),
            None => gix::ObjectId::empty_tree(git.object_hash()),
        };
        let mut editor = git
            .edit_tree(base_tree)
            .map_err(|e| self.git_err("edit the tree", e))?;
        for f in files {
            let blob = git
                .write_blob(f.content)
                .map_err(|e| self.git_err(&format!("write {}", f.path), e))?;
            editor
                .upsert(f.path, EntryKind::Blob, blob.detach())
                .map_err(|e| self.git_err(&format!("add {} to the tree", f.path), e))?;
        }
        let tree = editor
            .write()
            .map_err(|e| self.git_err("write the tree", e))?
            .detach();
        let now = jiff::Timestamp::now().as_second();
        let sig = gix::actor::SignatureRef {
            name: BStr::new(AUTHOR_NAME),
            email: BStr::new(AUTHOR_EMAIL),
            time: &gix::date::Time::new(now, 0).to_string(),
        };
        let id = git
            .commit_as(sig, sig, MAIN_REF, message, tree, parent)
            .map_err(|e| self.git_err("commit to main", e))?
            .detach();
        Ok(CommitInfo {
            revision: format!("{BRANCH}@sha1:{id}"),
            commit: id.to_string(),
            subject: message.lines().next().unwrap_or_default().to_string(),
        })
    }

    fn read_text(&self, path: &str) -> Result<String, RepoError> {
        let bytes = self.read_file(path)?.ok_or_else(|| RepoError::Change {
            path: self.dir.clone(),
            file: path.into(),
            message: "no such file on main".into(),
        })?;
        String::from_utf8(bytes).map_err(|_| RepoError::Change {
            path: self.dir.clone(),
            file: path.into(),
            message: "not UTF-8".into(),
        })
    }

    fn read_at(
        &self,
        git: &gix::Repository,
        commit: gix::ObjectId,
        path: &str,
    ) -> Result<Option<Vec<u8>>, RepoError> {
        let tree = git
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| self.git_err("read the head commit", e))?;
        let Some(entry) = tree
            .lookup_entry_by_path(path)
            .map_err(|e| self.git_err(&format!("look up {path}"), e))?
        else {
            return Ok(None);
        };
        if !entry.mode().is_blob() {
            return Ok(None);
        }
        let object = entry
            .object()
            .map_err(|e| self.git_err(&format!("read {path}"), e))?;
        Ok(Some(object.data.clone()))
    }

    fn main_moved(&self, expected: gix::ObjectId) -> bool {
        self.open()
            .and_then(|git| self.main_commit(&git))
            .is_ok_and(|id| id != expected)
    }

    fn open(&self) -> Result<gix::Repository, RepoError> {
        gix::open(&self.dir).map_err(|e| self.git_err("open", e))
    }

    fn main_commit(&self, git: &gix::Repository) -> Result<gix::ObjectId, RepoError> {
        let mut reference = git
            .find_reference(MAIN_REF)
            .map_err(|e| self.git_err("find refs/heads/main", e))?;
        let id = reference
            .peel_to_id()
            .map_err(|e| self.git_err("resolve refs/heads/main", e))?;
        Ok(id.detach())
    }

    fn git_err(&self, action: &str, e: impl std::fmt::Display) -> RepoError {
        RepoError::Git {
            path: self.dir.clone(),
            action: action.into(),
            message: e.to_string(),
        }
    }
}

/// The line index of `count:` for `app` in the top-level `replicas:` list, and its value.
fn find_replicas_count(text: &str, app: &str) -> Option<(usize, u32)> {
    let mut in_replicas = false;
    let mut in_app = false;
    for (i, line) in text.lines().enumerate() {
        let top_level = !line.starts_with(' ') && !line.starts_with('-') && !line.is_empty();
        if top_level {
            in_replicas = line.trim_end() == "replicas:";
            in_app = false;
            continue;
        }
        if !in_replicas {
            continue;
        }
        let item = line.trim_start();
        if let Some(rest) = item.strip_prefix("- ") {
            in_app = field_value(rest.trim(), "name") == Some(app);
            if in_app && let Some(n) = field_value(rest.trim(), "count") {
                return n.parse().ok().map(|n| (i, n));
            }
            continue;
        }
        if in_app && let Some(n) = field_value(item.trim(), "count") {
            return n.parse().ok().map(|n| (i, n));
        }
    }
    None
}

/// `value` of a `key: value` line, without a trailing comment.
fn field_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(key)?.strip_prefix(':')?;
    let value = rest.split(" #").next().unwrap_or_default().trim();
    Some(value.trim_matches('"'))
}

/// The current replica count of `app` in a kustomization's `replicas:` list.
pub fn replicas_count(text: &str, app: &str) -> Option<u32> {
    find_replicas_count(text, app).map(|(_, n)| n)
}

/// The kustomization text with `app`'s replica count set to `replicas` (only that line changes).
pub fn set_replicas_count(text: &str, app: &str, replicas: u32) -> Option<String> {
    let (index, _) = find_replicas_count(text, app)?;
    let mut out = String::with_capacity(text.len() + 4);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i == index {
            let indent = line.len() - line.trim_start().len();
            let prefix = &line[..indent];
            let dash = if line.trim_start().starts_with("- ") {
                "- "
            } else {
                ""
            };
            let newline = if line.ends_with('\n') { "\n" } else { "" };
            out.push_str(&format!("{prefix}{dash}count: {replicas}{newline}"));
        } else {
            out.push_str(line);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OVERLAY: &str = "resources:\n  - ../../base/podinfo\nreplicas:\n  - name: podinfo\n    count: 1\n  - name: checkout\n    count: 3 # pinned\nimages:\n  - name: x\n    count: 9\n";

    #[test]
    fn finds_and_sets_the_replica_count_of_one_app() {
        assert_eq!(replicas_count(OVERLAY, "podinfo"), Some(1));
        assert_eq!(replicas_count(OVERLAY, "checkout"), Some(3));
        assert_eq!(
            replicas_count(OVERLAY, "x"),
            None,
            "only the replicas: list counts"
        );
        let changed = set_replicas_count(OVERLAY, "checkout", 5).expect("found");
        assert_eq!(changed, OVERLAY.replace("count: 3 # pinned", "count: 5"));
        assert_eq!(replicas_count(&changed, "podinfo"), Some(1));
    }

    #[test]
    fn replica_edits_tolerate_odd_input() {
        assert_eq!(replicas_count("", "a"), None);
        assert_eq!(
            replicas_count("replicas:\n  - name: a\n    count: lots\n", "a"),
            None
        );
        assert_eq!(
            replicas_count("replicas:\n  - count: 2\n    name: a\n", "a"),
            None,
            "count before name is not recognised"
        );
        assert_eq!(
            replicas_count("replicas:\n- {name: a, count: 2}\n", "a"),
            None
        );
        assert_eq!(set_replicas_count("replicas: []\n", "a", 2), None);
        let huge = "replicas:\n  - name: a\n    count: 99999999999999999999\n";
        assert_eq!(replicas_count(huge, "a"), None);
    }

    #[test]
    fn creates_commits_and_reopens_without_the_git_cli() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("demo.git");
        let repo = DemoRepo::open_or_init(&path).expect("created");
        let first = repo.head().expect("head");
        assert_eq!(first.len(), 40);
        assert!(repo.url().starts_with("file:///"));
        let gotk = repo
            .read_file("clusters/production/flux-system/gotk-sync.yaml")
            .expect("read")
            .expect("present");
        assert!(String::from_utf8_lossy(&gotk).contains("path: ./clusters/production"));
        assert!(
            repo.read_file("registry/catalogue.yaml")
                .expect("read")
                .is_none(),
            "the registry catalogue is demo machinery, not repository content"
        );

        let change = repo.next_change().expect("next change");
        assert_eq!(
            change,
            RepoChange::Scale {
                overlay: "dev".into(),
                app: "podinfo".into(),
                replicas: 2
            }
        );
        let info = repo.commit_change(&change).expect("committed");
        assert_ne!(info.commit, first);
        assert_eq!(info.revision, format!("main@sha1:{}", info.commit));
        assert_eq!(info.subject, "dev: scale podinfo to 2 replicas");
        let text = repo
            .read_file("apps/overlays/dev/kustomization.yaml")
            .expect("read")
            .expect("present");
        assert_eq!(
            replicas_count(&String::from_utf8_lossy(&text), "podinfo"),
            Some(2)
        );
        // Unchanged files are still there, and the parent is the first commit.
        let git = gix::open(&path).expect("open");
        let commit = git
            .find_commit(gix::ObjectId::from_hex(info.commit.as_bytes()).expect("hex"))
            .expect("commit");
        let parents: Vec<String> = commit.parent_ids().map(|p| p.to_string()).collect();
        assert_eq!(parents, vec![first.clone()]);
        assert!(
            repo.read_file("apps/base/podinfo/deployment.yaml")
                .expect("read")
                .is_some()
        );

        // Reopening keeps the history rather than re-initialising.
        let again = DemoRepo::open_or_init(&path).expect("reopened");
        assert_eq!(again.head().expect("head"), info.commit);
    }

    #[test]
    fn a_change_to_a_missing_app_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = DemoRepo::open_or_init(&dir.path().join("r.git")).expect("created");
        let err = repo
            .commit_change(&RepoChange::Scale {
                overlay: "dev".into(),
                app: "nope".into(),
                replicas: 2,
            })
            .expect_err("no such app");
        assert!(
            err.to_string()
                .contains("apps/overlays/dev/kustomization.yaml"),
            "{err}"
        );
        let err = repo
            .commit_change(&RepoChange::Scale {
                overlay: "qa".into(),
                app: "podinfo".into(),
                replicas: 2,
            })
            .expect_err("no such overlay");
        assert!(err.to_string().contains("no such file"), "{err}");
    }
}
