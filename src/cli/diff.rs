//! `flotilla diff ks NAME`: what applying a Kustomization would change, like `flux diff`: the
//! desired objects are built exactly as the bundled reconciler builds them (from a local directory
//! with `--path`, else from the source artifact in the controller's data directory), dry-run with
//! server-side apply and compared with the live objects.

use anyhow::{Context, Result, anyhow, bail};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use super::tree::{Format, block_on, connect, gitops_ref, must_get};
use crate::diff::{self, live::LiveClient};
use crate::reconcile::kustomization::desired;
use crate::reconcile::kustomization::spec::parse_kustomization;
use crate::reconcile::source::{Artifact, ArtifactStore};

/// What to diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffKind {
    /// A Flux Kustomization.
    #[value(alias = "kustomization")]
    Ks,
}

/// Arguments of `flotilla diff`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  flotilla diff ks apps -n flux-system --path ./apps/dev     # review a local change before pushing
  flotilla diff ks apps -n flux-system                       # the artifact the controller fetched vs the cluster
  flotilla diff ks apps --data-dir /var/lib/flotilla -o json

Exit status: 0 no change, 1 changes, 2 error (as `flux diff`).")]
pub struct Args {
    /// `ks`.
    #[arg(value_enum)]
    pub kind: DiffKind,
    /// The Kustomization's name.
    pub name: String,
    /// Namespace of the Kustomization.
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
}

/// Runs `flotilla diff`: exit 0 no change, 1 changes, 2 error.
pub fn run(args: Args) -> ExitCode {
    block_on("diff", run_diff(args))
}

/// The controller's default data directory (as `flotilla controller` picks it).
fn default_data_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|d| d.join("flotilla").join("controller"))
}

/// The root to build from and the spec.path to use for a local `--path` directory: when `dir`
/// ends with the Kustomization's `spec.path`, the directory above it (so `../base` references
/// resolve as in the artifact); else `dir` itself with path `.`.
pub fn local_root(dir: &Path, spec_path: &str) -> (PathBuf, String) {
    let parts: Vec<&str> = Path::new(spec_path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => p.to_str(),
            _ => None,
        })
        .collect();
    let mut root = dir.to_path_buf();
    for p in parts.iter().rev() {
        if root.file_name().and_then(|n| n.to_str()) != Some(*p) {
            return (dir.to_path_buf(), ".".to_string());
        }
        root.pop();
    }
    (root, spec_path.to_string())
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn run_diff(args: Args) -> Result<ExitCode> {
    let (context, client) = connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let live = LiveClient::new(client.clone());
    let DiffKind::Ks = args.kind;
    let ks = must_get(
        &live,
        &gitops_ref("Kustomization", &args.namespace, &args.name)?,
    )
    .await?;
    let mut spec = parse_kustomization(&ks)
        .map_err(|e| anyhow!("Kustomization {}/{}: {e}", args.namespace, args.name))?;
    let mut _scratch = None;
    let root = match &args.path {
        Some(dir) => {
            let dir = dir
                .canonicalize()
                .with_context(|| format!("--path {}", dir.display()))?;
            if !dir.is_dir() {
                bail!("--path {} is not a directory", dir.display());
            }
            let (root, path) = local_root(&dir, &spec.path);
            spec.path = path;
            root
        }
        None => {
            let data_dir = args
                .data_dir
                .clone()
                .or_else(default_data_dir)
                .ok_or_else(|| {
                    anyhow!("no data directory: pass --data-dir or --path (HOME is unset)")
                })?;
            let source_ref = crate::model::tree::source_of(&ks)
                .ok_or_else(|| anyhow!("Kustomization has no spec.sourceRef"))?;
            let source = must_get(&live, &source_ref).await?;
            let artifact = source
                .pointer("/status/artifact")
                .and_then(Artifact::from_status)
                .ok_or_else(|| anyhow!("{} has no artifact yet", source_ref.display()))?;
            let store = ArtifactStore::new(data_dir.join(&context).join("artifacts"));
            let dir = std::env::temp_dir()
                .join(format!("flotilla-diff-{}", uuid::Uuid::new_v4().simple()));
            let scratch = Scratch(dir.clone());
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            store.extract(&artifact, &dir).with_context(|| {
                format!(
                    "artifact {} of {} (is --data-dir the controller's?)",
                    artifact.revision,
                    source_ref.display()
                )
            })?;
            _scratch = Some(scratch);
            dir
        }
    };
    let sources = desired::substitute_sources(&client, &spec, &args.namespace).await?;
    let refs: Vec<Option<&serde_json::Value>> = sources.iter().map(Option::as_ref).collect();
    let stages = desired::desired_stages(&root, &spec, &args.name, &args.namespace, &refs)?;
    let report = diff::diff_kustomization(&live, &ks, &stages).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_root_strips_the_spec_path_suffix() {
        assert_eq!(
            local_root(Path::new("/repo/apps/dev"), "./apps/dev"),
            (PathBuf::from("/repo"), "./apps/dev".to_string())
        );
        assert_eq!(
            local_root(Path::new("/elsewhere/x"), "./apps/dev"),
            (PathBuf::from("/elsewhere/x"), ".".to_string())
        );
        assert_eq!(
            local_root(Path::new("/repo"), "./"),
            (PathBuf::from("/repo"), "./".to_string())
        );
    }
}
