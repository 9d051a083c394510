//! Plumbing shared by the one-shot commands that read a live cluster (`tree`, `diff`, `trace`,
//! `images`): the async runtime, the kubeconfig context and client, the output format, the
//! controller's data directory. Kept apart so the command files do not import each other.

use anyhow::{Context, Result, anyhow};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cluster::{Contexts, KubeconfigSource};
use crate::model::tree::ObjectRef;
use crate::views;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people (trees indented like `flux tree`).
    Text,
    /// JSON (the same data a view renders).
    Json,
}

/// Runs a CLI future on a fresh runtime; prints its error and exits 2 on failure.
pub(crate) fn block_on<F>(command: &str, fut: F) -> ExitCode
where
    F: std::future::Future<Output = Result<ExitCode>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flotilla {command}: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(fut) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("flotilla {command}: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The kubeconfig's contexts (from `kubeconfig`, else KUBECONFIG / ~/.kube/config).
pub(crate) fn load_contexts(kubeconfig: Option<&Path>) -> Result<Contexts> {
    let source = KubeconfigSource::from_env(kubeconfig)?;
    Ok(Contexts::load(&source)?)
}

/// `context` if given, else the kubeconfig's current context.
pub(crate) fn context_name(contexts: &Contexts, context: Option<&str>) -> Result<String> {
    match context {
        Some(c) => Ok(c.to_string()),
        None => contexts
            .current()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("the kubeconfig has no current context; pass --context")),
    }
}

/// A client for `context` (else the kubeconfig's current context) and the context's name.
pub(crate) async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<(String, kube::Client)> {
    let contexts = load_contexts(kubeconfig)?;
    let name = context_name(&contexts, context)?;
    if !contexts.names().contains(&name) {
        return Err(anyhow!(
            "context {name} is not in the kubeconfig (known: {})",
            contexts.names().join(", ")
        ));
    }
    let options = kube::config::KubeConfigOptions {
        context: Some(name.clone()),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(contexts.kubeconfig().clone(), &options)
        .await
        .with_context(|| format!("context {name}: cannot build a client configuration"))?;
    config.connect_timeout = Some(std::time::Duration::from_secs(5));
    let client = kube::Client::try_from(config)
        .with_context(|| format!("context {name}: cannot build a client"))?;
    Ok((name, client))
}

/// The identity of a GitOps object by its registry kind.
pub(crate) fn gitops_ref(kind: &str, namespace: &str, name: &str) -> Result<ObjectRef> {
    Ok(views::gitops_ref(kind, namespace, name, None)?)
}

/// Prints the read failures met while building a view (the objects show as missing).
pub(crate) fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

/// The bundled controller's default data directory (`$XDG_DATA_HOME/flotilla/controller`).
pub(crate) fn default_data_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|d| d.join("flotilla").join("controller"))
}
