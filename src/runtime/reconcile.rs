//! The one reconciler shape: a [`Controller`] parses its typed spec and runs a straight line of
//! steps over a [`Run`]; every failure is a [`Failure`] with Flux's three classes; [`Run::conclude`]
//! is THE status writer (Ready/Reconciling/Stalled, the failing kind-specific condition,
//! `observedGeneration`, `lastHandledReconcileAt`) and queues the matching Flux event; [`Adapter`]
//! plugs a controller into the runtime and handles suspend, writes the status through `/status`,
//! records the Kubernetes Events and hands their notification payloads to the runtime's sink.
//! Finalizer and deletion are handled by the runtime itself ([`super::Reconciler::finalize`]).
//!
//! Setter rules: flux-semantics §1.3 (and §3.9 for the Kustomization: observedGeneration only on
//! Ready=True or a terminal stall, which is what every kind here does).

use futures::future::BoxFuture;
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::events::{EventType, FluxEvent};
use super::status_io::{EventNote, Events, observed_generation, ready_summary};
use super::{Dependency, Next, ObjectKey, Outcome, REQUESTED_AT, Reconciler, write_status};
use crate::model::conditions::{self, Condition, ConditionStatus, READY, RECONCILING, STALLED};
use crate::model::kinds::{self, KindInfo};

/// Reason of the Reconciling condition while a run is in progress.
pub const PROGRESSING: &str = "Progressing";
/// Reason of the Reconciling condition after a failure that will be retried.
pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
/// The longest exponential backoff of a transient failure without a fixed retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1 << 10);

/// How a failed run is scheduled again (kustomize-controller's three classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// `Stalled=True`; no requeue until the object changes.
    Terminal,
    /// `Ready=False`; retried (a fixed delay, or exponential backoff).
    Transient,
    /// `Ready=False`; requeue after the given delay (zero = at once).
    Waiting(Duration),
}

/// The failure of one run: the Flux reason and message for `Ready=False`, its class, and optionally
/// a kind-specific condition it also sets (e.g. `FetchFailed=True`, `Healthy=False`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct Failure {
    /// The Flux reason (`ArtifactFailed`, `GitOperationFailed`, …).
    pub reason: String,
    /// The condition and event message.
    pub message: String,
    /// How the run is scheduled again.
    pub class: ErrorClass,
    /// For [`ErrorClass::Transient`]: a fixed retry delay; `None` = exponential backoff.
    pub retry_after: Option<Duration>,
    /// A kind-specific condition set alongside Ready (type, status), with the same reason/message.
    pub condition: Option<(&'static str, ConditionStatus)>,
}

impl Failure {
    fn new(class: ErrorClass, reason: &str, message: impl Into<String>) -> Failure {
        Failure {
            reason: reason.to_string(),
            message: message.into(),
            class,
            retry_after: None,
            condition: None,
        }
    }

    /// A terminal failure: Stalled, no requeue.
    pub fn terminal(reason: &str, message: impl Into<String>) -> Failure {
        Self::new(ErrorClass::Terminal, reason, message)
    }

    /// A transient failure: retried with exponential backoff unless [`Failure::retry_after`] is set.
    pub fn transient(reason: &str, message: impl Into<String>) -> Failure {
        Self::new(ErrorClass::Transient, reason, message)
    }

    /// A wait for something else (a dependency, an artifact): requeued after `after`.
    pub fn waiting(reason: &str, message: impl Into<String>, after: Duration) -> Failure {
        Self::new(ErrorClass::Waiting(after), reason, message)
    }

    /// Retries a transient failure after `d` instead of backing off.
    pub fn retry_after(mut self, d: Duration) -> Failure {
        self.retry_after = Some(d);
        self
    }

    /// Also sets the condition `type_` to `status` with this failure's reason and message.
    pub fn with_condition(mut self, type_: &'static str, status: ConditionStatus) -> Failure {
        self.condition = Some((type_, status));
        self
    }

    /// Whether the failure stalls the object.
    pub fn is_terminal(&self) -> bool {
        self.class == ErrorClass::Terminal
    }
}

/// A successful run: the `Ready=True` reason and message, when to run again, and optionally the
/// Normal event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Success {
    /// `Ready` reason (`Succeeded`, `ReconciliationSucceeded`).
    pub reason: String,
    /// `Ready` message.
    pub message: String,
    /// When to run again.
    pub next: Next,
    /// A Normal event (reason, message) recorded after the status is written.
    pub event: Option<(String, String)>,
}

impl Success {
    /// `Ready=True reason message`, run again after `interval`, no event.
    pub fn ready(reason: &str, message: impl Into<String>, interval: Duration) -> Success {
        Success {
            reason: reason.to_string(),
            message: message.into(),
            next: Next::After(interval),
            event: None,
        }
    }

    /// Runs again only when the object changes.
    pub fn wait(mut self) -> Success {
        self.next = Next::Wait;
        self
    }

    /// Records a Normal event with this reason and message.
    pub fn event(mut self, reason: &str, message: impl Into<String>) -> Success {
        self.event = Some((reason.to_string(), message.into()));
        self
    }
}

/// Where a live run writes its status.
#[derive(Clone)]
struct Target {
    client: kube::Client,
    kind: &'static KindInfo,
    version: &'static str,
}

/// One run over one object: its status as it is being rewritten, the events to record, and the
/// revision events are annotated with.
pub struct Run {
    obj: Value,
    status: Value,
    generation: i64,
    fixed_now: Option<Timestamp>,
    target: Option<Target>,
    notes: Vec<EventNote>,
    revision: Option<String>,
    retry_progress: Option<String>,
    backoff_cap: Duration,
}

impl Run {
    fn with(obj: Value, target: Option<Target>, fixed_now: Option<Timestamp>) -> Run {
        let status = match obj.get("status") {
            Some(Value::Object(m)) => Value::Object(m.clone()),
            _ => Value::Object(Map::new()),
        };
        let generation = obj
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        Run {
            obj,
            status,
            generation,
            fixed_now,
            target,
            notes: Vec::new(),
            revision: None,
            retry_progress: None,
            backoff_cap: MAX_BACKOFF,
        }
    }

    /// A run that only computes (no API writes; [`Run::write`] does nothing), at a fixed time.
    pub fn detached(obj: &Value, now: Timestamp) -> Run {
        Self::with(obj.clone(), None, Some(now))
    }

    /// The object as last read or written.
    pub fn object(&self) -> &Value {
        &self.obj
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        text(&self.obj, "/metadata/name").unwrap_or("")
    }

    /// `metadata.namespace` (`default` when absent).
    pub fn namespace(&self) -> &str {
        text(&self.obj, "/metadata/namespace").unwrap_or("default")
    }

    /// `metadata.generation`.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// The `reconcile.fluxcd.io/requestedAt` token, if any.
    pub fn requested_at(&self) -> Option<&str> {
        self.obj
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(REQUESTED_AT))
            .and_then(Value::as_str)
    }

    /// The time conditions are stamped with.
    pub fn now(&self) -> Timestamp {
        self.fixed_now.unwrap_or_else(Timestamp::now)
    }

    /// The status being written.
    pub fn status(&self) -> &Value {
        &self.status
    }

    /// The status being written, for kind-specific fields and conditions.
    pub fn status_mut(&mut self) -> &mut Value {
        &mut self.status
    }

    /// Sets a top-level status field.
    pub fn set(&mut self, key: &str, value: Value) {
        set_field(&mut self.status, key, value);
    }

    /// Removes a top-level status field.
    pub fn remove(&mut self, key: &str) {
        if let Some(m) = self.status.as_object_mut() {
            m.remove(key);
        }
    }

    /// Sets a condition with Flux's setter rules.
    pub fn set_condition(&mut self, type_: &str, status: ConditionStatus, reason: &str, msg: &str) {
        let c = Condition::new(type_, status, reason, msg);
        let (generation, now) = (self.generation, self.now());
        conditions::set_condition(&mut self.status, &c, generation, now);
    }

    /// Removes a condition.
    pub fn remove_condition(&mut self, type_: &str) {
        conditions::remove_condition(&mut self.status, type_);
    }

    /// `Reconciling=True Progressing <message>` (Stalled removed): progress for the console.
    pub fn progressing(&mut self, message: &str) {
        let (generation, now) = (self.generation, self.now());
        conditions::mark_reconciling(&mut self.status, PROGRESSING, message, generation, now);
    }

    /// The start of a source/image-style run (§1.3 step 1): Reconciling with "reconciliation in
    /// progress" (or the generation change), Ready Unknown unless already known; written at once.
    pub async fn begin(&mut self) {
        let generation = self.generation;
        let msg = match observed_generation(&self.status) {
            Some(old) if old != generation => {
                format!("processing object: new generation {old} -> {generation}")
            }
            _ => "reconciliation in progress".to_string(),
        };
        self.progressing(&msg);
        let ready_known = conditions::condition(&json!({"status": self.status.clone()}), READY)
            .is_some_and(|c| c.status != ConditionStatus::Unknown);
        if !ready_known {
            self.set_condition(READY, ConditionStatus::Unknown, PROGRESSING, &msg);
        }
        self.write().await;
    }

    /// On a retried failure, mark `Reconciling=True ProgressingWithRetry <message>` even when the
    /// run never marked progress (the image controllers' shape).
    pub fn retry_progress(&mut self, message: &str) {
        self.retry_progress = Some(message.to_string());
    }

    /// Caps the exponential backoff of transient failures (e.g. at `spec.interval`).
    pub fn backoff_cap(&mut self, cap: Duration) {
        self.backoff_cap = cap;
    }

    /// The revision events are annotated with (`<group>/revision`).
    pub fn set_revision(&mut self, revision: &str) {
        self.revision = Some(revision.to_string());
    }

    /// Queues an event, recorded after the status is written.
    pub fn record(&mut self, type_: EventType, reason: &str, message: &str) {
        self.notes.push(match type_ {
            EventType::Normal => EventNote::normal(reason, message),
            EventType::Warning => EventNote::warning(reason, message),
        });
    }

    /// The queued events, in order.
    pub fn notes(&self) -> &[EventNote] {
        &self.notes
    }

    /// Writes the status now (progress for the console); a failed write is logged and the run
    /// goes on (the final write repeats it).
    pub async fn write(&mut self) {
        if let Err(e) = self.try_write().await {
            tracing::warn!(object = %self.key(), error = %e, "status update failed");
        }
    }

    async fn try_write(&mut self) -> Result<(), kube::Error> {
        let Some(t) = &self.target else {
            return Ok(());
        };
        if let Some(o) = write_status(&t.client, t.kind, t.version, &self.obj, &self.status).await?
        {
            self.obj = o;
        }
        Ok(())
    }

    fn key(&self) -> ObjectKey {
        let kind = self.target.as_ref().map(|t| t.kind.kind).unwrap_or("");
        ObjectKey::of(kind, &self.obj)
    }

    /// THE status writer: applies the run's result to the status with Flux's setter rules, records
    /// `lastHandledReconcileAt`, queues the matching event, and says when to run again.
    ///
    /// - success: Reconciling and Stalled removed, `Ready=True`, `observedGeneration` current;
    /// - failure: the kind-specific condition, `Ready=False <reason>`; terminal → `Stalled=True`
    ///   and `observedGeneration` current; otherwise Reconciling becomes `ProgressingWithRetry`;
    ///   a Warning event with the failure's reason and message.
    pub fn conclude(&mut self, result: Result<Success, Failure>) -> Next {
        let next = match result {
            Ok(s) => {
                self.remove_condition(RECONCILING);
                self.remove_condition(STALLED);
                self.set_condition(READY, ConditionStatus::True, &s.reason, &s.message);
                self.set("observedGeneration", json!(self.generation));
                if let Some((reason, message)) = &s.event {
                    self.record(EventType::Normal, reason, message);
                }
                s.next
            }
            Err(f) => self.fail(&f),
        };
        if let Some(token) = self.requested_at().map(str::to_string) {
            self.set("lastHandledReconcileAt", json!(token));
        }
        next
    }

    fn fail(&mut self, f: &Failure) -> Next {
        let (generation, now) = (self.generation, self.now());
        if let Some((type_, status)) = f.condition {
            self.set_condition(type_, status, &f.reason, &f.message);
        }
        self.set_condition(READY, ConditionStatus::False, &f.reason, &f.message);
        let next = match f.class {
            ErrorClass::Terminal => {
                conditions::mark_stalled(&mut self.status, &f.reason, &f.message, generation, now);
                self.set("observedGeneration", json!(generation));
                Next::Wait
            }
            ErrorClass::Waiting(d) => Next::After(d),
            ErrorClass::Transient => match f.retry_after {
                Some(d) => Next::After(d),
                None => Next::Backoff(self.backoff_cap),
            },
        };
        if !f.is_terminal() {
            self.mark_retrying();
        }
        self.record(EventType::Warning, &f.reason, &f.message);
        next
    }

    fn mark_retrying(&mut self) {
        let (generation, now) = (self.generation, self.now());
        if let Some(progress) = self.retry_progress.clone() {
            let s = &mut self.status;
            conditions::mark_reconciling(s, PROGRESSING_WITH_RETRY, &progress, generation, now);
        } else if let Some(mut rc) = conditions::reconciling(&json!({"status": self.status})) {
            rc.reason = PROGRESSING_WITH_RETRY.into();
            conditions::set_condition(&mut self.status, &rc, generation, now);
        }
    }

    /// Consumes the run: the status and the queued events.
    pub fn into_parts(self) -> (Value, Vec<EventNote>) {
        (self.status, self.notes)
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn set_field(status: &mut Value, key: &str, value: Value) {
    if !status.is_object() {
        *status = json!({});
    }
    if let Some(m) = status.as_object_mut() {
        m.insert(key.to_string(), value);
    }
}

/// A reconciler in the one shape (see the module docs of [`crate::controllers`]).
pub trait Controller: Send + Sync + 'static {
    /// The API group of the kind (e.g. `source.toolkit.fluxcd.io`).
    const GROUP: &'static str;
    /// The Kind (e.g. `GitRepository`).
    const KIND: &'static str;
    /// The API version read and written.
    const VERSION: &'static str = "v1";
    /// The reporting controller of events (e.g. `source-controller`).
    const COMPONENT: &'static str;
    /// Whether a suspended object still gets `lastHandledReconcileAt` (kustomize-controller does).
    const SUSPENDED_RECORDS_REQUEST: bool = false;
    /// The typed spec.
    type Spec: Send;

    /// Reads the spec; an invalid spec is a (usually terminal) failure.
    fn parse(&self, obj: &Value) -> Result<Self::Spec, Failure>;

    /// The steps of one run; the caller writes the status and records events.
    fn reconcile(
        &self,
        run: &mut Run,
        spec: Self::Spec,
    ) -> impl Future<Output = Result<Success, Failure>> + Send;

    /// Cleanup when the object is deleted (the runtime removes the finalizer afterwards).
    fn finalize(&self, _obj: Value) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Objects this one reads (see [`Reconciler::depends_on`]).
    fn depends_on(&self, _obj: &Value) -> Vec<Dependency> {
        Vec::new()
    }

    /// What dependants care about (see [`Reconciler::signal`]).
    fn signal(&self, _obj: &Value) -> Option<String> {
        None
    }
}

/// A kind a controller names is not in the kind registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kind {kind} of group {group} is not in flotilla's kind registry")]
pub struct UnknownKind {
    /// The group.
    pub group: &'static str,
    /// The kind.
    pub kind: &'static str,
}

/// Resolves a registered kind once.
pub fn kind_info(
    group: &'static str,
    kind: &'static str,
) -> Result<&'static KindInfo, UnknownKind> {
    kinds::by_group_kind(group, kind).ok_or(UnknownKind { group, kind })
}

/// Plugs a [`Controller`] into the runtime as a [`Reconciler`].
pub struct Adapter<C: Controller> {
    inner: Arc<C>,
    kind: &'static KindInfo,
    client: kube::Client,
    events: Events,
}

impl<C: Controller> Adapter<C> {
    /// An adapter for `controller` over `client`, with the kind resolved from the registry.
    pub fn new(client: kube::Client, controller: Arc<C>) -> Result<Adapter<C>, UnknownKind> {
        Self::with_kind(client, controller, kind_info(C::GROUP, C::KIND)?)
    }

    /// An adapter for a kind given explicitly (kinds outside the registry, e.g. in tests).
    pub fn with_kind(
        client: kube::Client,
        controller: Arc<C>,
        kind: &'static KindInfo,
    ) -> Result<Adapter<C>, UnknownKind> {
        Ok(Adapter {
            inner: controller,
            kind,
            events: Events::new(client.clone(), C::COMPONENT),
            client,
        })
    }

    /// The controller.
    pub fn controller(&self) -> &Arc<C> {
        &self.inner
    }
}

impl<C: Controller> Reconciler for Adapter<C> {
    fn kind(&self) -> &'static KindInfo {
        self.kind
    }
    fn version(&self) -> &'static str {
        C::VERSION
    }
    fn reconcile(&self, obj: Value) -> BoxFuture<'static, Outcome> {
        let (inner, events) = (Arc::clone(&self.inner), self.events.clone());
        let target = Target {
            client: self.client.clone(),
            kind: self.kind,
            version: C::VERSION,
        };
        Box::pin(async move { run_controller(inner.as_ref(), target, &events, obj).await })
    }
    fn finalize(&self, obj: Value) -> BoxFuture<'static, ()> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.finalize(obj).await })
    }
    fn depends_on(&self, obj: &Value) -> Vec<Dependency> {
        self.inner.depends_on(obj)
    }
    fn signal(&self, obj: &Value) -> Option<String> {
        self.inner.signal(obj)
    }
}

/// Whether `spec.suspend` is true.
pub fn is_suspended(obj: &Value) -> bool {
    obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true)
}

/// One run of a controller: suspend, parse, steps, the status writer, the write, the events.
async fn run_controller<C: Controller>(
    c: &C,
    target: Target,
    events: &Events,
    obj: Value,
) -> Outcome {
    let mut run = Run::with(obj, Some(target), None);
    if is_suspended(&run.obj) {
        // Flux: no status change and no requeue; kustomize-controller still acknowledges requests.
        if C::SUSPENDED_RECORDS_REQUEST
            && let Some(token) = run.requested_at().map(str::to_string)
        {
            run.set("lastHandledReconcileAt", json!(token));
            run.write().await;
        }
        return Outcome::new(Next::Wait, ready_summary(&run.status));
    }
    let result = match c.parse(&run.obj) {
        Ok(spec) => c.reconcile(&mut run, spec).await,
        Err(f) => Err(f),
    };
    let mut next = run.conclude(result);
    let mut summary = ready_summary(&run.status);
    if let Err(e) = run.try_write().await {
        tracing::warn!(object = %run.key(), error = %e, "status update failed");
        summary = format!("cannot write status: {e}");
        next = Next::Backoff(MAX_BACKOFF);
    }
    let notes = annotate_revision(
        std::mem::take(&mut run.notes),
        C::GROUP,
        run.revision.as_deref(),
    );
    let payloads = notes
        .iter()
        .map(|n| FluxEvent::from_note(&run.obj, n, C::COMPONENT))
        .collect();
    events.emit(&run.obj, notes).await;
    let mut outcome = Outcome::new(next, summary);
    outcome.events = payloads;
    outcome
}

/// Adds `<group>/revision` to every note lacking it (Flux annotates each event of a run).
fn annotate_revision(notes: Vec<EventNote>, group: &str, revision: Option<&str>) -> Vec<EventNote> {
    let Some(rev) = revision.filter(|r| !r.is_empty()) else {
        return notes;
    };
    let key = format!("{group}/revision");
    notes
        .into_iter()
        .map(|n| {
            if n.annotations.iter().any(|(k, _)| *k == key) {
                n
            } else {
                n.annotate(&key, rev)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj() -> Value {
        json!({"apiVersion": "toy.flotilla.test/v1", "kind": "Toy",
            "metadata": {"name": "t", "namespace": "ns", "generation": 3,
                "annotations": {REQUESTED_AT: "tok"}},
            "status": {"observedGeneration": 2}})
    }

    fn at() -> Timestamp {
        Timestamp::from_second(1_785_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn cond(run: &Run, t: &str) -> Option<Condition> {
        conditions::condition(&json!({"status": run.status()}), t)
    }

    #[test]
    fn success_sets_ready_generation_and_request() {
        let mut run = Run::detached(&obj(), at());
        run.progressing("working");
        let next = run.conclude(Ok(Success::ready(
            "Succeeded",
            "done",
            Duration::from_secs(60),
        )
        .event("Succeeded", "it worked")));
        assert_eq!(next, Next::After(Duration::from_secs(60)));
        let ready = cond(&run, READY).expect("ready");
        assert_eq!(
            (ready.status, ready.reason.as_str()),
            (ConditionStatus::True, "Succeeded")
        );
        assert!(cond(&run, RECONCILING).is_none());
        assert_eq!(run.status()["observedGeneration"], 3);
        assert_eq!(run.status()["lastHandledReconcileAt"], "tok");
        assert_eq!(run.notes(), [EventNote::normal("Succeeded", "it worked")]);
    }

    #[test]
    fn failures_follow_their_class() {
        let mut run = Run::detached(&obj(), at());
        run.progressing("working");
        let f = Failure::transient("FetchFailed", "boom")
            .with_condition("FetchFailed", ConditionStatus::True);
        run.backoff_cap(Duration::from_secs(30));
        assert_eq!(run.conclude(Err(f)), Next::Backoff(Duration::from_secs(30)));
        let rc = cond(&run, RECONCILING).expect("reconciling kept");
        assert_eq!(rc.reason, PROGRESSING_WITH_RETRY);
        assert_eq!(rc.message, "working");
        assert_eq!(
            cond(&run, "FetchFailed").map(|c| c.status),
            Some(ConditionStatus::True)
        );
        assert_eq!(
            run.status()["observedGeneration"],
            2,
            "not on a transient failure"
        );
        assert_eq!(run.notes(), [EventNote::warning("FetchFailed", "boom")]);

        let mut run = Run::detached(&obj(), at());
        let waiting = Failure::waiting("DependencyNotReady", "wait", Duration::from_secs(30));
        assert_eq!(
            run.conclude(Err(waiting)),
            Next::After(Duration::from_secs(30))
        );
        assert!(cond(&run, RECONCILING).is_none(), "no progress was marked");

        let mut run = Run::detached(&obj(), at());
        run.retry_progress("scanning");
        let f = Failure::transient("Failed", "x").retry_after(Duration::from_secs(5));
        assert_eq!(run.conclude(Err(f)), Next::After(Duration::from_secs(5)));
        assert_eq!(
            cond(&run, RECONCILING).map(|c| c.message),
            Some("scanning".into())
        );

        let mut run = Run::detached(&obj(), at());
        run.progressing("working");
        assert_eq!(
            run.conclude(Err(Failure::terminal("InvalidURL", "bad"))),
            Next::Wait
        );
        assert_eq!(
            cond(&run, STALLED).map(|c| c.reason),
            Some("InvalidURL".into())
        );
        assert!(cond(&run, RECONCILING).is_none());
        assert_eq!(run.status()["observedGeneration"], 3);
        assert_eq!(run.status()["lastHandledReconcileAt"], "tok");
    }

    #[test]
    fn events_get_the_revision_of_the_group() {
        let notes = vec![
            EventNote::normal("A", "a"),
            EventNote::normal("B", "b").annotate("g.io/revision", "old"),
        ];
        let out = annotate_revision(notes.clone(), "g.io", Some("main@sha1:1"));
        assert_eq!(
            out[0].annotations,
            [("g.io/revision".to_string(), "main@sha1:1".to_string())]
        );
        assert_eq!(
            out[1].annotations,
            [("g.io/revision".to_string(), "old".to_string())]
        );
        assert_eq!(annotate_revision(notes.clone(), "g.io", Some("")), notes);
    }
}
