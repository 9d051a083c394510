//! The event dispatcher: every event (the bundled reconciler's, every cluster, and the intake's)
//! goes through one bounded channel; identical events within 5 minutes are dropped (keyed as
//! notification-controller keys them: object, message, revision, token); each matching Alert's
//! Provider gets the event through its own bounded queue and worker, so a slow or failing
//! provider delays nothing but itself. What was sent where is kept in a feed.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::{Map, Value};
use sha2::Digest;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::alert::AlertSpec;
use super::mask_url;
use super::providers::{Provider, Sent};
use crate::runtime::{EventSink, FluxEvent};

/// notification-controller's window for identical events.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Deliveries kept in the feed.
const FEED_CAPACITY: usize = 500;
/// notification-controller's API group.
pub const GROUP: &str = "notification.toolkit.fluxcd.io";

/// Tuning of the dispatcher.
#[derive(Debug, Clone)]
pub struct DispatcherOptions {
    /// Events waiting for matching (the one bounded channel).
    pub queue: usize,
    /// Events waiting per provider; more are dropped (and reported in the feed).
    pub provider_queue: usize,
    /// How long Alert lists, Providers and involved objects are reused before re-reading.
    pub cache_ttl: Duration,
    /// Identical events within this window are sent once.
    pub dedup_window: Duration,
    /// Only Alerts of this namespace (`None`: all).
    pub namespace: Option<String>,
}

impl Default for DispatcherOptions {
    fn default() -> Self {
        DispatcherOptions {
            queue: 4096,
            provider_queue: 1024,
            cache_ttl: Duration::from_secs(2),
            dedup_window: DEDUP_WINDOW,
            namespace: None,
        }
    }
}

/// One event handled by one provider (the notifications feed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// RFC 3339 time of the attempt.
    pub at: String,
    /// The cluster of the Alert.
    pub cluster: String,
    /// `namespace/name` of the Alert.
    pub alert: String,
    /// `namespace/name` of the Provider.
    pub provider: String,
    /// The masked address (empty when the Provider could not be read).
    pub address: String,
    /// `Kind/namespace/name` of the involved object.
    pub object: String,
    /// The event severity.
    pub severity: String,
    /// The event reason.
    pub reason: String,
    /// The provider's answer (`HTTP 200`, `skipped: …`) or the error.
    pub outcome: Result<String, String>,
    /// Time from intake to the answer.
    pub latency: Duration,
}

/// Counters of a running dispatcher.
#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    duplicates: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DispatcherStats {
    /// Events taken in.
    pub received: u64,
    /// Identical events dropped within the window.
    pub duplicates: u64,
    /// Provider answers 2xx.
    pub delivered: u64,
    /// Provider errors (unreadable provider, HTTP error, timeout).
    pub failed: u64,
    /// Events dropped because a queue was full.
    pub dropped: u64,
}

struct Envelope {
    cluster: String,
    event: FluxEvent,
    at: Instant,
}

struct Job {
    alert: String,
    event: FluxEvent,
    at: Instant,
}

type Cached<T> = (Instant, T);

struct Inner {
    clusters: HashMap<String, kube::Client>,
    first_cluster: String,
    opts: DispatcherOptions,
    counters: Counters,
    feed: Mutex<VecDeque<Delivery>>,
    feed_tx: broadcast::Sender<Delivery>,
    workers: Mutex<HashMap<String, mpsc::Sender<Job>>>,
    alerts: Mutex<HashMap<String, Cached<Arc<Vec<AlertSpec>>>>>,
    objects: Mutex<HashMap<String, Cached<Option<Value>>>>,
    seen: Mutex<HashMap<[u8; 32], Instant>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The running dispatcher; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    tx: mpsc::Sender<Envelope>,
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means a panic elsewhere mid-update; the maps stay usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn api_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1beta3", kind), plural)
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// notification-controller's duplicate key: object, message, and the revision/token metadata.
fn dedup_key(cluster: &str, e: &FluxEvent) -> [u8; 32] {
    let o = &e.involved_object;
    let mut h = sha2::Sha256::new();
    for part in [
        cluster,
        text(o, "name"),
        text(o, "namespace"),
        text(o, "kind"),
        e.message.as_str(),
        e.metadata
            .get("revision")
            .and_then(Value::as_str)
            .unwrap_or(""),
        e.metadata
            .get("token")
            .and_then(Value::as_str)
            .unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize().into()
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl Dispatcher {
    /// Starts the dispatcher over `clusters` (name, client); the first is where intake events go
    /// when no cluster is named.
    pub fn start(clusters: Vec<(String, kube::Client)>, opts: DispatcherOptions) -> Dispatcher {
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let (feed_tx, _) = broadcast::channel(256);
        let inner = Arc::new(Inner {
            first_cluster: clusters.first().map(|(n, _)| n.clone()).unwrap_or_default(),
            clusters: clusters.into_iter().collect(),
            opts,
            counters: Counters::default(),
            feed: Mutex::new(VecDeque::new()),
            feed_tx,
            workers: Mutex::new(HashMap::new()),
            alerts: Mutex::new(HashMap::new()),
            objects: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
        });
        let task = tokio::spawn(Inner::run(Arc::clone(&inner), rx));
        lock(&inner.tasks).push(task);
        Dispatcher { tx, inner }
    }

    /// The cluster names.
    pub fn clusters(&self) -> Vec<String> {
        self.inner.clusters.keys().cloned().collect()
    }

    /// The cluster intake events go to when none is named.
    pub fn default_cluster(&self) -> &str {
        &self.inner.first_cluster
    }

    /// A sink for one cluster's runtime: its events are forwarded into the bounded channel
    /// (waiting there when it is full, never in the reconciler), then `also` gets them too.
    pub fn sink_for(&self, cluster: &str, also: Option<EventSink>) -> EventSink {
        let (tx, mut rx) = mpsc::unbounded_channel::<FluxEvent>();
        let this = self.clone();
        let cluster = cluster.to_string();
        let task = tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                if let Some(a) = &also {
                    let _ = a.send(e.clone());
                }
                if !this.submit(&cluster, e).await {
                    break;
                }
            }
        });
        lock(&self.inner.tasks).push(task);
        tx
    }

    /// Hands an event of `cluster` to the dispatcher (waits while the channel is full); false
    /// when the dispatcher has stopped or the cluster is unknown.
    pub async fn submit(&self, cluster: &str, event: FluxEvent) -> bool {
        if !self.inner.clusters.contains_key(cluster) {
            return false;
        }
        self.tx
            .send(Envelope {
                cluster: cluster.to_string(),
                event,
                at: Instant::now(),
            })
            .await
            .is_ok()
    }

    /// The newest deliveries, oldest first.
    pub fn feed(&self) -> Vec<Delivery> {
        lock(&self.inner.feed).iter().cloned().collect()
    }

    /// Every delivery from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Delivery> {
        self.inner.feed_tx.subscribe()
    }

    /// The counters.
    pub fn stats(&self) -> DispatcherStats {
        let c = &self.inner.counters;
        DispatcherStats {
            received: c.received.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }

    /// Stops the matching loop, the forwarders and every provider worker.
    pub fn shutdown(&self) {
        for t in lock(&self.inner.tasks).drain(..) {
            t.abort();
        }
        lock(&self.inner.workers).clear();
    }
}

impl Inner {
    async fn run(self: Arc<Self>, mut rx: mpsc::Receiver<Envelope>) {
        while let Some(env) = rx.recv().await {
            self.handle(env).await;
        }
    }

    fn duplicate(&self, cluster: &str, e: &FluxEvent) -> bool {
        let key = dedup_key(cluster, e);
        let window = self.opts.dedup_window;
        let mut seen = lock(&self.seen);
        let now = Instant::now();
        if seen.len() > 16_384 {
            seen.retain(|_, t| now.duration_since(*t) < window);
        }
        match seen.get(&key) {
            Some(t) if now.duration_since(*t) < window => true,
            _ => {
                seen.insert(key, now);
                false
            }
        }
    }

    async fn alerts(&self, cluster: &str) -> Arc<Vec<AlertSpec>> {
        if let Some((t, a)) = lock(&self.alerts).get(cluster)
            && t.elapsed() < self.opts.cache_ttl
        {
            return Arc::clone(a);
        }
        let Some(client) = self.clusters.get(cluster) else {
            return Arc::new(Vec::new());
        };
        let ar = api_resource("Alert", "alerts");
        let api: Api<DynamicObject> = match &self.opts.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        let list = match api.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => {
                tracing::warn!(%cluster, error = %e, "cannot list Alerts");
                Vec::new()
            }
        };
        let mut out = Vec::new();
        for o in list {
            let v = serde_json::to_value(&o).unwrap_or(Value::Null);
            match AlertSpec::parse(&v) {
                Ok(a) => out.push(a),
                Err(e) => tracing::warn!(%cluster, error = %e, "Alert ignored"),
            }
        }
        let out = Arc::new(out);
        lock(&self.alerts).insert(cluster.to_string(), (Instant::now(), Arc::clone(&out)));
        out
    }

    /// The involved object (cached), for labels and annotations.
    async fn object(&self, cluster: &str, e: &FluxEvent) -> Option<Value> {
        let o = &e.involved_object;
        let (api_version, kind, ns, name) = (
            text(o, "apiVersion"),
            text(o, "kind"),
            text(o, "namespace"),
            text(o, "name"),
        );
        let key = format!("{cluster}/{api_version}/{kind}/{ns}/{name}");
        if let Some((t, v)) = lock(&self.objects).get(&key)
            && t.elapsed() < self.opts.cache_ttl
        {
            return v.clone();
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let info = crate::model::kinds::by_group_kind(group, kind)?;
        let client = self.clusters.get(cluster)?;
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, kind),
            info.plural,
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        let got = api
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|d| serde_json::to_value(d).ok());
        let mut objects = lock(&self.objects);
        if objects.len() > 4096 {
            objects.clear();
        }
        objects.insert(key, (Instant::now(), got.clone()));
        got
    }

    async fn handle(self: &Arc<Self>, env: Envelope) {
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        let Envelope { cluster, event, at } = env;
        if self.duplicate(&cluster, &event) {
            self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let alerts = self.alerts(&cluster).await;
        let mut object: Option<Option<Value>> = None;
        for alert in alerts.iter() {
            if alert.suspend {
                continue;
            }
            let mut labels = None;
            if alert.needs_labels(&event) {
                if object.is_none() {
                    object = Some(self.object(&cluster, &event).await);
                }
                labels = object
                    .as_ref()
                    .and_then(|o| o.as_ref())
                    .and_then(|o| o.pointer("/metadata/labels"))
                    .and_then(Value::as_object)
                    .cloned();
            }
            if !alert.matches(&event, labels.as_ref()) {
                continue;
            }
            if object.is_none() {
                object = Some(self.object(&cluster, &event).await);
            }
            let annotations: Option<Map<String, Value>> = object
                .as_ref()
                .and_then(|o| o.as_ref())
                .and_then(|o| o.pointer("/metadata/annotations"))
                .and_then(Value::as_object)
                .cloned();
            let enriched = alert.enrich(&event, annotations.as_ref());
            self.enqueue(
                &cluster,
                &alert.namespace,
                &alert.provider,
                Job {
                    alert: format!("{}/{}", alert.namespace, alert.name),
                    event: enriched,
                    at,
                },
            );
        }
    }

    fn enqueue(self: &Arc<Self>, cluster: &str, ns: &str, provider: &str, job: Job) {
        let key = format!("{cluster}/{ns}/{provider}");
        let mut workers = lock(&self.workers);
        let tx = workers.entry(key).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(self.opts.provider_queue.max(1));
            let task = tokio::spawn(Arc::clone(self).worker(
                cluster.to_string(),
                ns.to_string(),
                provider.to_string(),
                rx,
            ));
            lock(&self.tasks).push(task);
            tx
        });
        if let Err(e) = tx.try_send(job) {
            let job = match e {
                mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
            };
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%cluster, provider = %format!("{ns}/{provider}"), "provider queue full: event dropped");
            self.record(
                cluster,
                &job,
                &format!("{ns}/{provider}"),
                "",
                Err("provider queue full: event dropped".into()),
            );
        }
    }

    fn record(
        &self,
        cluster: &str,
        job: &Job,
        provider: &str,
        address: &str,
        outcome: Result<String, String>,
    ) {
        let o = &job.event.involved_object;
        let d = Delivery {
            at: now_rfc3339(),
            cluster: cluster.to_string(),
            alert: job.alert.clone(),
            provider: provider.to_string(),
            address: address.to_string(),
            object: format!(
                "{}/{}/{}",
                text(o, "kind"),
                text(o, "namespace"),
                text(o, "name")
            ),
            severity: job.event.severity.clone(),
            reason: job.event.reason.clone(),
            outcome,
            latency: job.at.elapsed(),
        };
        let _ = self.feed_tx.send(d.clone());
        let mut feed = lock(&self.feed);
        if feed.len() >= FEED_CAPACITY {
            feed.pop_front();
        }
        feed.push_back(d);
    }

    async fn provider(&self, cluster: &str, ns: &str, name: &str) -> Result<Arc<Provider>, String> {
        let client = self
            .clusters
            .get(cluster)
            .ok_or_else(|| format!("cluster {cluster} unknown"))?;
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), ns, &api_resource("Provider", "providers"));
        let obj = api
            .get_opt(name)
            .await
            .map_err(|e| format!("cannot read Provider {ns}/{name}: {e}"))?
            .ok_or_else(|| format!("Provider {ns}/{name} not found"))?;
        let v = serde_json::to_value(obj).map_err(|e| e.to_string())?;
        Provider::resolve(client, &v)
            .await
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }

    async fn worker(
        self: Arc<Self>,
        cluster: String,
        ns: String,
        name: String,
        mut rx: mpsc::Receiver<Job>,
    ) {
        let id = format!("{ns}/{name}");
        let mut cached: Option<Cached<Result<Arc<Provider>, String>>> = None;
        while let Some(job) = rx.recv().await {
            let fresh = cached
                .as_ref()
                .is_some_and(|(t, _)| t.elapsed() < self.opts.cache_ttl);
            if !fresh {
                cached = Some((Instant::now(), self.provider(&cluster, &ns, &name).await));
            }
            let Some((_, resolved)) = &cached else {
                continue;
            };
            let p = match resolved {
                Ok(p) => Arc::clone(p),
                Err(e) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%cluster, provider = %id, error = %e, "event not sent");
                    self.record(&cluster, &job, &id, "", Err(e.clone()));
                    continue;
                }
            };
            let address = mask_url(&p.address);
            // The client timeout covers each request; this bounds a commit status' two calls.
            let limit = p.timeout * 2 + Duration::from_secs(1);
            let outcome = match tokio::time::timeout(limit, p.send(&job.event)).await {
                Ok(Ok(Sent::Posted(code))) => {
                    self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    Ok(format!("HTTP {code}"))
                }
                Ok(Ok(Sent::Skipped(why))) => Ok(format!("skipped: {why}")),
                Ok(Err(e)) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%cluster, provider = %id, error = %e, "event not sent");
                    Err(e.to_string())
                }
                Err(_) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    let e = format!("provider {id}: no answer within {limit:?}");
                    tracing::warn!(%cluster, provider = %id, "{e}");
                    Err(e)
                }
            };
            self.record(&cluster, &job, &id, &address, outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(msg: &str, rev: &str) -> FluxEvent {
        let mut metadata = Map::new();
        metadata.insert("revision".into(), json!(rev));
        FluxEvent {
            involved_object: json!({"kind": "Kustomization", "name": "a", "namespace": "n"}),
            severity: "error".into(),
            timestamp: "2026-01-01T00:00:00Z".into(),
            message: msg.into(),
            reason: "R".into(),
            metadata,
            reporting_controller: "k".into(),
            reporting_instance: "flotilla".into(),
        }
    }

    #[test]
    fn duplicates_are_keyed_on_object_message_and_revision() {
        let a = dedup_key("c", &ev("m", "r1"));
        assert_eq!(a, dedup_key("c", &ev("m", "r1")));
        let mut later = ev("m", "r1");
        later.timestamp = "2026-01-01T00:01:00Z".into();
        later.reason = "Other".into();
        assert_eq!(
            a,
            dedup_key("c", &later),
            "time and reason are not part of the key"
        );
        assert_ne!(a, dedup_key("c", &ev("m2", "r1")));
        assert_ne!(a, dedup_key("c", &ev("m", "r2")));
        assert_ne!(a, dedup_key("other", &ev("m", "r1")));
    }
}
