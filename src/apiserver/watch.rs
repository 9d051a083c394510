//! WATCH (§A8): start points, replay from the event ring, selector transitions, bookmarks, streaming
//! lists, timeouts, and ERROR 410 (in-band, HTTP 200) for stale resourceVersions and slow watchers.

use super::Inner;
use super::errors::ApiError;
use super::reads::{self, Format};
use super::registry::ResourceDef;
use super::store::{Event, Stored, WatchEventType};
use crate::model::selector::{FieldSelector, LabelSelector};
use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Which objects a list or watch selects.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Namespace restriction (None = all namespaces / cluster-scoped).
    pub namespace: Option<String>,
    /// `labelSelector`.
    pub labels: Option<LabelSelector>,
    /// `fieldSelector`.
    pub fields: Option<FieldSelector>,
    /// Whether field selection needs the whole object.
    pub fields_need_object: bool,
}

impl Filter {
    /// Whether a stored object is selected.
    pub fn matches(&self, s: &Stored) -> bool {
        if let Some(ns) = &self.namespace
            && s.meta.namespace != *ns
        {
            return false;
        }
        if let Some(l) = &self.labels
            && !l.matches(s.meta.labels.as_ref())
        {
            return false;
        }
        if let Some(f) = &self.fields {
            let view = if self.fields_need_object {
                s.value()
            } else {
                json!({"metadata": {"name": s.meta.name, "namespace": s.meta.namespace}})
            };
            if !f.matches(&view) {
                return false;
            }
        }
        true
    }
}

/// Watch query parameters.
#[derive(Debug, Clone, Default)]
pub struct WatchParams {
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
    /// `sendInitialEvents=true`.
    pub send_initial_events: bool,
    /// `allowWatchBookmarks=true`.
    pub bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout: Option<u64>,
}

/// How often a bookmark is sent on an idle watch.
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

struct Renderer {
    def: Arc<ResourceDef>,
    version: String,
    api_version: String,
    format: Format,
}

impl Renderer {
    fn line(&self, kind: &str, s: &Stored) -> Bytes {
        let object: Bytes = match self.format {
            Format::Json => reads::object_bytes(s, &self.api_version),
            Format::Metadata => Bytes::from(reads::partial_metadata(&s.value()).to_string()),
            Format::Table => {
                let meta = json!({"resourceVersion": s.meta.rv.to_string()});
                match reads::table_of(&self.def, &self.version, std::slice::from_ref(s), meta) {
                    Some(t) => Bytes::from(t.to_string()),
                    None => reads::object_bytes(s, &self.api_version),
                }
            }
        };
        let mut out = BytesMut::with_capacity(object.len() + 32);
        out.put_slice(b"{\"type\":\"");
        out.put_slice(kind.as_bytes());
        out.put_slice(b"\",\"object\":");
        out.put_slice(&object);
        out.put_slice(b"}\n");
        out.freeze()
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut md = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"apiVersion": self.api_version, "kind": self.def.kind, "metadata": md});
        Bytes::from(format!("{}\n", json!({"type": "BOOKMARK", "object": obj})))
    }
}

fn error_line(err: &ApiError) -> Bytes {
    Bytes::from(format!(
        "{}\n",
        json!({"type": "ERROR", "object": err.to_status()})
    ))
}

fn stream_response(format: Format, rx: mpsc::Receiver<Bytes>) -> Response {
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let body = Body::from_stream(futures::StreamExt::map(stream, Ok::<Bytes, Infallible>));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type(false)),
    );
    resp
}

/// What the selector decides for one event.
fn classify(ev: &Event, filter: &Filter) -> Option<&'static str> {
    let now = filter.matches(&ev.object);
    match ev.kind {
        WatchEventType::Added => now.then_some("ADDED"),
        WatchEventType::Deleted => now.then_some("DELETED"),
        WatchEventType::Modified => {
            let before = ev.old.as_ref().is_some_and(|o| filter.matches(o));
            match (before, now) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            }
        }
    }
}

/// Starts a watch and returns the streaming response.
pub(crate) fn watch(
    inner: Arc<Inner>,
    def: Arc<ResourceDef>,
    version: &str,
    format: Format,
    filter: Filter,
    params: WatchParams,
) -> Result<Response, ApiError> {
    if params.send_initial_events
        && (params.resource_version_match.as_deref() != Some("NotOlderThan") || !params.bookmarks)
    {
        return Err(ApiError::invalid(
            "ListOptions",
            "meta.k8s.io",
            "",
            &[(
                "sendInitialEvents",
                "FieldValueForbidden",
                "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan and allowWatchBookmarks"
                    .into(),
            )],
        ));
    }
    let requested: Option<u64> = match params.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(s) => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))?,
        ),
    };
    let renderer = Renderer {
        api_version: def.api_version(version),
        def: def.clone(),
        version: version.to_string(),
        format,
    };
    let key = def.key();
    let (tx, out_rx) = mpsc::channel::<Bytes>(256);
    let mut initial: Vec<Bytes> = Vec::new();
    let mut initial_end: Option<u64> = None;
    let (rx, start_rv) = {
        let st = inner.lock();
        if params.send_initial_events || requested.is_none() {
            for s in st.store.list(&key, filter.namespace.as_deref()) {
                if filter.matches(&s) {
                    initial.push(renderer.line("ADDED", &s));
                }
            }
            let rv = st.store.rv();
            if params.send_initial_events {
                initial_end = Some(rv);
            }
            (st.store.subscribe(), rv)
        } else {
            let n = requested.unwrap_or(0);
            match st.store.watch_from(n) {
                Ok((backlog, rx)) => {
                    for ev in backlog {
                        if *ev.resource == *key
                            && let Some(kind) = classify(&ev, &filter)
                        {
                            initial.push(renderer.line(kind, &ev.object));
                        }
                    }
                    (rx, st.store.rv().max(n))
                }
                Err(oldest) => {
                    let err =
                        ApiError::expired(format!("too old resource version: {n} ({oldest})"));
                    let line = error_line(&err);
                    drop(st);
                    let resp = stream_response(format, out_rx);
                    tokio::spawn(async move {
                        let _ = tx.send(line).await;
                    });
                    return Ok(resp);
                }
            }
        }
    };
    let timeout = match params.timeout {
        Some(t) => Duration::from_secs(t),
        // Like the real server: 30–60 minutes when the client sets no timeout.
        None => Duration::from_secs(1800 + rand::random::<u64>() % 1800),
    };
    let close = inner.close_watches.subscribe();
    let stopped = inner.stop.subscribe();
    tokio::spawn(run_watch(WatchTask {
        inner,
        renderer,
        key,
        filter,
        bookmarks: params.bookmarks,
        timeout,
        initial,
        initial_end,
        rx,
        start_rv,
        close,
        stopped,
        tx,
    }));
    Ok(stream_response(format, out_rx))
}

/// How long a stopping cluster waits to hand a watch its closing bookmark.
const STOP_GRACE: Duration = Duration::from_secs(1);

struct WatchTask {
    inner: Arc<Inner>,
    renderer: Renderer,
    key: String,
    filter: Filter,
    bookmarks: bool,
    timeout: Duration,
    initial: Vec<Bytes>,
    initial_end: Option<u64>,
    rx: broadcast::Receiver<Arc<Event>>,
    start_rv: u64,
    close: tokio::sync::watch::Receiver<u64>,
    /// The cluster's stop flag: a watch opened after (or while) the cluster stops must end too,
    /// or a client that re-opens its watch at once would keep graceful shutdown waiting forever.
    stopped: tokio::sync::watch::Receiver<bool>,
    tx: mpsc::Sender<Bytes>,
}

async fn run_watch(mut t: WatchTask) {
    // Keeps the cluster (and with it the close signal's sender) alive while streaming.
    let _cluster = t.inner.clone();
    for line in std::mem::take(&mut t.initial) {
        if t.tx.send(line).await.is_err() {
            return;
        }
    }
    if let Some(rv) = t.initial_end
        && t.tx.send(t.renderer.bookmark(rv, true)).await.is_err()
    {
        return;
    }
    let mut stopped = t.stopped.clone();
    let mut last_rv = t.start_rv;
    let deadline = tokio::time::Instant::now() + t.timeout;
    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
    loop {
        tokio::select! {
            _ = t.tx.closed() => return,
            _ = t.close.changed() => {
                if t.bookmarks {
                    close_with_bookmark(&mut t, last_rv).await;
                }
                return;
            }
            _ = async { let _ = stopped.wait_for(|s| *s).await; } => {
                // The closing bookmark is best effort: a client that stopped reading must not
                // hold up shutdown.
                if t.bookmarks {
                    let _ = tokio::time::timeout(STOP_GRACE, close_with_bookmark(&mut t, last_rv)).await;
                }
                return;
            }
            _ = tokio::time::sleep_until(deadline) => {
                if t.bookmarks {
                    let _ = t.tx.send(t.renderer.bookmark(last_rv, false)).await;
                }
                return;
            }
            _ = ticker.tick(), if t.bookmarks => {
                if t.tx.send(t.renderer.bookmark(last_rv, false)).await.is_err() {
                    return;
                }
            }
            r = t.rx.recv() => match r {
                Ok(ev) => {
                    if ev.rv <= last_rv {
                        continue;
                    }
                    last_rv = ev.rv;
                    if *ev.resource != *t.key {
                        continue;
                    }
                    if let Some(kind) = classify(&ev, &t.filter)
                        && t.tx.send(t.renderer.line(kind, &ev.object)).await.is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let err = ApiError::expired(format!(
                        "too old resource version: {last_rv} (the watch fell too far behind)"
                    ));
                    let _ = t.tx.send(error_line(&err)).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// Ends a watch that was closed by the server (fault injection) the way a timeout does, but at the
/// store's current revision: delivers what is already queued, then a BOOKMARK with that RV, so the
/// client resumes from there instead of re-listing or replaying.
async fn close_with_bookmark(t: &mut WatchTask, mut last_rv: u64) {
    // Events are broadcast under the state lock, so every event up to this RV is queued by now.
    let current = t.inner.lock().store.rv();
    loop {
        match t.rx.try_recv() {
            Ok(ev) => {
                if ev.rv <= last_rv {
                    continue;
                }
                last_rv = ev.rv;
                if *ev.resource != *t.key {
                    continue;
                }
                if let Some(kind) = classify(&ev, &t.filter)
                    && t.tx.send(t.renderer.line(kind, &ev.object)).await.is_err()
                {
                    return;
                }
            }
            Err(broadcast::error::TryRecvError::Lagged(_)) => {
                // Too far behind to deliver what was missed: end like a lagging watch.
                let err = ApiError::expired(format!(
                    "too old resource version: {last_rv} (the watch fell too far behind)"
                ));
                let _ = t.tx.send(error_line(&err)).await;
                return;
            }
            Err(_) => break,
        }
    }
    let _ =
        t.tx.send(t.renderer.bookmark(last_rv.max(current), false))
            .await;
}
