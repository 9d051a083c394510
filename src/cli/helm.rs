//! `flotilla helm`: render charts with the native Helm engine (`helm template`, `helm show values`).

use crate::helm::{self, TemplateOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `flotilla helm`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  flotilla helm template web ./charts/web -n apps -f prod.yaml --set image.tag=1.2.3
  flotilla helm template web ./charts/web --show-only templates/deployment.yaml
  flotilla helm show values ./charts/web
  flotilla helm history web -n apps -o json")]
pub struct Args {
    #[command(subcommand)]
    pub command: HelmCommand,
}

/// `flotilla helm` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum HelmCommand {
    /// Render a chart's templates locally and print them (like `helm template`).
    Template(Box<TemplateArgs>),
    /// Show information about a chart (`show values`).
    Show {
        #[command(subcommand)]
        what: ShowCommand,
    },
    /// Print a release's revisions from the cluster's release storage (like `helm history`).
    History(super::helm_history::HistoryArgs),
}

/// `flotilla helm show` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ShowCommand {
    /// Print the chart's values.yaml.
    Values {
        /// The chart directory.
        #[arg(value_name = "CHART")]
        chart: PathBuf,
    },
}

/// Arguments of `flotilla helm template`.
#[derive(Debug, clap::Args)]
pub struct TemplateArgs {
    /// Release name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The chart: a directory or a .tgz archive.
    #[arg(value_name = "CHART")]
    pub chart: PathBuf,
    /// Namespace of the release.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Values files, applied in order.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Values on the command line (`a.b=1,c[0]=x`), applied after the files.
    #[arg(long, value_name = "EXPR")]
    pub set: Vec<String>,
    /// Like --set, but every value is a string.
    #[arg(long = "set-string", value_name = "EXPR")]
    pub set_string: Vec<String>,
    /// JSON values on the command line (`a.b={"x":1}` or a whole JSON object), applied first.
    #[arg(long = "set-json", value_name = "EXPR")]
    pub set_json: Vec<String>,
    /// Values read from files (`key=path`), applied after --set-string.
    #[arg(long = "set-file", value_name = "EXPR")]
    pub set_file: Vec<String>,
    /// A literal string value (`key=everything after the first =`), applied last.
    #[arg(long = "set-literal", value_name = "EXPR")]
    pub set_literal: Vec<String>,
    /// Print only these templates (paths below the chart, e.g. templates/cm.yaml; globs allowed).
    #[arg(short = 's', long = "show-only", value_name = "TEMPLATE")]
    pub show_only: Vec<String>,
    /// Kubernetes version for .Capabilities (default v1.37.0, as helm v4.3.1).
    #[arg(long = "kube-version", value_name = "VERSION")]
    pub kube_version: Option<String>,
    /// Extra API versions for .Capabilities.APIVersions.
    #[arg(short = 'a', long = "api-versions", value_name = "VERSION")]
    pub api_versions: Vec<String>,
    /// Set .Release.IsUpgrade instead of .Release.IsInstall.
    #[arg(long = "is-upgrade")]
    pub is_upgrade: bool,
    /// Do not print hooks.
    #[arg(long = "no-hooks")]
    pub no_hooks: bool,
    /// Do not print test hooks.
    #[arg(long = "skip-tests")]
    pub skip_tests: bool,
    /// Print the charts' CRDs (crds/ directories) before the templates.
    #[arg(long = "include-crds")]
    pub include_crds: bool,
    /// Accepted for compatibility: CRDs are never installed by `template`.
    #[arg(long = "skip-crds")]
    pub skip_crds: bool,
    /// Do not validate values against values.schema.json.
    #[arg(long = "skip-schema-validation")]
    pub skip_schema_validation: bool,
}

fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn fail(e: &helm::HelmError) -> ExitCode {
    eprintln!("Error: {e}");
    ExitCode::from(1)
}

/// Runs `flotilla helm`.
pub fn run(args: Args) -> ExitCode {
    match args.command {
        HelmCommand::History(a) => super::helm_history::run(a),
        HelmCommand::Template(a) => {
            let a = *a;
            let opts = TemplateOptions {
                release_name: a.name,
                namespace: a.namespace,
                value_files: a.values,
                set: a.set,
                set_string: a.set_string,
                set_json: a.set_json,
                set_file: a.set_file,
                set_literal: a.set_literal,
                include_crds: a.include_crds,
                skip_schema_validation: a.skip_schema_validation,
                show_only: a.show_only,
                kube_version: a.kube_version,
                api_versions: a.api_versions,
                is_upgrade: a.is_upgrade,
                no_hooks: a.no_hooks,
                skip_tests: a.skip_tests,
                limits: helm::Limits::default(),
            };
            match helm::template(&a.chart, &opts) {
                Ok(text) => print(&text),
                Err(e) => fail(&e),
            }
        }
        HelmCommand::Show {
            what: ShowCommand::Values { chart },
        } => match helm::show_values(&chart) {
            Ok(text) => print(&text),
            Err(e) => fail(&e),
        },
    }
}
