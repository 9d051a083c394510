//! The command line: one file per subcommand.

pub mod apiserver;
pub mod build;
pub mod config;
pub mod connect;
pub mod console;
pub mod controller;
pub mod demo;
pub mod diff;
pub mod get;
pub mod helm;
pub mod helm_history;
pub mod images;
pub mod logging;
pub mod policy;
pub mod signals;
pub mod trace;
pub mod tree;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// flotilla — a terminal console for GitOps (Flux CD and Argo CD) with a bundled reconciler.
#[derive(Debug, Parser)]
#[command(name = "flotilla", version, args_conflicts_with_subcommands = true)]
#[command(after_help = "Examples:
  flotilla                                                       # the console: every context, all namespaces
  flotilla --context prod -c ks --readonly                       # one context, Kustomizations, no changes
  flotilla get ks -o json --fail-on-not-ready                    # the same rows for scripts and CI
  flotilla apiserver --kubeconfig-out /tmp/flotilla.kubeconfig   # three embedded clusters for kubectl
  flotilla build ./clusters/production --flux                    # kustomize build, as Flux would
  flotilla controller -v                                         # reconcile Flux sources, Kustomizations, image automation
  flotilla demo                                                  # three clusters, Git, registry, reconciler, console")]
pub struct Cli {
    /// Write logs here instead of $XDG_STATE_HOME/flotilla/flotilla.log.
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// More detail in the log (and on stderr where a command supports it); repeat for more.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The console's options (used when no subcommand is given).
    #[command(flatten)]
    pub console: console::Args,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// flotilla's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded Kubernetes-API-compatible server (one virtual cluster per name).
    Apiserver(apiserver::Args),
    /// The whole GitOps loop offline: three embedded clusters, a Git repository, a registry, the reconciler.
    Demo(demo::Args),
    /// Run the bundled reconciler (Git sources, Kustomizations, image automation) on the kubeconfig's contexts.
    Controller(controller::Args),
    /// Build a kustomization directory and print the objects (like `kustomize build`).
    Build(build::Args),
    /// List GitOps objects of every context once, as the console shows them (table, JSON or YAML).
    Get(get::Args),
    /// Image policies: `flotilla policy eval` picks a tag the way a Flux ImagePolicy would.
    Policy(policy::Args),
    /// Health tree of a Kustomization, HelmRelease or Argo CD Application (`tree ks|hr|app NAME`), or dependsOn chains (`tree deps NAME`).
    Tree(tree::Args),
    /// Which Kustomization manages an object, from which source, revision and path (like `flux trace`).
    Trace(trace::Args),
    /// What applying a Kustomization would change (like `flux diff`; exit 0 none, 1 changes, 2 error).
    Diff(diff::Args),
    /// Why an ImagePolicy picked its tag: scan, tag fates, Git markers, last push, running images.
    Images(images::Args),
    /// Render Helm charts natively (`helm template NAME CHART`, `helm show values CHART`).
    Helm(helm::Args),
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let verbose = cli.verbose;
    match cli.command {
        None => console::run(cli.console),
        Some(Command::Apiserver(args)) => apiserver::run(args, verbose),
        Some(Command::Build(args)) => build::run(args),
        Some(Command::Controller(args)) => controller::run(args, verbose),
        Some(Command::Demo(args)) => demo::run(args),
        Some(Command::Get(args)) => get::run(args),
        Some(Command::Policy(args)) => policy::run(args),
        Some(Command::Tree(args)) => tree::run(args),
        Some(Command::Trace(args)) => trace::run(args),
        Some(Command::Diff(args)) => diff::run(args),
        Some(Command::Images(args)) => images::run(args),
        Some(Command::Helm(args)) => helm::run(args),
    }
}
