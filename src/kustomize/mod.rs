//! kustomize build.
