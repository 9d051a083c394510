//! Flux source-controller behaviour: GitRepository fetch (gix), artifacts (normalised tar.gz, digest, storage, GC), exclusions.
