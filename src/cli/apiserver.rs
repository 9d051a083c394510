//! `flotilla apiserver`: run the embedded Kubernetes API server.

use crate::apiserver::{ClusterOptions, Server, ServerOptions};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `flotilla apiserver`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  flotilla apiserver --kubeconfig-out /tmp/flotilla.kubeconfig
      three clusters (dev, staging, production) on random loopback ports
  KUBECONFIG=/tmp/flotilla.kubeconfig kubectl --context staging get ns
      talk to one of them
  flotilla apiserver --clusters dev --listen 127.0.0.1:6443 --kubeconfig-out ./kc \\
      --crds ./crds --no-simulate
      one cluster on a fixed port, with extra CRDs and no workload simulation")]
pub struct Args {
    /// Address to listen on. Port 0 picks a random port per cluster; a fixed port P serves the
    /// clusters on P, P+1, ...
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Names of the virtual clusters (comma-separated); one kubeconfig context each.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "dev,staging,production",
        value_name = "NAMES"
    )]
    pub clusters: Vec<String>,
    /// Write the kubeconfig (one context per cluster, token auth, mode 0600) here.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_out: PathBuf,
    /// Preinstall every CustomResourceDefinition found in the YAML/JSON files of this directory
    /// (repeatable).
    #[arg(long = "crds", value_name = "DIR")]
    pub crds: Vec<PathBuf>,
    /// Do not preinstall flotilla's compact Flux and Argo CD CRDs.
    #[arg(long)]
    pub no_builtin_crds: bool,
    /// Do not run the workload simulator (Deployments stay unready, Jobs never finish).
    #[arg(long)]
    pub no_simulate: bool,
    /// How long the simulator takes to converge a rollout (e.g. 2s, 500ms, 1m).
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    pub rollout_delay: Duration,
}

/// Parses a Go duration (`500ms`, `2s`, `1m30s`); a bare number means seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    match s.parse::<f64>() {
        Ok(secs) => {
            Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
        }
        Err(_) => crate::model::time::parse_duration(s),
    }
}

/// Reads every CRD in the `.yaml`/`.yml`/`.json` files of a directory (multi-document YAML allowed).
fn load_crds(dir: &Path) -> Result<Vec<Value>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read CRD directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
        let docs: Vec<Value> = serde_saphyr::from_str_multiple(&text)
            .map_err(|e| anyhow::anyhow!("{}: not valid YAML: {e}", f.display()))?;
        out.extend(
            docs.into_iter().filter(|d| {
                d.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
            }),
        );
    }
    Ok(out)
}

async fn serve(args: Args) -> Result<()> {
    if !args.listen.ip().is_loopback() {
        eprintln!(
            "warning: listening on {} (not loopback): anyone who can reach it and has a token gets full access",
            args.listen
        );
    }
    let mut extra = Vec::new();
    for dir in &args.crds {
        extra.extend(load_crds(dir)?);
    }
    let clusters: Vec<String> = args
        .clusters
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if clusters.is_empty() {
        bail!("--clusters needs at least one name");
    }
    let opts = ServerOptions {
        listen: args.listen,
        clusters,
        cluster: ClusterOptions {
            builtin_crds: !args.no_builtin_crds,
            extra_crds: extra,
            simulate: !args.no_simulate,
            rollout_delay: args.rollout_delay,
            ..ClusterOptions::default()
        },
    };
    let stop = super::signals::StopSignals::install()?;
    let server = Server::start(opts).await?;
    server.write_kubeconfig(&args.kubeconfig_out)?;
    println!("kubeconfig: {}", args.kubeconfig_out.display());
    let width = server
        .clusters()
        .iter()
        .map(|c| c.cluster.name().len())
        .max()
        .unwrap_or(0);
    for c in server.clusters() {
        println!("{:width$}  {}", c.cluster.name(), c.url());
    }
    tracing::info!("apiserver serving {} cluster(s)", server.clusters().len());
    stop.wait().await;
    eprintln!("shutting down");
    server.shutdown().await;
    Ok(())
}

/// Runs the server until SIGINT/SIGTERM.
pub fn run(args: Args, _verbose: u8) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flotilla apiserver: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flotilla apiserver: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("2x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn upstream_crds_load() {
        let flux = load_crds(Path::new("/work/shared/crds/flux"));
        if let Ok(crds) = flux {
            assert!(crds.len() >= 14);
        }
    }
}
