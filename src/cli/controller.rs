//! `flotilla controller`: the bundled reconciler, headless (GitRepository, Kustomization and the
//! image automation kinds).

use crate::cluster::{Contexts, KubeconfigSource};
use crate::controllers::bundle::{ClusterConnection, Controller, ControllerOptions};
use crate::controllers::source::storage;
use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `flotilla controller`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  flotilla controller -v
      reconcile every context of the kubeconfig, one line per reconcile on stderr
  flotilla controller --kubeconfig /tmp/flotilla.kubeconfig --context staging --concurrent 8
      one embedded cluster (see `flotilla apiserver`), eight reconciles at a time
  flotilla controller --namespace flux-system --watch-label-selector team=platform
      only the labelled objects of one namespace
  flotilla controller --storage-addr 0.0.0.0:9090 --storage-adv-addr artifacts.example:9090
      serve artifacts to other machines; status.artifact.url points at artifacts.example:9090
  flotilla controller --events-addr 127.0.0.1:9090 --receiver-addr 0.0.0.0:9292
      accept Flux events from other controllers; serve Receiver webhooks to Git hosts

Reconciles GitRepository (source.toolkit.fluxcd.io/v1), Kustomization
(kustomize.toolkit.fluxcd.io/v1), ImageRepository, ImagePolicy and ImageUpdateAutomation
(image.toolkit.fluxcd.io/v1) objects the way Flux's source-, kustomize-, image-reflector- and
image-automation-controller do. Artifacts, git caches and scanned tags live under
--data-dir/<context>/. Artifacts are served read-only over HTTP at
http://<storage address>/<context>/<artifact path> (status.artifact.url), by default on a free
loopback port. Events of every reconcile (and those posted to --events-addr) are sent to the
Providers of matching Alerts (notification.toolkit.fluxcd.io/v1beta3); Receivers (v1) get their
webhook path in status.webhookPath. SIGINT/SIGTERM stop it after the in-flight reconciles finish (at most 30 s).")]
pub struct Args {
    /// Kubeconfig file (default: KUBECONFIG, several files merged like kubectl, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Reconcile this context (repeatable; default: every context of the kubeconfig).
    #[arg(long = "context", value_name = "NAME")]
    pub contexts: Vec<String>,
    /// Only reconcile objects in this namespace (default: all namespaces).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Reconciles running at once per context.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrent: u16,
    /// Only reconcile objects matching this label selector (e.g. `team=platform,tier!=test`).
    #[arg(long, value_name = "SELECTOR")]
    pub watch_label_selector: Option<String>,
    /// Where artifacts and git caches are kept (default: $XDG_DATA_HOME/flotilla/controller).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Serve artifacts over HTTP on this address (`off`: no server, placeholder URLs; port 0: any
    /// free port). Listening beyond loopback needs an explicit address.
    #[arg(long, value_name = "ADDR|off", default_value = "127.0.0.1:0", value_parser = parse_storage_addr)]
    pub storage_addr: StorageAddr,
    /// The address written into status.artifact.url (`host:port`, or a URL prefix such as
    /// `https://artifacts.example`; default: the bound address).
    #[arg(long, value_name = "ADDR")]
    pub storage_adv_addr: Option<String>,
    /// Accept GitRepository `file://` URLs (off by default: they would archive and serve any
    /// directory the controller can read; Flux accepts only http, https and ssh).
    #[arg(long)]
    pub allow_file_urls: bool,
    /// Refuse remote bases (HTTP files, Git repositories) in kustomizations, like Flux's
    /// kustomize-controller `--no-remote-bases`; all resources must then be in the source artifact.
    #[arg(long)]
    pub no_remote_bases: bool,
    /// Accept Flux events (`POST /` with an event JSON, as Flux controllers send them to
    /// notification-controller) on this address (`off`: no intake).
    #[arg(long, value_name = "ADDR|off", default_value = "off", value_parser = parse_storage_addr)]
    pub events_addr: StorageAddr,
    /// Serve Receiver webhooks (`/hook/<sha256>`) on this address (`off`: no webhook server).
    #[arg(long, value_name = "ADDR|off", default_value = "off", value_parser = parse_storage_addr)]
    pub receiver_addr: StorageAddr,
    /// Also reconcile Argo CD Applications (off by default: a cluster running Argo CD must not
    /// have two application controllers).
    #[arg(long)]
    pub argo_applications: bool,
}

/// The `--storage-addr` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageAddr {
    /// `off`: no storage server.
    Off,
    /// Listen here.
    On(SocketAddr),
}

impl StorageAddr {
    /// The address, `None` for `off`.
    pub fn addr(self) -> Option<SocketAddr> {
        match self {
            StorageAddr::Off => None,
            StorageAddr::On(a) => Some(a),
        }
    }
}

fn parse_storage_addr(s: &str) -> Result<StorageAddr, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(StorageAddr::Off);
    }
    s.parse::<SocketAddr>()
        .map(StorageAddr::On)
        .map_err(|e| format!("{s:?} is not `off` or an IP:PORT address ({e})"))
}

/// The default data directory: `$XDG_DATA_HOME/flotilla/controller`, else `~/.local/share/...`.
fn default_data_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|d| d.join("flotilla").join("controller"))
}

/// Runs the controller until SIGINT/SIGTERM.
pub fn run(args: Args, verbose: u8) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flotilla controller: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(controller(args, verbose)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flotilla controller: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn controller(args: Args, verbose: u8) -> Result<()> {
    if let Some(sel) = &args.watch_label_selector {
        crate::model::selector::LabelSelector::parse(sel)
            .map_err(|e| anyhow::anyhow!("invalid --watch-label-selector '{sel}': {e}"))?;
    }
    if args.storage_addr == StorageAddr::Off && args.storage_adv_addr.is_some() {
        bail!("--storage-adv-addr needs the storage server; drop --storage-addr off");
    }
    let source = KubeconfigSource::from_env(args.kubeconfig.as_deref())?;
    let contexts = Contexts::load(&source)?;
    let selected = contexts.select(&args.contexts)?;
    if selected.is_empty() {
        bail!("the kubeconfig has no contexts; pass --kubeconfig or set KUBECONFIG");
    }
    let data_dir = match args.data_dir.or_else(default_data_dir) {
        Some(d) => d,
        None => bail!("no data directory: pass --data-dir (HOME and XDG_DATA_HOME are unset)"),
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let mut clusters = Vec::new();
    for name in &selected {
        let options = kube::config::KubeConfigOptions {
            context: Some(name.clone()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(contexts.kubeconfig().clone(), &options)
            .await
            .with_context(|| format!("context {name}: cannot build a client configuration"))?;
        let client = kube::Client::try_from(config.clone())
            .with_context(|| format!("context {name}: cannot build a client"))?;
        clusters.push(ClusterConnection {
            name: name.clone(),
            client,
            config: Some(config),
        });
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = ControllerOptions {
        data_dir: data_dir.clone(),
        concurrency: usize::from(args.concurrent),
        namespace: args.namespace,
        label_selector: args.watch_label_selector,
        reports: (verbose > 0).then_some(tx),
        storage_addr: match args.storage_addr {
            StorageAddr::Off => None,
            StorageAddr::On(a) => Some(a),
        },
        storage_adv_addr: args.storage_adv_addr,
        allow_file_urls: args.allow_file_urls,
        no_remote_bases: args.no_remote_bases,
        events_addr: args.events_addr.addr(),
        receiver_addr: args.receiver_addr.addr(),
        argo_applications: args.argo_applications,
        ..ControllerOptions::default()
    };
    let stop = super::signals::StopSignals::install()?;
    let controller = Controller::try_start_connections(clusters, &opts)?;
    eprintln!(
        "flotilla controller: reconciling Flux sources, Kustomizations and image automation in {} (data in {}); Ctrl-C stops",
        selected.join(", "),
        data_dir.display()
    );
    match controller.storage_addr() {
        Some(addr) => eprintln!(
            "flotilla controller: serving artifacts on http://{addr}/ (status.artifact.url: {}/…)",
            storage::advertised_base(
                &opts
                    .storage_adv_addr
                    .clone()
                    .unwrap_or_else(|| storage::advertisable(addr).to_string()),
                "<context>"
            )
        ),
        None => eprintln!("flotilla controller: artifact storage server off"),
    }
    for (wanted, bound, what) in [
        (opts.events_addr, controller.events_addr(), "event intake"),
        (
            opts.receiver_addr,
            controller.receiver_addr(),
            "webhook receiver",
        ),
    ] {
        match (wanted, bound) {
            (Some(_), Some(addr)) => eprintln!("flotilla controller: {what} on http://{addr}/"),
            (Some(addr), None) => {
                controller.shutdown().await;
                bail!("cannot start the {what} on {addr} (see the log)");
            }
            _ => {}
        }
    }
    let printer = tokio::spawn(async move {
        while let Some(r) = rx.recv().await {
            eprintln!(
                "{} {} ({:.1}s): {}",
                r.cluster,
                r.key,
                r.took.as_secs_f64(),
                r.summary
            );
        }
    });
    stop.wait().await;
    eprintln!("flotilla controller: stopping; waiting for in-flight reconciles");
    controller.shutdown().await;
    printer.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_addresses_parse() {
        assert_eq!(parse_storage_addr("off"), Ok(StorageAddr::Off));
        assert_eq!(parse_storage_addr("OFF"), Ok(StorageAddr::Off));
        assert_eq!(
            parse_storage_addr("127.0.0.1:0"),
            Ok(StorageAddr::On("127.0.0.1:0".parse().unwrap()))
        );
        assert_eq!(
            parse_storage_addr("[::]:9090"),
            Ok(StorageAddr::On("[::]:9090".parse().unwrap()))
        );
        assert!(parse_storage_addr(":9090").is_err());
        assert!(parse_storage_addr("localhost:9090").is_err());
        assert!(parse_storage_addr("").is_err());
    }
}
