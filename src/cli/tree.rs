//! `flotilla tree`: the health tree of a Kustomization or an Argo CD Application, or the dependsOn
//! chains of a Kustomization, printed from the live cluster.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

use super::connect::{Format, block_on, connect, default_data_dir, gitops_ref, warn};
use crate::model::depends;
use crate::model::tree::{self, HealthTree};
use crate::views;
use crate::views::diff::live::LiveClient;

/// What to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TreeKind {
    /// A Flux Kustomization's health tree.
    #[value(alias = "kustomization")]
    Ks,
    /// A Flux HelmRelease's health tree (chart source → release → objects carrying its labels).
    #[value(alias = "helmrelease")]
    Hr,
    /// An Argo CD Application's health tree.
    #[value(alias = "application")]
    App,
    /// A Kustomization's dependsOn chain, reverse chain and blocker.
    #[value(alias = "dependson")]
    Deps,
}

/// Arguments of `flotilla tree`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  flotilla tree ks apps -n flux-system              # source → Kustomization → inventory, with the root cause
  flotilla tree ks flux-system -o json              # the same as JSON
  flotilla tree hr podinfo -n apps                  # HelmRelease: chart source → release → its objects
  flotilla tree app guestbook -n argocd             # an Argo CD Application from status.resources
  flotilla tree deps apps -n flux-system            # dependsOn chain, reverse chain, 'blocked by'")]
pub struct Args {
    /// `ks`, `hr`, `app` or `deps`.
    #[arg(value_enum)]
    pub kind: TreeKind,
    /// The object's name.
    pub name: String,
    /// Namespace (default: flux-system, argocd for apps).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Kubeconfig file (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The bundled controller's data directory, whose Git caches name the source's commit
    /// (default: $XDG_DATA_HOME/flotilla/controller).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Format,
}

/// Runs `flotilla tree`: exit 0 printed, 2 error.
pub fn run(args: Args) -> ExitCode {
    block_on("tree", tree(args))
}

/// The health tree of a Kustomization, fetched from the cluster (read failures on stderr).
pub async fn kustomization_health_tree(
    live: &LiveClient,
    namespace: &str,
    name: &str,
    local: &views::LocalData,
) -> Result<HealthTree> {
    let r = gitops_ref("Kustomization", namespace, name)?;
    let fetched = views::kustomization_tree(live, &r, local).await?;
    warn(&fetched.warnings);
    Ok(fetched.value)
}

/// The health tree of an Argo CD Application (read failures on stderr).
pub async fn application_health_tree(
    live: &LiveClient,
    namespace: &str,
    name: &str,
) -> Result<HealthTree> {
    let r = gitops_ref("Application", namespace, name)?;
    let fetched = views::application_tree(live, &r).await?;
    warn(&fetched.warnings);
    Ok(fetched.value)
}

async fn tree(args: Args) -> Result<ExitCode> {
    let (context, client) = connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let live = LiveClient::new(client);
    let local = views::LocalData {
        context,
        data_dir: args.data_dir.clone().or_else(default_data_dir),
    };
    let default_ns = match args.kind {
        TreeKind::App => "argocd",
        _ => "flux-system",
    };
    let ns = args.namespace.as_deref().unwrap_or(default_ns);
    let out = match args.kind {
        TreeKind::Ks | TreeKind::Hr | TreeKind::App => {
            let t = match args.kind {
                TreeKind::Ks => kustomization_health_tree(&live, ns, &args.name, &local).await?,
                TreeKind::Hr => {
                    let r = gitops_ref("HelmRelease", ns, &args.name)?;
                    let fetched = views::helm_release_tree(&live, &r).await?;
                    warn(&fetched.warnings);
                    fetched.value
                }
                _ => application_health_tree(&live, ns, &args.name).await?,
            };
            match args.output {
                Format::Text => tree::render_text(&t),
                Format::Json => format!("{}\n", serde_json::to_string_pretty(&t)?),
            }
        }
        TreeKind::Deps => {
            let me = gitops_ref("Kustomization", ns, &args.name)?;
            let view = views::depends_on(&live, &me).await?;
            match args.output {
                Format::Text => depends::render_text(&view),
                Format::Json => format!("{}\n", serde_json::to_string_pretty(&view)?),
            }
        }
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
