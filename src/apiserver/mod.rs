//! The embedded Kubernetes API server: store + event log, REST handlers, watch, server-side apply, CRD
//! registry, OpenAPI stub, workload simulator, kubeconfig writer, fault injection. A server, not a
//! client: it uses only `model` and `patch`.

pub mod managed_fields;
pub mod selector;
pub mod simulator;
pub mod table;
pub mod validation;
