//! Embedded API server benchmark (numbers in BENCHMARKS.md, "Embedded API server").
//!
//! Setup: one cluster served over loopback TCP (`Server::start`, no simulator) holding 10,000
//! Kustomizations (benches/support/kustomization.rs, ~2 KB of JSON each) plus 20 watchers on the kind,
//! each a raw HTTP/1.1 connection to the server.
//!
//! Criterion benchmarks:
//! - `apiserver_list_10k/in_process_router`: GET of the cluster-wide collection through the axum Router
//!   as a tower Service, until the whole response body is collected.
//! - `apiserver_list_10k/tcp`: the same request over a keep-alive TCP connection, until the last body
//!   byte has been read by the client.
//! - `apiserver_write_fanout/status_patch_20_watchers`: one status merge patch over TCP, timed from
//!   sending the request until all 20 watchers have read the MODIFIED event (one write at a time).
//!
//! Then, unless a filter excludes `paced_fanout`, a paced run: 1,000 status patches/s for 5 s
//! (4 writer connections), printing the median, p90, p99 and max of the same write-to-last-watcher
//! latency, which criterion cannot report as percentiles.

#[path = "support/kustomization.rs"]
mod kustomization;

use axum::body::Body;
use criterion::Criterion;
use flotilla::apiserver::{Cluster, ClusterOptions, Server, ServerOptions};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use tower::ServiceExt;

/// Objects stored.
const OBJECTS: usize = 10_000;
/// Concurrent watchers on the kind.
const WATCHERS: u32 = 20;
/// Paced write rate.
const WRITES_PER_SEC: u64 = 1_000;
/// Length of the paced run.
const PACED_SECS: u64 = 5;
/// Writer connections used by the paced run.
const WRITERS: usize = 4;

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client: keep-alive requests and chunked streaming, nothing else. Kept raw so
// the client side costs as little as possible of the two shared cores.
// ---------------------------------------------------------------------------------------------

/// One keep-alive connection to the server.
struct Http {
    stream: TcpStream,
    /// Received bytes; `buf[pos..]` is not consumed yet.
    buf: Vec<u8>,
    pos: usize,
    token: String,
}

/// Framing of a response body.
enum Framing {
    Length(usize),
    Chunked,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Http {
    async fn connect(addr: SocketAddr, token: &str) -> std::io::Result<Http> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Http {
            stream,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            token: token.to_string(),
        })
    }

    /// The unconsumed bytes.
    fn rest(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Reads more bytes from the socket (straight into the buffer, no intermediate copy).
    async fn fill(&mut self) -> std::io::Result<()> {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.reserve(64 * 1024);
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        Ok(())
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> std::io::Result<()> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\naccept: application/json\r\n",
            self.token
        )
        .into_bytes();
        if !body.is_empty() {
            req.extend_from_slice(
                format!(
                    "content-type: {content_type}\r\ncontent-length: {}\r\n",
                    body.len()
                )
                .as_bytes(),
            );
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(body);
        self.stream.write_all(&req).await
    }

    /// Reads a response head; returns the status and the body framing.
    async fn read_head(&mut self) -> std::io::Result<(u16, Framing)> {
        let end = loop {
            if let Some(p) = find(self.rest(), b"\r\n\r\n") {
                break p;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.rest()[..end]).to_ascii_lowercase();
        self.consume(end + 4);
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        for line in head.lines() {
            if let Some(v) = line.strip_prefix("content-length:") {
                let n = v.trim().parse().map_err(|_| bad("bad content-length"))?;
                return Ok((status, Framing::Length(n)));
            }
            if line.starts_with("transfer-encoding:") && line.contains("chunked") {
                return Ok((status, Framing::Chunked));
            }
        }
        Err(bad(
            "response has neither content-length nor chunked encoding",
        ))
    }

    /// The next chunk of a chunked body (`None` at the terminating chunk).
    /// The next chunk of a chunked body, appended to `out` (false at the terminating chunk).
    async fn next_chunk(&mut self, out: &mut Vec<u8>) -> std::io::Result<bool> {
        let line_end = loop {
            if let Some(p) = find(self.rest(), b"\r\n") {
                break p;
            }
            self.fill().await?;
        };
        let size_text = String::from_utf8_lossy(&self.rest()[..line_end]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size"))?;
        while self.rest().len() < line_end + 2 + size + 2 {
            self.fill().await?;
        }
        let start = self.pos + line_end + 2;
        out.extend_from_slice(&self.buf[start..start + size]);
        self.consume(line_end + 2 + size + 2);
        Ok(size > 0)
    }

    /// A complete request/response exchange; returns the status and the whole body.
    async fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        self.send(method, path, content_type, body).await?;
        let (status, framing) = self.read_head().await?;
        let body = match framing {
            Framing::Length(n) => {
                self.buf.reserve(n.saturating_sub(self.rest().len()));
                while self.rest().len() < n {
                    self.fill().await?;
                }
                let body = self.rest()[..n].to_vec();
                self.consume(n);
                body
            }
            Framing::Chunked => {
                let mut out = Vec::new();
                while self.next_chunk(&mut out).await? {}
                out
            }
        };
        Ok((status, body))
    }
}

// ---------------------------------------------------------------------------------------------
// Fan-out tracking: each write carries a sequence number in status.lastHandledReconcileAt
// ("bench-<seq>"); watchers find it in the event line and record their arrival time.
// ---------------------------------------------------------------------------------------------

const SLOTS: usize = 1 << 16;
const MARKER: &[u8] = b"\"lastHandledReconcileAt\":\"bench-";

struct Tracker {
    base: Instant,
    sent: Vec<AtomicU64>,
    last_arrival: Vec<AtomicU64>,
    arrivals: Vec<AtomicU32>,
    notify: Notify,
}

impl Tracker {
    fn new() -> Tracker {
        Tracker {
            base: Instant::now(),
            sent: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            last_arrival: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            arrivals: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
            notify: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Resets a slot just before its write is sent.
    fn start(&self, seq: u64) {
        let s = seq as usize % SLOTS;
        self.arrivals[s].store(0, Ordering::SeqCst);
        self.last_arrival[s].store(0, Ordering::SeqCst);
        self.sent[s].store(self.now(), Ordering::SeqCst);
    }

    fn arrived(&self, seq: u64) {
        let s = seq as usize % SLOTS;
        self.last_arrival[s].fetch_max(self.now(), Ordering::SeqCst);
        if self.arrivals[s].fetch_add(1, Ordering::SeqCst) + 1 == WATCHERS {
            self.notify.notify_waiters();
        }
    }

    fn complete(&self, seq: u64) -> bool {
        self.arrivals[seq as usize % SLOTS].load(Ordering::SeqCst) >= WATCHERS
    }

    /// Write-to-last-watcher latency of a completed write.
    fn latency(&self, seq: u64) -> Duration {
        let s = seq as usize % SLOTS;
        Duration::from_nanos(
            self.last_arrival[s]
                .load(Ordering::SeqCst)
                .saturating_sub(self.sent[s].load(Ordering::SeqCst)),
        )
    }

    /// Waits until every watcher has seen `seq` (false on timeout).
    async fn wait(&self, seq: u64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut notified = pin!(self.notify.notified());
            notified.as_mut().enable();
            if self.complete(seq) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.complete(seq);
            }
        }
    }
}

fn parse_marker(line: &[u8]) -> Option<u64> {
    // The marker sits near the end of the object (status keys are serialized in sorted order).
    let at = line.windows(MARKER.len()).rposition(|w| w == MARKER)? + MARKER.len();
    let digits = &line[at..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// Reads a watch stream forever, recording every marked event.
async fn watcher(mut http: Http, tracker: Arc<Tracker>) {
    let mut pending: Vec<u8> = Vec::new();
    while let Ok(true) = http.next_chunk(&mut pending).await {
        // The server sends one event line per chunk; a line split over chunks waits for its end.
        let mut start = 0;
        while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
            if let Some(seq) = parse_marker(&pending[start..start + nl]) {
                tracker.arrived(seq);
            }
            start += nl + 1;
        }
        pending.drain(..start);
    }
}

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

struct Bench {
    server: Server,
    cluster: Cluster,
    addr: SocketAddr,
    token: String,
    tracker: Arc<Tracker>,
    next_seq: Arc<AtomicU64>,
    list_bytes: usize,
}

async fn in_process(cluster: &Cluster, method: &str, path: &str, ct: &str, body: Vec<u8>) -> u16 {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", ct)
        .body(Body::from(body))
        .expect("valid request");
    let resp = cluster
        .router()
        .oneshot(req)
        .await
        .expect("router is infallible");
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

fn status_patch_body(i: usize, seq: u64) -> Vec<u8> {
    kustomization::status_patch(i, &format!("bench-{seq}"))
        .to_string()
        .into_bytes()
}

async fn setup() -> Bench {
    let server = Server::start(ServerOptions {
        clusters: vec!["bench".into()],
        cluster: ClusterOptions {
            simulate: false,
            ..ClusterOptions::default()
        },
        ..ServerOptions::default()
    })
    .await
    .expect("server starts");
    let rc = &server.clusters()[0];
    let (cluster, addr, token) = (rc.cluster.clone(), rc.addr, rc.token.clone());
    let t0 = Instant::now();
    let ns = kustomization::namespace_body().to_string().into_bytes();
    assert_eq!(
        in_process(
            &cluster,
            "POST",
            "/api/v1/namespaces",
            "application/json",
            ns
        )
        .await,
        201
    );
    let coll = format!(
        "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{}/kustomizations",
        kustomization::NAMESPACE
    );
    for i in 0..OBJECTS {
        let body = kustomization::create_body(i).to_string().into_bytes();
        assert_eq!(
            in_process(&cluster, "POST", &coll, "application/json", body).await,
            201
        );
        let path = format!("{}/status", kustomization::object_path(i));
        let patch = kustomization::status_patch(i, "2026-01-01T00:00:00Z")
            .to_string()
            .into_bytes();
        assert_eq!(
            in_process(
                &cluster,
                "PATCH",
                &path,
                "application/merge-patch+json",
                patch
            )
            .await,
            200
        );
    }
    eprintln!(
        "setup: {OBJECTS} creates + status patches (in-process) in {:?}",
        t0.elapsed()
    );

    let mut http = Http::connect(addr, &token).await.expect("connect");
    let (s, one) = http
        .request("GET", &kustomization::object_path(0), "", b"")
        .await
        .expect("get");
    assert_eq!(s, 200);
    let (s, list) = http
        .request("GET", kustomization::LIST_PATH, "", b"")
        .await
        .expect("list");
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_slice(&list).expect("list is JSON");
    let items = v["items"].as_array().map_or(0, Vec::len);
    assert_eq!(items, OBJECTS);
    let rv = v["metadata"]["resourceVersion"]
        .as_str()
        .expect("list has a resourceVersion")
        .to_string();
    eprintln!(
        "one object: {} bytes of JSON; full list: {} items, {} bytes",
        one.len(),
        items,
        list.len()
    );

    let tracker = Arc::new(Tracker::new());
    for _ in 0..WATCHERS {
        let mut w = Http::connect(addr, &token).await.expect("connect");
        let path = format!(
            "{}?watch=true&resourceVersion={rv}&timeoutSeconds=3600",
            kustomization::LIST_PATH
        );
        w.send("GET", &path, "", b"").await.expect("watch request");
        let (s, framing) = w.read_head().await.expect("watch head");
        assert_eq!(s, 200);
        assert!(matches!(framing, Framing::Chunked));
        tokio::spawn(watcher(w, tracker.clone()));
    }
    let bench = Bench {
        server,
        cluster,
        addr,
        token,
        tracker,
        next_seq: Arc::new(AtomicU64::new(1)),
        list_bytes: list.len(),
    };
    // Warm-up writes also prove every watcher is subscribed.
    let mut writer = Http::connect(addr, &bench.token).await.expect("connect");
    for _ in 0..50 {
        let lat = one_write(&bench, &mut writer).await;
        assert!(lat.is_some(), "a warm-up write did not reach all watchers");
    }
    bench
}

/// One status patch; returns the write-to-last-watcher latency (None if some watcher missed it).
async fn one_write(b: &Bench, http: &mut Http) -> Option<Duration> {
    let seq = b.next_seq.fetch_add(1, Ordering::SeqCst);
    let i = seq as usize % OBJECTS;
    let body = status_patch_body(i, seq);
    let path = format!("{}/status", kustomization::object_path(i));
    b.tracker.start(seq);
    let (s, _) = http
        .request("PATCH", &path, "application/merge-patch+json", &body)
        .await
        .ok()?;
    if s != 200 {
        return None;
    }
    b.tracker
        .wait(seq, Duration::from_secs(10))
        .await
        .then(|| b.tracker.latency(seq))
}

// ---------------------------------------------------------------------------------------------
// Paced run
// ---------------------------------------------------------------------------------------------

async fn paced(b: &Bench, secs: u64) {
    let total = WRITES_PER_SEC * secs;
    let mut lanes = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..WRITERS {
        let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
        lanes.push(tx);
        let mut http = Http::connect(b.addr, &b.token).await.expect("connect");
        let tracker = b.tracker.clone();
        handles.push(tokio::spawn(async move {
            let mut failed = 0u64;
            while let Some(seq) = rx.recv().await {
                let i = seq as usize % OBJECTS;
                let body = status_patch_body(i, seq);
                let path = format!("{}/status", kustomization::object_path(i));
                tracker.start(seq);
                match http
                    .request("PATCH", &path, "application/merge-patch+json", &body)
                    .await
                {
                    Ok((200, _)) => {}
                    _ => failed += 1,
                }
            }
            failed
        }));
    }
    let first = b.next_seq.fetch_add(total, Ordering::SeqCst);
    let mut ticker = tokio::time::interval(Duration::from_nanos(1_000_000_000 / WRITES_PER_SEC));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let t0 = Instant::now();
    for k in 0..total {
        ticker.tick().await;
        let _ = lanes[k as usize % WRITERS].send(first + k);
    }
    let issue_time = t0.elapsed();
    drop(lanes);
    let mut failed = 0;
    for h in handles {
        failed += h.await.unwrap_or(0);
    }
    let mut lat: Vec<Duration> = Vec::with_capacity(total as usize);
    let mut missed = 0;
    for seq in first..first + total {
        if b.tracker.wait(seq, Duration::from_secs(10)).await {
            lat.push(b.tracker.latency(seq));
        } else {
            missed += 1;
        }
    }
    let wall = t0.elapsed();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "paced_fanout: {total} status patches at {WRITES_PER_SEC}/s over {WRITERS} connections, {WATCHERS} watchers"
    );
    println!(
        "paced_fanout: issued in {issue_time:.2?}, all delivered after {wall:.2?} ({:.0} writes/s achieved); failed writes {failed}, events missed by some watcher {missed}",
        total as f64 / wall.as_secs_f64()
    );
    println!(
        "paced_fanout: write -> all {WATCHERS} watchers latency: median {:.3?}  p90 {:.3?}  p99 {:.3?}  max {:.3?}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
}

/// The positional arguments (criterion filters) of the command line.
fn filters() -> Vec<String> {
    let with_value = [
        "--save-baseline",
        "-s",
        "--baseline",
        "-b",
        "--baseline-lenient",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--plotting-backend",
        "--output-format",
        "--color",
        "-c",
        "--profile-time",
    ];
    let mut out = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if with_value.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            out.push(a);
        }
    }
    out
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let bench = rt.block_on(setup());
    let test_mode = std::env::args().any(|a| a == "--test");
    let mut c = Criterion::default().configure_from_args();

    {
        let mut g = c.benchmark_group("apiserver_list_10k");
        g.sample_size(20);
        g.throughput(criterion::Throughput::Bytes(bench.list_bytes as u64));
        g.bench_function("in_process_router", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let req = http::Request::builder()
                        .uri(kustomization::LIST_PATH)
                        .body(Body::empty())
                        .expect("valid request");
                    let resp = bench
                        .cluster
                        .router()
                        .oneshot(req)
                        .await
                        .expect("router is infallible");
                    let body = resp.into_body().collect().await.expect("body").to_bytes();
                    assert!(body.len() >= bench.list_bytes / 2);
                    body
                })
            })
        });
        let mut http = rt
            .block_on(Http::connect(bench.addr, &bench.token))
            .expect("connect");
        g.bench_function("tcp", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let (s, body) = http
                        .request("GET", kustomization::LIST_PATH, "", b"")
                        .await
                        .expect("list over TCP");
                    assert_eq!(s, 200);
                    body
                })
            })
        });
        g.finish();
    }

    {
        let mut g = c.benchmark_group("apiserver_write_fanout");
        let mut http = rt
            .block_on(Http::connect(bench.addr, &bench.token))
            .expect("connect");
        g.bench_function("status_patch_20_watchers", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut sum = Duration::ZERO;
                    for _ in 0..iters {
                        sum += one_write(&bench, &mut http)
                            .await
                            .expect("every watcher receives the write");
                    }
                    sum
                })
            })
        });
        g.finish();
    }

    let f = filters();
    if f.is_empty() || f.iter().any(|f| "paced_fanout".contains(f.as_str())) {
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!("paced_fanout: load average before the run: {}", load.trim());
        rt.block_on(paced(&bench, if test_mode { 1 } else { PACED_SECS }));
    }
    println!(
        "objects stored at the end: {}",
        bench.cluster.object_count()
    );
    c.final_summary();
    rt.block_on(bench.server.shutdown());
}
