//! `file://` remotes served in-process with gix, so nothing spawns `git`: the remote repository
//! is opened directly, its refs are listed as `git upload-pack` would advertise them, objects are
//! read straight from its object database, and a push writes objects into it and moves the
//! branch with a ref transaction that checks the old value.
//!
//! gix's own file:// transport runs `git upload-pack`, which needs the git CLI; going through
//! the repository instead keeps a fresh machine (only the Rust toolchain) working.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use gix::bstr::ByteSlice;

/// A ref as a server advertises it: `(full name, target, peeled target)`; the peeled target
/// differs from the target only for annotated tags.
pub type AdvertisedRef = (String, gix::ObjectId, gix::ObjectId);

/// How deep symbolic references are followed before giving up (git stops at 5 too).
const MAX_SYMREF_DEPTH: usize = 5;

/// The local path of a `file://` URL; None for other schemes, for `file://` URLs naming a host
/// other than `localhost`, and for empty paths.
pub fn local_path(url: &str) -> Option<PathBuf> {
    let (scheme, _) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("file") {
        return None;
    }
    let parsed = gix::url::parse(url.as_bytes().as_bstr()).ok()?;
    if parsed
        .host()
        .is_some_and(|h| !h.is_empty() && !h.eq_ignore_ascii_case("localhost"))
    {
        return None;
    }
    let path = parsed.path.to_vec();
    if path.is_empty() {
        return None;
    }
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(path)))
}

/// Opens the repository (bare, or a work tree with `.git`) at `path` without reading the
/// user's or the system's git configuration. Err says what is wrong with the path.
pub fn open(path: &Path) -> Result<gix::Repository, String> {
    if !path.exists() {
        return Err(format!("'{}' does not exist", path.display()));
    }
    gix::open_opts(path, gix::open::Options::isolated()).map_err(|e| {
        format!(
            "'{}' does not appear to be a git repository: {e}",
            path.display()
        )
    })
}

/// Every reference of `repo` and `HEAD` (when it resolves), as `git upload-pack` advertises
/// them: symbolic references resolved, annotated tags peeled. Sorted by name.
pub fn advertised_refs(repo: &gix::Repository) -> Result<Vec<AdvertisedRef>, String> {
    let platform = repo
        .references()
        .map_err(|e| format!("cannot list references: {e}"))?;
    let iter = platform
        .all()
        .map_err(|e| format!("cannot list references: {e}"))?;
    let mut out = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for reference in iter {
        let reference = reference.map_err(|e| format!("cannot read a reference: {e}"))?;
        names.push(reference.name().as_bstr().to_str_lossy().into_owned());
    }
    names.push("HEAD".to_string());
    for name in names {
        if let Some(entry) = advertised(repo, &name)? {
            out.push(entry);
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

/// One advertised ref; None when it does not resolve (an unborn `HEAD`, a dangling symref).
fn advertised(repo: &gix::Repository, name: &str) -> Result<Option<AdvertisedRef>, String> {
    let Some(mut reference) = repo
        .try_find_reference(name)
        .map_err(|e| format!("cannot read reference {name}: {e}"))?
    else {
        return Ok(None);
    };
    let mut depth = 0;
    while let Some(next) = reference.follow() {
        depth += 1;
        if depth > MAX_SYMREF_DEPTH {
            return Ok(None);
        }
        match next {
            Ok(next) => reference = next,
            // A symbolic ref to a missing ref (unborn branch) is not advertised.
            Err(_) => return Ok(None),
        }
    }
    let Some(target) = reference.try_id().map(|id| id.detach()) else {
        return Ok(None);
    };
    let peeled = match repo.find_object(target) {
        Ok(object) => object
            .peel_tags_to_end()
            .map(|o| o.id)
            .map_err(|e| format!("cannot peel {name} ({target}): {e}"))?,
        // upload-pack advertises refs to missing objects as they are; the fetch then fails.
        Err(_) => target,
    };
    Ok(Some((name.to_string(), target, peeled)))
}

/// True if `commit` is one of `tips` or an ancestor of one: what a fetch of `tips` transfers.
pub fn reaches(
    repo: &gix::Repository,
    tips: &[gix::ObjectId],
    commit: gix::ObjectId,
    interrupt: &AtomicBool,
) -> Result<bool, String> {
    if tips.contains(&commit) {
        return Ok(true);
    }
    if tips.is_empty() {
        return Ok(false);
    }
    let walk = repo
        .rev_walk(tips.iter().copied())
        .all()
        .map_err(|e| format!("cannot walk the history: {e}"))?;
    for info in walk {
        if interrupt.load(Ordering::Relaxed) {
            return Err("interrupted".to_string());
        }
        let info = info.map_err(|e| format!("cannot walk the history: {e}"))?;
        if info.id == commit {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What the pushed reference must hold for the update to go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Exactly this commit (the value seen when the work started).
    Value(gix::ObjectId),
    /// The reference must not exist yet.
    Absent,
    /// Absent, or an ancestor of the new commit (a plain, non-forced `git push`).
    FastForward,
    /// Anything (a forced push).
    Any,
}

/// A push into a local repository that did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The reference moved (or appeared) since it was read: fetch again and redo the work.
    #[error("{0}")]
    Rejected(String),
    /// Anything else (unreadable repository, failed write).
    #[error("{0}")]
    Failed(String),
}

/// The current object a reference points at (symbolic references followed), None if absent.
fn current_value(repo: &gix::Repository, name: &str) -> Result<Option<gix::ObjectId>, String> {
    let Some(mut reference) = repo
        .try_find_reference(name)
        .map_err(|e| format!("cannot read {name}: {e}"))?
    else {
        return Ok(None);
    };
    match reference.follow_to_object() {
        Ok(id) => Ok(Some(id.detach())),
        Err(e) => Err(format!("cannot resolve {name}: {e}")),
    }
}

/// Points reference `name` (full, e.g. `refs/heads/main`) of `repo` at `new`, provided it holds
/// what `expected` allows; the check and the write happen under the reference's lock, so a
/// concurrent push makes exactly one of them fail with [`PushError::Rejected`]. The objects of
/// `new` must already be in `repo`. `committer` signs the reflog entry.
pub fn update_ref(
    repo: &gix::Repository,
    name: &str,
    new: gix::ObjectId,
    expected: Expected,
    committer: gix::actor::SignatureRef<'_>,
) -> Result<(), PushError> {
    use gix::refs::Target;
    use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
    if !repo.has_object(new) {
        return Err(PushError::Failed(format!(
            "commit {new} is not in the repository"
        )));
    }
    let full_name: gix::refs::FullName = name
        .try_into()
        .map_err(|e| PushError::Failed(format!("'{name}' is not a valid reference name: {e}")))?;
    // As receive.denyCurrentBranch does: a work tree's checked-out branch would be left with a
    // stale index and files.
    if !repo.is_bare()
        && let Ok(Some(head)) = repo.head_name()
        && head.as_bstr() == name.as_bytes()
    {
        return Err(PushError::Failed(format!(
            "refusing to update {name}: it is checked out in the work tree of {}",
            repo.path().display()
        )));
    }
    let current = current_value(repo, name).map_err(PushError::Failed)?;
    let rejected = |actual: Option<gix::ObjectId>, why: &str| {
        let actual = actual.map_or_else(|| "absent".to_string(), |id| id.to_string());
        PushError::Rejected(format!(
            "{name} rejected ({why}): the remote has {actual}, which the new commit {new} does not build on"
        ))
    };
    let previous = match expected {
        Expected::Value(old) => {
            if current != Some(old) {
                return Err(rejected(current, "fetch first"));
            }
            PreviousValue::MustExistAndMatch(Target::Object(old))
        }
        Expected::Absent => match current {
            Some(_) => return Err(rejected(current, "already exists")),
            None => PreviousValue::MustNotExist,
        },
        Expected::FastForward => match current {
            None => PreviousValue::MustNotExist,
            Some(old) => {
                let never = AtomicBool::new(false);
                if !reaches(repo, &[new], old, &never).map_err(PushError::Failed)? {
                    return Err(rejected(current, "non-fast-forward"));
                }
                PreviousValue::MustExistAndMatch(Target::Object(old))
            }
        },
        Expected::Any => PreviousValue::Any,
    };
    if current == Some(new) {
        return Ok(());
    }
    let edit = RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: format!("push: {new}").into(),
            },
            expected: previous,
            new: Target::Object(new),
        },
        name: full_name,
        deref: false,
    };
    match repo.edit_references_as([edit], Some(committer)) {
        Ok(_) => Ok(()),
        Err(e) => {
            // Tell a lost race (the value changed, or another writer holds the lock) from a
            // broken repository by looking again.
            let now = current_value(repo, name).ok().flatten();
            let text = e.to_string();
            if now != current || text.to_ascii_lowercase().contains("lock") {
                Err(rejected(now, "the branch moved during the push"))
            } else {
                Err(PushError::Failed(format!("cannot update {name}: {text}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_file_urls_have_a_path() {
        assert_eq!(
            local_path("file:///tmp/r.git"),
            Some(PathBuf::from("/tmp/r.git"))
        );
        assert_eq!(
            local_path("FILE:///tmp/r.git"),
            Some(PathBuf::from("/tmp/r.git"))
        );
        assert_eq!(
            local_path("file://localhost/tmp/r.git"),
            Some(PathBuf::from("/tmp/r.git"))
        );
        for other in [
            "https://example.com/r.git",
            "ssh://git@example.com/r.git",
            "/tmp/r.git",
            "file://example.com/tmp/r.git",
            "",
        ] {
            assert_eq!(local_path(other), None, "{other}");
        }
    }

    #[test]
    fn missing_and_non_repository_paths_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.git");
        let err = open(&missing).expect_err("missing");
        assert!(
            err.contains("nope.git") && err.contains("does not exist"),
            "{err}"
        );
        let err = open(dir.path()).expect_err("not a repository");
        assert!(err.contains("not appear to be a git repository"), "{err}");
    }

    fn commit_on(repo: &gix::Repository, parents: &[gix::ObjectId], msg: &str) -> gix::ObjectId {
        let tree = gix::ObjectId::empty_tree(repo.object_hash());
        let time = gix::date::Time::new(1_700_000_000, 0);
        let mut buf = gix::date::parse::TimeBuf::default();
        let sig = gix::actor::SignatureRef {
            name: "T".into(),
            email: "t@example.com".into(),
            time: time.to_str(&mut buf),
        };
        repo.write_object(gix::objs::Tree::empty())
            .expect("empty tree");
        repo.new_commit_as(sig, sig, msg, tree, parents.iter().copied())
            .expect("commit")
            .id
    }

    #[test]
    fn the_checked_out_branch_of_a_work_tree_is_not_pushed_to() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = gix::init(dir.path().join("w")).expect("init");
        let time = gix::date::Time::new(1_700_000_000, 0);
        let mut buf = gix::date::parse::TimeBuf::default();
        let sig = gix::actor::SignatureRef {
            name: "T".into(),
            email: "t@example.com".into(),
            time: time.to_str(&mut buf),
        };
        let a = commit_on(&repo, &[], "a");
        let head = repo
            .head_name()
            .expect("head")
            .expect("symbolic")
            .as_bstr()
            .to_string();
        let err = update_ref(&repo, &head, a, Expected::Any, sig).expect_err("checked out");
        assert!(matches!(err, PushError::Failed(_)), "{err}");
        assert!(err.to_string().contains("checked out"), "{err}");
        update_ref(&repo, "refs/heads/other", a, Expected::Absent, sig).expect("other branch");
    }

    #[test]
    fn ref_updates_check_the_old_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = gix::init_bare(dir.path().join("r.git")).expect("init");
        let time = gix::date::Time::new(1_700_000_000, 0);
        let mut buf = gix::date::parse::TimeBuf::default();
        let sig = gix::actor::SignatureRef {
            name: "T".into(),
            email: "t@example.com".into(),
            time: time.to_str(&mut buf),
        };
        let a = commit_on(&repo, &[], "a");
        let b = commit_on(&repo, &[a], "b");
        let c = commit_on(&repo, &[a], "c");
        let name = "refs/heads/main";
        update_ref(&repo, name, a, Expected::Absent, sig).expect("create");
        assert!(matches!(
            update_ref(&repo, name, b, Expected::Absent, sig),
            Err(PushError::Rejected(_))
        ));
        update_ref(&repo, name, b, Expected::Value(a), sig).expect("fast-forward");
        // c was made on a, but the branch moved to b: rejected, not forced.
        let err = update_ref(&repo, name, c, Expected::Value(a), sig).expect_err("moved");
        assert!(matches!(err, PushError::Rejected(_)), "{err}");
        assert_eq!(current_value(&repo, name).expect("read"), Some(b));
        let err = update_ref(&repo, name, c, Expected::FastForward, sig).expect_err("not ff");
        assert!(err.to_string().contains("non-fast-forward"), "{err}");
        update_ref(&repo, name, c, Expected::Any, sig).expect("forced");
        assert_eq!(current_value(&repo, name).expect("read"), Some(c));
        let refs = advertised_refs(&repo).expect("refs");
        assert!(refs.iter().any(|(n, t, p)| n == name && *t == c && *p == c));
        let missing =
            gix::ObjectId::from_hex(b"0123456789012345678901234567890123456789").expect("hex");
        assert!(matches!(
            update_ref(&repo, name, missing, Expected::Any, sig),
            Err(PushError::Failed(_))
        ));
        let never = AtomicBool::new(false);
        assert!(reaches(&repo, &[b], a, &never).expect("walk"));
        assert!(!reaches(&repo, &[], a, &never).expect("no tips"));
        assert!(!reaches(&repo, &[b], c, &never).expect("walk"));
    }
}
