//! The bundled reconciler: one folder per Flux controller on top of [`crate::runtime`] and
//! [`crate::apply`], and [`bundle`], which runs every reconciler on every cluster.
//!
//! # How to write a reconciler
//!
//! A reconciler is a [`Controller`](crate::runtime::Controller): a typed spec and a straight line
//! of named steps. It never writes conditions, events, `observedGeneration` or
//! `lastHandledReconcileAt`, never checks `spec.suspend`, never touches the finalizer: the runtime
//! does all of that, once, for every kind.
//!
//! 1. `parse` turns the object into a typed spec; an invalid spec is a terminal
//!    [`Failure`](crate::runtime::Failure) (the object stalls until it changes).
//! 2. `reconcile` runs the steps over a [`Run`](crate::runtime::Run). Each step returns
//!    `Result<_, Failure>` and `?` stops the line at the first failure. A failure carries Flux's
//!    reason, the message, and its class: [`Failure::terminal`](crate::runtime::Failure::terminal)
//!    (Stalled, no requeue), [`Failure::transient`](crate::runtime::Failure::transient) (Ready=False,
//!    exponential backoff up to [`Run::backoff_cap`](crate::runtime::Run::backoff_cap), or a fixed
//!    [`retry_after`](crate::runtime::Failure::retry_after)) or
//!    [`Failure::waiting`](crate::runtime::Failure::waiting) (requeue after a delay). A per-kind
//!    reason enum is fine as long as it converts with `impl From<MyError> for Failure`.
//! 3. Between steps, [`Run::progressing`](crate::runtime::Run::progressing) +
//!    [`Run::write`](crate::runtime::Run::write) show progress in the Reconciling condition;
//!    kind-specific status fields and conditions go through `run.set`/`run.set_condition`; extra
//!    events through [`Run::record`](crate::runtime::Run::record); the revision events are
//!    annotated with (`<group>/revision`) through [`Run::set_revision`](crate::runtime::Run::set_revision).
//! 4. The end is a [`Success`](crate::runtime::Success) (`Ready=True` reason and message, the
//!    requeue interval, optionally a Normal event). The runtime's status writer
//!    ([`Run::conclude`](crate::runtime::Run::conclude)) then sets Ready/Reconciling/Stalled with
//!    Flux's setter rules, writes the status through `/status`, records the Event (Normal on
//!    success, Warning with the failure's reason and message) and forwards it in
//!    notification-controller's shape to [`RuntimeOptions::events`](crate::runtime::RuntimeOptions::events).
//! 5. Register it with [`Adapter::new`](crate::runtime::Adapter::new), which resolves the kind from
//!    the registry once (an error, never another kind, when it is missing).
//!
//! ```ignore
//! use crate::runtime::{Adapter, Controller, Failure, Run, Success};
//!
//! struct WidgetController { client: kube::Client }
//! struct WidgetSpec { url: String, interval: Duration }
//!
//! impl Controller for WidgetController {
//!     const GROUP: &'static str = "widgets.example.dev";
//!     const KIND: &'static str = "Widget";
//!     const COMPONENT: &'static str = "widget-controller";
//!     type Spec = WidgetSpec;
//!
//!     fn parse(&self, obj: &Value) -> Result<WidgetSpec, Failure> {
//!         let url = obj.pointer("/spec/url").and_then(Value::as_str)
//!             .ok_or_else(|| Failure::terminal("InvalidURL", "spec.url is required"))?;
//!         Ok(WidgetSpec { url: url.into(), interval: Duration::from_secs(60) })
//!     }
//!
//!     async fn reconcile(&self, run: &mut Run, spec: WidgetSpec) -> Result<Success, Failure> {
//!         run.backoff_cap(spec.interval);
//!         run.progressing("fetching");
//!         run.write().await;
//!         let body = fetch(&spec.url).await
//!             .map_err(|e| Failure::transient("FetchFailed", e.to_string()))?;
//!         run.set("size", body.len().into());
//!         Ok(Success::ready("Succeeded", format!("fetched {} bytes", body.len()), spec.interval))
//!     }
//! }
//!
//! let widgets = Adapter::new(client.clone(), Arc::new(WidgetController { client }))?;
//! runtime.register(Arc::new(widgets));
//! ```
//!
//! `tests/reconcile_template.rs` is this sketch as a working test; `source/controller.rs`
//! (GitRepository) is the shortest real one.

pub mod argo;
pub mod bundle;
pub mod helmrelease;
pub mod image;
pub mod kustomization;
pub mod notification;
pub mod source;
