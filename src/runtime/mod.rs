//! The reconciler runtime, shaped like a kube-runtime `Controller`: watch the kinds the registered
//! [`Reconciler`]s own, queue keys, run reconciles with bounded concurrency, requeue at the time each
//! run asks for, and report queue length and in-flight work through a [`RuntimeHandle`].
//!
//! One [`Runtime`] serves one cluster (one `kube::Client`). A single scheduler task owns all queue
//! state (no locks): watcher tasks and finished reconciles send it messages. Triggers follow Flux
//! (flux-semantics §1.1): an object runs when first seen, when `metadata.generation` or the
//! `reconcile.fluxcd.io/requestedAt` annotation changes, when deletion starts, and when the
//! [`Reconciler::signal`] of an object it [depends on](Reconciler::depends_on) changes (a source's
//! artifact revision, a dependency's readiness) — a named object, or any object of a kind in a
//! namespace matching a label selector (Flux's watches with a mapping function, e.g. the
//! ImagePolicies an ImageUpdateAutomation's `policySelector` selects). The same key never runs twice at once; a trigger
//! that arrives while it runs makes it run again right after.

pub mod events;
pub mod reconcile;
pub(crate) mod rest;
pub mod status_io;

pub use events::{EventSink, FluxEvent};
pub use reconcile::{Adapter, Controller, ErrorClass, Failure, Run, Success, UnknownKind};

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::model::kinds::{KindInfo, Scope};
use crate::model::selector::LabelSelector;

/// The finalizer every Flux controller adds (flux-semantics §1.1).
pub const FLUX_FINALIZER: &str = "finalizers.fluxcd.io";
/// The annotation requesting an immediate run.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// Identifies one object of a registered kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The Kind (registry name, e.g. `Kustomization`).
    pub kind: &'static str,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// A key.
    pub fn new(kind: &'static str, namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// The key of an object of `kind` (from its metadata).
    pub fn of(kind: &'static str, obj: &Value) -> ObjectKey {
        let md = obj.get("metadata");
        let field = |f: &str| {
            md.and_then(|m| m.get(f))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        ObjectKey {
            kind,
            namespace: field("namespace"),
            name: field("name"),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Something an object depends on: a change of its [`Reconciler::signal`] runs the dependant.
#[derive(Debug, Clone, PartialEq)]
pub enum Dependency {
    /// One named object.
    Object(ObjectKey),
    /// Every object of `kind` in `namespace` whose labels match `selector` (an empty selector
    /// matches all of them).
    Selector {
        /// The Kind (registry name).
        kind: &'static str,
        /// The namespace searched.
        namespace: String,
        /// The label selector.
        selector: LabelSelector,
    },
}

impl Dependency {
    /// True when the object `key` with `labels` (its `metadata.labels`) is one this names.
    pub fn matches(&self, key: &ObjectKey, labels: Option<&Value>) -> bool {
        match self {
            Dependency::Object(k) => k == key,
            Dependency::Selector {
                kind,
                namespace,
                selector,
            } => *kind == key.kind && *namespace == key.namespace && selector.matches_value(labels),
        }
    }
}

impl From<ObjectKey> for Dependency {
    fn from(key: ObjectKey) -> Dependency {
        Dependency::Object(key)
    }
}

/// When to run an object again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// After this delay (zero = at once).
    After(Duration),
    /// Only when the object (or something it depends on) changes.
    Wait,
    /// After a failure: exponential backoff (1 s doubling per consecutive failure) up to this cap.
    Backoff(Duration),
}

/// What one run reports back: when to run again and a one-line summary (e.g. the Ready condition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// When to run again.
    pub next: Next,
    /// One line for `-v` output and logs.
    pub summary: String,
    /// Flux events of the run, forwarded to [`RuntimeOptions::events`].
    pub events: Vec<FluxEvent>,
}

impl Outcome {
    /// An outcome.
    pub fn new(next: Next, summary: impl Into<String>) -> Outcome {
        Outcome {
            next,
            summary: summary.into(),
            events: Vec::new(),
        }
    }
}

/// One finished run, as sent to [`RuntimeOptions::reports`].
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The cluster (runtime) name.
    pub cluster: String,
    /// The object.
    pub key: ObjectKey,
    /// How long the run took.
    pub took: Duration,
    /// The reconciler's summary, or why the run could not happen.
    pub summary: String,
}

/// The per-kind logic the runtime drives.
pub trait Reconciler: Send + Sync + 'static {
    /// The kind this reconciler owns.
    fn kind(&self) -> &'static KindInfo;
    /// The API version it reads and writes (e.g. `v1`).
    fn version(&self) -> &'static str {
        self.kind().preferred_version()
    }
    /// One run over the freshly read object; the reconciler writes status itself.
    fn reconcile(&self, obj: Value) -> BoxFuture<'static, Outcome>;
    /// Cleanup when the object is being deleted; the runtime removes the finalizer afterwards.
    fn finalize(&self, obj: Value) -> BoxFuture<'static, ()>;
    /// Objects this one reads (named or by selector); a change of their [`Reconciler::signal`]
    /// runs this one.
    fn depends_on(&self, _obj: &Value) -> Vec<Dependency> {
        Vec::new()
    }
    /// What dependants care about (e.g. the artifact revision); `None` = nothing.
    fn signal(&self, _obj: &Value) -> Option<String> {
        None
    }
    /// A value whose change (besides the generation, `requestedAt` and deletion) runs the object,
    /// e.g. Argo CD's refresh annotation; `None` = nothing else.
    fn wake_token(&self, _obj: &Value) -> Option<String> {
        None
    }

    /// True for kinds only watched for their [`Reconciler::signal`] and never run (objects another
    /// reconciler writes, e.g. ExternalArtifact): no runs, no finalizer, no status writes.
    fn watch_only(&self) -> bool {
        false
    }

    /// The finalizer the runtime adds before the first run and removes after
    /// [`Reconciler::finalize`]; `None` for kinds whose controller adds none (Argo CD's
    /// Application: only the user's `resources-finalizer` asks for a cascade), which are then
    /// finalized on every run while they are being deleted.
    fn finalizer(&self) -> Option<&'static str> {
        Some(FLUX_FINALIZER)
    }
}

/// Options of one runtime.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Reconciles running at once.
    pub concurrency: usize,
    /// Only watch this namespace (`None` = all).
    pub namespace: Option<String>,
    /// Only objects matching this label selector.
    pub label_selector: Option<String>,
    /// How long shutdown waits for in-flight runs before aborting them.
    pub shutdown_grace: Duration,
    /// The name reported in [`RunReport`]s.
    pub cluster: String,
    /// Where finished runs are reported (for `-v` output), if anywhere.
    pub reports: Option<mpsc::UnboundedSender<RunReport>>,
    /// Where the runs' Flux events go in notification-controller's shape (for forwarding), if anywhere.
    pub events: Option<EventSink>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            concurrency: 4,
            namespace: None,
            label_selector: None,
            shutdown_grace: Duration::from_secs(30),
            cluster: String::new(),
            reports: None,
            events: None,
        }
    }
}

/// Counters shared with the handle.
#[derive(Debug, Default)]
struct Stats {
    queued: AtomicUsize,
    in_flight: AtomicUsize,
    runs: AtomicUsize,
}

/// Cheap, cloneable view of a runtime's counters.
#[derive(Clone, Debug)]
pub struct RuntimeStats(Arc<Stats>);

impl RuntimeStats {
    /// Keys due to run but waiting for a worker.
    pub fn queue_len(&self) -> usize {
        self.0.queued.load(Ordering::Relaxed)
    }

    /// Reconciles running now.
    pub fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::Relaxed)
    }

    /// Reconciles finished since start.
    pub fn runs(&self) -> usize {
        self.0.runs.load(Ordering::Relaxed)
    }
}

/// Reports on a running runtime and stops it.
pub struct RuntimeHandle {
    stats: Arc<Stats>,
    commands: mpsc::UnboundedSender<Msg>,
    scheduler: tokio::task::JoinHandle<()>,
    watchers: Vec<tokio::task::JoinHandle<()>>,
}

impl RuntimeHandle {
    /// The counters (queue length, in flight, runs).
    pub fn stats(&self) -> RuntimeStats {
        RuntimeStats(Arc::clone(&self.stats))
    }

    /// Runs `key` now (as a requestedAt change would).
    pub fn trigger(&self, key: ObjectKey) {
        let _ = self.commands.send(Msg::Trigger(key));
    }

    /// Stops watching, lets in-flight runs finish (up to the grace period), then returns.
    pub async fn shutdown(self) {
        for w in &self.watchers {
            w.abort();
        }
        let _ = self.commands.send(Msg::Shutdown);
        let _ = self.scheduler.await;
    }
}

/// A runtime for one cluster under construction.
pub struct Runtime {
    client: kube::Client,
    options: RuntimeOptions,
    reconcilers: Vec<Arc<dyn Reconciler>>,
}

enum Msg {
    Observed(usize, Value),
    Deleted(usize, Value),
    Resynced(usize, BTreeSet<ObjectKey>),
    Trigger(ObjectKey),
    Done(ObjectKey, Result<Next, String>),
    Shutdown,
}

/// What the scheduler remembers about a watched object.
struct Seen {
    generation: i64,
    requested_at: Option<String>,
    deleting: bool,
    wake: Option<String>,
    signal: Option<String>,
    depends_on: Vec<Dependency>,
    /// `metadata.labels`, for dependants that select by label.
    labels: Option<Value>,
}

impl Seen {
    fn of(r: &dyn Reconciler, obj: &Value) -> Seen {
        let md = obj.get("metadata");
        Seen {
            generation: md
                .and_then(|m| m.get("generation"))
                .and_then(Value::as_i64)
                .unwrap_or(0),
            requested_at: md
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(REQUESTED_AT))
                .and_then(Value::as_str)
                .map(str::to_string),
            deleting: md.and_then(|m| m.get("deletionTimestamp")).is_some(),
            wake: r.wake_token(obj),
            signal: r.signal(obj),
            depends_on: r.depends_on(obj),
            labels: md.and_then(|m| m.get("labels")).cloned(),
        }
    }
}

impl Runtime {
    /// A runtime over `client`.
    pub fn new(client: kube::Client, options: RuntimeOptions) -> Runtime {
        Runtime {
            client,
            options,
            reconcilers: Vec::new(),
        }
    }

    /// Registers a reconciler (one per kind).
    pub fn register(mut self, r: Arc<dyn Reconciler>) -> Runtime {
        self.reconcilers.push(r);
        self
    }

    /// Starts the watchers and the scheduler.
    pub fn start(self) -> RuntimeHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(Stats::default());
        let mut watchers = Vec::new();
        for (i, r) in self.reconcilers.iter().enumerate() {
            let api = dynamic_api(
                &self.client,
                r.kind(),
                r.version(),
                self.options.namespace.as_deref(),
            );
            let mut cfg = watcher::Config::default();
            if let Some(sel) = &self.options.label_selector {
                cfg = cfg.labels(sel);
            }
            watchers.push(tokio::spawn(watch_kind(
                i,
                r.kind().kind,
                api,
                cfg,
                tx.clone(),
            )));
        }
        let scheduler = Scheduler {
            client: self.client,
            reconcilers: self.reconcilers,
            options: self.options,
            stats: Arc::clone(&stats),
            done_tx: tx.clone(),
            seen: HashMap::new(),
            due: BTreeMap::new(),
            at: HashMap::new(),
            running: BTreeSet::new(),
            rerun: BTreeSet::new(),
            failures: HashMap::new(),
            tasks: JoinSet::new(),
        };
        let handle = tokio::spawn(scheduler.run(rx));
        RuntimeHandle {
            stats,
            commands: tx,
            scheduler: handle,
            watchers,
        }
    }
}

/// The dynamic Api of a registered kind.
pub fn dynamic_api(
    client: &kube::Client,
    kind: &KindInfo,
    version: &str,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk(kind.group, version, kind.kind),
        kind.plural,
    );
    match (kind.scope, namespace) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
        _ => Api::all_with(client.clone(), &ar),
    }
}

/// The Api for one object of a registered kind.
fn object_api(
    client: &kube::Client,
    kind: &KindInfo,
    version: &str,
    ns: &str,
) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk(kind.group, version, kind.kind),
        kind.plural,
    );
    match kind.scope {
        Scope::Namespaced => Api::namespaced_with(client.clone(), ns, &ar),
        Scope::Cluster => Api::all_with(client.clone(), &ar),
    }
}

async fn watch_kind(
    index: usize,
    kind: &'static str,
    api: Api<DynamicObject>,
    cfg: watcher::Config,
    tx: mpsc::UnboundedSender<Msg>,
) {
    use kube::runtime::WatchStreamExt;
    let mut stream = watcher(api, cfg).default_backoff().boxed();
    let mut init: Option<BTreeSet<ObjectKey>> = None;
    loop {
        let event = match stream.try_next().await {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(kind, error = %e, "watch failed; retrying with backoff");
                continue;
            }
        };
        let msg = match event {
            watcher::Event::Init => {
                init = Some(BTreeSet::new());
                continue;
            }
            watcher::Event::InitApply(o) => {
                let v = to_value(o);
                if let Some(set) = init.as_mut() {
                    set.insert(ObjectKey::of(kind, &v));
                }
                Msg::Observed(index, v)
            }
            watcher::Event::InitDone => match init.take() {
                Some(set) => Msg::Resynced(index, set),
                None => continue,
            },
            watcher::Event::Apply(o) => Msg::Observed(index, to_value(o)),
            watcher::Event::Delete(o) => Msg::Deleted(index, to_value(o)),
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
}

fn to_value(o: DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

struct Scheduler {
    client: kube::Client,
    reconcilers: Vec<Arc<dyn Reconciler>>,
    options: RuntimeOptions,
    stats: Arc<Stats>,
    done_tx: mpsc::UnboundedSender<Msg>,
    seen: HashMap<ObjectKey, Seen>,
    /// Scheduled runs ordered by time (time, sequence for ties) → key.
    due: BTreeMap<(Instant, u64), ObjectKey>,
    /// The scheduled time of each key in `due`.
    at: HashMap<ObjectKey, (Instant, u64)>,
    running: BTreeSet<ObjectKey>,
    rerun: BTreeSet<ObjectKey>,
    failures: HashMap<ObjectKey, u32>,
    tasks: JoinSet<()>,
}

static SEQUENCE: AtomicUsize = AtomicUsize::new(0);

impl Scheduler {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        loop {
            self.dispatch();
            let next_due = self.due.keys().next().map(|(t, _)| *t);
            let sleep = async {
                match next_due {
                    Some(t) if self.running.len() < self.options.concurrency.max(1) => {
                        tokio::time::sleep_until(t).await
                    }
                    _ => futures::future::pending().await,
                }
            };
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Shutdown) | None => break,
                    Some(m) => self.handle(m),
                },
                _ = sleep => {}
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
            }
        }
        self.drain(rx).await;
    }

    /// Lets in-flight runs finish within the grace period, then aborts the rest.
    async fn drain(&mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let deadline = Instant::now() + self.options.shutdown_grace;
        while !self.tasks.is_empty() {
            tokio::select! {
                _ = self.tasks.join_next() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(in_flight = self.tasks.len(), "shutdown grace period over; aborting in-flight reconciles");
                    self.tasks.abort_all();
                    break;
                }
                _ = rx.recv() => {}
            }
        }
        self.stats.in_flight.store(0, Ordering::Relaxed);
    }

    fn reconciler_for(&self, kind: &str) -> Option<&Arc<dyn Reconciler>> {
        self.reconcilers.iter().find(|r| r.kind().kind == kind)
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Observed(i, obj) => self.observed(i, obj),
            Msg::Deleted(i, obj) => {
                let key = ObjectKey::of(self.reconcilers[i].kind().kind, &obj);
                self.forget(&key);
            }
            Msg::Resynced(i, present) => {
                let kind = self.reconcilers[i].kind().kind;
                let gone: Vec<ObjectKey> = self
                    .seen
                    .keys()
                    .filter(|k| k.kind == kind && !present.contains(*k))
                    .cloned()
                    .collect();
                for k in gone {
                    self.forget(&k);
                }
            }
            Msg::Trigger(key) => self.schedule(key, Duration::ZERO),
            Msg::Done(key, result) => self.done(key, result),
            Msg::Shutdown => {}
        }
    }

    fn observed(&mut self, i: usize, obj: Value) {
        let r = Arc::clone(&self.reconcilers[i]);
        let key = ObjectKey::of(r.kind().kind, &obj);
        let now = Seen::of(r.as_ref(), &obj);
        let (run, signal_changed) = match self.seen.get(&key) {
            None => (true, now.signal.is_some()),
            Some(old) => (
                old.generation != now.generation
                    || old.requested_at != now.requested_at
                    || (now.wake.is_some() && old.wake != now.wake)
                    || (now.deleting && !old.deleting),
                old.signal != now.signal,
            ),
        };
        let labels = now.labels.clone();
        self.seen.insert(key.clone(), now);
        if run && !r.watch_only() {
            self.failures.remove(&key);
            self.schedule(key.clone(), Duration::ZERO);
        }
        if signal_changed {
            let dependants: Vec<ObjectKey> = self
                .seen
                .iter()
                .filter(|(k, s)| {
                    **k != key
                        && s.depends_on
                            .iter()
                            .any(|d| d.matches(&key, labels.as_ref()))
                })
                .map(|(k, _)| k.clone())
                .collect();
            for d in dependants {
                self.schedule(d, Duration::ZERO);
            }
        }
    }

    fn forget(&mut self, key: &ObjectKey) {
        self.seen.remove(key);
        self.failures.remove(key);
        self.unschedule(key);
    }

    fn unschedule(&mut self, key: &ObjectKey) {
        if let Some(slot) = self.at.remove(key) {
            self.due.remove(&slot);
        }
        self.stats
            .queued
            .store(self.queued_now(), Ordering::Relaxed);
    }

    /// Schedules `key` after `delay`; an earlier existing schedule wins.
    fn schedule(&mut self, key: ObjectKey, delay: Duration) {
        if self.running.contains(&key) {
            if delay.is_zero() {
                self.rerun.insert(key);
            } else {
                // The run in progress decides its own next time.
            }
            return;
        }
        let when = Instant::now() + delay;
        if let Some(&(t, _)) = self.at.get(&key)
            && t <= when
        {
            return;
        }
        self.unschedule(&key);
        let slot = (when, SEQUENCE.fetch_add(1, Ordering::Relaxed) as u64);
        self.due.insert(slot, key.clone());
        self.at.insert(key, slot);
        self.stats
            .queued
            .store(self.queued_now(), Ordering::Relaxed);
    }

    fn queued_now(&self) -> usize {
        let now = Instant::now();
        self.due.keys().take_while(|(t, _)| *t <= now).count()
    }

    fn dispatch(&mut self) {
        let now = Instant::now();
        while self.running.len() < self.options.concurrency.max(1) {
            let Some((&slot, _)) = self.due.iter().next() else {
                break;
            };
            if slot.0 > now {
                break;
            }
            let Some(key) = self.due.remove(&slot) else {
                break;
            };
            self.at.remove(&key);
            let Some(r) = self.reconciler_for(key.kind).cloned() else {
                continue;
            };
            self.running.insert(key.clone());
            self.stats
                .in_flight
                .store(self.running.len(), Ordering::Relaxed);
            let client = self.client.clone();
            let tx = self.done_tx.clone();
            let reports = self.options.reports.clone();
            let sink = self.options.events.clone();
            let cluster = self.options.cluster.clone();
            self.tasks.spawn(async move {
                let started = Instant::now();
                let mut result = run_one(&client, r.as_ref(), &key).await;
                if let (Ok(o), Some(sink)) = (result.as_mut(), &sink) {
                    for e in o.events.drain(..) {
                        let _ = sink.send(e);
                    }
                }
                let summary = match &result {
                    Ok(o) => o.summary.clone(),
                    Err(e) => e.clone(),
                };
                tracing::info!(cluster = %cluster, object = %key, took = ?started.elapsed(), "{summary}");
                if let Some(rep) = reports {
                    let _ = rep.send(RunReport {
                        cluster,
                        key: key.clone(),
                        took: started.elapsed(),
                        summary,
                    });
                }
                let _ = tx.send(Msg::Done(key, result.map(|o| o.next)));
            });
        }
        self.stats
            .queued
            .store(self.queued_now(), Ordering::Relaxed);
    }

    fn done(&mut self, key: ObjectKey, result: Result<Next, String>) {
        self.running.remove(&key);
        self.stats
            .in_flight
            .store(self.running.len(), Ordering::Relaxed);
        self.stats.runs.fetch_add(1, Ordering::Relaxed);
        if !self.seen.contains_key(&key) {
            // Deleted meanwhile (or never watched: a manual trigger); nothing to requeue.
            self.rerun.remove(&key);
            return;
        }
        if self.rerun.remove(&key) {
            self.schedule(key, Duration::ZERO);
            return;
        }
        match result {
            Ok(Next::Backoff(cap)) => {
                let n = self.failures.entry(key.clone()).or_insert(0);
                *n += 1;
                let delay = retry_delay(*n).min(cap.max(Duration::from_secs(1)));
                self.schedule(key, delay);
            }
            Ok(next) => {
                self.failures.remove(&key);
                if let Next::After(d) = next {
                    self.schedule(key, d);
                }
            }
            Err(e) => {
                let n = self.failures.entry(key.clone()).or_insert(0);
                *n += 1;
                let delay = backoff(*n);
                tracing::warn!(object = %key, error = %e, retry_in = ?delay, "reconcile could not run");
                self.schedule(key, delay);
            }
        }
    }
}

/// Exponential backoff for runs that failed before the reconciler could decide: 1 s doubling to 5 min.
fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(9);
    Duration::from_secs(secs.min(300))
}

/// The backoff of a reconciler's transient failures: 1 s doubling per consecutive failure, at most
/// [`reconcile::MAX_BACKOFF`] (before the cap the run asks for).
pub fn retry_delay(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(10))
}

/// Reads the object fresh, handles the finalizer and deletion, and runs the reconciler.
async fn run_one(
    client: &kube::Client,
    r: &dyn Reconciler,
    key: &ObjectKey,
) -> Result<Outcome, String> {
    let api = object_api(client, r.kind(), r.version(), &key.namespace);
    let obj = match api.get_opt(&key.name).await {
        Ok(Some(o)) => to_value(o),
        Ok(None) => return Ok(Outcome::new(Next::Wait, "gone")),
        Err(e) => return Err(format!("cannot read {key}: {e}")),
    };
    let finalizers: Vec<String> = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let Some(own) = r.finalizer() else {
        // No finalizer of ours: a deleted object is finalized (idempotently) each time it runs.
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            r.finalize(obj).await;
            return Ok(Outcome::new(Next::Wait, "finalized"));
        }
        return Ok(r.reconcile(obj).await);
    };
    let has_finalizer = finalizers.iter().any(|f| f == own);
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        if has_finalizer {
            r.finalize(obj.clone()).await;
            let rest: Vec<&String> = finalizers.iter().filter(|f| *f != own).collect();
            set_finalizers(&api, &key.name, &obj, json!(rest)).await?;
            return Ok(Outcome::new(Next::Wait, "finalized"));
        }
        return Ok(Outcome::new(Next::Wait, "being deleted"));
    }
    let obj = if has_finalizer {
        obj
    } else {
        let mut all = finalizers.clone();
        all.push(own.to_string());
        set_finalizers(&api, &key.name, &obj, json!(all)).await?
    };
    Ok(r.reconcile(obj).await)
}

/// Replaces `metadata.finalizers`, guarded by the resourceVersion read (409 → retried by the caller).
async fn set_finalizers(
    api: &Api<DynamicObject>,
    name: &str,
    obj: &Value,
    finalizers: Value,
) -> Result<Value, String> {
    let rv = obj
        .pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(Value::Null);
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": rv}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(to_value)
        .map_err(|e| format!("cannot update the finalizers of {name}: {e}"))
}

/// The JSON merge patch (RFC 7386) turning `old` into `new`: changed and added keys, `null` for
/// removed ones, recursing into objects; `None` when nothing differs.
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = Map::new();
            for (k, v) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(d) = merge_diff(ov, v) {
                            out.insert(k.clone(), d);
                        }
                    }
                    None => {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        _ if old == new => None,
        // A null value cannot be written through a merge patch; the field is removed instead.
        _ => Some(new.clone()),
    }
}

/// Writes `new_status` over the object's current `status` through the `/status` subresource with a
/// merge patch of the difference; no request when nothing changed. Returns the object written.
pub async fn write_status(
    client: &kube::Client,
    kind: &KindInfo,
    version: &str,
    obj: &Value,
    new_status: &Value,
) -> Result<Option<Value>, kube::Error> {
    let old = obj.get("status").cloned().unwrap_or(json!({}));
    let Some(diff) = merge_diff(&old, new_status) else {
        return Ok(None);
    };
    let key = ObjectKey::of(kind.kind, obj);
    let api = object_api(client, kind, version, &key.namespace);
    let patch = json!({ "status": diff });
    api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|o| Some(to_value(o)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_diff_is_minimal_and_removes_with_null() {
        let old = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2], "gone": true});
        let new = json!({"a": 1, "b": {"c": 5, "d": 3}, "e": [1, 2, 3], "added": "x"});
        assert_eq!(
            merge_diff(&old, &new),
            Some(json!({"b": {"c": 5}, "e": [1, 2, 3], "added": "x", "gone": null}))
        );
        assert_eq!(merge_diff(&old, &old), None);
    }

    #[test]
    fn merge_diff_applied_gives_the_new_value() {
        let old = json!({"conditions": [{"type": "Ready"}], "inventory": {"entries": [{"id": "a"}]}, "x": {"y": 1}});
        let new = json!({"conditions": [{"type": "Ready", "status": "True"}], "x": {"z": 2}});
        let patch = merge_diff(&old, &new).unwrap_or(Value::Null);
        let mut applied = old.clone();
        crate::patch::merge_patch(&mut applied, &patch);
        assert_eq!(applied, new);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(30), Duration::from_secs(300));
        assert_eq!(retry_delay(1), Duration::from_secs(1));
        assert_eq!(retry_delay(4), Duration::from_secs(8));
        assert_eq!(retry_delay(40), reconcile::MAX_BACKOFF);
    }

    #[test]
    fn dependencies_match_named_objects_and_selected_ones() {
        let policy = ObjectKey::new("ImagePolicy", "apps", "web");
        let labels = json!({"team": "a"});
        assert!(Dependency::from(policy.clone()).matches(&policy, None));
        assert!(
            !Dependency::Object(ObjectKey::new("ImagePolicy", "apps", "db")).matches(&policy, None)
        );
        let select = |sel: &str, ns: &str| Dependency::Selector {
            kind: "ImagePolicy",
            namespace: ns.to_string(),
            selector: LabelSelector::parse(sel).expect("selector"),
        };
        assert!(select("", "apps").matches(&policy, None));
        assert!(select("team=a", "apps").matches(&policy, Some(&labels)));
        assert!(!select("team=b", "apps").matches(&policy, Some(&labels)));
        assert!(!select("team=a", "apps").matches(&policy, None));
        assert!(!select("", "other").matches(&policy, Some(&labels)));
        let repo = ObjectKey::new("ImageRepository", "apps", "web");
        assert!(!select("", "apps").matches(&repo, None));
    }

    #[test]
    fn keys_display_like_flux() {
        let k = ObjectKey::new("Kustomization", "flux-system", "apps");
        assert_eq!(k.to_string(), "Kustomization/flux-system/apps");
        let v = json!({"metadata": {"name": "n", "namespace": "ns"}});
        assert_eq!(
            ObjectKey::of("GitRepository", &v),
            ObjectKey::new("GitRepository", "ns", "n")
        );
    }
}
