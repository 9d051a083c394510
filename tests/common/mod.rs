//! Shared harness for the embedded API server's acceptance tests: in-process and TCP clusters, a
//! request-recording (and watch-holding) client layer, kubectl runs with an isolated environment, raw
//! requests, and a polling wait.
//!
//! Each test file includes this module and uses a different subset of it.
#![allow(dead_code)]

pub mod gitrepo;
pub mod real_kube;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use flotilla::apiserver::{Cluster, ClusterOptions, Server, ServerOptions};
use http::{Request, Response};
use http_body_util::BodyExt;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;
use tower::{BoxError, Service, ServiceExt};

/// Generous upper bound for anything that should happen "soon" (never an assertion about speed).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Cluster options for tests that don't need the workload simulator (keeps the store quiet).
pub fn quiet_options() -> ClusterOptions {
    ClusterOptions {
        simulate: false,
        ..ClusterOptions::default()
    }
}

/// An in-process cluster and a kube client talking to its router without a socket.
pub fn in_process(opts: ClusterOptions) -> (Cluster, Client) {
    let cluster = Cluster::new(opts).expect("cluster starts");
    let client = Client::new(cluster.router(), "default");
    (cluster, client)
}

/// A kube client over the in-process router whose requests are recorded in the returned log.
pub fn traced_in_process_client(cluster: &Cluster) -> (Client, RequestLog) {
    let log = RequestLog::default();
    let svc = RecordingService::new(cluster.router(), log.clone());
    (Client::new(svc, "default"), log)
}

/// One request as seen by a [`RecordingService`].
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// Decoded query pairs, empty pairs dropped.
    pub query: BTreeMap<String, String>,
    /// HTTP status of the response (0 if the transport failed).
    pub status: u16,
}

impl LoggedRequest {
    /// Whether this is a watch request.
    pub fn is_watch(&self) -> bool {
        self.query
            .get("watch")
            .is_some_and(|v| v == "true" || v == "1")
    }
    /// Whether this is a LIST (a GET that is not a watch) of a collection whose path ends with `plural`.
    pub fn is_list_of(&self, plural: &str) -> bool {
        self.method == "GET" && !self.is_watch() && self.path.ends_with(&format!("/{plural}"))
    }
    /// Whether this is a watch of a collection whose path ends with `plural`.
    pub fn is_watch_of(&self, plural: &str) -> bool {
        self.is_watch() && self.path.ends_with(&format!("/{plural}"))
    }
}

#[derive(Default)]
struct LogState {
    entries: Mutex<Vec<LoggedRequest>>,
    /// While true, watch requests wait (before reaching the server) until it becomes false.
    hold_watches: Mutex<bool>,
    released: tokio::sync::Notify,
}

/// Shared record of the requests a traced client made, plus a switch that holds back watch requests.
#[derive(Clone, Default)]
pub struct RequestLog(Arc<LogState>);

impl RequestLog {
    /// Everything recorded so far (requests are recorded when their response head arrives).
    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.0.entries.lock().unwrap().clone()
    }
    /// Number of recorded requests.
    pub fn len(&self) -> usize {
        self.0.entries.lock().unwrap().len()
    }
    /// Recorded requests after the first `from`.
    pub fn since(&self, from: usize) -> Vec<LoggedRequest> {
        self.entries().into_iter().skip(from).collect()
    }
    /// From now on, watch requests wait until [`RequestLog::release_watches`].
    pub fn hold_watches(&self) {
        *self.0.hold_watches.lock().unwrap() = true;
    }
    /// Lets held (and future) watch requests through.
    pub fn release_watches(&self) {
        *self.0.hold_watches.lock().unwrap() = false;
        self.0.released.notify_waiters();
    }
    async fn wait_if_held(&self) {
        loop {
            let notified = self.0.released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !*self.0.hold_watches.lock().unwrap() {
                return;
            }
            notified.await;
        }
    }
    fn push(&self, entry: LoggedRequest) {
        self.0.entries.lock().unwrap().push(entry);
    }
}

fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in query.unwrap_or("").split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k), percent_decode(v));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A tower service (usable as a kube client stack or layer) that records every request and can hold
/// watch requests back, so tests can arrange exactly what a watcher will find when it reconnects.
pub struct RecordingService<S> {
    inner: Arc<tokio::sync::Mutex<S>>,
    log: RequestLog,
}

impl<S> RecordingService<S> {
    /// Wraps `inner`, recording into `log`.
    pub fn new(inner: S, log: RequestLog) -> Self {
        RecordingService {
            inner: Arc::new(tokio::sync::Mutex::new(inner)),
            log,
        }
    }
}

impl<S> Clone for RecordingService<S> {
    fn clone(&self) -> Self {
        RecordingService {
            inner: self.inner.clone(),
            log: self.log.clone(),
        }
    }
}

impl<S, B> Service<Request<kube::client::Body>> for RecordingService<S>
where
    S: Service<Request<kube::client::Body>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<kube::client::Body>) -> Self::Future {
        let inner = self.inner.clone();
        let log = self.log.clone();
        Box::pin(async move {
            let mut entry = LoggedRequest {
                method: req.method().to_string(),
                path: req.uri().path().to_string(),
                query: parse_query(req.uri().query()),
                status: 0,
            };
            if entry.is_watch() {
                log.wait_if_held().await;
            }
            let fut = {
                let mut svc = inner.lock().await;
                svc.ready().await.map_err(Into::into)?;
                svc.call(req)
            };
            let result = fut.await.map_err(Into::into);
            if let Ok(resp) = &result {
                entry.status = resp.status().as_u16();
            }
            log.push(entry);
            result
        })
    }
}

/// A [`Server`] with one or more clusters, its kubeconfig written into a private temp dir that also
/// serves as HOME and kubectl cache dir.
pub struct TcpServer {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl TcpServer {
    /// Starts one cluster named after `opts.name` on a random loopback port.
    pub async fn start(opts: ClusterOptions) -> TcpServer {
        let name = opts.name.clone();
        Self::start_many(&[name.as_str()], opts).await
    }

    /// Starts the given clusters (each on its own random port) from the `template` options.
    pub async fn start_many(names: &[&str], template: ClusterOptions) -> TcpServer {
        let opts = ServerOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            clusters: names.iter().map(|s| s.to_string()).collect(),
            cluster: template,
        };
        let server = Server::start(opts).await.expect("server starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        server
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        TcpServer {
            server,
            dir,
            kubeconfig,
        }
    }

    /// The first cluster.
    pub fn cluster(&self) -> &Cluster {
        &self.server.clusters()[0].cluster
    }

    async fn config_for(&self, context: Option<&str>) -> kube::Config {
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig parses");
        let opts = KubeConfigOptions {
            context: context.map(str::to_string),
            ..KubeConfigOptions::default()
        };
        kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .expect("kube config from kubeconfig")
    }

    /// A kube client for the current context (the first cluster), built from the written kubeconfig.
    pub async fn client(&self) -> Client {
        Client::try_from(self.config_for(None).await).expect("kube client")
    }

    /// A kube client for the current context without kube's automatic retry of 429/503/504, so tests
    /// see exactly what the server answered.
    pub async fn client_without_retry(&self) -> Client {
        let mut config = self.config_for(None).await;
        config.default_retry = false;
        Client::try_from(config).expect("kube client")
    }

    /// A kube client for the named context.
    pub async fn client_for(&self, context: &str) -> Client {
        Client::try_from(self.config_for(Some(context)).await).expect("kube client")
    }

    /// A kube client over TCP whose requests are recorded in the returned log.
    pub async fn traced_client(&self) -> (Client, RequestLog) {
        let log = RequestLog::default();
        let config = self.config_for(None).await;
        let layer_log = log.clone();
        let client = kube::client::ClientBuilder::try_from(config)
            .expect("client builder")
            .with_layer(&tower::layer::layer_fn(move |svc| {
                RecordingService::new(svc, layer_log.clone())
            }))
            .build();
        (client, log)
    }

    /// kubectl exactly as a user would run it: with the kubeconfig the Server wrote, and the temp dir
    /// as HOME and cache dir.
    pub fn kubectl(&self) -> Kubectl {
        Kubectl::new(self.dir.path(), &self.kubeconfig)
    }
}

/// Output of a finished command.
#[derive(Debug)]
pub struct CmdOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub what: String,
}

impl CmdOutput {
    /// Panics with both streams unless the command exited 0; returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "`{}` failed\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }
    /// Panics unless the command exited non-zero; returns stderr.
    pub fn failed(&self) -> &str {
        assert!(
            self.code != Some(0),
            "`{}` unexpectedly succeeded\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        &self.stderr
    }
}

/// Whether a `kubectl` binary is on PATH.
pub fn kubectl_available() -> bool {
    std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Returns from the test (with a printed reason) when kubectl is not installed.
#[macro_export]
macro_rules! require_kubectl {
    () => {
        if !$crate::common::kubectl_available() {
            eprintln!("skipping: kubectl not found");
            return;
        }
    };
}

/// kubectl with an isolated environment: only PATH plus HOME, KUBECONFIG and KUBECACHEDIR pointing
/// into a test's temp dir.
#[derive(Clone)]
pub struct Kubectl {
    home: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    /// kubectl using `home` as HOME (cache under it) and the given kubeconfig.
    pub fn new(home: &Path, kubeconfig: &Path) -> Kubectl {
        Kubectl {
            home: home.to_path_buf(),
            kubeconfig: kubeconfig.to_path_buf(),
            cache: home.join("kubecache"),
        }
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", &self.cache)
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    }

    /// Runs kubectl to completion (at most [`PATIENCE`] × 2).
    pub async fn run(&self, args: &[&str]) -> CmdOutput {
        self.run_with_stdin(args, None).await
    }

    /// Runs kubectl feeding `stdin` (e.g. for `-f -`).
    pub async fn run_stdin(&self, args: &[&str], stdin: &str) -> CmdOutput {
        self.run_with_stdin(args, Some(stdin)).await
    }

    async fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> CmdOutput {
        use tokio::io::AsyncWriteExt;
        let mut cmd = self.command(args);
        if stdin.is_some() {
            cmd.stdin(std::process::Stdio::piped());
        }
        let mut child = cmd.spawn().expect("kubectl spawns");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin piped");
            pipe.write_all(input.as_bytes())
                .await
                .expect("stdin written");
            drop(pipe);
        }
        let out = tokio::time::timeout(PATIENCE * 2, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish"))
            .expect("kubectl runs");
        CmdOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            what: format!("kubectl {}", args.join(" ")),
        }
    }

    /// Starts a long-running kubectl (e.g. `get -w`) whose stdout lines can be read as they come.
    pub fn spawn(&self, args: &[&str]) -> KubectlStream {
        let mut child = self.command(args).spawn().expect("kubectl spawns");
        let stdout = child.stdout.take().expect("stdout piped");
        KubectlStream {
            child,
            lines: tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout)),
            seen: Vec::new(),
        }
    }
}

/// A running kubectl whose stdout is read line by line; killed on drop.
pub struct KubectlStream {
    pub child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    pub seen: Vec<String>,
}

impl KubectlStream {
    /// Reads lines until one satisfies `pred`, returning it; panics after [`PATIENCE`] or at EOF.
    pub async fn line_matching(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let next = tokio::time::timeout_at(deadline, self.lines.next_line()).await;
            match next {
                Ok(Ok(Some(line))) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Ok(Ok(None)) | Ok(Err(_)) => {
                    let stderr = self.stderr_now().await;
                    panic!(
                        "kubectl output ended before {what}; lines so far:\n{}\nstderr:\n{stderr}",
                        self.seen.join("\n")
                    )
                }
                Err(_) => panic!(
                    "timed out waiting for {what}; lines so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    async fn stderr_now(&mut self) -> String {
        use tokio::io::AsyncReadExt;
        let mut s = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), err.read_to_string(&mut s)).await;
        }
        s
    }
}

/// Polls `probe` until it returns `Some`, panicking with `what` after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (up to 30 s) for an Event in `ns` that `pred` accepts: the recorder posts events after the
/// status write, so a test that has just seen Ready must not expect the event to be there already.
pub async fn wait_event<P>(
    client: &kube::Client,
    ns: &str,
    what: &str,
    pred: P,
) -> k8s_openapi::api::core::v1::Event
where
    P: Fn(&k8s_openapi::api::core::v1::Event) -> bool,
{
    let events = kube::Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), ns);
    wait_until(what, Duration::from_secs(30), || {
        let events = events.clone();
        let pred = &pred;
        async move {
            let list = events.list(&Default::default()).await.ok()?.items;
            list.into_iter().find(|e| pred(e))
        }
    })
    .await
}

/// A raw response: status, content type and body.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body parsed as JSON (Null when it isn't JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request through `client` (either transport) and reads the whole response body.
pub async fn raw(
    client: &Client,
    method: &str,
    path_and_query: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> RawResponse {
    let mut builder = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("accept", "application/json");
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    let req = builder
        .body(kube::client::Body::from(body))
        .expect("request builds");
    let resp = client.send(req).await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = tokio::time::timeout(PATIENCE, resp.into_body().collect())
        .await
        .expect("response body completes")
        .expect("response body readable")
        .to_bytes()
        .to_vec();
    RawResponse {
        status,
        headers,
        content_type,
        body,
    }
}

/// Sends one request straight into a router (no kube client), reading the whole body.
pub async fn raw_router(
    router: &axum::Router,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> RawResponse {
    let mut builder = Request::builder().method(method).uri(path_and_query);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = builder
        .body(axum::body::Body::from(body))
        .expect("request builds");
    let resp = router.clone().oneshot(req).await.expect("router answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = tokio::time::timeout(PATIENCE, resp.into_body().collect())
        .await
        .expect("response body completes")
        .expect("response body readable")
        .to_bytes()
        .to_vec();
    RawResponse {
        status,
        headers,
        content_type,
        body,
    }
}

/// Parses a multi-document YAML file into JSON values (empty documents dropped).
pub fn yaml_documents(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).expect("YAML parses");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The `(resourceVersion)` of an object as u64 (panics when missing or not numeric).
pub fn rv_of(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("object without numeric resourceVersion: {obj}"))
}

/// One cluster reached through one transport: a plain client, a traced client (recording requests,
/// able to hold watches back) and the cluster handle (for faults). `tcp` keeps the server alive.
pub struct Env {
    pub cluster: Cluster,
    pub client: Client,
    pub traced: Client,
    pub log: RequestLog,
    pub tcp: Option<TcpServer>,
}

impl Env {
    /// In-process: both clients use `cluster.router()` directly.
    pub async fn in_process(opts: ClusterOptions) -> Env {
        let (cluster, client) = in_process(opts);
        let (traced, log) = traced_in_process_client(&cluster);
        Env {
            cluster,
            client,
            traced,
            log,
            tcp: None,
        }
    }

    /// Over TCP: a [`Server`] with one cluster; clients built from the written kubeconfig.
    pub async fn tcp(opts: ClusterOptions) -> Env {
        let server = TcpServer::start(opts).await;
        let client = server.client().await;
        let (traced, log) = server.traced_client().await;
        Env {
            cluster: server.cluster().clone(),
            client,
            traced,
            log,
            tcp: Some(server),
        }
    }
}

/// Generates, for each named async check `fn(Env)`, a test running it in-process and one over TCP,
/// in modules `in_process` and `tcp`. The first argument names a parent-module fn returning the
/// `ClusterOptions`.
#[macro_export]
macro_rules! both_transports {
    ($opts:ident; $($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let env = $crate::common::Env::in_process(super::$opts()).await;
                    super::$name(env).await
                }
            )*
        }
        mod tcp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let env = $crate::common::Env::tcp(super::$opts()).await;
                    super::$name(env).await
                }
            )*
        }
    };
}

/// A cached ConfigMap: (resourceVersion, data).
pub type CachedConfigMap = (String, BTreeMap<String, String>);

/// What a watcher-driven cache of ConfigMaps has seen (maintained like a reflector store).
#[derive(Default, Debug)]
pub struct Tracker {
    /// The cache: `namespace/name` → (resourceVersion, data).
    pub objects: BTreeMap<String, CachedConfigMap>,
    buffer: Option<BTreeMap<String, CachedConfigMap>>,
    /// Number of `Init` events (1 = the initial list; each later one is a re-list).
    pub inits: usize,
    /// Number of `InitDone` events.
    pub init_dones: usize,
    /// Number of errors the stream yielded.
    pub errors: usize,
    /// Number of `Apply`/`Delete` events.
    pub changes: usize,
}

fn cm_key(cm: &k8s_openapi::api::core::v1::ConfigMap) -> String {
    format!(
        "{}/{}",
        cm.metadata.namespace.clone().unwrap_or_default(),
        cm.metadata.name.clone().unwrap_or_default()
    )
}

fn cm_entry(cm: &k8s_openapi::api::core::v1::ConfigMap) -> CachedConfigMap {
    (
        cm.metadata.resource_version.clone().unwrap_or_default(),
        cm.data.clone().unwrap_or_default(),
    )
}

/// A background task feeding a kube-runtime `watcher` over ConfigMaps into a [`Tracker`].
pub struct TrackedWatch {
    pub tracker: Arc<Mutex<Tracker>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TrackedWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TrackedWatch {
    /// Starts `watcher(api, config)` (with `.default_backoff()` when `backoff`).
    pub fn start(
        api: kube::Api<k8s_openapi::api::core::v1::ConfigMap>,
        config: kube::runtime::watcher::Config,
        backoff: bool,
    ) -> TrackedWatch {
        use futures::StreamExt;
        use kube::runtime::WatchStreamExt;
        use kube::runtime::watcher::{Event, watcher};
        let tracker = Arc::new(Mutex::new(Tracker::default()));
        let t = tracker.clone();
        let task = tokio::spawn(async move {
            let stream = watcher(api, config);
            let mut stream = if backoff {
                stream.default_backoff().boxed()
            } else {
                stream.boxed()
            };
            while let Some(item) = stream.next().await {
                let mut tr = t.lock().unwrap();
                match item {
                    Err(_) => tr.errors += 1,
                    Ok(Event::Init) => {
                        tr.inits += 1;
                        tr.buffer = Some(BTreeMap::new());
                    }
                    Ok(Event::InitApply(cm)) => {
                        if let Some(b) = tr.buffer.as_mut() {
                            b.insert(cm_key(&cm), cm_entry(&cm));
                        }
                    }
                    Ok(Event::InitDone) => {
                        tr.init_dones += 1;
                        if let Some(b) = tr.buffer.take() {
                            tr.objects = b;
                        }
                    }
                    Ok(Event::Apply(cm)) => {
                        tr.changes += 1;
                        tr.objects.insert(cm_key(&cm), cm_entry(&cm));
                    }
                    Ok(Event::Delete(cm)) => {
                        tr.changes += 1;
                        tr.objects.remove(&cm_key(&cm));
                    }
                }
            }
        });
        TrackedWatch { tracker, task }
    }

    /// Waits until the initial list has been delivered.
    pub async fn wait_ready(&self) {
        let t = self.tracker.clone();
        wait_until("watcher's initial list", PATIENCE, || {
            let t = t.clone();
            async move { (t.lock().unwrap().init_dones >= 1).then_some(()) }
        })
        .await
    }

    /// Number of Init events so far.
    pub fn inits(&self) -> usize {
        self.tracker.lock().unwrap().inits
    }

    /// Waits until the cache equals what `api.list(lp)` returns (names, resourceVersions, data).
    pub async fn wait_matches_store(
        &self,
        api: &kube::Api<k8s_openapi::api::core::v1::ConfigMap>,
        lp: &kube::api::ListParams,
    ) {
        let deadline = tokio::time::Instant::now() + PATIENCE * 2;
        loop {
            let list = api.list(lp).await;
            if let Ok(list) = list {
                let store: BTreeMap<_, _> = list
                    .items
                    .iter()
                    .map(|cm| (cm_key(cm), cm_entry(cm)))
                    .collect();
                let cache = self.tracker.lock().unwrap().objects.clone();
                if cache == store {
                    return;
                }
                if tokio::time::Instant::now() >= deadline {
                    panic!(
                        "watcher cache never matched the store\ncache: {cache:#?}\nstore: {store:#?}\ntracker: {:?}",
                        self.tracker.lock().unwrap()
                    );
                }
            } else if tokio::time::Instant::now() >= deadline {
                panic!("listing the store kept failing: {list:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A ConfigMap `name` in `default` with the given labels and data.
pub fn configmap(
    name: &str,
    labels: &[(&str, &str)],
    data: &[(&str, &str)],
) -> k8s_openapi::api::core::v1::ConfigMap {
    let mut cm = k8s_openapi::api::core::v1::ConfigMap::default();
    cm.metadata.name = Some(name.to_string());
    cm.metadata.namespace = Some("default".to_string());
    if !labels.is_empty() {
        cm.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
    }
    cm.data = Some(
        data.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    cm
}

/// The server a test body runs against: flotilla's embedded one (in-process) or a real
/// kube-apiserver + etcd (see [`real_kube`]), with the same client-side view of both.
pub enum TestCluster {
    /// The embedded API server, in-process (its own workload simulator when the options ask).
    Embedded(Cluster),
    /// A real kube-apiserver of its own; flotilla's workload simulator runs as a client of it
    /// when the options ask (nothing else rolls Deployments out there).
    Real {
        real: real_kube::RealCluster,
        simulator: Option<tokio::task::JoinHandle<()>>,
    },
}

impl TestCluster {
    /// An in-process embedded cluster with these options.
    pub async fn embedded(opts: ClusterOptions) -> TestCluster {
        TestCluster::Embedded(Cluster::new(opts).expect("cluster starts"))
    }

    /// A fresh real cluster (named after `opts.name`), with the simulator when `opts.simulate`.
    pub async fn real(opts: ClusterOptions) -> TestCluster {
        let real = real_kube::RealCluster::start(&opts.name).await;
        let simulator = if opts.simulate {
            let client = real.client().await;
            let sim = flotilla::apiserver::simulator::SimulatorOptions {
                rollout_delay: opts.rollout_delay,
            };
            Some(tokio::spawn(flotilla::apiserver::simulator::run(
                client,
                sim,
                std::future::pending::<()>(),
            )))
        } else {
            None
        };
        TestCluster::Real { real, simulator }
    }

    /// A kube client with admin rights (in-process router, or TLS with the admin certificate).
    pub async fn client(&self) -> Client {
        match self {
            TestCluster::Embedded(c) => Client::new(c.router(), "default"),
            TestCluster::Real { real, .. } => real.client().await,
        }
    }

    /// Whether this is the real kube-apiserver.
    pub fn is_real(&self) -> bool {
        matches!(self, TestCluster::Real { .. })
    }

    /// The real cluster (kubeconfig, kubectl, log), `None` on the embedded server.
    pub fn real_cluster(&self) -> Option<&real_kube::RealCluster> {
        match self {
            TestCluster::Embedded(_) => None,
            TestCluster::Real { real, .. } => Some(real),
        }
    }

    /// The embedded cluster handle (for faults and store access), `None` on the real server.
    pub fn embedded_cluster(&self) -> Option<&Cluster> {
        match self {
            TestCluster::Embedded(c) => Some(c),
            TestCluster::Real { .. } => None,
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let TestCluster::Real {
            simulator: Some(s), ..
        } = self
        {
            s.abort();
        }
    }
}

/// Generates, for each named async check `fn(TestCluster)`, a test running it against the embedded
/// server (module `embedded`) and one against a real kube-apiserver (module `real`, skipped with a
/// printed reason when the binaries are absent). The first argument names a parent-module fn
/// returning the `ClusterOptions`.
#[macro_export]
macro_rules! both_servers {
    ($opts:ident; $($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let tc = $crate::common::TestCluster::embedded(super::$opts()).await;
                    super::$name(tc).await
                }
            )*
        }
        mod real {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::require_real_kube!();
                    let tc = $crate::common::TestCluster::real(super::$opts()).await;
                    super::$name(tc).await
                }
            )*
        }
    };
}
