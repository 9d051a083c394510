//! The commit behind a source's revision (subject, author, time), read with gix from a repository on
//! this machine (`views::local_repositories` says where to look). A commit no local repository has
//! reads as `None`.

use crate::model::tree::CommitInfo;
use std::path::{Path, PathBuf};

/// The commit id of a Flux revision (`main@sha1:<hex>`, `sha1:<hex>`, or a bare hex id).
pub fn revision_commit(revision: &str) -> Option<&str> {
    let tail = revision.rsplit_once('@').map_or(revision, |(_, t)| t);
    let hex = tail
        .strip_prefix("sha1:")
        .or_else(|| tail.strip_prefix("sha256:"))
        .unwrap_or(tail);
    (hex.len() >= 7 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// The commit `id` (hex) from the first of `repos` that has it.
pub fn commit_info(repos: &[PathBuf], id: &str) -> Option<CommitInfo> {
    let oid = gix::ObjectId::from_hex(id.as_bytes()).ok()?;
    repos
        .iter()
        .filter(|dir| dir.is_dir())
        .find_map(|dir| read_commit(dir, oid))
}

fn read_commit(dir: &Path, oid: gix::ObjectId) -> Option<CommitInfo> {
    let repo = gix::open(dir).ok()?;
    let commit = repo.find_object(oid).ok()?.try_into_commit().ok()?;
    let message = commit.message().ok()?;
    let subject = message.summary().to_string();
    let author = commit.author().ok()?;
    let time = author.time().ok().map(|t| t.seconds);
    Some(CommitInfo {
        id: oid.to_string(),
        subject,
        author: author.name.to_string(),
        time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_commit_takes_the_hex_after_the_algorithm() {
        let hex = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(revision_commit(&format!("main@sha1:{hex}")), Some(hex));
        assert_eq!(revision_commit(&format!("sha1:{hex}")), Some(hex));
        assert_eq!(revision_commit(hex), Some(hex));
        assert_eq!(revision_commit("refs/tags/v1@sha1:xyz"), None);
        assert_eq!(revision_commit("main"), None);
        assert_eq!(revision_commit(""), None);
    }

    #[test]
    fn commit_info_reads_subject_author_and_time_and_misses_cleanly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = gix::init_bare(dir.path()).expect("init");
        let tree = gix::ObjectId::empty_tree(repo.object_hash());
        let sig = gix::actor::Signature {
            name: "Ada Lovelace".into(),
            email: "ada@example.com".into(),
            time: gix::date::Time::new(1_700_000_000, 0),
        };
        let mut buf = gix::date::parse::TimeBuf::default();
        let sig_ref = sig.to_ref(&mut buf);
        let id = repo
            .commit_as(
                sig_ref,
                sig_ref,
                "refs/heads/main",
                "Scale podinfo to 3\n\nbody",
                tree,
                gix::commit::NO_PARENT_IDS,
            )
            .expect("commit")
            .detach();
        let found = commit_info(
            &[PathBuf::from("/nonexistent"), dir.path().to_path_buf()],
            &id.to_string(),
        )
        .expect("found");
        assert_eq!(found.subject, "Scale podinfo to 3");
        assert_eq!(found.author, "Ada Lovelace");
        assert_eq!(found.time, Some(1_700_000_000));
        let other = "0000000000000000000000000000000000000001";
        assert!(commit_info(&[dir.path().to_path_buf()], other).is_none());
        assert!(commit_info(&[dir.path().to_path_buf()], "not-hex").is_none());
    }
}
