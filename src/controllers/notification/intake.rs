//! Flux's event HTTP intake (`--events-addr`, notification-controller's `:9090`): `POST /` with an
//! event JSON as Flux's controllers send it goes to the dispatcher (the first cluster);
//! `POST /cluster/<name>` names the cluster. Answers 202, 400 for a bad event, 413 above
//! [`MAX_EVENT_BYTES`]. Also the small HTTP server both notification servers run on.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use tokio::task::JoinHandle;

use super::NotificationError;
use super::dispatcher::Dispatcher;
use crate::runtime::FluxEvent;

/// Largest event body accepted.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// A running HTTP server of the notification controller.
pub struct HttpServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `addr` and serves `app` on the current runtime.
    pub fn start(
        addr: SocketAddr,
        app: Router,
        what: &'static str,
    ) -> Result<HttpServer, NotificationError> {
        let bind = |source| NotificationError::Bind { what, addr, source };
        let std_listener = std::net::TcpListener::bind(addr).map_err(bind)?;
        std_listener.set_nonblocking(true).map_err(bind)?;
        let bound = std_listener.local_addr().map_err(bind)?;
        let listener = tokio::net::TcpListener::from_std(std_listener).map_err(bind)?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(addr = %bound, error = %e, "{what} failed");
            }
        });
        tracing::info!(addr = %bound, "{what} listening");
        Ok(HttpServer { addr: bound, task })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving.
    pub fn shutdown(&self) {
        self.task.abort();
    }
}

/// The intake's routes over `dispatcher`.
pub fn router(dispatcher: Dispatcher) -> Router {
    Router::new()
        .route("/", post(default_cluster))
        .route("/cluster/{name}", post(named_cluster))
        .layer(DefaultBodyLimit::max(MAX_EVENT_BYTES))
        .with_state(dispatcher)
}

/// Starts the intake on `addr`.
pub fn start(addr: SocketAddr, dispatcher: Dispatcher) -> Result<HttpServer, NotificationError> {
    HttpServer::start(addr, router(dispatcher), "event intake")
}

async fn default_cluster(State(d): State<Dispatcher>, body: Bytes) -> (StatusCode, String) {
    let cluster = d.default_cluster().to_string();
    accept(&d, &cluster, &body).await
}

async fn named_cluster(
    State(d): State<Dispatcher>,
    Path(name): Path<String>,
    body: Bytes,
) -> (StatusCode, String) {
    if !d.clusters().contains(&name) {
        return (
            StatusCode::NOT_FOUND,
            format!("no cluster named {name:?}\n"),
        );
    }
    accept(&d, &name, &body).await
}

async fn accept(d: &Dispatcher, cluster: &str, body: &[u8]) -> (StatusCode, String) {
    let event: FluxEvent = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("the body is not a Flux event: {e}\n"),
            );
        }
    };
    let o = &event.involved_object;
    let field = |k: &str| o.get(k).and_then(|v| v.as_str()).unwrap_or("");
    if field("kind").is_empty() || field("name").is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            "involvedObject needs kind and name\n".into(),
        );
    }
    if event.severity != "info" && event.severity != "error" {
        return (
            StatusCode::BAD_REQUEST,
            format!("severity {:?} is not info or error\n", event.severity),
        );
    }
    if d.submit(cluster, event).await {
        (StatusCode::ACCEPTED, String::new())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the dispatcher has stopped\n".into(),
        )
    }
}
