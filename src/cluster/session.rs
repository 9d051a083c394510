//! One session per context: client, discovery, one kube-runtime watcher per served kind, and the
//! context's visible state. Sessions run on their own tokio tasks, so a dead or hung context never
//! blocks the others or the UI.

use super::clients::{Clients, api_resource};
use super::discovery::{discover, pick_versions};
use super::error::{ClusterError, Failure};
use super::{ContextState, Update};
use crate::model::kinds::{KindInfo, Scope};
use crate::model::row::{Row, RowKey};
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, TypeMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How sessions behave; the defaults suit the console.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Watch only this namespace (`-n`); `None` = all namespaces (`-A`, the default).
    pub namespace: Option<String>,
    /// How often discovery re-runs, so a CRD installed later is picked up.
    pub rediscover_every: Duration,
    /// A watcher that has not listed within this long is treated as failing and restarted.
    pub init_timeout: Duration,
    /// First retry delay after a failure (discovery, or restarting a failing watcher).
    pub retry_min: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            namespace: None,
            rediscover_every: Duration::from_secs(30),
            init_timeout: Duration::from_secs(60),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
        }
    }
}

/// The running sessions of the selected contexts.
pub struct SessionSet {
    clients: Clients,
    contexts: Vec<String>,
    tasks: Vec<JoinHandle<()>>,
}

impl SessionSet {
    /// Starts one session per context on the current tokio runtime; updates go to `tx`.
    pub fn start(
        clients: &Clients,
        contexts: &[String],
        options: SessionOptions,
        tx: UnboundedSender<Update>,
    ) -> Result<SessionSet, ClusterError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| ClusterError::NoRuntime)?;
        let tasks = contexts
            .iter()
            .map(|context| {
                let session = Session::new(
                    context.clone(),
                    clients.clone(),
                    options.clone(),
                    tx.clone(),
                );
                handle.spawn(session.run())
            })
            .collect();
        Ok(SessionSet {
            clients: clients.clone(),
            contexts: contexts.to_vec(),
            tasks,
        })
    }

    /// The client registry (for fetches and actions).
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// The watched contexts, in start order.
    pub fn contexts(&self) -> &[String] {
        &self.contexts
    }

    /// Stops every session and its watchers, and waits until they are gone.
    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

impl Drop for SessionSet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What a watcher task reports to its session.
enum WatchEvent {
    /// A (re)list finished: every current row.
    Listed(Vec<Row>),
    /// A live add or change.
    Upsert(Box<Row>),
    /// A live delete.
    Remove(RowKey),
    /// An error (the kube-runtime watcher keeps retrying with backoff).
    Failed(Failure),
}

struct WatchMsg {
    kind: &'static str,
    generation: u64,
    event: WatchEvent,
}

/// One running watcher and what the session knows about it.
struct Watch {
    info: &'static KindInfo,
    version: String,
    generation: u64,
    task: JoinHandle<()>,
    /// Listed since the last (re)start.
    current: bool,
    /// The last error, cleared by any successful event.
    failure: Option<Failure>,
    started: Instant,
    restarts: u32,
    restart_due: Option<Instant>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Session {
    context: String,
    clients: Clients,
    opts: SessionOptions,
    tx: UnboundedSender<Update>,
    sent: Option<ContextState>,
    /// The server has answered at least once.
    reached: bool,
    discovered: bool,
    discovery_failure: Option<Failure>,
    discovery_attempts: u32,
    discovery_due: Instant,
    kinds: Vec<(&'static KindInfo, String)>,
    /// `Update::Kinds` was sent at least once.
    kinds_sent: bool,
    watches: BTreeMap<&'static str, Watch>,
    next_generation: u64,
    msg_tx: UnboundedSender<WatchMsg>,
    msg_rx: UnboundedReceiver<WatchMsg>,
    /// The UI dropped its receiver: stop.
    closed: bool,
}

fn backoff(opts: &SessionOptions, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(16));
    opts.retry_min.saturating_mul(factor).min(opts.retry_max)
}

impl Session {
    fn new(
        context: String,
        clients: Clients,
        opts: SessionOptions,
        tx: UnboundedSender<Update>,
    ) -> Session {
        let (msg_tx, msg_rx) = unbounded_channel();
        Session {
            context,
            clients,
            opts,
            tx,
            sent: None,
            reached: false,
            discovered: false,
            discovery_failure: None,
            discovery_attempts: 0,
            discovery_due: Instant::now(),
            kinds: Vec::new(),
            kinds_sent: false,
            watches: BTreeMap::new(),
            next_generation: 0,
            msg_tx,
            msg_rx,
            closed: false,
        }
    }

    fn send(&mut self, update: Update) {
        if self.tx.send(update).is_err() {
            self.closed = true;
        }
    }

    async fn run(mut self) {
        self.publish_state();
        while !self.closed {
            let due = self.next_due();
            tokio::select! {
                msg = self.msg_rx.recv() => match msg {
                    Some(msg) => self.on_watch(msg),
                    None => break, // unreachable: the session holds a sender
                },
                _ = tokio::time::sleep_until(due) => self.on_tick().await,
            }
            self.publish_state();
        }
    }

    fn next_due(&self) -> Instant {
        let mut due = self.discovery_due;
        for w in self.watches.values() {
            if let Some(r) = w.restart_due {
                due = due.min(r);
            }
            if !w.current && w.restart_due.is_none() {
                due = due.min(w.started + self.opts.init_timeout);
            }
        }
        due
    }

    async fn on_tick(&mut self) {
        let now = Instant::now();
        if now >= self.discovery_due {
            self.run_discovery().await;
        }
        let now = Instant::now();
        let mut restart = Vec::new();
        for (kind, w) in self.watches.iter_mut() {
            // A list that never answers (hung server) would leave the watcher silent forever.
            if !w.current && w.restart_due.is_none() && now >= w.started + self.opts.init_timeout {
                if w.failure.is_none() {
                    w.failure = Some(Failure::Transport(format!(
                        "no list answer for {} within {} s",
                        w.info.plural,
                        self.opts.init_timeout.as_secs()
                    )));
                }
                w.restart_due = Some(now);
            }
            if w.restart_due.is_some_and(|r| now >= r) {
                restart.push(*kind);
            }
        }
        for kind in restart {
            self.restart_watch(kind).await;
        }
    }

    async fn run_discovery(&mut self) {
        let result = match self.clients.client(&self.context).await {
            Err(e) => Err(Failure::Transport(e.to_string())),
            Ok(client) => {
                let timeout = self.clients.timeouts().request;
                match tokio::time::timeout(timeout, discover(client)).await {
                    Err(_) => Err(Failure::Transport(format!(
                        "discovery got no answer within {} s",
                        timeout.as_secs()
                    ))),
                    Ok(Err(e)) => Err(Failure::from_kube(&e)),
                    Ok(Ok(served)) => Ok(served),
                }
            }
        };
        match result {
            Ok(served) => {
                self.reached = true;
                self.discovered = true;
                self.discovery_failure = None;
                self.discovery_attempts = 0;
                self.discovery_due = Instant::now() + self.opts.rediscover_every;
                self.set_kinds(pick_versions(&served)).await;
            }
            Err(f) => {
                if !matches!(f, Failure::Transport(_)) {
                    self.reached = true;
                }
                tracing::debug!(context = %self.context, "discovery failed: {}", f.message());
                self.discovery_attempts += 1;
                self.discovery_due = Instant::now() + backoff(&self.opts, self.discovery_attempts);
                self.discovery_failure = Some(f);
            }
        }
    }

    async fn set_kinds(&mut self, kinds: Vec<(&'static KindInfo, String)>) {
        if self.kinds_sent && kinds == self.kinds {
            return;
        }
        self.kinds_sent = true;
        self.clients.set_served(&self.context, &kinds);
        let gone: Vec<&'static str> = self
            .watches
            .values()
            .filter(|w| {
                !kinds
                    .iter()
                    .any(|(k, v)| k.kind == w.info.kind && *v == w.version)
            })
            .map(|w| w.info.kind)
            .collect();
        for kind in gone {
            self.watches.remove(kind);
            if !kinds.iter().any(|(k, _)| k.kind == kind) {
                // The kind is no longer served: its rows go.
                let context = self.context.clone();
                self.send(Update::Resync {
                    context,
                    kind,
                    rows: Vec::new(),
                });
            }
        }
        for (info, version) in &kinds {
            if !self.watches.contains_key(info.kind) {
                self.start_watch(info, version.clone(), 0).await;
            }
        }
        self.kinds = kinds.clone();
        let context = self.context.clone();
        self.send(Update::Kinds { context, kinds });
    }

    async fn start_watch(&mut self, info: &'static KindInfo, version: String, restarts: u32) {
        self.next_generation += 1;
        let generation = self.next_generation;
        let task = match self.clients.client(&self.context).await {
            Ok(client) => {
                let ar = api_resource(info, &version);
                let api: Api<DynamicObject> = match (&self.opts.namespace, info.scope) {
                    (Some(ns), Scope::Namespaced) => Api::namespaced_with(client, ns, &ar),
                    _ => Api::all_with(client, &ar),
                };
                tokio::spawn(run_watcher(
                    api,
                    ar,
                    self.context.clone(),
                    info,
                    generation,
                    self.msg_tx.clone(),
                ))
            }
            Err(e) => {
                let tx = self.msg_tx.clone();
                let kind = info.kind;
                let failure = Failure::Transport(e.to_string());
                tokio::spawn(async move {
                    let _ = tx.send(WatchMsg {
                        kind,
                        generation,
                        event: WatchEvent::Failed(failure),
                    });
                })
            }
        };
        let previous_failure = self.watches.get(info.kind).and_then(|w| w.failure.clone());
        self.watches.insert(
            info.kind,
            Watch {
                info,
                version,
                generation,
                task,
                current: false,
                failure: previous_failure,
                started: Instant::now(),
                restarts,
                restart_due: None,
            },
        );
    }

    /// Replaces a failing watcher with a fresh one, whose list proves recovery (a kube-runtime watcher
    /// that recovers by re-watching from its last resourceVersion emits nothing).
    async fn restart_watch(&mut self, kind: &'static str) {
        let Some(w) = self.watches.get(kind) else {
            return;
        };
        let (info, version, restarts) = (w.info, w.version.clone(), w.restarts + 1);
        self.start_watch(info, version, restarts).await;
    }

    fn on_watch(&mut self, msg: WatchMsg) {
        let context = self.context.clone();
        let Some(w) = self.watches.get_mut(msg.kind) else {
            return;
        };
        if w.generation != msg.generation {
            return;
        }
        let update = match msg.event {
            WatchEvent::Listed(rows) => {
                w.current = true;
                w.failure = None;
                w.restarts = 0;
                w.restart_due = None;
                Update::Resync {
                    context,
                    kind: msg.kind,
                    rows,
                }
            }
            WatchEvent::Upsert(row) => {
                w.failure = None;
                w.restart_due = None;
                Update::Upsert(row)
            }
            WatchEvent::Remove(key) => {
                w.failure = None;
                w.restart_due = None;
                Update::Remove(key)
            }
            WatchEvent::Failed(Failure::Gone(_)) => return, // history expired: a re-list follows
            WatchEvent::Failed(f) => {
                tracing::debug!(context = %context, kind = msg.kind, "watch failed: {}", f.message());
                if matches!(f, Failure::NotFound(_)) {
                    // The CRD may be gone or changed version: rediscover soon.
                    self.discovery_due =
                        self.discovery_due.min(Instant::now() + self.opts.retry_min);
                }
                if w.restart_due.is_none() {
                    w.restart_due = Some(Instant::now() + backoff(&self.opts, w.restarts + 1));
                }
                w.failure = Some(f);
                return;
            }
        };
        self.send(update);
    }

    fn compute_state(&self) -> ContextState {
        let stale = |message: String| match &self.sent {
            Some(ContextState::Stale { since, .. }) => ContextState::Stale {
                since: *since,
                message,
            },
            _ => ContextState::Stale {
                since: crate::model::time::now_unix(),
                message,
            },
        };
        if let Some(f) = &self.discovery_failure {
            return match f {
                Failure::Forbidden(m) => ContextState::Forbidden { message: m.clone() },
                _ if !self.reached => ContextState::Unreachable {
                    message: f.message().to_string(),
                },
                _ => stale(f.message().to_string()),
            };
        }
        if !self.discovered {
            return ContextState::Connecting;
        }
        let forbidden: Vec<String> = self
            .watches
            .values()
            .filter_map(|w| match &w.failure {
                Some(Failure::Forbidden(m)) => Some(format!("{}: {m}", w.info.plural)),
                _ => None,
            })
            .collect();
        if !forbidden.is_empty() {
            return ContextState::Forbidden {
                message: forbidden.join("; "),
            };
        }
        if let Some((w, f)) = self
            .watches
            .values()
            .find_map(|w| w.failure.as_ref().map(|f| (w, f)))
        {
            return stale(format!("{}: {}", w.info.plural, f.message()));
        }
        if self.watches.values().all(|w| w.current) {
            return ContextState::Live;
        }
        match &self.sent {
            // Recovering: stay stale (rows dimmed) until every watcher has re-listed.
            Some(s @ ContextState::Stale { .. }) => s.clone(),
            _ => ContextState::Connecting,
        }
    }

    fn publish_state(&mut self) {
        let state = self.compute_state();
        if self.sent.as_ref() != Some(&state) {
            self.sent = Some(state.clone());
            let context = self.context.clone();
            self.send(Update::Context { context, state });
        }
    }
}

/// Fills in apiVersion/kind when the server left them out of list items, then summarises.
pub(crate) fn to_row(context: &str, ar: &ApiResource, mut obj: DynamicObject) -> Option<Row> {
    if obj.types.is_none() {
        obj.types = Some(TypeMeta {
            api_version: ar.api_version.clone(),
            kind: ar.kind.clone(),
        });
    }
    let value = serde_json::to_value(&obj).ok()?;
    Row::from_object(context, &value)
}

async fn run_watcher(
    api: Api<DynamicObject>,
    ar: ApiResource,
    context: String,
    info: &'static KindInfo,
    generation: u64,
    tx: UnboundedSender<WatchMsg>,
) {
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut buffer: Vec<Row> = Vec::new();
    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(Event::Init) => {
                buffer.clear();
                continue;
            }
            Ok(Event::InitApply(obj)) => {
                buffer.extend(to_row(&context, &ar, obj));
                continue;
            }
            Ok(Event::InitDone) => WatchEvent::Listed(std::mem::take(&mut buffer)),
            Ok(Event::Apply(obj)) => match to_row(&context, &ar, obj) {
                Some(row) => WatchEvent::Upsert(Box::new(row)),
                None => continue,
            },
            Ok(Event::Delete(obj)) => WatchEvent::Remove(RowKey {
                context: context.clone(),
                kind: info.kind,
                namespace: obj.metadata.namespace.unwrap_or_default(),
                name: obj.metadata.name.unwrap_or_default(),
            }),
            Err(e) => WatchEvent::Failed(Failure::from_watcher(&e)),
        };
        let msg = WatchMsg {
            kind: info.kind,
            generation,
            event,
        };
        if tx.send(msg).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let o = SessionOptions::default();
        assert_eq!(backoff(&o, 1), Duration::from_secs(1));
        assert_eq!(backoff(&o, 2), Duration::from_secs(2));
        assert_eq!(backoff(&o, 4), Duration::from_secs(8));
        assert_eq!(backoff(&o, 100), Duration::from_secs(30));
        assert_eq!(backoff(&o, 0), Duration::from_secs(1));
    }
}
