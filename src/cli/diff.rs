//! `flotilla diff ks NAME`: what applying a Kustomization would change, like `flux diff`: the
//! desired objects are built exactly as the bundled reconciler builds them (from a local directory
//! with `--path`, else from the source artifact in the controller's data directory), dry-run with
//! server-side apply and compared with the live objects.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

use super::connect::{Format, block_on, connect, default_data_dir, gitops_ref};
use crate::views::diff::{self, live::LiveClient};
use crate::views::{self, DesiredSource};

/// What to diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffKind {
    /// A Flux Kustomization.
    #[value(alias = "kustomization")]
    Ks,
    /// A Flux HelmRelease.
    #[value(alias = "helmrelease")]
    Hr,
    /// An OCI artifact (`diff artifact oci://REPO:TAG --path DIR`, like `flux diff artifact`).
    Artifact,
}

/// Arguments of `flotilla diff`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  flotilla diff ks apps -n flux-system --path ./apps/dev     # review a local change before pushing
  flotilla diff ks apps -n flux-system                       # the artifact the controller fetched vs the cluster
  flotilla diff ks apps --data-dir /var/lib/flotilla -o json
  flotilla diff hr podinfo -n apps                           # the chart rendered now vs the cluster
  flotilla diff artifact oci://localhost:5000/apps:v1 --path ./deploy   # local dir vs a pushed artifact

Exit status: 0 no change, 1 changes, 2 error (as `flux diff`).")]
pub struct Args {
    /// `ks`, `hr` or `artifact`.
    #[arg(value_enum)]
    pub kind: DiffKind,
    /// The Kustomization's or HelmRelease's name (for `artifact`: the `oci://REPO:TAG` URL).
    pub name: String,
    /// Namespace of the Kustomization or HelmRelease.
    #[arg(short = 'n', long, value_name = "NS", default_value = "flux-system")]
    pub namespace: String,
    /// Build the desired objects from this local directory (the Kustomization's spec.path in your
    /// checkout) instead of the source artifact.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// The controller's data directory (artifacts under <DIR>/<context>/artifacts; default:
    /// $XDG_DATA_HOME/flotilla/controller).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Kubeconfig file (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Format,
    /// `artifact`: registry credentials, `user:password` (else the Docker config).
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "FLOTILLA_OCI_CREDS",
        hide_env_values = true
    )]
    pub creds: Option<String>,
    /// `artifact`: talk plain HTTP to the registry.
    #[arg(long)]
    pub insecure_registry: bool,
    /// `artifact`: gitignore patterns of local paths to leave out (comma separated).
    #[arg(long, value_name = "PATTERNS", value_delimiter = ',')]
    pub ignore_paths: Vec<String>,
}

/// Runs `flotilla diff`: exit 0 no change, 1 changes, 2 error.
pub fn run(args: Args) -> ExitCode {
    block_on("diff", run_diff(args))
}

async fn run_diff(args: Args) -> Result<ExitCode> {
    if args.kind == DiffKind::Hr {
        return super::diff_hr::run(args).await;
    }
    if let DiffKind::Artifact = args.kind {
        let Some(dir) = &args.path else {
            anyhow::bail!("diff artifact needs --path DIR");
        };
        return super::diff_artifact::diff_artifact(
            &args.name,
            dir,
            args.creds.as_deref(),
            args.insecure_registry,
            &args.ignore_paths,
            args.output,
        )
        .await;
    }
    let (context, client) = connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let live = LiveClient::new(client);
    let target = gitops_ref("Kustomization", &args.namespace, &args.name)?;
    let source = match &args.path {
        Some(dir) => DesiredSource::LocalDir(dir.clone()),
        None => DesiredSource::Artifact {
            data_dir: args.data_dir.clone().or_else(default_data_dir),
            context,
        },
    };
    let report = views::kustomization_diff(&live, &target, &source).await?;
    match args.output {
        Format::Text => print!("{}", diff::render_text(&report)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "summary": report.summary(),
                "objects": report.objects,
                "errors": report.errors,
            }))?
        ),
    }
    Ok(if !report.errors.is_empty() {
        ExitCode::from(2)
    } else if report.has_changes() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
