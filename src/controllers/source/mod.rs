//! Flux source-controller behaviour: GitRepository fetch (gix), artifacts (normalised tar.gz, digest, storage, GC), exclusions.
//!
//! The controller loop lives elsewhere; this module offers the building blocks:
//! [`git::fetch`] / [`git::remote_head`] with [`GitRef`] and [`GitAuth`],
//! [`Exclusions`] for `.sourceignore`/`spec.ignore`, [`ArtifactStore`] for archives, and
//! [`StorageServer`] serving the stores over HTTP.

pub mod artifact;
pub mod artifact_generator;
pub mod bucket;
pub mod controller;
pub mod exclusions;
pub mod external_artifact;
pub mod git;
pub mod git_auth;
pub mod git_local;
pub mod git_ref;
pub mod helm_chart;
pub mod helm_index;
pub mod helm_repository;
pub mod oci;
pub mod oci_repository;
pub mod storage;

pub use artifact::{
    Artifact, ArtifactError, ArtifactStore, DEFAULT_RETENTION, artifact_path, artifact_url,
};
pub use exclusions::{ExclusionError, Exclusions, IgnorePattern};
pub use git::{Checkout, GitError, RemoteHead, fetch, fetch_async, remote_head, validate_url};
pub use git_auth::{AuthError, GitAuth, GitCredentials, SshAuth};
pub use git_ref::{GitRef, GitRefError, ResolvedRef, revision_string};
pub use storage::{
    SourceStorage, StorageError, StorageServer, cluster_dir_name, local_git_histories,
};
