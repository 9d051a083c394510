//! `flotilla trace`: which Kustomization (or HelmRelease) manages an object, from which source,
//! revision and path — like `flux trace`.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

use super::connect::{block_on, connect};
use crate::model::trace;
use crate::model::tree::ObjectRef;
use crate::views::diff::live::LiveClient;

/// Arguments of `flotilla trace`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  flotilla trace deployment podinfo -n apps          # → Kustomization → GitRepository
  flotilla trace configmap app-config -n apps --context staging
  flotilla trace ks apps -n flux-system              # a Kustomization managed by another one

Exit status: 0 traced (managed or not), 2 error (object not found, cluster unreachable).")]
pub struct Args {
    /// The kind, as kubectl takes it (`deployment`, `deploy`, `Deployment`, `deployments.apps`, `ks`).
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// Namespace (default: default; ignored for cluster-scoped kinds).
    #[arg(short = 'n', long, value_name = "NS", default_value = "default")]
    pub namespace: String,
    /// Kubeconfig context (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Kubeconfig file (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

/// Runs `flotilla trace`.
pub fn run(args: Args) -> ExitCode {
    block_on("trace", run_trace(args))
}

async fn run_trace(args: Args) -> Result<ExitCode> {
    let (_, client) = connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let live = LiveClient::new(client);
    let (api_version, kind, namespaced) = match crate::model::lookup(&args.kind) {
        Some(info) => (
            info.api_version(),
            info.kind.to_string(),
            info.scope == crate::model::Scope::Namespaced,
        ),
        None => live.resolve_user_kind(&args.kind).await?,
    };
    let (group, version) = api_version
        .rsplit_once('/')
        .map_or((String::new(), api_version.clone()), |(g, v)| {
            (g.to_string(), v.to_string())
        });
    let me = ObjectRef {
        group,
        version,
        kind,
        namespace: if namespaced {
            args.namespace.clone()
        } else {
            String::new()
        },
        name: args.name.clone(),
    };
    let traced = crate::views::trace_object(&live, &me).await?;
    print!("{}", trace::render_text(&traced));
    Ok(ExitCode::SUCCESS)
}
