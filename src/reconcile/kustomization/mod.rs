//! Flux kustomize-controller behaviour: the Kustomization pipeline (build → substitute → apply in stages → prune → health → status).
