//! JSON merge patch, JSON patch and strategic merge patch, shared by the API server and kustomize.
