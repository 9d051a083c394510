//! `flotilla images`: why an ImagePolicy picked its tag — the repository's scan, every tag's fate,
//! the Git markers that reference the policy, the automation's last push and the image running in
//! each context (the console's `i` view, printed).

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

use super::connect::{Format, block_on, context_name, default_data_dir, load_contexts};
use crate::cluster::Clients;
use crate::views::images::decisions::{ImageOptions, ImageTarget, image_decisions_with};
use crate::views::images::report::render_text;

/// Arguments of `flotilla images`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  flotilla images ip podinfo -n flux-system          # an ImagePolicy: scan, tag fates, markers, push, running
  flotilla images ir podinfo -n flux-system          # every policy reading an ImageRepository
  flotilla images deploy podinfo -n apps --context prod   # the policies governing a Deployment's images
  flotilla images ip podinfo -n flux-system --all -o json # every tag, as JSON

Kinds: ip|imagepolicy, ir|imagerepository, deploy|deployment, sts|statefulset, ds|daemonset,
cj|cronjob. Tags are listed from the registry itself; Git markers are read from the source's
artifact (the controller's data directory when it runs here, else status.artifact.url).
Long tag lists show the chosen, candidate and previous tags and count the rest (--all lists them).

Exit status: 0 shown (errors of single parts are shown in the view), 2 error (object not found,
unknown kind, cluster unreachable).")]
pub struct Args {
    /// The kind: ip, ir, deploy, sts, ds, cj (or their full names).
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// Namespace (default: flux-system for ImagePolicy/ImageRepository, default for workloads).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Kubeconfig context of the object (default: the current context). Running images are
    /// looked up in every context of the kubeconfig.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Kubeconfig file (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The controller's data directory (artifacts under <DIR>/<context>/artifacts; default:
    /// $XDG_DATA_HOME/flotilla/controller).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// List every tag instead of counting the uninteresting ones by fate.
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Format,
}

/// Runs `flotilla images`: exit 0 shown, 2 error.
pub fn run(args: Args) -> ExitCode {
    block_on("images", images(args))
}

async fn images(args: Args) -> Result<ExitCode> {
    let contexts = load_contexts(args.kubeconfig.as_deref())?;
    let context = context_name(&contexts, args.context.as_deref())?;
    let image_kind = matches!(
        args.kind.to_ascii_lowercase().split('.').next(),
        Some(
            "ip" | "imagepolicy" | "imagepolicies" | "ir" | "imagerepository" | "imagerepositories"
        )
    );
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| if image_kind { "flux-system" } else { "default" }.to_string());
    let clients = Clients::new(contexts);
    let target = ImageTarget {
        context,
        kind: args.kind.clone(),
        namespace,
        name: args.name.clone(),
    };
    let options = ImageOptions {
        all: args.all,
        data_dir: args.data_dir.clone().or_else(default_data_dir),
        ..ImageOptions::default()
    };
    let decisions = image_decisions_with(&clients, &target, &options).await?;
    match args.output {
        Format::Text => print!("{}", render_text(&decisions)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&decisions)?),
    }
    Ok(ExitCode::SUCCESS)
}
