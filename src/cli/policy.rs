//! `flotilla policy`: evaluate image policies offline.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::controllers::image::policy::{
    CompiledPolicy, FilterTags, PolicyChoice, PolicyError, PolicySpec, SortOrder,
};

/// Arguments of `flotilla policy`.
#[derive(Debug, clap::Args)]
#[command(arg_required_else_help = true)]
pub struct Args {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PolicyCommand {
    /// Pick the latest tag from a list, exactly as a Flux ImagePolicy would.
    Eval(EvalArgs),
}

const EVAL_EXAMPLES: &str = "Examples:
  flotilla policy eval --semver '>=1.0.0 <2.0.0' 1.0.0 1.4.2 2.0.0 v1.5.0-rc.1
  flotilla policy eval --semver '^1.x' --explain v1.2.0 1.3.0 latest
  flotilla policy eval --numerical asc --pattern '^main-[a-f0-9]+-(?P<ts>[0-9]+)$' \\
      --extract '$ts' main-abc123-1700000000 main-def456-1700000100
  flotilla policy eval --alphabetical desc --tags-file tags.txt
  crane ls ghcr.io/stefanprodan/podinfo | flotilla policy eval --semver '6.x' --tags-file -

Exit status: 0 a tag was chosen (printed on stdout), 1 no tag qualifies (reason on stderr),
2 usage error or invalid policy (bad range, order or regex).
An order value that is neither asc nor desc after --alphabetical/--numerical is read as a tag.";

#[derive(Debug, clap::Args)]
#[command(after_help = EVAL_EXAMPLES)]
#[command(group(clap::ArgGroup::new("rule").required(true).args(["semver", "alphabetical", "numerical"])))]
struct EvalArgs {
    /// SemVer policy with a Masterminds range (e.g. '>=1.2.0 <2.0.0', '^1.x', '1.2 - 1.4').
    #[arg(long, value_name = "RANGE")]
    semver: Option<String>,
    /// Alphabetical policy; asc (default) picks the greatest, desc the smallest.
    #[arg(long, value_name = "ORDER", num_args = 0..=1, default_missing_value = "asc")]
    alphabetical: Option<String>,
    /// Numerical policy (float64 values); asc (default) picks the greatest, desc the smallest.
    #[arg(long, value_name = "ORDER", num_args = 0..=1, default_missing_value = "asc")]
    numerical: Option<String>,
    /// filterTags.pattern: an RE2 regex (unanchored); tags not matching are dropped.
    #[arg(long, value_name = "RE")]
    pattern: Option<String>,
    /// filterTags.extract: the value fed to the policy ($1, ${1}, $name, ${name}).
    #[arg(long, value_name = "TEMPLATE")]
    extract: Option<String>,
    /// Print every tag with its fate (filtered out, not a version, out of range, ...).
    #[arg(long)]
    explain: bool,
    /// With --explain: print the explanation as JSON.
    #[arg(long, requires = "explain")]
    json: bool,
    /// Read tags from this file, one per line ('-' reads stdin).
    #[arg(long, value_name = "FILE", conflicts_with = "tags")]
    tags_file: Option<PathBuf>,
    /// Tags to choose from, in the ImageRepository's stored (descending) order.
    #[arg(value_name = "TAG")]
    tags: Vec<String>,
}

/// Runs the policy subcommand.
pub fn run(args: Args) -> ExitCode {
    match args.command {
        PolicyCommand::Eval(eval) => run_eval(eval),
    }
}

fn parse_order(value: &str, tags: &mut Vec<String>) -> SortOrder {
    match SortOrder::parse(value) {
        Ok(order) if !value.is_empty() => order,
        // clap took the first tag as the optional order value: give it back.
        _ => {
            tags.insert(0, value.to_string());
            SortOrder::Asc
        }
    }
}

fn run_eval(mut args: EvalArgs) -> ExitCode {
    let mut extra_tags = Vec::new();
    let choice = if let Some(range) = args.semver.take() {
        PolicyChoice::SemVer { range }
    } else if let Some(order) = args.alphabetical.take() {
        PolicyChoice::Alphabetical {
            order: parse_order(&order, &mut extra_tags),
        }
    } else if let Some(order) = args.numerical.take() {
        PolicyChoice::Numerical {
            order: parse_order(&order, &mut extra_tags),
        }
    } else {
        eprintln!("flotilla policy eval: one of --semver, --alphabetical, --numerical is required");
        return ExitCode::from(2);
    };
    let filter = match (args.pattern.take(), args.extract.take()) {
        (None, None) => None,
        (pattern, extract) => Some(FilterTags {
            pattern: pattern.unwrap_or_default(),
            extract: extract.unwrap_or_default(),
        }),
    };
    let mut tags = extra_tags;
    match &args.tags_file {
        Some(path) => match read_tags(path) {
            Ok(from_file) => tags.extend(from_file),
            Err(message) => {
                eprintln!("flotilla policy eval: {message}");
                return ExitCode::from(2);
            }
        },
        None => {
            tags.extend(std::mem::take(&mut args.tags));
            if tags.is_empty() {
                eprintln!(
                    "flotilla policy eval: give tags as arguments or with --tags-file (see --help)"
                );
                return ExitCode::from(2);
            }
        }
    }
    let policy = match CompiledPolicy::compile(&PolicySpec { choice, filter }) {
        Ok(policy) => policy,
        Err(err) => {
            eprintln!("flotilla policy eval: {err}");
            return ExitCode::from(2);
        }
    };
    if args.explain {
        let explanation = policy.explain(&tags);
        if args.json {
            match serde_json::to_string_pretty(&explanation) {
                Ok(json) => println!("{json}"),
                Err(err) => {
                    eprintln!("flotilla policy eval: cannot encode the explanation: {err}");
                    return ExitCode::from(2);
                }
            }
        } else {
            println!("{explanation}");
        }
        return match &explanation.error {
            Some(err) => exit_for(err),
            None => ExitCode::SUCCESS,
        };
    }
    match policy.latest(&tags) {
        Ok(selection) => {
            println!("{}", selection.tag);
            ExitCode::SUCCESS
        }
        Err(err) => exit_for(&err),
    }
}

fn exit_for(err: &PolicyError) -> ExitCode {
    eprintln!("flotilla policy eval: {err}");
    if err.is_stalled() {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

fn read_tags(path: &std::path::Path) -> Result<Vec<String>, String> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read tags from stdin: {e}"))?;
    } else {
        text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read tags file {}: {e}", path.display()))?;
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect())
}
