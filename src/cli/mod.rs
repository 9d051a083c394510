//! The command line: one file per subcommand.

pub mod apiserver;
pub mod build;
pub mod config;
pub mod connect;
pub mod console;
pub mod controller;
pub mod demo;
pub mod diff;
pub mod diff_artifact;
pub mod diff_hr;
pub mod get;
pub mod helm;
pub mod helm_history;
pub mod images;
pub mod logging;
pub mod policy;
pub mod push;
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
    /// What reconciling a Kustomization or HelmRelease would change (like `flux diff`; exit 0 none, 1 changes, 2 error).
    Diff(diff::Args),
    /// Why an ImagePolicy picked its tag: scan, tag fates, Git markers, last push, running images.
    Images(images::Args),
    /// Render Helm charts natively (`helm template NAME CHART`, `helm show values CHART`).
    Helm(helm::Args),
    /// Publish to an OCI registry (`push artifact oci://REPO:TAG --path DIR`, like `flux push artifact`).
    Push(push::Args),
}

/// Parses the process arguments, accepting the console's flags before a subcommand as well as after
/// it (`flotilla --kubeconfig X get` = `flotilla get --kubeconfig X`): clap reads a flag before a
/// subcommand as the console's own, so such flags are moved behind the subcommand name first.
pub fn parse_args() -> Cli {
    Cli::parse_from(hoist_flags(std::env::args_os().collect()))
}

/// Moves the flags that precede the first subcommand name to just after it (unchanged when there is
/// no subcommand). A flag's separate value is never mistaken for a subcommand name.
pub fn hoist_flags(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let takes_value = |flag: &str| -> bool {
        cmd.get_arguments().any(|a| {
            let matches = match flag.strip_prefix("--") {
                Some(long) => a.get_long() == Some(long),
                None => {
                    let shorts: Vec<char> = flag.trim_start_matches('-').chars().collect();
                    // `-vn ns`: only the last short flag of a cluster can take the next word.
                    shorts.last().is_some_and(|c| a.get_short() == Some(*c))
                }
            };
            matches && a.get_action().takes_values()
        })
    };
    let is_subcommand = |word: &str| {
        cmd.get_subcommands()
            .any(|s| s.get_name() == word || s.get_all_aliases().any(|a| a == word))
    };
    let mut i = 1;
    while i < args.len() {
        let Some(word) = args[i].to_str() else {
            return args;
        };
        if word == "--" {
            return args;
        }
        if word.starts_with('-') && word != "-" {
            i += if !word.contains('=') && takes_value(word) {
                2
            } else {
                1
            };
            continue;
        }
        if i > 1 && is_subcommand(word) {
            let mut out = Vec::with_capacity(args.len());
            out.push(args[0].clone());
            out.push(args[i].clone());
            out.extend(args[1..i].iter().cloned());
            out.extend(args[i + 1..].iter().cloned());
            return out;
        }
        return args;
    }
    args
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
        Some(Command::Push(args)) => push::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn hoisted(line: &str) -> Vec<String> {
        hoist_flags(line.split(' ').map(Into::into).collect())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn flags_before_a_subcommand_move_behind_it() {
        assert_eq!(
            hoisted("flotilla --kubeconfig get get ks"),
            ["flotilla", "get", "--kubeconfig", "get", "ks"],
            "the value of --kubeconfig is not a subcommand"
        );
        assert_eq!(
            hoisted("flotilla --context=prod -v tree ks apps"),
            ["flotilla", "tree", "--context=prod", "-v", "ks", "apps"]
        );
        assert_eq!(
            hoisted("flotilla --context prod -c ks"),
            ["flotilla", "--context", "prod", "-c", "ks"],
            "no subcommand: the console's flags stay"
        );
        assert_eq!(hoisted("flotilla get ks"), ["flotilla", "get", "ks"]);
        let cli = Cli::try_parse_from(hoist_flags(
            "flotilla --kubeconfig /tmp/k --context prod get ks"
                .split(' ')
                .map(Into::into)
                .collect(),
        ))
        .unwrap();
        let Some(Command::Get(args)) = cli.command else {
            panic!("not get: {:?}", cli.command)
        };
        assert_eq!(
            args.kubeconfig.as_deref(),
            Some(std::path::Path::new("/tmp/k"))
        );
        assert_eq!(args.contexts, ["prod"]);
    }
}
